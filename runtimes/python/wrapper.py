"""kiln wrapper, Python: PID 1 of a sandbox container.

It starts the harness (which will run the user's code) before any request
arrives, then reads exactly one request line from stdin, hands it to the
harness on a private pipe, and relays what the harness prints as frames on
stdout: kind byte + 4-byte big-endian length + payload. Kinds: o = stdout,
e = stderr, r = result (from a pipe the user's prints never reach),
x = exit status. Printed text is always wrapped in o/e frames, so it can
never pose as a result.

Egress: the box has no network. HTTP(S)_PROXY points the code at a listener
on 127.0.0.1:3128 here; each connection to it is tunnelled to kiln's proxy as
frames (c = opened, d = data, f = closed; payload starts with a 4-byte
connection id), and kiln's frames come back on stdin after the request line.
"""
import json, os, selectors, signal, socket, struct, subprocess, sys, threading, time

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
PROXY = "http://127.0.0.1:3128"
CA_PATH = "/tmp/kiln-egress-ca.pem"
out = sys.stdout.buffer


def frame(kind, data, flush=True):
    out.write(kind + struct.pack(">I", len(data)) + data)
    if flush:
        out.flush()


def oom_kills():
    # cgroup v1 and v2 both count OOM kills in this box
    for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            pass
    return 0


listener = socket.socket()
listener.bind(("127.0.0.1", 3128))
listener.listen(64)
listener.setblocking(False)

env = dict(os.environ)
ca = env.pop("KILN_EGRESS_CA", None)
env.update(HTTP_PROXY=PROXY, HTTPS_PROXY=PROXY, http_proxy=PROXY, https_proxy=PROXY,
           NO_PROXY="localhost,127.0.0.1,::1", no_proxy="localhost,127.0.0.1,::1")
if ca:
    with open(CA_PATH, "w") as f:
        f.write(ca)
    # Every HTTPS connection goes through kiln's proxy, which presents certificates of this CA.
    env.update(SSL_CERT_FILE=CA_PATH, REQUESTS_CA_BUNDLE=CA_PATH, CURL_CA_BUNDLE=CA_PATH)

req_r, req_w = os.pipe()
res_r, res_w = os.pipe()
child = subprocess.Popen(
    [sys.executable, "-u", HARNESS, str(req_r), str(res_w)],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    pass_fds=(req_r, res_w), cwd="/mnt/req", env=env,
)
os.close(req_r)
os.close(res_w)
# The code may signal PID 1 (this wrapper): only now, with the harness started on default handlers, ignore them.
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
    signal.signal(sig, signal.SIG_IGN)
oom_before = oom_kills()

inbound = b""
while b"\n" not in inbound:
    chunk = os.read(0, 65536)
    if not chunk:
        sys.exit(0)  # kiln went away before sending a request
    inbound += chunk
line, _, inbound = inbound.partition(b"\n")
request = json.loads(line)
# Backstop for the host-side deadline, should kiln itself be gone: the box ends itself.
hard_deadline = time.monotonic() + request.get("deadline_ms", 300_000) / 1000 + 5
with os.fdopen(req_w, "wb") as pipe:  # the harness is already reading: no deadlock
    pipe.write(line + b"\n")


def feed_stdin():
    try:
        child.stdin.write(request.get("stdin", "").encode("utf-8", "replace"))
    except OSError:
        pass  # the user's code closed its stdin early: fine
    finally:
        try:
            child.stdin.close()
        except OSError:
            pass


threading.Thread(target=feed_stdin, daemon=True).start()

channels = {}  # connection id -> socket
half_closed = {}  # connection id -> which sides are done: "code" and/or "kiln"
next_id = 1


def close_channel(cid):
    conn = channels.pop(cid, None)
    half_closed.pop(cid, None)
    if conn is not None:
        try:
            sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()


def side_done(cid, side):
    """A connection is closed once both the code and kiln are done with it."""
    done = half_closed.setdefault(cid, set())
    done.add(side)
    if len(done) == 2:
        close_channel(cid)


def from_kiln(data):
    """Frames kiln sent for the tunnelled connections."""
    global inbound
    inbound += data
    while len(inbound) >= 9:
        kind, length = inbound[:1], struct.unpack(">I", inbound[1:5])[0]
        if len(inbound) < 5 + length:
            return
        cid, payload, inbound = struct.unpack(">I", inbound[5:9])[0], inbound[9:5 + length], inbound[5 + length:]
        conn = channels.get(cid)
        if conn is None:
            continue
        try:
            if kind == b"d":
                conn.sendall(payload)
            elif kind == b"f":
                conn.shutdown(socket.SHUT_WR)
                side_done(cid, "kiln")
        except OSError:
            close_channel(cid)
            frame(b"f", struct.pack(">I", cid))


sel = selectors.DefaultSelector()
sel.register(child.stdout, selectors.EVENT_READ, b"o")
sel.register(child.stderr, selectors.EVENT_READ, b"e")
sel.register(os.fdopen(res_r, "rb", buffering=0), selectors.EVENT_READ, b"r")
sel.register(0, selectors.EVENT_READ, b"k")  # from kiln; EOF here means kiln is gone
sel.register(listener, selectors.EVENT_READ, b"l")
from_kiln(b"")
result = b""
open_pipes = 3
while open_pipes:
    events = sel.select(timeout=0.05)
    if time.monotonic() > hard_deadline:
        os._exit(1)
    if not events:
        # Background processes the code started may hold the pipes open forever:
        # once the harness has exited, stop at the first quiet 50 ms.
        if child.poll() is not None:
            break
        continue
    for key, _ in events:
        kind = key.data
        if kind == b"l":
            try:
                conn, _ = listener.accept()
            except OSError:
                continue  # out of file descriptors: the code's connection waits or fails, the box goes on
            conn.settimeout(5)  # a client that stops reading must not stall the box's output for long
            cid, next_id = next_id, next_id + 1
            channels[cid] = conn
            sel.register(conn, selectors.EVENT_READ, cid)
            frame(b"c", struct.pack(">I", cid))
            continue
        if isinstance(kind, int):  # a tunnelled connection of the code's
            if kind not in channels:
                continue  # closed earlier in this same batch of events
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if data:
                frame(b"d", struct.pack(">I", kind) + data)
            else:
                sel.unregister(key.fileobj)  # half-closed: kiln may still answer
                frame(b"f", struct.pack(">I", kind))
                side_done(kind, "code")
            continue
        data = os.read(key.fileobj if kind == b"k" else key.fileobj.fileno(), 65536)
        if kind == b"k":
            if not data:
                os._exit(1)  # PID 1 exits: the kernel ends every process in the box
            from_kiln(data)
        elif not data:
            sel.unregister(key.fileobj)
            open_pipes -= 1
        elif kind == b"r":
            result += data
        else:
            frame(kind, data)

# A function's result is the harness's last word, written after it closed stdout and stderr, and it
# exits 0 right after: answer without waiting for its process to wind down.
code = 0 if result and request.get("mode") == "function" else child.wait()
if result:
    frame(b"r", result, flush=False)  # one write with the exit frame: one wake-up for kiln, not two
frame(b"x", json.dumps({
    "exit_code": code if code >= 0 else 128 - code,
    # an OOM kill is SIGKILL; count it only when the box's OOM counter rose too
    "oom": code == -signal.SIGKILL and oom_kills() > oom_before,
}).encode())
