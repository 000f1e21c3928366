// The console (issue 28) against a long log: 100,000 executions in the project, and the time of a
// page at p50 over loopback as a signed-in browser would ask for it (target: under 100 ms), for the
// log unfiltered, filtered (failed ones, one tool, one surface, a time range, a stop reason, an
// exit code), one execution's page, and the other views (runtimes, sessions, invocations, health). kiln runs as its own process on a data directory filled beforehand.
// `npx tsx bench/console.ts` runs it alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { newId } from '../src/ids.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { KEY, startKilnProcess } from './kiln-process.js';
import { percentile } from './stats.js';

export interface ConsoleFigures {
  rows: number;
  pages: Record<string, number>;
}

const VIAS = ['api', 'mcp', 'c1', 'iii', 'at', 'e2b'] as const;

async function fill(file: string, rows: number): Promise<{ tool: string; rare: string; failedId: string }> {
  const store = await openSqliteStore({ file });
  const tool = newId('tool');
  // a tool that ran once, long ago: its filter reads the whole log's index to find it
  const rare = newId('tool');
  let failedId = '';
  try {
    for (let i = 0; i < rows; i++) {
      const id = newId('exec');
      const failed = i % 17 === 0;
      const timedOut = i % 1000 === 7; // few: the filter's index reads only these
      if (failed) failedId = id;
      await store.executions.record({
        id,
        project: 'default',
        kind: i % 3 === 0 ? 'tool' : 'script',
        via: VIAS[i % VIAS.length]!,
        language: 'python',
        exitCode: failed ? 1 : 0,
        durationMs: 20 + (i % 50),
        startedAt: new Date(Date.now() - (rows - i) * 1000).toISOString(),
        toolId: i === 50 ? rare : i % 3 === 0 ? tool : null,
        revisionId: null,
        key: { id: null, name: 'env' },
        request: { language: 'python', code: `print(${i})` },
        result: {
          exit_code: failed ? 1 : 0,
          stdout: `${i}\n`,
          stderr: failed ? 'Traceback…\nValueError: no\n' : '',
          duration: 20,
          stop_reason: timedOut ? 'timeout' : 'exited',
        },
      });
    }
  } finally {
    await store.close();
  }
  return { tool, rare, failedId };
}

export async function measureConsole(rows = 100_000, n = 30): Promise<ConsoleFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-console-'));
  const { tool, rare, failedId } = await fill(join(dir, 'data', 'kiln.db'), rows);
  const kiln = await startKilnProcess({
    KILN_API_KEYS: KEY,
    KILN_LOG_LEVEL: 'info',
    KILN_INSTANCE: 'kiln-bench-console',
    KILN_DATA_DIR: join(dir, 'data'),
    KILN_POOL_PYTHON: '0',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_EXECUTIONS_RETENTION_COUNT: String(rows * 2),
  });
  try {
    const url = kiln.url('').replace(/\/$/, '');
    // signed in as a browser is: the sign-in page's cookie and token, then the session cookie
    const form = await fetch(`${url}/console/sign-in`);
    const csrfCookie = (form.headers.get('set-cookie') ?? '').split(';')[0]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const signed = await fetch(`${url}/console/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, key: KEY, next: '/console/executions' }),
    });
    const cookie = `${csrfCookie}; ${(signed.headers.get('set-cookie') ?? '').split(';')[0]}`;
    const day = new Date(Date.now() - rows * 500).toISOString().slice(0, 16);
    const paths: Record<string, string> = {
      log: '/console/executions',
      failed: '/console/executions?outcome=failed',
      tool: `/console/executions?tool=${tool}`,
      'a tool that ran once, long ago': `/console/executions?tool=${rare}`,
      surface: '/console/executions?via=e2b',
      'time range': `/console/executions?from=${day}`,
      'the oldest hour': `/console/executions?to=${new Date(Date.now() - (rows - 3600) * 1000).toISOString().slice(0, 16)}`,
      'stop reason (timeout)': '/console/executions?stop=timeout',
      'exit code 1': '/console/executions?exit=1',
      execution: `/console/executions/${failedId}`,
      runtimes: '/console/runtimes',
      sessions: '/console/sessions',
      invocations: '/console/invocations',
      health: '/console/health',
    };
    const pages: Record<string, number> = {};
    for (const [name, path] of Object.entries(paths)) {
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const res = await fetch(url + path, { headers: { cookie } });
        await res.text();
        if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
        times.push(performance.now() - t);
      }
      pages[name] = percentile(
        times.slice(3).sort((a, b) => a - b),
        50,
      );
    }
    return { rows, pages };
  } finally {
    await kiln.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function consoleLine(f: ConsoleFigures): string {
  const worst = Math.max(...Object.values(f.pages));
  return `console: with ${f.rows} executions in the log, a page p50 over loopback: ${Object.entries(f.pages)
    .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
    .join(', ')} (target < 100 ms: ${worst < 100 ? 'met' : 'NOT MET'})`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) console.log(consoleLine(await measureConsole()));
