// kiln harness, Node: runs the user's code for the wrapper.
//
//   node harness.mjs <request fd> <result fd> <ready fd>
//
// Started before the request arrives. Says "ready" on the ready fd, reads the
// request line from the request fd (a pipe from the wrapper, which has told
// kiln the request was taken before it hands the line on), then sets up env,
// files and argv, strips TypeScript's types, imports the
// code as an ES module (script mode) or calls its execute(input) (function
// mode, sync or async), and writes the result to the result fd, a pipe the
// wrapper keeps apart from stdout/stderr: a status word, a newline, then the
// return value as JSON. A script that ends by itself (not by a signal or an
// uncaught error) says `exit <status>` there as its last word. A session (a box
// that lives across calls) is served by session.mjs instead.
//
// V8 compiles each function the first time it runs, which costs more than the
// run itself: before the request, the harness rehearses the whole path once.
import { Console } from 'node:console';
import { closeSync, mkdirSync, openSync, readSync, realpathSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire, registerHooks, stripTypeScriptTypes } from 'node:module';
import { dirname, resolve, sep } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

const [REQUEST_FD, INHERITED_RESULT_FD, READY_FD] = process.argv.slice(2).map(Number);

// stdout/stderr are pipes, which Node writes asynchronously: a print loop would
// buffer without bound and die of memory. Blocking writes apply backpressure.
for (const stream of [process.stdout, process.stderr]) stream._handle?.setBlocking?.(true);
// Under memory pressure the kernel should kill the user's process, not the wrapper.
try { writeFileSync('/proc/self/oom_score_adj', '1000'); } catch {}

let typesWarm = false;
/** TypeScript → JavaScript by erasing types (Node's own transform): type errors never block a run. */
async function stripTypes(code, sourceUrl = 'main.ts') {
  try {
    if (typesWarm) return stripTypeScriptTypes(code, { mode: 'transform', sourceUrl });
    // The first call prints Node's "experimental" notice: keep it out of the user's stderr.
    const listeners = process.listeners('warning');
    process.removeAllListeners('warning');
    try {
      return stripTypeScriptTypes(code, { mode: 'transform', sourceUrl });
    } finally {
      await new Promise((r) => setImmediate(r));
      for (const listener of listeners) process.on('warning', listener);
      typesWarm = true;
    }
  } catch (error) {
    throw Object.assign(new SyntaxError(`${sourceUrl}: ${error.message}`), { stack: `SyntaxError: ${sourceUrl}: ${error.message}` });
  }
}

/** Writes all of `text` to a blocking fd (a write may take only part of it). */
function writeAll(fd, text) {
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  for (let at = 0; at < data.length; ) at += writeSync(fd, data, at);
}

/**
 * The request line: read up to its newline, which JSON never contains (the wrapper sends only the
 * line). A blocking read: the kernel wakes this thread the moment the line arrives, with no event
 * loop in between. EOF before a request means the box is ending. Returns the line and the fd it
 * came from, which the caller closes (unless it is a session's, whose calls follow on it).
 */
function readRequestLine(fd) {
  const chunks = [];
  const buffer = Buffer.allocUnsafe(1 << 20);
  for (;;) {
    let n;
    try {
      n = readSync(fd, buffer);
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error;
      // Someone made the pipe non-blocking: reopening it gives this process a blocking description.
      const reopened = openSync(`/proc/self/fd/${fd}`, 'r');
      closeSync(fd);
      fd = reopened;
      continue;
    }
    if (n === 0) process.exit(0);
    chunks.push(Buffer.from(buffer.subarray(0, n)));
    if (buffer[n - 1] === 10) break;
  }
  return [Buffer.concat(chunks).toString('utf8'), fd];
}

function writeFiles(root, files) {
  for (const file of files) {
    const path = resolve(root, file.path);
    // the host checks this too; never trust one layer
    if (!path.startsWith(root + sep)) throw new Error(`file path escapes ${root}: ${file.path}`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.contents);
  }
}

/**
 * The code of a run, by its module's URL: the loader takes it from here, so no file is written and
 * read back, and no thread of libuv's pool is woken for it (under gVisor each costs tens of
 * microseconds a system call). A Node without in-thread hooks gets the file instead.
 */
const sources = new Map();
const inMemory = typeof registerHooks === 'function';
/** `kiln:tools` now: the run's tools module, or a session call's (each call its own URL, as modules are cached). */
let toolsUrl = null;
if (inMemory)
  registerHooks({
    resolve: (specifier, context, next) =>
      specifier === 'kiln:tools' && toolsUrl
        ? { url: toolsUrl, format: 'module', shortCircuit: true }
        : sources.has(specifier)
          ? { url: specifier, format: 'module', shortCircuit: true }
          : next(specifier, context),
    load: (url, context, next) =>
      sources.has(url) ? { format: 'module', source: sources.get(url), shortCircuit: true } : next(url, context),
  });

/** Makes `source` what `kiln:tools` imports from now on (none: nothing does); `tag` names the call. */
function setTools(source, tag) {
  if (toolsUrl) sources.delete(toolsUrl);
  toolsUrl = null;
  if (!source) return;
  if (!inMemory) throw new Error('kiln:tools needs a Node with module.registerHooks (22.15 or later)');
  toolsUrl = `kiln:tools?${tag}`;
  sources.set(toolsUrl, source);
}

/** Sets up the request's env, files and argv under `root`; imports its code and returns the module. */
async function load(request, root) {
  if (request.entry === 'wasm') {
    // an AT function's WebAssembly module (base64): nothing of it runs before its call
    return { wasm: Buffer.from(request.code, 'base64') };
  }
  Object.assign(process.env, request.env ?? {});
  writeFiles(root, request.files ?? []);
  // the execution's tools (kiln made the module for it): `import { weather } from 'kiln:tools'`
  setTools(request.tools_module, 'run');
  let code = request.language === 'typescript' ? await stripTypes(request.code) : request.code;
  // Riza's code declares execute() without exporting it: export it under a private name. Code
  // whose entry is its default export (ConductorOne's `export default async function main`) has it already.
  if (request.mode === 'function' && request.entry !== 'default') code += '\nexport { execute as __kilnExecute };\n';
  // Beside the user's files, so that `import "./helper.mjs"` finds them.
  const main = `${root}/.kiln-main.mjs`;
  const url = pathToFileURL(main).href;
  if (inMemory) sources.set(url, code);
  else writeFileSync(main, code);
  process.argv = [process.execPath, main, ...(request.args ?? [])];
  globalThis.require = createRequire(main);
  return import(url);
}

/** A pure-v1 module whose run echoes its input, for the rehearsal. */
const ECHO_WASM = 'AGFzbQEAAAABDAJgAX8Bf2ACf38BfgMDAgABBQMBAAEHGAMGbWVtb3J5AgAFYWxsb2MAAANydW4AAQoUAgUAQYAICwwAIACtQiCGIAGthAs=';

/**
 * AT functions' pure-v1 ABI: a module that imports nothing and exports `memory`, `alloc(len)` and
 * `run(ptr, len)`, which returns (ptr << 32) | len of its UTF-8 JSON answer; `dealloc` if it has one.
 * Its memory may not pass `maxBytes` (checked after each call into it; growing far past it meets
 * the box's own limit first).
 */
async function runWasm(bytes, input, maxBytes) {
  const mod = await WebAssembly.compile(bytes);
  const imports = WebAssembly.Module.imports(mod);
  if (imports.length) throw new Error(`a pure-v1 module imports nothing; this one imports ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}`);
  const { exports } = await WebAssembly.instantiate(mod, {});
  const { memory, alloc, run, dealloc } = exports;
  if (!(memory instanceof WebAssembly.Memory) || typeof alloc !== 'function' || typeof run !== 'function')
    throw new Error('a pure-v1 module exports memory, alloc(len) and run(ptr, len)');
  const check = () => {
    if (memory.buffer.byteLength > maxBytes) throw new Error(`memory over the limit: ${memory.buffer.byteLength} bytes, at most ${maxBytes}`);
  };
  check();
  const data = Buffer.from(JSON.stringify(input ?? null));
  const ptr = Number(alloc(data.length)) >>> 0;
  check();
  if (ptr + data.length > memory.buffer.byteLength) throw new Error('alloc returned a range outside memory');
  new Uint8Array(memory.buffer, ptr, data.length).set(data);
  const packed = BigInt.asUintN(64, BigInt(run(ptr, data.length)));
  check();
  const [outPtr, outLen] = [Number(packed >> 32n), Number(packed & 0xffffffffn)];
  if (outPtr + outLen > memory.buffer.byteLength) throw new Error('run returned a range outside memory');
  const text = new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(memory.buffer, outPtr, outLen));
  const value = JSON.parse(text);
  if (typeof dealloc === 'function') dealloc(outPtr, outLen);
  return value;
}

/** Calls execute(input); returns the result text (status word, newline, JSON). */
async function call(module, input, stderr, entry, wasmMemoryBytes) {
  if (entry === 'wasm') return `valid\n${JSON.stringify(await runWasm(module.wasm, input, wasmMemoryBytes ?? 32 * 1024 * 1024))}`;
  const fn = entry === 'default' ? module.default : module.__kilnExecute;
  if (typeof fn !== 'function') throw new TypeError(entry === 'default' ? 'the module has no default export function (export default async function main(input))' : 'execute is not a function');
  const value = await fn(input ?? null);
  try {
    return `valid\n${JSON.stringify(value) ?? 'null'}`;
  } catch (error) {
    stderr.write(`kiln: the return value is not JSON-serializable: ${error.message}\n`);
    return 'json_serialization_error\n';
  }
}

/** The run's last word: stdout and stderr are closed first, so the wrapper knows nothing can follow. */
function writeResult(text) {
  for (const fd of [1, 2]) try { closeSync(fd); } catch {}
  const data = Buffer.from(text);
  // its length first: the wrapper knows when all of it is in, whoever else holds the pipe
  writeAll(RESULT_FD, Buffer.concat([Buffer.from(`${data.length}\n`), data]));
  closeSync(RESULT_FD);
  // The wrapper answers now. Exiting would make the kernel tear this process down on the answer's
  // way out, competing for the CPU: stay put instead (no JS runs); the wrapper ends the box soon after.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}

/**
 * The rehearsal: the same functions on a made-up request (TypeScript when its transform is loaded),
 * under /tmp, with prints into a sink, so that the real run finds them compiled. Its files stay in
 * /tmp/kiln/rehearsal; nothing else of it reaches the real run (its module lives at another URL;
 * env, argv and require are set again by the real run).
 */
async function rehearse() {
  const root = '/tmp/kiln/rehearsal';
  mkdirSync(root, { recursive: true });
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const console = new Console(sink);
  console.log('%s %d', 'warm', 1, { up: [true] });
  writeFileSync(`${root}/request.json`, `${JSON.stringify({
    mode: 'function', language: typesWarm ? 'typescript' : 'javascript', env: {}, args: [], input: { a: [1, 'b'] },
    code: `function execute(input${typesWarm ? ': unknown' : ''}) { return { input }; }`, files: [{ path: 'data.txt', contents: 'x' }],
  })}\n`);
  const [line, fd] = readRequestLine(openSync(`${root}/request.json`, 'r'));
  closeSync(fd);
  const request = JSON.parse(line);
  const text = await call(await load(request, root), request.input, sink);
  // V8's WebAssembly engine starts on first use (about 100 ms here): start it now, on an echo module
  await runWasm(Buffer.from(ECHO_WASM, 'base64'), { warm: true }, 64 * 1024);
  const devNull = openSync('/dev/null', 'w');
  writeAll(devNull, text);
  closeSync(devNull);
  // A zero-length write reaches no reader but runs the write path of the real stdout and stderr.
  process.stdout.write('');
  process.stderr.write('');
}

/** A script's exit status, reported as its last word once every 'exit' listener has run. */
function reportExit() {
  let fatal = false;
  // An uncaught error emits 'exit' before Node prints it: then stderr must stay open (the wrapper waits).
  process.on('uncaughtExceptionMonitor', () => (fatal = true));
  const emit = process.emit;
  process.emit = function (event, ...args) {
    const handled = emit.call(this, event, ...args);
    // Node exits with process.exitCode as the listeners left it (they may set it), else the emitted code
    if (event === 'exit' && !fatal) writeResult(`exit ${Number(process.exitCode ?? args[0] ?? 0) & 255}`);
    return handled;
  };
}

// Node's own result pipe: opened anew (close-on-exec, as Node opens files), so that processes the code
// starts do not inherit it and hold it open after the harness's last word.
let RESULT_FD = INHERITED_RESULT_FD;
try {
  RESULT_FD = openSync(`/proc/self/fd/${INHERITED_RESULT_FD}`, 'w');
  closeSync(INHERITED_RESULT_FD);
} catch {}
// Only a pooled TypeScript box loads the transform ahead (about 50 ms of CPU): JavaScript's never need it.
if (process.env.KILN_WARM_TYPESCRIPT === '1') await stripTypes('let warm: number = 0;').catch(() => {});
delete process.env.KILN_WARM_TYPESCRIPT;
// Warming is worth a few ms a run; a rehearsal that fails leaves the box slower, not broken (and says
// nothing: whatever it printed would reach the user's stderr).
await rehearse().catch(() => {});
// resolved now, while the box waits, not on the run's path
const REQUEST_ROOT = realpathSync('/mnt/req');
writeAll(READY_FD, 'ready\n'); // the wrapper tells kiln this box can be handed out
closeSync(READY_FD);

const [line, requestFd] = readRequestLine(REQUEST_FD);
const request = JSON.parse(line);

if (request.mode === 'session') {
  // A box that lives across calls: session.mjs (loaded only here) serves them until the box ends.
  const { serve } = await import('./session.mjs');
  serve({ request, requestFd, resultFd: RESULT_FD, root: REQUEST_ROOT, stripTypes, writeAll, writeFiles, setTools });
} else {
  closeSync(requestFd);
  try {
    if (request.mode === 'script') reportExit();
    const module = await load(request, REQUEST_ROOT);
    if (request.mode === 'function') {
      writeResult(await call(module, request.input, process.stderr, request.entry, request.wasm_memory_bytes));
      // Function mode ends with execute(): timers the code left behind must not hold the box.
      process.exit(0);
    }
  } catch (error) {
    process.stderr.write(`${error?.stack ?? String(error)}\n`);
    process.exit(1);
  }
}
