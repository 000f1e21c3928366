"""Drives real boxes through the box protocol, session mode and one-shot mode, and checks what they say.

    python3 test/box/session_driver.py [python|node|all] [--runtime runsc]

It runs the existing sandbox images (kiln-python:latest, kiln-node:latest) with this work tree's
runtimes/ bind-mounted read-only over /opt/kiln, so no image is rebuilt, under the hardening kiln
gives a box (read-only root, tmpfs /tmp and /mnt/req, no network, no capabilities, uid 10001). Each
box is one `docker run -i` (with KILN_DOCKER_LOCK=<file>, each taken under `flock <file>`, to share the
engine with other users; the integration tier runs it as it is, test/integration/box-session-mode.test.ts);
the driver speaks frames on its stdin and stdout (src/sandbox/box-protocol.ts).
Prints a line per check and ends with "N passed, N failed".

KILN_TEST_MPL_ROOT=<dir> adds checks with the real matplotlib (the images have none): <dir> holds
Debian bookworm's python3-matplotlib and its dependencies unpacked (apt-get download, dpkg-deb -x),
lent to the box as a custom runtime's site directory (/opt/kiln/site) plus their shared libraries.
"""
import base64, json, os, queue, struct, subprocess, sys, threading, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNTIMES = os.path.join(ROOT, "runtimes")
IMAGES = {
    "python": ("kiln-python:latest", {"wrapper.py": "wrapper.py", "wrapper_session.py": "wrapper_session.py", "wrapper_procs.py": "wrapper_procs.py", "python/harness.py": "harness.py", "python/session.py": "session.py"}),
    "node": ("kiln-node:latest", {"wrapper.py": "wrapper.py", "wrapper_session.py": "wrapper_session.py", "wrapper_procs.py": "wrapper_procs.py", "node/harness.mjs": "harness.mjs", "node/session.mjs": "session.mjs"}),
}
RUNTIME = None  # --runtime runsc: the box under gVisor
passed, failed = 0, []


def check(name, condition, detail=""):
    global passed
    if condition:
        passed += 1
        print("ok    %s" % name)
    else:
        failed.append(name)
        print("FAIL  %s %s" % (name, detail))


class Box:
    """One container and its frames."""

    def __init__(self, image_key, memory="512m", harness=None, docker_args=()):
        image, files = IMAGES[image_key]
        mounts = []
        for source, target in files.items():
            mounts += ["-v", "%s:/opt/kiln/%s:ro" % (os.path.join(RUNTIMES, source), target)]
        command = [
            *(["flock", os.environ["KILN_DOCKER_LOCK"]] if os.environ.get("KILN_DOCKER_LOCK") else []), "docker", "run", "--rm", "-i", "--network", "none", "--read-only",
            "--tmpfs", "/tmp:rw,noexec,nosuid,nodev,size=64m,mode=1777",
            "--tmpfs", "/mnt/req:rw,noexec,nosuid,nodev,size=64m,mode=0755,uid=10001,gid=10001",
            "-u", "10001:10001", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            # under gVisor's ptrace platform every process of the box costs host threads of its Sentry,
            # and the Sentry itself dies at the cgroup's pids limit (measured: 128 ends a session box
            # whose code starts five background processes), so the protocol's checks get room there
            "--pids-limit", "1024" if RUNTIME else "128", "--memory", memory, "--memory-swap", memory, "--ulimit", "nofile=1024:1024",
        ] + (["--runtime", RUNTIME] if RUNTIME else []) + (
            # under gVisor kiln's own seccomp profile, as kiln gives its boxes (src/sandbox/seccomp-gvisor.ts)
            ["--security-opt", "seccomp=" + os.environ["KILN_BOX_SECCOMP"]] if RUNTIME and os.environ.get("KILN_BOX_SECCOMP") else []
        ) + mounts + list(docker_args)
        if harness:  # a stand-in harness: a shell script, with the wrapper as the image has it
            command += ["--entrypoint", "python3", image, "-I", "-S", "/opt/kiln/wrapper.py", "sh", "-c", harness, "sh"]
        else:
            command += [image]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.frames = queue.Queue()
        self.stderr = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self):
        stream = self.proc.stdout
        while True:
            head = stream.read(5)
            if len(head) < 5:
                self.frames.put((None, b""))
                return
            length = struct.unpack(">I", head[1:])[0]
            self.frames.put((head[:1].decode(), stream.read(length)))

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr += line

    def frame(self, timeout=30):
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            return ("timeout", b"")

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send_frame(self, kind, payload=b""):
        self.send(kind.encode() + struct.pack(">I", len(payload)) + payload)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Session(Box):
    """A session box: k, the session request, t, and its first r."""

    def __init__(self, image_key, language, env=None, files=None, lifetime_ms=300_000, **kwargs):
        super().__init__(image_key, **kwargs)
        self.stash = []
        kind, _ = self.frame(60)
        check("%s: the box says k first" % language, kind == "k", kind)
        line = json.dumps({"mode": "session", "language": language, "env": env or {}, "files": files or [], "deadline_ms": lifetime_ms}).encode() + b"\n"
        self.send(b"session %d %d 0 0 0\n" % (lifetime_ms, len(line)) + line)
        kind, _ = self.frame()
        check("%s: t after the session request" % language, kind == "t", kind)
        self.ready = self.until_answer()

    def until_answer(self, timeout=30):
        """Frames up to the next r (or x): returns {"out", "err", "kinds", "r", "h"}."""
        got = {"out": b"", "err": b"", "kinds": [], "r": None, "h": None, "x": None}
        deadline = time.monotonic() + timeout
        while True:
            kind, payload = self.frame(max(0.1, deadline - time.monotonic()))
            got["kinds"].append(kind)
            if kind == "o":
                got["out"] += payload
            elif kind == "e":
                got["err"] += payload
            elif kind in ("P", "O", "E", "X"):
                self.stash.append((kind, payload))  # a process's, for proc_frames
            elif kind == "h":
                got["h"] = json.loads(payload)
            elif kind == "r":
                said = json.loads(payload)
                if list(said) == ["display"]:  # shown as it happened, before the answer (which holds it too)
                    got.setdefault("displays", []).append(said["display"])
                    continue
                got["r"] = said
                return got
            elif kind in ("x", None, "timeout"):
                got["x"] = payload
                return got

    def call(self, call, timeout=30):
        self.send_frame("q", json.dumps(call).encode())
        return self.until_answer(timeout)

    def execute(self, code, context=None, **extra):
        call = {"op": "execute", "code": code, **extra}
        if context:
            call["context"] = context
        return self.call(call)


def main_text(got):
    """The main result's text/plain, or None."""
    results = (got["r"] or {}).get("results") or []
    main = [b for b in results if b.get("is_main_result")]
    return main[0].get("text/plain") if main else None


def runs(kinds):
    """The kinds with repeats collapsed: a print may take one o frame or two (two writes, one read or two)."""
    return [kind for i, kind in enumerate(kinds) if i == 0 or kinds[i - 1] != kind]


def one_shot(image_key, mode, language, code, stdin=b"", input=None, args=(), outputs=(0, 0)):
    """A one-shot request, as encodeRequest (src/sandbox/box-session.ts) writes it: the frames until x."""
    box = Box(image_key)
    kinds = []
    kind, _ = box.frame(60)
    kinds.append(kind)
    fields = {"mode": mode, "language": language, "code": code, "env": {}, "files": [], "deadline_ms": 10000}
    fields.update({"input": input, "args": []} if mode == "function" else {"input": None, "args": list(args)})
    line = json.dumps(fields, separators=(",", ":")).encode() + b"\n"
    box.send(b"%s 10000 %d %d %d %d\n" % (mode.encode(), len(line), len(stdin), outputs[0], outputs[1]) + line + stdin)
    got = {"out": b"", "err": b"", "r": None, "x": None, "w": []}
    while True:
        kind, payload = box.frame()
        kinds.append(kind)
        if kind == "o":
            got["out"] += payload
        elif kind == "e":
            got["err"] += payload
        elif kind == "r":
            got["r"] = payload
        elif kind == "w":
            got["w"].append(payload)
        elif kind == "x":
            got["x"] = json.loads(payload)
            break
        elif kind in (None, "timeout"):
            break
    got["kinds"] = kinds
    box.close()
    return got


def python_session():
    L = "python"
    stub = [  # a stand-in for matplotlib (the image has none): what the harness uses of pyplot
        {"path": "matplotlib/__init__.py", "contents": ""},
        {"path": "matplotlib/pyplot.py", "contents": (
            "_figs = {}\n"
            "class Figure:\n"
            "    def __init__(self, n): self.n = n\n"
            "    def savefig(self, f, format=None, **kw): f.write(b'\\x89PNG-figure-%d' % self.n)\n"
            "    def __repr__(self): return '<Figure %d>' % self.n\n"
            "def figure(n=None):\n"
            "    n = n or len(_figs) + 1\n"
            "    return _figs.setdefault(n, Figure(n))\n"
            "def get_fignums(): return sorted(_figs)\n"
            "def close(which='all'): _figs.clear()\n"
            "def show(): import warnings; warnings.warn('FigureCanvasAgg is non-interactive, and thus cannot be shown')\n")},
        {"path": "notes/hello.txt", "contents": "from the session line\n"},
    ]
    box = Session("python", L, env={"GREETING": "hi"}, files=stub)
    check("python: the first r is {ready:true}", box.ready["r"] == {"ready": True}, box.ready)

    got = box.execute("x = 1")
    check("python: x = 1 has no result and no error", got["r"] == {"results": [], "error": None}, got)
    got = box.execute("x + 1")
    check("python: state persists: x + 1 is 2", got["r"] == {"results": [{"text/plain": "2", "is_main_result": True}], "error": None}, got)

    got = box.execute("print('hello'); display(3); import os\nos.environ['GREETING'] + '!'")
    check("python: print arrives as o before r", got["out"] == b"hello\n" and got["kinds"].index("o") < got["kinds"].index("r"), got)
    check("python: display() then the final value", got["r"]["results"] == [{"text/plain": "3"}, {"text/plain": "'hi!'", "is_main_result": True}], got["r"])

    got = box.execute(
        "class Rich:\n"
        "    def _repr_html_(self): return '<b>rich</b>'\n"
        "    def _repr_markdown_(self): raise RuntimeError('no')\n"
        "    def _repr_json_(self): return {'a': [1, 2]}\n"
        "    def _repr_png_(self): return b'\\x89PNG'\n"
        "    def __repr__(self): return 'Rich()'\n"
        "Rich()")
    bundle = (got["r"]["results"] or [{}])[0]
    check("python: a rich value's bundle (html, json, png; a raising repr skipped)",
          bundle == {"text/plain": "Rich()", "text/html": "<b>rich</b>", "application/json": {"a": [1, 2]},
                     "image/png": base64.b64encode(b"\x89PNG").decode(), "is_main_result": True}, bundle)
    got = box.execute("None")
    check("python: a None value is no result", got["r"] == {"results": [], "error": None}, got)

    got = box.execute("def f():\n    return 1 / 0\nf()")
    err = got["r"]["error"] or {}
    check("python: an error has name, value, traceback", err.get("name") == "ZeroDivisionError" and err.get("value") == "division by zero"
          and "<cell-" in err.get("traceback", "") and "return 1 / 0" in err.get("traceback", "") and "session.py" not in err.get("traceback", ""), err)
    check("python: the error is printed to stderr too", b"ZeroDivisionError" in got["err"], got["err"])
    got = box.execute("x")
    check("python: the next call after an error works", main_text(got) == "1", got)
    got = box.execute("x = = 2")
    check("python: a syntax error", (got["r"]["error"] or {}).get("name") == "SyntaxError", got)
    got = box.execute("import sys; sys.exit(3)")
    check("python: SystemExit is an error, not the end", (got["r"]["error"] or {}).get("name") == "SystemExit" and got["h"] is None, got)
    got = box.execute("x")
    check("python: ... and the session goes on", main_text(got) == "1", got)

    got = box.execute("import asyncio\nawait asyncio.sleep(0)\nv = await asyncio.sleep(0, result=42)\nv")
    check("python: top-level await", main_text(got) == "42", got)
    got = box.execute("await asyncio.sleep(0, result='again')")
    check("python: top-level await as the final expression", main_text(got) == "'again'", got)

    got = box.execute("open('data.txt', 'w').write('abc')\nprint('written')")
    got = box.call({"op": "command", "cmd": ["cat", "data.txt"]})
    check("python: a command sees a file written by execute", got["out"] == b"abc" and got["r"] == {"exit_code": 0}, got)
    got = box.call({"op": "command", "cmd": "echo $GREETING $EXTRA; exit 3", "env": {"EXTRA": "there"}})
    check("python: a shell command, its env and exit code", got["out"] == b"hi there\n" and got["r"] == {"exit_code": 3}, got)
    got = box.call({"op": "command", "cmd": ["wc", "-c"], "stdin": "hello"})
    check("python: a command's stdin", got["out"].strip() == b"5" and got["r"] == {"exit_code": 0}, got)
    got = box.call({"op": "command", "cmd": ["cat", "hello.txt"], "cwd": "notes"})
    check("python: a command's cwd (and the session line's files)", got["out"] == b"from the session line\n", got)
    got = box.call({"op": "command", "cmd": ["no-such-program"]})
    check("python: a command that cannot start: 127", got["r"] == {"exit_code": 127} and b"no-such-program" in got["err"], got)
    got = box.call({"op": "command", "cmd": ["pwd"], "cwd": "../etc"})
    check("python: a cwd outside /mnt/req is refused", "error" in got["r"], got)
    got = box.call({"op": "command", "cmd": "kill -9 $$"})
    check("python: a command killed by a signal: 128 + it", got["r"] == {"exit_code": 137}, got)

    box.send_frame("q", json.dumps({"op": "execute", "code": "import time\nn = 0\nwhile True:\n    n += 1"}).encode())
    time.sleep(0.7)
    box.send_frame("i")
    got = box.until_answer()
    err = (got["r"] or {}).get("error") or {}
    check("python: i interrupts a busy loop with KeyboardInterrupt", err.get("name") == "KeyboardInterrupt" and got["h"] is None, got)
    got = box.execute("x, n > 0")
    check("python: ... and the context survives", main_text(got) == "(1, True)", got)
    box.send_frame("q", json.dumps({"op": "execute", "code": "time.sleep(100)"}).encode())
    time.sleep(0.5)
    box.send_frame("i")
    got = box.until_answer()
    check("python: i interrupts a sleep", ((got["r"] or {}).get("error") or {}).get("name") == "KeyboardInterrupt", got)
    box.send_frame("q", json.dumps({"op": "execute", "code": "await asyncio.sleep(100)"}).encode())
    time.sleep(0.5)
    box.send_frame("i")
    got = box.until_answer()
    check("python: i interrupts an await", ((got["r"] or {}).get("error") or {}).get("name") == "KeyboardInterrupt", got)
    got = box.execute("await asyncio.sleep(0, result=7)")
    check("python: ... and the event loop still runs", main_text(got) == "7", got)
    box.send_frame("q", json.dumps({"op": "command", "cmd": "sleep 100"}).encode())
    time.sleep(0.5)
    box.send_frame("i")
    got = box.until_answer()
    check("python: i interrupts a command (SIGINT: 130)", got["r"] == {"exit_code": 130}, got)
    box.send_frame("i")
    time.sleep(0.2)
    got = box.execute("x")
    check("python: a stray i between calls is ignored", main_text(got) == "1" and got["h"] is None, got)

    got = box.call({"op": "context_create", "context": "c2"})
    check("python: context_create", got["r"] == {"ok": True}, got)
    got = box.execute("'x' in globals(), __name__", context="c2")
    check("python: a new context is a fresh __main__", main_text(got) == "(False, '__main__')", got)
    box.execute("y = 5", context="c2")
    got = box.execute("'y' in globals(), x")
    check("python: contexts are independent", main_text(got) == "(False, 1)", got)
    got = box.execute("y * 2", context="c2")
    check("python: state persists in a context", main_text(got) == "10", got)
    got = box.call({"op": "context_create", "context": "c2"})
    check("python: creating an existing context is an error", got["r"].get("ok") is False and got["r"].get("error"), got)
    got = box.call({"op": "context_delete", "context": "c2"})
    check("python: context_delete", got["r"] == {"ok": True}, got)
    got = box.execute("y", context="c2")
    check("python: a deleted context is gone", got["r"]["results"] == [] and "no context" in (got["r"]["error"] or {}).get("value", ""), got)
    got = box.call({"op": "context_delete", "context": "default"})
    check("python: the default context stays", got["r"].get("ok") is False, got)

    got = box.execute("import matplotlib.pyplot as plt\nplt.figure()\nplt.show()\nplt.figure()\n'plots'")
    results = got["r"]["results"]
    check("python: plt.show() shows the figures then (in the call that imports pyplot too), and open ones after the call",
          [r.get("text/plain") for r in results] == ["<Figure 1>", "'plots'", "<Figure 1>"]
          and results[0].get("image/png") == base64.b64encode(b"\x89PNG-figure-1").decode() and not got["err"], got)
    got = box.execute("plt.figure(); plt.show(); display('after'); plt.get_fignums()")
    results = got["r"]["results"]
    check("python: plt.show() shows the figures there, in order", [r.get("text/plain") for r in results] == ["<Figure 1>", "'after'", "[]"], results)

    got = box.execute("print('x' * 300000)")
    check("python: all of a large output comes before r", len(got["out"]) == 300001, len(got["out"]))

    # the tunnel works in a session as in a one-shot box: c, d, f from the box, d and f from kiln
    box.send_frame("q", json.dumps({"op": "execute", "code": (
        "import socket\ns = socket.create_connection(('127.0.0.1', 3128))\ns.sendall(b'ping')\n"
        "reply = b''\nwhile True:\n    chunk = s.recv(100)\n    if not chunk: break\n    reply += chunk\ns.close()\nreply")}).encode())
    seen = []
    while True:
        kind, payload = box.frame()
        seen.append(kind)
        if kind == "c":
            cid = payload[:4]
        elif kind == "d" and payload[4:] == b"ping":
            box.send_frame("d", cid + b"pong")
            box.send_frame("f", cid)
        elif kind in ("r", "x", None, "timeout"):
            break
    result = json.loads(payload) if kind == "r" else {}
    check("python: the tunnel in a session (c, d; kiln's d, f)", seen[:2] == ["c", "d"] and "f" in seen
          and main_text({"r": result}) == "b'pong'", (seen, payload))

    # orphans of the code's (reparented to PID 1) are reaped: no zombies fill the pids limit
    box.call({"op": "command", "cmd": "for i in 1 2 3 4 5; do (sleep 0.1 &); done"})
    time.sleep(1)
    got = box.call({"op": "command", "cmd": "grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l"})
    check("python: the code's orphans are reaped", got["out"].strip() == b"0", got)

    box.execute("x = 99")
    box.send_frame("z")
    got = box.until_answer(60)
    check("python: z gives h (SIGKILL: 137) then r {ready:true}", got["h"] == {"exit_code": 137, "oom": False} and got["r"] == {"ready": True}
          and got["kinds"].index("h") < got["kinds"].index("r"), got)
    got = box.execute("'x' in globals()")
    check("python: after z the context is fresh", main_text(got) == "False", got)
    got = box.call({"op": "command", "cmd": ["cat", "data.txt"]})
    check("python: after z the files in /mnt/req survive", got["out"] == b"abc", got)
    got = box.execute("import os; os.environ['GREETING']")
    check("python: after z the session line's env is there again", main_text(got) == "'hi'", got)
    got = box.execute("import signal; signal.getsignal(signal.SIGTERM) == signal.SIG_DFL")
    check("python: the fresh harness is on default handlers", main_text(got) == "True", got)

    got = box.execute("print('bye', flush=True); import os; os._exit(7)")
    check("python: a harness that exits gives h with its status, then r {ready:true}", got["h"] == {"exit_code": 7, "oom": False}
          and got["r"] == {"ready": True} and got["out"] == b"bye\n", got)
    got = box.execute("1 + 1")
    check("python: ... and the fresh harness answers", main_text(got) == "2", got)

    box.execute("import subprocess; p = subprocess.Popen(['sleep', '1000'], start_new_session=True)")
    got = box.execute("p.pid > 0")
    box.send_frame("z")
    got = box.until_answer(60)
    got = box.call({"op": "command", "cmd": "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"})
    check("python: z kills what the code started, even in a session of its own", b"sleep 1000" not in got["out"] and b"harness.py" in got["out"], got["out"])
    box.close()

    # a session line whose files cannot be written: {ready:false}, and the calls are served all the same
    box = Session("python", L, files=[{"path": "../escape.txt", "contents": "x"}])
    check("python: a session line that fails answers {ready:false, error}", box.ready["r"].get("ready") is False
          and "escapes" in box.ready["r"]["error"]["value"], box.ready)
    got = box.execute("6 * 7")
    check("python: ... and calls are served", main_text(got) == "42", got)
    # a harness that cannot be started again: h, then x, and the box is over
    got = box.execute("import os\nos.chmod('/mnt/req', 0)\nos._exit(1)")
    check("python: no fresh harness can start: h then x", got["h"] == {"exit_code": 1, "oom": False} and got["x"] == b'{"exit_code":1,"oom":false}', got)
    box.close()

    # a fresh harness that does not become ready: h, then x, and the box is over (a stand-in harness that
    # answers the session line the first time it runs, and exits 3 before it is ready the second time)
    box = Session("python", L, harness=(
        'if [ -e /tmp/started ]; then exit 3; fi; : > /tmp/started; eval "echo ready >&$3"; eval "read -r line <&$1"; '
        'eval "printf \'14\\n{\\"ready\\":true}\' >&$2"; sleep 100'))
    check("python: (stand-in harness) ready", box.ready["r"] == {"ready": True}, box.ready)
    box.send_frame("z")
    got = box.until_answer()
    check("python: a fresh harness that never becomes ready: h then x", got["h"] == {"exit_code": 137, "oom": False}
          and got["x"] == b'{"exit_code":3,"oom":false}', got)
    box.close()

    # the memory limit: an OOM kill of the harness is h with oom: true
    box = Session("python", L, memory="128m")
    got = box.execute("a = []\nwhile True:\n    a.append(bytearray(8 << 20))", )
    if RUNTIME:
        # under gVisor the Sentry is in the box's memory cgroup too: the OOM kill ends the whole box,
        # which kiln reports as the session's end (box_ended, out of memory), never a hang
        check("python: an OOM kill ends the gVisor box", got["r"] is None and got["h"] is None, got)
    else:
        check("python: an OOM kill gives h {exit_code:137, oom:true} then r {ready:true}", got["h"] == {"exit_code": 137, "oom": True} and got["r"] == {"ready": True}, got)
        got = box.execute("2 + 2")
        check("python: ... and the fresh harness answers", main_text(got) == "4", got)
    box.close()

    # the box's end: stdin EOF ends it at once
    box = Session("python", L)
    start = time.monotonic()
    box.proc.stdin.close()
    box.proc.wait(timeout=20)
    check("python: stdin EOF ends a session box", time.monotonic() - start < 5, time.monotonic() - start)
    # the lifetime: the box ends 5 s past it
    box = Session("python", L, lifetime_ms=1000)
    start = time.monotonic()
    box.proc.wait(timeout=30)
    check("python: the lifetime (+ 5 s) ends a session box", 5 < time.monotonic() - start < 12, time.monotonic() - start)


def real_matplotlib(root):
    """With the real matplotlib (Debian's packages unpacked under `root`, lent to the box as a custom
    runtime's site directory): figures, plt.show(), and no warning on stderr."""
    lib = "/opt/mpl-lib"
    box = Session("python", "python", docker_args=[
        "-v", "%s/usr/lib/python3/dist-packages:/opt/kiln/site:ro" % root,
        "-v", "%s/usr/lib/x86_64-linux-gnu:%s:ro" % (root, lib),
        "-v", "%s/usr/share/matplotlib:/usr/share/matplotlib:ro" % root,
        "-v", "%s/etc/matplotlibrc:/etc/matplotlibrc:ro" % root,
        "-e", "LD_LIBRARY_PATH=%s:%s/blas:%s/lapack" % (lib, lib, lib)])
    got = box.execute("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nplt.figure()\nplt.bar([1], [2])\n'done'")
    results = got["r"]["results"]
    pngs = [base64.b64decode(r["image/png"]) for r in results if "image/png" in r]
    check("python (real matplotlib): plt.show() and the open figures are PNG results", got["r"]["error"] is None
          and [r.get("text/plain", "")[:7] for r in results] == ["<Figure", "'done'", "<Figure"]
          and len(pngs) == 2 and all(p.startswith(b"\x89PNG") for p in pngs), got["r"]["error"] or [r.get("text/plain") for r in results])
    check("python (real matplotlib): nothing on stderr", got["err"] == b"", got["err"])
    got = box.execute("import matplotlib; matplotlib.get_backend(), plt.get_fignums()")
    check("python (real matplotlib): the Agg backend, and no figure left open", main_text(got) == "('agg', [])", got)
    box.close()


def node_session(language):
    L = language
    box = Session("node", L, env={"GREETING": "hi"}, files=[{"path": "notes/hello.txt", "contents": "from the session line\n"}])
    check("%s: the first r is {ready:true}" % L, box.ready["r"] == {"ready": True}, box.ready)
    got = box.execute("let x = 1")
    check("%s: let x = 1 has no result" % L, got["r"] == {"results": [], "error": None}, got)
    got = box.execute("x + 1")
    check("%s: let persists: x + 1 is 2" % L, got["r"] == {"results": [{"text/plain": "2", "is_main_result": True}], "error": None}, got)
    got = box.execute("const y = await Promise.resolve(3); y")
    check("%s: top-level await" % L, main_text(got) == "3", got)
    got = box.execute("await Promise.resolve(3)")
    check("%s: await as the final expression" % L, main_text(got) == "3", got)
    got = box.execute("y * 2")
    check("%s: a const declared with await persists" % L, main_text(got) == "6", got)
    got = box.execute("function f() { return 7 }\nclass A { constructor() { this.q = 1 } }")
    got = box.execute("f() + new A().q")
    check("%s: functions and classes persist" % L, main_text(got) == "8", got)
    got = box.execute("console.log('hello'); display('a'); display({'text/html': '<b>b</b>'}); ({ a: [1, 2], s: process.env.GREETING })")
    check("%s: console.log arrives as o before r" % L, got["out"] == b"hello\n" and got["kinds"].index("o") < got["kinds"].index("r"), got)
    check("%s: display() then the final value (with application/json)" % L, got["r"]["results"] == [
        {"text/plain": "'a'"}, {"text/html": "<b>b</b>"},
        {"text/plain": "{ a: [ 1, 2 ], s: 'hi' }", "application/json": {"a": [1, 2], "s": "hi"}, "is_main_result": True}], got["r"])
    got = box.execute("undefined")
    check("%s: undefined is no result" % L, got["r"] == {"results": [], "error": None}, got)
    got = box.execute("function g() { throw new TypeError('bad') }\ng()")
    err = got["r"]["error"] or {}
    check("%s: an error has name, value, traceback" % L, err.get("name") == "TypeError" and err.get("value") == "bad"
          and err.get("traceback", "").startswith("TypeError: bad") and "/opt/kiln" not in err.get("traceback", "") and "node:" not in err.get("traceback", ""), err)
    check("%s: the error is printed to stderr too" % L, b"TypeError: bad" in got["err"], got["err"])
    got = box.execute("x")
    check("%s: the next call after an error works" % L, main_text(got) == "1", got)
    got = box.execute("await Promise.reject(new RangeError('later'))")
    check("%s: a rejected await is the call's error" % L, (got["r"]["error"] or {}).get("name") == "RangeError", got)
    got = box.execute("foo(")
    check("%s: a syntax error" % L, (got["r"]["error"] or {}).get("name") == "SyntaxError", got)
    got = box.execute("setTimeout(() => { throw new Error('late') }, 10); Promise.reject(new Error('unhandled')); 5")
    time.sleep(0.3)
    got2 = box.execute("x")
    check("%s: errors after a call go to stderr; the session goes on" % L, main_text(got2) == "1" and got2["h"] is None
          and b"late" in got["err"] + got2["err"] and b"unhandled" in got["err"] + got2["err"], (got, got2))

    got = box.execute("require('node:fs').writeFileSync('data.txt', 'abc'); 'written'")
    got = box.call({"op": "command", "cmd": ["cat", "data.txt"]})
    check("%s: a command sees a file written by execute" % L, got["out"] == b"abc" and got["r"] == {"exit_code": 0}, got)
    got = box.call({"op": "command", "cmd": "echo $GREETING $EXTRA; exit 3", "env": {"EXTRA": "there"}})
    check("%s: a shell command, its env and exit code" % L, got["out"] == b"hi there\n" and got["r"] == {"exit_code": 3}, got)
    got = box.call({"op": "command", "cmd": ["wc", "-c"], "stdin": "hello"})
    check("%s: a command's stdin" % L, got["out"].strip() == b"5", got)
    got = box.call({"op": "command", "cmd": ["cat", "hello.txt"], "cwd": "notes"})
    check("%s: a command's cwd (and the session line's files)" % L, got["out"] == b"from the session line\n", got)
    got = box.call({"op": "command", "cmd": ["no-such-program"]})
    check("%s: a command that cannot start: 127" % L, got["r"] == {"exit_code": 127}, got)

    box.send_frame("q", json.dumps({"op": "execute", "code": "let n = 0; while (true) { n++ }"}).encode())
    time.sleep(0.7)
    box.send_frame("i")
    got = box.until_answer()
    err = (got["r"] or {}).get("error") or {}
    check("%s: i interrupts a busy loop" % L, "interrupted by `SIGINT`" in err.get("value", "") and got["h"] is None, got)
    got = box.execute("x")
    check("%s: ... and the context survives" % L, main_text(got) == "1", got)
    box.send_frame("q", json.dumps({"op": "execute", "code": "await new Promise(() => {})"}).encode())
    time.sleep(0.5)
    box.send_frame("i")
    got = box.until_answer()
    check("%s: i interrupts an await" % L, "interrupted by `SIGINT`" in ((got["r"] or {}).get("error") or {}).get("value", ""), got)
    box.send_frame("q", json.dumps({"op": "command", "cmd": "sleep 100"}).encode())
    time.sleep(0.5)
    box.send_frame("i")
    got = box.until_answer()
    check("%s: i interrupts a command (SIGINT: 130)" % L, got["r"] == {"exit_code": 130}, got)
    box.send_frame("i")
    time.sleep(0.2)
    box.send_frame("q", json.dumps({"op": "execute", "code": "for (let i = 0; i < 1e6; i++) {} ; x"}).encode())
    got = box.until_answer()
    check("%s: a stray i between calls is ignored" % L, main_text(got) == "1" and got["h"] is None, got)

    got = box.call({"op": "context_create", "context": "c2"})
    check("%s: context_create" % L, got["r"] == {"ok": True}, got)
    got = box.execute("typeof x", context="c2")
    check("%s: a new context does not see the default's" % L, main_text(got) == "'undefined'", got)
    got = box.execute("let x = 10; console.log('in c2'); typeof require", context="c2")
    check("%s: a new context has require, and its console.log reaches stdout" % L, main_text(got) == "'function'" and got["out"] == b"in c2\n", got)
    got = box.execute("x")
    check("%s: contexts are independent" % L, main_text(got) == "1", got)
    got = box.execute("x", context="c2")
    check("%s: state persists in a context" % L, main_text(got) == "10", got)
    got = box.call({"op": "context_delete", "context": "c2"})
    check("%s: context_delete" % L, got["r"] == {"ok": True}, got)
    got = box.execute("x", context="c2")
    check("%s: a deleted context is gone" % L, got["r"]["results"] == [] and "no context" in (got["r"]["error"] or {}).get("value", ""), got)

    got = box.execute("let n2: number = 5; n2 * 2", language="typescript")
    check("%s: a typescript call" % L, main_text(got) == "10", got)
    got = box.execute("const t = (v: string): string => { throw new Error('ts ' + v) }; t('x')", language="typescript")
    check("%s: a typescript call's error" % L, (got["r"]["error"] or {}).get("value") == "ts x", got)

    got = box.execute("console.log('z'.repeat(300000))")
    check("%s: all of a large output comes before r" % L, len(got["out"]) == 300001, len(got["out"]))

    box.execute("x = 99")
    box.send_frame("z")
    got = box.until_answer(60)
    check("%s: z gives h (SIGKILL: 137) then r {ready:true}" % L, got["h"] == {"exit_code": 137, "oom": False} and got["r"] == {"ready": True}, got)
    got = box.execute("typeof x")
    check("%s: after z the context is fresh" % L, main_text(got) == "'undefined'", got)
    got = box.call({"op": "command", "cmd": ["cat", "data.txt"]})
    check("%s: after z the files in /mnt/req survive" % L, got["out"] == b"abc", got)
    got = box.execute("process.exit(4)")
    check("%s: a harness that exits gives h with its status, then r {ready:true}" % L, got["h"] == {"exit_code": 4, "oom": False} and got["r"] == {"ready": True}, got)
    got = box.execute("40 + 2")
    check("%s: ... and the fresh harness answers" % L, main_text(got) == "42", got)
    box.close()


def one_shots():
    got = one_shot("python", "function", "python", "def execute(input):\n    print('hi')\n    return {'got': input}\n", input={"a": 1})
    check("python one-shot function: k t o r x", runs(got["kinds"]) == ["k", "t", "o", "r", "x"] and got["r"] == b'valid\n{"got":{"a":1}}'
          and got["out"] == b"hi\n" and got["x"] == {"exit_code": 0, "oom": False}, got)
    got = one_shot("python", "script", "python", "import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])\nsys.exit(3)\n", stdin=b"abc", args=["q"])
    check("python one-shot script: stdin, argv, exit status", got["out"] == b"ABC ['q']\n" and got["r"] is None and got["x"] == {"exit_code": 3, "oom": False}, got)
    got = one_shot("python", "function", "python", "def execute(input):\n    return 1 / 0\n", input=None)
    check("python one-shot function that raises", got["x"] == {"exit_code": 1, "oom": False} and b"ZeroDivisionError" in got["err"], got)
    got = one_shot("node", "function", "javascript", "function execute(input) { console.log('hi'); return { got: input } }", input={"a": 1})
    check("javascript one-shot function: k t o r x", runs(got["kinds"]) == ["k", "t", "o", "r", "x"] and got["r"] == b'valid\n{"got":{"a":1}}'
          and got["x"] == {"exit_code": 0, "oom": False}, got)
    got = one_shot("node", "function", "typescript", "function execute(input: unknown): object { return { got: input } }", input=[1])
    check("typescript one-shot function", got["r"] == b'valid\n{"got":[1]}' and got["x"] == {"exit_code": 0, "oom": False}, got)
    got = one_shot("node", "script", "javascript", "process.stdin.on('data', (d) => console.log(String(d).toUpperCase())); process.on('exit', () => { process.exitCode = 5 })", stdin=b"abc")
    check("javascript one-shot script: stdin, exit status", got["out"] == b"ABC\n" and got["x"] == {"exit_code": 5, "oom": False}, got)
    output_files()


def output_files():
    hostile = (
        "import os\n"
        "os.makedirs('out/deep', exist_ok=True)\n"
        "open('out/b.txt', 'w').write('bee')\n"
        "open('out/deep/a.bin', 'wb').write(bytes(range(256)))\n"
        "open('out/empty', 'w').close()\n"
        "open('out/big', 'w').write('x' * 5000)\n"  # past what is left of the bytes: left out whole
        "os.symlink('/etc/passwd', 'out/passwd')\n"  # never followed
        "os.symlink('/etc', 'out/etcdir')\n"
        "os.mkfifo('out/fifo')\n"  # never opened to block the wrapper
        "print('done')\n"
    )
    got = one_shot("python", "script", "python", hostile, outputs=(10, 2000))
    files = dict(p.split(b"\0", 1) for p in got["w"] if not p.startswith(b"\0"))
    check("one-shot output files: regular files whole (a directory's names sorted, then its subdirectories), before x; links, FIFOs and an oversize file left out (and said)",
          [p.split(b"\0", 1)[0] for p in got["w"]] == [b"b.txt", b"empty", b"deep/a.bin", b""]
          and files == {b"b.txt": b"bee", b"deep/a.bin": bytes(range(256)), b"empty": b""}
          and runs(got["kinds"])[-2:] == ["w", "x"] and got["x"] == {"exit_code": 0, "oom": False}, got)
    got = one_shot("python", "script", "python", "for i in range(5):\n    open('out/f%d' % i, 'w').write('x')\n", outputs=(3, 2000))
    check("one-shot output files: at most the count kiln sent, then the marker", [p.split(b"\0", 1)[0] for p in got["w"]] == [b"f0", b"f1", b"f2", b""], got)
    got = one_shot("python", "script", "python", "open('out/x', 'w').write('x')\n", outputs=(0, 0))
    check("one-shot output files: none when kiln asked for none", got["w"] == [] and got["x"] == {"exit_code": 0, "oom": False}, got)
    got = one_shot("node", "function", "javascript", "async function execute() { const fs = await import('node:fs'); fs.writeFileSync('out/chart.svg', '<svg/>'); return 1 }", outputs=(10, 2000))
    check("one-shot output files from Node, with the result", got["w"] == [b"chart.svg\0<svg/>"] and got["r"] == b"valid\n1", got)
    got = one_shot("python", "script", "python", "print(1)\n", outputs=(10, 2000))
    check("one-shot output files: nothing written, nothing sent", got["w"] == [], got)


def spawn(box, pid_id, argv, **spec):
    box.send_frame("p", struct.pack(">I", pid_id) + json.dumps({"argv": argv, **spec}).encode())


def proc_frames(box, until_ended, timeout=30):
    """Process frames (P, O, E, X) by id until each id in `until_ended` has its X; other frames in "other"."""
    got, deadline = {"other": []}, time.monotonic() + timeout
    while any(got.get(i, {}).get("X") is None for i in until_ended):
        kind, payload = box.stash.pop(0) if box.stash else box.frame(max(0.1, deadline - time.monotonic()))
        if kind in ("P", "O", "E", "X"):
            entry = got.setdefault(struct.unpack(">I", payload[:4])[0], {"O": b"", "E": b"", "P": None, "X": None, "order": []})
            entry["order"].append(kind)
            if kind in ("O", "E"):
                entry[kind] += payload[4:]
            else:
                entry[kind] = json.loads(payload[4:])
        elif kind in (None, "timeout", "x"):
            got["other"].append(kind)
            return got
        else:
            got["other"].append(kind)
    return got


def processes(image_key="python", language="python"):
    """Session processes (runtimes/wrapper_procs.py): beside the calls, each streamed, fed, signalled."""
    box = Session(image_key, language, env={"SESSION_VAR": "s"})
    spawn(box, 1, ["sh", "-c", "echo out; echo err >&2; echo $SESSION_VAR $EXTRA $HOME; pwd; exit 3"], env={"EXTRA": "x"})
    got = proc_frames(box, [1])[1]
    check("procs: P first, with the pid", got["order"][0] == "P" and isinstance((got["P"] or {}).get("pid"), int), got)
    check("procs: stdout and stderr apart, the session's env and its own", got["O"] == b"out\ns x /tmp\n/mnt/req\n" and got["E"] == b"err\n", got)
    check("procs: X last, its exit code", got["order"][-1] == "X" and got["X"] == {"exit_code": 3, "signal": None}, got)
    spawn(box, 2, ["cat"], stdin=True)
    spawn(box, 3, ["sleep", "30"])
    box.send_frame("n", struct.pack(">I", 2) + b"hello ")
    box.send_frame("n", struct.pack(">I", 2) + b"there\n")
    # a call of the harness runs while both are alive
    answer = box.execute("6 * 7")
    check("procs: a call is answered while processes run", main_text(answer) == "42", answer)
    box.send_frame("n", struct.pack(">I", 2))  # closed: cat ends
    got = proc_frames(box, [2])
    check("procs: stdin written, then closed: it read it all and ended", got[2]["O"] == b"hello there\n" and got[2]["X"]["exit_code"] == 0, got)
    box.send_frame("s", struct.pack(">I", 3) + b'{"signal":9}')
    got = proc_frames(box, [3])
    check("procs: a signal to its group ends it as killed", got[3]["X"] == {"exit_code": 137, "signal": 9}, got)
    spawn(box, 7, ["sleep", "30"])
    box.send_frame("s", struct.pack(">I", 7) + b'{"signal":15}')
    got = proc_frames(box, [7])
    check("procs: SIGTERM ends one (PID 1's ignored signals are not its)", got[7]["X"] == {"exit_code": 143, "signal": 15}, got)
    box.send_frame("s", struct.pack(">I", 7) + b'{"signal":1e400}')  # for no process, and no number: nothing
    spawn(box, 4, ["/no/such/program"])
    kind, payload = box.frame()
    check("procs: one that cannot start says why in P", kind == "P" and "error" in json.loads(payload[4:]), (kind, payload))
    spawn(box, 5, ["sh", "-c", "sleep 30 & echo started"])
    got = proc_frames(box, [5], timeout=10)
    check("procs: its end is not held up by what it left running", got[5]["O"] == b"started\n" and got[5]["X"]["exit_code"] == 0, got)
    spawn(box, 6, ["sh", "-c", "cd /home/user && pwd -P && echo made > /home/user/e2b.txt && cat /mnt/req/e2b.txt"])
    got = proc_frames(box, [6])
    check("procs: /home/user is the workspace", got[6]["O"] == b"/mnt/req\nmade\n", got)
    box.close()


def main():
    global RUNTIME
    args = sys.argv[1:]
    if "--runtime" in args:
        RUNTIME = args[args.index("--runtime") + 1]
        del args[args.index("--runtime"):args.index("--runtime") + 2]
    which = args[0] if args else "all"
    if which in ("python", "all"):
        python_session()
        if os.environ.get("KILN_TEST_MPL_ROOT"):
            real_matplotlib(os.environ["KILN_TEST_MPL_ROOT"])
    if which in ("node", "all"):
        node_session("javascript")
        node_session("typescript")
    if which in ("oneshot", "all"):
        one_shots()
    if which in ("procs", "all"):
        processes()
    print("\n%d passed, %d failed" % (passed, len(failed)))
    for name in failed:
        print("  failed: %s" % name)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
