// kiln wrapper, Node: PID 1 of a sandbox container.
//
// It starts the harness (which will run the user's code) before any request
// arrives, then reads exactly one request line from stdin, hands it to the
// harness on a private pipe (fd 3), and relays what the harness prints as
// frames on stdout: kind byte + 4-byte big-endian length + payload. Kinds:
// o = stdout, e = stderr, r = result (fd 4, a pipe the user's prints never
// reach), x = exit status. Printed text is always wrapped in o/e frames, so
// it can never pose as a result.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

const harness = spawn(process.execPath, [new URL('./harness.mjs', import.meta.url).pathname], {
  stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
  cwd: '/mnt/req',
});
// Blocking writes to the container's stdout: a fast printer waits for kiln instead of filling our memory.
process.stdout._handle?.setBlocking?.(true);

function frame(kind, data) {
  const header = Buffer.alloc(5);
  header.write(kind, 0);
  header.writeUInt32BE(data.length, 1);
  process.stdout.write(Buffer.concat([header, data]));
}

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

const oomBefore = oomKills();
const result = [];
harness.stdout.on('data', (d) => frame('o', d));
harness.stderr.on('data', (d) => frame('e', d));
harness.stdio[4].on('data', (d) => result.push(d));
for (const s of [harness.stdin, harness.stdio[3]]) s.on('error', () => {}); // the code may close its stdin early

let buffered = '';
let received = false;
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  if (received) return;
  buffered += chunk;
  const end = buffered.indexOf('\n');
  if (end < 0) return;
  received = true;
  const line = buffered.slice(0, end);
  buffered = '';
  const request = JSON.parse(line);
  // Backstop for the host-side deadline, should kiln itself be gone: the box ends itself.
  setTimeout(() => process.exit(1), (request.deadline_ms ?? 300_000) + 5000).unref();
  harness.stdio[3].end(line + '\n');
  harness.stdin.end(request.stdin ?? '');
});
// EOF on stdin means kiln is gone: PID 1 exits and the kernel ends every process in the box.
process.stdin.on('end', () => process.exit(1));

let finished = false;
function finish(code, signal) {
  if (finished) return;
  finished = true;
  if (result.length) frame('r', Buffer.concat(result));
  const exitCode = code ?? 128 + (constants.signals[signal] ?? 0);
  // an OOM kill is SIGKILL; count it only when the box's OOM counter rose too
  frame('x', Buffer.from(JSON.stringify({ exit_code: exitCode, oom: signal === 'SIGKILL' && oomKills() > oomBefore })));
  process.exit(0);
}
// 'close' waits for every pipe to close; background processes the code started
// may hold them open forever, so after 'exit' give them 50 ms at most.
harness.on('close', finish);
harness.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 50).unref());
