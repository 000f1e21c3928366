/**
 * The console's one script: progressive enhancement of pages that read fully without it. Inline
 * and allowed by its hash alone (the CSP runs nothing else), it does two things:
 *
 * - `data-live="<url>"` (with `data-every` seconds): the element's content is fetched again from
 *   that url as a fragment (`kiln-fragment: 1`, rendered by the same server code as the page) and
 *   replaced — unless focus is inside it (a person about to press a button keeps it), or the tab
 *   is hidden. Lists of sessions and invocations, and the health charts, stay current this way.
 * - `data-follow="<url>"`: an EventSource on that url; `reset` replaces the element's text, `text`
 *   appends to it (the log of a running build, as it is written), `status` and `end` write the
 *   status into the element named by `data-status` (`end` is the final one, and closes the stream).
 *
 * Without script, the same pages say how old they are and link to themselves.
 */
import { createHash } from 'node:crypto';

const SOURCE = `(() => {
  const doc = document;
  for (const el of doc.querySelectorAll('[data-live]')) {
    const every = Math.max(2, Number(el.dataset.every) || 5) * 1000;
    const tick = async () => {
      if (!doc.hidden && !el.contains(doc.activeElement)) {
        try {
          const res = await fetch(el.dataset.live, { headers: { 'kiln-fragment': '1' }, credentials: 'same-origin' });
          if (res.status === 401) return;
          if (res.ok) el.innerHTML = await res.text();
        } catch {}
      }
      setTimeout(tick, every);
    };
    setTimeout(tick, every);
  }
  for (const el of doc.querySelectorAll('[data-follow]')) {
    const source = new EventSource(el.dataset.follow);
    const status = doc.getElementById(el.dataset.status || '');
    const atEnd = () => el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    const show = (text, replace) => {
      const follow = atEnd();
      if (replace) el.textContent = text;
      else el.append(text);
      if (follow) el.scrollTop = el.scrollHeight;
    };
    source.addEventListener('reset', (e) => show(JSON.parse(e.data).text, true));
    source.addEventListener('text', (e) => show(JSON.parse(e.data).text, false));
    const said = (e) => {
      if (!status) return;
      status.textContent = JSON.parse(e.data).status;
      status.className = 'status-' + status.textContent;
    };
    source.addEventListener('status', said);
    source.addEventListener('end', (e) => {
      said(e);
      source.close();
    });
  }
})();`;

export const CONSOLE_SCRIPT = SOURCE;
/** The CSP hash of the console's one script. */
export const CONSOLE_SCRIPT_HASH = `'sha256-${createHash('sha256').update(SOURCE).digest('base64')}'`;
