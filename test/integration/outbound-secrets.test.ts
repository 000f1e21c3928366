// Secrets never come back through kiln's own outbound calls (issue 20, item 2): an iii HTTP
// function whose upstream echoes what it was sent — its request headers in a 200, the key inside
// an error message, a header echoed as its content type — answers, logs and stores the call with
// the credential redacted, for every auth kind (bearer, api_key, and an hmac secret the upstream
// happens to know); the value is nowhere in the answer, the executions log, kiln's log lines or
// the database.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, TEST_INSTANCE } from '../helpers/kiln.js';
import { spawnKiln, type KilnProcess } from '../helpers/kiln-process.js';
import { expectStoredNowhere } from '../helpers/secret-scan.js';

const values = {
  bearer: `tok-${randomBytes(12).toString('hex')}`,
  api_key: `key-${randomBytes(12).toString('hex')}`,
  hmac: `hm-${randomBytes(12).toString('hex')}`,
};

let upstream: http.Server;
let base: string;
let kiln: KilnProcess;
const dataDir = mkdtempSync(join(tmpdir(), 'kiln-echo-'));

beforeAll(async () => {
  // echoes the request's headers; /error puts them in an iii error message, /type in its content type
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const headers = JSON.stringify(req.headers);
      // an HMAC secret is never sent: this upstream knows it, and echoes it when it checks a signature
      const known = req.headers['x-iii-signature'] ? values.hmac : 'nothing';
      if (req.url === '/error') {
        res.statusCode = 401;
        res.setHeader('content-type', 'application/json');
        return void res.end(JSON.stringify({ error: { code: 'E_AUTH', message: `bad credentials: ${headers} (we also know ${known})` } }));
      }
      if (req.url === '/type') {
        res.setHeader(
          'content-type',
          `text/plain; echo=${String(req.headers.authorization ?? req.headers['x-api-key'] ?? known).replace(/\s/g, '_')}`,
        );
        return void res.end('not json');
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ headers: req.headers, raw: headers, known }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  kiln = await spawnKiln({
    KILN_DATA_DIR: dataDir,
    KILN_INSTANCE: TEST_INSTANCE,
    KILN_LOG_LEVEL: 'trace',
    KILN_POOL_PYTHON: '0',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_FUNCTIONS_ALLOW_HTTP: 'true',
    KILN_FUNCTIONS_ALLOW_ADDRESSES: base.replace('http://', ''),
  });
}, 60_000);
afterAll(async () => {
  await kiln?.stop();
  upstream?.close();
});

describe('an upstream that echoes the credential kiln sent it', () => {
  it('never gets it back out of kiln: not in the answer, the executions log, the log lines or the database', async () => {
    const post = (path: string, body: unknown) => call(kiln.url, 'POST', path, body);
    expect((await post('/v1/secrets', { name: 'BEARER', value: values.bearer })).status).toBe(200);
    expect((await post('/v1/secrets', { name: 'APIKEY', value: values.api_key })).status).toBe(200);
    expect((await post('/v1/secrets', { name: 'HMAC', value: values.hmac })).status).toBe(200);
    const auths = {
      bearer: { type: 'bearer', token_key: 'BEARER' },
      api_key: { type: 'api_key', header: 'X-API-Key', value_key: 'APIKEY' },
      hmac: { type: 'hmac', secret_key: 'HMAC' },
    };
    const answers: unknown[] = [];
    for (const [kind, auth] of Object.entries(auths)) {
      for (const path of ['/echo', '/error', '/type']) {
        const id = `echo.${kind}.${path.slice(1)}`;
        expect((await post('/v1/functions', { id, invocation: { url: `${base}${path}`, auth } })).status).toBe(200);
        const invoked = await post(`/v1/functions/${id}/invoke`, { data: { kind } });
        expect(invoked.status).toBe(200);
        answers.push(invoked.body);
        const logged = await call(kiln.url, 'GET', `/v1/executions/${invoked.body.invocation_id}`);
        expect(logged.status).toBe(200);
        answers.push(logged.body);
        if (path === '/echo') {
          // the call happened with the credential, and the rest of the echo is intact
          expect(invoked.body.result.headers['x-iii-function-path']).toBe(id);
          if (kind === 'bearer') expect(invoked.body.result.headers.authorization).toBe('Bearer [redacted secret]');
          if (kind === 'api_key') expect(invoked.body.result.headers['x-api-key']).toBe('[redacted secret]');
          if (kind === 'hmac') expect(invoked.body.result.known).toBe('[redacted secret]');
        }
        if (path === '/error') expect(invoked.body.error.code).toBe('E_AUTH');
      }
    }
    const text = JSON.stringify(answers);
    for (const value of Object.values(values)) {
      expect(text).not.toContain(value);
      expect(kiln.output()).not.toContain(value);
    }
    for (const value of Object.values(values)) await expectStoredNowhere(dataDir, value);
  });
});
