"""kiln wrapper: PID 1 of every sandbox container, whatever the language.

    python3 -I -S /opt/kiln/wrapper.py <harness command...>

(-I -S: the standard library only, whatever the environment says; it starts faster.)

It is Python in every image because it must react fast: on this path each
millisecond counts, and a Node wrapper spends one or two on code it runs for
the first time (V8 compiles lazily), where CPython answers in about 0.1 ms.

The protocol it speaks, with kiln on the container's stdin and stdout and with
the harness on four pipes, is written down once, at the top of
src/sandbox/box-protocol.ts; the frame kinds and their limits are the table there.
In short: it starts the harness (which will run the user's code) before any
request arrives, appending four fd numbers to its command: the container's stdin,
lent to it; the result pipe; the "taken" pipe; and the "go" pipe, on which the
wrapper lets it run the code once kiln has been told the request was taken. The
harness reads the one request line itself (one process wake-up less than
relaying it), closes its copy of stdin, and says on the taken pipe what the
wrapper needs (mode, deadline, the code's stdin). Only then does the wrapper
read stdin. Before that, once warm, the harness says "ready" there, which the
wrapper passes on to kiln as the box's first frame (k, empty).

It relays what the harness prints as frames on stdout: kind byte + 4-byte
big-endian length + payload. Printed text is always wrapped in o/e frames, so
it can never pose as a result (r), which comes from a pipe the user's prints
never reach. Egress: the box has no network. HTTP(S)_PROXY points the code at a
listener on 127.0.0.1:3128 here; each connection to it is tunnelled to kiln's
proxy as c/d/f frames, and kiln's d/f frames come back on stdin after the
request line. kiln sends nothing after the request line until the box opens a
connection, so the harness never reads past the line.
"""
# No json here: importing it (and the re module under it) costs every box about 10 ms of CPU at start.
import os, select, selectors, signal, socket, struct, subprocess, sys, threading, time

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


def proxy_listener():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 3128))
    listener.listen(64)
    listener.setblocking(False)
    return listener


def harness_env():
    """The harness's environment: the box's, pointed at the in-box proxy (and kiln's CA, written out)."""
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
    return env


def start_harness(command, env):
    """Starts the harness with its four fds; returns it, the result and taken pipes' read ends, and the go pipe's write end."""
    request_fd = os.dup(0)
    res_r, res_w = os.pipe()
    taken_r, taken_w = os.pipe()
    # The harness runs no code before this pipe says go: by then kiln has been told the request was taken.
    go_r, go_w = os.pipe()
    child = subprocess.Popen(
        command + [str(request_fd), str(res_w), str(taken_w), str(go_r)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        pass_fds=(request_fd, res_w, taken_w, go_r), cwd="/mnt/req", env=env,
    )
    for fd in (request_fd, res_w, taken_w, go_r):
        os.close(fd)
    return child, res_r, taken_r, go_w


def await_request(child, taken_r, go_w):
    """What the harness took of the request: "<mode>\\n<deadline ms>\\n<the code's stdin>" (empty when it
    died on the request). Ends the box when the harness ended before it was even ready."""
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
    return taken


def feed_stdin(child, data):
    try:
        child.stdin.write(data)
    except OSError:
        pass  # the user's code closed its stdin early: fine
    finally:
        try:
            child.stdin.close()
        except OSError:
            pass


class Tunnel:
    """The code's connections to the in-box proxy port, each carried to kiln as frames under an id."""

    def __init__(self, sel):
        self.sel = sel
        self.channels = {}  # connection id -> socket
        self.half_closed = {}  # connection id -> which sides are done: "code" and/or "kiln"
        self.next_id = 1
        self.inbound = b""  # what kiln sent that is not a whole frame yet

    def close_channel(self, cid):
        conn = self.channels.pop(cid, None)
        self.half_closed.pop(cid, None)
        if conn is not None:
            try:
                self.sel.unregister(conn)
            except (KeyError, ValueError):
                pass
            conn.close()

    def side_done(self, cid, side):
        """A connection is closed once both the code and kiln are done with it."""
        done = self.half_closed.setdefault(cid, set())
        done.add(side)
        if len(done) == 2:
            self.close_channel(cid)

    def from_kiln(self, data):
        """Frames kiln sent for the tunnelled connections."""
        self.inbound += data
        while len(self.inbound) >= 9:
            inbound = self.inbound
            kind, length = inbound[:1], struct.unpack(">I", inbound[1:5])[0]
            if len(inbound) < 5 + length:
                return
            cid, payload, self.inbound = struct.unpack(">I", inbound[5:9])[0], inbound[9:5 + length], inbound[5 + length:]
            conn = self.channels.get(cid)
            if conn is None:
                continue
            try:
                if kind == b"d":
                    conn.sendall(payload)
                elif kind == b"f":
                    conn.shutdown(socket.SHUT_WR)
                    self.side_done(cid, "kiln")
            except OSError:
                self.close_channel(cid)
                frame(b"f", struct.pack(">I", cid))

    def accept(self, listener):
        """The code opened a connection to the proxy port."""
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # out of file descriptors: the code's connection waits or fails, the box goes on
        conn.settimeout(5)  # a client that stops reading must not stall the box's output for long
        cid, self.next_id = self.next_id, self.next_id + 1
        self.channels[cid] = conn
        self.sel.register(conn, selectors.EVENT_READ, cid)
        frame(b"c", struct.pack(">I", cid))

    def from_code(self, cid, conn):
        """The code sent on (or half-closed) its connection `cid`."""
        if cid not in self.channels:
            return  # closed earlier in this same batch of events
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if data:
            frame(b"d", struct.pack(">I", cid) + data)
        else:
            self.sel.unregister(conn)  # half-closed: kiln may still answer
            frame(b"f", struct.pack(">I", cid))
            self.side_done(cid, "code")


class Result:
    """The harness's last word on the result pipe: "<length>\\n<payload>"."""

    def __init__(self):
        self.data = bytearray()
        self.at = None  # (where the payload starts, its length), once the header is in
        self.done = False  # all of it is in: not EOF, which a process the code forked without exec may hold off

    def add(self, data):
        self.data += data
        self.done = self.complete()

    def complete(self):
        if self.at is None:
            newline = self.data.find(b"\n", 0, 24)
            if newline <= 0 or not self.data[:newline].isdigit():
                return False
            self.at = (newline + 1, int(self.data[:newline]))
        start, length = self.at
        return len(self.data) - start >= length

    def payload(self):
        """The payload, or None: the harness ended without its last word."""
        if not self.complete():
            return None
        start, length = self.at
        return bytes(self.data[start:start + length])


def relay(child, res_r, listener, tunnel, hard_deadline):
    """Relays the harness's output as frames, and the tunnel both ways, until its pipes close (or go
    quiet after its last word); returns what it said on the result pipe."""
    sel = tunnel.sel
    sel.register(child.stdout, selectors.EVENT_READ, b"o")
    sel.register(child.stderr, selectors.EVENT_READ, b"e")
    sel.register(os.fdopen(res_r, "rb", buffering=0), selectors.EVENT_READ, b"r")
    sel.register(0, selectors.EVENT_READ, b"k")  # from kiln; EOF here means kiln is gone
    sel.register(listener, selectors.EVENT_READ, b"l")
    result = Result()
    open_pipes = 3
    while open_pipes:
        events = sel.select(timeout=0.05)
        if time.monotonic() > hard_deadline:
            os._exit(1)
        if not events:
            # Background processes the code started may hold the pipes open forever: once the harness
            # has said its last word (or exited), stop at the first quiet 50 ms.
            if result.done or child.poll() is not None:
                break
            continue
        for key, _ in events:
            kind = key.data
            if kind == b"l":
                tunnel.accept(listener)
                continue
            if isinstance(kind, int):  # a tunnelled connection of the code's
                tunnel.from_code(kind, key.fileobj)
                continue
            data = os.read(key.fileobj if kind == b"k" else key.fileobj.fileno(), 65536)
            if kind == b"k":
                if not data:
                    os._exit(1)  # PID 1 exits: the kernel ends every process in the box
                tunnel.from_kiln(data)
            elif not data:
                sel.unregister(key.fileobj)
                open_pipes -= 1
            elif kind == b"r":
                result.add(data)
            else:
                frame(kind, data)
    return result


def wait_for_harness(child, tunnel, hard_deadline):
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
            tunnel.from_kiln(data)


def main():
    listener = proxy_listener()
    child, res_r, taken_r, go_w = start_harness(sys.argv[1:], harness_env())
    # The code may signal PID 1 (this wrapper): only now, with the harness started on default handlers, ignore them.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    oom_before = oom_kills()
    taken = await_request(child, taken_r, go_w)
    # Nothing taken when the harness died on the request (a body too big for its memory, say): what it
    # printed and how it ended are then relayed as for any run.
    mode, _, rest = taken.partition(b"\n")
    deadline_ms, _, stdin_data = rest.partition(b"\n")
    # Backstop for the host-side deadline, should kiln itself be gone: the box ends itself.
    hard_deadline = time.monotonic() + (int(deadline_ms) if deadline_ms.isdigit() else 300_000) / 1000 + 5
    if stdin_data:  # a thread, so that a code that never reads its stdin cannot block the wrapper
        threading.Thread(target=feed_stdin, args=(child, stdin_data), daemon=True).start()
    else:
        child.stdin.close()

    tunnel = Tunnel(selectors.DefaultSelector())
    # The result is the harness's last word, written after it closed stdout and stderr: answer without
    # waiting for its process to wind down. A function's run ends 0; a script reports its exit status.
    result = relay(child, res_r, listener, tunnel, hard_deadline).payload()
    if result is not None and mode == b"function":
        code = 0
    else:
        status = (result or b"").split(b" ")
        code = int(status[1]) & 0xFF if len(status) == 2 and status[0] == b"exit" and status[1].isdigit() else wait_for_harness(child, tunnel, hard_deadline)
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


if __name__ == "__main__":
    main()
