/**
 * Async invocations in the console: the project's invocations of every surface, newest first, kept
 * current while the page is open (./live-script.ts), each with its webhook's state, linked to its
 * execution, and cancelled from its row while it is queued or running.
 */
import type { InvocationRecord } from '../../store/invocations/records.js';
import type { Who } from './console-kit.js';
import { Layout, PostButton, Said, utc } from './layout.js';

const open = (i: InvocationRecord) => i.status === 'queued' || i.status === 'running';

function webhookOf(i: InvocationRecord): string {
  if (!i.webhook) return i.callbackUrl ? 'not yet' : '';
  const w = i.webhook;
  const tries = `${w.attempts} ${w.attempts === 1 ? 'try' : 'tries'}`;
  if (w.status === 'pending')
    return `pending, ${tries}${w.nextAt ? `, next ${utc(w.nextAt)}` : ''}${w.lastError ? `: ${w.lastError}` : ''}`;
  return `${w.status}, ${tries}${w.lastError && w.status !== 'delivered' ? `: ${w.lastError}` : ''}`;
}

/** The list itself: the fragment the live script fetches again. */
export function InvocationsTable(props: { csrf: string; invocations: InvocationRecord[]; now: string }) {
  return (
    <>
      <p class="note">
        As of {utc(props.now)}. <a href="/console/invocations">Reload</a>
      </p>
      {props.invocations.length === 0 ? (
        <p>No async invocations.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Invocation</th>
              <th scope="col">Status</th>
              <th scope="col" class="opt">
                Surface
              </th>
              <th scope="col" class="opt">
                Accepted
              </th>
              <th scope="col" class="opt">
                Ended
              </th>
              <th scope="col">Webhook</th>
              <th scope="col">Cancel</th>
            </tr>
          </thead>
          <tbody>
            {props.invocations.map((i) => (
              <tr>
                <td>
                  <a href={`/console/executions/${i.id}`}>{i.id}</a>
                </td>
                <td>{i.reason ? `${i.status}: ${i.reason}` : i.status}</td>
                <td class="opt">{i.via}</td>
                <td class="opt">{utc(i.createdAt)}</td>
                <td class="opt">{utc(i.endedAt)}</td>
                <td>{webhookOf(i)}</td>
                <td>
                  {open(i) ? (
                    <PostButton action={`/console/invocations/${i.id}/cancel`} csrf={props.csrf} label="Cancel" what={i.id} />
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

export function InvocationsPage(props: {
  who: Who;
  csrf: string;
  invocations: InvocationRecord[];
  now: string;
  said?: { text: string; error: boolean };
}) {
  return (
    <Layout title="Invocations" who={props.who} csrf={props.csrf}>
      <h1>Async invocations</h1>
      {props.said ? <Said {...props.said} /> : null}
      <div data-live="/console/invocations" data-every="3">
        <InvocationsTable csrf={props.csrf} invocations={props.invocations} now={props.now} />
      </div>
    </Layout>
  );
}
