"""kiln wrapper, session mode: a box that lives across calls.

wrapper.py (PID 1 of every box) imports this only when a request's mode is `session`, and hands
the box over to Session.serve. The protocol is written down in src/sandbox/box-protocol.ts.
"""
import json, os, selectors, signal, time

# wrapper.py runs as __main__: its frames, harness start and result reader are this mode's too
from __main__ import Result, frame, oom_kills, out, start_harness, watch_harness
from wrapper_procs import Procs

# A session's fresh harness that has not answered its session line by then will not: the box is over.
RESTART_S = 60


def kill_processes(child):
    """SIGKILL for the harness and every process it started."""
    try:
        if os.getpid() == 1:
            # PID 1 reaches every other process of the box this way, whatever group or session the code
            # moved them to (and it never signals itself)
            os.kill(-1, signal.SIGKILL)
        elif os.getpgid(child.pid) == child.pid:
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
    except OSError:
        pass  # gone already


def reap(child, procs=None):
    """Collects the box's orphans: as PID 1 the wrapper inherits the code's background processes
    once their parent is gone, and their zombies would count against the box's pids limit for the
    session's whole life. Keeps the harness's own status, should it be among them, and hands kiln's
    processes' (wrapper_procs) to them."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(status)
        elif procs is not None:
            procs.reaped(pid, status)


class Session:
    """A box that lives across calls (mode `session`). The harness keeps its request pipe open: it
    answers the session line with its first result ({"ready":true}), then each call, one line each
    (kiln's q frames, one at a time), with a result; r frames carry them. kiln's i is SIGINT for the
    harness during a call, its z a SIGKILL for the harness and all it started. A harness that ends,
    whatever ended it, is followed by h (its exit status, as x says it) and a fresh harness, which
    gets the session line again and answers it as r; should that one not get that far, x ends the box.
    The tunnel, the deadline and kiln's going away work as in a one-shot box, in the same loop."""

    def __init__(self, command, env, line, tunnel, listener, oom_before):
        self.command, self.env, self.line = command, env, line
        self.tunnel, self.sel, self.listener = tunnel, tunnel.sel, listener
        self.oom_before = oom_before
        self.calls = []  # kiln's calls the harness has not been given yet: it gets one at a time
        self.kill = False  # kiln said z: done after the batch of events it came in
        self.restarted = 0.0  # when the fresh harness was started
        # kiln's processes beside the harness: the box's environment and the session's own (its line's)
        try:
            session_env = json.loads(line).get("env") or {}
        except (ValueError, AttributeError):
            session_env = {}
        self.procs = Procs(self.sel, dict(env, **session_env), "/mnt/req")
        tunnel.session = self

    def serve(self, child, req_w, deadline_ms, early):
        self.hard_deadline = time.monotonic() + (deadline_ms if deadline_ms is not None else 300_000) / 1000 + 5
        child.stdin.close()  # a call's command gets its stdin from its call; the code reads EOF
        # the pipes watch() registered: stdout, stderr, result
        pipes = [key.fileobj for key in self.sel.get_map().values() if key.data in (b"o", b"e", b"r")]
        self.attach(child, req_w, pipes, "init")
        self.send(self.line)
        if early:
            self.tunnel.from_kiln(early)
        while True:
            self.step()

    def attach(self, child, req_w, pipes, state):
        """Takes on a harness: its process, its request pipe and the pipes it writes."""
        self.child, self.req_w, self.pipes = child, req_w, pipes
        # Non-blocking, so that a result can be preceded by all that the harness printed before it,
        # read until the pipes are empty, without a select() per read.
        for pipe in pipes[:2]:
            os.set_blocking(pipe.fileno(), False)
        self.state = state  # "start" (until ready), "init" (the session line), "idle", "call"
        self.fresh = state == "start"  # a harness started after another ended, until it answers the session line
        self.result = Result()
        self.ready = b""
        self.ended = False
        self.next_poll = 0.0

    def take(self, kind, payload):
        """A frame of kiln's for the session (the tunnel parsed it)."""
        if kind == b"q":
            self.calls.append(payload)
        elif kind == b"i":
            if self.state == "call":  # between calls there is nothing to interrupt
                try:
                    os.kill(self.child.pid, signal.SIGINT)
                except OSError:
                    pass
        else:  # z; a fresh harness, on its way to its first answer, has nothing to kill yet
            self.kill = not self.fresh

    def send(self, data):
        """To the harness's request pipe: the session line, or a call and its newline. The harness
        is waiting for it (it reads whole lines), so the write does not stall for long."""
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.req_w, view):]
        except OSError:
            pass  # the harness is gone: its end is noticed, and relayed as h

    def step(self):
        """One batch of events; then what they lead to: an answer, the next call, a fresh harness."""
        events = self.sel.select(timeout=0.05)
        now = time.monotonic()
        if now > self.hard_deadline:
            os._exit(1)
        for key, _ in events:
            kind = key.data
            if kind == b"l":
                self.tunnel.accept(self.listener)
            elif isinstance(kind, int):  # a tunnelled connection of the code's
                self.tunnel.from_code(kind, key.fileobj)
            elif isinstance(kind, tuple):  # one of kiln's processes (wrapper_procs)
                self.procs.read(key)
            elif kind == b"k":
                data = os.read(0, 65536)
                if not data:
                    os._exit(1)  # kiln is gone: PID 1 exits, and the kernel ends every process in the box
                self.tunnel.from_kiln(data)
            else:
                self.from_harness(kind, key.fileobj)
        if not self.ended and (not events or now >= self.next_poll):
            # An end that closes no pipe (a process the code forked holds them) shows here.
            self.next_poll = now + 0.05
            reap(self.child, self.procs)
            self.ended = self.child.poll() is not None
        self.procs.step()
        while self.result.done and self.answer():
            pass
        if self.kill:
            self.kill = False
            kill_processes(self.child)
            self.ended = True
        elif self.fresh and not self.ended and now > self.restarted + RESTART_S:
            kill_processes(self.child)
            self.ended = True
        if self.ended:
            self.restart()
        elif self.state == "idle" and self.calls:
            self.state = "call"
            self.send(self.calls.pop(0) + b"\n")
        out.flush()  # output streams as it comes

    def from_harness(self, kind, pipe):
        """The harness wrote on (or closed) one of its pipes."""
        try:
            data = os.read(pipe.fileno(), 65536)
        except BlockingIOError:
            return  # drained before its result was answered
        if kind == b"y":
            self.ready += data
            if self.ready == b"ready\n":
                self.forget(pipe)
                self.state = "init"
                self.send(self.line)
            elif not data or b"\n" in self.ready:
                self.ended = True  # ended (or spoke) before it was ready: it never will be
        elif not data:
            self.forget(pipe)
            # Without its result pipe the harness cannot answer: it ended, or the code closed it.
            self.ended = self.ended or kind == b"r"
        elif kind == b"r":
            self.result.add(data)
        else:
            frame(kind, data, flush=False)

    def forget(self, pipe):
        try:
            self.sel.unregister(pipe)
        except (KeyError, ValueError):
            pass

    def drain(self):
        """What the harness's stdout and stderr hold now, as o and e frames: it printed all of it
        before its result (or its end), which kiln must get after it."""
        for pipe, kind in zip(self.pipes, (b"o", b"e")):
            for _ in range(64):  # 4 MiB at most: a process that never stops printing cannot hold the answer up
                try:
                    data = os.read(pipe.fileno(), 65536)
                except (BlockingIOError, ValueError):
                    break
                if not data:
                    self.forget(pipe)
                    break
                frame(kind, data, flush=False)

    def answer(self):
        """The harness's answer to the session line or to a call, as r: its state is idle again. A
        display during a call ({"display":...}) goes out as r too, the call still running; True then."""
        start, length = self.result.at
        payload, rest = bytes(self.result.data[start:start + length]), bytes(self.result.data[start + length:])
        self.drain()
        frame(b"r", payload, flush=False)
        self.result = Result()
        if rest:
            self.result.add(rest)
        if self.state == "call" and payload.startswith(b'{"display":'):
            return True
        self.fresh = False
        self.state = "idle"
        return False

    def restart(self):
        """The harness ended (or kiln's z ended it): the processes it started go too (they hold its
        pipes, and a fresh harness starts in a clean box, but for its files), kiln gets h and its
        exit status, and a fresh harness is started, which gets the session line once ready."""
        child = self.child
        kill_processes(child)
        code = child.wait()
        self.drain()
        for pipe in self.pipes:
            self.forget(pipe)
            pipe.close()
        os.close(self.req_w)
        reap(child, self.procs)
        kills = oom_kills()
        oom = code == -signal.SIGKILL and kills > self.oom_before
        self.oom_before = kills
        status = b'{"exit_code":%d,"oom":%s}' % (code if code >= 0 else 128 - code, b"true" if oom else b"false")
        if self.fresh:
            self.over(status)  # a fresh harness that never got as far as answering the session line
        frame(b"h", status)
        try:
            child, req_w, res_r, ready_r = start_harness(self.command, self.env, session=True)
        except OSError:
            self.over(b'{"exit_code":1,"oom":false}')  # it cannot even start (the code made /mnt/req unusable)
        child.stdin.close()
        result_pipe, ready_pipe = os.fdopen(res_r, "rb", buffering=0), os.fdopen(ready_r, "rb", buffering=0)
        watch_harness(self.sel, child, result_pipe)
        self.sel.register(ready_pipe, selectors.EVENT_READ, b"y")
        self.attach(child, req_w, [child.stdout, child.stderr, result_pipe, ready_pipe], "start")
        self.restarted = time.monotonic()

    def over(self, status):
        """No harness can serve the session any more: x, and the box ends."""
        frame(b"x", status)
        time.sleep(0.05)  # the frame on its way out before the kernel ends every process here
        os._exit(0)
