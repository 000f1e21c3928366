import { fieldError } from '../errors.js';

/**
 * The size of what a saved revision may hold, on every surface that stores one (/v1/tools, a
 * ConductorOne commit, whatever comes next): a revision is read whole each time it runs, so its
 * size is paid again by every run, every listing that carries it and every replica's memory.
 */
export const REVISION_LIMITS = {
  /** The code itself (a tool's `code`, a C1 function's main.ts). */
  codeBytes: 1024 * 1024,
  /** Files stored beside the code (a C1 commit's other files). */
  files: 100,
  /** All of those files together. */
  filesBytes: 4 * 1024 * 1024,
} as const;

const MiB = (bytes: number) => `${bytes / (1024 * 1024)} MiB`;

const tooLarge = (field: string, message: string) => fieldError(field, 'too_large', message);

/** A 400 naming the field when `code` is larger than a revision may hold. */
export function checkCodeSize(code: string, field = 'code'): void {
  if (Buffer.byteLength(code) > REVISION_LIMITS.codeBytes)
    throw tooLarge(field, `must be at most ${MiB(REVISION_LIMITS.codeBytes)} (${REVISION_LIMITS.codeBytes} bytes)`);
}

/** A 400 naming the field when a revision's other files are too many or too large together. */
export function checkFilesSize(files: readonly { path: string; contents: string }[], field = 'files'): void {
  if (files.length > REVISION_LIMITS.files)
    throw fieldError(field, 'too_many_files', `at most ${REVISION_LIMITS.files} files besides the code`);
  let total = 0;
  for (const f of files) total += Buffer.byteLength(f.contents);
  if (total > REVISION_LIMITS.filesBytes)
    throw tooLarge(
      field,
      `the files besides the code must be at most ${MiB(REVISION_LIMITS.filesBytes)} together (${REVISION_LIMITS.filesBytes} bytes); these are ${total}`,
    );
}

/**
 * The bound of one file uploaded on its own (a C1 upload URL), before the revision exists: the
 * entry file is code; any other is one of the files.
 */
export function maxUploadBytes(isCode: boolean): number {
  return isCode ? REVISION_LIMITS.codeBytes : REVISION_LIMITS.filesBytes;
}

/** Every byte a revision may hold: its code and its files together. */
export const MAX_REVISION_BYTES = REVISION_LIMITS.codeBytes + REVISION_LIMITS.filesBytes;
