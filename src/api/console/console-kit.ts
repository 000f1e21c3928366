/**
 * What every group of console routes is given by ./routes.ts: how to answer a page (or a line said
 * on a page of its own), the signed form token and its check, who is signed in, and whether the
 * browser's script asked for a fragment of a page (./live-script.ts) rather than the whole page.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../context.js';

/** Who is signed in, as a page's header names them. */
export type Who = { project: string; keyName: string };

export type PageStatus = 200 | 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 503;

export interface ConsoleKit {
  /** A page's HTML (a string is said inside the console's frame). */
  page(c: Context<AppEnv>, body: unknown, status?: PageStatus): Response;
  /** The signed double-submit token for the page's forms. */
  token(c: Context<AppEnv>): string;
  /** Whether a posted form's token holds. */
  holds(c: Context<AppEnv>, given: string | undefined): boolean;
  /** The signed-in key's project and name, for the page's header. */
  who(c: Context<AppEnv>): Who;
}

/** The live script asks for the part of a page that changes, not the whole page. */
export const wantsFragment = (c: Context<AppEnv>) => c.req.header('kiln-fragment') === '1';
