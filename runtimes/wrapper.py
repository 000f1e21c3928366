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
request arrives, appending three fd numbers to its command: the request pipe,
the result pipe and the ready pipe. Once warm, the harness says "ready" on the
last, which the wrapper passes on to kiln as the box's first frame (k, empty).
kiln then writes one request: a header line "<mode> <deadline ms or -> <request
bytes> <stdin bytes> <output files> <output bytes>", the request line (JSON, for
the harness), and the code's stdin. The wrapper reads all of it, tells kiln the request was taken (t), and
only then hands the line to the harness: no code runs before kiln knows.

It relays what the harness prints as frames on stdout: kind byte + 4-byte
big-endian length + payload. Printed text is always wrapped in o/e frames, so
it can never pose as a result (r), which comes from a pipe the user's prints
never reach. Egress: the box has no network. HTTP(S)_PROXY points the code at a
listener on 127.0.0.1:3128 here; each connection to it is tunnelled to kiln's
proxy as c/d/f frames, and kiln's d/f frames come back on stdin after the
request line. kiln sends nothing after the request line until the box opens a
connection, so the harness never reads past the line.

A request of mode `session` makes a box that lives across calls (the Session
class of wrapper_session.py, beside this file, imported only then): the request pipe stays open, kiln's q frames are calls, each
answered by an r frame; i interrupts the running call, z kills the harness
(and all it started), and a harness that ends is replaced (h, then its r).
"""
# No json here: importing it (and the re module under it) costs every box about 10 ms of CPU at start.
import os, select, selectors, signal, socket, stat, struct, subprocess, sys, threading, time

PROXY = "http://127.0.0.1:3128"
# What a one-shot run writes here comes back as files of its execution (w frames, before r and x).
OUTPUT_DIR = "/mnt/req/out"
CA_PATH = "/tmp/kiln-egress-ca.pem"
out = sys.stdout.buffer
# What PID 1 ignores once the harness has started: the code may send them to it.
SHIELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE)


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


def restore_signals():
    """A session's fresh harness starts on default handlers, as the first did: this wrapper, its
    parent, ignores the SHIELD by then, and an ignored signal stays ignored across exec."""
    for sig in SHIELD:
        signal.signal(sig, signal.SIG_DFL)


def start_harness(command, env, session=False):
    """Starts the harness with its three fds; returns it, the request pipe's write end, and the result
    and ready pipes' read ends. A session's fresh harness (session=True) leads a process group of its own."""
    req_r, req_w = os.pipe()
    res_r, res_w = os.pipe()
    ready_r, ready_w = os.pipe()
    child = subprocess.Popen(
        command + [str(req_r), str(res_w), str(ready_w)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        pass_fds=(req_r, res_w, ready_w), cwd="/mnt/req", env=env,
        **({"start_new_session": True, "preexec_fn": restore_signals} if session else {}),
    )
    for fd in (req_r, res_w, ready_w):
        os.close(fd)
    return child, req_w, res_r, ready_r


def await_ready(child, ready_r):
    """Sends k once the harness is warm and waiting (kiln's pool hands out only boxes that sent it).
    Ends the box when the harness ended before it was even ready: nothing was asked of this box."""
    with os.fdopen(ready_r, "rb") as pipe:
        ready = pipe.readline() == b"ready\n"
    if not ready:
        # Its last words go to the box's own stderr, where kiln's pool logs them.
        sys.stderr.buffer.write(child.stderr.read()[-4096:])
        sys.exit(1)
    frame(b"k", b"")


def read_request():
    """kiln's request: (mode, deadline in ms or None, the request line, the code's stdin, what followed
    them). Reads to the end of the header's lengths; EOF before that means kiln went away."""
    data = bytearray()
    head = None
    size = 65536  # a hello's request fits; a larger first read costs an mmap and a munmap more
    while True:
        chunk = os.read(0, size)
        if not chunk:
            os._exit(0)
        data += chunk
        size = 1 << 20
        if head is None and b"\n" in data:
            line, _, rest = bytes(data).partition(b"\n")
            fields = line.split(b" ")
            if len(fields) != 6 or not all(f.isdigit() for f in fields[2:]):
                sys.stderr.buffer.write(b"kiln wrapper: a malformed request header\n")
                os._exit(1)
            head, data = fields, bytearray(rest)
        if head is not None and len(data) >= int(head[2]) + int(head[3]):
            line_end = int(head[2])
            stdin_end = line_end + int(head[3])
            deadline = int(head[1]) if head[1].isdigit() else None
            limits = (int(head[4]), int(head[5]))
            return head[0], deadline, bytes(data[:line_end]), bytes(data[line_end:stdin_end]), bytes(data[stdin_end:]), limits


def output_dir():
    """Makes the output directory (before any request: off the run's path); what identifies it as made."""
    try:
        os.mkdir(OUTPUT_DIR)
        st = os.stat(OUTPUT_DIR)
        return (st.st_ino, st.st_mtime_ns)
    except OSError:
        return None


def send_outputs(made, max_files, max_bytes):
    """The regular files under OUTPUT_DIR as w frames "<path>\\0<bytes>" (a directory's names sorted, then
    its subdirectories'), at most max_files
    and max_bytes in all, each whole or not at all; then a w frame with no path if any was left out.
    Symlinks, FIFOs and devices are skipped (never followed, never opened to block). Nothing to do,
    at the cost of one stat, when the directory is as it was made (an entry added changes its mtime)."""
    try:
        st = os.stat(OUTPUT_DIR)
    except OSError:
        return
    if max_files == 0 or (st.st_ino, st.st_mtime_ns) == made:
        return
    sent, left, more = 0, max_bytes, False
    for root, dirs, files in os.walk(OUTPUT_DIR):  # symlinked directories are listed, not entered
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    continue
                if sent == max_files or info.st_size > left:
                    more = True
                    continue
                data = os.read(fd, info.st_size + 1) if info.st_size else b""
                while len(data) <= info.st_size and len(data) <= left:  # a short read, or it grew
                    chunk = os.read(fd, info.st_size + 1 - len(data) or 1)
                    if not chunk:
                        break
                    data += chunk
                if len(data) > left:
                    more = True
                    continue
                rel = os.path.relpath(path, OUTPUT_DIR).encode("utf-8", "surrogateescape")
                frame(b"w", rel + b"\0" + data, flush=False)
                sent, left = sent + 1, left - len(data)
            except OSError:
                continue
            finally:
                os.close(fd)
    if more:
        frame(b"w", b"\0", flush=False)


def hand_over(req_w, line):
    """The request line to the harness, which runs it as soon as it is in."""
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(req_w, view):]
    except OSError:
        pass  # the harness died on the request (a body too big for its memory): its end is relayed as for any run
    finally:
        os.close(req_w)


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
        self.session = None  # a session box's Session, which takes kiln's q, i and z frames

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
        """Frames kiln sent: for the tunnelled connections (d, f), and to a session box (q, i, z)."""
        self.inbound += data
        while len(self.inbound) >= 5:
            inbound = self.inbound
            kind, length = inbound[:1], struct.unpack(">I", inbound[1:5])[0]
            if len(inbound) < 5 + length:
                return
            payload, self.inbound = inbound[5:5 + length], inbound[5 + length:]
            if kind == b"q" or kind == b"i" or kind == b"z":
                if self.session is not None:  # a one-shot box has no calls to take
                    self.session.take(kind, payload)
                continue
            if kind == b"p" or kind == b"n" or kind == b"s":
                if self.session is not None:  # a session's processes (wrapper_procs.py)
                    self.session.procs.take(kind, payload)
                continue
            if len(payload) < 4:
                continue  # a tunnel frame without its connection id
            cid, payload = struct.unpack(">I", payload[:4])[0], payload[4:]
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
        # kiln's answers come in several frames: each goes out at once, not held for an ACK the client
        # delays (Nagle against delayed ACK cost every proxied request and tool call ~40 ms)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


def watch(child, res_r, listener, tunnel):
    """Registers what the relay reads, before the request comes: under gVisor each system call costs
    tens of microseconds, so the run's path makes as few as it can."""
    sel = tunnel.sel
    watch_harness(sel, child, os.fdopen(res_r, "rb", buffering=0))
    sel.register(0, selectors.EVENT_READ, b"k")  # from kiln; EOF here means kiln is gone
    sel.register(listener, selectors.EVENT_READ, b"l")


def watch_harness(sel, child, result_pipe):
    """The harness's stdout, stderr and result pipe, each under the kind of what it carries."""
    sel.register(child.stdout, selectors.EVENT_READ, b"o")
    sel.register(child.stderr, selectors.EVENT_READ, b"e")
    sel.register(result_pipe, selectors.EVENT_READ, b"r")


def relay(child, listener, tunnel, hard_deadline):
    """Relays the harness's output as frames, and the tunnel both ways, until its pipes close (or go
    quiet after its last word); returns what it said on the result pipe. The output of the batch the
    pipes closed in is left unflushed: it goes out in one write with the result and exit frames."""
    sel = tunnel.sel
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
        ended = []
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
                ended.append(key.fileobj)
                open_pipes -= 1
            elif kind == b"r":
                result.add(data)
            else:
                frame(kind, data, flush=False)
        if open_pipes:
            out.flush()  # output streams as it comes
            for pipe in ended:
                sel.unregister(pipe)
    return result


def wait_for_harness(child, tunnel, hard_deadline):
    """Its exit status; kiln going away or the deadline passing ends the box instead."""
    out.flush()  # what the relay left for the last frames: it may be a while
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
    env = harness_env()
    child, req_w, res_r, ready_r = start_harness(sys.argv[1:], env)
    # The code may signal PID 1 (this wrapper): only now, with the harness started on default handlers, ignore them.
    for sig in SHIELD:
        signal.signal(sig, signal.SIG_IGN)
    oom_before = oom_kills()
    tunnel = Tunnel(selectors.DefaultSelector())
    watch(child, res_r, listener, tunnel)
    made = output_dir()
    await_ready(child, ready_r)
    mode, deadline_ms, line, stdin_data, early, (max_files, max_bytes) = read_request()
    # kiln learns the code is about to run, before it can: should this box die from here on, its code
    # may have done it (under gVisor the code can kill PID 1), and that is the run's failure, not kiln's.
    frame(b"t", b"")
    if mode == b"session":
        # A box that lives across calls: its own loop from here on (nothing below is its path).
        # (-I keeps the script's own directory off the path: the session loop is beside this file)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from wrapper_session import Session

        try:
            os.rmdir(OUTPUT_DIR)  # a session's files are its workspace's, read through kiln's file routes
        except OSError:
            pass
        return Session(sys.argv[1:], env, line, tunnel, listener, oom_before).serve(child, req_w, deadline_ms, early)
    hand_over(req_w, line)
    # Backstop for the host-side deadline, should kiln itself be gone: the box ends itself.
    hard_deadline = time.monotonic() + (deadline_ms if deadline_ms is not None else 300_000) / 1000 + 5
    if stdin_data:  # a thread, so that a code that never reads its stdin cannot block the wrapper
        threading.Thread(target=feed_stdin, args=(child, stdin_data), daemon=True).start()
    else:
        child.stdin.close()

    if early:
        tunnel.from_kiln(early)  # kiln sends nothing more until the code opens a connection; should it, it is kept
    # The result is the harness's last word, written after it closed stdout and stderr: answer without
    # waiting for its process to wind down. A function's run ends 0; a script reports its exit status.
    result = relay(child, listener, tunnel, hard_deadline).payload()
    if result is not None and mode == b"function":
        code = 0
    else:
        status = (result or b"").split(b" ")
        code = int(status[1]) & 0xFF if len(status) == 2 and status[0] == b"exit" and status[1].isdigit() else wait_for_harness(child, tunnel, hard_deadline)
        result = None  # a script has no result
    send_outputs(made, max_files, max_bytes)
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
