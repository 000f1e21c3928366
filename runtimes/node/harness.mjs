// kiln harness, Node: runs the user's code for the wrapper.
//
// Started before the request arrives. Reads the request from fd 3, sets up
// env, files and argv, strips TypeScript's types, imports the code as an ES
// module (script mode) or calls its execute(input) (function mode, sync or
// async), and writes the result to fd 4, a pipe the wrapper keeps apart from
// stdout/stderr: a status word, a newline, then the return value as JSON.
import { closeSync, mkdirSync, readSync, realpathSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire, stripTypeScriptTypes } from 'node:module';
import { dirname, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

// stdout/stderr are socketpairs from the wrapper, which Node writes asynchronously:
// a print loop would buffer without bound and die of memory. Blocking writes apply backpressure.
for (const stream of [process.stdout, process.stderr]) stream._handle?.setBlocking?.(true);
// Under memory pressure the kernel should kill the user's process, not the wrapper.
try { writeFileSync('/proc/self/oom_score_adj', '1000'); } catch {}

// Erasing types costs ~45 ms the first time (Node loads its transform): pay it now, before any request.
if (typeof stripTypeScriptTypes === 'function') await stripTypes('let warm: number = 0;').catch(() => {});
// The first module import warms Node's ESM loader (a few ms): do it now as well.
mkdirSync('/tmp/kiln', { recursive: true });
writeFileSync('/tmp/kiln/warm.mjs', 'export default 0;\n');
await import(pathToFileURL('/tmp/kiln/warm.mjs').href);

const request = JSON.parse(readLine(3));
closeSync(3);

/** The request line from fd 3: read up to its newline, not to EOF (which comes a little later). */
function readLine(fd) {
  const chunks = [];
  const buffer = Buffer.alloc(65536);
  for (;;) {
    let n;
    try {
      n = readSync(fd, buffer);
    } catch (error) {
      // a non-blocking socketpair: wait a millisecond, never spin
      if (error.code === 'EAGAIN') { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); continue; }
      throw error;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, n)));
    if (buffer[n - 1] === 10) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function writeFiles(files) {
  const root = realpathSync('/mnt/req');
  for (const file of files) {
    const path = resolve(root, file.path);
    // the host checks this too; never trust one layer
    if (!path.startsWith(root + sep)) throw new Error(`file path escapes /mnt/req: ${file.path}`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.contents);
  }
}

/** The run's last word: stdout and stderr are closed first, so the wrapper knows nothing can follow. */
function writeResult(text) {
  for (const fd of [1, 2]) try { closeSync(fd); } catch {}
  writeSync(4, text);
  closeSync(4);
}

/** TypeScript → JavaScript by erasing types (Node's own transform): type errors never block a run. */
async function stripTypes(code) {
  // Keep Node's "experimental" notice out of the user's stderr.
  const listeners = process.listeners('warning');
  process.removeAllListeners('warning');
  try {
    return stripTypeScriptTypes(code, { mode: 'transform', sourceUrl: 'main.ts' });
  } catch (error) {
    throw Object.assign(new SyntaxError(`main.ts: ${error.message}`), { stack: `SyntaxError: main.ts: ${error.message}` });
  } finally {
    await new Promise((r) => setImmediate(r));
    for (const listener of listeners) process.on('warning', listener);
  }
}

async function run() {
  Object.assign(process.env, request.env ?? {});
  writeFiles(request.files ?? []);
  let code = request.language === 'typescript' ? await stripTypes(request.code) : request.code;
  // Riza's code declares execute() without exporting it: export it under a private name.
  if (request.mode === 'function') code += '\nexport { execute as __kilnExecute };\n';
  // Beside the user's files, so that `import "./helper.mjs"` finds them.
  const main = '/mnt/req/.kiln-main.mjs';
  writeFileSync(main, code);
  process.argv = [process.execPath, main, ...(request.args ?? [])];
  globalThis.require = createRequire(main);
  const module = await import(pathToFileURL(main).href);
  if (request.mode === 'script') return;
  if (typeof module.__kilnExecute !== 'function') throw new TypeError('execute is not a function');
  const value = await module.__kilnExecute(request.input ?? null);
  let output;
  try {
    output = JSON.stringify(value) ?? 'null';
  } catch (error) {
    process.stderr.write(`kiln: the return value is not JSON-serializable: ${error.message}\n`);
    writeResult('json_serialization_error\n');
    process.exit(0);
  }
  writeResult(`valid\n${output}`);
  // Function mode ends with execute(): timers the code left behind must not hold the box.
  process.exit(0);
}

run().catch((error) => {
  process.stderr.write(`${error?.stack ?? String(error)}\n`);
  process.exit(1);
});
