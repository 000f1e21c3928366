import type { SessionEndReason, SessionStatus } from '../../model/vocabulary.js';
import type { Page } from '../page.js';

export type { SessionEndReason, SessionStatus };

/** One session: a box kept across calls (src/sessions/). Its credentials are never stored here. */
export interface SessionRecord {
  id: string; // sess_…
  project: string;
  language: string;
  runtimeRevisionId: string | null;
  memoryMiB: number;
  idleTimeoutSeconds: number;
  maxLifetimeSeconds: number;
  status: SessionStatus;
  endReason: SessionEndReason | null;
  /** What ended it, in words (a box's exit status, say). */
  endDetail: string | null;
  /** The kiln (`<instance>/<boot>`) that holds its box. */
  owner: string;
  createdAt: string;
  lastActiveAt: string;
  /** The idle deadline: last activity + the idle timeout, never past `endsAt`. */
  expiresAt: string;
  /** The lifetime's end: creation + the maximum lifetime. */
  endsAt: string;
  endedAt: string | null;
  /** What the session was created with, as shown back (env names, egress hosts; no values). */
  settings: unknown;
}

export interface SessionStore {
  create(session: SessionRecord): Promise<void>;
  get(project: string, id: string): Promise<SessionRecord | null>;
  list(project: string, page: Page & { status?: SessionStatus }): Promise<SessionRecord[]>;
  /** Records activity of a running session; null when it is not running (or not the project's). */
  touch(project: string, id: string, at: { lastActiveAt: string; expiresAt: string }): Promise<SessionRecord | null>;
  /** Ends a running session; null when it was not running (ended already, or not the project's). */
  end(project: string, id: string, end: { reason: SessionEndReason; detail: string | null; at: string }): Promise<SessionRecord | null>;
  /** The running sessions whose box a kiln of `instance` held, other than `owner` (an earlier start's). */
  runningOfEarlierStarts(instance: string, owner: string): Promise<SessionRecord[]>;
}
