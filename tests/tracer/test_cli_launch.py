#!/usr/bin/env python3
"""test_cli_launch.py - `taskscope run` and `top --` say at once when the
program they started cannot be traced, name the cause, stop the program
and exit non-zero (issue 12, point 2):

  - a binary whose DT_RPATH names the release runtime (the loader searches
    it before LD_LIBRARY_PATH): the RPATH message within 2 s, for a
    server-like program that never exits on its own;
  - TASKSCOPE_DEBUG_LIBDIR naming a directory that does not exist;
  - a statically linked binary;
  - a program that is not built on the runtime at all.

In each case the program is gone afterwards (killed, not left running
untraced), no recording was created, and an earlier one is untouched.
The one timing asserted, 2 s, is the issue's own requirement; the check
itself fires as soon as the loader has mapped the library (milliseconds).
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (Checker, TASKSCOPE, TIMEOUT, example, expect, prog,
                         taskscope)  # noqa: E402

TOP = os.path.join(os.path.dirname(TASKSCOPE), "tui", "taskscope-top")


def run_timed(argv, env=None):
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       errors="replace", timeout=TIMEOUT, env=env, stdin=subprocess.DEVNULL)
    return p, time.monotonic() - t0


def program_gone(stderr):
    """The '(pid N)' taskscope named is no longer running."""
    m = re.search(r"\(pid (\d+)\)", stderr)
    expect(m, "no pid in the message %r" % stderr)
    pid = int(m.group(1))
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        expect(state == "Z", "the untraced program %d still runs (state %s)" % (pid, state))
    except FileNotFoundError:
        pass


def refused_launch(c, target, words, env=None, within=None):
    """run -o R -- target: exit 1 naming the cause (all of words), the
    program stopped, R (an earlier recording stand-in) byte-identical."""
    prior = c.path("prior.db")
    if not os.path.exists(prior):
        taskscope("run", "-o", prior, "--", example("gather"), expect_rc=0)
    before = open(prior, "rb").read()
    p, took = run_timed([TASKSCOPE, "run", "-o", prior, "--"] + target, env=env)
    expect(p.returncode == 1, "run %s: exit %d, stderr %r" % (target, p.returncode, p.stderr))
    low = p.stderr.lower()
    for w in words:
        expect(w.lower() in low, "run %s: %r not in the message %r" % (target, w, p.stderr))
    if within is not None:
        expect(took < within, "run %s: the message took %.2f s (at most %.1f s)"
               % (target, took, within))
    if "stopping" in low:
        program_gone(p.stderr)
    expect(open(prior, "rb").read() == before, "run %s changed the earlier recording" % target)
    expect(not os.path.exists(prior + ".old"), "run %s set the recording aside" % target)
    return p


def rpath(c):
    exe = prog("prog_rpath")
    refused_launch(c, [exe], ["DT_RPATH", "LD_LIBRARY_PATH", "--enable-new-dtags"], within=2.0)


def rpath_top(c):
    if not os.path.exists(TOP):
        return
    p, took = run_timed([TOP, "--no-record", "--log", c.path("top.log"), "--",
                         prog("prog_rpath")])
    expect(p.returncode == 1, "top -- prog_rpath: exit %d, %r" % (p.returncode, p.stderr))
    expect("DT_RPATH" in p.stderr, "top -- prog_rpath: %r" % p.stderr)
    expect(took < 2.0, "top -- prog_rpath took %.2f s" % took)


def libdir_missing(c):
    env = dict(os.environ, TASKSCOPE_DEBUG_LIBDIR=c.path("nonexistent"))
    refused_launch(c, [prog("prog_forever")], ["nonexistent", "TASKSCOPE_DEBUG_LIBDIR"],
                   env=env, within=2.0)


def static(c):
    exe = prog("prog_static")
    if not os.path.exists(exe):
        print("  (no static C library: skipped)")
        return
    refused_launch(c, [exe], ["statically linked"])


def not_taskscope(c):
    sleep = shutil.which("sleep")
    refused_launch(c, [sleep, "1000"], ["not a taskscope program"])
    # A program that ends before it could be looked at is named too.
    refused_launch(c, ["/bin/true"], ["not a taskscope program"])


def keep_untraced(c):
    """--keep-untraced: the program runs to its end, untraced; exit 1."""
    p, _ = run_timed([TASKSCOPE, "run", "--keep-untraced", "-o", c.path("k.db"), "--",
                      shutil.which("sh"), "-c", "sleep 1.5; echo finished"])
    expect(p.returncode == 1, "--keep-untraced: exit %d" % p.returncode)
    expect("finished" in p.stdout, "--keep-untraced: the program was stopped: %r" % p.stdout)
    expect(not os.path.exists(c.path("k.db")), "--keep-untraced created a recording")


def main():
    c = Checker("cli_launch")
    c.check(rpath)
    c.check(rpath_top)
    c.check(libdir_missing)
    c.check(static)
    c.check(not_taskscope)
    c.check(keep_untraced)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
