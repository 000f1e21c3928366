import { execFileSync, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { docker } from './kiln.js';

/**
 * Whether this run may restart the Docker engine: only when asked (CI sets KILN_TEST_ENGINE_RESTART=1),
 * never by surprise on a developer's machine, where it would end every container they have.
 */
export const mayRestartEngine = process.env.KILN_TEST_ENGINE_RESTART === '1';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = () => {
  try {
    execFileSync('pgrep', ['-x', 'dockerd'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Restarts the real engine (with systemd when it manages Docker, else as .ci/run starts it); resolves once it answers. */
export async function restartEngine(): Promise<void> {
  let systemd = false;
  try {
    execFileSync('systemctl', ['is-active', '--quiet', 'docker'], { stdio: 'ignore' });
    systemd = true;
  } catch {}
  if (systemd) execFileSync('systemctl', ['restart', 'docker']);
  else {
    execFileSync('pkill', ['-x', 'dockerd']);
    for (let i = 0; i < 120 && running(); i++) await sleep(250);
    try {
      execFileSync('rm', ['-f', '/var/run/docker.pid']);
    } catch {}
    const log = openSync('/var/log/dockerd.log', 'a');
    spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
  }
  for (let i = 0; i < 120; i++) {
    try {
      await docker.ping();
      return;
    } catch {
      await sleep(250);
    }
  }
  throw new Error('the Docker engine did not come back within 30 s');
}
