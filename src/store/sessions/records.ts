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
  /** Where other replicas reach the kiln that holds its box (KILN_REPLICA_URL), if it said. */
  ownerUrl: string | null;
  /** Its box was resumed from a checkpoint (after a restart, or its kiln's end): files kept, processes not. */
  restored: boolean;
  /** The newest whole checkpoint of its workspace: generation 0 is none (the create's files are what it has). */
  checkpoint: SessionCheckpoint;
}

export interface SessionCheckpoint {
  generation: number;
  chunks: number;
  /** Bytes of the tar (before compression). */
  bytes: number;
  at: string | null;
}

export interface SessionStore {
  /** `spec`: the create request, sealed (src/sessions/session-spec.ts): what a resume opens again. */
  create(session: SessionRecord, spec: string): Promise<void>;
  spec(project: string, id: string): Promise<string | null>;
  get(project: string, id: string): Promise<SessionRecord | null>;
  list(project: string, page: Page & { status?: SessionStatus }): Promise<SessionRecord[]>;
  /** The project a session is of, whatever its status (E2B's in-sandbox calls name a sandbox, not a project). */
  projectOf(id: string): Promise<string | null>;
  /** Records activity of a running session (and a new idle timeout); null when it is not running (or not the project's). */
  touch(
    project: string,
    id: string,
    at: { lastActiveAt: string; expiresAt: string; idleTimeoutSeconds?: number },
  ): Promise<SessionRecord | null>;
  /** Ends a running session; null when it was not running (ended already, or not the project's). */
  end(project: string, id: string, end: { reason: SessionEndReason; detail: string | null; at: string }): Promise<SessionRecord | null>;
  /** The running sessions whose box a kiln other than `owner` holds (few: KILN_SESSIONS_MAX bounds each kiln's). */
  runningElsewhere(owner: string): Promise<SessionRecord[]>;
  /** A running session of `owner` becomes paused (its box is going); null when it was not that. */
  pause(project: string, id: string, owner: string): Promise<SessionRecord | null>;
  /**
   * Takes a paused session (or a running one of `seen.owner`, a kiln that is gone) for `to.owner`,
   * running and restored; null when another kiln took it first or it changed meanwhile.
   */
  claim(
    project: string,
    id: string,
    seen: { status: 'paused' } | { status: 'running'; owner: string },
    to: { owner: string; ownerUrl: string | null; lastActiveAt: string; expiresAt: string },
  ): Promise<SessionRecord | null>;
  /** Ends the paused sessions past a deadline at `now` (idle_timeout or max_lifetime); their checkpoints go. */
  endExpired(now: string): Promise<SessionRecord[]>;

  /** One sealed chunk of a checkpoint being written; it counts once `commitCheckpoint` points at its generation. */
  writeChunk(id: string, generation: number, seq: number, data: string): Promise<void>;
  /** Makes `checkpoint` the session's (and drops every other generation); false when it has ended meanwhile. */
  commitCheckpoint(project: string, id: string, checkpoint: SessionCheckpoint): Promise<boolean>;
  readChunk(id: string, generation: number, seq: number): Promise<string | null>;
  /** Drops the chunks of generations other than the committed one (a write that did not commit). */
  dropUncommitted(id: string): Promise<void>;
}
