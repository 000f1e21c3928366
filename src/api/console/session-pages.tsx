/**
 * Sessions in the console: the project's sessions (running and paused first by default), kept
 * current while the page is open (./live-script.ts: `data-live`), each ended from its row; and a
 * session's page — when it ends, who made it, what it was made with (names and hosts, never a
 * value), and the files of its workspace, each downloaded as an attachment (never shown by kiln's
 * origin: a file a program wrote could be a page).
 */
import type { FileDetail } from '../../sessions/session-files.js';
import { creatorOf } from '../../sessions/session-open.js';
import type { SessionRecord } from '../../store/sessions/records.js';
import type { Who } from './console-kit.js';
import { Layout, PostButton, Said, utc } from './layout.js';

/** The list itself: the fragment the live script fetches again. */
export function SessionsTable(props: { csrf: string; sessions: SessionRecord[]; status: string; now: string }) {
  return (
    <>
      <p class="note">
        As of {utc(props.now)}. <a href={`/console/sessions${props.status ? `?status=${props.status}` : ''}`}>Reload</a>
      </p>
      {props.sessions.length === 0 ? (
        <p>No sessions{props.status ? ` ${props.status}` : ''}.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Session</th>
              <th scope="col">Status</th>
              <th scope="col" class="opt">
                Language
              </th>
              <th scope="col" class="opt">
                Made by
              </th>
              <th scope="col" class="opt">
                Last active
              </th>
              <th scope="col">Idle deadline</th>
              <th scope="col">End</th>
            </tr>
          </thead>
          <tbody>
            {props.sessions.map((s) => (
              <tr>
                <td>
                  <a href={`/console/sessions/${s.id}`}>{s.id}</a>
                </td>
                <td>{s.status === 'ended' ? `ended (${s.endReason ?? '?'})` : s.status}</td>
                <td class="opt">{s.language}</td>
                <td class="opt">{creatorOf(s)?.name ?? ''}</td>
                <td class="opt">{utc(s.lastActiveAt)}</td>
                <td>{s.status === 'ended' ? '' : utc(s.expiresAt)}</td>
                <td>
                  {s.status === 'ended' ? null : (
                    <PostButton
                      action={`/console/sessions/${s.id}/end${props.status ? `?status=${props.status}` : ''}`}
                      csrf={props.csrf}
                      label="End"
                      what={s.id}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

export function SessionsPage(props: {
  who: Who;
  csrf: string;
  sessions: SessionRecord[];
  status: string;
  now: string;
  said?: { text: string; error: boolean };
}) {
  const self = `/console/sessions${props.status ? `?status=${props.status}` : ''}`;
  return (
    <Layout title="Sessions" who={props.who} csrf={props.csrf}>
      <h1>Sessions</h1>
      {props.said ? <Said {...props.said} /> : null}
      <form class="filters" method="get" action="/console/sessions" aria-label="Filter the sessions">
        <label>
          Status
          <select name="status">
            {['', 'running', 'paused', 'ended'].map((s) => (
              <option value={s} selected={props.status === s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Show</button>
      </form>
      <div data-live={self} data-every="5">
        <SessionsTable csrf={props.csrf} sessions={props.sessions} status={props.status} now={props.now} />
      </div>
    </Layout>
  );
}

export function SessionPage(props: {
  who: Who;
  csrf: string;
  session: SessionRecord;
  path: string;
  /** The workspace's entries at `path`; a string says why they are not shown. */
  files: FileDetail[] | string;
}) {
  const s = props.session;
  const up = props.path.includes('/') ? props.path.slice(0, props.path.lastIndexOf('/')) : '';
  return (
    <Layout title={s.id} who={props.who} csrf={props.csrf}>
      <p>
        <a href="/console/sessions">Sessions</a>
      </p>
      <h1>{s.id}</h1>
      <dl>
        <dt>Status</dt>
        <dd>{s.status === 'ended' ? `ended: ${s.endReason ?? ''}${s.endDetail ? ` (${s.endDetail})` : ''}` : s.status}</dd>
        <dt>Language</dt>
        <dd>{s.language}</dd>
        <dt>Made by</dt>
        <dd>{creatorOf(s)?.name ?? ''}</dd>
        <dt>Created</dt>
        <dd>{utc(s.createdAt)}</dd>
        <dt>Last active</dt>
        <dd>{utc(s.lastActiveAt)}</dd>
        <dt>Idle deadline</dt>
        <dd>
          {utc(s.expiresAt)} ({s.idleTimeoutSeconds} s idle)
        </dd>
        <dt>Lifetime ends</dt>
        <dd>{utc(s.endsAt)}</dd>
        <dt>Memory</dt>
        <dd>{s.memoryMiB} MiB</dd>
        <dt>Checkpoint</dt>
        <dd>{s.checkpoint.generation ? `${s.checkpoint.bytes} bytes at ${utc(s.checkpoint.at)}` : 'none'}</dd>
      </dl>
      <h2>Made with</h2>
      <pre tabindex={0}>{JSON.stringify(s.settings ?? {}, null, 2)}</pre>
      <h2>Files{props.path ? ` in ${props.path}` : ' of its workspace'}</h2>
      {typeof props.files === 'string' ? (
        <p>{props.files}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">Bytes</th>
              <th scope="col">Modified</th>
            </tr>
          </thead>
          <tbody>
            {props.path ? (
              <tr>
                <td colspan={4}>
                  <a href={`/console/sessions/${s.id}?path=${encodeURIComponent(up)}`}>.. (up)</a>
                </td>
              </tr>
            ) : null}
            {props.files.map((f) => (
              <tr>
                <td>
                  {f.type === 'directory' ? (
                    <a href={`/console/sessions/${s.id}?path=${encodeURIComponent(f.path)}`}>{f.name}/</a>
                  ) : f.type === 'file' ? (
                    <a href={`/console/sessions/${s.id}/file?path=${encodeURIComponent(f.path)}`} download={f.name}>
                      {f.name}
                    </a>
                  ) : (
                    f.name
                  )}
                </td>
                <td>{f.type}</td>
                <td class="num">{f.type === 'file' ? f.size : ''}</td>
                <td>{f.modified_ns ? utc(new Date(f.modified_ns / 1e6).toISOString()) : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
