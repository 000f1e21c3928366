import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeKey, KEY_BYTES } from '../model/secret-key.js';

export { decodeKey };

const IV_BYTES = 12; // GCM's native nonce size; random per seal
const TAG_BYTES = 16;
const VERSION = 'v1';
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * kiln's secrets key: `key` when configured, else `<dataDir>/secrets.key`, made on first start.
 * Losing the file makes every stored secret unreadable, so it is created once and never replaced.
 */
export async function loadOrCreateSecretKey({ dataDir, key }: { dataDir: string; key?: string }): Promise<Buffer> {
  if (key !== undefined) return decodeKey(key, 'the secrets key');
  const path = join(dataDir, 'secrets.key');
  const existing = await readKeyFile(path);
  if (existing) return existing;

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Written beside, then linked into place: link fails if the file exists, so two processes
  // starting at once cannot each write a key (one would lose its secrets), and nobody ever reads
  // a half-written file.
  const fresh = randomBytes(KEY_BYTES);
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, `${fresh.toString('base64')}\n`, { mode: 0o600 });
  try {
    await link(temp, path);
    return fresh;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return (await readKeyFile(path))!;
  } finally {
    await unlink(temp);
  }
}

async function readKeyFile(path: string): Promise<Buffer | null> {
  try {
    return decodeKey(await readFile(path, 'utf8'), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Seals secret values with AES-256-GCM. `aad` (callers pass `${project}/${secretId}`) is
 * authenticated with the value, so a sealed value copied into another row or project fails to
 * open rather than leaking there. Sealed form: `v1.<iv>.<tag>.<ciphertext>`, each base64url.
 */
export class SecretBox {
  readonly #key: Buffer; // private field: not shown by console.log or util.inspect

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`a SecretBox key must be ${KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
  }

  /** Seals text (as UTF-8) or bytes; `open` gives text back, `openBytes` the bytes. */
  seal(plaintext: string | Buffer, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([
      typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext),
      cipher.final(),
    ]);
    const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
    return [VERSION, ...parts].join('.');
  }

  /**
   * A MAC of `text` under a key derived for `purpose` (never the sealing key itself): for values
   * kiln hands out and must recognise later, such as an upload URL's token.
   */
  mac(purpose: string, text: string): string {
    const key = Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `kiln mac: ${purpose}`, 32));
    return createHmac('sha256', key).update(text).digest('base64url');
  }

  /** The clear value; throws, saying only that it failed, on a wrong key or aad or any tampering. */
  open(sealed: string, aad: string): string {
    return this.openBytes(sealed, aad).toString('utf8');
  }

  openBytes(sealed: string, aad: string): Buffer {
    const [version, iv, tag, ciphertext, ...extra] = sealed.split('.');
    if (
      version !== VERSION ||
      iv === undefined ||
      tag === undefined ||
      ciphertext === undefined ||
      extra.length > 0 ||
      ![iv, tag, ciphertext].every((part) => BASE64URL.test(part))
    ) {
      throw new Error('sealed secret is malformed');
    }
    const ivBytes = Buffer.from(iv, 'base64url');
    const tagBytes = Buffer.from(tag, 'base64url');
    // An explicit tag length: GCM would otherwise accept a truncated tag, which is far easier to forge.
    if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) throw new Error('sealed secret is malformed');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, ivBytes, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tagBytes);
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
    } catch {
      // No cause attached: nothing about the attempt (key, partial plaintext) should travel on.
      throw new Error('sealed secret could not be opened: wrong key, wrong project or id, or altered');
    }
  }
}
