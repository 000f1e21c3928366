/** kiln's secrets key (KILN_SECRETS_KEY, or <dataDir>/secrets.key): 32 bytes, for AES-256-GCM. */
export const KEY_BYTES = 32;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Decodes a 32-byte key given as 64 hex digits or base64. Hex is tried first because 64 hex
 * digits are also valid base64 (of 48 bytes). Messages never include the key itself.
 */
export function decodeKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) key = Buffer.from(trimmed, 'hex');
  else if (BASE64.test(trimmed)) key = Buffer.from(trimmed, 'base64');
  if (key?.length !== KEY_BYTES) {
    throw new Error(`${source} must be ${KEY_BYTES} bytes, written as base64 or as 64 hex digits`);
  }
  return key;
}
