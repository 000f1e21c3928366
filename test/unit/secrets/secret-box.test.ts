import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateSecretKey, SecretBox } from '../../../src/secrets/secret-box.js';

const AAD = 'proj/secret_0193a1b2c3d4e5f60718293a';

/** `sealed` with one bit flipped in its part `index` (1 iv, 2 tag, 3 ciphertext), re-encoded. */
function flip(sealed: string, index: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0] = bytes[0]! ^ 1;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

/** The message of what `fn` throws. */
function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('did not throw');
}

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));
  const plaintext = 'hunter2 · пароль · 🔑';

  it('round-trips, with a fresh iv each time', () => {
    const a = box.seal(plaintext, AAD);
    const b = box.seal(plaintext, AAD);
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('hunter2');
    expect(box.open(a, AAD)).toBe(plaintext);
    expect(box.open(b, AAD)).toBe(plaintext);
    expect(box.open(box.seal('', AAD), AAD)).toBe('');
  });

  it.each([
    ['iv', 1],
    ['tag', 2],
    ['ciphertext', 3],
  ])('refuses a sealed value whose %s was altered, without saying what it held', (_part, index) => {
    const message = thrown(() => box.open(flip(box.seal(plaintext, AAD), index), AAD));
    expect(message).toMatch(/could not be opened/);
    expect(message).not.toContain('hunter2');
  });

  it('refuses a truncated tag, an unknown version and malformed parts', () => {
    const sealed = box.seal(plaintext, AAD);
    const [, iv, tag, ct] = sealed.split('.');
    const short = Buffer.from(tag!, 'base64url').subarray(0, 4).toString('base64url');
    expect(() => box.open(['v1', iv, short, ct].join('.'), AAD)).toThrow(/malformed/);
    expect(() => box.open(['v2', iv, tag, ct].join('.'), AAD)).toThrow(/malformed/);
    expect(() => box.open(`${sealed}.extra`, AAD)).toThrow(/malformed/);
    expect(() => box.open(['v1', iv, tag, `${ct}!`].join('.'), AAD)).toThrow(/malformed/);
    expect(() => box.open('', AAD)).toThrow(/malformed/);
  });

  it('refuses another aad: a value moved to another row or project does not open', () => {
    const sealed = box.seal(plaintext, AAD);
    expect(() => box.open(sealed, 'other/secret_0193a1b2c3d4e5f60718293a')).toThrow(/could not be opened/);
    expect(() => box.open(sealed, 'proj/secret_0193a1b2c3d4e5f60718293b')).toThrow(/could not be opened/);
  });

  it('refuses another key, and says nothing of either key', () => {
    const key = randomBytes(32);
    const sealed = new SecretBox(key).seal(plaintext, AAD);
    const message = thrown(() => box.open(sealed, AAD));
    expect(message).toMatch(/could not be opened/);
    expect(message).not.toContain(key.toString('base64'));
    expect(message).not.toContain(key.toString('hex'));
  });

  it('rejects a key that is not 32 bytes', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('loadOrCreateSecretKey', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-secret-key-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates <dataDir>/secrets.key (0600, base64 of 32 bytes) once and reuses it', async () => {
    const dataDir = join(root, 'fresh', 'data');
    const first = await loadOrCreateSecretKey({ dataDir });
    expect(first).toHaveLength(32);
    const file = join(dataDir, 'secrets.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64')).toEqual(first);
    expect(await loadOrCreateSecretKey({ dataDir })).toEqual(first);
  });

  it('gives one key to callers racing to create it', async () => {
    const dataDir = join(root, 'race');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSecretKey({ dataDir })));
    for (const key of keys) expect(key).toEqual(keys[0]);
  });

  it('uses a configured key, as base64 or as 64 hex digits, and leaves no file', async () => {
    const key = randomBytes(32);
    const dataDir = join(root, 'configured');
    expect(await loadOrCreateSecretKey({ dataDir, key: key.toString('base64') })).toEqual(key);
    expect(await loadOrCreateSecretKey({ dataDir, key: key.toString('hex') })).toEqual(key);
    expect(await loadOrCreateSecretKey({ dataDir, key: key.toString('hex').toUpperCase() })).toEqual(key);
    await expect(stat(join(dataDir, 'secrets.key'))).rejects.toThrow(/ENOENT/);
  });

  it.each([
    ['16 bytes of base64', randomBytes(16).toString('base64')],
    ['33 bytes of base64', randomBytes(33).toString('base64')],
    ['62 hex digits', randomBytes(31).toString('hex')],
    ['not base64', 'correct horse battery staple, not a key!'],
    ['empty', ''],
  ])('rejects a configured key of %s without echoing it', async (_what, key) => {
    const error = await loadOrCreateSecretKey({ dataDir: join(root, 'bad'), key }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/32 bytes/);
    if (key) expect((error as Error).message).not.toContain(key);
  });

  it('rejects a damaged key file naming the file, not its content', async () => {
    const dataDir = join(root, 'damaged');
    await loadOrCreateSecretKey({ dataDir });
    const file = join(dataDir, 'secrets.key');
    await writeFile(file, 'c2hvcnQ=\n');
    const error = await loadOrCreateSecretKey({ dataDir }).catch((e: unknown) => e as Error);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).not.toContain('c2hvcnQ');
  });
});
