/**
 * The words kiln's objects are described with, in one place below every layer: the store keeps
 * them, the services decide them, and each dialect's schema lists them (so an adapter names a
 * status without reaching into the store).
 */

/** The languages kiln runs (TypeScript in the Node image, its types erased). */
export const LANGUAGES = ['python', 'javascript', 'typescript'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Where an async invocation stands, from `queued` to an end. */
export const INVOCATION_STATUSES = ['queued', 'running', 'finished', 'interrupted', 'cancelled', 'failed'] as const;
export type InvocationStatus = (typeof INVOCATION_STATUSES)[number];

/** The surface an execution came through: kiln's HTTP API, or an adapter over the same core. */
export const EXECUTION_VIAS = ['api', 'mcp', 'c1', 'iii', 'at', 'e2b'] as const;
export type ExecutionVia = (typeof EXECUTION_VIAS)[number];

/** What an execution ran: code (script or function), a saved tool, or an iii function. */
export type ExecutionKind = 'script' | 'function' | 'tool' | 'http_function' | 'worker_function' | 'session';

/** Where a custom runtime revision's build stands. */
export const BUILD_STATUSES = ['pending', 'building', 'succeeded', 'failed', 'cancelled'] as const;
export type BuildStatus = (typeof BUILD_STATUSES)[number];

/** Where a session stands: `running` while its box lives; `ended` for good, with the reason. */
/** `paused`: no box anywhere; its files are in its checkpoint, and its next call resumes it in a fresh box. */
export const SESSION_STATUSES = ['running', 'paused', 'ended'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** Why a session ended. */
export const SESSION_END_REASONS = ['deleted', 'idle_timeout', 'max_lifetime', 'box_ended', 'kiln_restarted'] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];
