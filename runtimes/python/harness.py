"""kiln harness, Python: runs the user's code for the wrapper.

Started before the request arrives. Reads the request from the fd in argv[1],
sets up env, files and argv, runs the code as __main__ (script mode) or calls
its execute(input) (function mode), and writes the result as JSON to the fd
in argv[2], a pipe the wrapper keeps apart from stdout/stderr.
"""
import json, linecache, os, sys, traceback

# Under memory pressure the kernel should kill the user's process, not the wrapper.
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
except OSError:
    pass

with os.fdopen(int(sys.argv[1]), "rb") as pipe:
    request = json.loads(pipe.read())
result_pipe = os.fdopen(int(sys.argv[2]), "w")
HARNESS = os.path.abspath(__file__)


def write_files(files):
    root = os.path.realpath("/mnt/req")
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


def run():
    """Returns the exit code; writes the result for function mode."""
    filename = "main.py"
    code = request["code"]
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    sys.argv = [filename] + list(request.get("args") or [])
    sys.path.insert(0, "/mnt/req")
    module = {"__name__": "__main__" if request["mode"] == "script" else "main", "__file__": filename}
    try:
        os.environ.update(request.get("env") or {})
        write_files(request.get("files") or [])
        exec(compile(code, filename, "exec"), module)
        if request["mode"] == "script":
            return 0
        execute = module.get("execute")
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
        output = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        print("kiln: the return value is not JSON-serializable: %s" % exc, file=sys.stderr)
        result_pipe.write('{"status":"json_serialization_error"}')
        return 0
    result_pipe.write('{"status":"valid","output":' + output + "}")
    return 0


exit_code = run()
sys.stdout.flush()
sys.stderr.flush()
result_pipe.close()
sys.exit(exit_code)
