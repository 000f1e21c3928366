import { transform } from 'esbuild';

export type TranspileResult = { ok: true; code: string } | { ok: false; error: string };

/**
 * Strips types from TypeScript (esbuild: no type checking, so type errors never
 * block a run, as with `tsx` or Deno). A syntax error is the user's failure,
 * reported like a compiler's message.
 */
export async function transpileTypeScript(source: string): Promise<TranspileResult> {
  try {
    const result = await transform(source, { loader: 'ts', format: 'esm', target: 'node22', sourcefile: 'main.ts' });
    return { ok: true, code: result.code };
  } catch (error) {
    const errors = (error as { errors?: { text: string; location?: { line: number; column: number } | null }[] }).errors;
    const text = errors?.length
      ? errors.map((e) => `main.ts:${e.location ? `${e.location.line}:${e.location.column + 1}` : ''}: error: ${e.text}`).join('\n')
      : String(error);
    return { ok: false, error: text + '\n' };
  }
}
