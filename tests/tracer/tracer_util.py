"""tracer_util.py - what the tracer's integration tests share.

The tests drive the real `taskscope` command against real programs (the
examples, and the programs in this directory) and look at what it
printed and at the SQLite recordings it wrote.  They never assert on
time: every wait polls with a generous deadline, so a loaded two-core
machine makes them slower, never red.

Configuration comes from the environment meson's test() sets:
  TASKSCOPE        the taskscope executable
  TS_EXAMPLES      the build directory of examples/
  TS_PROGS         the build directory of tests/tracer/ (prog_*)
  TS_DEBUG_LIBDIR  the directory of the debug runtime's libtaskscope.so.0
  TS_SOURCE_ROOT   the source tree (to find the lines of spawn sites)

Each test script builds a Checker, runs its checks (each a function; a
failing one is reported and the others still run) and exits with
Checker.finish().  Processes a test starts are killed by pid when it ends.
"""
import json
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict

TASKSCOPE = os.environ.get("TASKSCOPE", "taskscope")
EXAMPLES = os.environ.get("TS_EXAMPLES", ".")
PROGS = os.environ.get("TS_PROGS", ".")
DEBUG_LIBDIR = os.environ.get("TS_DEBUG_LIBDIR", "")
SOURCE_ROOT = os.environ.get("TS_SOURCE_ROOT", ".")

# Generous: a loaded machine may be slow, a correct tracer is never stuck.
TIMEOUT = float(os.environ.get("TS_TEST_TIMEOUT", "120"))


class CheckFailed(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


def example(name):
    return os.path.join(EXAMPLES, name)


def prog(name):
    return os.path.join(PROGS, name)


def source_line(relpath, needle):
    """The 1-based line of relpath (under the source root) containing needle."""
    with open(os.path.join(SOURCE_ROOT, relpath), encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if needle in line:
                return i
    raise CheckFailed("%s: no line contains %r" % (relpath, needle))


def debug_env():
    """The environment of a program switched to the debug runtime."""
    env = dict(os.environ)
    old = env.get("LD_LIBRARY_PATH")
    env["LD_LIBRARY_PATH"] = DEBUG_LIBDIR + (":" + old if old else "")
    return env


def taskscope(*args, timeout=None, expect_rc=None, input=None):
    """Run taskscope; return the CompletedProcess (text)."""
    p = subprocess.run([TASKSCOPE] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, errors="replace",
                       timeout=timeout or TIMEOUT, input=input)
    if expect_rc is not None:
        expect(p.returncode == expect_rc,
               "taskscope %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
               % (" ".join(map(str, args)), p.returncode, expect_rc, p.stdout[-2000:],
                  p.stderr[-2000:]))
    return p


def taskscope_json(*args):
    p = taskscope(*args, expect_rc=0)
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise CheckFailed("taskscope %s printed invalid JSON (%s): %s"
                          % (" ".join(map(str, args)), e, p.stdout[:2000]))


class Proc:
    """A background process whose stdout lines are collected by a thread,
    so a test can wait for a line without blocking on the pipe."""

    def __init__(self, argv, env=None, cwd=None):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, errors="replace", env=env, cwd=cwd,
                                  start_new_session=True)
        self.lines = []
        self.err = []
        self._q = queue.Queue()
        threading.Thread(target=self._pump, args=(self.p.stdout, self._q), daemon=True).start()
        self._err_pump = threading.Thread(target=self._pump, args=(self.p.stderr, None),
                                          daemon=True)
        self._err_pump.start()

    def _pump(self, f, q):
        for line in f:
            if q is None:
                self.err.append(line.rstrip("\n"))
            else:
                q.put(line.rstrip("\n"))
        if q is not None:
            q.put(None)

    @property
    def pid(self):
        return self.p.pid

    def wait_line(self, pattern, timeout=None):
        """The first match of pattern in a new stdout line (a re.Match)."""
        deadline = time.monotonic() + (timeout or TIMEOUT)
        rx = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed("%s: no line matching %r within the timeout; got %r, "
                                  "stderr %r" % (self.argv[0], pattern, self.lines[-10:],
                                                 self.err[-10:]))
            try:
                line = self._q.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is None:
                raise CheckFailed("%s exited (status %s) before printing %r; got %r, "
                                  "stderr %r" % (self.argv[0], self.p.wait(), pattern,
                                                 self.lines[-10:], self.err[-10:]))
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m

    def wait(self, timeout=None):
        try:
            return self.p.wait(timeout=timeout or TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CheckFailed("%s did not exit within the timeout" % self.argv[0])

    def stderr_text(self):
        """What it wrote on stderr: all of it once it has exited.  The
        pump thread reads on after the exit; without waiting for its end
        of file a check could see the last lines missing (test_crash's
        snapshot path, printed just before the crash, came back empty)."""
        if self.p.poll() is not None:
            self._err_pump.join(timeout=TIMEOUT)
        return "\n".join(self.err)

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass


def remove_segment(pid):
    """Nothing to remove any more: the trace segment is a memfd, gone with
    the process (SIGKILL included) and with its last reader.  Kept for the
    callers; says whether something was left in /dev/shm (never)."""
    return os.path.exists("/dev/shm/taskscope.%d" % pid)


def has_segment(pid):
    """Has process pid made its trace segment (a "/memfd:taskscope."
    descriptor whose header has its magic, written last)?"""
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            path = "/proc/%d/fd/%s" % (pid, fd)
            try:
                if os.readlink(path).startswith("/memfd:taskscope."):
                    with open(path, "rb") as f:
                        if f.read(8) == b"TSTRACE1":
                            return True
            except OSError:
                pass
    except OSError:
        pass
    return False


def poll_until(what, fn, timeout=None, interval=0.05):
    """Call fn until it returns something true; return that."""
    deadline = time.monotonic() + (timeout or TIMEOUT)
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise CheckFailed("timed out waiting for " + what)
        time.sleep(interval)


def db(path):
    """A read-only connection to a recording."""
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True)


def rows(path, sql, args=()):
    con = db(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def count_rows(path, table):
    """Rows of table that another connection can see; 0 while the file or
    the table does not exist yet (a recording being created)."""
    try:
        return rows(path, "SELECT count(*) FROM %s" % table)[0][0]
    except sqlite3.Error:
        return 0


def session(path):
    return dict(rows(path, "SELECT key, value FROM session"))


def record(path, argv, env=None):
    """taskscope run -o path -- argv; returns the CompletedProcess."""
    p = subprocess.run([TASKSCOPE, "run", "-o", path, "--"] + argv, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, errors="replace", env=env,
                       timeout=TIMEOUT * 2)
    return p


def check_nesting(events, what):
    """For each (pid, tid) track, X slices sorted by start never partially
    overlap: the next one starts after this one ends, or ends inside it."""
    tracks = defaultdict(list)
    for e in events:
        if e.get("ph") == "X":
            expect(e["dur"] >= 0, "%s: negative duration %r" % (what, e))
            tracks[(e["pid"], e["tid"])].append(e)
    eps = 0.0015   # ts and dur are printed in microseconds with 3 decimals
    for key, sl in tracks.items():
        sl.sort(key=lambda e: (e["ts"], -e["dur"]))
        open_ = []   # end times of the enclosing slices
        for e in sl:
            while open_ and e["ts"] >= open_[-1] - eps:
                open_.pop()
            end = e["ts"] + e["dur"]
            if open_:
                expect(end <= open_[-1] + eps,
                       "%s: slices overlap partially on track %r: %r ends at %.3f, after its "
                       "enclosing slice (ends %.3f)" % (what, key, e, end, open_[-1]))
            open_.append(end)
    return tracks


class Checker:
    def __init__(self, name):
        self.name = name
        self.failed = []
        self.procs = []
        self.adopted = []   # (pid, comm): traced programs started by taskscope run
        self.dir = tempfile.mkdtemp(prefix="tracer-%s-" % name)
        for var, path in (("TASKSCOPE", TASKSCOPE), ("TS_EXAMPLES", EXAMPLES),
                          ("TS_PROGS", PROGS), ("TS_DEBUG_LIBDIR", DEBUG_LIBDIR)):
            if not os.path.exists(path):
                print("%s: %s=%s does not exist" % (name, var, path), file=sys.stderr)
                sys.exit(1)

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self, argv, env=None):
        p = Proc(argv, env=env, cwd=self.dir)
        self.procs.append(p)
        return p

    def adopt(self, pid, comm):
        """Kill pid at the end if it still runs as comm: the program a
        `taskscope run` started, orphaned if a check fails midway."""
        self.adopted.append((pid, comm))
        return pid

    def check(self, fn, *args):
        label = fn.__name__ + ("(%s)" % ", ".join(map(str, args)) if args else "")
        t0 = time.monotonic()
        try:
            fn(self, *args)
        except CheckFailed as e:
            self.failed.append(label)
            print("FAIL %s: %s" % (label, e), flush=True)
            return
        except Exception:
            self.failed.append(label)
            print("FAIL %s: unexpected exception\n%s" % (label, traceback.format_exc()),
                  flush=True)
            return
        print("ok   %s (%.1f s)" % (label, time.monotonic() - t0), flush=True)

    def finish(self):
        for pid, comm in self.adopted:
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == comm[:15]:
                        os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            remove_segment(pid)
        for p in self.procs:
            p.kill()
            try:
                p.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            remove_segment(p.pid)
        if self.failed:
            print("%s: %d check(s) failed: %s (files kept in %s)"
                  % (self.name, len(self.failed), ", ".join(self.failed), self.dir))
            return 1
        shutil.rmtree(self.dir, ignore_errors=True)
        print("%s: all checks passed" % self.name)
        return 0
