import type { Principal } from '../access/scopes.js';
import type { StageTimer } from '../timings.js';

/**
 * The variables every request carries through kiln's middleware, typed: a handler that reads one
 * that nothing sets does not compile.
 */
export interface AppEnv {
  Variables: {
    /** X-Request-Id, given or made: in every error log line and response header. */
    requestId: string;
    /** The project of the caller's API key: it scopes every object the request can see. */
    project: string;
    /** Who is asking: the key (or token) and what it may do (src/access/scopes.ts). */
    principal: Principal;
    /** Where the request's time went (Server-Timing), stage by stage. */
    timer: StageTimer;
  };
}
