import type { Execution } from '../../execution/executor.js';
import { STOP_REASONS } from '../../sandbox/job.js';

/**
 * The outputSchema of every tool that runs code: Riza's execution fields, the return value in
 * function mode, and the execution's id (the executions log keeps the output as kiln capped it,
 * before the model's own, smaller cap).
 */
export const RESULT_SCHEMA = {
  type: 'object',
  properties: {
    execution_id: { type: 'string', description: 'GET /v1/executions/{id} returns the whole output, before the cap for models.' },
    output: { description: 'What execute(input) returned (function mode only).' },
    output_status: { type: 'string', enum: ['valid', 'json_serialization_error', 'error'] },
    output_truncated: {
      type: 'boolean',
      description: 'The return value was too large for a model and was left out; the text content shows its head and tail.',
    },
    exit_code: { type: 'integer' },
    stdout: { type: 'string' },
    stderr: { type: 'string' },
    duration: { type: 'integer', description: 'Milliseconds.' },
    stop_reason: { type: 'string', enum: [...STOP_REASONS] },
    stdout_truncated: { type: 'boolean' },
    stderr_truncated: { type: 'boolean' },
  },
  required: ['execution_id', 'exit_code', 'stdout', 'stderr', 'duration', 'stop_reason', 'stdout_truncated', 'stderr_truncated'],
} as const;

/** Backs `i` off a UTF-8 continuation byte, so that a cut never splits a character. */
function boundary(buf: Buffer, i: number, direction: -1 | 1): number {
  while (i > 0 && i < buf.length && (buf[i]! & 0xc0) === 0x80) i += direction;
  return i;
}

/**
 * `text` within `limit` bytes for a model: its head and its tail (where a traceback ends), with a
 * marker between them that says how many bytes were cut and where the whole text is.
 */
export function capForModel(text: string, limit: number, executionId: string): { text: string; cut: number } {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= limit) return { text, cut: 0 };
  const headEnd = boundary(buf, Math.floor(limit / 2), -1);
  const tailStart = boundary(buf, buf.length - (limit - Math.floor(limit / 2)), 1);
  const cut = tailStart - headEnd;
  const marker = `\n[… kiln cut ${cut} bytes here; the whole text: GET /v1/executions/${executionId} …]\n`;
  return { text: buf.toString('utf8', 0, headEnd) + marker + buf.toString('utf8', tailStart), cut };
}

/** Whether the code failed, as a model should hear it: an exception, a limit, or a non-zero exit. */
export function failed(e: Execution, mode: 'function' | 'script'): boolean {
  const r = e.result;
  return r.stopReason !== 'exited' || r.exitCode !== 0 || (mode === 'function' && r.outputStatus !== 'valid');
}

/** A few lines a model reads at a glance: the outcome first, then each non-empty part. */
function render(s: Record<string, unknown>, outputText: string | null, bad: boolean): string {
  const outcome =
    s.stop_reason === 'exited'
      ? `${bad ? 'Failed' : 'Succeeded'}: exit code ${s.exit_code}${s.output_status && s.output_status !== 'valid' ? `, output_status ${s.output_status}` : ''}`
      : `Failed: stopped (${s.stop_reason}) after ${s.duration} ms`;
  const parts = [`${outcome} · ${s.duration} ms · execution ${s.execution_id}`];
  if (outputText !== null) parts.push(`output:\n${outputText}`);
  if (s.stdout) parts.push(`stdout${s.stdout_truncated ? ' (truncated)' : ''}:\n${s.stdout}`);
  if (s.stderr) parts.push(`stderr${s.stderr_truncated ? ' (truncated)' : ''}:\n${s.stderr}`);
  return parts.join('\n\n');
}

/**
 * An execution as an MCP CallToolResult: structuredContent matching RESULT_SCHEMA, a text
 * rendering for clients that show only content, and isError whenever the code failed, so the
 * model can correct itself. Every text part is held to `limit` bytes.
 */
export function toolResult(e: Execution, mode: 'function' | 'script', limit: number) {
  const r = e.result;
  const stdout = capForModel(r.stdout, limit, e.id);
  const stderr = capForModel(r.stderr, limit, e.id);
  const s: Record<string, unknown> = {
    execution_id: e.id,
    exit_code: r.exitCode,
    stdout: stdout.text,
    stderr: stderr.text,
    duration: r.durationMs,
    stop_reason: r.stopReason,
    stdout_truncated: r.stdoutTruncated || stdout.cut > 0,
    stderr_truncated: r.stderrTruncated || stderr.cut > 0,
  };
  let outputText: string | null = null;
  if (mode === 'function') {
    s.output_status = r.outputStatus;
    const json = r.outputJson ?? 'null';
    const capped = capForModel(json, limit, e.id);
    if (capped.cut > 0) s.output_truncated = true;
    else s.output = JSON.parse(json);
    outputText = capped.text;
  }
  const bad = failed(e, mode);
  return { content: [{ type: 'text' as const, text: render(s, outputText, bad) }], structuredContent: s, isError: bad };
}
