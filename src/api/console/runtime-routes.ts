/**
 * The console's runtimes (./runtime-pages.tsx), for a key that may read the project, and a running
 * build's log as server-sent events: `reset` (the log so far), `text` (each new piece), `status`
 * (pending → building) and `end` (the final status, once it is stored). While the build is queued
 * or runs on another replica, the stream watches the store until it starts here or ends.
 */
import { requireScope } from '../../access/scopes.js';
import type { CustomRuntimes } from '../../runtimes/custom/runtimes.js';
import type { LiveLog } from '../../runtimes/builds/live-logs.js';
import type { createRouter } from '../context.js';
import type { ConsoleKit } from './console-kit.js';
import { eventStream } from '../sse.js';
import { BuildPage, RuntimePage, RuntimesPage } from './runtime-pages.js';

/** How often a stream looks at the store while no log of the build is here to follow. */
const WATCH_MS = 1000;
/** A stream ends after this; the browser's EventSource opens it again, from the log so far. */
const STREAM_MS = 30 * 60_000;

const event = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** A live log's pieces until its build ends, as events; the first is the whole log so far. */
async function* followed(live: LiveLog, signal: AbortSignal): AsyncGenerator<string> {
  const pending: string[] = [event('reset', { text: live.text() })];
  let ended = false;
  let wake = () => {};
  const unfollow = live.follow(
    (text) => {
      pending.push(event('text', { text }));
      wake();
    },
    () => {
      ended = true;
      wake();
    },
  );
  const stop = () => wake();
  signal.addEventListener('abort', stop, { once: true });
  try {
    while (!signal.aborted) {
      if (pending.length) yield pending.splice(0).join('');
      else if (ended) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    unfollow();
    signal.removeEventListener('abort', stop);
  }
}

export function runtimeRoutes(app: ReturnType<typeof createRouter>, kit: ConsoleKit, runtimes: CustomRuntimes) {
  const { who } = kit;

  app.get('/console/runtimes', async (c) => {
    requireScope(c.get('principal'), 'read');
    const list = await runtimes.list(c.get('project'), { limit: 100 });
    return kit.page(c, RuntimesPage({ who: who(c), csrf: kit.token(c), runtimes: list }));
  });
  app.get('/console/runtimes/:id', async (c) => {
    requireScope(c.get('principal'), 'read');
    const runtime = await runtimes.get(c.get('project'), c.req.param('id'));
    const revisions = await runtimes.revisions(c.get('project'), runtime.id, { limit: 100 });
    return kit.page(c, RuntimePage({ who: who(c), csrf: kit.token(c), runtime, revisions }));
  });
  app.get('/console/runtimes/:id/revisions/:rev', async (c) => {
    requireScope(c.get('principal'), 'read');
    const project = c.get('project');
    const runtime = await runtimes.get(project, c.req.param('id'));
    const { revision, log } = await runtimes.buildLog(project, runtime.id, c.req.param('rev'));
    const live = await runtimes.liveLog(project, runtime.id, revision.id);
    const page = BuildPage({ who: who(c), csrf: kit.token(c), runtime, revision, log: live?.text() ?? log, follow: !!live });
    return kit.page(c, page);
  });
  app.get('/console/runtimes/:id/revisions/:rev/log', async (c) => {
    requireScope(c.get('principal'), 'read');
    const project = c.get('project');
    const [runtimeId, revisionId] = [c.req.param('id'), c.req.param('rev')];
    await runtimes.revision(project, runtimeId, revisionId); // a 404 before any stream
    const stop = new AbortController();
    const until = Date.now() + STREAM_MS;
    async function* events(): AsyncGenerator<string> {
      let said = '';
      while (!stop.signal.aborted && Date.now() < until) {
        const revision = await runtimes.revision(project, runtimeId, revisionId).catch(() => null);
        if (!revision) return; // deleted meanwhile
        if (revision.status !== said) {
          said = revision.status;
          yield event('status', { status: said });
        }
        const live = await runtimes.liveLog(project, runtimeId, revisionId);
        if (live) {
          yield* followed(live, stop.signal);
          continue; // the build ended here: the next look reads its final status
        }
        if (revision.status !== 'pending' && revision.status !== 'building') {
          const { log } = await runtimes.buildLog(project, runtimeId, revisionId);
          yield event('reset', { text: log });
          yield event('end', { status: revision.status });
          return;
        }
        await sleep(WATCH_MS, stop.signal);
      }
    }
    return eventStream(events(), stop);
  });
}
