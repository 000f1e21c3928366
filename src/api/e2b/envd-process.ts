/**
 * envd's Process service (Connect-RPC, JSON) over a session's processes (src/sessions/session-processes.ts):
 * Start and Connect stream a process's events (start, data as base64, keepalive when quiet, end),
 * List, SendInput, CloseStdin and SendSignal act on one by pid or tag. As envd does, a client that
 * goes away stops nothing, and `Connect-Timeout-Ms` is the process's deadline. Every process runs
 * as kiln's unprivileged sandbox user, without a terminal (a PTY is refused, saying so).
 */
import type { Context } from 'hono';
import type { ProcessEvent, ProcessSelector, SessionProcess, SessionProcesses } from '../../sessions/session-processes.js';
import type { AppEnv } from '../context.js';
import { ConnectError, requestMessage, serverStream, streamError, unaryError, unaryRoute } from './connect-rpc.js';

const MAX_INPUT_BYTES = 256 * 1024;
const SIGNALS: Record<string, number> = { SIGNAL_SIGKILL: 9, SIGNAL_SIGTERM: 15, '9': 9, '15': 15 };
/** E2B's home: a process's working directory when none is given (the session's workspace, /mnt/req). */
const HOME = '/home/user';

function selectorOf(message: Record<string, unknown>): ProcessSelector {
  const p = message.process as { pid?: unknown; tag?: unknown } | undefined;
  if (typeof p?.pid === 'number' && Number.isInteger(p.pid)) return { pid: p.pid };
  if (typeof p?.tag === 'string') return { tag: p.tag };
  throw new ConnectError('invalid_argument', 'process: give its pid or its tag');
}

/** A string map of a message (envs): a 400 naming it otherwise. */
function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string'))
    throw new ConnectError('invalid_argument', `${field}: must map names to strings`);
  return value as Record<string, string>;
}

/** A process event as envd's ProcessEvent. */
function eventOf(e: ProcessEvent) {
  if (e.kind !== 'end') return { event: { data: { [e.kind]: e.data.toString('base64') } } };
  const { exitCode, signal, timedOut } = e.end;
  const killed = signal !== null;
  const status = killed
    ? `signal: ${signal === 9 ? 'killed' : signal === 15 ? 'terminated' : `signal ${signal}`}`
    : `exit status ${exitCode}`;
  return {
    event: {
      end: {
        exitCode: killed ? -1 : exitCode,
        exited: !killed,
        status,
        ...(killed || exitCode !== 0 ? { error: timedOut ? `${status} (its deadline passed)` : status } : {}),
      },
    },
  };
}

/**
 * Streams a process's events to its end (or the client's going): what Start and Connect answer.
 * `open` starts it, or finds it, with the listener following from its first byte; what comes
 * before its pid is known waits, so that `start` is the first message, as the SDKs require.
 */
function follow(c: Context<AppEnv>, open: (listener: (e: ProcessEvent) => void) => Promise<SessionProcess>): Response {
  const ping = Math.min(Math.max(Number(c.req.header('keepalive-ping-interval') ?? 50) || 50, 1), 300) * 1000;
  return serverStream(async (send, stop) => {
    let deliver: ((e: ProcessEvent) => void) | null = null;
    const early: ProcessEvent[] = [];
    const listener = (e: ProcessEvent) => (deliver ? deliver(e) : early.push(e));
    const proc = await open(listener);
    send({ event: { start: { pid: proc.pid } } });
    await new Promise<void>((resolve) => {
      let quiet: NodeJS.Timeout | undefined;
      const done = () => {
        clearInterval(quiet);
        proc.unfollow(listener);
        stop.removeEventListener('abort', done);
        resolve();
      };
      deliver = (e) => {
        send(eventOf(e));
        clearInterval(quiet);
        if (e.kind === 'end') return done();
        quiet = setInterval(() => send({ event: { keepalive: {} } }), ping);
      };
      if (stop.aborted) return done(); // gone while it started
      stop.addEventListener('abort', done, { once: true }); // the client went: the process runs on
      quiet = setInterval(() => send({ event: { keepalive: {} } }), ping);
      for (const e of early.splice(0)) deliver(e);
    });
  });
}

export function processRoutes(
  app: { post(path: string, h: (c: Context<AppEnv>) => Promise<Response>): unknown },
  processes: SessionProcesses,
) {
  const base = '/e2b/sandbox/process.Process';
  const sandbox = (c: Context<AppEnv>) => [c.get('project'), c.req.header('e2b-sandbox-id')!] as const;
  const unary = unaryRoute;

  app.post(`${base}/Start`, async (c) => {
    let m: Record<string, unknown>;
    try {
      m = await requestMessage(c, true);
      if (m.pty) throw new ConnectError('unimplemented', 'pty: kiln runs processes without a terminal; run the command itself');
      const p = (m.process ?? {}) as { cmd?: unknown; args?: unknown; envs?: unknown; cwd?: unknown };
      if (typeof p.cmd !== 'string' || !p.cmd) throw new ConnectError('invalid_argument', 'process.cmd: must be a non-empty string');
      if (p.args !== undefined && !(Array.isArray(p.args) && p.args.every((a) => typeof a === 'string')))
        throw new ConnectError('invalid_argument', 'process.args: must be a list of strings');
      const args = (p.args as string[] | undefined) ?? [];
      const envs = stringMap(p.envs, 'process.envs');
      const cwd = typeof p.cwd === 'string' && p.cwd ? p.cwd : HOME;
      const deadline = Number(c.req.header('connect-timeout-ms') ?? 0);
      const spec = {
        argv: [p.cmd, ...args],
        // PWD: a shell then says the directory as it was named (/home/user), not as it resolves (/mnt/req)
        env: { HOME, PWD: cwd, ...envs },
        cwd,
        stdin: m.stdin === true,
        tag: typeof m.tag === 'string' ? m.tag : null,
        // (a deadline past what a timer holds, about 24 days, is none: the session's lifetime ends it first)
        timeoutMs: Number.isFinite(deadline) && deadline > 0 && deadline < 2 ** 31 ? deadline : null,
      };
      const config = { cmd: p.cmd, args, envs, cwd };
      return follow(c, (listener) => processes.start(...sandbox(c), spec, config, { via: 'e2b' }, listener));
    } catch (error) {
      return streamError(error); // refused before it started: the error in the stream's end, as its clients read it
    }
  });
  app.post(`${base}/Connect`, async (c) => {
    try {
      const proc = await processes.find(...sandbox(c), selectorOf(await requestMessage(c, true)));
      return follow(c, async (listener) => {
        proc.follow(listener);
        return proc;
      });
    } catch (error) {
      return streamError(error);
    }
  });
  app.post(
    `${base}/List`,
    unary(async (c) => ({
      processes: (await processes.list(...sandbox(c))).map((p) => ({ pid: p.pid, config: p.config, ...(p.tag ? { tag: p.tag } : {}) })),
    })),
  );
  app.post(
    `${base}/SendInput`,
    unary(async (c, m) => {
      const input = (m.input ?? {}) as { stdin?: unknown; pty?: unknown };
      if (input.pty !== undefined) throw new ConnectError('unimplemented', 'input.pty: kiln runs processes without a terminal');
      if (typeof input.stdin !== 'string') throw new ConnectError('invalid_argument', 'input.stdin: must be base64 bytes');
      const data = Buffer.from(input.stdin, 'base64');
      // the box holds at most this much a process has not read yet: more is refused, not dropped
      if (data.length > MAX_INPUT_BYTES)
        throw new ConnectError('resource_exhausted', `input.stdin: at most ${MAX_INPUT_BYTES} bytes a call`);
      await processes.input(...sandbox(c), selectorOf(m), data);
    }),
  );
  app.post(
    `${base}/CloseStdin`,
    unary(async (c, m) => void (await processes.input(...sandbox(c), selectorOf(m), null))),
  );
  app.post(
    `${base}/SendSignal`,
    unary(async (c, m) => {
      const signal = SIGNALS[String(m.signal)];
      if (!signal) throw new ConnectError('invalid_argument', 'signal: SIGNAL_SIGKILL or SIGNAL_SIGTERM');
      await processes.signal(...sandbox(c), selectorOf(m), signal);
    }),
  );
  for (const method of ['Update', 'StreamInput'])
    app.post(`${base}/${method}`, async (c) =>
      unaryError(c, new ConnectError('unimplemented', `${method}: kiln runs processes without a terminal; write stdin with SendInput`)),
    );
}
