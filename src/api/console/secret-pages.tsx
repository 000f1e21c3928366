/**
 * Secrets in the console: names and dates, never a value. A value is write-only: rotating one takes
 * a new value in a password field and shows nothing of it back; deleting asks to be confirmed by
 * the same form's button. Both need `manage` and a signed form token.
 */
import type { SecretRecord } from '../../store/store.js';
import type { Who } from './console-kit.js';
import { Layout, PostButton, Said, utc } from './layout.js';

export function SecretsPage(props: { who: Who; csrf: string; secrets: SecretRecord[]; said?: { text: string; error: boolean } }) {
  return (
    <Layout title="Secrets" who={props.who} csrf={props.csrf}>
      <h1>Secrets</h1>
      <p class="note">Values are write-only: kiln shows none, here or anywhere.</p>
      {props.said ? <Said {...props.said} /> : null}
      {props.secrets.length === 0 ? (
        <p>This project has no secrets.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Created</th>
              <th scope="col">Last set</th>
              <th scope="col">Rotate</th>
              <th scope="col">Delete</th>
            </tr>
          </thead>
          <tbody>
            {props.secrets.map((s) => (
              <tr>
                <td>{s.name}</td>
                <td>{s.id}</td>
                <td>{utc(s.createdAt)}</td>
                <td>{utc(s.updatedAt)}</td>
                <td>
                  <form method="post" action={`/console/secrets/${s.id}/rotate`}>
                    <input type="hidden" name="csrf" value={props.csrf} />
                    <label for={`v-${s.id}`}>New value of {s.name}</label>{' '}
                    <input type="password" id={`v-${s.id}`} name="value" required autocomplete="off" />{' '}
                    <button type="submit">Rotate</button>
                  </form>
                </td>
                <td>
                  <PostButton action={`/console/secrets/${s.id}/delete`} csrf={props.csrf} label="Delete" what={s.name} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
