"""kiln wrapper, session mode: processes kiln starts in a session box beside its harness.

A session's calls run one at a time through the harness; these run at once with them and with each
other (E2B's commands: a server left running while code is executed, its output followed, its
stdin written to, signalled). The frames (src/sandbox/box-protocol.ts) each start with the
process's 4-byte id, which kiln chose:

    kiln's p  <id><JSON {"argv":[...],"env":{...},"cwd":path,"stdin":bool}>   start it
    box's  P  <id><JSON {"pid":n} or {"error":text}>                          started (or not)
    box's  O  <id><bytes>, E <id><bytes>                                       its stdout, its stderr
    box's  X  <id><JSON {"exit_code":n,"signal":n|null}>                       ended; all its output is out
    kiln's n  <id><bytes>                                                      its stdin (empty: closed)
    kiln's s  <id><JSON {"signal":n}>                                          a signal to its process group

Each leads a process group of its own, so a signal reaches what it started. What kiln writes to a
stdin that is not being read waits here, bounded (STDIN_PENDING); past the bound the stdin is closed.
"""
import errno, json, os, selectors, signal, struct, subprocess

from __main__ import frame, restore_signals

MAX_LIVE = 64  # processes running at once (the box's pids limit bounds what they start)
STDIN_PENDING = 1 << 20
ID = struct.Struct(">I")


class Proc:
    def __init__(self, popen, pipes):
        self.popen = popen
        self.pipes = pipes  # open output pipes: stdout, stderr
        self.status = None  # its exit code (waitpid's), once reaped
        self.pidfd = None
        self.pending = b""  # stdin not written yet
        self.close_stdin = False


class Procs:
    def __init__(self, sel, env, root):
        self.sel, self.env, self.root = sel, env, root
        self.procs = {}  # id -> Proc
        self.by_pid = {}  # pid -> id

    def take(self, kind, payload):
        """One of kiln's p, n, s frames."""
        if len(payload) < 4:
            return
        pid_id, body = ID.unpack(payload[:4])[0], payload[4:]
        if kind == b"p":
            self.start(pid_id, body)
        elif kind == b"n":
            self.feed(pid_id, body)
        elif kind == b"s":
            self.signal(pid_id, body)

    def start(self, pid_id, body):
        try:
            spec = json.loads(body)
            argv, env, cwd = spec["argv"], spec.get("env") or {}, spec.get("cwd") or self.root
            if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
                raise ValueError("argv is a list of strings")
            if len(self.procs) >= MAX_LIVE:
                raise OSError(errno.EAGAIN, "too many processes running in this session (%d)" % MAX_LIVE)
            popen = subprocess.Popen(
                # PID 1 ignores the signals the code could send it; its processes must not inherit that
                argv, cwd=cwd, env=dict(self.env, **env), start_new_session=True, preexec_fn=restore_signals,
                stdin=subprocess.PIPE if spec.get("stdin") else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
        except (OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError) as exc:
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            frame(b"P", ID.pack(pid_id) + json.dumps({"error": message}).encode(), flush=False)
            return
        proc = Proc(popen, [popen.stdout, popen.stderr])
        for pipe, kind in ((popen.stdout, b"O"), (popen.stderr, b"E")):
            os.set_blocking(pipe.fileno(), False)
            self.sel.register(pipe, selectors.EVENT_READ, (pid_id, kind))
        if popen.stdin is not None:
            os.set_blocking(popen.stdin.fileno(), False)
        try:
            # its end wakes the loop at once (a pidfd is readable once it has exited); without one, the loop's poll finds it
            proc.pidfd = os.pidfd_open(popen.pid)
            self.sel.register(proc.pidfd, selectors.EVENT_READ, (pid_id, b"X"))
        except (AttributeError, OSError):
            proc.pidfd = None
        self.procs[pid_id] = proc
        self.by_pid[popen.pid] = pid_id
        frame(b"P", ID.pack(pid_id) + b'{"pid":%d}' % popen.pid, flush=False)

    def read(self, key):
        """A process's stdout or stderr has something (or ended), or it has exited (its pidfd)."""
        pid_id, kind = key.data
        proc = self.procs.get(pid_id)
        if kind == b"X":
            return  # step() reaps it, after this batch's reads

        try:
            data = os.read(key.fileobj.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            frame(kind, ID.pack(pid_id) + data, flush=False)
        elif proc is not None:
            self.close_pipe(proc, key.fileobj)

    def close_pipe(self, proc, pipe):
        try:
            self.sel.unregister(pipe)
        except (KeyError, ValueError):
            pass
        pipe.close()
        if pipe in proc.pipes:
            proc.pipes.remove(pipe)

    def feed(self, pid_id, data):
        proc = self.procs.get(pid_id)
        if proc is None or proc.popen.stdin is None or proc.popen.stdin.closed:
            return
        if not data:
            proc.close_stdin = True
        elif len(proc.pending) + len(data) > STDIN_PENDING:
            proc.pending, proc.close_stdin = b"", True  # it does not read: what it was sent is dropped, and it reads EOF
        else:
            proc.pending += data
        self.write(proc)

    def write(self, proc):
        stdin = proc.popen.stdin
        if stdin is None or stdin.closed:
            return
        try:
            while proc.pending:
                proc.pending = proc.pending[os.write(stdin.fileno(), proc.pending):]
        except BlockingIOError:
            return  # the rest goes once it reads (step)
        except OSError:
            proc.pending, proc.close_stdin = b"", True  # it closed its stdin
        if proc.close_stdin and not proc.pending:
            try:
                stdin.close()
            except OSError:
                pass

    def signal(self, pid_id, body):
        proc = self.procs.get(pid_id)
        try:
            sig = int(json.loads(body)["signal"])
        except (ValueError, KeyError, TypeError, OverflowError):
            return
        if proc is None or proc.status is not None or not 0 < sig < signal.NSIG:
            return
        try:
            os.killpg(proc.popen.pid, sig)
        except OSError:
            pass

    def reaped(self, pid, status):
        """wrapper_session's reap() collected the exit status of one of these: it is theirs."""
        pid_id = self.by_pid.get(pid)
        if pid_id is not None:
            self.procs[pid_id].status = os.waitstatus_to_exitcode(status)
            return True
        return False

    def step(self):
        """Each batch of events: stdin that waited goes on; ended processes report, their output out first."""
        for pid_id, proc in list(self.procs.items()):
            if proc.pending or proc.close_stdin:
                self.write(proc)
            if proc.status is None:
                try:
                    pid, status = os.waitpid(proc.popen.pid, os.WNOHANG)
                except ChildProcessError:
                    pid, status = 0, 0
                if pid:
                    proc.status = os.waitstatus_to_exitcode(status)
            if proc.status is None:
                continue
            proc.popen.returncode = proc.status  # reaped here: Popen must not wait for it again
            if proc.pidfd is not None:
                self.sel.unregister(proc.pidfd)
                os.close(proc.pidfd)
            # Ended: what is in its pipes now goes before X; a process it left running that holds them does not hold X up.
            for pipe in list(proc.pipes):
                kind = b"O" if pipe is proc.popen.stdout else b"E"
                for _ in range(64):
                    try:
                        data = os.read(pipe.fileno(), 65536)
                    except (BlockingIOError, OSError):
                        break
                    if not data:
                        break
                    frame(kind, ID.pack(pid_id) + data, flush=False)
                self.close_pipe(proc, pipe)
            if proc.popen.stdin is not None and not proc.popen.stdin.closed:
                try:
                    proc.popen.stdin.close()
                except OSError:
                    pass
            code = proc.status
            ended = {"exit_code": code if code >= 0 else 128 - code, "signal": -code if code < 0 else None}
            frame(b"X", ID.pack(pid_id) + json.dumps(ended).encode(), flush=False)
            del self.procs[pid_id]
            self.by_pid.pop(proc.popen.pid, None)
