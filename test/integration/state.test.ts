// kiln's state across a real process restart, and where a secret's value may never be found:
// responses, log lines (at trace level), the database file and its WAL.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, TEST_INSTANCE } from '../helpers/kiln.js';
import { expectStoredNowhere } from '../helpers/secret-scan.js';
import { spawnKiln } from '../helpers/kiln-process.js';

describe('state', () => {
  it('keeps tools, secrets and the executions log across a restart; the secret value is nowhere on disk or in the logs', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kiln-state-'));
    const value = `sv-${randomBytes(16).toString('hex')}`;
    const env = {
      KILN_DATA_DIR: dataDir,
      KILN_INSTANCE: `${TEST_INSTANCE}-state`,
      KILN_LOG_LEVEL: 'trace',
      KILN_POOL_PYTHON: '1',
      KILN_POOL_JAVASCRIPT: '0',
      KILN_POOL_TYPESCRIPT: '0',
    };
    const code = 'import hashlib, os\ndef execute(input):\n    return hashlib.sha256(os.environ["KEY"].encode()).hexdigest()';
    const expected = createHash('sha256').update(value).digest('hex');

    const first = await spawnKiln(env);
    let secretId: string, toolId: string, execId: string;
    try {
      const secret = await call(first.url, 'POST', '/v1/secrets', { name: 'key', value });
      secretId = secret.body.id;
      const tool = await call(first.url, 'POST', '/v1/tools', {
        name: 'hash',
        language: 'python',
        code,
        env: [{ name: 'KEY', secret_id: secretId }],
      });
      toolId = tool.body.id;
      const ran = await call(first.url, 'POST', `/v1/tools/${toolId}/execute`, { input: null });
      expect(ran.body.output).toBe(expected);
      execId = ran.body.execution.id;
      // a caller's own secret_id binding, through the tool execute route
      const direct = await call(first.url, 'POST', `/v1/tools/${toolId}/execute`, { env: [{ name: 'OTHER', secret_id: secretId }] });
      expect(direct.body.output).toBe(expected);
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const second = await spawnKiln(env);
    try {
      expect((await call(second.url, 'GET', `/v1/tools/${toolId}`)).body).toMatchObject({ id: toolId, name: 'hash', code });
      expect((await call(second.url, 'GET', '/v1/secrets')).body.secrets).toEqual([{ id: secretId, name: 'key' }]);
      expect((await call(second.url, 'GET', `/v1/executions/${execId}`)).body).toMatchObject({
        id: execId,
        details: { type: 'tool', tool_id: toolId },
      });
      // the secrets key survived too: the sealed value still opens
      const again = await call(second.url, 'POST', `/v1/tools/${toolId}/execute`, {});
      expect(again.body.output).toBe(expected);
    } finally {
      expect(await second.stop()).toBe(0);
    }

    const logs = first.output() + second.output();
    expect(logs).toContain('kiln listening'); // the logs were captured at all
    expect(logs).not.toContain(value);
    await expectStoredNowhere(dataDir, value);
  });
});
