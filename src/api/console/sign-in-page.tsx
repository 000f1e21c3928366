/**
 * The console's sign-in page: a kiln key, exchanged for a session cookie (./console-auth.ts); and,
 * where kiln is its own authorization server, the consent page instead (./console-oauth.ts).
 */
import { Layout, Said } from './layout.js';

export function SignInPage(props: { csrf: string; next: string; error?: string; oauth?: boolean }) {
  return (
    <Layout title="Sign in">
      <h1>Sign in to the kiln console</h1>
      <p>The console shows what the key's project holds, and does what its scopes allow.</p>
      {props.error ? <Said text={props.error} error={true} /> : null}
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
      {props.oauth ? (
        <>
          <h2>Or through kiln's consent page</h2>
          <p>
            Grant this browser what it may do, with an admin key or a one-time code (<code>npm run kiln -- oauth code --project P</code>
            ): no key is kept in the browser, and signing out revokes the grant.
          </p>
          <form method="get" action="/console/oauth/start">
            <input type="hidden" name="next" value={props.next} />
            <button type="submit">Sign in with OAuth</button>
          </form>
        </>
      ) : null}
    </Layout>
  );
}
