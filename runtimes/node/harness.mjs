// kiln harness, Node: runs the user's code for the wrapper.
//
// Started before the request arrives. Reads the request from fd 3, sets up
// env, files and argv, imports the code as an ES module (script mode) or
// calls its execute(input) (function mode, sync or async), and writes the
// result as JSON to fd 4, a pipe the wrapper keeps apart from stdout/stderr.
import { mkdirSync, readFileSync, writeFileSync, writeSync, closeSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

// Under memory pressure the kernel should kill the user's process, not the wrapper.
try { writeFileSync('/proc/self/oom_score_adj', '1000'); } catch {}

// stdout/stderr are socketpairs from the wrapper, which Node writes asynchronously:
// a print loop would buffer without bound and die of memory. Blocking writes apply backpressure.
for (const stream of [process.stdout, process.stderr]) stream._handle?.setBlocking?.(true);

const request = JSON.parse(readFileSync(3, 'utf8'));
closeSync(3);

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

function writeResult(text) {
  writeSync(4, text);
  closeSync(4);
}

async function run() {
  Object.assign(process.env, request.env ?? {});
  writeFiles(request.files ?? []);
  // The code lives outside /mnt/req so that it never collides with a user's file.
  const main = '/tmp/kiln/main.mjs';
  mkdirSync(dirname(main), { recursive: true });
  // Riza's code declares execute() without exporting it: export it under a private name.
  const tail = request.mode === 'function' ? '\nexport { execute as __kilnExecute };\n' : '\n';
  writeFileSync(main, request.code + tail);
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
    writeResult('{"status":"json_serialization_error"}');
    process.exit(0);
  }
  writeResult(`{"status":"valid","output":${output}}`);
  // Function mode ends with execute(): timers the code left behind must not hold the box.
  process.exit(0);
}

run().catch((error) => {
  process.stderr.write(`${error?.stack ?? String(error)}\n`);
  process.exit(1);
});
