#!/usr/bin/env python3
"""check_man.py TASKSCOPE MAN1 MAN7 SOURCE_ROOT - the man pages stay true.

taskscope(1) is written by hand (doc/taskscope.1), so this keeps it in
step with the program:
  - every option that `taskscope --help` and `taskscope COMMAND --help`
    print, for every command, appears in the page;
  - every TASKSCOPE_* environment variable the sources name (runtime/,
    tracer/, tui/: getenv, env_ms, setenv, "NAME=value") appears in the
    page;
  - both pages (and the generated taskscope-sql(7)) format without
    warnings where groff is installed.
Exit 0 when all holds, 1 listing what is missing.
"""
import os
import re
import shutil
import subprocess
import sys

COMMANDS = ["run", "attach", "ps", "pstree", "blocked", "stats", "query", "export", "top", "why"]
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
# every TASKSCOPE_* name the sources spell out: getenv("..."), helpers
# such as env_ms("..."), setenv and "NAME=value" strings
ENV_NAME = re.compile(r'"(TASKSCOPE_[A-Z0-9_]+)[="]')


def roff_plain(text):
    """The page's text with roff escapes for dashes and fonts removed."""
    text = text.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
    text = re.sub(r"\\f(\(..|\[[^]]*\]|.)", "", text)
    return text


def mentioned(word, plain):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", plain) is not None


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    taskscope, man1, man7, root = sys.argv[1:]
    plain = roff_plain(open(man1).read())
    problems = []

    helps = {"": [taskscope, "--help"]}
    for c in COMMANDS:
        helps[c] = [taskscope, c, "--help"]
    checked = 0
    for cmd, argv in helps.items():
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            # `top` in a build without the TUI says so and exits 1
            if cmd == "top" and "no TUI" in r.stderr:
                print("note: this build has no TUI; top's options not checked")
                continue
            problems.append("`%s` exited %d: %s" % (" ".join(argv[1:]), r.returncode,
                                                    r.stderr.strip()))
            continue
        for opt in sorted(set(OPTION.findall(r.stdout))):
            checked += 1
            if not mentioned(opt, plain):
                problems.append("option %s (from `taskscope %s --help`) is not in %s"
                                % (opt, cmd or "", man1))
    print("checked %d options of %d help texts" % (checked, len(helps)))

    env = set()
    for sub in ("runtime", "tracer", "tui"):
        for dirpath, _, files in os.walk(os.path.join(root, sub)):
            for f in files:
                if f.endswith((".c", ".h")):
                    with open(os.path.join(dirpath, f), errors="replace") as fh:
                        env.update(ENV_NAME.findall(fh.read()))
    for var in sorted(env):
        if not mentioned(var, plain):
            problems.append("environment variable %s (read by the sources) is not in %s"
                            % (var, man1))
    print("checked %d TASKSCOPE_* variables: %s" % (len(env), " ".join(sorted(env))))
    if "TASKSCOPE_DEBUG_LIBDIR" not in env:
        problems.append("TASKSCOPE_DEBUG_LIBDIR not found in the sources: is the root right?")

    groff = shutil.which("groff")
    if groff:
        for page in (man1, man7):
            r = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", page],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0 or r.stderr.strip():
                problems.append("groff warns about %s: %s" % (page, r.stderr.strip()))
        if not problems:
            print("groff formats both pages without warnings")
    else:
        print("note: groff not installed; formatting not checked")

    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
