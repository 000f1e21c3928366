/**
 * A build's log as server-sent events, for the console's build page (./runtime-routes.ts): `reset`
 * (the log so far), `text` (each new piece), `status` (pending → building) and `end` (the final
 * status, once it is stored). While the build is queued, or runs on another replica, the stream
 * watches the store until the build starts here or ends. Bounded: a stream lasts at most
 * STREAM_MS (the browser opens it again, from the log so far), a follower that does not read has
 * at most MAX_PENDING_CHARS waiting (more becomes one `reset` of the log's tail), and a project has
 * at most MAX_STREAMS open.
 */
import type { LiveLog } from '../../runtimes/builds/live-logs.js';
import type { CustomRuntimes } from '../../runtimes/custom/runtimes.js';
import { eventStream, sleepUnless } from '../sse.js';

/** How often a stream looks at the store while no log of the build is here to follow. */
const WATCH_MS = 1000;
const STREAM_MS = 30 * 60_000;
const MAX_PENDING_CHARS = 256 * 1024;
const MAX_STREAMS = 16;

const event = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

/** A live log's pieces until its build ends (or `until`), as events; the first is the whole log so far. */
async function* followed(live: LiveLog, signal: AbortSignal, until: number): AsyncGenerator<string> {
  let pending: string[] = [event('reset', { text: live.text() })];
  let size = 0;
  let ended = false;
  let wake = () => {};
  const unfollow = live.follow(
    (text) => {
      size += text.length;
      if (size > MAX_PENDING_CHARS) {
        // a follower far behind gets the log's tail once, not every piece it missed
        pending = [event('reset', { text: live.text() })];
        size = 0;
      } else pending.push(event('text', { text }));
      wake();
    },
    () => {
      ended = true;
      wake();
    },
  );
  const stop = () => wake();
  signal.addEventListener('abort', stop, { once: true });
  const timer = setTimeout(stop, Math.max(until - Date.now(), 0));
  try {
    while (!signal.aborted && Date.now() < until) {
      if (pending.length) {
        const out = pending.join('');
        pending = [];
        size = 0;
        yield out;
      } else if (ended) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    clearTimeout(timer);
    unfollow();
    signal.removeEventListener('abort', stop);
  }
}

export function createBuildLogStreams(runtimes: CustomRuntimes) {
  const open = new Map<string, number>();

  /** The stream of a revision of the project (its existence checked by the caller); null when the project has too many open. */
  return function stream(project: string, runtimeId: string, revisionId: string): Response | null {
    if ((open.get(project) ?? 0) >= MAX_STREAMS) return null;
    const stop = new AbortController();
    const until = Date.now() + STREAM_MS;
    async function* events(): AsyncGenerator<string> {
      open.set(project, (open.get(project) ?? 0) + 1);
      try {
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
            yield* followed(live, stop.signal, until);
            continue; // the build ended here (or the stream's time is up): the next look says which
          }
          if (revision.status !== 'pending' && revision.status !== 'building') {
            const { log } = await runtimes.buildLog(project, runtimeId, revisionId);
            yield event('reset', { text: log });
            yield event('end', { status: revision.status });
            return;
          }
          await sleepUnless(WATCH_MS, stop.signal);
        }
      } finally {
        const left = (open.get(project) ?? 1) - 1;
        if (left) open.set(project, left);
        else open.delete(project);
      }
    }
    return eventStream(events(), stop);
  };
}
