"""kiln wrapper, Python: PID 1 of a sandbox container.

It starts the harness (which will run the user's code) before any request
arrives, then reads exactly one request line from stdin, hands it to the
harness on a private pipe, and relays what the harness prints as frames on
stdout: kind byte + 4-byte big-endian length + payload. Kinds: o = stdout,
e = stderr, r = result (from a pipe the user's prints never reach),
x = exit status. Printed text is always wrapped in o/e frames, so it can
never pose as a result.
"""
import json, os, selectors, signal, struct, subprocess, sys, threading, time

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
out = sys.stdout.buffer


def frame(kind, data):
    out.write(kind + struct.pack(">I", len(data)) + data)
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


req_r, req_w = os.pipe()
res_r, res_w = os.pipe()
child = subprocess.Popen(
    [sys.executable, "-u", HARNESS, str(req_r), str(res_w)],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    pass_fds=(req_r, res_w), cwd="/mnt/req",
)
os.close(req_r)
os.close(res_w)
# The code may signal PID 1 (this wrapper): only now, with the harness started on default handlers, ignore them.
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
    signal.signal(sig, signal.SIG_IGN)
oom_before = oom_kills()

line = sys.stdin.buffer.readline()
if not line:
    sys.exit(0)  # kiln went away before sending a request
request = json.loads(line)
# Backstop for the host-side deadline, should kiln itself be gone: the box ends itself.
hard_deadline = time.monotonic() + request.get("deadline_ms", 300_000) / 1000 + 5
with os.fdopen(req_w, "wb") as pipe:  # the harness is already reading: no deadlock
    pipe.write(line)


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

sel = selectors.DefaultSelector()
sel.register(child.stdout, selectors.EVENT_READ, b"o")
sel.register(child.stderr, selectors.EVENT_READ, b"e")
sel.register(os.fdopen(res_r, "rb", buffering=0), selectors.EVENT_READ, b"r")
sel.register(sys.stdin.buffer.raw, selectors.EVENT_READ, b"k")  # EOF here: kiln is gone
result = b""
quiet_since = None
while len(sel.get_map()) > 1:
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
        data = os.read(key.fileobj.fileno(), 65536)
        if key.data == b"k":
            if not data:
                os._exit(1)  # PID 1 exits: the kernel ends every process in the box
        elif not data:
            sel.unregister(key.fileobj)
        elif key.data == b"r":
            result += data
        else:
            frame(key.data, data)

code = child.wait()
if result:
    frame(b"r", result)
frame(b"x", json.dumps({
    "exit_code": code if code >= 0 else 128 - code,
    # an OOM kill is SIGKILL; count it only when the box's OOM counter rose too
    "oom": code == -signal.SIGKILL and oom_kills() > oom_before,
}).encode())
