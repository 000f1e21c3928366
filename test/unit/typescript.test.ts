import { describe, expect, it } from 'vitest';
import { transpileTypeScript } from '../../src/runtimes/typescript.js';

/** Runs transpiled ESM-free code (no imports/exports) and returns what `expr` evaluates to. */
function evaluate(code: string, expr: string): unknown {
  return new Function(`${code}\nreturn (${expr});`)();
}

describe('transpileTypeScript', () => {
  it('strips type annotations, interfaces and type aliases', async () => {
    const r = await transpileTypeScript(
      'interface P { x: number }\ntype N = number;\nfunction add(a: N, b: N): N { return a + b }\nconst p: P = { x: add(1, 2) as number };\n',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.code).not.toMatch(/interface|type N|: N|: P|as number/);
    expect(evaluate(r.code, 'p.x')).toBe(3);
  });

  it('keeps ESM exports (the wrapper imports execute)', async () => {
    const r = await transpileTypeScript('export function execute(input: { n: number }): number { return input.n * 2 }');
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.code).toMatch(/export\s*\{?\s*(function\s+)?execute/);
  });

  it('compiles enums to working objects', async () => {
    const r = await transpileTypeScript('enum Color { Red, Green = 5, Blue }\nconst s = "v";\nenum S { A = s }\n');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(evaluate(r.code, '[Color.Red, Color.Green, Color.Blue, Color[5], S.A]')).toEqual([0, 5, 6, 'Green', 'v']);
  });

  it('does not type-check: a type error still runs', async () => {
    const r = await transpileTypeScript('const n: number = "not a number";');
    expect(r.ok).toBe(true);
    if (r.ok) expect(evaluate(r.code, 'n')).toBe('not a number');
  });

  it('reports a syntax error with ok:false and a message pointing into main.ts', async () => {
    const r = await transpileTypeScript('const x: number = ;\n');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatch(/^main\.ts:1:\d+: error: /);
    expect(r.error.endsWith('\n')).toBe(true);
  });

  it('reports the line of a syntax error further down', async () => {
    const r = await transpileTypeScript('const a = 1;\nconst b = 2;\nfunction f( {\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/main\.ts:[34]:\d+/);
  });
});
