/**
 * The console's frame (issue 28): one stylesheet (inline, allowed by its hash alone), a skip link,
 * a labelled navigation, a main landmark; readable on a phone, usable with the keyboard, and all of
 * it plain HTML, so every page reads with JavaScript off. Everything shown is text Hono's JSX escapes.
 */
import { createHash } from 'node:crypto';
import { CONSOLE_SCRIPT } from './live-script.js';

const CSS = `*{box-sizing:border-box}body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafaf8}
a{color:#0b57a4}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}
header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;padding:.6rem 1rem;background:#1b1b1b;color:#fff}
header a{color:#fff}header nav ul{display:flex;flex-wrap:wrap;gap:.9rem;list-style:none;margin:0;padding:0}
header .who{margin-left:auto;font-size:.9rem}main{padding:1rem;max-width:80rem;margin:0 auto}
h1{font-size:1.35rem;margin:.4rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
th{font-weight:600;background:#f0f0ec}td.num{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#a11}.ok{color:#176b2c}form.filters{display:flex;flex-wrap:wrap;gap:.8rem;align-items:end;margin-bottom:1rem}
form.filters label{display:flex;flex-direction:column;font-size:.85rem}input,select,button{font:inherit;padding:.35rem .5rem;border:1px solid #777;border-radius:4px;background:#fff}
button{cursor:pointer;background:#1b1b1b;color:#fff;border-color:#1b1b1b}pre{background:#f3f3ef;border:1px solid #ddd;padding:.6rem;overflow:auto;max-height:30rem;white-space:pre-wrap;word-break:break-word}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
h1,h2,td,dd,p{overflow-wrap:anywhere}button{white-space:nowrap;overflow-wrap:normal}input,select{max-width:100%}.note{color:#555;font-size:.9rem}.status-building,.status-pending{color:#8a5a00}.status-succeeded{color:#176b2c}.status-failed,.status-cancelled{color:#a11}.error{color:#a11;font-weight:600}.pager{margin-top:1rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:1rem;margin-top:1rem}figure.chart{margin:0;background:#fff;border:1px solid #ddd;padding:.5rem}
svg.chart{width:100%;height:auto}svg .axis{stroke:#777}svg .tick{font-size:11px;fill:#444}svg polyline{stroke-width:2}caption{text-align:left;font-weight:600;padding:.3rem 0}
.s0{stroke:#0b57a4}.s1{stroke:#b3261e}.s2{stroke:#176b2c}.s3{stroke:#8a5a00}.k0{background:#0b57a4}.k1{background:#b3261e}.k2{background:#176b2c}.k3{background:#8a5a00}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:1rem;padding:0;margin:.3rem 0 0;font-size:.85rem}.key{display:inline-block;width:1rem;height:.25rem;vertical-align:middle}
@media (max-width:40rem){.opt{display:none}table.log th:nth-child(n+5),table.log td:nth-child(n+5){display:none}}`;

/** The CSP hash of the console's one style element. */
export const CONSOLE_STYLE_HASH = `'sha256-${createHash('sha256').update(CSS).digest('base64')}'`;

const NAV: [string, string][] = [
  ['/console/executions', 'Executions'],
  ['/console/tools', 'Tools'],
  ['/console/secrets', 'Secrets'],
  ['/console/runtimes', 'Runtimes'],
  ['/console/sessions', 'Sessions'],
  ['/console/invocations', 'Invocations'],
  ['/console/health', 'Health'],
];

export function Layout(props: { title: string; who?: { project: string; keyName: string }; csrf?: string; children: unknown }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{`${props.title} · kiln console`}</title>
        <style dangerouslySetInnerHTML={{ __html: CSS }} />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header>
          <strong>kiln</strong>
          {props.who ? (
            <nav aria-label="Console">
              <ul>
                {NAV.map(([href, label]) => (
                  <li>
                    <a href={href}>{label}</a>
                  </li>
                ))}
              </ul>
            </nav>
          ) : null}
          {props.who ? (
            <form class="who" method="post" action="/console/sign-out">
              <span>
                {props.who.project} · {props.who.keyName}{' '}
              </span>
              <input type="hidden" name="csrf" value={props.csrf ?? ''} />
              <button type="submit">Sign out</button>
            </form>
          ) : null}
        </header>
        <main id="main">{props.children}</main>
        <script dangerouslySetInnerHTML={{ __html: CONSOLE_SCRIPT }} />
      </body>
    </html>
  );
}

/** A line said on a page: what a form did, or why a page cannot be shown. */
export const Said = (props: { text: string; error: boolean }) => (
  <p class={props.error ? 'error' : ''} role={props.error ? 'alert' : 'status'}>
    {props.text}
  </p>
);

/** An RFC 3339 time as the console shows it: to the second, in UTC. */
export const utc = (iso: string | null) => (iso ? iso.replace(/\.\d+Z$/, 'Z') : '');

/** A button that posts a signed form of its own (delete, end, cancel), named for what it acts on. */
export const PostButton = (props: { action: string; csrf: string; label: string; what: string }) => (
  <form method="post" action={props.action}>
    <input type="hidden" name="csrf" value={props.csrf} />
    <button type="submit" aria-label={`${props.label} ${props.what}`}>
      {props.label}
    </button>
  </form>
);
