// kiln wrapper, Node: PID 1 of a sandbox container.
//
// It starts the harness (which will run the user's code) before any request
// arrives, then reads exactly one request line from stdin, hands it to the
// harness on a private pipe (fd 3), and relays what the harness prints as
// frames on stdout: kind byte + 4-byte big-endian length + payload. Kinds:
// o = stdout, e = stderr, r = result (fd 4, a pipe the user's prints never
// reach), x = exit status. Printed text is always wrapped in o/e frames, so
// it can never pose as a result.
//
// Egress: the box has no network. HTTP(S)_PROXY points the code at a listener
// on 127.0.0.1:3128 here; each connection to it is tunnelled to kiln's proxy
// as frames (c = opened, d = data, f = closed; payload starts with a 4-byte
// connection id), and kiln's frames come back on stdin after the request line.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { constants } from 'node:os';

const PROXY = 'http://127.0.0.1:3128';
const CA_PATH = '/tmp/kiln-egress-ca.pem';
const { KILN_EGRESS_CA: ca, ...env } = process.env;
Object.assign(env, {
  HTTP_PROXY: PROXY, HTTPS_PROXY: PROXY, http_proxy: PROXY, https_proxy: PROXY,
  NO_PROXY: 'localhost,127.0.0.1,::1', no_proxy: 'localhost,127.0.0.1,::1',
  NODE_USE_ENV_PROXY: '1', // fetch, http and https honour the proxy variables
});
if (ca) {
  writeFileSync(CA_PATH, ca);
  // Every HTTPS connection goes through kiln's proxy, which presents certificates of this CA.
  Object.assign(env, { NODE_EXTRA_CA_CERTS: CA_PATH, SSL_CERT_FILE: CA_PATH });
}

const harness = spawn(process.execPath, ['--disable-warning=UNDICI-EHPA', new URL('./harness.mjs', import.meta.url).pathname], {
  stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
  cwd: '/mnt/req',
  env,
});
// Blocking writes to the container's stdout: a fast printer waits for kiln instead of filling our memory.
process.stdout._handle?.setBlocking?.(true);

function encode(kind, data) {
  const header = Buffer.alloc(5);
  header.write(kind, 0);
  header.writeUInt32BE(data.length, 1);
  return Buffer.concat([header, data]);
}
const frame = (kind, data) => process.stdout.write(encode(kind, data));
const idBytes = (id) => Buffer.from([id >>> 24, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]);

function oomKills() {
  // cgroup v1 and v2 both count OOM kills in this box
  for (const path of ['/sys/fs/cgroup/memory/memory.oom_control', '/sys/fs/cgroup/memory.events']) {
    try {
      const match = /^oom_kill (\d+)$/m.exec(readFileSync(path, 'utf8'));
      if (match) return Number(match[1]);
    } catch {}
  }
  return 0;
}

const channels = new Map();
let nextId = 1;
createServer({ allowHalfOpen: true }, (socket) => {
  const id = nextId++;
  channels.set(id, socket);
  frame('c', idBytes(id));
  socket.on('data', (d) => frame('d', Buffer.concat([idBytes(id), d])));
  socket.on('end', () => frame('f', idBytes(id)));
  socket.on('error', () => socket.destroy());
  socket.on('close', () => channels.delete(id));
}).listen(3128, '127.0.0.1');

const oomBefore = oomKills();
const result = [];
harness.stdout.on('data', (d) => frame('o', d));
harness.stderr.on('data', (d) => frame('e', d));
harness.stdio[4].on('data', (d) => result.push(d));
for (const s of [harness.stdin, harness.stdio[3]]) s.on('error', () => {}); // the code may close its stdin early

let inbound = Buffer.alloc(0);
let request = null;
/** Frames kiln sent for the tunnelled connections. */
function fromKiln() {
  while (inbound.length >= 9) {
    const length = inbound.readUInt32BE(1);
    if (inbound.length < 5 + length) return;
    const kind = String.fromCharCode(inbound[0]);
    const socket = channels.get(inbound.readUInt32BE(5));
    const payload = inbound.subarray(9, 5 + length);
    inbound = inbound.subarray(5 + length);
    if (kind === 'd') socket?.write(payload);
    else if (kind === 'f') socket?.end();
  }
}
process.stdin.on('data', (chunk) => {
  inbound = Buffer.concat([inbound, chunk]);
  if (request) return fromKiln();
  const end = inbound.indexOf(10);
  if (end < 0) return;
  const line = inbound.subarray(0, end).toString('utf8');
  inbound = inbound.subarray(end + 1);
  request = JSON.parse(line);
  // Backstop for the host-side deadline, should kiln itself be gone: the box ends itself.
  setTimeout(() => process.exit(1), (request.deadline_ms ?? 300_000) + 5000).unref();
  harness.stdio[3].end(line + '\n');
  harness.stdin.end(request.stdin ?? '');
  fromKiln();
});
// EOF on stdin means kiln is gone: PID 1 exits and the kernel ends every process in the box.
process.stdin.on('end', () => process.exit(1));

let finished = false;
function finish(code, signal) {
  if (finished) return;
  finished = true;
  const exitCode = code ?? 128 + (constants.signals[signal] ?? 0);
  // an OOM kill is SIGKILL; count it only when the box's OOM counter rose too
  const exit = encode('x', Buffer.from(JSON.stringify({ exit_code: exitCode, oom: signal === 'SIGKILL' && oomKills() > oomBefore })));
  // result and exit in one write: one wake-up for kiln, not two
  process.stdout.write(result.length ? Buffer.concat([encode('r', Buffer.concat(result)), exit]) : exit);
  process.exit(0);
}
// A result with stdout, stderr and the result pipe all closed is the harness's last word
// (it exits 0 right after): answer without waiting for its process to wind down.
let open = 3;
for (const stream of [harness.stdout, harness.stderr, harness.stdio[4]])
  stream.on('end', () => --open === 0 && result.length && finish(0, null));
// 'close' waits for every pipe to close; background processes the code started
// may hold them open forever, so after 'exit' give them 50 ms at most.
harness.on('close', finish);
harness.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 50).unref());
