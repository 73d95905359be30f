#!/usr/bin/env python3
"""test_hostile.py - output is safe and valid (issue 12 point 4).

prog_hostile names its tasks with terminal escape sequences (SGR, OSC 52,
clear screen), a C1 CSI, bytes that are not UTF-8, newlines, tabs, quotes
and backslashes, and one 64 KiB name; a failure and a cancel message are
hostile too.  Every report of the recording (and of the live process) goes
through two checks:

- text: valid UTF-8, no byte below 0x20 but newline, no DEL, no C1
  control, no ESC: nothing a terminal would act on; and each table row
  stays one line (a name's newline cannot start a new row);
- JSON: parsed by Python's json module from the raw bytes decoded as
  strict UTF-8; absent values are null, never "-"; the document carries
  format_version; errors are named with their number beside them.
"""
import csv
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, debug_env, expect, prog, record,  # noqa: E402
                         remove_segment)
import subprocess  # noqa: E402

HOSTILE_BITS = ["red", "osc", "clear", "c1-csi", "utf8", "line1", "tab", "quote"]


def run(*args):
    p = subprocess.run([TASKSCOPE] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=300)
    expect(p.returncode == 0, "taskscope %s: exit %d: %r" % (" ".join(map(str, args)),
                                                         p.returncode, p.stderr[-500:]))
    return p.stdout


def terminal_safe(data, what):
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise AssertionError("%s: not valid UTF-8: %s at %r" % (what, e, data[max(0, e.start - 40):e.start + 10]))
    for i, ch in enumerate(text):
        o = ord(ch)
        if (o < 0x20 and ch != "\n") or o == 0x7f or 0x80 <= o <= 0x9f:
            raise AssertionError("%s: raw control U+%04X at %d: %r" % (what, o, i,
                                                                     text[max(0, i - 40):i + 10]))
    return text


def check_text(data, what):
    try:
        return terminal_safe(data, what)
    except AssertionError as e:
        expect(False, str(e))


def check_json(data, what):
    text = check_text(data, what)
    try:
        doc = json.loads(text)
    except ValueError as e:
        expect(False, "%s: invalid JSON (%s): %r" % (what, e, text[:300]))
    return doc


def no_dash(v, what, path="$"):
    """No field stands for "absent" with "-": absent is null."""
    if isinstance(v, dict):
        for k, x in v.items():
            no_dash(x, what, path + "." + k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            no_dash(x, what, "%s[%d]" % (path, i))
    else:
        expect(v != "-", "%s: %s is \"-\" instead of null" % (what, path))


def reports(target, what, file=True):
    cmds = [("ps",), ("ps", "--all"), ("pstree",), ("pstree", "--all"), ("blocked",),
            ("stats",), ("stats", "--by-prefix")]
    docs = {}
    for cmd in cmds:
        out = check_text(run(*(cmd + (target,))), "%s %s" % (what, " ".join(cmd)))
        if cmd == ("ps", "--all"):
            rows = [l for l in out.splitlines()[2:] if l and l[:6].strip().isdigit()]
            expect(len(rows) >= 20, "%s ps --all: only %d task rows:\n%s" % (what, len(rows), out[:3000]))
            expect("\\e[31mred\\e[0m" in out, "%s: the SGR name is not shown escaped" % what)
            expect("\\xff\\xfe" in out, "%s: the invalid bytes are not shown escaped" % what)
            expect("line1\\nline2" in out, "%s: the newline is not shown escaped" % what)
        doc = check_json(run(*(cmd + ("--json", target))), "%s %s --json" % (what, " ".join(cmd)))
        expect(doc.get("format_version", 0) >= 2, "%s %s: format_version %r"
               % (what, cmd, doc.get("format_version")))
        no_dash(doc, "%s %s --json" % (what, " ".join(cmd)))
        docs[cmd] = doc
    ps = docs[("ps", "--all")]
    names = [t["name"] for t in ps["tasks"]]
    for bit in HOSTILE_BITS:
        expect(any(bit in n for n in names), "%s: no task named with %r in %r" % (what, bit, names))
    expect("\x1b[31mred\x1b[0m" in names, "%s: the SGR name does not round-trip: %r" % (what, names))
    expect("bad\ufffd\ufffdutf8" in names, "%s: invalid bytes are not U+FFFD: %r" % (what, names))
    # The runtime interns at most one ring page of a string (~4 KiB): the
    # 64 KiB name arrives cut there, with the ESC at byte 100 inside it.
    big = [n for n in names if n.startswith("H" * 100 + "\x1b[31m")]
    expect(big and len(big[0]) >= 4000, "%s: the long name is missing or short: %r"
           % (what, sorted(len(n) for n in names)[-3:]))
    failed = [t for t in ps["tasks"] if t["state"] == "failed"]
    if file:
        expect(failed and failed[0]["err"] == "EIO" and failed[0]["err_code"] == -5 and
               failed[0]["error_message"] == "\x1b[31mfailed\x1b[0m \ufffd with\nnewline",
               "%s: the failed task's error: %r" % (what, failed))
    return docs


def recorded(c):
    path = c.path("hostile.db")
    p = record(path, [prog("prog_hostile")])
    expect(p.returncode == 0 and "done" in p.stdout, "prog_hostile: %d %s" % (p.returncode, p.stderr))
    return path


def file_reports(c):
    reports(recorded(c), "recording")


def query_and_export(c):
    path = recorded(c)
    rows = check_json(run("query", path, "SELECT id, name, error_message FROM tasks", "--json"),
                      "query --json")
    expect(any(r["name"] == "\x1b[31mred\x1b[0m" for r in rows), "query --json names %r"
           % [r["name"] for r in rows][:5])
    check_json(run("query", path, "SELECT kind, task_name, text FROM warnings", "--json"),
               "query warnings --json")
    query_text_and_csv(path, rows)
    for fmt in ("chrome",):  # perfetto is protobuf: test_export_perfetto
        out = c.path("hostile-%s.json" % fmt)
        run("export", "--format", fmt, path, "-o", out)
        with open(out, "rb") as f:
            doc = check_json(f.read(), "export " + fmt)
        expect(doc["otherData"]["format_version"] >= 2, "export %s: no format_version" % fmt)
        labels = [e["args"]["name"] for e in doc["traceEvents"]
                  if e.get("name") == "thread_name" and "args" in e]
        expect(any("\x1b[31mred" in n for n in labels), "export %s labels %r" % (fmt, labels[:5]))


def query_text_and_csv(path, rows):
    """query's text table and CSV show the names in textsafe's escaped
    form: no raw control byte or ESC, one line per row, and CSV that
    Python's csv module reads back field for field (RFC 4180 quoting)."""
    sql = "SELECT id, name, error_message FROM tasks ORDER BY id"
    out = check_text(run("query", path, sql), "query (text)")
    lines = out.splitlines()
    expect(len(lines) == len(rows) + 2, "query (text): %d lines for %d rows (a name broke "
           "a row?):\n%s" % (len(lines), len(rows), out[:3000]))
    for shown in ("\\e[31mred\\e[0m", "\\xff\\xfe", "line1\\nline2", "tab\\there\\rcr",
                  "\\e]52;c;aGVsbG8=\\x07osc", "\\u009b31mc1-csi", "quote\"back\\\\slash"):
        expect(shown in out, "query (text): %r is not shown escaped:\n%s" % (shown, out[:3000]))
    out = check_text(run("query", path, sql, "--csv"), "query --csv")
    expect(len(out.splitlines()) == len(rows) + 1, "query --csv: %d lines for %d rows:\n%s"
           % (len(out.splitlines()), len(rows), out[:3000]))
    table = list(csv.reader(io.StringIO(out), strict=True))
    expect(table[0] == ["id", "name", "error_message"], "query --csv header %r" % table[0])
    expect(len(table) == len(rows) + 1 and all(len(r) == 3 for r in table),
           "query --csv: rows of %r fields" % sorted(set(len(r) for r in table)))
    names = [r[1] for r in table[1:]]
    for shown in ("\\e[31mred\\e[0m", "bad\\xff\\xfeutf8", "line1\\nline2",
                  "quote\"back\\\\slash"):
        expect(shown in names, "query --csv: no field %r in %r" % (shown, names[:12]))
    failed = [r[2] for r in table[1:] if r[2]]
    expect("\\e[31mfailed\\e[0m \\xff with\\nnewline" in failed,
           "query --csv: the error message is %r" % failed)


def top_replay(c):
    path = recorded(c)
    # Without a terminal, top FILE prints its reports (tui/main.c).
    check_text(run("top", path), "top FILE (no terminal)")


def live(c):
    p = c.start([prog("prog_hostile"), "--hang"], env=debug_env())
    p.wait_line(r"hostile pid=(\d+)")
    try:
        reports(p.pid, "live", file=False)
    finally:
        p.kill()
        p.wait()
        remove_segment(p.pid)


def main():
    c = Checker("hostile")
    c.check(file_reports)
    c.check(query_and_export)
    c.check(top_replay)
    c.check(live)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
