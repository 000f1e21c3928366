// docs/configuration.md against the schema kiln parses its environment with (src/config.ts), so the
// page cannot drift: one row per setting, no row for a setting kiln does not read, and each default
// the page gives in code font equal to the schema's own.
//
// The page's table: | `NAME` | default | meaning |. A default cell that starts with a code span
// (`8080`) is a literal: it must equal the schema's. A default in words ("(none)", "the host name",
// "half of `KILN_CONCURRENCY`, at least 1") is for settings the schema has no literal default for:
// unset-able ones, the required one, and those computed at start (COMPUTED).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ConfigSchema } from '../../src/config.js';

/** Settings whose default is computed at start, not written in the schema. */
const COMPUTED: Record<string, string> = {
  KILN_INSTANCE: 'the host name, made a valid instance name',
};
/** Names the page may mention that are not schema keys: another spelling kiln reads for one of them. */
const ALIASES: Record<string, string> = { KILN_PORT: 'PORT' };

const page = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');

/** The table's rows: name, default cell, meaning. */
const rows = page
  .split('\n')
  .filter((line) => /^\| `[A-Z][A-Z0-9_]*` \|/.test(line))
  .map((line) => {
    const cells = splitRow(line);
    return { name: cells[0]!.replace(/`/g, ''), default: cells[1]!, meaning: cells[2] ?? '' };
  });

/** Cells of a table row; a `|` inside a code span is not a separator. */
function splitRow(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let code = false;
  for (const c of line.trim().slice(1, -1)) {
    if (c === '`') code = !code;
    if (c === '|' && !code) {
      cells.push(cell.trim());
      cell = '';
    } else cell += c;
  }
  cells.push(cell.trim());
  return cells;
}

type Default = { kind: 'required' } | { kind: 'optional' } | { kind: 'literal'; value: unknown };

/** What the schema does when a setting is unset: the default as written (before any transform), if any. */
function defaultOf(schema: z.ZodType): Default {
  const def = (schema as unknown as { _zod: { def: { type: string; in?: z.ZodType; defaultValue?: unknown } } })._zod.def;
  if (def.type === 'default') return { kind: 'literal', value: def.defaultValue };
  if (def.type === 'optional') return { kind: 'optional' };
  if (def.type === 'pipe') return defaultOf(def.in!);
  return { kind: 'required' };
}

const shape = ConfigSchema.shape as Record<string, z.ZodType>;
const keys = Object.keys(shape);

describe('docs/configuration.md', () => {
  it('has one row for each setting in the schema, and none for a setting the schema lacks', () => {
    const named = rows.map((r) => r.name);
    expect(
      named.filter((n, k) => named.indexOf(n) !== k),
      'named twice',
    ).toEqual([]);
    expect(
      keys.filter((k) => !named.includes(k)),
      'in src/config.ts, missing from the page',
    ).toEqual([]);
    expect(
      named.filter((n) => !keys.includes(n)),
      'on the page, not in src/config.ts',
    ).toEqual([]);
  });

  it('names no KILN_ setting anywhere on the page that kiln does not read', () => {
    const mentioned = [...new Set(page.match(/\bKILN_[A-Z0-9_]+\b/g) ?? [])];
    expect(mentioned.filter((m) => !keys.includes(m) && !(m in ALIASES))).toEqual([]);
  });

  it('gives each default as the schema has it: its literal in code font, else words', () => {
    const wrong: string[] = [];
    for (const row of rows) {
      const schema = shape[row.name];
      if (!schema) continue;
      const literal = /^`([^`]*)`/.exec(row.default)?.[1];
      const d = row.name in COMPUTED ? { kind: 'computed' as const } : defaultOf(schema);
      if (d.kind === 'required') {
        if (row.default !== '(required)') wrong.push(`${row.name}: required, so its default is "(required)", not "${row.default}"`);
      } else if (d.kind === 'optional' || d.kind === 'computed') {
        if (literal !== undefined) wrong.push(`${row.name}: has no literal default in the schema, but the page gives \`${literal}\``);
      } else {
        const value = typeof d.value === 'string' ? d.value : JSON.stringify(d.value);
        if (value === '') {
          if (row.default !== '(none)') wrong.push(`${row.name}: defaults to empty, so its default is "(none)", not "${row.default}"`);
        } else if (literal !== value) wrong.push(`${row.name}: the schema's default is \`${value}\`, the page says "${row.default}"`);
      }
      if (row.meaning.trim() === '') wrong.push(`${row.name}: no meaning`);
    }
    expect(wrong).toEqual([]);
  });

  it('reads the schema as this test expects (a literal, an optional, the required key, a computed one)', () => {
    expect(defaultOf(shape.KILN_CONCURRENCY!)).toEqual({ kind: 'literal', value: 8 });
    expect(defaultOf(shape.KILN_FUNCTIONS_ALLOW_HTTP!)).toEqual({ kind: 'literal', value: 'false' });
    expect(defaultOf(shape.KILN_DATABASE_URL!)).toEqual({ kind: 'optional' });
    expect(defaultOf(shape.KILN_API_KEYS!)).toEqual({ kind: 'required' });
    for (const key of Object.keys(COMPUTED)) expect(keys).toContain(key);
  });
});
