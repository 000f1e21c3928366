"""kiln wrapper: PID 1 of every sandbox container, whatever the language.

    python3 -I -S /opt/kiln/wrapper.py <harness command...>

(-I -S: the standard library only, whatever the environment says; it starts faster.)

It is Python in every image because it must react fast: on this path each
millisecond counts, and a Node wrapper spends one or two on code it runs for
the first time (V8 compiles lazily), where CPython answers in about 0.1 ms.

It starts the harness (which will run the user's code) before any request
arrives, appending four fd numbers to its command: the container's stdin,
lent to it; the result pipe; the "taken" pipe; and the "go" pipe, on which the
wrapper lets it run the code once kiln has been told the request was taken. The harness reads the one
request line itself (one process wake-up less than relaying it), closes its
copy of stdin, and says on the taken pipe what the wrapper needs (mode,
deadline, the code's stdin). Only then does the wrapper read stdin. Before
that, once warm, the harness says "ready" there, which the wrapper passes on
to kiln as the box's first frame (k, empty).

It relays what the harness prints as frames on stdout: kind byte + 4-byte
big-endian length + payload. Kinds: o = stdout, e = stderr, r = result (from
a pipe the user's prints never reach), x = exit status, k = ready, t = the
harness took the request (so a box that dies after it died running code). Printed
text is always wrapped in o/e frames, so it can never pose as a result.

Egress: the box has no network. HTTP(S)_PROXY points the code at a listener
on 127.0.0.1:3128 here; each connection to it is tunnelled to kiln's proxy as
frames (c = opened, d = data, f = closed; payload starts with a 4-byte
connection id), and kiln's frames come back on stdin after the request line.
kiln sends nothing after the request line until the box opens a connection, so
the harness never reads past the line.
"""
# No json here: importing it (and the re module under it) costs every box about 10 ms of CPU at start.
import os, select, selectors, signal, socket, struct, subprocess, sys, threading, time

HARNESS = sys.argv[1:]
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
# a build box sends loopback to kiln's proxy too: a package mirror on the host's 127.0.0.1 is one
no_proxy = "" if env.pop("KILN_PROXY_LOOPBACK", None) == "1" else "localhost,127.0.0.1,::1"
env.update(HTTP_PROXY=PROXY, HTTPS_PROXY=PROXY, http_proxy=PROXY, https_proxy=PROXY, NO_PROXY=no_proxy, no_proxy=no_proxy,
           NODE_USE_ENV_PROXY="1")  # Node's fetch, http and https honour the proxy variables
if ca:
    with open(CA_PATH, "w") as f:
        f.write(ca)
    # Every HTTPS connection goes through kiln's proxy, which presents certificates of this CA.
    env.update(SSL_CERT_FILE=CA_PATH, REQUESTS_CA_BUNDLE=CA_PATH, CURL_CA_BUNDLE=CA_PATH, NODE_EXTRA_CA_CERTS=CA_PATH)

request_fd = os.dup(0)
res_r, res_w = os.pipe()
taken_r, taken_w = os.pipe()
# The harness runs no code before this pipe says go: by then kiln has been told the request was taken.
go_r, go_w = os.pipe()
child = subprocess.Popen(
    HARNESS + [str(request_fd), str(res_w), str(taken_w), str(go_r)],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    pass_fds=(request_fd, res_w, taken_w, go_r), cwd="/mnt/req", env=env,
)
for fd in (request_fd, res_w, taken_w, go_r):
    os.close(fd)
# The code may signal PID 1 (this wrapper): only now, with the harness started on default handlers, ignore them.
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
    signal.signal(sig, signal.SIG_IGN)
oom_before = oom_kills()

# The harness says "ready" when it is warm and waiting (kiln's pool hands out only ready boxes), then,
# once it has taken the request line and closed its copy of stdin, what the wrapper needs: stdin is ours.
with os.fdopen(taken_r, "rb") as pipe:
    ready = pipe.readline() == b"ready\n"
    if ready:
        frame(b"k", b"")
    taken = pipe.read()
if taken:
    # kiln learns the code is about to run, before it does: should this box die from here on, its code
    # may have done it (under gVisor the code can kill PID 1), and that is the run's failure, not kiln's
    frame(b"t", b"")
    try:
        os.write(go_w, b"g")
    except OSError:
        pass  # the harness died on the request: its end is relayed as for any run
os.close(go_w)
if not taken and not ready:
    # The harness ended before it was ready: nothing was asked of this box. Its last words go to
    # the box's own stderr, where kiln's pool logs them.
    sys.stderr.buffer.write(child.stderr.read()[-4096:])
    sys.exit(1)
# "<mode>\n<deadline ms>\n<the code's stdin>"; nothing when the harness died on the request (a body
# too big for its memory, say): what it printed and how it ended are then relayed as for any run.
mode, _, rest = taken.partition(b"\n")
deadline_ms, _, stdin_data = rest.partition(b"\n")
inbound = b""
# Backstop for the host-side deadline, should kiln itself be gone: the box ends itself.
hard_deadline = time.monotonic() + (int(deadline_ms) if deadline_ms.isdigit() else 300_000) / 1000 + 5


def feed_stdin(data):
    try:
        child.stdin.write(data)
    except OSError:
        pass  # the user's code closed its stdin early: fine
    finally:
        try:
            child.stdin.close()
        except OSError:
            pass


if stdin_data:  # a thread, so that a code that never reads its stdin cannot block the wrapper
    threading.Thread(target=feed_stdin, args=(stdin_data,), daemon=True).start()
else:
    child.stdin.close()

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
result = bytearray()  # "<length>\n<payload>": the harness's last word
result_at = None  # (where the payload starts, its length), once the header is in
result_done = False  # all of it is in: not EOF, which a process the code forked without exec may hold off


def result_complete():
    global result_at
    if result_at is None:
        newline = result.find(b"\n", 0, 24)
        if newline <= 0 or not result[:newline].isdigit():
            return False
        result_at = (newline + 1, int(result[:newline]))
    start, length = result_at
    return len(result) - start >= length


open_pipes = 3
while open_pipes:
    events = sel.select(timeout=0.05)
    if time.monotonic() > hard_deadline:
        os._exit(1)
    if not events:
        # Background processes the code started may hold the pipes open forever: once the harness
        # has said its last word (or exited), stop at the first quiet 50 ms.
        if result_done or child.poll() is not None:
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
            result_done = result_complete()
        else:
            frame(kind, data)


def wait_for_harness():
    """Its exit status; kiln going away or the deadline passing ends the box instead."""
    while True:
        code = child.poll()
        if code is not None:
            return code
        if time.monotonic() > hard_deadline:
            os._exit(1)
        if select.select([0], [], [], 0.05)[0]:
            data = os.read(0, 65536)
            if not data:
                os._exit(1)
            from_kiln(data)


# The result is the harness's last word, written after it closed stdout and stderr: answer without
# waiting for its process to wind down. A function's run ends 0; a script reports its exit status.
# None: the harness ended without its last word
result = bytes(result[result_at[0]:result_at[0] + result_at[1]]) if result_complete() else None
if result is not None and mode == b"function":
    code = 0
else:
    status = (result or b"").split(b" ")
    code = int(status[1]) & 0xFF if len(status) == 2 and status[0] == b"exit" and status[1].isdigit() else wait_for_harness()
    result = None  # a script has no result
if result is not None:
    frame(b"r", result, flush=False)  # one write with the exit frame: one wake-up for kiln, not two
# an OOM kill is SIGKILL; count it only when the box's OOM counter rose too
oom = code == -signal.SIGKILL and oom_kills() > oom_before
frame(b"x", b'{"exit_code":%d,"oom":%s}' % (code if code >= 0 else 128 - code, b"true" if oom else b"false"))
# kiln answers on this frame, then removes the box once it has stopped (cheaper for the engine than
# killing it). Exiting at once would make the kernel end every process here (freeing their memory)
# while the frame is still on its way out: linger a moment first.
time.sleep(0.05)
