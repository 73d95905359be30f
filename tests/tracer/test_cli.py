#!/usr/bin/env python3
"""test_cli.py - the taskscope command line itself: --help on every
command (exit 0, a usage line naming the command, a pointer to the man
page), --version (the project's version from meson), bad usage (exit 2
and one line on stderr pointing at --help: unknown options, missing
values, extra operands, conflicting flags), `--` ending the options, and
targets that do not exist (exit 1)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import Checker, example, expect, taskscope  # noqa: E402

COMMANDS = ["run", "attach", "ps", "pstree", "blocked", "stats", "query", "export"]


def top_level_help(c):
    for flag in ("--help", "-h", "help"):
        p = taskscope(flag, expect_rc=0)
        expect("usage: taskscope" in p.stdout, "%s: no usage in %r" % (flag, p.stdout))
        for cmd in COMMANDS:
            expect(cmd in p.stdout, "%s does not mention %s" % (flag, cmd))
        expect("man taskscope" in p.stdout, "%s does not point at the man page" % flag)
    for cmd in COMMANDS:
        p = taskscope("help", cmd, expect_rc=0)
        expect(("usage: taskscope " + cmd) in p.stdout, "help %s printed %r" % (cmd, p.stdout))
    p = taskscope("--version", expect_rc=0)
    expect(p.stdout.startswith("taskscope "), "--version printed %r" % p.stdout)
    meson_build = os.path.join(os.environ.get("TS_SOURCE_ROOT", "."), "meson.build")
    if os.path.exists(meson_build):
        want = re.search(r"version\s*:\s*'([^']+)'", open(meson_build).read()).group(1)
        expect(p.stdout.split()[1] == want, "--version %r, meson says %s" % (p.stdout, want))


def command_help(c, cmd):
    for flag in ("--help", "-h"):
        p = taskscope(cmd, flag, expect_rc=0)
        expect(("usage: taskscope " + cmd) in p.stdout,
               "%s %s printed %r" % (cmd, flag, p.stdout))
        expect(p.stderr == "", "%s %s wrote to stderr: %r" % (cmd, flag, p.stderr))
        expect("man taskscope" in p.stdout, "%s %s does not point at the man page" % (cmd, flag))


def usage_errors(c):
    cases = [
        [],                                    # no command
        ["frobnicate"],                        # unknown command
        ["run"],                               # no program
        ["run", "-o", c.path("x.db")],         # no program after options
        ["attach"],                            # no pid
        ["attach", "not-a-pid"],
        ["ps"], ["pstree"], ["blocked"], ["stats"],
        ["ps", "--bogus", "x.db"],
        ["stats", "--frob", "x.db"],
        ["query"],                             # no file, no SQL
        ["query", "x.db"],                     # no SQL
        ["query", "x.db", "select 1", "extra"],
        ["export", "x.db", "-o", "out.json"],  # no --format
        ["export", "--format", "svg", "x.db", "-o", "out.json"],
        ["export", "--format", "perfetto", "x.db"],   # no -o
        ["export", "--format", "perfetto", "-o", "out.json"],  # no file
        # issue 12 point 5: missing values, unknown options, extra
        # operands, conflicting flags, bad numbers, on every command
        ["--bogus"], ["--version", "extra"],
        ["run", "-o"],                          # -o without its value
        ["run", "--output"],
        ["run", "--bogus", "--", "/bin/true"],
        ["run", "--bpf-block-ms=abc", "--", "/bin/true"],
        ["attach", "--duration", "abc", "1"],
        ["attach", "--duration"],
        ["attach", "1", "2"],
        ["attach", "-o"],
        ["ps", "a.db", "1"],                    # a pid among several recordings
        ["pstree", "--json", "1", "b.db"],
        ["where", "a.db", "1", "2"],            # extra operand
        ["blocked", "-x", "a.db"],
        ["stats", "--duration", "2", "a.db"],   # --duration without --bpf
        ["ps", "--json=1", "a.db"],             # a value for a flag
        ["query", "--json", "--csv", "x.db", "select 1"],   # conflicting
        ["query", "--csv", "--json", "x.db", "select 1"],
        ["query", "--bogus", "x.db", "select 1"],
        ["export", "--format"],
        ["export", "--format", "chrome", "-o"],
        ["export", "--format", "chrome", "-o", "o.json", "a.db", "b.db"],
        ["ps", "4294967297"],                   # no wraparound to pid 1
        ["attach", "-1"],
    ]
    for args in cases:
        p = taskscope(*args)
        expect(p.returncode == 2, "taskscope %s: exit %d, expected 2 (stderr %r)"
               % (" ".join(args), p.returncode, p.stderr))
        expect(p.stderr.strip(), "taskscope %s: no message on stderr" % " ".join(args))
        if args:
            lines = p.stderr.strip().splitlines()
            expect(len(lines) == 1 and "--help" in lines[0],
                   "taskscope %s: not one line pointing at --help: %r"
                   % (" ".join(args), p.stderr))
        expect(p.stdout == "" or args == [], "taskscope %s wrote to stdout: %r"
               % (" ".join(args), p.stdout))


def top_usage_errors(c):
    top = os.path.join(os.path.dirname(os.environ.get("TASKSCOPE", "taskscope")), "tui",
                       "taskscope-top")
    if not os.path.exists(top):
        return
    cases = [["--bogus", "x.db"], ["-o"], ["a.db", "b.db"], ["--"], [],
             ["x.db", "--", "/bin/true"], ["--no-record", "-o", "r.db", "--", "/bin/true"],
             ["4294967297"], ["--bpf", "x.db"], ["--log"]]
    for args in cases:
        p = subprocess.run([top] + args, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        expect(p.returncode == 2, "top %s: exit %d, expected 2 (stderr %r)"
               % (" ".join(args), p.returncode, p.stderr))
        lines = p.stderr.strip().splitlines()
        expect(len(lines) == 1 and "--help" in lines[0],
               "top %s: not one line pointing at --help: %r" % (" ".join(args), p.stderr))


def double_dash(c):
    """`--` ends the options: a report target or a program that starts
    with a dash, and `run` passing PROGRAM's own options on untouched."""
    rec = c.path("dd.db")
    taskscope("run", "-o", rec, "--", example("gather"), expect_rc=0)
    dashed = c.path("-dashed.db")
    os.link(rec, dashed)
    os.chdir(c.dir)
    for cmd in (["ps", "--all"], ["pstree", "--all"], ["stats"], ["blocked"]):
        taskscope(*cmd, "--", "-dashed.db", expect_rc=0)
    taskscope("query", "--", "-dashed.db", "SELECT 1", expect_rc=0)
    taskscope("export", "--format", "chrome", "-o", c.path("dd.json"), "--", "-dashed.db",
              expect_rc=0)
    # Options may follow the operand for the reports (GNU style).
    taskscope("ps", rec, "--json", expect_rc=0)
    # --no-follow is accepted by run and top (the session that follows
    # forked children reads it from the environment).
    taskscope("run", "--no-follow", "-o", c.path("nf.db"), "--", example("gather"),
              expect_rc=0)
    top = os.path.join(os.path.dirname(os.environ.get("TASKSCOPE", "taskscope")), "tui",
                       "taskscope-top")
    if os.path.exists(top):
        p = subprocess.run([top, "--no-follow", "--no-record", "--log", c.path("nf.log"), "--",
                            example("gather")], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=120)
        expect(p.returncode == 0, "top --no-follow: exit %d, %r" % (p.returncode, p.stderr))


def missing_targets(c):
    missing = c.path("does-not-exist.db")
    for cmd in ("ps", "pstree", "blocked", "stats"):
        p = taskscope(cmd, missing)
        expect(p.returncode == 1, "%s on a missing file: exit %d" % (cmd, p.returncode))
        expect("does-not-exist.db" in p.stderr, "%s: unclear message %r" % (cmd, p.stderr))
    p = taskscope("query", missing, "select 1")
    expect(p.returncode == 1, "query on a missing file: exit %d" % p.returncode)
    p = taskscope("export", "--format", "chrome", missing, "-o", c.path("o.json"))
    expect(p.returncode == 1, "export of a missing file: exit %d" % p.returncode)
    expect(not os.path.exists(c.path("o.json")), "export left an output file behind")
    # A pid that does not exist (pid_max is at most 2^22), and one that is
    # not traced (our own: python does not use the runtime).
    for pid in ("4194304", str(os.getpid())):
        for cmd in ("ps", "attach"):
            args = [cmd, pid] + (["-o", c.path("a.db"), "--duration", "1"]
                                 if cmd == "attach" else [])
            p = taskscope(*args)
            expect(p.returncode == 1, "%s %s: exit %d (stderr %r)"
                   % (cmd, pid, p.returncode, p.stderr))
            expect(p.stderr.strip(), "%s %s: no message" % (cmd, pid))
    # run: a program that cannot be started, and one that is not linked
    # against the runtime.
    p = taskscope("run", "-o", c.path("r.db"), "--", c.path("no-such-program"))
    expect(p.returncode != 0 and p.returncode != 2,
           "run of a missing program: exit %d" % p.returncode)
    p = taskscope("run", "-o", c.path("r.db"), "--", "/bin/true")
    expect(p.returncode == 1, "run /bin/true: exit %d" % p.returncode)
    expect("taskscope" in p.stderr and "runtime" in p.stderr,
           "run /bin/true: unclear message %r" % p.stderr)
    # an output file that cannot be created
    p = taskscope("run", "-o", c.path("no-dir/r.db"), "--", "/bin/true")
    expect(p.returncode == 1, "run -o into a missing directory: exit %d" % p.returncode)


def main():
    c = Checker("cli")
    c.check(top_level_help)
    for cmd in COMMANDS:
        c.check(command_help, cmd)
    c.check(usage_errors)
    c.check(top_usage_errors)
    c.check(double_dash)
    c.check(missing_targets)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
