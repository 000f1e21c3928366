import { createHash } from 'node:crypto';
import { fieldError } from '../../errors.js';
import type { RuntimeLanguage, RuntimeRevisionRecord } from '../../store/runtimes/records.js';

/** The manifest each language's runtimes take (as Riza names them). */
export const MANIFEST_FOR: Readonly<Record<RuntimeLanguage, RuntimeRevisionRecord['manifestName']>> = {
  python: 'requirements.txt',
  javascript: 'package.json',
};
export const MAX_MANIFEST_BYTES = 64 * 1024;

/** A dotted Python module name: what `import` takes. */
const MODULE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * The modules named by `additional_python_imports` (a string, as Riza takes it): import statements
 * one per line (`import a.b as c, d`, `from e import f`), or bare module names separated by commas
 * or white space. Nothing else: the build imports each name to prove it loads.
 */
export function parsePythonImports(text: string, field = 'additional_python_imports'): string[] {
  const modules: string[] = [];
  for (const raw of text.split(/\r?\n|;/)) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    let names: string[];
    const from = /^from\s+(\S+)\s+import\s+.+$/.exec(line);
    if (from) names = [from[1]!];
    else if (/^import\s/.test(line))
      names = line
        .slice(6)
        .split(',')
        .map((part) =>
          part
            .trim()
            .split(/\s+as\s+/)[0]!
            .trim(),
        );
    else names = line.split(/[\s,]+/).filter(Boolean);
    for (const name of names) {
      if (!MODULE.test(name) || name.length > 200)
        throw fieldError(field, 'invalid', `${JSON.stringify(name.slice(0, 80))} is not a Python module name`);
      if (!modules.includes(name)) modules.push(name);
    }
  }
  if (modules.length > 100) throw fieldError(field, 'too_many', 'at most 100 modules');
  return modules;
}

/**
 * The manifest in the one form the image's content hash is taken of, so that the same packages
 * written two ways build once: requirements.txt without comments, blank lines and trailing
 * blanks; package.json parsed (it must be a JSON object) and written with sorted keys.
 */
export function normalizeManifest(language: RuntimeLanguage, contents: string): string {
  const field = 'manifest_file.contents';
  if (Buffer.byteLength(contents) > MAX_MANIFEST_BYTES) throw fieldError(field, 'too_large', `at most ${MAX_MANIFEST_BYTES} bytes`);
  if (contents.includes('\0')) throw fieldError(field, 'invalid', 'must not contain NUL');
  if (language === 'python') {
    const lines = contents
      .split(/\r?\n/)
      .map((l) => l.replace(/(^|\s)#.*$/, '').trimEnd())
      .filter((l) => l.trim());
    // pip reads options from a requirements file too; those that fetch from elsewhere than the
    // configured sources (or read files of the build box) are refused here, with their line
    for (const line of lines) {
      const option = /^\s*(-[a-zA-Z]|--[a-z-]+)/.exec(line)?.[1];
      if (option && !['--hash', '--pre', '--only-binary', '--no-binary', '--prefer-binary'].includes(option))
        throw fieldError(
          field,
          'option_not_allowed',
          `the option ${option} is not allowed in requirements.txt (package sources are kiln's configuration)`,
        );
    }
    return `${lines.join('\n')}\n`;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(contents);
  } catch (error) {
    throw fieldError(field, 'invalid_json', `package.json is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw fieldError(field, 'invalid', 'package.json must be a JSON object');
  return `${JSON.stringify(sortKeys(parsed))}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}

/**
 * The derived image's name part: a hash of everything its contents depend on. Same inputs, same
 * key, one build; a new base image or another package source is another image.
 */
export function imageKey(input: {
  language: RuntimeLanguage;
  baseImageId: string;
  manifest: string;
  imports: string[];
  sources: string;
}): string {
  const text = JSON.stringify([
    'kiln-runtime/v1',
    input.language,
    input.baseImageId,
    input.manifest,
    [...input.imports].sort(),
    input.sources,
  ]);
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}
