/**
 * One execution in the console: what the log keeps of it — its request as stored (secrets as
 * references, never values), stdout and stderr (a cut marked), its output, files, the tool calls it
 * made and the one that made it, its invocation and webhook for an async one — and its raw JSON.
 */
import type { ExecutionStatus } from '../../invocations/execution-status.js';
import type { Who } from './console-kit.js';
import { Layout } from './layout.js';

type Logged = {
  stdout?: string;
  stderr?: string;
  stdout_truncated?: boolean;
  stderr_truncated?: boolean;
  stop_reason?: string;
  output_status?: string;
  output_json?: string | null;
  files?: { path: string; size: number }[];
  children?: { id: string; tool: string; duration_ms: number; outcome: string }[];
};

function Stream(props: { name: string; text: string | undefined; cut: boolean | undefined }) {
  if (props.text === undefined) return null;
  return (
    <section aria-labelledby={`h-${props.name}`}>
      <h2 id={`h-${props.name}`}>{props.name}</h2>
      {props.text ? <pre>{props.text}</pre> : <p class="note">(empty)</p>}
      {props.cut ? <p class="note">Cut at the output limit: what is shown is its start.</p> : null}
    </section>
  );
}

export function ExecutionPage(props: { who: Who; csrf: string; status: ExecutionStatus }) {
  const { record, invocation } = props.status;
  const r = (record?.result ?? {}) as Logged;
  const failed = record ? record.exitCode !== 0 : false;
  return (
    <Layout title={props.status.id} who={props.who} csrf={props.csrf}>
      <p>
        <a href="/console/executions">← Executions</a>
      </p>
      <h1>{props.status.id}</h1>
      {record ? (
        <dl>
          <dt>Outcome</dt>
          <dd class={failed ? 'failed' : 'ok'}>
            exit {record.exitCode}
            {r.stop_reason ? `, ${r.stop_reason}` : ''}
            {r.output_status ? `, output ${r.output_status}` : ''}
          </dd>
          <dt>Started</dt>
          <dd>{record.startedAt}</dd>
          <dt>Duration</dt>
          <dd>{record.durationMs} ms</dd>
          <dt>Surface, kind</dt>
          <dd>
            {record.via}, {record.kind} ({record.language})
          </dd>
          {record.toolId ? (
            <>
              <dt>Tool</dt>
              <dd>
                {record.toolId} at revision {record.revisionId}
              </dd>
            </>
          ) : null}
          {record.key ? (
            <>
              <dt>Key</dt>
              <dd>
                {record.key.name} {record.key.id ? `(${record.key.id})` : ''}
              </dd>
            </>
          ) : null}
          {record.sessionId ? (
            <>
              <dt>Session</dt>
              <dd>{record.sessionId}</dd>
            </>
          ) : null}
          {record.parentId ? (
            <>
              <dt>Called by</dt>
              <dd>
                <a href={`/console/executions/${record.parentId}`}>{record.parentId}</a>
              </dd>
            </>
          ) : null}
        </dl>
      ) : (
        <p>Not in the log yet: it has not ended.</p>
      )}
      {invocation ? (
        <section aria-labelledby="h-invocation">
          <h2 id="h-invocation">Invocation</h2>
          <dl>
            <dt>Status</dt>
            <dd>
              {invocation.status}
              {invocation.reason ? ` (${invocation.reason})` : ''}
            </dd>
            <dt>Webhook</dt>
            <dd>{invocation.webhook ? JSON.stringify(invocation.webhook) : 'none'}</dd>
          </dl>
        </section>
      ) : null}
      <Stream name="stdout" text={r.stdout} cut={r.stdout_truncated} />
      <Stream name="stderr" text={r.stderr} cut={r.stderr_truncated} />
      {r.output_json !== undefined && r.output_json !== null ? (
        <section aria-labelledby="h-output">
          <h2 id="h-output">Output</h2>
          <pre>{r.output_json}</pre>
        </section>
      ) : null}
      {r.files?.length ? (
        <section aria-labelledby="h-files">
          <h2 id="h-files">Files</h2>
          <ul>
            {r.files.map((f) => (
              <li>
                {f.path} ({f.size} bytes)
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {r.children?.length ? (
        <section aria-labelledby="h-children">
          <h2 id="h-children">Tool calls it made</h2>
          <ul>
            {r.children.map((child) => (
              <li>
                {child.id ? <a href={`/console/executions/${child.id}`}>{child.id}</a> : '(refused)'} {child.tool}: {child.outcome},{' '}
                {child.duration_ms} ms
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {record ? (
        <section aria-labelledby="h-request">
          <h2 id="h-request">Request, as logged</h2>
          <pre>{JSON.stringify(record.request, null, 2)}</pre>
        </section>
      ) : null}
      <details>
        <summary>Raw JSON</summary>
        <pre>{JSON.stringify(props.status, null, 2)}</pre>
      </details>
    </Layout>
  );
}
