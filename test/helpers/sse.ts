// Reading a server-sent events answer as a client does, each event with its time of arrival.
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface Received extends EventSourceMessage {
  at: number;
}

/** Reads `res`'s events until it ends, or `stopAfter` of them (then the connection is dropped). */
export async function readEvents(res: Response, stopAfter = Number.POSITIVE_INFINITY, abort?: AbortController): Promise<Received[]> {
  const events: Received[] = [];
  const parser = createParser({ onEvent: (e) => events.push({ ...e, at: performance.now() }) });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (events.length >= stopAfter) {
        abort?.abort();
        break;
      }
    }
  } catch (error) {
    if (!abort?.signal.aborted) throw error;
  }
  return events.slice(0, stopAfter);
}
