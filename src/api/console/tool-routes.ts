/**
 * The console's tool pages (./tool-pages.tsx): what a key of the project may see of its saved tools
 * (a key limited to some tools sees those), and a run of one from its form, as the key that signed
 * in (`run`, and the tool if the key is limited to some).
 */
import type { Context } from 'hono';
import { keyOfRequest, requireScope, requireTool } from '../../access/scopes.js';
import { AppError } from '../../errors.js';
import type { Execute } from '../../execution/executor.js';
import type { Tools } from '../../tools/tools.js';
import type { ConsoleKit } from './console-kit.js';
import type { AppEnv } from '../context.js';
import type { createRouter } from '../context.js';
import { formFields, ToolPage, ToolsPage } from './tool-pages.js';

const REVISION = /^rev_[0-9a-f]{24}$/;

export function toolRoutes(
  app: ReturnType<typeof createRouter>,
  kit: ConsoleKit,
  deps: {
    tools: Tools;
    execute: Execute;
  },
) {
  const { who } = kit;
  const visible = (c: Context<AppEnv>, id: string) => {
    const allowed = c.get('principal').tools;
    return allowed === null || allowed.includes(id);
  };

  /** A tool's page: its latest revision, its revisions, and a diff when two are chosen. */
  async function toolPage(c: Context<AppEnv>, id: string, extra: Partial<Parameters<typeof ToolPage>[0]> = {}, status: 200 | 400 = 200) {
    const project = c.get('project');
    const tool = await deps.tools.find(project, id);
    if (!tool || !visible(c, tool.id)) return kit.page(c, `No tool ${id} in this project.`, 404);
    const head = await deps.tools.revision(project, tool.id);
    const revisions = await deps.tools.revisions(project, tool.id, { limit: 50 });
    const [a, b] = [c.req.query('a'), c.req.query('b')];
    let diff: { a: (typeof revisions)[number]; b: (typeof revisions)[number] } | undefined;
    if (a && b && REVISION.test(a) && REVISION.test(b))
      diff = { a: await deps.tools.revision(project, tool.id, a), b: await deps.tools.revision(project, tool.id, b) };
    return kit.page(
      c,
      ToolPage({ who: who(c), csrf: kit.token(c), tool, head, revisions, values: {}, ...(diff ? { diff } : {}), ...extra }),
      status,
    );
  }

  app.get('/console/tools', async (c) => {
    requireScope(c.get('principal'), 'read');
    const after = c.req.query('after');
    const rows = await deps.tools.summaries(c.get('project'), {
      limit: 51,
      ...(after && /^tool_[0-9a-f]{24}$/.test(after) ? { startingAfter: after } : {}),
    });
    const shown = rows.filter((t) => visible(c, t.id));
    return kit.page(c, ToolsPage({ who: who(c), csrf: kit.token(c), tools: shown.slice(0, 50), more: rows.length > 50 }));
  });
  app.get('/console/tools/:id', async (c) => {
    requireScope(c.get('principal'), 'read');
    return toolPage(c, c.req.param('id'));
  });
  app.post('/console/tools/:id/run', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    if (!kit.holds(c, form.get('csrf') ?? undefined))
      return kit.page(c, 'This form expired or came from another site; go back and try again.', 403);
    const id = c.req.param('id');
    const principal = c.get('principal');
    const tool = await deps.tools.find(c.get('project'), id);
    if (!tool || !visible(c, tool.id)) return kit.page(c, `No tool ${id} in this project.`, 404);
    requireTool(principal, tool.id);
    const values = Object.fromEntries(
      [...form.entries()].filter(([k]) => k.startsWith('in.') || k === 'input').map(([k, v]) => [k.replace(/^in\./, ''), v]),
    );
    let input: unknown;
    try {
      input = inputOf(formFields(tool.inputSchema), values);
    } catch (err) {
      return toolPage(c, tool.id, { values, error: (err as Error).message }, 400);
    }
    try {
      const e = await deps.execute(
        { project: c.get('project'), mode: 'function', target: { kind: 'tool', toolId: tool.id }, input, key: keyOfRequest(principal) },
        { bytes: JSON.stringify(input ?? null).length, signal: c.req.raw.signal },
      );
      const r = e.result;
      const failed = !(r.stopReason === 'exited' && r.exitCode === 0 && r.outputStatus === 'valid');
      const text = failed ? `${r.stopReason}, exit ${r.exitCode}\n${r.stderr}` : (r.outputJson ?? 'null');
      return toolPage(c, tool.id, { values, answer: { executionId: e.id, text, failed } });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const fields = (err.details ?? []).map((d) => `${d.field ?? ''} ${d.message ?? d.reason}`.trim()).join('; ');
      return toolPage(c, tool.id, { values, error: `${err.message}${fields ? ` (${fields})` : ''}` }, 400);
    }
  });
}

/** The input a run form says: each field by its kind; a 400 (thrown) names the field that cannot be read. */
export function inputOf(fields: ReturnType<typeof formFields>, values: Record<string, string>): unknown {
  const json = (name: string, text: string) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`${name}: not JSON`);
    }
  };
  if (fields === null) return json('input', values.input?.trim() || '{}');
  const input: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f.name];
    if (f.kind === 'boolean') {
      input[f.name] = v === 'on';
      continue;
    }
    if (v === undefined || v === '') {
      if (f.required) throw new Error(`${f.name}: required`);
      continue;
    }
    if (f.kind === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`${f.name}: not a number`);
      input[f.name] = n;
    } else input[f.name] = f.kind === 'json' ? json(f.name, v) : v;
  }
  return input;
}
