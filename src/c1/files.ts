import { fieldError } from '../errors.js';
import type { ToolRevision } from '../store/store.js';
import { checkCodeSize, checkFilesSize, REVISION_LIMITS } from '../tools/revision-limits.js';

/** C1's entry file: `export default async function main(input)`. */
export const ENTRY_FILE = 'main.ts';

/** A commit's files: the entry and, besides it, what a revision may hold. */
export const MAX_FILES = REVISION_LIMITS.files + 1;
const FILENAME = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._@+\-/]{1,255}$/;

/** A file name a commit may hold: relative, no `.` or `..` segments. */
export function checkFilename(name: string, field: string): void {
  if (!FILENAME.test(name))
    throw fieldError(
      field,
      'invalid_filename',
      `${JSON.stringify(name.slice(0, 100))} is not a file name a function may have (relative, letters, digits, . _ - @ + /, no . or .. segments)`,
    );
}

/** A commit's files as a revision holds them: main.ts is the code, the rest are files. */
export function revisionFields(files: Record<string, string>, field: string) {
  const names = Object.keys(files);
  if (names.length > MAX_FILES) throw fieldError(field, 'too_many_files', `at most ${MAX_FILES} files`);
  for (const n of names) checkFilename(n, `${field}.${n}`);
  if (!(ENTRY_FILE in files))
    throw fieldError(`${field}.${ENTRY_FILE}`, 'required', `a function needs ${ENTRY_FILE}, whose default export is called with the input`);
  const others = names.filter((n) => n !== ENTRY_FILE).map((path) => ({ path, contents: files[path]! }));
  // the tools service checks these too; here they name C1's own fields
  checkCodeSize(files[ENTRY_FILE]!, `${field}.${ENTRY_FILE}`);
  checkFilesSize(others, field);
  return { code: files[ENTRY_FILE]!, files: others, entry: 'default' as const, language: 'typescript' as const };
}

/** The files of a finalized commit (its revision), by name. */
export const filesOf = (revision: Pick<ToolRevision, 'code' | 'files'>): Record<string, string> => ({
  [ENTRY_FILE]: revision.code,
  ...Object.fromEntries((revision.files ?? []).map((f) => [f.path, f.contents])),
});
