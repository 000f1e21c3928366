"""kiln session files: one file operation in a session's workspace, run by kiln in the box.

    python3 -I -S -c <this file> <op> <path> [<max bytes>]

kiln runs it with `docker exec` as the sandbox user (the box's limits and walls), passing this
program as the -c argument, so no image carries it. Ops: `put` (stdin to the file, creating its
directories), `get` (the file to stdout, after a line "<size>\\n"), `list` (a directory's entries, one
JSON object a line; an optional depth lists below it too), `rm` (a file, or a directory with what it
holds), `stat` (one entry, as list gives it), `mkdir` (with its parents; 7 when it exists), `mv <path> <to>`.

The path is walked one name at a time from the workspace with openat(O_NOFOLLOW): a symlink
anywhere on it, or a "..", is refused, so no path leaves the workspace whatever the code did to it.
Exit codes say what went wrong, for kiln to answer: 2 refused path, 3 not found, 4 wrong kind
(a directory where a file was wanted, or the reverse), 5 no space left (the workspace is full),
6 larger than allowed, 7 there already.
"""
import errno, os, shutil, stat, sys

ROOT = "/mnt/req"


def fail(code, message):
    sys.stderr.write(message + "\n")
    sys.exit(code)


def names(path):
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        fail(2, "the path leaves the workspace")
    return parts


def open_at(name, directory, flags):
    """`name` in `directory`, never through a symlink: refused when it is one, and checked after
    opening to be what was looked at (gVisor's openat does not always honour O_NOFOLLOW)."""
    seen = os.stat(name, dir_fd=directory, follow_symlinks=False)
    if stat.S_ISLNK(seen.st_mode):
        fail(2, "a symlink is on the path: " + name)
    fd = os.open(name, flags | os.O_NOFOLLOW, dir_fd=directory)
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino):
        fail(2, "the path changed while it was opened: " + name)
    return fd


def walk(parts, create):
    """A descriptor of the directory `parts` name, opened without following any symlink."""
    fd = os.open(ROOT, os.O_RDONLY | os.O_DIRECTORY)
    for name in parts:
        try:
            child = open_at(name, fd, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            if not create:
                fail(3, "no such directory: " + name)
            os.mkdir(name, 0o755, dir_fd=fd)
            child = open_at(name, fd, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            fail(2 if e.errno == errno.ELOOP else 4, "not a directory: " + name)
        os.close(fd)
        fd = child
    return fd


def put(parts, limit):
    """Writes stdin to a new file beside the target, then renames it over the target: a failed
    upload leaves what was there, and a symlink at the target is replaced, never followed."""
    if not parts:
        fail(4, "the workspace itself is a directory")
    directory = walk(parts[:-1], True)
    temp = ".kiln-upload-%d" % os.getpid()
    out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=directory)
    total = 0
    try:
        while True:
            chunk = os.read(0, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                fail(6, "the file is larger than %d bytes" % limit)
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view):]
        os.close(out)
        try:
            os.rename(temp, parts[-1], src_dir_fd=directory, dst_dir_fd=directory)
        except OSError as e:
            fail(4, "cannot write there: " + os.strerror(e.errno))
    except OSError as e:
        if e.errno == errno.ENOSPC:
            fail(5, "the workspace is full")
        raise
    finally:
        try:
            os.unlink(temp, dir_fd=directory)  # gone already once renamed
        except OSError:
            pass
    sys.stdout.write("%d\n" % total)


def get(parts):
    directory = walk(parts[:-1], False) if parts else None
    if not parts:
        fail(4, "the workspace itself is a directory")
    try:
        fd = open_at(parts[-1], directory, os.O_RDONLY)
    except FileNotFoundError:
        fail(3, "no such file")
    except OSError as e:
        fail(2 if e.errno == errno.ELOOP else 4, "cannot read it: " + os.strerror(e.errno))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        fail(4, "not a file")
    out = sys.stdout.buffer
    out.write(b"%d\n" % info.st_size)
    out.flush()
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        out.write(chunk)
    out.flush()


def describe(name, path, info, directory):
    """One entry as a JSON line: its kind, size, times, mode and owner (and a symlink's target, unfollowed)."""
    import json

    kind = "directory" if stat.S_ISDIR(info.st_mode) else "symlink" if stat.S_ISLNK(info.st_mode) else "file"
    entry = {"name": name, "path": path, "type": kind, "size": info.st_size, "modified": int(info.st_mtime),
             "modified_ns": info.st_mtime_ns, "mode": stat.S_IMODE(info.st_mode), "uid": info.st_uid, "gid": info.st_gid}
    if kind == "symlink":
        try:
            entry["target"] = os.readlink(name, dir_fd=directory)
        except (OSError, TypeError):
            pass
    print(json.dumps(entry))


def listing(parts, depth=1):
    """The entries of a directory, and of those below it down to `depth` levels (never through a symlink)."""
    fd = walk(parts, False)
    for entry in sorted(os.scandir(fd), key=lambda e: e.name):
        info = entry.stat(follow_symlinks=False)
        describe(entry.name, "/".join(parts + [entry.name]), info, fd)
        if depth > 1 and stat.S_ISDIR(info.st_mode):
            listing(parts + [entry.name], depth - 1)
    os.close(fd)


def stat_of(parts):
    if not parts:
        describe("", "", os.stat(ROOT), None)
        return
    directory = walk(parts[:-1], False)
    try:
        info = os.stat(parts[-1], dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        fail(3, "no such file")
    describe(parts[-1], "/".join(parts), info, directory)


def make_dir(parts):
    """mkdir -p; exit 7 when it is there already (E2B's makeDir says so)."""
    if not parts:
        fail(7, "the workspace exists")
    directory = walk(parts[:-1], True)
    try:
        os.mkdir(parts[-1], 0o755, dir_fd=directory)
    except FileExistsError:
        fail(7, "it exists")
    stat_of(parts)


def move(source, target):
    """Renames source to target (its directories made), neither path through a symlink."""
    if not source or not target:
        fail(4, "the workspace itself cannot be moved")
    src_dir, dst_dir = walk(source[:-1], False), walk(target[:-1], True)
    try:
        os.stat(source[-1], dir_fd=src_dir, follow_symlinks=False)
    except FileNotFoundError:
        fail(3, "no such file")
    try:
        os.rename(source[-1], target[-1], src_dir_fd=src_dir, dst_dir_fd=dst_dir)
    except OSError as e:
        fail(4, "cannot move it there: " + os.strerror(e.errno))
    stat_of(target)


def remove(parts):
    if not parts:
        fail(4, "the workspace itself cannot be removed")
    directory = walk(parts[:-1], False)
    try:
        info = os.stat(parts[-1], dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        fail(3, "no such file")
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(parts[-1], dir_fd=directory)
    else:
        os.unlink(parts[-1], dir_fd=directory)


op, path = sys.argv[1], sys.argv[2]
parts = names(path)
if op == "put":
    put(parts, int(sys.argv[3]))
elif op == "get":
    get(parts)
elif op == "list":
    listing(parts, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
elif op == "stat":
    stat_of(parts)
elif op == "mkdir":
    make_dir(parts)
elif op == "mv":
    move(parts, names(sys.argv[3]))
elif op == "rm":
    remove(parts)
else:
    fail(2, "unknown op")
