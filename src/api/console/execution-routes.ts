/**
 * The console's executions log (./executions-page.tsx) and an execution's page
 * (./execution-page.tsx), for a key that may read the project. The log's filters come from the
 * query; one that is wrong gets a 400 page naming it.
 */
import type { Context } from 'hono';
import { requireScope } from '../../access/scopes.js';
import type { ExecutionStatuses } from '../../invocations/execution-status.js';
import { EXECUTION_VIAS, type ExecutionVia } from '../../model/vocabulary.js';
import type { ExecutionFilter } from '../../store/store.js';
import type { AppEnv, createRouter } from '../context.js';
import type { ConsoleKit } from './console-kit.js';
import { ExecutionPage } from './execution-page.js';
import { ExecutionsPage, LOG_STOP_REASONS, type LogFilters } from './executions-page.js';

const PAGE_ROWS = 50;

/** The log's filters from the query; `error` names the one that is wrong. */
function filtersOf(c: Context<AppEnv>): { f: LogFilters; filter: ExecutionFilter & { startingAfter?: string }; error?: string } {
  const q = (name: string) => (c.req.query(name) ?? '').trim();
  const f: LogFilters = {
    ...{ via: q('via'), tool: q('tool'), outcome: q('outcome') },
    ...{ stop: q('stop'), exit: q('exit'), from: q('from'), to: q('to') },
  };
  const filter: ExecutionFilter & { startingAfter?: string } = {};
  const utc = (v: string) =>
    /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v) && Date.parse(`${v}Z`) ? new Date(`${v}Z`).toISOString() : null;
  if (f.via && !(EXECUTION_VIAS as readonly string[]).includes(f.via))
    return { f, filter, error: `Surface: ${f.via} is not one of ${EXECUTION_VIAS.join(', ')}.` };
  if (f.via) filter.via = f.via as ExecutionVia;
  if (f.tool && !/^tool_[0-9a-f]{24}$/.test(f.tool)) return { f, filter, error: 'Tool id: tool_ and 24 hex digits.' };
  if (f.tool) filter.toolId = f.tool;
  if (f.outcome && f.outcome !== 'failed' && f.outcome !== 'ok') return { f, filter, error: 'Outcome: failed or ok.' };
  if (f.outcome) filter.outcome = f.outcome as 'failed' | 'ok';
  if (f.stop && !LOG_STOP_REASONS.includes(f.stop))
    return { f, filter, error: `Stop reason: ${f.stop} is not one of ${LOG_STOP_REASONS.join(', ')}.` };
  if (f.stop) filter.stopReason = f.stop;
  if (f.exit && !/^-?\d{1,4}$/.test(f.exit)) return { f, filter, error: 'Exit code: a whole number (0 to 255, or -1).' };
  if (f.exit) filter.exitCode = Number(f.exit);
  for (const [field, label, key] of [
    ['from', 'From', 'startedAfter'],
    ['to', 'To', 'startedBefore'],
  ] as const) {
    const v = f[field];
    if (!v) continue;
    const at = utc(v);
    if (!at) return { f, filter, error: `${label}: a date and time (YYYY-MM-DDTHH:MM).` };
    filter[key] = at;
  }
  const after = q('after');
  if (after && !/^exec_[0-9a-f]{24}$/.test(after)) return { f, filter, error: 'The page cursor is not an execution id.' };
  if (after) filter.startingAfter = after;
  return { f, filter };
}

export function executionRoutes(app: ReturnType<typeof createRouter>, kit: ConsoleKit, statuses: ExecutionStatuses) {
  const frame = (c: Context<AppEnv>) => ({ who: kit.who(c), csrf: kit.token(c) });

  app.get('/console/executions', async (c) => {
    requireScope(c.get('principal'), 'read');
    const { f, filter, error } = filtersOf(c);
    if (error) return kit.page(c, ExecutionsPage({ ...frame(c), f, rows: [], more: false, error }), 400);
    // one more than a page: whether there is an older page, without counting the log
    const rows = await statuses.summaries(c.get('project'), { ...filter, limit: PAGE_ROWS + 1 });
    return kit.page(c, ExecutionsPage({ ...frame(c), f, rows: rows.slice(0, PAGE_ROWS), more: rows.length > PAGE_ROWS }));
  });
  app.get('/console/executions/:id', async (c) => {
    requireScope(c.get('principal'), 'read');
    const id = c.req.param('id');
    const status = /^exec_[0-9a-f]{24}$/.test(id) ? await statuses.get(c.get('project'), id) : null;
    if (!status) return kit.page(c, `No execution ${id} in this project.`, 404);
    return kit.page(c, ExecutionPage({ ...frame(c), status }));
  });
}
