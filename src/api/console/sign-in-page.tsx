/** The console's sign-in page: a kiln key, exchanged for a session cookie (./console-auth.ts). */
import { Layout } from './layout.js';

export function SignInPage(props: { csrf: string; next: string; error?: string }) {
  return (
    <Layout title="Sign in">
      <h1>Sign in to the kiln console</h1>
      <p>The console shows what the key's project holds, and does what its scopes allow.</p>
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      <form method="post" action="/console/sign-in">
        <input type="hidden" name="csrf" value={props.csrf} />
        <input type="hidden" name="next" value={props.next} />
        <p>
          <label for="key">API key</label>
          <br />
          <input type="password" id="key" name="key" required autocomplete="off" size={48} />
        </p>
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}
