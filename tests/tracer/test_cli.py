#!/usr/bin/env python3
"""test_cli.py - the taskscope command line itself: --help on every
command (exit 0, a usage line naming the command), bad usage (exit 2 and
a message on stderr), and targets that do not exist (exit 1)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import Checker, expect, taskscope  # noqa: E402

COMMANDS = ["run", "attach", "ps", "pstree", "blocked", "stats", "query", "export"]


def top_level_help(c):
    for flag in ("--help", "-h", "help"):
        p = taskscope(flag, expect_rc=0)
        expect("usage: taskscope" in p.stdout, "%s: no usage in %r" % (flag, p.stdout))
        for cmd in COMMANDS:
            expect(cmd in p.stdout, "%s does not mention %s" % (flag, cmd))
    p = taskscope("--version", expect_rc=0)
    expect(p.stdout.startswith("taskscope "), "--version printed %r" % p.stdout)


def command_help(c, cmd):
    for flag in ("--help", "-h"):
        p = taskscope(cmd, flag, expect_rc=0)
        expect(("usage: taskscope " + cmd) in p.stdout,
               "%s %s printed %r" % (cmd, flag, p.stdout))
        expect(p.stderr == "", "%s %s wrote to stderr: %r" % (cmd, flag, p.stderr))


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
    ]
    for args in cases:
        p = taskscope(*args)
        expect(p.returncode == 2, "taskscope %s: exit %d, expected 2 (stderr %r)"
               % (" ".join(args), p.returncode, p.stderr))
        expect(p.stderr.strip(), "taskscope %s: no message on stderr" % " ".join(args))
        expect(p.stdout == "" or args == [], "taskscope %s wrote to stdout: %r"
               % (" ".join(args), p.stdout))


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
    c.check(missing_targets)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
