/**
 * The consent page of kiln's authorization server: plain server-rendered HTML, one form, no
 * script; labelled fields and a heading order a screen reader follows. Everything a client chose
 * (its name, its redirect URI) is text, escaped by Hono's JSX. Its headers (./authorize.ts) forbid
 * framing and every source but this page's own style.
 */
import { createHash } from 'node:crypto';
import type { Scope } from '../../access/scopes.js';

const CSS = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#1c1c1c}
main{max-width:34rem;margin:2rem auto;padding:1.5rem;background:#fff;border:1px solid #ddd;border-radius:8px}
h1{font-size:1.4rem;margin-top:0}fieldset{border:1px solid #ccc;border-radius:6px;margin:1rem 0}
label{display:block;margin:.4rem 0}.field{margin:1rem 0}.field label{font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #888;border-radius:4px}
.hint{color:#444;font-size:.9rem;margin:.25rem 0}.error{color:#8a1010;font-weight:600}
button{font:inherit;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:4px;border:1px solid #1c1c1c;background:#fff;cursor:pointer}
button.allow{background:#1c1c1c;color:#fff}:focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}
code{background:#eee;padding:0 .2rem;border-radius:3px}`;

/** The CSP hash of the page's one style element: no other style or script may run. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(CSS).digest('base64')}'`;

const SCOPE_TEXT: Record<Scope, string> = {
  read: 'read the executions log and the names and settings of tools, secrets and runtimes',
  run: 'run code, run tools, and use sessions and sandboxes',
  manage: 'create, change and delete tools, secrets, runtimes and functions',
  admin: 'manage keys, and everything else in the project',
};

function Shell(props: { title: string; children: unknown }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{props.title}</title>
        <style dangerouslySetInnerHTML={{ __html: CSS }} />
      </head>
      <body>
        <main>{props.children}</main>
      </body>
    </html>
  );
}

export interface ConsentView {
  clientName: string;
  /** Where the client said it lives: the host of its metadata document, or of its redirect URI. */
  clientHost: string;
  redirectHost: string;
  offered: Scope[];
  checked: ReadonlySet<Scope>;
  tools: string;
  /** The request's parameters, carried through the form. */
  params: Record<string, string>;
  csrf: string;
  error?: string;
}

export function ConsentPage(v: ConsentView) {
  return (
    <Shell title={`Authorize ${v.clientName} · kiln`}>
      <h1>Authorize {v.clientName}</h1>
      <p>
        <strong>{v.clientName}</strong> ({v.clientHost}) asks to use kiln for you. If you allow it, kiln sends you back to{' '}
        <strong>{v.redirectHost}</strong> with access to one project.
      </p>
      {v.error ? (
        <p class="error" role="alert">
          {v.error}
        </p>
      ) : null}
      <form method="post" action="/oauth/authorize">
        {Object.entries(v.params).map(([name, value]) => (
          <input type="hidden" name={name} value={value} />
        ))}
        <input type="hidden" name="csrf" value={v.csrf} />
        <fieldset>
          <legend>What it may do</legend>
          {v.offered.map((s) => (
            <label>
              <input type="checkbox" name="grant_scope" value={s} checked={v.checked.has(s)} /> <strong>{s}</strong>: {SCOPE_TEXT[s]}
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="tools">Only these tools (optional)</label>
          <input type="text" id="tools" name="tools" value={v.tools} aria-describedby="tools-hint" autocomplete="off" />
          <p class="hint" id="tools-hint">
            Tool ids, separated by commas: the client may run those tools and no code of its own.
          </p>
        </div>
        <div class="field">
          <label for="credential">A kiln key with the admin scope, or a one-time code</label>
          <input type="password" id="credential" name="credential" required aria-describedby="credential-hint" autocomplete="off" />
          <p class="hint" id="credential-hint">
            The client gets access to that key's project. A one-time code comes from{' '}
            <code>npm run kiln -- oauth code --project &lt;project&gt;</code>.
          </p>
        </div>
        <button type="submit" class="allow" name="decision" value="allow">
          Allow
        </button>
        <button type="submit" name="decision" value="deny" formnovalidate>
          Deny
        </button>
      </form>
    </Shell>
  );
}

/** A request kiln cannot send back to the client (an unknown client, a redirect URI it did not register): said here. */
export function RefusalPage(props: { message: string }) {
  return (
    <Shell title="Authorization refused · kiln">
      <h1>This authorization request cannot go on</h1>
      <p role="alert">{props.message}</p>
      <p>Nothing was granted. Go back to the application and try to connect again.</p>
    </Shell>
  );
}
