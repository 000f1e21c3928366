import { keyOfRequest } from '../../access/scopes.js';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { WorkerHub } from '../../iii/worker-hub.js';
import type { HttpFunctions } from '../../iii/http-functions.js';
import { MissingSecret } from '../../iii/http-functions.js';
import type { RegisteredFunction } from '../../store/functions/records.js';
import { refineSchemaBounds } from '../../tools/schema-bounds.js';
import { createRouter, readJson } from '../context.js';
import { HeaderName, HeaderSafe, InputValue } from '../riza/schemas.js';

/** An iii function id: what the engine's ids look like (`external.my_lambda`, `kiln::tool`), no `/`. */
const FunctionId = z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'must be 1-200 letters, digits, _ . : -');
const SecretKey = z.string().min(1).max(200);
const BoundedJson = z.any().optional().superRefine(refineSchemaBounds);

const Register = z.object({
  type: z.literal('registerfunction').optional(),
  id: FunctionId,
  description: z.string().max(4000).optional(),
  // the bounds of a tool's input_schema: nested a thousand deep, any of these was a 500
  request_format: BoundedJson,
  response_format: BoundedJson,
  metadata: BoundedJson,
  invocation: z
    .object({
      url: z
        .string()
        .max(2048)
        .refine((v) => /^https?:\/\/[^/]/i.test(v) && URL.canParse(v), 'must be an http:// or https:// URL'),
      method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
      timeout_ms: z.number().int().positive().max(3_600_000).default(30_000),
      headers: z.record(HeaderName, HeaderSafe).optional(),
      auth: z
        .discriminatedUnion('type', [
          z.object({ type: z.literal('bearer'), token_key: SecretKey }),
          z.object({ type: z.literal('hmac'), secret_key: SecretKey }),
          z.object({ type: z.literal('api_key'), header: HeaderName, value_key: SecretKey }),
        ])
        .optional(),
    })
    .optional(),
});
const Invoke = z.object({ data: InputValue });

/** A registered function as the API shows it: the message as registered, and when. */
const view = ({ project: _p, invocation, ...fn }: RegisteredFunction) => {
  if (!invocation) return fn;
  const { secret_id: _s, ...rest } = invocation;
  return { ...fn, invocation: rest };
};

/** /v1/functions: the iii engine's registerfunction over HTTP, and invoke. */
export function iiiRoutes(deps: { functions: HttpFunctions; workers: WorkerHub }) {
  const { functions, workers } = deps;
  const app = createRouter();

  app.post('/v1/functions', async (c) => {
    const { type: _t, ...fn } = Register.parse(await readJson(c));
    const worker = workers.owner(c.get('project'), fn.id);
    if (worker)
      throw new AppError('CONFLICT', `function ${fn.id} is registered by connected worker ${worker}: use another id`, [
        { field: 'id', reason: 'already_registered' },
      ]);
    try {
      return c.json(view(await functions.register(c.get('project'), fn)));
    } catch (err) {
      if (!(err instanceof MissingSecret)) throw err;
      // the engine's own error, as its registerfunction documents it
      const auth = fn.invocation!.auth!;
      const field = `invocation.auth.${auth.type === 'bearer' ? 'token_key' : auth.type === 'hmac' ? 'secret_key' : 'value_key'}`;
      return c.json(
        {
          code: 'missing_env_var',
          message: err.message,
          details: [{ field, reason: 'missing_env_var', message: `no secret named ${err.key} in this project (POST /v1/secrets)` }],
        },
        400,
      );
    }
  });
  app.get('/v1/functions', async (c) =>
    c.json({ functions: [...(await functions.list(c.get('project'))).map(view), ...workers.list(c.get('project'))] }),
  );
  app.get('/v1/functions/:id', async (c) => {
    const worker = workers.owner(c.get('project'), c.req.param('id'));
    return c.json(worker ? { id: c.req.param('id'), worker_id: worker } : view(await functions.get(c.get('project'), c.req.param('id'))));
  });
  app.delete('/v1/functions/:id', async (c) => {
    await functions.remove(c.get('project'), c.req.param('id'));
    return c.json({ id: c.req.param('id'), deleted: true });
  });
  app.post('/v1/functions/:id/invoke', async (c) => {
    const { data } = Invoke.parse(await readJson(c));
    const project = c.get('project');
    const id = c.req.param('id');
    if (workers.owner(project, id)) {
      // a connected worker's function: it runs there, and answers as it answers
      const { executionId, ...outcome } = await workers.invoke(project, id, data, keyOfRequest(c.get('principal')));
      return c.json({ invocation_id: executionId, function_id: id, ...outcome });
    }
    const fn = await functions.get(project, id);
    const called = await functions.invoke(project, fn, data, keyOfRequest(c.get('principal')));
    const { id: invocationId, ...outcome } = called;
    return c.json({ invocation_id: invocationId, function_id: fn.id, ...outcome });
  });
  return app;
}
