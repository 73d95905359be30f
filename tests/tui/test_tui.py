#!/usr/bin/env python3
"""tests/tui/test_tui.py - `taskscope top` driven through tmux.

    test_tui.py --top CMD [--top-arg ARG...] --demo DEMO --debug-lib LIB [CASE...]

CMD (with its ARGs, e.g. `taskscope top` or `taskscope-top`) is started in
a detached tmux session (120x40, its own server socket); keys go in with
send-keys and the screen comes back with capture-pane.  Every check polls
the screen until the expected text appears, with a generous deadline, so
a loaded machine makes the test slower, never flaky.

Cases (all by default):
  report    without a terminal: record DEMO and print ps, pstree, blocked
  replay    a recording: time cursor (b, e, n, arrows, play/pause), views,
            filter, tree, detail, resize, help, quit leaves the tty sane
  live      `-- DEMO`: launched, recorded and watched; quit stops it cleanly
  attach    PID of a DEMO already running on the debug runtime
  nocolor   TERM without colours and --no-color
  sizes     issue 16 at 80x24 and 200x50: help reaches its last line, the
            filter shows in the header, a warning is read whole, columns
            adapt and can be chosen, percentiles, the age at the replay
            cursor, a resource's waiters
  stack     a parked task's stack and fields in its detail (prog_where,
            attached), and the cancel key: n keeps it, y cancels it

Exit status 0 when every case passed, 1 otherwise (the failing screen is
printed), 77 (skip) when tmux is missing.
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # importing tmpdir must not write into the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tmpdir import remove_socket, tmux_socket  # noqa: E402

DEADLINE = 90          # seconds any one expectation may take
SOCKET = tmux_socket("ts-tui-test")  # in $TMPDIR, removed by kill_server()


class Failure(Exception):
    pass


def tmux(*args, check=True):
    r = subprocess.run(["tmux", "-S", SOCKET] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise Failure("tmux %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def kill_server():
    tmux("kill-server", check=False)
    remove_socket(SOCKET)


class Pane:
    """One tmux session running a shell command; the command's exit status
    and `stty -a` are printed after it, then the pane idles."""

    def __init__(self, name, command, width=120, height=40, env=None):
        self.name = name
        shell = ("%s; echo \"TUI-EXIT $?\"; stty -a | tr ' ' '\\n' | "
                 "grep -E '^-?(icanon|echo)$' | sed 's/^/STTY:/'; "
                 "exec sleep 600" % command)
        env_args = []
        for k, v in (env or {}).items():
            env_args += ["-e", "%s=%s" % (k, v)]
        for attempt in range(3):
            try:
                tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                     *env_args, "sh", "-c", shell)
                break
            except Failure:
                if attempt == 2:
                    raise
                time.sleep(1)  # a server on its way out: try again

    def screen(self):
        return tmux("capture-pane", "-p", "-t", self.name, check=False)

    def keys(self, *keys):
        for k in keys:
            tmux("send-keys", "-t", self.name, k)
            time.sleep(0.05)

    def literal(self, text):
        tmux("send-keys", "-t", self.name, "-l", text)

    def wait(self, what, timeout=DEADLINE, absent=False):
        """Wait until what (a string, a compiled regex or a predicate on
        the screen) is on screen (or, with absent, is not)."""
        deadline = time.time() + timeout
        screen = ""
        while time.time() < deadline:
            screen = self.screen()
            if isinstance(what, str):
                ok = what in screen
            elif hasattr(what, "search"):
                ok = what.search(screen) is not None
            else:
                ok = what(screen)
            if ok != absent:
                return screen
            time.sleep(0.2)
        raise Failure("%s %r on screen after %d s; the screen:\n%s"
                      % ("still" if absent else "no", getattr(what, "pattern", what),
                         timeout, screen))

    def kill(self):
        tmux("kill-session", "-t", self.name, check=False)


def line_with(screen, text):
    for line in screen.splitlines():
        if text in line:
            return line
    return None


def cursor_time(screen):
    m = re.search(r"\+(\d+\.\d+)s / (\d+\.\d+)s", screen)
    if not m:
        raise Failure("no time cursor in:\n" + screen)
    return float(m.group(1)), float(m.group(2))


def check_quit(pane):
    pane.keys("q")
    screen = pane.wait("TUI-EXIT")
    if "TUI-EXIT 0" not in screen:
        raise Failure("top did not exit with 0:\n" + screen)
    pane.wait("STTY:")
    if "STTY:-icanon" in screen or "STTY:-echo" in screen:
        raise Failure("the terminal was left raw after q:\n" + screen)
    pane.wait(lambda s: "STTY:icanon" in s and "STTY:echo" in s)
    return screen


# ---- cases ------------------------------------------------------------------

def case_report(ctx):
    """No terminal: the session is recorded and the reports printed."""
    rec = os.path.join(ctx.tmp, "report.db")
    r = subprocess.run(ctx.top + ["-o", rec, "--", ctx.demo, "7"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                       timeout=300)
    if r.returncode != 0:
        raise Failure("top without a terminal exited %d: %s" % (r.returncode, r.stderr))
    for want in ["== ps", "== pstree", "== blocked", "metrics-exporter", "worker-1",
                 "acceptor", "blocked in syscall", "metrics_exporter", "usleep",
                 "never retrieved"]:
        if want not in r.stdout:
            raise Failure("%r missing from the reports:\n%s" % (want, r.stdout[-3000:]))
    if not os.path.exists(rec):
        raise Failure("no recording at " + rec)
    ctx.recording = rec


def case_replay(ctx):
    if not ctx.recording:
        case_report(ctx)
    p = Pane("replay", " ".join(shlex.quote(a) for a in ctx.top + [ctx.recording]))
    try:
        s = p.wait("REPLAY")
        p.wait("metrics-exporter")
        t, end = cursor_time(s)
        if abs(t - end) > 0.01:
            raise Failure("a replay should open at its end: %s / %s" % (t, end))
        # the time cursor: beginning, forward, back, next warning, end
        p.keys("b")
        s = p.wait(re.compile(r"\+0\.000s / "))
        p.keys("Right", "Right")
        s = p.wait(re.compile(r"\+2\.000s / "))
        p.keys("Left")
        s = p.wait(re.compile(r"\+1\.000s / "))
        p.keys("n")
        s = p.wait("! ")
        t, _ = cursor_time(s)
        if t <= 1.0:
            raise Failure("n did not move forward to a warning: t=%s" % t)
        p.keys("n")
        s = p.wait(re.compile(r"loop 1 blocked|no warning after"))
        t2, _ = cursor_time(s)
        if t2 < t:
            raise Failure("the second n went backwards: %s -> %s" % (t, t2))
        p.keys("e")
        p.wait(re.compile(r"\+%s / " % re.escape("%.3fs" % end)))
        # play and pause
        p.keys("b", "Space")
        p.wait(lambda s: "playing" in s and cursor_time(s)[0] >= 0.3)
        p.keys("Space")
        s = p.wait("paused")
        t, _ = cursor_time(s)
        if t <= 0.0:
            raise Failure("playing did not move the cursor")
        p.keys("e")
        p.wait(re.compile(r"\+%s / " % re.escape("%.3fs" % end)))

        # filter, then detail of what it leaves
        p.keys("/")
        p.wait("filter:")
        p.literal("worker-")
        p.keys("Enter")
        # the prompt closed; the header says the filter is on
        s = p.wait(lambda s: "worker-4" in s and "client-" not in s and
                   re.search(r"filter: worker- \(4 of \d+\) Esc clears", s))
        for w in ["worker-1", "worker-2", "worker-3"]:
            if w not in s:
                raise Failure("%s missing after filtering:\n%s" % (w, s))
        p.keys("Escape")
        p.wait("client-")
        p.keys("/")
        p.literal("#4")
        p.keys("Enter")
        s = p.wait(lambda s: "reaper" in s and "worker-1" not in s)
        p.keys("Enter")
        s = p.wait("Task #4 reaper")
        for want in ["spawned at", "Await chain", "Awaited by", "Holds", "Children"]:
            if want not in s:
                raise Failure("detail view lacks %r:\n%s" % (want, s))
        p.keys("G")  # the end of a detail longer than the screen
        s = p.wait("Blocked episodes and slow steps it caused")
        for want in ["Poll and scheduled times", "Latest events", "finished: done"]:
            if want not in s:
                raise Failure("detail view lacks %r at its end:\n%s" % (want, s))
        p.keys("g")
        p.wait("Task #4 reaper")
        p.keys("Enter")  # the cursor is on the title line: nothing to follow
        p.keys("j", "j", "Enter")  # the parent line links to main
        p.wait("Task #1 main")
        p.keys("Escape")
        p.wait("Task #4 reaper")
        p.keys("Escape")
        p.wait(lambda s: "Task #4" not in s and "reaper" in s)
        p.keys("Escape")  # clears the filter
        p.wait("client-")

        # tree mode
        p.keys("t")
        s = p.wait(re.compile(r"(├─|\|-|└─|`-)(client|acceptor)"))
        main_line = line_with(s, " main ")
        if main_line is None or re.search(r"(├─|└─|\|-|`-)main", main_line):
            raise Failure("main should be a root of the tree:\n" + s)
        p.keys("t")
        p.wait(lambda s: not re.search(r"(├─|\|-|└─|`-)client", s))

        # sorting: by the next column (NAME), reverse
        p.keys("s")
        s = p.wait(re.compile(r"NAME[▲^]"))
        p.keys("r")
        p.wait(re.compile(r"NAME[▼v]"))

        # the other views
        p.keys("2")
        s = p.wait("Blocked episodes")
        for want in ["LOOP", "STEPS/S", "metrics-exporter", "metrics_exporter", "usleep",
                     "clock_nanosleep"]:
            if want not in s:
                raise Failure("Loops view lacks %r:\n%s" % (want, s))
        p.keys("3")
        s = p.wait("Resources:")
        for want in ["semaphore", "lock", "queue", "WAITERS"]:
            if want not in s:
                raise Failure("Resources view lacks %r:\n%s" % (want, s))
        p.keys("4")
        s = p.wait("Warnings")
        for want in ["never retrieved", "blocked loop", "#"]:
            if want not in s:
                raise Failure("Warnings view lacks %r:\n%s" % (want, s))
        p.keys("Enter")  # the cursor starts on the first warning
        p.wait(re.compile(r"Task #\d+ (audit|metrics-exporter)"))
        p.keys("Escape")
        p.wait("Warnings  (Enter")

        # help and back
        p.keys("?")
        s = p.wait("taskscope top: keys")
        for want in ["quit", "filter", "tree", "sort", "next warning", "Resources"]:
            if want not in s:
                raise Failure("help lacks %r:\n%s" % (want, s))
        p.keys("x")  # help scrolls: only a leaving key leaves
        time.sleep(0.5)
        p.wait("taskscope top: keys")
        p.keys("Escape")
        p.wait(lambda s: "taskscope top: keys" not in s)

        # resize: 80x24 drops columns, 120x40 brings them back
        p.keys("1")
        p.wait("AWAIT SITE")
        tmux("resize-window", "-t", "replay", "-x", "80", "-y", "24")
        s = p.wait(lambda s: "AWAIT SITE" not in s and "NAME" in s and
                   max(len(l) for l in s.splitlines()) <= 80)
        if len(s.rstrip("\n").splitlines()) > 24:
            raise Failure("more than 24 lines at 80x24:\n" + s)
        tmux("resize-window", "-t", "replay", "-x", "120", "-y", "40")
        p.wait("AWAIT SITE")

        check_quit(p)
    finally:
        p.kill()


def case_live(ctx):
    rec = os.path.join(ctx.tmp, "live.db")
    cmd = ctx.top + ["-o", rec, "--", ctx.demo, "120"]
    # rec is under $TMPDIR, of any length: the panes are wide enough for
    # the header's ~93 columns around the path (the replay's ends with
    # "(complete: exit status 0)") to leave all of it on screen
    wide = max(120, 100 + len(rec))
    p = Pane("live", " ".join(shlex.quote(a) for a in cmd) + " 2>" +
             shlex.quote(os.path.join(ctx.tmp, "live.err")), width=wide)
    try:
        s = p.wait("LIVE running")
        p.wait("worker-4")
        if "recording to " + rec not in s:
            raise Failure("the header should name the recording:\n" + s)
        m = re.search(r"tasks (\d+) live / (\d+)", p.wait(re.compile(r"tasks \d+ live")))
        if int(m.group(1)) < 10:
            raise Failure("too few live tasks: " + m.group(0))
        # the metrics exporter blocks the loop after 5 s
        p.keys("2")
        s = p.wait("metrics_exporter")
        if not re.search(r"^1 +\d+ +\d+", s, re.M):
            raise Failure("no row for loop 1:\n" + s)
        p.keys("1", "t")
        p.wait(re.compile(r"(├─|\|-|└─|`-)client-"))
        p.keys("t", "/")
        p.literal("worker-")
        p.keys("Enter")
        p.wait(lambda s: "worker-4" in s and not re.search(r"client-\d", s))
        check_quit(p)
        err = open(os.path.join(ctx.tmp, "live.err")).read()
        if "exited with status 0" not in err:
            raise Failure("the launched program should have been stopped cleanly: " + err)
    finally:
        p.kill()
    if not os.path.exists(rec):
        raise Failure("no recording at " + rec)
    # what was recorded replays
    p = Pane("live-replay", " ".join(shlex.quote(a) for a in ctx.top + [rec]), width=wide)
    try:
        p.wait("REPLAY")
        p.wait("complete: exit status 0")
        check_quit(p)
    finally:
        p.kill()


def case_attach(ctx):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.dirname(ctx.debug_lib)
    demo = subprocess.Popen([ctx.demo, "120"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        demo.stdout.readline()  # "demo_service: pid N, ..." once it runs
        rec = os.path.join(ctx.tmp, "attach.db")
        cmd = ctx.top + ["-o", rec, str(demo.pid)]
        p = Pane("attach", " ".join(shlex.quote(a) for a in cmd))
        try:
            p.wait("LIVE attached")
            p.wait("worker-4")
            p.wait(re.compile(r"client-\d+"))
            check_quit(p)
        finally:
            p.kill()
        time.sleep(0.5)
        if demo.poll() is not None:
            raise Failure("quitting an attached top must leave the process running")
        if not os.path.exists(rec):
            raise Failure("no recording at " + rec)
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()


def case_nocolor(ctx):
    if not ctx.recording:
        case_report(ctx)
    for name, env, extra in [("vt100", {"TERM": "vt100"}, []),
                             ("nocolor", {}, ["--no-color"])]:
        cmd = ctx.top + extra + [ctx.recording]
        p = Pane(name, "env TERM=%s %s" % (env.get("TERM", "screen"),
                                           " ".join(shlex.quote(a) for a in cmd)),
                 width=80, height=24)
        try:
            p.wait("REPLAY")
            p.wait("worker-1")
            p.keys("2")
            p.wait("Blocked episodes")
            check_quit(p)
        finally:
            p.kill()


def fmt_seconds(text):
    """"986.6ms" / "1.00s" / "12.3us" / "850ns" -> seconds."""
    m = re.match(r"([\d.]+)(ns|us|ms|s)$", text)
    if not m:
        raise Failure("not a duration: %r" % text)
    return float(m.group(1)) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]


def screen_fits(s, width, height):
    lines = s.rstrip("\n").splitlines()
    return len(lines) <= height and max(len(l) for l in lines) <= width


NEVER_RETRIEVED = re.compile(
    r"Task exception was never retrieved: task 'audit' #\d+ spawned at \S*demo_service\.c:\d+ "
    r"in amain\(\): -5 EIO \(Input/output error\): audit log unreachable")


def check_size(ctx, width, height):
    name = "sizes%d" % width
    p = Pane(name, " ".join(shlex.quote(a) for a in ctx.top + [ctx.recording]),
             width=width, height=height)
    try:
        p.wait("REPLAY")
        p.wait("metrics-exporter")

        # 1. help scrolls to its last line and comes back with Esc
        p.keys("?")
        s = p.wait("taskscope top: keys")
        if height < 40 and "(end of help)" in s:
            raise Failure("help should be longer than a 24-line screen:\n" + s)
        p.keys("G")
        s = p.wait("(end of help)")
        if not screen_fits(s, width, height):
            raise Failure("help overflows %dx%d:\n%s" % (width, height, s))
        for want in ["+ -", "Columns"]:  # the parts 80x24 used to cut
            p.keys("g")
            found = False
            for _ in range(12):
                if want in p.screen():
                    found = True
                    break
                p.keys("NPage")
                time.sleep(0.2)
            if not found:
                raise Failure("help never shows %r when paged:\n%s" % (want, p.screen()))
        p.keys("Escape")
        p.wait(lambda s: "taskscope top: keys" not in s)

        # 2. the filter is shown in the header; Esc clears it
        p.keys("/")
        p.wait("filter:")
        p.literal("#4")
        p.keys("Enter")
        s = p.wait(re.compile(r"filter: #4 \(1 of \d+\)"))
        if "reaper" not in s:
            raise Failure("#4 reaper should be the one row:\n" + s)
        p.keys("Escape")
        p.wait(lambda s: "filter:" not in s and "client-" in s)

        # 3. the warning is read whole, wrapped, without "taskscope: "
        p.keys("4")
        s = p.wait("never retrieved")
        lines = s.splitlines()
        start = next(i for i, l in enumerate(lines) if "never retrieved" in l)
        text = lines[start].strip()
        for l in lines[start + 1:]:
            if not l.startswith("    ") or not l.strip():
                break
            text += " " + l.strip()
        text = re.sub(r"\s+", " ", text)
        if not NEVER_RETRIEVED.search(text):
            raise Failure("the warning is not whole at %d columns: %r\n%s" % (width, text, s))
        if "taskscope: Task" in s:
            raise Failure("warning text double-prefixed:\n" + s)

        # 4. at +3 s: at most two workers hold the two "db connections", so
        # at least two wait on the jobs queue or on the semaphore (which,
        # depends on the run's timing); their awaits are shown whole
        p.keys("1", "b", "Right", "Right", "Right")
        s = p.wait(re.compile(r"\+3\.000s / "))
        s = p.wait(re.compile(r"worker-\d +suspended"))
        if not re.search(r"(queue_get|semaphore) 0x[0-9a-f]{6,}( |$)", s, re.M):
            raise Failure("AWAITS cut at %d columns:\n%s" % (width, s))
        if width >= 200:
            if not re.search(r"demo_service\.c:\d+ in \w+\(\)", s):
                raise Failure("AWAIT SITE cut at 200 columns:\n" + s)
        if not screen_fits(s, width, height):
            raise Failure("tasks overflow %dx%d:\n%s" % (width, height, s))

        # 5. the column chooser hides BUSY and brings it back
        p.keys("c")
        s = p.wait("Columns of the Tasks view")
        row = next(i for i, l in enumerate(s.splitlines()[4:]) if " BUSY " in l)
        p.keys(*(["j"] * row))
        p.keys("Space", "Escape")
        s = p.wait(lambda s: "NAME" in s and "STATE" in s and "BUSY" not in s)
        p.keys("c")
        p.wait("Columns of the Tasks view")
        p.keys(*(["j"] * row))
        p.keys("Space", "Escape")
        p.wait(lambda s: "BUSY" in s and "Columns of" not in s)

        # 5b. the header marks the sort column and its order; s moves it,
        # r reverses it; the chooser says what each column sorts by and
        # sorts by the column under its cursor
        up, down = r"(?:\u25b2|\^)", r"(?:\u25bc|v)"
        p.wait(re.compile(r"\bID" + up))
        p.keys("s")
        p.wait(re.compile(r"\bNAME" + up))
        p.keys("r")
        p.wait(re.compile(r"\bNAME" + down))
        p.keys("c")
        s = p.wait("SORTS BY")
        if not re.search(r"NAME +name A-Z " + down + r"\*", s):
            raise Failure("the chooser does not star the sort column:\n" + s)
        for col, key in [("BUSY", "busy time " + down), ("AWAITS", "wait kind " + up)]:
            if not re.search(col + " +" + key, s):
                raise Failure("the chooser does not say %s sorts by %s:\n%s" % (col, key, s))
        lines = s.splitlines()[4:]
        busy = next(i for i, l in enumerate(lines) if " BUSY " in l)
        ident = next(i for i, l in enumerate(lines) if " ID " in l)
        p.keys(*(["j"] * busy))
        p.keys("s", "Escape")
        p.wait(re.compile(r"\bBUSY" + down))
        # a sort column with no room on screen: the header names it
        p.keys("c")
        s = p.wait("SORTS BY")
        lines = s.splitlines()[4:]
        spawn = next(i for i, l in enumerate(lines) if " SPAWN SITE " in l)
        p.keys(*(["j"] * spawn))
        p.keys("s", "Escape")
        if "(no room here)" in lines[spawn]:
            p.wait(re.compile(r"\| sort SPAWN SITE" + up + r" \|"))
        else:
            p.wait(re.compile(r"SPAWN SITE" + up))
        p.keys("c")
        p.wait("SORTS BY")
        p.keys(*(["j"] * ident))
        p.keys("s", "Escape")
        p.wait(re.compile(r"\bID" + up))

        # 6. the age of main at the cursor (+1.000 s), not at its last event
        p.keys("Left", "Left")
        p.wait(re.compile(r"\+1\.000s / "))
        p.keys("/")
        p.literal("#1")
        p.keys("Enter")
        p.wait(re.compile(r"filter: #1 \("))
        p.keys("Enter")
        s = p.wait("Task #1 main")
        m = re.search(r"created +\+(\d+\.\d+)s +finished - +age (\S+)", s)
        if not m:
            raise Failure("no created/age line:\n" + s)
        created, age = float(m.group(1)), fmt_seconds(m.group(2))
        if abs(age - (1.0 - created)) > 0.001:
            raise Failure("age %s at cursor +1.000s, created +%s: want %.4f s\n%s"
                          % (m.group(2), m.group(1), 1.0 - created, s))

        # 7. percentiles of poll and scheduled times
        p.keys("G")
        s = p.wait(re.compile(r"poll +p50 \S+ +p90 \S+ +p99 \S+ +max \S+"))
        if not re.search(r"scheduled +p50 \S+ +p90 \S+ +p99 \S+ +max \S+", s):
            raise Failure("no scheduled-time percentiles:\n" + s)
        p.keys("Escape", "Escape")
        p.wait(lambda s: "filter:" not in s and "client-" in s)

        # 8. a resource with waiters lists them in order, with their waits
        p.keys("Right", "Right", "3")
        s = p.wait("Resources:")
        p.wait(re.compile(r"\+3\.000s / "))
        # (the jobs queue or the db semaphore has the waiting workers: which
        # one depends on the run's timing, as in 4.  Both are bounded,
        # "N/M" in USE; the unbounded queue of finished clients is not the
        # one: the reaper may wait on it)
        waited = re.compile(r"0x[0-9a-f]+ +(queue|semaphore) +(?:\S+ +)?\d+/\d+ (?:items|taken) +[1-9]")
        s = p.wait(lambda s: any(waited.match(l) for l in s.splitlines()))
        rows = [l for l in s.splitlines() if re.match(r"0x[0-9a-f]+ ", l)]
        idx, kind = next((i, waited.match(l).group(1)) for i, l in enumerate(rows) if waited.match(l))
        p.keys(*(["j"] * idx))
        p.keys("Enter")
        s = p.wait(re.compile(r"Waiters \([1-9]\d*, in the order they came\)"))
        wait = "queue_get" if kind == "queue" else "semaphore"
        if not re.search(r"1\. #\d+ worker-\d+ waits \S+ \(%s\)" % wait, s):
            raise Failure("the waiters are not listed with their waits:\n" + s)
        for want in ["kind        " + kind, "depth" if kind == "queue" else "permits", "History"]:
            if want not in s:
                raise Failure("resource detail lacks %r:\n%s" % (want, s))

        # 9. links both ways: Enter on the first waiter opens that task;
        # its detail keeps "longest poll" on screen and lists its latest
        # events newest first; Enter on its awaits line opens the resource
        # again (the queue or the semaphore of 8.: the first waiter waits
        # on it whichever it is)
        lines = s.splitlines()
        addr = re.search(r"^%s (0x[0-9a-f]+)" % kind, s, re.M)
        head = next((i for i, l in enumerate(lines) if re.match(r"%s 0x" % kind, l)), None)
        first = next((i for i, l in enumerate(lines) if re.match(r"  1\. #\d+ ", l)), None)
        if addr is None or head is None or first is None:
            raise Failure("no resource heading or first waiter:\n" + s)
        task = re.match(r"  1\. #(\d+) (\S+)", lines[first])
        p.keys(*(["j"] * (first - head)))
        p.keys("Enter")
        s = p.wait("Task #%s %s" % (task.group(1), task.group(2)))
        if not re.search(r"polls +\d+ +longest poll \S+", s):
            raise Failure("longest poll not shown at %d columns:\n%s" % (width, s))
        lines = s.splitlines()
        head = next(i for i, l in enumerate(lines) if l.startswith("Task #"))
        aw = next((i for i, l in enumerate(lines) if l.startswith("  awaits ")), None)
        if aw is None:
            raise Failure("the waiter's detail has no awaits line:\n" + s)
        p.keys("G")
        s = p.wait("Latest events (newest first)")
        evs = s.split("Latest events (newest first)", 1)[1]
        times = [float(t) for t in re.findall(r"^ +\+(\d+\.\d+)s ", evs, re.M)]
        if len(times) < 2 or times != sorted(times, reverse=True):
            raise Failure("latest events not newest first (%s):\n%s" % (times, s))
        p.keys("g")
        p.wait(lambda s: "Task #" in s and "Latest events" not in s or height >= 40)
        p.keys(*(["j"] * (aw - head)))
        p.keys("Enter")
        s = p.wait(re.compile(r"Waiters \([1-9]\d*, in the order they came\)"))
        if addr.group(1) not in s or "kind        " + kind not in s:
            raise Failure("Enter on the awaits line did not open %s:\n%s" % (addr.group(1), s))
        check_quit(p)
    finally:
        p.kill()


def case_sizes(ctx):
    if not ctx.recording:
        case_report(ctx)
    check_size(ctx, 80, 24)
    check_size(ctx, 200, 50)


def case_stack(ctx):
    """Issue 16 point 4: a parked task's stack and user fields in its
    detail, and the cancel key (n keeps it, y cancels it) on a live
    process: prog_where's "sleeper" parks in where_outer -> where_middle
    -> where_inner and has the fields user=alice, step=2."""
    if not ctx.where_prog:
        print("stack: no --where-prog: skipped", flush=True)
        return
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.dirname(ctx.debug_lib)
    prog = subprocess.Popen([ctx.where_prog], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        if not prog.stdout.readline().startswith("parked pid="):
            raise Failure("prog_where did not park its tasks")
        rec = os.path.join(ctx.tmp, "stack.db")
        cmd = ctx.top + ["-o", rec, str(prog.pid)]
        p = Pane("stack", " ".join(shlex.quote(a) for a in cmd), width=120, height=60)
        try:
            p.wait("LIVE attached")
            p.wait("sleeper")
            p.keys("/")
            p.literal("sleeper")
            p.keys("Enter")
            p.wait(lambda s: "sleeper" in s and "locker" not in s)
            p.keys("Enter")
            p.wait(re.compile(r"Task #\d+ sleeper"))
            s = p.wait("sleeper_main")
            lines = s.splitlines()
            if not any(l.lstrip().startswith("Stack (") for l in lines):
                raise Failure("no stack section:\n" + s)
            at = []
            for fn in ["where_inner", "where_middle", "where_outer", "sleeper_main"]:
                i = next((k for k, l in enumerate(lines)
                          if re.search(r"#\d+ +%s\b" % fn, l)), None)
                if i is None:
                    raise Failure("no frame %s in the stack:\n%s" % (fn, s))
                at.append(i)
            if at != sorted(at):
                raise Failure("frames out of order (innermost first):\n" + s)
            for f in ["user = alice", "step = 2"]:
                if f not in s:
                    raise Failure("no field %r:\n%s" % (f, s))
            if "\x1b" in s:
                raise Failure("a field's escape sequence reached the terminal")
            # n keeps the task, y cancels it, and the model says who did
            p.wait(re.compile(r"cancel +0 request\(s\) pending, 0 made in all"))
            p.keys("K")
            p.wait(re.compile(r"Cancel task #\d+ sleeper\?"))
            p.keys("n")
            p.wait("not cancelled")
            p.keys("K")
            p.wait(re.compile(r"Cancel task #\d+ sleeper\?"))
            p.keys("y")
            p.wait(re.compile(r"cancelled task #\d+ sleeper"))
            s = p.wait(re.compile(r"cancelled +by taskscope cancel \(pid \d+\)"))
            p.wait(re.compile(r"state +(cancelled|done|failed)"))
            # the runtime applied the request: nothing is pending any more
            p.wait(re.compile(r"cancel +0 request\(s\) pending, 1 made in all"))
            check_quit(p)
        finally:
            p.kill()
    finally:
        prog.send_signal(signal.SIGTERM)
        try:
            prog.wait(30)
        except subprocess.TimeoutExpired:
            prog.kill()
    # launched, the stack comes from the dump the detail view asks for
    # (the process's first dump came before the task parked)
    cmd = ctx.top + ["--no-record", "--", ctx.where_prog]
    p = Pane("stack-launch", "cd %s && %s" % (shlex.quote(ctx.tmp),
                                             " ".join(shlex.quote(a) for a in cmd)),
             width=120, height=60)
    try:
        p.wait("LIVE running")
        p.wait("sleeper")
        p.keys("/")
        p.literal("sleeper")
        p.keys("Enter")
        p.wait(lambda s: "sleeper" in s and "locker" not in s)
        p.keys("Enter")
        p.wait(re.compile(r"Task #\d+ sleeper"))
        p.wait(re.compile(r"#\d+ +where_outer\b"))
        check_quit(p)
    finally:
        p.kill()
    # a replay has no cancel
    p = Pane("stack-replay", " ".join(shlex.quote(a) for a in ctx.top + [rec]))
    try:
        p.wait("REPLAY")
        p.keys("/")
        p.literal("sleeper")
        p.keys("Enter")
        p.wait(lambda s: "sleeper" in s and "locker" not in s)
        p.keys("Enter")
        p.wait(re.compile(r"Task #\d+ sleeper"))
        p.keys("K")
        p.wait("cancel needs a live process")
        check_quit(p)
    finally:
        p.kill()


CASES = {"report": case_report, "replay": case_replay, "live": case_live,
         "attach": case_attach, "nocolor": case_nocolor, "sizes": case_sizes,
         "stack": case_stack}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True, help="the top command, e.g. taskscope-top")
    ap.add_argument("--top-arg", action="append", default=[],
                    help="arguments before ours, e.g. top for `taskscope top`")
    ap.add_argument("--demo", required=True)
    ap.add_argument("--debug-lib", required=True, help="libtaskscope-debug's .so")
    ap.add_argument("--where-prog", help="tests/tracer/prog_where (the stack case)")
    ap.add_argument("--recording", help="an existing recording of DEMO (skips making one)")
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("tmux is not installed: skipped")
        return 77

    class Ctx:
        pass
    ctx = Ctx()
    ctx.top = [os.path.abspath(args.top)] + args.top_arg
    ctx.demo = os.path.abspath(args.demo)
    ctx.debug_lib = os.path.abspath(args.debug_lib)
    ctx.recording = os.path.abspath(args.recording) if args.recording else None
    ctx.where_prog = os.path.abspath(args.where_prog) if args.where_prog else None
    ctx.tmp = tempfile.mkdtemp(prefix="ts-tui-")
    failed = []
    try:
        # an idle session keeps the tmux server up between the cases (a
        # server exits with its last session, and a new-session racing
        # that exit fails)
        tmux("new-session", "-d", "-s", "keeper", "sleep 3600")
        for name in args.cases or list(CASES):
            t0 = time.time()
            try:
                CASES[name](ctx)
                print("ok   %-8s (%.1f s)" % (name, time.time() - t0), flush=True)
            except (Failure, subprocess.TimeoutExpired) as e:
                print("FAIL %-8s %s" % (name, e), flush=True)
                failed.append(name)
    finally:
        kill_server()
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
