// The manual's examples, run: every shell block of README.md and docs/*.md goes through bash against a
// real kiln (its own process) on the real engine, page by page in the page's order, in one shell per
// page, so a variable one block sets is there for the next, as in a reader's terminal. Each page has a
// project of its own (its $KEY), so its answers are those of a kiln where nothing was made before.
// Links between the pages are checked too.
//
// Conventions the pages follow (test/helpers/doc-examples.ts reads them):
//   - a block fenced ```sh is run. Any other block, and a shell block that must not run here, carries
//     `no-run=<reason>` in its info string, with a reason from NOT_RUN below; a block with neither fails.
//   - examples reach kiln at $KILN with the key $KEY; anything outside kiln is a variable the reader sets
//     ($WEBHOOK_URL, $API_HOST/$API_URL/$API_TOKEN, $LAMBDA_URL/$LAMBDA_TOKEN, $FUNCTION_URI), which this
//     test points at receivers of its own on 127.0.0.1, with the kiln setting that lets kiln reach
//     loopback for it (and a package mirror of its own for the custom runtime's package).
//     Nothing here sends traffic beyond 127.0.0.0/8 and the containers kiln starts.
//   - each command must exit 0 (bash runs with -euo pipefail) and every HTTP answer kiln gives it must be
//     2xx or 3xx, unless the page shows the answer with `-i` and its status line says otherwise.
//   - where the page shows an answer (a comment after the command starting with `{`, `[` or `HTTP/`),
//     what the command printed must have that shape: every key shown is there, every value shown is
//     equal, and `…` stands for whatever kiln says. The stand-in API checks that every request the
//     examples made to it carried the token they bound.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import wabtInit from 'wabt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandInPds, type StandInPds } from '../helpers/at-pds.js';
import { answerMismatch, type Block, codeBlocks, shellSteps, shownStatus, type Step } from '../helpers/doc-examples.js';
import { docker, TEST_INSTANCE, TEST_KEY, untilReady } from '../helpers/kiln.js';
import { type KilnProcess, spawnKiln } from '../helpers/kiln-process.js';
import { type PackageSource, startPythonIndex } from '../helpers/package-sources.js';
import { type AuthUpstream, startAuthUpstream } from '../helpers/upstream.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/** Why a block is not run here: the one reason each `no-run=` may give. */
const NOT_RUN: Record<string, string> = {
  setup: "sets up the reader's machine or shell (installs, starts kiln, sets KILN and KEY): this test does that itself",
  tooling: "the repository's own tooling (npm test, npm run bench), which starts kilns of its own",
  client: "code or configuration of a client outside kiln's HTTP API (an MCP client, an LLM SDK, iii-sdk, a webhook receiver)",
  replicas: 'needs PostgreSQL and several kilns: test/integration/replicas.test.ts runs them',
  gvisor: 'needs gVisor registered with the engine: npm run test:gvisor runs those suites under it',
  deploy: 'Docker Compose or Kubernetes: test/integration/deploy-compose.test.ts and deploy/kubernetes/validate.sh check them',
  illustration: 'not a command: a layout or a listing',
};
const SHELLS = new Set(['sh', 'bash', 'shell']);

const root = join(import.meta.dirname, '..', '..');
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
/** The key of page k's project. */
const pageKey = (k: number) => `docs-page-${k}-${TEST_KEY}`;
const blocksOf = (page: string) => codeBlocks(page, readFileSync(join(root, page), 'utf8'));

// What the examples' outside world is, here: all on 127.0.0.1.
const API_HOST = 'api.docs.test';
const API_TOKEN = 'docs-token-0123456789';
let kiln: KilnProcess;
let receiver: WebhookReceiver;
let upstream: AuthUpstream;
let lambda: http.Server;
let pds: StandInPds;
let pypi: PackageSource;
let vars: Record<string, string>;

/** A pure-v1 module whose run answers {"sum":3}: the stand-in PDS's `add`. */
async function addModule(): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const wat = `(module
    (memory (export "memory") 1)
    (data (i32.const 0) "{\\"sum\\":3}")
    (func (export "alloc") (param i32) (result i32) (i32.const 1024))
    (func (export "run") (param i32 i32) (result i64) (i64.or (i64.shl (i64.extend_i32_u (i32.const 0)) (i64.const 32)) (i64.const 9))))`;
  return new Uint8Array(wabt.parseWat('add.wat', wat).toBinary({}).buffer);
}

beforeAll(async () => {
  try {
    execFileSync('jq', ['--version']);
  } catch {
    throw new Error("the manual's examples use jq: install it (apt-get install jq)");
  }
  receiver = await startWebhookReceiver();
  upstream = await startAuthUpstream(API_HOST, API_TOKEN);
  // an iii HTTP function: answers what it was sent
  lambda = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ received: JSON.parse(body || 'null') }));
    });
  });
  await new Promise<void>((r) => lambda.listen(0, '127.0.0.1', () => r()));
  const lambdaPort = (lambda.address() as AddressInfo).port;
  pds = await startStandInPds();
  await pds.publish('add', await addModule());
  // the package a custom runtime's example installs, from a mirror here instead of PyPI
  pypi = await startPythonIndex([{ name: 'requests', version: '2.32.3', files: { 'requests/__init__.py': '__version__ = "2.32.3"\n' } }]);
  kiln = await spawnKiln({
    // a project per page: each page's examples start from an empty project, as on a new kiln
    KILN_API_KEYS: pages.map((_, k) => `docs${k}:${pageKey(k)}`).join(','),
    KILN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kiln-docs-')),
    KILN_INSTANCE: `${TEST_INSTANCE}-docs`,
    KILN_LOG_LEVEL: 'info',
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '1',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_WEBHOOK_ALLOW_ADDRESSES: `127.0.0.1:${receiver.port}`,
    ...upstream.env,
    KILN_FUNCTIONS_ALLOW_HTTP: 'true',
    KILN_FUNCTIONS_ALLOW_ADDRESSES: `127.0.0.1:${lambdaPort}`,
    KILN_AT_PLC_URL: `${pds.url}/plc`,
    KILN_AT_ALLOW_ADDRESSES: pds.url.replace('http://', ''),
    KILN_AT_ALLOW_HTTP: 'true',
    KILN_PIP_INDEX_URL: pypi.url,
    KILN_BUILD_TIMEOUT_SECONDS: '120',
  });
  // an AT function has 100 ms by default: it runs in a warm box, as on a kiln that has been up a while
  expect((await untilReady(kiln.url, 60_000)).status).toBe(200);
  vars = {
    KILN: kiln.url,
    WEBHOOK_URL: `http://127.0.0.1:${receiver.port}/kiln`,
    API_HOST,
    API_URL: `https://${API_HOST}:${upstream.port}/user`,
    API_TOKEN,
    LAMBDA_URL: `http://127.0.0.1:${lambdaPort}/lambda`,
    LAMBDA_TOKEN: 'lambda-token-0123456789',
    FUNCTION_URI: `at://${pds.did}/at.functions.metadata/add`,
  };
}, 120_000);

afterAll(async () => {
  await kiln?.stop();
  receiver?.close();
  upstream?.close();
  lambda?.close();
  pds?.close();
  await pypi?.close();
  // the custom runtime images the examples built
  for (const image of await docker.listImages({ filters: { label: [`kiln.instance=${TEST_INSTANCE}-docs`] } }))
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => {});
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a page's steps as one bash script, a marker before each, curl's status of every answer on stderr. */
function runSteps(steps: Step[], key: string, timeoutMs: number): Promise<Ran> {
  const script = [
    'set -euo pipefail',
    // every answer's HTTP status, for the test to check; the page's commands print what they print
    `curl() { command curl -w '%{stderr}\\n@@http %{http_code}\\n' "$@"; }`,
    `__step() { printf '\\n@@step %s\\n' "$1"; printf '\\n@@step %s\\n' "$1" >&2; }`,
    ...steps.flatMap((s, k) => [`__step ${k}`, s.code]),
    `__step ${steps.length}`,
  ].join('\n');
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], {
      cwd: mkdtempSync(join(tmpdir(), 'kiln-docs-shell-')),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8', ...vars, KEY: key },
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The text each step printed, by the markers. */
function perStep(text: string, count: number): string[] {
  const parts: string[] = new Array(count).fill('');
  const re = /\n?@@step (\d+)\n/g;
  let last = -1;
  let from = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (last >= 0 && last < count) parts[last] = text.slice(from, m.index);
    last = Number(m[1]);
    from = re.lastIndex;
  }
  if (last >= 0 && last < count) parts[last] = text.slice(from);
  return parts;
}

describe('the manual', () => {
  it('marks every block it does not run, with a reason this test knows', () => {
    const unmarked: string[] = [];
    for (const page of pages)
      for (const b of blocksOf(page)) {
        if (b.noRun !== undefined && !(b.noRun in NOT_RUN)) unmarked.push(`${page}:${b.line}: unknown reason no-run=${b.noRun}`);
        if (b.noRun === undefined && !SHELLS.has(b.lang))
          unmarked.push(
            `${page}:${b.line}: a ${b.lang || 'plain'} block: make it \`sh\`, or mark it no-run=<${Object.keys(NOT_RUN).join('|')}>`,
          );
      }
    expect(unmarked).toEqual([]);
  });

  it('links only to pages and headings that exist', () => {
    const broken: string[] = [];
    const slugs = (file: string) =>
      [...readFileSync(file, 'utf8').matchAll(/^#+ (.*)$/gm)].map((m) =>
        m[1]!
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      );
    for (const page of pages) {
      const text = readFileSync(join(root, page), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const file = path === '' ? join(root, page) : join(root, dirname(page), path);
        if (!existsSync(file)) broken.push(`${page}: ${target} (no such file)`);
        else if (anchor && file.endsWith('.md') && !slugs(file).includes(anchor)) broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('has examples to run', () => {
    const run = pages.flatMap((p) => blocksOf(p)).filter((b) => b.noRun === undefined);
    expect(run.length).toBeGreaterThan(10);
  });

  for (const [k, page] of pages.entries()) {
    const blocks = blocksOf(page).filter((b) => b.noRun === undefined && SHELLS.has(b.lang));
    if (blocks.length === 0) continue;
    it(`${page}: every shell example exits 0, and answers as the page shows`, { timeout: 300_000 }, async () => {
      const steps: (Step & { block: Block })[] = blocks.flatMap((block) => shellSteps(block.code).map((s) => ({ ...s, block })));
      const seen = upstream.seen.length;
      const ran = await runSteps(steps, pageKey(k), 280_000);
      const out = perStep(ran.stdout, steps.length);
      const err = perStep(ran.stderr, steps.length);
      const where = (s: Step & { block: Block }) => `${page}:${s.block.line + s.line} \`${s.code.split('\n')[0]}\``;
      const problems: string[] = [];
      const reached = [...ran.stdout.matchAll(/@@step (\d+)\n/g)].map((m) => Number(m[1]));
      const lastStep = Math.max(-1, ...reached);
      if (ran.code !== 0) {
        const failed = steps[lastStep];
        problems.push(
          `${failed ? where(failed) : page}: exited ${ran.code}\n  printed: ${out[lastStep]?.slice(-600)}\n  stderr: ${err[lastStep]?.slice(-600)}`,
        );
      }
      for (const [n, step] of steps.entries()) {
        if (n >= lastStep && ran.code !== 0) break;
        const shown = shownStatus(step.answer);
        for (const status of [...err[n]!.matchAll(/@@http (\d+)/g)].map((m) => Number(m[1])))
          if (shown ? status !== shown : status < 200 || status >= 400)
            problems.push(`${where(step)}: HTTP ${status}: ${out[n]!.trim().slice(0, 400)}`);
        if (step.answer) {
          let off: string | undefined;
          try {
            off = answerMismatch(step.answer, out[n]!);
          } catch (e) {
            off = (e as Error).message;
          }
          if (off) problems.push(`${where(step)}: not the answer the page shows: ${off}`);
        }
      }
      // the stand-in API got the credential kiln injected, on every request the examples made to it
      for (const auth of upstream.seen.slice(seen))
        if (auth !== `Bearer ${API_TOKEN}`) problems.push(`${page}: the API got ${auth}, not the token the example binds`);
      expect(problems).toEqual([]);
    });
  }
});
