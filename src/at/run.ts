import type { Config } from '../config.js';
import type { Execute } from '../execution/executor.js';
import type { ExecutionContext } from '../execution/request.js';
import { ResolveError, type AtResolver } from './resolve.js';

/** at.functions.run's output. */
export interface RunOutput {
  ok: boolean;
  output?: unknown;
  error?: string;
  durationMs: number;
  functionCid?: string;
}

const MODE = 'pure-v1';
const clamp = (v: unknown, fallback: number, max: number) =>
  Math.min(max, Math.max(1, typeof v === 'number' && Number.isFinite(v) ? Math.floor(v) : fallback));

/**
 * Runs a published AT function: resolved and verified (./resolve.ts), then its pure-v1 module in a
 * Node box of its own through the one executor (via `at`), with the record's maxMemoryMb and
 * maxDurationMs (defaults 32 and 100) clamped by kiln's maxima. A function that fails — can't be
 * fetched or verified, traps, runs out of time or memory, answers no JSON — is `ok: false` with why.
 */
export function createAtRunner(deps: { resolver: AtResolver; execute: Execute; config: Config }) {
  const { config } = deps;
  return async function run(project: string, uri: string, input: unknown, ctx: ExecutionContext): Promise<RunOutput> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let resolved: Awaited<ReturnType<AtResolver['resolve']>>;
    try {
      resolved = await deps.resolver.resolve(uri);
    } catch (err) {
      if (err instanceof ResolveError && !err.invalidRequest) return { ok: false, error: err.message, durationMs: elapsed() };
      throw err;
    }
    const { record, cid: functionCid, code } = resolved;
    if (record.mode !== MODE)
      return {
        ok: false,
        error: `mode ${JSON.stringify(record.mode ?? null)} is not supported: kiln runs ${MODE} functions`,
        durationMs: elapsed(),
        functionCid,
      };
    const memoryMb = clamp(record.maxMemoryMb, 32, Math.max(1, config.KILN_MAX_MEMORY_MIB - 64));
    const durationMs = clamp(record.maxDurationMs, 100, config.KILN_MAX_TIMEOUT_SECONDS * 1000);
    const e = await deps.execute(
      {
        project,
        via: 'at',
        key: ctx.key ?? null,
        mode: 'function',
        target: {
          kind: 'code',
          language: 'javascript',
          code: Buffer.from(code).toString('base64'),
          wasm: { memoryBytes: memoryMb * 1024 * 1024, functionUri: uri, functionCid },
        },
        input: input ?? null,
        // The box holds Node as well as the module's memory; at the default size it comes warm
        // from the pool (a 100 ms function cannot wait for a box to start). The module's own
        // limit is the harness's check.
        limits: {
          executionTimeout: durationMs / 1000,
          memorySize: Math.min(config.KILN_MAX_MEMORY_MIB, Math.max(config.KILN_DEFAULT_MEMORY_MIB, memoryMb + 64)),
        },
      },
      ctx,
    );
    const r = e.result;
    if (r.stopReason === 'exited' && r.exitCode === 0 && r.outputStatus === 'valid')
      return { ok: true, output: JSON.parse(r.outputJson ?? 'null'), durationMs: r.durationMs, functionCid };
    const why =
      r.stopReason === 'timeout'
        ? `timed out after ${durationMs} ms`
        : r.stopReason === 'out_of_memory'
          ? `out of memory (limit ${memoryMb} MB)`
          : (r.stderr
              .trim()
              .split('\n')
              .find((l) => /^(\w*Error|RuntimeError|CompileError|LinkError)\b/.test(l.trim())) ??
            r.stderr.trim().split('\n').at(-1) ??
            `stopped: ${r.stopReason}`);
    return { ok: false, error: why.trim().slice(0, 2000), durationMs: r.durationMs, functionCid };
  };
}

export type AtRunner = ReturnType<typeof createAtRunner>;
