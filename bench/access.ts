// Keys and tokens (issue 26), in the same run as the other rows: what checking who asks costs per
// request — a key of KILN_API_KEYS, a key of the store (one indexed read), and an OAuth access token
// of a trusted issuer (a signature, its JWKS cached), and one of kiln's own authorization server (opaque,
// one indexed read) — each timed in process, many times over.
// `npx tsx bench/access.ts` runs it alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createKeys } from '../src/access/keys.js';
import { createOAuthGrants } from '../src/access/oauth/grants.js';
import { createTokenVerifier } from '../src/access/tokens.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { percentile } from './stats.js';

export interface AccessFigures {
  staticKey: number;
  storedKey: number;
  token: number;
  /** An access token of kiln's own authorization server. */
  ownToken: number;
}

const p50 = (v: number[]) =>
  percentile(
    [...v].sort((a, b) => a - b),
    50,
  );

export async function measureAccess(n = 2000): Promise<AccessFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-access-'));
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const server = createServer((req, res) => res.end(JSON.stringify(req.url === '/jwks.json' ? { keys: [jwk] } : {})));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const store = await openSqliteStore({ file: join(dir, 'kiln.db') });
  try {
    const verifyToken = createTokenVerifier({
      KILN_OAUTH_ISSUER: issuer,
      KILN_OAUTH_JWKS_URL: `${issuer}/jwks.json`,
      KILN_OAUTH_AUDIENCE: 'http://kiln.bench/mcp',
      KILN_OAUTH_PROJECT_CLAIM: 'kiln_project',
      KILN_OAUTH_PROJECT: undefined,
      KILN_PUBLIC_URL: undefined,
    });
    const keys = createKeys({ store: store.keys, bootstrap: [{ project: 'default', key: 'bench-static-key-0123456789' }], verifyToken });
    const { secret } = await keys.create('default', { name: 'bench', scopes: ['run'] });
    const token = await new SignJWT({ kiln_project: 'default', scope: 'run' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience('http://kiln.bench/mcp')
      .setExpirationTime('10m')
      .sign(privateKey);
    const time = async (given: string) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        if (!(await keys.authenticate(given))) throw new Error('refused in the bench');
        out.push(performance.now() - t);
      }
      return out.slice(n / 10); // the first tenth warms caches (the JWKS among them)
    };
    await time(token);
    const external = {
      staticKey: p50(await time('bench-static-key-0123456789')),
      storedKey: p50(await time(secret)),
      token: p50(await time(token)),
    };
    // kiln's own server's access token, through the same keys.authenticate as the server wires it
    const grants = createOAuthGrants({ store: store.oauth, accessSeconds: 600, refreshDays: 1 });
    const own = createKeys({ store: store.keys, bootstrap: [], verifyToken: (t) => grants.verifyAccess(t) });
    const code = await grants.authorize({
      ...{ clientId: 'ocl_bench', clientName: 'bench', project: 'default', scopes: ['run'], redirectUri: 'http://127.0.0.1/cb' },
      ...{ codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', resource: 'http://kiln.bench/mcp' },
    });
    const pair = await grants.exchangeCode({
      ...{ code, clientId: 'ocl_bench', redirectUri: 'http://127.0.0.1/cb' },
      verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
    });
    const ownTimes: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      if (!(await own.authenticate(pair.access_token))) throw new Error('refused in the bench');
      ownTimes.push(performance.now() - t);
    }
    return { ...external, ownToken: p50(ownTimes.slice(n / 10)) };
  } finally {
    await store.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function accessLine(f: AccessFigures): string {
  const extra = f.token - f.staticKey;
  return (
    `access: who asks, per request p50: a KILN_API_KEYS key ${f.staticKey.toFixed(3)} ms, a stored key ${f.storedKey.toFixed(3)} ms, ` +
    `an OAuth access token of a trusted issuer ${f.token.toFixed(3)} ms (+${extra.toFixed(3)} ms over the static key; target ≤ 0.2 ms: ${extra <= 0.2 ? 'met' : 'NOT MET'}), ` +
    `one of kiln's own authorization server ${f.ownToken.toFixed(3)} ms (+${(f.ownToken - f.staticKey).toFixed(3)} ms: ${f.ownToken - f.staticKey <= 0.2 ? 'met' : 'NOT MET'})`
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) console.log(accessLine(await measureAccess()));
