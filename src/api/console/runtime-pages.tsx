/**
 * Custom runtimes in the console: the project's runtimes with their newest build's status, a
 * runtime's revisions, and a revision's build — its manifest, why it failed, and its log. A build
 * that is running here is followed as it is written (./live-script.ts: `data-follow`); without
 * script, or for a build on another replica, the page shows the log so far and links to itself.
 */
import type { RuntimeRevisionRecord, RuntimeWithHead } from '../../store/runtimes/records.js';
import type { Who } from './console-kit.js';
import { Layout } from './layout.js';

const running = (status: string) => status === 'pending' || status === 'building';
const Status = (props: { status: string; id?: string }) => (
  <span class={`status-${props.status}`} id={props.id}>
    {props.status}
  </span>
);

export function RuntimesPage(props: { who: Who; csrf: string; runtimes: RuntimeWithHead[] }) {
  return (
    <Layout title="Runtimes" who={props.who} csrf={props.csrf}>
      <h1>Runtimes</h1>
      {props.runtimes.length === 0 ? (
        <p>This project has no custom runtimes.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Language</th>
              <th scope="col">Newest build</th>
              <th scope="col">Since</th>
            </tr>
          </thead>
          <tbody>
            {props.runtimes.map((r) => (
              <tr>
                <td>
                  <a href={`/console/runtimes/${r.id}`}>{r.name}</a> <span class="note">{r.id}</span>
                </td>
                <td>{r.language}</td>
                <td>
                  <a href={`/console/runtimes/${r.id}/revisions/${r.head.id}`}>
                    <Status status={r.head.status} />
                  </a>
                </td>
                <td>{r.head.updatedAt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

export function RuntimePage(props: { who: Who; csrf: string; runtime: RuntimeWithHead; revisions: RuntimeRevisionRecord[] }) {
  const { runtime } = props;
  return (
    <Layout title={runtime.name} who={props.who} csrf={props.csrf}>
      <p>
        <a href="/console/runtimes">Runtimes</a>
      </p>
      <h1>{runtime.name}</h1>
      <dl>
        <dt>Id</dt>
        <dd>{runtime.id}</dd>
        <dt>Language</dt>
        <dd>{runtime.language}</dd>
        <dt>Created</dt>
        <dd>{runtime.createdAt}</dd>
      </dl>
      <h2>Revisions, newest first</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Revision</th>
            <th scope="col">Build</th>
            <th scope="col">Created</th>
            <th scope="col">Why it failed</th>
          </tr>
        </thead>
        <tbody>
          {props.revisions.map((r) => (
            <tr>
              <td>
                <a href={`/console/runtimes/${runtime.id}/revisions/${r.id}`}>{r.id}</a>
              </td>
              <td>
                <Status status={r.status} />
              </td>
              <td>{r.createdAt}</td>
              <td>{r.failureReason ? r.failureReason.split('\n').at(-1) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}

export function BuildPage(props: {
  who: Who;
  csrf: string;
  runtime: RuntimeWithHead;
  revision: RuntimeRevisionRecord;
  log: string;
  /** The log is followed live (this process runs the build, or will). */
  follow: boolean;
}) {
  const { runtime, revision } = props;
  const self = `/console/runtimes/${runtime.id}/revisions/${revision.id}`;
  return (
    <Layout title={`Build of ${revision.id}`} who={props.who} csrf={props.csrf}>
      <p>
        <a href="/console/runtimes">Runtimes</a> › <a href={`/console/runtimes/${runtime.id}`}>{runtime.name}</a>
      </p>
      <h1>Build of {revision.id}</h1>
      <p role="status">
        Build: <Status status={revision.status} id="build-status" />
      </p>
      <dl>
        <dt>Runtime</dt>
        <dd>
          {runtime.name} ({runtime.language})
        </dd>
        <dt>Created</dt>
        <dd>{revision.createdAt}</dd>
        <dt>Last change</dt>
        <dd>{revision.updatedAt}</dd>
        <dt>Image key</dt>
        <dd>{revision.imageKey}</dd>
        {revision.additionalPythonImports ? (
          <>
            <dt>Imports checked</dt>
            <dd>{revision.additionalPythonImports}</dd>
          </>
        ) : null}
      </dl>
      {revision.failureReason ? (
        <>
          <h2>Why it failed</h2>
          <pre>{revision.failureReason}</pre>
        </>
      ) : null}
      <h2 id="log-heading">Log</h2>
      {running(revision.status) ? (
        <p class="note">
          {props.follow
            ? 'The log below follows the build as it runs (with JavaScript; without it, '
            : 'This build is queued or runs on another replica: its log shows when it ends ('}
          <a href={self}>reload</a> to see more).
        </p>
      ) : null}
      <pre
        class="log"
        role="log"
        tabindex={0}
        aria-labelledby="log-heading"
        {...(running(revision.status) ? { 'data-follow': `${self}/log`, 'data-status': 'build-status' } : {})}
      >
        {props.log || (running(revision.status) ? '' : '(no log)')}
      </pre>
      <h2>{revision.manifestName}</h2>
      <pre tabindex={0}>{revision.manifestContents}</pre>
    </Layout>
  );
}
