"""kiln build program: installs a custom runtime's packages inside a build box.

kiln sends this file as the code of a script run in a build box (an image FROM the language's
sandbox image, plus pip's wheel or npm), with the manifest as a file and KILN_BUILD (JSON) in the
env. The box is a sandbox like any other (no capabilities, uid 10001, limits, no network but
kiln's egress proxy, which lets it reach only the configured package sources); its one writable
place that can hold programs is the tmpfs at the install path.

It prints the package manager's own output (the build log), then, on success, a marker line, and
waits: kiln copies the installed tree out of the box (tar), then ends the box. On failure it
exits with the package manager's status: its last lines say why.
"""
import json, os, subprocess, sys, time

spec = json.loads(os.environ.pop("KILN_BUILD"))
MARKER = "\x1ekiln-build: installed\n"
# Packages' install scripts run as subprocesses: they get a minimal environment, not the harness's.
env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                                                  "https_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE",
                                                  "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
env.update(spec.get("env", {}))


def run(cmd, cwd, shown=None):
    print("$ " + (shown or " ".join(cmd)), flush=True)
    return subprocess.call(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def fail(message, status=1):
    print("kiln-build: " + message, flush=True)
    sys.exit(status)


if spec["language"] == "python":
    target = spec["target"]
    wheel = "/opt/kiln-build/pip.whl"
    # Debian's Python has no pip; the build image carries its wheel, which runs as is.
    pip = ["python3", wheel + "/pip"] if os.path.exists(wheel) else ["python3", "-m", "pip"]
    status = run(pip + ["install", "--no-input", "--disable-pip-version-check", "--no-cache-dir", "--progress-bar", "off",
                        "--no-warn-script-location", "--target", target, "-r", "/mnt/req/requirements.txt"] + spec["pip_args"], "/tmp")
    if status:
        fail("pip install exited with status %d" % status, status)
    imports = spec.get("imports") or []
    if imports:
        # Each module imported once, in a fresh interpreter that sees the packages as the sandbox will.
        check = ("import importlib, site, sys, traceback\nsite.addsitedir(%r)\nbad = 0\n"
                 "for m in %r:\n    try:\n        importlib.import_module(m)\n        print('imported ' + m)\n"
                 "    except BaseException:\n        bad += 1\n        print('could not import ' + m + ':')\n"
                 "        traceback.print_exc(limit=3, file=sys.stdout)\nsys.exit(1 if bad else 0)\n") % (target, imports)
        if run(["python3", "-c", check], "/tmp", "import " + ", ".join(imports)):
            fail("additional_python_imports: a module did not import (above)")
else:
    target = spec["target"]  # the packages' parent: node_modules is made there
    with open("/mnt/req/package.json") as src, open(os.path.join(target, "package.json"), "w") as dst:
        dst.write(src.read())
    status = run(["node", "/opt/kiln-build/npm/bin/npm-cli.js", "install", "--omit=dev", "--no-audit", "--no-fund",
                  "--no-update-notifier", "--cache", "/tmp/npm-cache", "--userconfig", "/tmp/kiln-no-userconfig", "--globalconfig", "/tmp/kiln-no-globalconfig",
                  # a source that refuses (a wrong certificate, say) fails the build in seconds, not minutes
                  "--fetch-retries", "2", "--fetch-retry-mintimeout", "1000", "--fetch-retry-maxtimeout", "5000",
                  "--registry", spec["registry"]], target)
    if status:
        fail("npm install exited with status %d" % status, status)
    if not os.path.isdir(os.path.join(target, "node_modules")):
        os.mkdir(os.path.join(target, "node_modules"))  # a package.json with no dependencies

sys.stdout.write(MARKER)
sys.stdout.flush()
time.sleep(3600)  # kiln ends the box once it has the tree
