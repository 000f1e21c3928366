"""kiln session, Python: serves a box that lives across calls (the request's mode is `session`).

harness.py imports it only then, once the session line is in: it applies the
line's env and files, answers {"ready":true} on the result pipe (the same
"<length>\\n<JSON>" as a one-shot result, without a status word), then reads the
calls, a line each, from the request pipe, which stays open, and answers each
on the result pipe once it has flushed stdout and stderr (which stay open too:
they are the box's o and e frames, call after call). The calls:

    execute         {"op":"execute","context":id,"code":...}: the code runs in a context,
                    a namespace of its own as a notebook's kernel has, kept between calls;
                    {"results":[bundle,...],"error":null|{"name","value","traceback"}};
                    each display() is also said as it happens, {"display":bundle}, before the answer
    command         {"op":"command","cmd":argv|"shell string","stdin","env","cwd"}: a
                    process of its own in the box, sharing files, not state; {"exit_code":n}
    context_create  {"op":"context_create","context":id}: {"ok":true}
    context_delete  {"op":"context_delete","context":id}: {"ok":true}

A call the harness cannot carry out answers {"error":{...}} ("ok":false for the
context calls, "results":[] for execute). SIGINT (kiln's interrupt) ends the
running call with KeyboardInterrupt, and the session goes on; between calls it
is ignored.
"""
import _thread, ast, base64, json, linecache, os, signal, sys, traceback, types, warnings

CO_COROUTINE = 0x80  # inspect.CO_COROUTINE: code compiled with a top-level await
CELL = "<cell-%d>"  # each execute's code, by its number: its tracebacks show its lines (linecache)
# The _repr_*_ methods a notebook asks an object for, each for its MIME type (text/plain is repr()).
REPRS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("application/json", "_repr_json_"),
    ("text/latex", "_repr_latex_"),
    ("application/javascript", "_repr_javascript_"),
)


def serve(request, request_fd, result_fd, write_files, install_tools=lambda source: None):
    """Serves the session until the wrapper closes the request pipe (the box is ending)."""
    session = Session(request_fd, result_fd, write_files)
    session.install_tools = install_tools
    session.start(request)
    for line in session.lines():
        session.answer(session.call(line))


def method(obj, name):
    """obj.name if it is callable; None when it is not there, or getting it raised."""
    try:
        found = getattr(obj, name, None)
    except Exception:
        return None
    return found if callable(found) else None


def put(data, mime, value):
    """Adds a representation to a bundle as JSON can carry it, or nothing if it cannot."""
    if isinstance(value, tuple) and len(value) == 2:
        value = value[0]  # (data, metadata), as IPython allows
    if value is None:
        return
    if mime == "application/json" or mime.endswith("+json"):
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except ValueError:
                return
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            return
        data[mime] = value
    elif isinstance(value, (bytes, bytearray)):
        # images in base64, as notebooks carry them; SVG is text
        binary = mime.startswith("image/") and mime != "image/svg+xml"
        data[mime] = base64.b64encode(value).decode("ascii") if binary else bytes(value).decode("utf-8", "replace")
    elif isinstance(value, str):
        data[mime] = value


def bundle(obj):
    """An object as a notebook shows it: MIME type -> representation."""
    try:
        text = repr(obj)
    except Exception:
        text = object.__repr__(obj)  # a repr that raises is skipped
    data = {"text/plain": text}
    if isinstance(obj, type):
        return data  # a class's _repr_*_ are functions that want an instance
    mimebundle = method(obj, "_repr_mimebundle_")
    if mimebundle is not None:
        try:
            try:
                value = mimebundle(include=None, exclude=None)
            except TypeError:
                value = mimebundle()
        except Exception:
            value = None
        if isinstance(value, tuple) and len(value) == 2:
            value = value[0]
        if isinstance(value, dict):
            for mime, representation in value.items():
                if isinstance(mime, str):
                    put(data, mime, representation)
    for mime, name in REPRS:
        found = None if mime in data else method(obj, name)
        if found is not None:
            try:
                put(data, mime, found())
            except Exception:
                pass  # a repr method that raises is skipped
    return data


class PyplotHook:
    """An import finder that finds nothing itself: when matplotlib.pyplot is imported, it has the
    module patched right after it loads (a cell that imports pyplot may call show() at once)."""

    def __init__(self, patch):
        self.patch = patch

    def find_spec(self, name, path=None, target=None):
        if name != "matplotlib.pyplot":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            spec = find(name, path, target) if find is not None else None
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                exec_module = spec.loader.exec_module

                def patched(module):
                    exec_module(module)
                    self.patch()

                spec.loader.exec_module = patched
                return spec
        return None


class Session:
    def __init__(self, request_fd, result_fd, write_files):
        self.request_fd, self.result_fd, self.write_files = request_fd, result_fd, write_files
        self.install_tools = lambda source: None  # serve() gives the harness's
        self.root = os.path.realpath("/mnt/req")
        self.contexts = {}  # context id -> its module, whose dict is the code's globals
        self.results = None  # the running execute's results, which display() adds to
        self.busy = False  # a call's code (or command) is running: SIGINT interrupts it
        # One message on the result pipe at a time (a thread's display may cross the call's answer),
        # and none cut short by an interrupt: it waits (deferred) until the message is out.
        self.writing = _thread.allocate_lock()
        self.writer = None  # the thread writing one now
        self.deferred = False
        self.cells = 0
        self.loop = None  # one asyncio event loop for the session's top-level awaits, made on first use

    def start(self, request):
        # kiln's interrupt: only a running call's; one that crosses the call's answer is dropped
        signal.signal(signal.SIGINT, self.interrupt)
        # The code's processes must not inherit kiln's calls (subprocess closes it anyway; os.system would not).
        os.set_inheritable(self.request_fd, False)
        os.environ["MPLBACKEND"] = "Agg"  # no display: figures are rendered to PNG after each call
        # pyplot.show() shows figures as results (patch_pyplot), from the moment pyplot is imported;
        # Agg's own show() only warns, should the code have kept it
        sys.meta_path.insert(0, PyplotHook(self.patch_pyplot))
        warnings.filterwarnings("ignore", message=".*(non-interactive|non-GUI backend)")
        sys.argv = [""]  # as in an interactive interpreter
        sys.path.insert(0, self.root)  # the code's own modules, as in one-shot mode
        try:
            os.environ.update(request.get("env") or {})
            self.write_files(request.get("files") or [])
            ready = {"ready": True}
        except Exception as exc:
            ready = {"ready": False, "error": self.error(exc, printed=False)}
        self.contexts["default"] = self.context()
        self.answer(ready)

    def interrupt(self, signum, frame):
        if self.busy and self.writer == _thread.get_ident():  # the handler runs in the main thread
            self.deferred = True
        elif self.busy:
            raise KeyboardInterrupt

    def lines(self):
        """The calls, a line each; the pipe's EOF means the wrapper, and so the box, is ending."""
        pending = bytearray()
        while True:
            end = pending.find(b"\n")
            while end < 0:
                chunk = os.read(self.request_fd, 1 << 20)
                if not chunk:
                    os._exit(0)
                searched = len(pending)
                pending += chunk
                end = pending.find(b"\n", searched)
            line = bytes(pending[:end])
            del pending[:end + 1]
            yield line

    def call(self, line):
        """One call's outcome."""
        call = None
        self.busy = True  # from the moment the call is in: an interrupt that comes early is not lost
        try:
            call = json.loads(line)
            op = call.get("op")
            if op == "execute":
                return self.execute(call)
            if op == "command":
                return self.command(call)
            if op == "context_create" or op == "context_delete":
                return self.context_call(op, call.get("context"))
            raise ValueError("kiln: no such call: %r" % (op,))
        except BaseException as exc:  # KeyboardInterrupt too: it may cross the edge of a call
            error = self.error(exc, printed=False)
        finally:
            self.busy = False
            self.results = None
        op = call.get("op") if isinstance(call, dict) else None
        return {"results": [], "error": error} if op == "execute" else {"ok": False, "error": error} if op and op.startswith("context_") else {"error": error}

    def answer(self, outcome):
        """An outcome on the result pipe, once what was printed before it is out."""
        self.flush()
        try:
            text = json.dumps(outcome, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            text = json.dumps({"error": {"name": type(exc).__name__, "value": "kiln: the outcome is not JSON-serializable: %s" % exc, "traceback": ""}})
        data = text.encode()
        data = b"%d\n" % len(data) + data  # its length first: the wrapper knows when all of it is in
        with self.writing:
            self.writer = _thread.get_ident()
            try:
                while data:
                    data = data[os.write(self.result_fd, data):]
            finally:
                self.writer = None
        if self.deferred:
            self.deferred = False
            if self.busy:
                raise KeyboardInterrupt

    def flush(self):
        # stdout and stderr stay open (unlike a one-shot run's): kiln gets them as o and e frames, call after call
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:
                pass  # the code closed or replaced it

    def context(self):
        """A fresh namespace: a module of its own named __main__, with display()."""
        module = types.ModuleType("__main__")
        module.display = self.display
        return module

    def context_call(self, op, name):
        if not isinstance(name, str) or not name:
            raise ValueError("kiln: a context's id is a non-empty string")
        if op == "context_create":
            if name in self.contexts:
                raise ValueError("kiln: context %r exists" % name)
            self.contexts[name] = self.context()
        else:
            if name == "default":
                raise ValueError("kiln: the default context cannot be deleted")
            module = self.contexts.pop(name, None)
            if module is None:
                raise KeyError("kiln: no context %r" % name)
            if sys.modules.get("__main__") is module:
                sys.modules["__main__"] = self.contexts["default"]
        return {"ok": True}

    def display(self, *objs, raw=False, **_):
        """display(obj, ...): each object's bundle is a result of the running call, in order, as
        IPython's display() does (raw=True: the objects are bundles already)."""
        results = self.results
        if results is None:
            return  # no call is running (a thread that outlived its call): there is nowhere to show it
        for obj in objs:
            if raw and isinstance(obj, dict):
                data = {}
                for mime, value in obj.items():
                    if isinstance(mime, str):
                        put(data, mime, value)
            else:
                data = bundle(obj)
            results.append(data)
            # shown as it is displayed too (a streamed call's display event); the answer still holds it
            self.answer({"display": data})

    def execute(self, call):
        name = call.get("context") or "default"
        module = self.contexts.get(name)
        if module is None:
            raise KeyError("kiln: no context %r" % (name,))
        if call.get("language") not in (None, "python"):
            raise ValueError("kiln: this session runs Python, not %s" % call.get("language"))
        code = call.get("code")
        if not isinstance(code, str):
            raise TypeError("kiln: code is a string")
        # this call's tools (`tools` on the call), or none: a module of an earlier call is gone
        self.install_tools(call.get("tools_module"))
        self.cells += 1
        filename = CELL % self.cells
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        # pickle, dataclasses and typing look the code's names up in sys.modules["__main__"]
        sys.modules["__main__"] = module
        results = self.results = []
        error = None
        self.busy = True
        try:
            self.patch_pyplot()
            tree = ast.parse(code, filename)
            # The last statement, when it is an expression, is the cell's value: its main result.
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            self.run(compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), module.__dict__)
            if last is not None:
                value = self.run(compile(ast.Expression(last.value), filename, "eval", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), module.__dict__)
                if value is not None:
                    results.append(dict(bundle(value), is_main_result=True))
        except BaseException as exc:  # KeyboardInterrupt and SystemExit too: they end the call, not the session
            error = self.error(exc)
        try:
            self.figures(results)
        except BaseException:
            pass  # a figure that does not render is not shown
        self.busy = False
        self.results = None
        return {"results": results, "error": error}

    def run(self, code, namespace):
        """Runs compiled code; one with a top-level await runs on the session's event loop."""
        if not code.co_flags & CO_COROUTINE:
            return eval(code, namespace)
        if self.loop is None:
            import asyncio
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
        task = self.loop.create_task(eval(code, namespace))
        try:
            return self.loop.run_until_complete(task)
        except BaseException:
            if not task.done():  # interrupted while it waited: it goes no further
                task.cancel()
                try:
                    self.loop.run_until_complete(task)
                except BaseException:
                    pass
            elif not task.cancelled():
                task.exception()  # retrieved: asyncio does not log it again when the task is collected
            raise

    def error(self, exc, printed=True):
        """An exception as a notebook reports it; the code's own (printed=True) goes to stderr too,
        as a one-shot run's does."""
        tb = exc.__traceback__
        # Hide the harness's frames (and asyncio's, which ran a top-level await): the user should see only their code.
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell-"):
            tb = tb.tb_next
        try:
            text = "".join(traceback.format_exception(type(exc), exc, tb))
        except Exception:
            text = "%s\n" % type(exc).__name__
        try:
            value = str(exc)
        except Exception:
            value = ""
        if printed:
            try:
                sys.stderr.write(text)
            except Exception:
                pass
        return {"name": type(exc).__name__, "value": value, "traceback": text}

    def patch_pyplot(self):
        """pyplot.show() shows the open figures as results now, as a notebook's inline backend
        does, once the code has imported pyplot."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None or getattr(pyplot.show, "kiln", False):
            return

        def show(*args, **kwargs):
            if self.results is not None:
                self.figures(self.results)

        show.kiln = True
        pyplot.show = show

    def figures(self, results):
        """Every open matplotlib figure as a PNG result, then closed."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        self.patch_pyplot()
        import io
        for number in pyplot.get_fignums():
            figure = pyplot.figure(number)
            png = io.BytesIO()
            figure.savefig(png, format="png", bbox_inches="tight")
            results.append({"text/plain": repr(figure), "image/png": base64.b64encode(png.getvalue()).decode("ascii")})
        pyplot.close("all")

    def command(self, call):
        """A process of its own in the box: its stdout and stderr are the harness's."""
        import subprocess
        cmd = call.get("cmd")
        if isinstance(cmd, str):
            argv = ["/bin/sh", "-c", cmd]
        elif isinstance(cmd, list) and cmd and all(isinstance(arg, str) for arg in cmd):
            argv = cmd
        else:
            raise ValueError("kiln: cmd is an argv (a list of strings) or a shell command (a string)")
        cwd = os.path.realpath(os.path.join(self.root, call.get("cwd") or "."))
        if cwd != self.root and not cwd.startswith(self.root + os.sep):
            raise ValueError("kiln: cwd escapes /mnt/req: %s" % call.get("cwd"))
        env = dict(os.environ)
        env.update(call.get("env") or {})
        stdin = (call.get("stdin") or "").encode()
        self.flush()  # what the code printed before comes before the command's output
        self.busy = False  # not while it starts: an interrupt there would leave it running unseen
        try:
            # its own process group: an interrupt reaches all of it
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            print("kiln: %s" % exc, file=sys.stderr)
            return {"exit_code": 126 if isinstance(exc, PermissionError) else 127}  # as a shell says it
        try:
            self.busy = True
            if stdin:
                process.communicate(stdin)
            else:
                process.wait()
        except KeyboardInterrupt:
            self.busy = False
            self.stop(process, subprocess)
        self.busy = False
        code = process.returncode
        return {"exit_code": code if code >= 0 else 128 - code}

    def stop(self, process, subprocess):
        """kiln's interrupt, passed on to the command's process group; what ignores it for 2 s is killed."""
        for sig, timeout in ((signal.SIGINT, 2), (signal.SIGKILL, None)):
            try:
                os.killpg(process.pid, sig)
            except OSError:
                pass
            try:
                process.wait(timeout)
                return
            except subprocess.TimeoutExpired:
                pass
