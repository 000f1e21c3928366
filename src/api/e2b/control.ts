/**
 * E2B's control plane (its OpenAPI, as e2b 2.x calls it) over kiln's sessions: create, connect
 * (which resumes a paused one), list (metadata and state filters, X-Next-Token pages), get, set
 * timeout, pause, kill, metrics. Bodies are E2B's camelCase; errors `{code, message}` with the
 * HTTP status as `code` (the SDKs read it: kill() is false on 404, pause() false on 409). What kiln
 * does not have (template builds, snapshots, forks, volumes) answers 501 naming what to use instead.
 */
import { keyOfRequest } from '../../access/scopes.js';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { AppError, fieldError } from '../../errors.js';
import type { CustomRuntimes } from '../../runtimes/custom/runtimes.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { Sessions } from '../../sessions/sessions.js';
import type { SessionRecord } from '../../store/sessions/records.js';
import type { Context } from 'hono';
import { type AppEnv, createRouter } from '../context.js';
import { fromZodError } from '../error-response.js';
import { accessToken, ENVD_VERSION, trafficToken, labelsOf, metadataOf, runtimeOfTemplate, sandboxView } from './sandbox-view.js';

const Create = z.object({
  templateID: z.string().min(1).max(256).optional(),
  timeout: z.number().int().min(1).optional(),
  metadata: z.record(z.string().max(256), z.string().max(4096)).optional(),
  envVars: z.record(z.string().max(256), z.string().max(65536)).optional(),
  allow_internet_access: z.boolean().optional(),
  network: z.object({ allowOut: z.array(z.string().max(253)).max(100).optional(), denyOut: z.array(z.string()).optional() }).optional(),
  autoPause: z.boolean().optional(),
});

/** A body parsed by `schema`: a 400 naming each field otherwise. */
async function body<T>(c: { req: { text(): Promise<string> } }, schema: z.ZodType<T>): Promise<T> {
  const text = await c.req.text();
  let json: unknown = {};
  if (text.trim()) {
    try {
      json = JSON.parse(text);
    } catch {
      throw fieldError('(body)', 'malformed_json', 'is not JSON');
    }
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

/** `allowOut` as kiln's egress: hosts by name (kiln's boxes reach only the hosts a session allows). */
function allowOf(b: z.infer<typeof Create>): { host: string }[] {
  const hosts = b.allow_internet_access === false ? [] : (b.network?.allowOut ?? []);
  for (const [i, host] of hosts.entries())
    if (/^[\d.:/]+$/.test(host) || host.includes('/'))
      throw fieldError(
        `network.allowOut[${i}]`,
        'unsupported',
        'kiln allows hosts by name (example.com, *.example.com), not addresses or ranges',
      );
  return hosts.map((host) => ({ host }));
}

/** The `metadata` query of a list: three layers of encoding, as the SDKs send it. */
function metadataQuery(raw: string | undefined): Record<string, string> {
  if (!raw) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    try {
      out[decodeURIComponent(k)] = decodeURIComponent(v);
    } catch {
      throw fieldError('metadata', 'invalid', 'is not a valid percent-encoded query');
    }
  }
  return out;
}

export function controlRoutes(deps: { sessions: Sessions; runtimes: CustomRuntimes; secretBox: SecretBox; config: Config }) {
  const { sessions, config } = deps;
  const app = createRouter();
  const view = (r: SessionRecord) => sandboxView(r, config);
  /** The answer to a create or a connect: the sandbox, and what its in-sandbox calls carry. */
  const opened = (r: SessionRecord) => ({
    ...view(r),
    envdVersion: ENVD_VERSION,
    envdAccessToken: accessToken(deps.secretBox, r.project, r.id),
    trafficAccessToken: trafficToken(deps.secretBox, r.project, r.id),
    domain: null,
  });

  const create = async (c: Context<AppEnv>) => {
    const b = await body(c, Create);
    const template = b.templateID ?? 'base';
    const runtime = await runtimeOfTemplate(deps.runtimes, c.get('project'), template);
    const record = await sessions.create(
      c.get('project'),
      {
        ...runtime,
        idleTimeoutSeconds: b.timeout ?? null,
        env: Object.entries(b.envVars ?? {}).map(([name, value]) => ({ name, value })),
        allow: allowOf(b),
        files: [],
        labels: labelsOf(template, b.metadata ?? {}),
        createdBy: keyOfRequest(c.get('principal')),
      },
      c.get('timer'),
    );
    return c.json(opened(record), 201);
  };
  app.post('/e2b/v2/sandboxes', create);
  app.post('/e2b/sandboxes', create);

  const connect = async (c: Context<AppEnv>) => {
    const id = c.req.param('id')!;
    const b = await body(c, z.object({ timeout: z.number().int().min(1).optional() }).passthrough());
    const before = await sessions.get(c.get('project'), id);
    if (before.status === 'ended') throw new AppError('NOT_FOUND', `sandbox ${id} has ended`, [{ field: 'id', reason: 'ended' }]);
    // any call resumes a paused session; one with a timeout sets it from now
    const record = b.timeout
      ? await sessions.setIdleTimeout(c.get('project'), id, b.timeout)
      : await sessions.keepAlive(c.get('project'), id);
    return c.json(opened(record), before.status === 'paused' ? 201 : 200);
  };
  app.post('/e2b/v2/sandboxes/:id/connect', connect);
  app.post('/e2b/sandboxes/:id/connect', connect);
  app.post('/e2b/sandboxes/:id/resume', connect);

  const list = async (c: Context<AppEnv>) => {
    const project = c.get('project');
    const wanted = metadataQuery(c.req.query('metadata'));
    const states = (c.req.query('state') ?? 'running,paused').split(',');
    const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 100) || 100, 1), 1000);
    const out: SessionRecord[] = [];
    let after = c.req.query('nextToken') || undefined;
    let more = true;
    // sessions newest first, ended ones left out, filtered on their metadata: pages of the store until this one is full
    while (out.length < limit && more) {
      const rows = await sessions.list(project, { limit: 100, ...(after ? { startingAfter: after } : {}) });
      more = rows.length === 100;
      for (const r of rows) {
        after = r.id;
        if (r.status === 'ended' || !states.includes(r.status)) continue;
        const metadata = metadataOf(r);
        if (Object.entries(wanted).every(([k, v]) => metadata[k] === v)) out.push(r);
        if (out.length === limit) break;
      }
    }
    if (out.length === limit && after) c.header('X-Next-Token', after);
    return c.json(out.map(view), 200);
  };
  app.get('/e2b/v2/sandboxes', list);
  app.get('/e2b/sandboxes', list);

  app.get('/e2b/sandboxes/:id', async (c) => {
    const record = await sessions.get(c.get('project'), c.req.param('id'));
    if (record.status === 'ended') throw new AppError('NOT_FOUND', `sandbox ${record.id} has ended`, [{ field: 'id', reason: 'ended' }]);
    return c.json(view(record), 200);
  });
  app.post('/e2b/sandboxes/:id/timeout', async (c) => {
    const b = await body(c, z.object({ timeout: z.number().int().min(1) }));
    await sessions.setIdleTimeout(c.get('project'), c.req.param('id'), b.timeout);
    return c.body(null, 204);
  });
  app.post('/e2b/sandboxes/:id/pause', async (c) => {
    await sessions.pause(c.get('project'), c.req.param('id'));
    return c.body(null, 204);
  });
  app.delete('/e2b/sandboxes/:id', async (c) => {
    await sessions.remove(c.get('project'), c.req.param('id')).catch((error: unknown) => {
      // one that has ended is not there to kill (the SDK's kill() says false)
      if (error instanceof AppError && error.code === 'CONFLICT') throw new AppError('NOT_FOUND', error.message);
      throw error;
    });
    return c.body(null, 204);
  });
  app.get('/e2b/sandboxes/:id/metrics', async (c) => {
    await sessions.get(c.get('project'), c.req.param('id'));
    return c.json([], 200); // kiln's metrics are its own (/metrics, per kiln); none per sandbox yet
  });

  const elsewhere: [string, string, string][] = [
    ['put', '/e2b/sandboxes/:id/network', "a session's egress is fixed when it is made: create the sandbox with network.allowOut"],
    ['post', '/e2b/sandboxes/:id/fork', "kiln does not fork sandboxes: its checkpoint of a workspace is the session's own"],
    ['post', '/e2b/sandboxes/:id/snapshots', 'kiln keeps workspace checkpoints (pause), not snapshots of memory'],
    ['get', '/e2b/snapshots', 'kiln keeps workspace checkpoints (pause), not snapshots of memory'],
    ['post', '/e2b/templates', 'build a custom runtime with POST /v1/runtimes and use its id or name as the template'],
    ['post', '/e2b/v2/templates', 'build a custom runtime with POST /v1/runtimes and use its id or name as the template'],
    ['post', '/e2b/v3/templates', 'build a custom runtime with POST /v1/runtimes and use its id or name as the template'],
    ['get', '/e2b/templates', 'list custom runtimes with GET /v1/runtimes'],
    ['post', '/e2b/volumes', "kiln has no volumes: a session's workspace is its storage, kept by its checkpoints"],
  ];
  for (const [method, path, instead] of elsewhere)
    app.on(method.toUpperCase(), path, (c) => c.json({ code: 501, message: `not supported by kiln: ${instead}` }, 501));
  return app;
}
