#!/usr/bin/env python3
"""check_examples.py - run one example program and check what it printed.

usage: check_examples.py NAME EXECUTABLE SOURCE [DEBUG_LIBRARY]

With DEBUG_LIBRARY (the path of libtaskscope-debug's shared library), the
example is run against the debug runtime instead, switched at start-up
through LD_LIBRARY_PATH without relinking (same soname): its output must
not change.

examples/meson.build registers one test per example (suite 'examples').
Each check looks at the program's output only: the lines, and their order
where the runtime's semantics guarantee it (FIFO scheduling, first come
first served locks, timers firing in deadline order).  Nothing here
measures time: a loaded or instrumented machine changes durations, never
these outcomes.  Sites the runtime reports ("file.c:LINE in func()") are
checked against SOURCE, so a diagnostic must point at the right line.

Set TASKSCOPE_EXAMPLE_WRAPPER to run the example under a tool, e.g.
  TASKSCOPE_EXAMPLE_WRAPPER="valgrind --error-exitcode=1 --leak-check=full"
"""
import errno
import os
import re
import shlex
import subprocess
import tempfile
import sys
from collections import Counter


class CheckFailed(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


def expect_lines(got, want):
    expect(got == want, "expected lines %r, got %r" % (want, got))


class Run:
    """One run of an example: its output split into lines, its source, and
    the directory it ran in."""

    def __init__(self, stdout, stderr, source, workdir):
        self.workdir = workdir
        self.out = stdout.splitlines()
        self.err = stderr.splitlines()
        self.source_path = source
        with open(source, encoding="utf-8") as f:
            self.source = f.read().splitlines()

    def site_ok(self, text, call, func):
        """True if text names a site "<this file>:LINE in func()" whose
        source line contains call."""
        base = re.escape(os.path.basename(self.source_path))
        for m in re.finditer(r"(?:^|[\s/])%s:(\d+) in (\w+)\(\)" % base, text):
            line, where = int(m.group(1)), m.group(2)
            if where == func and 1 <= line <= len(self.source) \
                    and call in self.source[line - 1]:
                return True
        return False

    def expect_site(self, text, call, func):
        expect(self.site_ok(text, call, func),
               "%r should name the line of %s in %s() of %s"
               % (text, call, func, os.path.basename(self.source_path)))


# ---- one function per example ------------------------------------------------

def check_hello_world(r):
    expect_lines(r.out, ["Hello", "World", "Hello", "World"])


def check_say_after(r):
    expect(len(r.out) == 10, "expected 10 lines, got %r" % r.out)
    for block, title in ((r.out[:5], "-- serial --"),
                         (r.out[5:], "-- concurrent --")):
        expect(block[0] == title, "expected %r, got %r" % (title, block[0]))
        expect(re.fullmatch(r"started at \S.*", block[1]), block[1])
        # 1 s before 2 s: timers fire in deadline order, serial or not.
        expect_lines(block[2:4], ["hello", "world"])
        expect(re.fullmatch(r"finished at \S.*", block[4]), block[4])


def check_future(r):
    expect_lines(r.out, ["Future done"])


def check_gather(r):
    urls = ["https://example.com/%d" % i for i in (1, 2, 3)]
    expect(len(r.out) == 9, "expected 9 lines, got %r" % r.out)
    # The tasks start in spawn order, all before any 2 s sleep ends.
    expect_lines(r.out[:3], ["start fetching: " + u for u in urls])
    expect(sorted(r.out[3:6]) == ["done fetching: " + u for u in urls],
           "each fetch should finish once: %r" % r.out[3:6])
    # gather returns results in the order the tasks were given.
    expect_lines(r.out[6:], ["data from " + u for u in urls])


def check_wait_for(r):
    expect_lines(r.out, ["operation timed out"])


def check_async_with(r):
    expect_lines(r.out, ["acquire resource", "process resource",
                         "release resource"])


def check_async_iterator(r):
    expect_lines(r.out, [str(i) for i in range(5)])


check_async_generator = check_async_iterator


def check_producer_consumer(r):
    produced, consumed = Counter(), Counter()
    nproduced = nconsumed = 0
    body = r.out[:-3]
    for line in body:
        m = re.fullmatch(r"(Producer (\d) produced|Consumer (\d) consumed): "
                         r"(\d+)", line)
        expect(m, "unexpected line %r" % line)
        role = "Producer" if m.group(2) is not None else "Consumer"
        ident = int(m.group(2) if m.group(2) is not None else m.group(3))
        item = int(m.group(4))
        expect(1 <= item <= 100, "item out of range: %r" % line)
        if role == "Producer":
            expect(0 <= ident < 3, line)
            produced[item] += 1
            nproduced += 1
        else:
            expect(0 <= ident < 2, line)
            # An item is printed as produced as soon as put returns, before
            # any consumer can have printed it.
            consumed[item] += 1
            nconsumed += 1
            expect(consumed[item] <= produced[item],
                   "%r consumed before it was produced" % line)
    expect(nproduced > 0 and nconsumed > 0,
           "expected some items produced and consumed")
    tail = r.out[-3:]
    expect(len(tail) == 3, "missing summary lines: %r" % r.out)
    expect(tail[0] == "cancelled 5 of 5 tasks", tail[0])
    m = re.fullmatch(r"items left in the queue: (\d+)", tail[1])
    expect(m, tail[1])
    left = int(m.group(1))
    expect(left == nproduced - nconsumed and left <= 10,
           "%d left, but %d produced and %d consumed (queue bound 10)"
           % (left, nproduced, nconsumed))
    expect(tail[2] == "all tasks reaped: only 'main' is left", tail[2])


def check_semaphore(r):
    inside, peak, acquired, released = set(), 0, [], []
    for line in r.out[:-1]:
        m = re.fullmatch(r"Worker (\d+) (acquired|released) the semaphore",
                         line)
        expect(m, "unexpected line %r" % line)
        w = int(m.group(1))
        if m.group(2) == "acquired":
            expect(w not in acquired, "worker %d acquired twice" % w)
            acquired.append(w)
            inside.add(w)
            peak = max(peak, len(inside))
            expect(len(inside) <= 3, "more than 3 workers inside: %r" % inside)
        else:
            expect(w in inside, "worker %d released without holding" % w)
            inside.remove(w)
            released.append(w)
    # The semaphore serves waiters first come, first served.
    expect(acquired == list(range(10)), "acquisition order %r" % acquired)
    expect(sorted(released) == list(range(10)), "released %r" % released)
    expect(peak == 3, "peak %d from the lines" % peak)
    expect_lines(r.out[-1:], ["max concurrency observed: 3 (limit 3)"])


def check_lock_counter(r):
    expect_lines(r.out, ["Final counter value: 10",
                         "Results from tasks: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"])


def check_file_io(r):
    expect_lines(r.out, ["File content: Hello, asyncio world!"])
    with open(os.path.join(r.workdir, "example.txt"), encoding="utf-8") as f:
        written = f.read()
    expect(written == "Hello, asyncio world!",
           "example.txt holds %r" % written)


def check_thread_pool(r):
    expect_lines(r.out, ["fib(35) = 9227465", "fib(36) = 14930352",
                         "fib(37) = 24157817", "fib(38) = 39088169"])


check_process_pool = check_thread_pool


def check_pg_client(r):
    # A fresh database: the one row inserted, read back by the SELECT.
    expect_lines(r.out, ["User: John Doe, Email: john@example.com"])


def check_http_fetch(r):
    # Run through tests/http_example.py, which serves the URLs it puts in
    # the environment; gather reports them in the order given.
    from http_example import PAGES
    urls = os.environ.get("TASKSCOPE_HTTP_URLS", "").split()
    expect(urls, "http_fetch is checked through tests/http_example.py")
    want = []
    for u in urls:
        path = "/" + u.split("/", 3)[3]
        if u.startswith("https:"):
            want.append("%s: failed: %s" % (u, os.strerror(errno.EPROTONOSUPPORT)))
        elif path in PAGES:
            want.append("Content from %s: %d characters" % (u, len(PAGES[path])))
        elif path == "/missing":
            want.append("%s: HTTP status 404" % u)
        elif path == "/slow":
            want.append("%s: timed out after 3 s" % u)
        else:   # the port nobody listens on
            want.append("%s: failed: %s" % (u, os.strerror(errno.ECONNREFUSED)))
    expect_lines(r.out, want)

def task_line(line):
    m = re.fullmatch(r"  #(\d+) '([^']*)' (\w+)(?:, awaiting (\w+) at (.*?))?"
                     r"(?:, spawned at (.*))?", line)
    expect(m, "not a task line: %r" % line)
    return {"name": m.group(2), "state": m.group(3), "kind": m.group(4),
            "at": m.group(5), "spawned": m.group(6)}


def check_current_task(r):
    out = r.out
    names = ["Task %d" % i for i in range(3)]
    expect(len(out) == 19, "expected 19 lines, got %r" % out)

    expect(out[0] == "Current task:", out[0])
    me = task_line(out[1])
    expect(me["name"] == "main" and me["state"] == "running" and not me["kind"],
           out[1])

    # Right after spawning: the children are ready and have not run yet.
    expect(out[2] == "All tasks (4):", out[2])
    listed = [task_line(l) for l in out[3:7]]
    expect(listed[0]["name"] == "main" and listed[0]["state"] == "running",
           out[3])
    for t, name, line in zip(listed[1:], names, out[4:7]):
        expect(t["name"] == name and t["state"] == "ready" and not t["kind"],
               line)
        r.expect_site(t["spawned"] or "", "ts_spawn_with(", "amain")

    expect_lines(out[7:10], ["%s is running" % n for n in names])

    # From the monitor, while main waits in gather and the others sleep.
    expect(out[10] == "All tasks while main waits (5):", out[10])
    listed = [task_line(l) for l in out[11:16]]
    main = listed[0]
    expect(main["name"] == "main" and main["state"] == "suspended"
           and main["kind"] == "task", out[11])
    r.expect_site(main["at"] or "", "ts_gather(", "amain")
    for t, name, line in zip(listed[1:4], names, out[12:15]):
        expect(t["name"] == name and t["state"] == "suspended"
               and t["kind"] == "sleep", line)
        r.expect_site(t["at"] or "", "ts_sleep(", "task_func")
        r.expect_site(t["spawned"] or "", "ts_spawn_with(", "amain")
    mon = listed[4]
    expect(mon["name"] == "monitor" and mon["state"] == "running"
           and not mon["kind"], out[15])
    r.expect_site(mon["spawned"] or "", "ts_spawn(monitor", "amain")

    expect(sorted(out[16:]) == ["%s is done" % n for n in names],
           "each task should finish once: %r" % out[16:])


def diag_lines(r, what):
    return [l for l in r.err if l.startswith("taskscope: ") and what in l]


def check_pitfall_forgotten_await(r):
    # main returns before the task ever runs: it prints nothing at all.
    expect_lines(r.out, [
        "-- wrong: the task is spawned and never awaited --",
        "main: done",
        "runtime diagnosis: 1 task(s) never awaited",
        "-- right: the task is awaited --",
        "saving the report",
        "report saved",
        "main: done",
        "runtime diagnosis: 1 task(s) never awaited"])
    found = diag_lines(r, "never awaited")
    expect(len(found) == 1, "expected one never-awaited report on stderr, "
           "got %r" % r.err)
    expect("'save_report'" in found[0], found[0])
    r.expect_site(found[0], "ts_spawn(save_report", "wrong_main")


def check_pitfall_blocking_call(r):
    expect(len(r.out) == 6, "expected 6 lines, got %r" % r.out)
    expect(r.out[0] == "-- wrong: sleep(1) inside a task --", r.out[0])
    expect(re.fullmatch(r"ticker: \d+ ticks, longest gap [\d.]+ s "
                        r"\(expected 0\.10 s\)", r.out[1]), r.out[1])
    # sleep(1) holds the thread for at least a second, so the ticker cannot
    # have run in between: this verdict does not depend on machine speed.
    expect(re.fullmatch(r"diagnosis: the loop was frozen for [\d.]+ s: a task "
                        r"blocked the thread instead of suspending", r.out[2]),
           r.out[2])
    expect(r.out[3] == "-- right: ts_sleep(1.0) --", r.out[3])
    expect(re.fullmatch(r"ticker: \d+ ticks, longest gap [\d.]+ s "
                        r"\(expected 0\.10 s\)", r.out[4]), r.out[4])
    # How responsive the loop stayed does depend on the machine: the
    # verdict's wording is checked, not which one it was.
    expect(r.out[5].startswith("diagnosis: "), r.out[5])


def check_pitfall_unbounded(r):
    expect_lines(r.out, [
        "-- wrong: 10000 fetches at once --",
        # All 10000 start in one loop iteration, before any sleep can end.
        "10000 fetches done, peak concurrent fetches: 10000",
        "-- right: a semaphore lets 100 fetch at once --",
        "10000 fetches done, peak concurrent fetches: 100"])


def check_pitfall_ignored_error(r):
    expect_lines(r.out, [
        "-- wrong: the task is detached and its error ignored --",
        "main: done, unaware that the task failed",
        "runtime diagnosis: 1 task error(s) never retrieved",
        "-- right: the task is awaited and its error handled --",
        "Task failed: connection reset by the server (%s)"
        % os.strerror(errno.ECONNRESET),
        "main: done",
        "runtime diagnosis: 1 task error(s) never retrieved"])
    found = diag_lines(r, "Task exception was never retrieved")
    expect(len(found) == 1, "expected one never-retrieved report on stderr, "
           "got %r" % r.err)
    expect("'potentially_failing_coroutine'" in found[0], found[0])
    expect("connection reset by the server" in found[0], found[0])
    r.expect_site(found[0], "ts_spawn(potentially_failing_coroutine",
                  "wrong_main")


# ---- driver ----------------------------------------------------------------

# Examples whose stderr carries the runtime's diagnostics on purpose.
STDERR_EXPECTED = {"pitfall_forgotten_await", "pitfall_ignored_error"}


def debug_runtime_env(exe, library):
    """The environment that makes exe load library in place of the release
    runtime, after checking with the dynamic loader that it does."""
    env = dict(os.environ)
    libdir = os.path.dirname(os.path.abspath(library))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        p for p in (libdir, env.get("LD_LIBRARY_PATH")) if p)
    trace = subprocess.run([exe], env=dict(env, LD_TRACE_LOADED_OBJECTS="1"),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True)
    loaded = [l.split("=>")[1].split()[0] for l in trace.stdout.splitlines()
              if "libtaskscope.so" in l and "=>" in l]
    expect(loaded and os.path.dirname(os.path.realpath(loaded[0]))
           == os.path.realpath(libdir),
           "the debug runtime was not the one loaded: %r" % trace.stdout)
    return env


def main(argv):
    if len(argv) not in (4, 5):
        sys.stderr.write(__doc__)
        return 2
    name, exe, source = argv[1:4]
    exe = os.path.abspath(exe)
    env = None
    if len(argv) == 5:
        try:
            env = debug_runtime_env(exe, argv[4])
        except CheckFailed as e:
            print("FAIL %s: %s" % (name, e))
            return 1
    check = globals().get("check_" + name)
    if check is None:
        print("no check for example %r" % name)
        return 2

    source = os.path.abspath(source)
    wrapper = shlex.split(os.environ.get("TASKSCOPE_EXAMPLE_WRAPPER", ""))
    # Each example runs in a directory of its own, so the files it writes
    # (file_io's example.txt) neither clutter the tree nor collide.
    with tempfile.TemporaryDirectory(prefix="ts-example-") as workdir:
        proc = subprocess.run(wrapper + [exe], stdin=subprocess.DEVNULL,
                              cwd=workdir, env=env, capture_output=True,
                              text=True)
        return report(name, check, proc, source, workdir, bool(wrapper))


def report(name, check, proc, source, workdir, wrapped):
    """Print the example's output, check it; the exit status for meson."""
    sys.stdout.write(proc.stdout)
    sys.stdout.write("".join("stderr: " + l + "\n"
                             for l in proc.stderr.splitlines()))
    try:
        expect(proc.returncode == 0,
               "%s exited with status %d" % (name, proc.returncode))
        stderr = proc.stderr
        if wrapped:   # the tool's own report is not the program's output
            stderr = "\n".join(l for l in stderr.splitlines()
                               if not re.match(r"(==|--)\d+(==|--)", l))
        if name not in STDERR_EXPECTED:
            expect(stderr.strip() == "", "unexpected stderr output")
        check(Run(proc.stdout, stderr, source, workdir))
    except CheckFailed as e:
        print("FAIL %s: %s" % (name, e))
        return 1
    print("ok %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
