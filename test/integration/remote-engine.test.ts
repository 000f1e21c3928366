// A remote engine over TCP with TLS client certificates (KILN_DOCKER_HOST + KILN_DOCKER_TLS_*), as a
// replica on a host without a Docker socket would reach its engine: the local engine, behind mutual TLS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestKiln, TEST_KEY } from '../helpers/kiln.js';
import { startTlsEngine, type TlsEngine } from '../helpers/tls-engine.js';

let engine: TlsEngine;
beforeAll(async () => {
  engine = await startTlsEngine();
});
afterAll(() => engine.close());

const pools = { KILN_POOL_PYTHON: '1', KILN_POOL_JAVASCRIPT: '0', KILN_POOL_TYPESCRIPT: '0' };

describe('a remote engine over TLS', () => {
  it('runs code with a client certificate the engine accepts', { timeout: 90_000 }, async () => {
    const kiln = await startTestKiln({
      ...pools,
      KILN_DOCKER_HOST: `tcp://127.0.0.1:${engine.port}`,
      KILN_DOCKER_TLS_CA_FILE: engine.files.ca,
      KILN_DOCKER_TLS_CERT_FILE: engine.files.cert,
      KILN_DOCKER_TLS_KEY_FILE: engine.files.key,
    });
    try {
      const res = await kiln.post('/v1/execute', {
        language: 'python',
        code: 'import sys\nprint(sys.stdin.read().upper())',
        stdin: 'over tls',
      });
      expect(res.status).toBe(200);
      expect(res.body.stdout).toBe('OVER TLS\n');
      expect(engine.authorized).toBeGreaterThan(0); // it did go through the TLS engine
      expect((await call(kiln.url, 'GET', '/readyz')).status).toBe(200);
    } finally {
      await kiln.close();
    }
  });

  it('without a client certificate: the engine refuses it, /readyz says so and an execution is a 503', { timeout: 90_000 }, async () => {
    const refusedBefore = engine.refused;
    const kiln = await startTestKiln({
      ...pools,
      KILN_DOCKER_HOST: `tcp://127.0.0.1:${engine.port}`,
      KILN_DOCKER_TLS_CA_FILE: engine.files.ca,
    });
    try {
      const ready = await call(kiln.url, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.reason).toContain('Docker engine is unreachable');
      const res = await fetch(`${kiln.url}/v1/execute`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ language: 'python', code: 'print(1)' }),
      });
      expect(res.status).toBe(503);
      expect(engine.refused).toBeGreaterThan(refusedBefore);
    } finally {
      await kiln.close();
    }
  });
});
