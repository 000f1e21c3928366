/**
 * E2B's code interpreter (@e2b/code-interpreter: its port 49999) over a session's execute: POST
 * /execute answers 200 at once and streams NDJSON lines — stdout and stderr as printed, each
 * display() as a result when it is shown, then the cell's value and figures, its error (name,
 * value, traceback) and the number of executions — ending the body when the cell ends (the SDK
 * waits for that). Contexts are the session's (/contexts: create, list, restart, remove), each
 * with the working directory it was made with. A sandbox runs one language (its template's).
 */
import type { Context } from 'hono';
import { AppError, fieldError } from '../../errors.js';
import type { SessionCalls } from '../../sessions/session-calls.js';
import type { Sessions } from '../../sessions/sessions.js';
import type { AppEnv } from '../context.js';
import { linesOf, resultLine } from './interpreter-output.js';

const KEEPALIVE_MS = 5_000;
/** Contexts of its own a sandbox may have at once (each holds an interpreter state in its box). */
const MAX_CONTEXTS = 32;

const sameLanguage = (session: string, asked: string) => (session === 'python' ? asked === 'python' : asked !== 'python');

function normalLanguage(given: unknown): string | null {
  if (typeof given !== 'string' || !given.trim()) return null;
  const l = given.trim().toLowerCase();
  return l === 'js' ? 'javascript' : l === 'ts' ? 'typescript' : l;
}

interface CodeContext {
  id: string;
  language: string;
  cwd: string;
}

type SandboxState = { contexts: Map<string, CodeContext>; cwd: string; cells: number; queue: Promise<void> };
type Routes = {
  post(path: string, h: (c: Context<AppEnv>) => Promise<Response>): unknown;
  get(path: string, h: (c: Context<AppEnv>) => Promise<Response>): unknown;
  delete(path: string, h: (c: Context<AppEnv>) => Promise<Response>): unknown;
};

/** Per sandbox: its contexts (with their working directories), the directory its interpreter is in, its cells. */
function sandboxStates(sessions: Sessions) {
  const state = new Map<string, SandboxState>();
  return async (project: string, id: string): Promise<SandboxState> => {
    let s = state.get(id);
    if (!s) {
      const { language } = await sessions.get(project, id);
      s = {
        contexts: new Map([['default', { id: 'default', language, cwd: '/home/user' }]]),
        cwd: '/home/user',
        cells: 0,
        queue: Promise.resolve(),
      };
      // bounded: the oldest sandboxes' (long gone, most likely) are let go first
      if (state.size >= 10_000) state.delete(state.keys().next().value!);
      state.set(id, s);
    }
    return s;
  };
}

const sandboxOf = (c: Context<AppEnv>) => [c.get('project'), c.req.header('e2b-sandbox-id')!] as const;

export function interpreterRoutes(app: Routes, deps: { sessions: Sessions; calls: SessionCalls; maxTimeoutSeconds: number }) {
  const { calls } = deps;
  const stateOf = sandboxStates(deps.sessions);
  const sandbox = sandboxOf;
  const chdir = (language: string, cwd: string) =>
    language === 'python' ? `__import__("os").chdir(${JSON.stringify(cwd)})` : `process.chdir(${JSON.stringify(cwd)})`;

  app.post('/e2b/sandbox/execute', async (c) => {
    const [project, id] = sandbox(c);
    const b = (await c.req.json().catch(() => null)) as {
      code?: unknown;
      context_id?: unknown;
      language?: unknown;
      env_vars?: unknown;
    } | null;
    if (typeof b?.code !== 'string') throw fieldError('code', 'required', 'must be a string');
    if (b.env_vars && Object.keys(b.env_vars as object).length)
      throw fieldError(
        'env_vars',
        'unsupported',
        "kiln sets a sandbox's environment when it is made (envs); set a variable in the code instead",
      );
    const s = await stateOf(project, id);
    const ctx = s.contexts.get(typeof b.context_id === 'string' ? b.context_id : 'default');
    if (!ctx) throw new AppError('NOT_FOUND', `Context ${String(b.context_id)} not found`);
    const language = normalLanguage(b.language);
    if (language && !sameLanguage(ctx.language, language))
      throw fieldError(
        'language',
        'wrong_language',
        `this sandbox runs ${ctx.language}: create one with a ${language} template for ${language} code`,
      );
    const contextId = ctx.id === 'default' ? null : ctx.id;
    const encoder = new TextEncoder();
    let closed = false;
    let keepalive: NodeJS.Timeout | undefined;
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        // the client may go at any time (the SDK's own timeout): nothing is written after
        const line = (o: unknown) => {
          if (!closed) controller.enqueue(encoder.encode(`${JSON.stringify(o)}\n`));
        };
        keepalive = setInterval(() => line({ type: 'keepalive' }), KEEPALIVE_MS);
        const printed = linesOf((stream, text) => line({ type: stream, text, timestamp: new Date().toISOString() }));
        let shown = 0;
        // one cell at a time per sandbox: its working directory and its cell go together
        const turn = s.queue;
        let done!: () => void;
        s.queue = new Promise<void>((resolve) => (done = resolve));
        await turn;
        try {
          if (s.cwd !== ctx.cwd) {
            const moved = await calls.execute(project, id, { code: chdir(ctx.language, ctx.cwd), contextId }, { via: 'e2b' });
            if (moved.error) throw fieldError('cwd', 'invalid', `the context's working directory ${ctx.cwd} cannot be entered`);
            s.cwd = ctx.cwd;
          }
          const answer = (await calls.execute(
            project,
            id,
            {
              code: b.code as string,
              contextId,
              timeoutSeconds: deps.maxTimeoutSeconds,
              stream: {
                started() {},
                output: printed.write,
                display(bundle) {
                  printed.flush();
                  shown++;
                  line(resultLine(bundle));
                },
              },
            },
            { via: 'e2b' },
          )) as { results?: Record<string, unknown>[]; error?: { name: string; value: string; traceback: string } | null };
          printed.flush();
          for (const bundle of (answer.results ?? []).slice(shown)) line(resultLine(bundle));
          if (answer.error) line({ type: 'error', name: answer.error.name, value: answer.error.value, traceback: answer.error.traceback });
          line({ type: 'number_of_executions', execution_count: ++s.cells });
          line({ type: 'end_of_execution' });
        } catch (error) {
          const message = error instanceof AppError ? error.message : 'internal error';
          line({ type: 'error', name: 'KilnError', value: message, traceback: '' });
        } finally {
          done();
          printed.flush();
          clearInterval(keepalive);
          if (!closed) controller.close();
          closed = true;
        }
      },
      cancel() {
        closed = true;
        clearInterval(keepalive);
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' } });
  });

  contextRoutes(app, calls, stateOf);
}

/** The code interpreter's contexts: create (with a working directory), list, restart, remove. */
function contextRoutes(app: Routes, calls: SessionCalls, stateOf: ReturnType<typeof sandboxStates>) {
  const sandbox = sandboxOf;
  app.post('/e2b/sandbox/contexts', async (c) => {
    const [project, id] = sandbox(c);
    const text = await c.req.text();
    let b: { language?: unknown; cwd?: unknown };
    try {
      b = (text.trim() ? JSON.parse(text) : {}) ?? {};
    } catch {
      throw fieldError('(body)', 'malformed_json', 'is not JSON');
    }
    const s = await stateOf(project, id);
    const language = normalLanguage(b.language) ?? s.contexts.get('default')!.language;
    if (!sameLanguage(s.contexts.get('default')!.language, language))
      throw fieldError('language', 'wrong_language', `this sandbox runs ${s.contexts.get('default')!.language}, not ${language}`);
    if (b.cwd !== undefined && (typeof b.cwd !== 'string' || !b.cwd.startsWith('/')))
      throw fieldError('cwd', 'invalid', 'must be an absolute path');
    if (s.contexts.size > MAX_CONTEXTS)
      throw new AppError('BUSY', `a sandbox has at most ${MAX_CONTEXTS} contexts of its own; remove one first`, [
        { reason: 'contexts_full' },
      ]);
    const made = await calls.createContext(project, id);
    const ctx = { id: made.id, language, cwd: (b.cwd as string | undefined) ?? '/home/user' };
    s.contexts.set(ctx.id, ctx);
    return c.json(ctx, 200);
  });
  app.get('/e2b/sandbox/contexts', async (c) => c.json([...(await stateOf(...sandbox(c))).contexts.values()], 200));
  app.post('/e2b/sandbox/contexts/:ctx/restart', async (c) => {
    const [project, id] = sandbox(c);
    const s = await stateOf(project, id);
    const ctx = s.contexts.get(c.req.param('ctx')!);
    if (!ctx) throw new AppError('NOT_FOUND', `Context ${c.req.param('ctx')} not found`);
    if (ctx.id === 'default')
      throw fieldError('id', 'unsupported', 'kiln restarts contexts of your own (createCodeContext), not the default one');
    // a fresh interpreter state under the same id
    await calls.deleteContext(project, id, ctx.id);
    await calls.createContext(project, id, ctx.id);
    return c.json(null, 200);
  });
  app.delete('/e2b/sandbox/contexts/:ctx', async (c) => {
    const [project, id] = sandbox(c);
    const s = await stateOf(project, id);
    const ctx = s.contexts.get(c.req.param('ctx')!);
    if (!ctx || ctx.id === 'default') throw new AppError('NOT_FOUND', `Context ${c.req.param('ctx')} not found`);
    await calls.deleteContext(project, id, ctx.id);
    s.contexts.delete(ctx.id);
    return c.json(null, 200);
  });
}
