import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
const CACHE_LIMIT = 1000;

const toPem = async (key: CryptoKey) =>
  x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey), 'PRIVATE KEY');

/**
 * kiln's egress CA: signs a leaf certificate for each host the proxy
 * terminates TLS for. Only sandboxes trust it. Generated once and kept in
 * kiln's data directory, so that it survives restarts.
 */
export class CertificateAuthority {
  private leafKeys?: Promise<CryptoKeyPair>;
  private contexts = new Map<string, Promise<SecureContext>>();

  private constructor(
    readonly certPem: string,
    private readonly cert: x509.X509Certificate,
    private readonly key: CryptoKey,
  ) {}

  /** A new CA in memory (tests use this for their own upstreams too). */
  static async create(name = 'kiln egress CA'): Promise<CertificateAuthority> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomBytes(16).toString('hex'),
      name: `CN=${name}`,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 3650 * DAY),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(cert.toString('pem'), cert, keys.privateKey);
  }

  /** Loads the CA from `files` (shared by replicas), or from `dir`, creating and saving it there on first use. */
  static async loadOrCreate(dir: string, files?: { cert: string; key: string }): Promise<CertificateAuthority> {
    const certPath = files?.cert ?? join(dir, 'egress-ca.pem');
    const keyPath = files?.key ?? join(dir, 'egress-ca-key.pem');
    // configured files (a CA shared by replicas) must exist: one is never made in their place
    if (files) return CertificateAuthority.load(certPath, keyPath);
    try {
      return await CertificateAuthority.load(certPath, keyPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const ca = await CertificateAuthority.create();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(keyPath, await toPem(ca.key), { mode: 0o600 });
    await writeFile(certPath, ca.certPem);
    return ca;
  }

  private static async load(certPath: string, keyPath: string): Promise<CertificateAuthority> {
    const [certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    const cert = new x509.X509Certificate(certPem);
    const key = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), ALG, false, ['sign']);
    return new CertificateAuthority(certPem, cert, key as CryptoKey);
  }

  /** A leaf certificate and key for `host` (a name or an IP), signed by this CA. */
  async issue(host: string): Promise<{ certPem: string; keyPem: string }> {
    this.leafKeys ??= webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
    const keys = await this.leafKeys;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16).toString('hex'),
      subject: `CN=${host}`,
      issuer: this.cert.subject,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 30 * DAY),
      signingKey: this.key,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: isIP(host) ? 'ip' : 'dns', value: host }]),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.BasicConstraintsExtension(false),
      ],
    });
    return { certPem: cert.toString('pem'), keyPem: await toPem(keys.privateKey) };
  }

  /** The TLS context the proxy presents for `host`; minted once per host, kept for the next. */
  contextFor(host: string): Promise<SecureContext> {
    let context = this.contexts.get(host);
    if (!context) {
      if (this.contexts.size >= CACHE_LIMIT) this.contexts.delete(this.contexts.keys().next().value!);
      context = this.issue(host).then(({ certPem, keyPem }) => createSecureContext({ cert: certPem, key: keyPem }));
      context.catch(() => this.contexts.delete(host));
      this.contexts.set(host, context);
    }
    return context;
  }
}
