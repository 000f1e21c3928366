// npm run bench: what kiln costs and sustains, measured through its HTTP API, next to the engine's
// own figures measured in the same run. Prints figures; asserts nothing.
//   1. the engine: container churn (create + start + wait + remove) per second
//   2. naive `docker run` per execution: latency
//   2b. the executions log: one recordExecution, by the direct call (bench/store-cost.ts)
//   2c. the floor: a hello in a pre-started box as hardened as kiln's, no kiln in between (bench/floor.ts);
//      and kiln's own box (wrapper, harness, protocol) with no kiln in between (bench/kiln-box.ts)
//   3. kiln below capacity (paced arrivals): latency, and its ratio to naive, for execute-function and execute;
//      a saved tool's execute against execute-function of the same code (bench/tool-execute.ts);
//      an MCP tools/call, of a built-in and of a saved tool, against execute-function of the same code (bench/mcp-call.ts);
//      sessions: a call in a live session against a one-shot warm execute, create, state kept (bench/sessions.ts);
//      streaming: a line's lag from box to client, 1 MB streamed against answered whole, MCP progress's cost (bench/streaming.ts);
//      e2b: E2B's SDKs against kiln: Sandbox.create, commands.run and runCode against kiln's own session calls (bench/e2b.ts);
//      access: a static key, a stored key and an OAuth token, checked per request (bench/access.ts);
//      tools from code: a call from a program against a one-shot execute of the tool; 20 calls in one program against 20 MCP calls (bench/tools-from-code.ts);
//      console: its pages with 100,000 executions in the log, in a kiln of their own (bench/console.ts);
//      async invocations: the 202, stored → started when idle, a burst async against the same burst synchronous (bench/async.ts)
//   4. kiln at saturation (closed loop): executions per second, against the churn rate
//   5. kiln at 2x overload (open loop): share accepted / rejected, p99 of the accepted
//   6. egress: one proxied HTTPS request against a direct one, same upstream (bench/egress.ts)
//   6b. custom runtimes: build time cold and deduplicated, first run, warm p50 against stock (bench/custom-runtime.ts)
//   6c. replicas: executions per second with 1, 2 and 3 kilns on one PostgreSQL and this one engine,
//      against one kiln on SQLite (bench/replicas.ts); the store's cost per execution on both (2b)
//   `-- --warm-only`: 1, 2c and 3's warm rows with their stages, then stop (a minute or two: for working on the warm path)
//   7. with `-- --runtime runsc`: all of the above under gVisor (the engine's and naive figures too, so
//      ratios stay like for like), and a runc kiln's warm p50, refill and saturation from the same run
//      to compare with (bench/runtime-compare.ts)
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { loadConfig } from '../src/config.js';
import { egressLine, measureEgress, startUpstream } from './egress.js';
import { floorLine, measureFloor } from './floor.js';
import { measureKilnBox } from './kiln-box.js';
import { KEY, startKilnProcess } from './kiln-process.js';
import { closedLoop, paced, saturate } from './load.js';
import { comparisonLine, measureRuncBaseline, parseRuntime, warmRows, type RuntimeFigures } from './runtime-compare.js';
import { percentile, row, rows, sleep, type Row } from './stats.js';
import { measureStoreCost, storeCostLine } from './store-cost.js';
import { measureToolExecute, toolExecuteLine } from './tool-execute.js';
import { mcpCallLine, measureMcpCall } from './mcp-call.js';
import { asyncLine, measureAsync } from './async.js';
import { measureReplicas, replicasLine } from './replicas.js';
import { measureSessions, sessionsLine } from './sessions.js';
import { measureStreaming, streamingLine } from './streaming.js';
import { e2bLine, measureE2b } from './e2b.js';
import { accessLine, measureAccess } from './access.js';
import { measureToolsFromCode, toolsFromCodeLine } from './tools-from-code.js';
import { consoleLine, measureConsole } from './console.js';
import pg from 'pg';
import { customRuntimeLine, measureCustomRuntimes, removeRuntimeImages, startPackageSources } from './custom-runtime.js';
import { stagesTable } from './stages.js';
import { targetsTable } from './targets.js';

const RUNTIME = parseRuntime(process.argv.slice(2));
const WARM_ONLY = process.argv.includes('--warm-only');
// Docker's default runtime unless asked for another: a plain run passes exactly what it always has.
const ociRuntime = RUNTIME === 'runc' ? undefined : RUNTIME;
const N = Number(process.env.BENCH_N ?? 40);
const MAX_WAIT_S = 2;
const HELLO = {
  python: { language: 'python', code: 'def execute(input):\n    print("hello")\n    return {"hello": input}', input: 'world' },
  javascript: {
    language: 'javascript',
    code: 'function execute(input) { console.log("hello"); return { hello: input }; }',
    input: 'world',
  },
} as const;
// The same through /v1/execute (script mode), Riza's main endpoint: the run ends when the program exits.
const HELLO_SCRIPT = {
  python: { language: 'python', code: 'print("hello")' },
  javascript: { language: 'javascript', code: 'console.log("hello")' },
} as const;

const ms = (v: number) => `${v.toFixed(1)} ms`.padStart(11);

// ---- 1. the engine's own churn rate -------------------------------------------------------------
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const config = loadConfig({ KILN_API_KEYS: KEY, PORT: '0' });
async function churnOne(): Promise<void> {
  const c = await docker.createContainer({
    Image: config.KILN_PYTHON_IMAGE,
    Entrypoint: ['true'],
    Labels: { 'kiln.bench': 'churn' },
    HostConfig: {
      ...(ociRuntime ? { Runtime: ociRuntime } : {}),
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      Memory: 128 * 2 ** 20,
      LogConfig: { Type: 'none', Config: {} },
    },
  });
  await c.start();
  await c.wait();
  await c.remove({ force: true });
}
let churn = { rate: 0, concurrency: 0 };
for (const concurrency of [2, 4]) {
  const { seconds } = await closedLoop(20, concurrency, churnOne);
  if (20 / seconds > churn.rate) churn = { rate: 20 / seconds, concurrency };
}
const paceMs = Math.ceil(2000 / churn.rate); // half the engine's churn rate: the refills keep the engine half busy

// ---- 2. naive docker run ------------------------------------------------------------------------
function naiveDockerRun(image: string, argv: string[]): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(
      'docker',
      [
        'run',
        '--rm',
        ...(ociRuntime ? ['--runtime', ociRuntime] : []),
        '--network',
        'none',
        '--read-only',
        '--cap-drop',
        'ALL',
        '--memory',
        '128m',
        '--entrypoint',
        argv[0]!,
        image,
        ...argv.slice(1),
      ],
      { stdio: 'ignore' },
    );
    child.on('exit', () => resolve());
  });
}
const naive = {
  python: () => naiveDockerRun(config.KILN_PYTHON_IMAGE, ['python3', '-c', 'print("hello")']),
  javascript: () => naiveDockerRun(config.KILN_NODE_IMAGE, ['node', '-e', 'console.log("hello")']),
};
const naiveRows: Record<string, Row> = {};
for (const [language, run] of Object.entries(WARM_ONLY ? {} : naive))
  naiveRows[language] = row(`naive docker run ${language}`, (await closedLoop(15, 1, run)).latencies);

// ---- 2b, 2c. the executions log's cost and the floor, before kiln starts: nothing else runs -----
const databaseUrl = process.env.KILN_TEST_DATABASE_URL || 'postgres://kiln:kiln@127.0.0.1:5432/kiln_test';
const postgresUp = await new pg.Client({ connectionString: databaseUrl }).connect().then(
  (c) => c.end().then(() => true),
  () => false,
);
const storeCost = WARM_ONLY ? undefined : await measureStoreCost(500, postgresUp ? databaseUrl : undefined);
const floorRows = await measureFloor(config, HELLO, 30, paceMs, ociRuntime); // at kiln's pace: see bench/floor.ts
const boxFigures = await measureKilnBox(config, HELLO, 20, paceMs, ociRuntime);

// ---- kiln, with an HTTPS upstream for the egress figures ---------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
const upstream = await startUpstream(dir);
// What every kiln the bench starts shares; each gets its own instance name and data dir on top.
const baseEnv: Record<string, string> = {
  KILN_API_KEYS: KEY,
  PORT: '0',
  KILN_LOG_LEVEL: 'info',
  KILN_QUEUE_MAX_WAIT_SECONDS: String(MAX_WAIT_S),
  // A revision's pool as large as a stock language's (2; its default is 1): 6b compares a warm box with
  // a warm box. With 1, two runs on the revision less than a box start apart (under gVisor, 0.4-0.5 s)
  // have the second wait for a start, which is the pool's size, not the box's speed.
  KILN_RUNTIME_POOL_SIZE: '2',
  ...Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => /^KILN_(POOL_|RUNTIME_POOL_SIZE|CONCURRENCY)/.test(e[0]) && !!e[1]),
  ),
};
const kilnEnv: Record<string, string> = {
  ...baseEnv,
  KILN_INSTANCE: 'kiln-bench',
  KILN_OCI_RUNTIME: RUNTIME,
  KILN_DATA_DIR: join(dir, 'data'),
  KILN_EGRESS_UPSTREAM_CA_FILE: upstream.caFile,
  KILN_EGRESS_ALLOW_ADDRESSES: `127.0.0.1:${upstream.port}`,
};
const packageSources = await startPackageSources();
Object.assign(kilnEnv, packageSources.env);
const kilnConfig = loadConfig(kilnEnv);
const kiln = await startKilnProcess(kilnEnv);
const { url, call } = kiln;
for (const body of Object.values(HELLO)) await call(body); // warm connections and caches

// ---- 3. below capacity: paced arrivals, at half the churn rate and at one a second ---------------
const mark = kiln.serverTimes.length;
const kilnRows = await warmRows(kiln, HELLO, N, paceMs);
// HTTP's own round trip at the same pace: what a call costs outside kiln's timer, whatever it asks
const httpRow = row(`GET /healthz, 1 per ${paceMs} ms`, await paced(N, paceMs, () => kiln.ping()));
// the same requests as kiln itself timed them (its Server-Timing header): warmRows runs N per language, in order
const serverRows: Record<string, Row> = {};
const stageSamples: Record<string, Record<string, number>[]> = {};
Object.keys(HELLO).forEach((language, i) => {
  serverRows[language] = row(`kiln ${language} hello, kiln's own time`, kiln.serverTimes.slice(mark + i * N, mark + (i + 1) * N));
  stageSamples[language] = kiln.serverStages.slice(mark + i * N, mark + (i + 1) * N);
});
if (WARM_ONLY) {
  const means = await kiln.refillMeans();
  await kiln.stop();
  upstream.close();
  for (const source of packageSources.sources) await source.close();
  console.log(`\nkiln bench --warm-only: runtime ${RUNTIME}, ${cpus().length} cores, 1 per ${paceMs} ms\n`);
  for (const language of Object.keys(HELLO))
    console.log(floorLine(language, kilnRows[language]!, floorRows[language]!, serverRows[language]!));
  console.log(`\n${stagesTable({ byLanguage: stageSamples, client: kilnRows, http: httpRow, box: boxFigures, floors: floorRows })}`);
  console.log(
    `\nmean pooled-box start: ${Object.entries(means)
      .map(([pool, s]) => `${pool} ${(s * 1000).toFixed(0)} ms`)
      .join(', ')}`,
  );
  process.exit(0);
}
// read here, after the same workload the runc baseline has had when it reads its own (runtime-compare.ts)
const refill = RUNTIME === 'runc' ? {} : await kiln.refillMeans();
const scriptRows: Record<string, Row> = {};
for (const [language, body] of Object.entries(HELLO_SCRIPT))
  scriptRows[language] = row(`kiln ${language} script hello, 1 per ${paceMs} ms`, await paced(N, paceMs, () => call(body, '/v1/execute')));
const lightRows: Record<string, Row> = {};
for (const [language, body] of Object.entries(HELLO))
  lightRows[language] = row(`kiln ${language} hello, 1 per 1000 ms`, await paced(Math.ceil(N / 2), 1000, () => call(body)));
const toolFigures = await measureToolExecute({ url, key: KEY, call, hello: HELLO, n: N, paceMs });
const mcpFigures = await measureMcpCall({ url, key: KEY, call, serverTimes: kiln.serverTimes, hello: HELLO, n: N, paceMs });
const sessionFigures = await measureSessions(kiln, HELLO, N, paceMs);
const streamingFigures = await measureStreaming(url('').replace(/\/$/, ''), N, paceMs);
const e2bFigures = await measureE2b(url('').replace(/\/$/, ''), N, paceMs);
const accessFigures = await measureAccess();
const toolsFromCodeFigures = await measureToolsFromCode(url('').replace(/\/$/, ''), N, paceMs);
const asyncFigures = await measureAsync({ url, key: KEY, hello: HELLO.python, n: N, paceMs, concurrency: kilnConfig.KILN_CONCURRENCY });
const runtimeFigures = await measureCustomRuntimes({ url, key: KEY, call, hello: HELLO, n: N, paceMs });

// ---- 4. saturation: closed loop at the concurrency bound -----------------------------------------
const bodies = Object.values(HELLO);
const saturation = await saturate(
  `kiln at saturation (${kilnConfig.KILN_CONCURRENCY} in flight)`,
  N * 2,
  kilnConfig.KILN_CONCURRENCY,
  bodies,
  (b) => call(b),
);
await sleep(3000);

// ---- 5. 2x overload: open loop at twice the saturation rate --------------------------------------
const overloadRate = 2 * saturation.perSecond!;
const overloadSeconds = 10;
const accepted: number[] = [];
const rejected: number[] = [];
let retryAfterOk = true;
let other = 0;
const inFlight: Promise<void>[] = [];
const startedAt = performance.now();
for (let i = 0; performance.now() - startedAt < overloadSeconds * 1000; i++) {
  const due = startedAt + (i * 1000) / overloadRate;
  await sleep(Math.max(0, due - performance.now()));
  inFlight.push(
    (async () => {
      const t = performance.now();
      const res = await fetch(url('/v1/execute-function'), {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(bodies[i % 2]),
      });
      await res.arrayBuffer();
      const took = performance.now() - t;
      if (res.status === 200) accepted.push(took);
      else if (res.status === 429) {
        rejected.push(took);
        retryAfterOk &&= Number(res.headers.get('retry-after')) >= 1;
      } else other++;
    })(),
  );
}
await Promise.all(inFlight);
const sent = accepted.length + rejected.length + other;
row('2x overload: accepted', accepted);
row('2x overload: rejected with 429', rejected);

// ---- 6. egress: same Python code, direct from the host and proxied from a box -------------------
const egress = await measureEgress(url, upstream);
await kiln.stop();
upstream.close();
for (const source of packageSources.sources) await source.close();
await removeRuntimeImages('kiln-bench');

// ---- 6c. replicas: 1, 2, 3 kilns on one PostgreSQL and one engine, next to one on SQLite ---------
const replicaFigures =
  postgresUp && RUNTIME === 'runc'
    ? await measureReplicas({ env: { ...baseEnv, KILN_OCI_RUNTIME: RUNTIME }, databaseUrl, n: N * 2, perKiln: kilnConfig.KILN_CONCURRENCY })
    : undefined;

// ---- 7. the runc baseline, from a kiln of its own once this one has stopped ----------------------
let baseline: RuntimeFigures | undefined;
if (RUNTIME !== 'runc')
  baseline = await measureRuncBaseline({
    env: { ...baseEnv, KILN_INSTANCE: 'kiln-bench-runc', KILN_DATA_DIR: join(dir, 'data-runc') },
    hello: HELLO,
    n: N,
    paceMs,
    concurrency: kilnConfig.KILN_CONCURRENCY,
  });

// ---- report -------------------------------------------------------------------------------------
console.log(
  `\nkiln bench: runtime ${RUNTIME}, ${cpus().length} cores, node ${process.version}, KILN_CONCURRENCY ${kilnConfig.KILN_CONCURRENCY}, pools python ${kilnConfig.KILN_POOL_PYTHON} / javascript ${kilnConfig.KILN_POOL_JAVASCRIPT} / typescript ${kilnConfig.KILN_POOL_TYPESCRIPT}\n`,
);
console.log(
  `${'scenario'.padEnd(48)}${'n'.padStart(5)}${'p50'.padStart(11)}${'p90'.padStart(11)}${'p99'.padStart(11)}${'exec/s'.padStart(9)}`,
);
for (const r of rows)
  console.log(
    `${r.name.padEnd(48)}${String(r.n).padStart(5)}${ms(r.p50)}${ms(r.p90)}${ms(r.p99)}${(r.perSecond?.toFixed(1) ?? '').padStart(9)}`,
  );
console.log('');
console.log(
  `engine churn (create+start+wait+remove):  ${churn.rate.toFixed(1)} containers/s (best of concurrency 2 and 4: ${churn.concurrency})`,
);
for (const language of Object.keys(HELLO)) {
  const [half, light, scripted, naiveRow] = [kilnRows[language]!, lightRows[language]!, scriptRows[language]!, naiveRows[language]!];
  console.log(
    `${language} below capacity: at half the churn rate p50 ${half.p50.toFixed(1)} ms, p90 ${half.p90.toFixed(1)} ms (naive p50 / kiln p50 = ${(naiveRow.p50 / half.p50).toFixed(1)}x); ` +
      `at 1/s p50 ${light.p50.toFixed(1)} ms, p90 ${light.p90.toFixed(1)} ms (${(naiveRow.p50 / light.p50).toFixed(1)}x); ` +
      `script mode at half the churn rate p50 ${scripted.p50.toFixed(1)} ms, p90 ${scripted.p90.toFixed(1)} ms (${(naiveRow.p50 / scripted.p50).toFixed(1)}x)`,
  );
}
// Under overload every execution waits for a fresh container (the pool is empty): its time is what a
// run takes at saturation, with the concurrency bound full and no queue.
const acceptedP99 = percentile(
  [...accepted].sort((a, b) => a - b),
  99,
);
const overloadBound = MAX_WAIT_S * 1000 + saturation.p99;
console.log(
  `saturation: ${saturation.perSecond!.toFixed(1)} exec/s = ${(saturation.perSecond! / churn.rate).toFixed(2)}x the engine's churn rate`,
);
console.log(
  `2x overload (${overloadRate.toFixed(1)} req/s for ${overloadSeconds} s): ${sent} sent, ${accepted.length} accepted (${((100 * accepted.length) / sent).toFixed(0)}%), ` +
    `${rejected.length} rejected with 429 (${((100 * rejected.length) / sent).toFixed(0)}%, Retry-After ${retryAfterOk ? 'always set' : 'MISSING'}), ${other} other; ` +
    `accepted p99 ${acceptedP99.toFixed(0)} ms against queue-wait bound ${MAX_WAIT_S * 1000} ms + execution p99 at saturation ${saturation.p99.toFixed(0)} ms ` +
    `= ${overloadBound.toFixed(0)} ms (${acceptedP99 <= overloadBound ? 'within' : 'OVER'}); ` +
    `429 p99 ${percentile(
      [...rejected].sort((a, b) => a - b),
      99,
    ).toFixed(1)} ms`,
);
for (const figures of toolFigures) console.log(toolExecuteLine(figures));
for (const figures of mcpFigures) console.log(mcpCallLine(figures));
for (const figures of sessionFigures) console.log(sessionsLine(figures));
for (const figures of streamingFigures) console.log(streamingLine(figures));
console.log(e2bLine(e2bFigures));
console.log(accessLine(accessFigures));
console.log(toolsFromCodeLine(toolsFromCodeFigures));
console.log(consoleLine(await measureConsole()));
console.log(
  asyncLine(
    asyncFigures,
    kilnConfig.KILN_ASYNC_CONCURRENCY ?? Math.max(1, Math.floor(kilnConfig.KILN_CONCURRENCY / 2)),
    kilnConfig.KILN_CONCURRENCY,
  ),
);
for (const figures of runtimeFigures) console.log(customRuntimeLine(figures));
if (storeCost) console.log(storeCostLine(storeCost));
if (replicaFigures) console.log(replicasLine(replicaFigures, churn.rate));
for (const language of Object.keys(HELLO))
  console.log(floorLine(language, kilnRows[language]!, floorRows[language]!, serverRows[language]!));
console.log(
  `\nwhere a warm hello's time goes in kiln (Server-Timing stages, at half the churn rate):\n${stagesTable({ byLanguage: stageSamples, client: kilnRows, http: httpRow, box: boxFigures, floors: floorRows })}\n`,
);
console.log(egressLine(egress));
if (baseline) console.log(comparisonLine(RUNTIME, { warm: kilnRows, refill, saturation }, baseline));
console.log(
  `\nthe warm path's targets (issue 22), this run:\n${targetsTable({
    runtime: RUNTIME,
    warm: kilnRows,
    server: serverRows,
    floor: floorRows,
    saturation,
    churnPerSecond: churn.rate,
    overload: { acceptedP99, bound: overloadBound },
    customRuntimes: runtimeFigures,
    egressMs: egress.proxied.p50 - egress.direct.p50,
    runc: baseline,
  })}`,
);
