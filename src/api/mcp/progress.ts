/**
 * MCP progress (issue 24): a `tools/call` that carries a `progressToken` is answered over SSE, and
 * while its code runs kiln sends `notifications/progress` on that stream — when output comes
 * (at most every THROTTLE_MS, saying how much and its last line) and every HEARTBEAT_MS without
 * any — so a client that resets its timeout on progress (the SDK's `resetTimeoutOnProgress`)
 * waits out a run longer than its request timeout. The run's output reaches it already redacted.
 */
import type { RunStream } from '../../sandbox/job.js';

const THROTTLE_MS = 500;
const HEARTBEAT_MS = 5_000;
const LAST_LINE_CHARS = 200;

type Notify = (notification: { method: 'notifications/progress'; params: Record<string, unknown> }) => Promise<void>;

/** Whether a JSON-RPC body (one message or a batch) holds a `tools/call` that asked for progress. */
export function asksForProgress(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => {
    const params = (m as { method?: unknown; params?: { _meta?: { progressToken?: unknown } } })?.params;
    return (m as { method?: unknown })?.method === 'tools/call' && params?._meta?.progressToken !== undefined;
  });
}

/** The progress of one call: a RunStream for its run, and `end` once it has an answer. */
export function progressReporter(token: string | number, notify: Notify): RunStream & { end(): void } {
  const started = performance.now();
  const bytes = { stdout: 0, stderr: 0 };
  let lastLine = '';
  let lastSent = 0;
  let last = 0;
  let pending: NodeJS.Timeout | undefined;
  const send = () => {
    clearTimeout(pending);
    pending = undefined;
    const now = performance.now();
    lastSent = now;
    // progress must grow with each notification: milliseconds elapsed, never the same twice
    last = Math.max(last + 1, Math.round(now - started));
    const seconds = ((now - started) / 1000).toFixed(1);
    const output = bytes.stdout || bytes.stderr ? `; ${bytes.stdout} bytes on stdout, ${bytes.stderr} on stderr` : '';
    const message = `running ${seconds} s${output}${lastLine ? `: ${lastLine}` : ''}`;
    notify({ method: 'notifications/progress', params: { progressToken: token, progress: last, message } }).catch(() => {});
  };
  const heartbeat = setInterval(() => {
    if (performance.now() - lastSent >= HEARTBEAT_MS - 50) send();
  }, HEARTBEAT_MS);
  return {
    started: () => {},
    output(stream, data) {
      bytes[stream] += data.length;
      const lines = data
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim());
      if (lines.length) lastLine = lines.at(-1)!.slice(-LAST_LINE_CHARS);
      const wait = THROTTLE_MS - (performance.now() - lastSent);
      if (wait <= 0) send();
      else pending ??= setTimeout(send, wait);
    },
    end() {
      clearInterval(heartbeat);
      clearTimeout(pending);
    },
  };
}
