"""kiln harness, Python: runs the user's code for the wrapper.

Started before the request arrives. Says "ready" on the fd in argv[3], reads
the request line from the fd in argv[1] (a pipe from the wrapper, which has
told kiln the request was taken before it hands the line on), then sets up
env, files and argv, runs the code as __main__ (script mode) or
calls its execute(input) (function mode), and writes the result to the fd in
argv[2], a pipe the wrapper keeps apart from stdout/stderr: a status word, a
newline, then the return value as JSON. A script that ends by itself (not by
a signal or os._exit) says `exit <status>` there as its last word. A session
(a box that lives across calls) is served by session.py instead.
"""
import atexit, json, linecache, os, sys, time, traceback, types

# Under memory pressure the kernel should kill the user's process, not the wrapper.
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
except OSError:
    pass


def read_request_line(fd):
    """Up to its newline, which JSON never contains (the wrapper sends only the line). The caller
    closes the pipe, unless it is a session's, whose calls follow on it."""
    chunks = []
    size = 65536  # a hello's request fits; a larger first read costs an mmap and a munmap more
    while True:
        chunk = os.read(fd, size)
        size = 1 << 20
        if not chunk:
            os._exit(0)  # EOF before a request: the box is ending, nothing to run
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)


# A custom runtime's image (kiln builds it FROM this one) holds its packages here, and may name
# modules to import now, while the box waits, so that the code finds them already loaded.
SITE = "/opt/kiln/site"
if os.path.isdir(SITE):
    import site
    site.addsitedir(SITE)
for module in filter(None, os.environ.pop("KILN_PREIMPORT", "").split(",")):
    try:
        __import__(module)
    except BaseException:
        pass  # the build proved it loads; if it does not now, the code's own import says why

def rehearse():
    """The path a run takes, once, on made-up code, before the box is ready: CPython's first compile,
    exec, print and json in a process cost several times the next ones (under gVisor, 2 ms of a run)."""
    import io
    scratch = {}
    code = 'def execute(input):\n    print("warm", input)\n    return {"warm": [input, 1, 2.5, None, True]}\n'
    exec(compile(code, "rehearsal.py", "exec"), scratch)
    stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        json.dumps(scratch["execute"](json.loads('{"a": [1, "b", null]}')), allow_nan=False, separators=(",", ":"))
    finally:
        sys.stdout = stdout


try:
    rehearse()
except BaseException:
    pass  # a box that did not warm is slower, not broken
REQUEST_ROOT = os.path.realpath("/mnt/req")  # resolved now, while the box waits, not on the run's path
os.write(int(sys.argv[3]), b"ready\n")  # the wrapper tells kiln this box can be handed out
os.close(int(sys.argv[3]))
result_fd = int(sys.argv[2])
# Processes the code starts must not inherit it and hold it open after the harness's last word.
os.set_inheritable(result_fd, False)
request = json.loads(read_request_line(int(sys.argv[1])))
if request["mode"] != "session":
    os.close(int(sys.argv[1]))
HARNESS = os.path.abspath(__file__)


def write_result(text):
    """The run's last word: stdout and stderr are closed first, so the wrapper knows nothing can follow."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # the code closed it
    for fd in (1, 2):
        try:
            os.close(fd)
        except OSError:
            pass
    data = text.encode()
    data = b"%d\n" % len(data) + data  # its length first: the wrapper knows when all of it is in
    while data:
        data = data[os.write(result_fd, data):]
    os.close(result_fd)
    # The wrapper answers now. Exiting would make the kernel tear this process down on the answer's
    # way out, competing for the CPU: stay put instead; the wrapper ends the box soon after.
    time.sleep(1)


def write_files(files):
    root = REQUEST_ROOT
    for f in files:
        path = os.path.realpath(os.path.join(root, f["path"]))
        if not path.startswith(root + os.sep):  # the host checks this too; never trust one layer
            raise ValueError("file path escapes /mnt/req: " + f["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as out:
            out.write(f["contents"])


def report_exception(exc):
    # Hide the harness's own frames: the user should see only their code.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == HARNESS:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


class ToolsModule:
    """kiln_tools (kiln made its source for this execution), made when the code first imports it:
    a tool's code that calls no tools pays nothing for it (its imports cost a call ~15 ms)."""

    def __init__(self, source):
        self.source = source

    def find_spec(self, name, path=None, target=None):
        if name != "kiln_tools":
            return None
        from importlib.machinery import ModuleSpec
        return ModuleSpec(name, self, origin="kiln_tools.py")

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = "kiln_tools.py"
        linecache.cache[module.__file__] = (len(self.source), None, self.source.splitlines(True), module.__file__)
        exec(compile(self.source, module.__file__, "exec"), module.__dict__)


def install_tools(source):
    """The execution's (or a session call's) tools: `from kiln_tools import weather` finds them.
    An earlier call's module goes: its functions answered for that call only."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, ToolsModule)]
    sys.modules.pop("kiln_tools", None)
    if source:
        sys.meta_path.insert(0, ToolsModule(source))


if request["mode"] == "session":
    # A box that lives across calls: session.py (beside this file, loaded only here) serves them
    # until the box ends; nothing below is its path.
    import session
    session.serve(request, int(sys.argv[1]), result_fd, write_files, install_tools)


def run():
    """Returns the exit code; writes the result in function mode."""
    filename = "main.py"
    code = request["code"]
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    sys.argv = [filename] + list(request.get("args") or [])
    sys.path.insert(0, "/mnt/req")
    # A real module in sys.modules, so that pickle, dataclasses and typing find the code's names.
    module = types.ModuleType("__main__" if request["mode"] == "script" else "main")
    module.__file__ = filename
    sys.modules[module.__name__] = module
    try:
        os.environ.update(request.get("env") or {})
        write_files(request.get("files") or [])
        install_tools(request.get("tools_module"))
        exec(compile(code, filename, "exec"), module.__dict__)
        if request["mode"] == "script":
            return 0
        execute = getattr(module, "execute", None)
        if not callable(execute):
            print("kiln: the code must define a function execute(input)", file=sys.stderr)
            return 1
        value = execute(request.get("input"))
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException as exc:
        report_exception(exc)
        return 1
    try:
        output = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        print("kiln: the return value is not JSON-serializable: %s" % exc, file=sys.stderr)
        write_result("json_serialization_error\n")
        return 0
    write_result("valid\n" + output)
    return 0


exit_code = run()
if request["mode"] == "function":
    # execute() has returned: threads or atexit hooks it left must not hold the answer.
    os._exit(exit_code)
# A script ends as Python's own exit begins: non-daemon threads joined, atexit hooks run, streams
# flushed. Then it reports its exit status, so that the wrapper need not wait for the interpreter's
# teardown (several ms, after which only unclosed files would have been flushed).
if "threading" in sys.modules:
    sys.modules["threading"]._shutdown()
atexit._run_exitfuncs()
write_result("exit %d" % (exit_code & 0xFF))
os._exit(exit_code)
