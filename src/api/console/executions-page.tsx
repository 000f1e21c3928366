/**
 * The executions log in the console: filters (surface, tool, outcome, a time range) in a form that
 * works without JavaScript, a page of rows newest first, and a link to the next older page (the
 * cursor is the last row's id, so a page costs one indexed read however long the log is).
 */
import { EXECUTION_VIAS } from '../../model/vocabulary.js';
import { STOP_REASONS } from '../../sandbox/job.js';
import type { ExecutionSummary } from '../../store/store.js';
import type { Who } from './console-kit.js';
import { Layout } from './layout.js';

/** The stop reasons the log holds: a run's, and `signalled` (a session's process, ended by a signal). */
export const LOG_STOP_REASONS: readonly string[] = [...STOP_REASONS, 'signalled'];

export interface LogFilters {
  via: string;
  tool: string;
  outcome: string;
  stop: string;
  exit: string;
  from: string;
  to: string;
}

const query = (f: LogFilters, after?: string) =>
  new URLSearchParams(Object.entries({ ...f, ...(after ? { after } : {}) }).filter(([, v]) => v !== '')).toString();

function Filters(props: { f: LogFilters }) {
  const { f } = props;
  return (
    <form class="filters" method="get" action="/console/executions" aria-label="Filter the log">
      <label>
        Surface
        <select name="via">
          <option value="">any</option>
          {EXECUTION_VIAS.map((v) => (
            <option value={v} selected={f.via === v}>
              {v}
            </option>
          ))}
        </select>
      </label>
      <label>
        Tool id
        <input type="text" name="tool" value={f.tool} placeholder="tool_…" size={30} />
      </label>
      <label>
        Outcome
        <select name="outcome">
          <option value="">any</option>
          <option value="failed" selected={f.outcome === 'failed'}>
            failed (non-zero exit)
          </option>
          <option value="ok" selected={f.outcome === 'ok'}>
            ok
          </option>
        </select>
      </label>
      <label>
        Stop reason
        <select name="stop">
          <option value="">any</option>
          {LOG_STOP_REASONS.map((r) => (
            <option value={r} selected={f.stop === r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <label>
        Exit code
        <input type="text" inputmode="numeric" name="exit" value={f.exit} size={5} />
      </label>
      <label>
        From (UTC)
        <input type="datetime-local" name="from" value={f.from} />
      </label>
      <label>
        To (UTC)
        <input type="datetime-local" name="to" value={f.to} />
      </label>
      <button type="submit">Filter</button>
    </form>
  );
}

export function ExecutionsPage(props: { who: Who; csrf: string; f: LogFilters; rows: ExecutionSummary[]; more: boolean; error?: string }) {
  const { rows } = props;
  return (
    <Layout title="Executions" who={props.who} csrf={props.csrf}>
      <h1>Executions</h1>
      <Filters f={props.f} />
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      {rows.length === 0 ? (
        <p>No executions match.</p>
      ) : (
        <table class="log">
          <caption class="note">Newest first</caption>
          <thead>
            <tr>
              <th scope="col">Execution</th>
              <th scope="col">Exit</th>
              <th scope="col">Started (UTC)</th>
              <th scope="col">Stopped</th>
              <th scope="col">Surface</th>
              <th scope="col">Kind</th>
              <th scope="col">Tool</th>
              <th scope="col">Key</th>
              <th scope="col">ms</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr>
                <td>
                  <a href={`/console/executions/${r.id}`}>{r.id}</a>
                </td>
                <td class={r.exitCode === 0 ? 'ok' : 'failed'}>{r.exitCode === 0 ? '0' : `${r.exitCode} failed`}</td>
                <td>{r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</td>
                <td class={r.stopReason && r.stopReason !== 'exited' ? 'failed' : ''}>{r.stopReason ?? ''}</td>
                <td>{r.via}</td>
                <td>{r.kind}</td>
                <td>{r.toolId ?? ''}</td>
                <td>{r.key?.name ?? ''}</td>
                <td class="num">{r.durationMs}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.more && rows.length ? (
        <p class="pager">
          <a href={`/console/executions?${query(props.f, rows.at(-1)!.id)}`}>Older executions</a>
        </p>
      ) : null}
    </Layout>
  );
}
