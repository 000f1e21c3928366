// The box protocol's session mode, box by box, with no kiln in between: test/box/session_driver.py
// runs real boxes of the sandbox images (this tree's runtimes/ mounted over theirs) and checks each
// frame they say, in session mode (state kept, results, errors, interrupt, kill and a fresh harness,
// the tunnel, OOM, the end of the box) and in one-shot mode. Under runsc when the suite is.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GVISOR_SECCOMP_PROFILE } from '../../src/sandbox/seccomp-gvisor.js';
import { describe, expect, it } from 'vitest';
import { TEST_OCI_RUNTIME } from '../helpers/kiln.js';

describe('the box protocol, driven frame by frame', () => {
  it('keeps every promise of session mode and of one-shot mode in both images', () => {
    const args = [
      join(import.meta.dirname, '..', 'box', 'session_driver.py'),
      'all',
      ...(TEST_OCI_RUNTIME === 'runsc' ? ['--runtime', 'runsc'] : []),
    ];
    // under gVisor the boxes get kiln's own seccomp profile, as kiln's do (Docker's CLI takes it as a file)
    const profile = join(mkdtempSync(join(tmpdir(), 'kiln-seccomp-')), 'gvisor.json');
    writeFileSync(profile, GVISOR_SECCOMP_PROFILE);
    const run = spawnSync('python3', args, { encoding: 'utf8', timeout: 240_000, env: { ...process.env, KILN_BOX_SECCOMP: profile } });
    const failures = run.stdout.split('\n').filter((line) => line.startsWith('FAIL'));
    expect(failures).toEqual([]);
    expect(run.stdout).toMatch(/\n(\d+) passed, 0 failed\n?$/);
    expect(run.status).toBe(0);
  }, 300_000);
});
