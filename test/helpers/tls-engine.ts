import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';

x509.cryptoProvider.set(webcrypto as Crypto);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function pemKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A CA, and leaves it signs: a server certificate for 127.0.0.1 and a client certificate. */
async function pki() {
  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=test engine CA',
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leaf = async (name: string, usage: string, san?: string) => {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: String(Date.now()),
      subject: `CN=${name}`,
      issuer: ca.subject,
      notBefore: new Date(Date.now() - 86_400_000),
      notAfter: new Date(Date.now() + 86_400_000),
      signingKey: caKeys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.ExtendedKeyUsageExtension([usage]),
        ...(san ? [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: san }])] : []),
      ],
    });
    return { cert: cert.toString('pem'), key: await pemKey(keys.privateKey) };
  };
  return {
    ca: ca.toString('pem'),
    server: await leaf('engine', x509.ExtendedKeyUsage.serverAuth, '127.0.0.1'),
    client: await leaf('kiln', x509.ExtendedKeyUsage.clientAuth),
  };
}

export interface TlsEngine {
  port: number;
  /** PEM files for kiln: the CA, and a client certificate and key the engine accepts. */
  files: { ca: string; cert: string; key: string };
  /** Connections whose client certificate was verified, and those refused. */
  authorized: number;
  refused: number;
  close(): void;
}

/**
 * The local engine behind mutual TLS on 127.0.0.1, as `dockerd --tlsverify -H tcp://…:2376` serves
 * it: a TLS server that demands a client certificate from its CA, then pipes to the engine's socket.
 */
export async function startTlsEngine(socketPath = '/var/run/docker.sock'): Promise<TlsEngine> {
  const p = await pki();
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tls-engine-'));
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  writeFileSync(files.ca, p.ca);
  writeFileSync(files.cert, p.client.cert);
  writeFileSync(files.key, p.client.key, { mode: 0o600 });
  const engine: TlsEngine = { port: 0, files, authorized: 0, refused: 0, close: () => server.close() };
  const server = tls.createServer({ ...p.server, ca: p.ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
    engine.authorized++;
    const upstream = connect(socketPath);
    socket.pipe(upstream).pipe(socket);
    const end = () => (socket.destroy(), upstream.destroy());
    socket.on('error', end);
    upstream.on('error', end);
  });
  server.on('tlsClientError', () => engine.refused++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  engine.port = (server.address() as AddressInfo).port;
  return engine;
}
