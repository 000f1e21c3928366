/**
 * Whether a name has no control characters (C0 and DEL): names shown in listings, logs and
 * consoles must not carry terminal escapes or line breaks. One rule for every named object.
 */
export function hasNoControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}
