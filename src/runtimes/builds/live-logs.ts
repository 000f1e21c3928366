import { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';

/** How much of a running build's log is kept for a follower who arrives late: its end, like the stored log. */
const LIVE_TAIL_CHARS = 256 * 1024;

/** A running build's log, as it is written: what there is so far, and what comes next. */
export interface LiveLog {
  /** The log so far (its last LIVE_TAIL_CHARS, the cut said). */
  text(): string;
  /**
   * Calls `onText` with each new piece and `onEnd` once the build has ended and its outcome is in
   * the store (so a follower reading the status then reads the final one). Returns the unfollow.
   */
  follow(onText: (text: string) => void, onEnd: () => void): () => void;
}

interface Entry extends LiveLog {
  write(chunk: Buffer): void;
  end(): void;
}

/**
 * The logs of the builds this process runs, by image key, while they run. The store keeps a log
 * only once its build has ended (one write per build, not one per line); these let the console
 * follow a build as it happens. A build on another replica is not here: its log shows when it ends.
 */
export function createLiveLogs() {
  const logs = new Map<string, Entry>();

  function open(key: string): Pick<Entry, 'write' | 'end'> {
    const events = new EventEmitter();
    events.setMaxListeners(0); // any number of people may follow one build
    const decoder = new StringDecoder('utf8');
    let text = '';
    let cut = false;
    let ended = false;
    const entry: Entry = {
      text: () => (cut ? '[earlier output cut]\n' : '') + text,
      follow(onText, onEnd) {
        // taken just as the build ended: its end is told all the same, once the caller holds the unfollow
        if (ended) {
          queueMicrotask(onEnd);
          return () => {};
        }
        events.on('text', onText);
        events.once('end', onEnd);
        return () => {
          events.off('text', onText);
          events.off('end', onEnd);
        };
      },
      write(chunk) {
        const piece = decoder.write(chunk);
        if (!piece) return;
        text += piece;
        if (text.length > LIVE_TAIL_CHARS) {
          text = text.slice(-LIVE_TAIL_CHARS);
          cut = true;
        }
        events.emit('text', piece);
      },
      end() {
        ended = true;
        if (logs.get(key) === entry) logs.delete(key);
        events.emit('end');
        events.removeAllListeners();
      },
    };
    logs.set(key, entry);
    return entry;
  }

  return {
    open,
    /** The log of the build of `imageKey` running here now, if one is. */
    get: (key: string): LiveLog | undefined => logs.get(key),
  };
}

export type LiveLogs = ReturnType<typeof createLiveLogs>;
