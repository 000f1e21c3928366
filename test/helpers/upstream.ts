import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../../src/egress/ca.js';

export interface AuthUpstream {
  port: number;
  /** The Authorization header of every request it received, in order. */
  seen: (string | undefined)[];
  /** What kiln needs to reach it as `https://<host>:<port>` from a box: its CA, the name, the address. */
  env: Record<string, string>;
  close(): void;
}

/**
 * An HTTPS server on 127.0.0.1 under `host`'s name (its own CA), answering
 * `{authorized, path}`: whether the request carried `Bearer <token>`. A test binds the token to
 * a tool as a secret and checks that it arrived, while the caller never held it. With `echo`, the
 * answer carries the Authorization header it got, for tests that the value is taken out downstream.
 */
export async function startAuthUpstream(host: string, token: string, opts: { echo?: boolean } = {}): Promise<AuthUpstream> {
  const ca = await CertificateAuthority.create(`kiln test CA for ${host}`);
  const leaf = await ca.issue(host);
  const seen: (string | undefined)[] = [];
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    seen.push(req.headers.authorization);
    // echo: the credential comes back in the answer, as a careless upstream's error page might show it
    const echoed = opts.echo ? { authorization: req.headers.authorization } : {};
    res.end(JSON.stringify({ authorized: req.headers.authorization === `Bearer ${token}`, path: req.url, ...echoed }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const caFile = join(mkdtempSync(join(tmpdir(), 'kiln-upstream-')), 'ca.pem');
  writeFileSync(caFile, ca.certPem);
  return {
    port,
    seen,
    env: {
      KILN_EGRESS_UPSTREAM_CA_FILE: caFile,
      KILN_EGRESS_RESOLVE: JSON.stringify({ [host]: '127.0.0.1' }),
      KILN_EGRESS_ALLOW_ADDRESSES: `127.0.0.1:${port}`,
    },
    close: () => server.close(),
  };
}
