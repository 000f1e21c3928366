import type { KeyOfRequest } from '../access/scopes.js';
import type { WebSocket } from 'ws';
import { AppError } from '../errors.js';

/** The prefix under which kiln's saved tools are offered to workers: `kiln::<tool name or id>`. */
export const TOOL_PREFIX = 'kiln::';
/** The engine's one namespace, named in its errors. */
export const NAMESPACE = 'default';

/** One connected worker: everything the hub knows about it, in one record. */
export interface Worker {
  id: string;
  project: string;
  ws: WebSocket;
  /** Ids whose registration waits on the store's lookup: they count against the cap already. */
  reserving: Set<string>;
  /** Function ids this worker registered (and owns). */
  functions: Set<string>;
  /** False once its socket has closed: a registration that ends after that is dropped. */
  connected: boolean;
  /** The key it connected with: the log names it for the calls it makes. */
  key: KeyOfRequest | null;
}

/** A frame of the engine's protocol, as a worker sent it: nothing in it is trusted. */
export type Frame = { type?: unknown; [key: string]: unknown };

/** Sends a frame to the worker, unless its socket is no longer open. */
export function send(w: Worker, frame: object): void {
  if (w.ws.readyState === w.ws.OPEN) w.ws.send(JSON.stringify(frame));
}

/** A refusal as an iii error a worker reads: `busy` for kiln's caps, `invalid_argument` for bad data. */
export const asOutcomeError = (err: unknown) =>
  err instanceof AppError && err.code === 'BUSY'
    ? { code: 'busy', message: err.message }
    : { code: 'invalid_argument', message: err instanceof AppError ? err.message : 'the call could not be made' };

/** The size of a frame as ws hands it over (a Buffer, or fragments). */
export const rawBytes = (raw: Buffer | ArrayBuffer | Buffer[]) =>
  Array.isArray(raw) ? raw.reduce((n, b) => n + b.length, 0) : raw instanceof ArrayBuffer ? raw.byteLength : raw.length;
