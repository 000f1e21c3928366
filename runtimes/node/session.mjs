// kiln session, Node: serves a box that lives across calls (the request's mode is `session`).
//
// harness.mjs imports it only then, once the session line is in: it applies the
// line's env and files, answers {"ready":true} on the result pipe (the same
// "<length>\n<JSON>" as a one-shot result, without a status word), then reads
// the calls, a line each, from the request pipe, which stays open, and answers
// each on the result pipe (stdout and stderr stay open: they are the box's o
// and e frames, call after call; their writes are synchronous, so whatever a
// call printed is in their pipes before its answer). The calls:
//
//   execute         {"op":"execute","context":id,"code":...,"language"?}: the code runs in a
//                   context, a REPL's (node:repl) kept between calls: top-level await, and
//                   declarations that persist; TypeScript has its types erased first;
//                   {"results":[bundle,...],"error":null|{"name","value","traceback"}}
//   command         {"op":"command","cmd":argv|"shell string","stdin","env","cwd"}: a process
//                   of its own in the box, sharing files, not state; {"exit_code":n}
//   context_create  {"op":"context_create","context":id}: {"ok":true}
//   context_delete  {"op":"context_delete","context":id}: {"ok":true}
//
// A call the harness cannot carry out answers {"error":{...}} ("ok":false for the
// context calls, "results":[] for execute). SIGINT (kiln's interrupt) ends the
// running call, and the session goes on; between calls it is ignored.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { resolve, sep } from 'node:path';
import repl from 'node:repl';
import { PassThrough, Writable } from 'node:stream';
import { inspect, types } from 'node:util';

/** The harness's own directory, whose frames a traceback does not show. */
const HERE = new URL('.', import.meta.url).href;
const INTERRUPTED = 'Script execution was interrupted by `SIGINT`';

/**
 * The REPL's eval is bound to a domain, which takes the code's errors instead of its callback
 * (and prints them to the REPL's output). A domain that binds nothing gives them back to the
 * callback; an error the code throws later, from a timer, is the process's uncaught exception.
 */
const noDomain = Object.assign(new EventEmitter(), { bind: (fn) => fn });

/** Serves the session; the calls keep the process alive until the wrapper closes their pipe. */
export function serve({ request, requestFd, resultFd, root, stripTypes, writeAll, writeFiles, setTools }) {
  const contexts = new Map();
  /** The running execute's results, which display() adds to. */
  let results = null;
  /** Calls so far: each call's tools module has a URL of its own (ES modules are cached by URL). */
  let cells = 0;
  /** What kiln's interrupt (SIGINT) ends: the running call, if any. */
  let interrupt = null;
  /** A call is in (from its line to its answer); an interrupt before its code started is kept for it. */
  let handling = false;
  let interrupted = false;

  function display(...values) {
    if (!results) return; // no call is running (a timer that outlived its call): nowhere to show it
    for (const value of values) {
      const data = isBundle(value) ? mimeBundle(value) : { 'text/plain': show(value) };
      results.push(data);
      answer({ display: data }); // shown as it is displayed too (a streamed call's display event); the answer still holds it
    }
  }

  /** A context: a REPL that reads no input and writes nowhere; only its eval is used. */
  function context(useGlobal) {
    const server = repl.start({
      input: new PassThrough(),
      output: new Writable({ write: (_chunk, _encoding, done) => done() }),
      terminal: false,
      useGlobal,
      prompt: '',
      ignoreUndefined: true,
      // a synchronous script that SIGINT reaches is stopped by the REPL's watchdog
      breakEvalOnSigint: true,
      domain: noDomain,
    });
    // The REPL's own SIGINT handling reads keystrokes (and closes it on a second one): not here.
    server.removeAllListeners('SIGINT');
    server.context.display = display;
    // a new context's console writes to the REPL's output, which goes nowhere: the code's goes to stdout
    if (!useGlobal) server.context.console = console;
    return server;
  }

  /** The code's value (its last expression's), or its error; SIGINT ends it either way. */
  function evaluate(server, code) {
    return new Promise((resolvePromise, reject) => {
      interrupt = () => reject(interruption());
      if (interrupted) return interrupt();
      // vm moves the process's SIGINT listeners aside while a script runs, when it sees any, which
      // leaves SIGINT on its default (the process's end) instead of the REPL's watchdog: it sees none.
      process.listenerCount = (event) => (event === 'SIGINT' ? 0 : EventEmitter.prototype.listenerCount.call(process, event));
      try {
        server.eval(code, server.context, 'cell.js', (error, value) => {
          if (error) reject(error instanceof repl.Recoverable ? error.err : error);
          else resolvePromise(value);
        });
      } finally {
        delete process.listenerCount;
        rearm();
      }
    });
  }

  async function execute(call) {
    const server = contexts.get(call.context ?? 'default');
    if (!server) throw new Error(`kiln: no context ${JSON.stringify(call.context)}`);
    const language = call.language ?? request.language;
    if (language !== 'javascript' && language !== 'typescript') throw new Error(`kiln: this session runs JavaScript and TypeScript, not ${language}`);
    if (typeof call.code !== 'string') throw new TypeError('kiln: code is a string');
    results = [];
    const outcome = { results, error: null };
    // this call's tools (`tools` on the call): `await import('kiln:tools')`; none, and an earlier call's are gone
    cells += 1;
    setTools?.(call.tools_module, `cell${cells}`);
    try {
      // (a newline after the transform's sourceURL comment: the REPL wraps a top-level await's code)
      const code = language === 'typescript' ? `${await stripTypes(call.code, 'cell.ts')}\n` : call.code;
      const value = await evaluate(server, code);
      server.last = value; // `_`, as in Node's REPL
      if (value !== undefined) results.push({ ...bundle(value), is_main_result: true });
    } catch (thrown) {
      outcome.error = fault(thrown, true);
    }
    return outcome;
  }

  function command(call) {
    const argv = typeof call.cmd === 'string' ? ['/bin/sh', '-c', call.cmd] : call.cmd;
    if (!Array.isArray(argv) || !argv.length || !argv.every((arg) => typeof arg === 'string'))
      throw new TypeError('kiln: cmd is an argv (a list of strings) or a shell command (a string)');
    const cwd = resolve(root, call.cwd ?? '.');
    if (cwd !== root && !cwd.startsWith(root + sep)) throw new Error(`kiln: cwd escapes ${root}: ${call.cwd}`);
    return new Promise((resolvePromise) => {
      // its own process group (detached): an interrupt reaches all of it; stdout and stderr are the harness's
      const child = spawn(argv[0], argv.slice(1), {
        cwd,
        env: { ...process.env, ...(call.env ?? {}) },
        stdio: [call.stdin ? 'pipe' : 'ignore', 1, 2],
        detached: true,
      });
      let killer;
      child.on('error', (error) => {
        process.stderr.write(`kiln: ${argv[0]}: ${error.message}\n`);
        resolvePromise({ exit_code: error.code === 'EACCES' ? 126 : 127 }); // as a shell says it
      });
      child.on('exit', (code, signal) => {
        clearTimeout(killer);
        resolvePromise({ exit_code: code ?? 128 + (constants.signals[signal] ?? 0) });
      });
      if (call.stdin) {
        child.stdin.on('error', () => {}); // it exited without reading it all: fine
        child.stdin.end(call.stdin);
      }
      // kiln's interrupt, passed on to the command's process group; what ignores it for 2 s is killed
      interrupt = () => {
        signalGroup(child, 'SIGINT');
        killer ??= setTimeout(() => signalGroup(child, 'SIGKILL'), 2000);
      };
      if (interrupted) interrupt();
    });
  }

  function contextCall(op, id) {
    if (typeof id !== 'string' || !id) throw new TypeError("kiln: a context's id is a non-empty string");
    if (op === 'context_create') {
      if (contexts.has(id)) throw new Error(`kiln: context ${JSON.stringify(id)} exists`);
      contexts.set(id, context(false));
    } else {
      if (id === 'default') throw new Error('kiln: the default context cannot be deleted');
      const server = contexts.get(id);
      if (!server) throw new Error(`kiln: no context ${JSON.stringify(id)}`);
      contexts.delete(id);
      server.close();
    }
    return { ok: true };
  }

  /** One call's outcome. */
  async function handle(line) {
    let call;
    handling = true;
    try {
      call = JSON.parse(line);
      if (call.op === 'execute') return await execute(call);
      if (call.op === 'command') return await command(call);
      if (call.op === 'context_create' || call.op === 'context_delete') return contextCall(call.op, call.context);
      throw new Error(`kiln: no such call: ${JSON.stringify(call?.op)}`);
    } catch (thrown) {
      const error = fault(thrown);
      return call?.op === 'execute' ? { results: [], error } : call?.op?.startsWith?.('context_') ? { ok: false, error } : { error };
    } finally {
      interrupt = null;
      results = null;
      handling = interrupted = false;
    }
  }

  /** An outcome on the result pipe: its length first, so the wrapper knows when all of it is in. */
  function answer(outcome) {
    let text;
    try {
      text = JSON.stringify(outcome);
    } catch (error) {
      text = JSON.stringify({ error: { name: 'TypeError', value: `kiln: the outcome is not JSON-serializable: ${error.message}`, traceback: '' } });
    }
    const data = Buffer.from(text);
    writeAll(resultFd, Buffer.concat([Buffer.from(`${data.length}\n`), data]));
  }

  process.on('SIGINT', () => {
    if (interrupt) interrupt();
    else interrupted = handling; // between calls: ignored
  });
  // The code's errors from after its call (a timer's, an unhandled rejection) go to its stderr; the session goes on.
  process.on('uncaughtException', (error) => process.stderr.write(`Uncaught ${fault(error).traceback}\n`));
  process.on('unhandledRejection', (reason) => process.stderr.write(`Uncaught (in promise) ${fault(reason).traceback}\n`));

  let ready = { ready: true };
  try {
    Object.assign(process.env, request.env ?? {});
    writeFiles(root, request.files ?? []);
  } catch (error) {
    ready = { ready: false, error: fault(error) };
  }
  contexts.set('default', context(true));
  answer(ready);

  // The calls, a line each, one at a time (kiln sends the next after this one's answer).
  const calls = new Socket({ fd: requestFd, readable: true, writable: false });
  const lines = [];
  let partial = [];
  let busy = false;
  calls.on('data', (chunk) => {
    for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10)) {
      partial.push(chunk.subarray(0, at));
      lines.push(Buffer.concat(partial).toString('utf8'));
      partial = [];
      chunk = chunk.subarray(at + 1);
    }
    if (chunk.length) partial.push(chunk);
    pump();
  });
  calls.on('end', () => process.exit(0)); // the wrapper, and so the box, is ending
  async function pump() {
    if (busy) return;
    busy = true;
    while (lines.length) answer(await handle(lines.shift()));
    busy = false;
  }
}

/**
 * Node's SIGINT handler back in place after a script: the REPL's watchdog, once stopped, leaves
 * SIGINT on a handler that ends the process, which the process's listeners, removed and added
 * again, replace with libuv's (as vm itself does after a script).
 */
function rearm() {
  const listeners = process.rawListeners('SIGINT');
  process.removeAllListeners('SIGINT');
  for (const listener of listeners) process.on('SIGINT', listener);
}

/** What an interrupted await ends with: what the REPL's watchdog throws for a synchronous script. */
function interruption() {
  return Object.assign(new Error(INTERRUPTED), { code: 'ERR_SCRIPT_EXECUTION_INTERRUPTED', stack: `Error: ${INTERRUPTED}` });
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {}
}

/** util.inspect, which a hostile value (a Proxy's traps) may make throw. */
function show(value) {
  try {
    return inspect(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A value as a notebook shows it: text/plain, and application/json for a plain object or array. */
function bundle(value) {
  const data = { 'text/plain': show(value) };
  const json = plainJson(value);
  if (json !== undefined) data['application/json'] = json;
  return data;
}

function plainJson(value) {
  try {
    if (typeof value !== 'object' || value === null) return undefined;
    const proto = Object.getPrototypeOf(value);
    // Object.prototype, whichever context's it is, has no prototype of its own
    if (!Array.isArray(value) && proto !== null && Object.getPrototypeOf(proto) !== null) return undefined;
  } catch {
    return undefined; // a Proxy's trap threw
  }
  return asJson(value);
}

/** The value as JSON carries it, or undefined: a cycle, a BigInt, a getter that throws, a function. */
function asJson(value) {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** An object whose keys are all MIME types is a bundle already (display({'text/html': ...})). */
function isBundle(value) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((key) => key.includes('/'));
}

function mimeBundle(value) {
  const data = {};
  for (const [mime, representation] of Object.entries(value)) {
    if (mime === 'application/json' || mime.endsWith('+json')) {
      const json = asJson(representation);
      if (json !== undefined) data[mime] = json;
    } else if (typeof representation === 'string') data[mime] = representation;
    else if (representation instanceof Uint8Array) data[mime] = Buffer.from(representation).toString(mime.startsWith('image/') && mime !== 'image/svg+xml' ? 'base64' : 'utf8');
  }
  return data;
}

/**
 * An error as a notebook reports it: {name, value: its message, traceback: its stack, without the
 * REPL's and the harness's frames}; the code's own (printed) goes to stderr too, as a one-shot
 * run's does.
 */
function fault(thrown, printed = false) {
  let error;
  try {
    if (types.isNativeError(thrown) || thrown instanceof Error) {
      const name = String(thrown.name ?? 'Error');
      const value = String(thrown.message ?? '');
      error = { name, value, traceback: trimStack(String(thrown.stack ?? `${name}: ${value}`)) };
    }
  } catch {}
  error ??= { name: 'Error', value: show(thrown), traceback: `Uncaught ${show(thrown)}` };
  if (printed) process.stderr.write(`${error.traceback}\n`);
  return error;
}

function trimStack(stack) {
  const lines = stack.split('\n');
  const ours = (line) => /^\s+at /.test(line) && (line.includes('(node:') || /\bat node:/.test(line) || line.includes(HERE) || line.endsWith('(<anonymous>)'));
  while (lines.length > 1 && ours(lines.at(-1))) lines.pop();
  return lines.join('\n');
}
