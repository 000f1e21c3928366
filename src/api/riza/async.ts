import type { Context } from 'hono';
import type { ExecutionRequest } from '../../execution/request.js';
import { fieldError } from '../../errors.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { AppEnv } from '../context.js';

/** RFC 7240: `Prefer: respond-async` among the caller's preferences. */
export const prefersAsync = (c: Context<AppEnv>) => /(^|,)\s*respond-async\s*(;|,|$)/i.test(c.req.header('prefer') ?? '');

/**
 * The async half of the execute endpoints: with `Prefer: respond-async`, the request is checked,
 * stored and queued, and answered 202 with where its execution will be; null means "run it now".
 * A callback_url without the preference is a mistake the caller should hear of, not a silent
 * synchronous run.
 */
export async function acceptIfAsync(
  c: Context<AppEnv>,
  invocations: Invocations,
  req: ExecutionRequest,
  opts: { bytes: number; callbackUrl?: string | null },
): Promise<Response | null> {
  if (!prefersAsync(c)) {
    if (opts.callbackUrl)
      throw fieldError(
        'callback_url',
        'needs_async',
        'a callback is sent only for an async invocation: add the header Prefer: respond-async',
      );
    return null;
  }
  const accepted = await invocations.accept(req, opts);
  return c.json({ id: accepted.id, status: accepted.status, created_at: accepted.createdAt }, 202, {
    Location: `/v1/executions/${accepted.id}`,
    'Preference-Applied': 'respond-async',
  });
}
