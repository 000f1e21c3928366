/**
 * Saved tools in the console: the list; a tool's page with its bindings (names and hosts, never a
 * value), its revisions and a diff between two of them, and a run form made from its input schema
 * (a field per property; JSON where a schema says more than a form can) that shows the answer.
 */
import { diffLines } from 'diff';
import type { ToolRevision, ToolSummary } from '../../store/store.js';
import { Layout } from './layout.js';

type Who = { project: string; keyName: string };

export function ToolsPage(props: { who: Who; csrf: string; tools: ToolSummary[]; more: boolean }) {
  return (
    <Layout title="Tools" who={props.who} csrf={props.csrf}>
      <h1>Tools</h1>
      {props.tools.length === 0 ? (
        <p>This project has no saved tools.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Language</th>
              <th scope="col">Description</th>
              <th scope="col">Latest revision</th>
            </tr>
          </thead>
          <tbody>
            {props.tools.map((t) => (
              <tr>
                <td>
                  <a href={`/console/tools/${t.id}`}>{t.name}</a>
                </td>
                <td>{t.language}</td>
                <td>{t.description}</td>
                <td>{t.revisionId}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.more ? (
        <p class="pager">
          <a href={`/console/tools?after=${props.tools.at(-1)!.id}`}>More tools</a>
        </p>
      ) : null}
    </Layout>
  );
}

/** A run form's field: one per property of an object schema; `json` for what a form cannot say. */
export interface FormField {
  name: string;
  kind: 'string' | 'number' | 'boolean' | 'enum' | 'json';
  required: boolean;
  description?: string;
  options?: string[];
}

/** The run form's fields from an input schema; null: one JSON field for the whole input. */
export function formFields(schema: unknown): FormField[] | null {
  const s = schema as { type?: unknown; properties?: Record<string, Record<string, unknown>>; required?: unknown } | null;
  if (!s || s.type !== 'object' || !s.properties || typeof s.properties !== 'object') return null;
  const required = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
  return Object.entries(s.properties).map(([name, p]) => {
    const description = typeof p?.description === 'string' ? p.description : undefined;
    const base = { name, required: required.has(name), ...(description ? { description } : {}) };
    if (Array.isArray(p?.enum) && p.enum.every((v) => typeof v === 'string')) return { ...base, kind: 'enum', options: p.enum as string[] };
    if (p?.type === 'string') return { ...base, kind: 'string' };
    if (p?.type === 'number' || p?.type === 'integer') return { ...base, kind: 'number' };
    if (p?.type === 'boolean') return { ...base, kind: 'boolean' };
    return { ...base, kind: 'json' };
  });
}

function Bindings(props: { rev: ToolRevision }) {
  const { env, http } = props.rev;
  return (
    <section aria-labelledby="h-bindings">
      <h2 id="h-bindings">Bindings</h2>
      <p class="note">Names and hosts only: a value never leaves kiln.</p>
      <ul>
        {env.map((e) => (
          <li>
            env {e.name}: {'secret_id' in e && e.secret_id ? `secret ${e.secret_id}` : 'a value'}
          </li>
        ))}
        {(http?.allow ?? []).map((a) => (
          <li>
            http {a.host}
            {a.auth ? `: ${Object.keys(a.auth).join(', ')} credential` : ''}
          </li>
        ))}
        {env.length === 0 && !http?.allow?.length ? <li>none</li> : null}
      </ul>
    </section>
  );
}

function Diff(props: { a: ToolRevision; b: ToolRevision }) {
  const parts = diffLines(props.a.code, props.b.code);
  return (
    <section aria-labelledby="h-diff">
      <h2 id="h-diff">
        Code: {props.a.id} → {props.b.id}
      </h2>
      <pre>
        {parts.map((p) =>
          p.added ? (
            <ins>{p.value.replace(/^/gm, '+ ')}</ins>
          ) : p.removed ? (
            <del>{p.value.replace(/^/gm, '- ')}</del>
          ) : (
            <span>{p.value.replace(/^/gm, '  ')}</span>
          ),
        )}
      </pre>
    </section>
  );
}

function RunForm(props: { tool: { id: string }; fields: FormField[] | null; csrf: string; values: Record<string, string> }) {
  return (
    <form method="post" action={`/console/tools/${props.tool.id}/run`} aria-labelledby="h-run">
      <input type="hidden" name="csrf" value={props.csrf} />
      {props.fields === null ? (
        <p>
          <label for="f-input">Input (JSON)</label>
          <br />
          <textarea id="f-input" name="input" rows={6} cols={60}>
            {props.values.input ?? '{}'}
          </textarea>
        </p>
      ) : (
        props.fields.map((f) => (
          <p>
            <label for={`f-${f.name}`}>
              {f.name}
              {f.required ? ' (required)' : ''}
              {f.kind === 'json' ? ' (JSON)' : ''}
            </label>
            <br />
            {f.kind === 'enum' ? (
              <select id={`f-${f.name}`} name={`in.${f.name}`}>
                {f.required ? null : <option value="">(none)</option>}
                {f.options!.map((o) => (
                  <option value={o} selected={props.values[f.name] === o}>
                    {o}
                  </option>
                ))}
              </select>
            ) : f.kind === 'boolean' ? (
              <input type="checkbox" id={`f-${f.name}`} name={`in.${f.name}`} checked={props.values[f.name] === 'on'} />
            ) : (
              <input
                type={f.kind === 'number' ? 'number' : 'text'}
                step={f.kind === 'number' ? 'any' : undefined}
                id={`f-${f.name}`}
                name={`in.${f.name}`}
                value={props.values[f.name] ?? ''}
                required={f.required && f.kind !== 'json'}
                aria-describedby={f.description ? `d-${f.name}` : undefined}
              />
            )}
            {f.description ? (
              <span class="note" id={`d-${f.name}`}>
                {' '}
                {f.description}
              </span>
            ) : null}
          </p>
        ))
      )}
      <button type="submit">Run</button>
    </form>
  );
}

export function ToolPage(props: {
  who: Who;
  csrf: string;
  tool: ToolSummary;
  head: ToolRevision;
  revisions: ToolRevision[];
  diff?: { a: ToolRevision; b: ToolRevision };
  values: Record<string, string>;
  answer?: { executionId: string | null; text: string; failed: boolean };
  error?: string;
}) {
  const { tool, head } = props;
  return (
    <Layout title={tool.name} who={props.who} csrf={props.csrf}>
      <p>
        <a href="/console/tools">← Tools</a>
      </p>
      <h1>{tool.name}</h1>
      <dl>
        <dt>Id</dt>
        <dd>{tool.id}</dd>
        <dt>Language</dt>
        <dd>{tool.language}</dd>
        <dt>Description</dt>
        <dd>{tool.description || '(none)'}</dd>
      </dl>
      <Bindings rev={head} />
      <section aria-labelledby="h-run">
        <h2 id="h-run">Run it</h2>
        {props.error ? (
          <p class="error" role="alert">
            {props.error}
          </p>
        ) : null}
        <RunForm tool={tool} fields={formFields(head.inputSchema)} csrf={props.csrf} values={props.values} />
        {props.answer ? (
          <div role="status">
            <h3>{props.answer.failed ? 'It failed' : 'Its answer'}</h3>
            <pre>{props.answer.text}</pre>
            {props.answer.executionId ? <a href={`/console/executions/${props.answer.executionId}`}>The execution</a> : null}
          </div>
        ) : null}
      </section>
      <section aria-labelledby="h-revisions">
        <h2 id="h-revisions">Revisions</h2>
        <form method="get" action={`/console/tools/${tool.id}`}>
          <table>
            <thead>
              <tr>
                <th scope="col">Revision</th>
                <th scope="col">Made</th>
                <th scope="col">From</th>
                <th scope="col">To</th>
              </tr>
            </thead>
            <tbody>
              {props.revisions.map((r, i) => (
                <tr>
                  <td>{r.id}</td>
                  <td>{r.createdAt}</td>
                  <td>
                    <input
                      type="radio"
                      name="a"
                      value={r.id}
                      aria-label={`diff from ${r.id}`}
                      checked={props.diff ? props.diff.a.id === r.id : i === 1}
                    />
                  </td>
                  <td>
                    <input
                      type="radio"
                      name="b"
                      value={r.id}
                      aria-label={`diff to ${r.id}`}
                      checked={props.diff ? props.diff.b.id === r.id : i === 0}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {props.revisions.length > 1 ? <button type="submit">Show the diff</button> : null}
        </form>
      </section>
      {props.diff ? <Diff a={props.diff.a} b={props.diff.b} /> : null}
      <section aria-labelledby="h-code">
        <h2 id="h-code">Code (latest)</h2>
        <pre>{head.code}</pre>
        <h2>Input schema</h2>
        <pre>{JSON.stringify(head.inputSchema, null, 2)}</pre>
      </section>
    </Layout>
  );
}
