#!/usr/bin/env python3
"""bench/blocked_latency.py - how soon a blocked loop is seen, and shown.

    blocked_latency.py --build DIR [--quick|--full]

Runs DIR/bench/blocked_spin on the debug runtime: each spin is a task
blocking its loop on the CPU (spawned in the same ready batch, so only
the watchdog can name it) until this script releases it.  From the
spin's start (CLOCK_MONOTONIC, printed by the program) to the first
report of it, per consumer:

  inproc   the watchdog's loop_blocked event (its timestamp, read from
           the attach recording below)
  attach   a `taskscope attach` recording running throughout: the episode
           visible in the file (polled with SQLite every 2 ms)
  top      `taskscope top` in tmux, on its Loops view: "BLOCKED NOW" with
           the task's name on screen (capture-pane through one tmux
           control-mode client, polled every 2 ms)
  blocked  `taskscope blocked --json PID` started at the spin's start: its
           answer, with the episode ongoing and the task named
  ps       `taskscope ps --json PID` likewise: the spinner listed running

The blocked and ps commands take turns (one per spin); attach and top
watch every spin.  Each spin is released once its consumers have
reported, so every report is of a loop still blocked.  Prints one JSON
line per figure (bench/run's format): blocked_latency_<consumer> is the
p99 and blocked_latency_<consumer>_p50 the median, in ms, each beside the
block threshold (anchor "threshold", 100 ms): the floor no consumer can
beat.  blocked_latency_<consumer>_lag (live consumers) is the p99 of each
spin's report less that spin's in-process detection, beside the goal
(anchor "goal", 50 ms).  Figures a consumer could not measure carry an error instead.
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

THRESHOLD_MS = 100.0
GOAL_LAG_MS = 50.0   # the goal: every live consumer within 50 ms of inproc
CONSUMERS = ["inproc", "attach", "top", "blocked", "ps"]


def now_ns():
    return time.monotonic_ns()


def emit(figure, value, error=None, anchor=THRESHOLD_MS, anchor_name="threshold"):
    rec = {"figure": figure, "source": "taskscope", "value": value, "unit": "ms",
           "better": "lower"}
    if error:
        rec["error"] = error
    print(json.dumps(rec), flush=True)
    if value is not None:
        print(json.dumps({"figure": figure, "source": anchor_name, "value": anchor,
                          "unit": "ms", "better": "lower"}), flush=True)


def pct(v, p):
    v = sorted(v)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1) + 0.4999))))
    return v[k]


class Spinner:
    def __init__(self, build, n, env):
        self.p = subprocess.Popen([os.path.join(build, "bench", "blocked_spin"), str(n)],
                                  stdout=subprocess.PIPE, text=True, env=env)

    def wait_ready(self):
        """Its runtime is up (its trace segment exists): consumers may attach
        (`attach PID` before that fails at once: no such segment)."""
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("blocked_spin: %r instead of ready" % line)

    def go(self):
        """Start the spins, once the consumers are attached."""
        self.release()

    def next_spin(self, timeout=20):
        """(index, start_ns) of the next spin, None when done."""
        line = self.p.stdout.readline()
        if not line or line.startswith("done"):
            return None
        fields = dict(f.split("=") for f in line.split()[2:])
        return int(line.split()[1]), int(fields["start_ns"])

    def release(self):
        os.kill(self.p.pid, 10)  # SIGUSR1


class DbWatch(threading.Thread):
    """Polls an attach recording for new blocked episodes."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.seen = {}   # seq -> (wall ns first seen, event ns)
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                con = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True)
                for seq, ns, name in con.execute(
                        "SELECT b.seq, e.ns, b.task_name FROM blocked b "
                        "JOIN ev_loop_blocked e ON e.seq = b.seq"):
                    if seq not in self.seen and name == "spinner":
                        self.seen[seq] = (now_ns(), ns)
                con.close()
            except sqlite3.Error:
                pass
            time.sleep(0.002)

    def after(self, t0):
        got = [v for v in self.seen.values() if v[1] >= t0]
        return min(got) if got else None


class TopWatch(threading.Thread):
    """Polls top's screen through one tmux control-mode client: a
    capture over its pipe costs well under a millisecond, where a
    `tmux capture-pane` process per poll cost 12-25 ms on a loaded
    machine (fork, exec, connect), which counted as top's own lag.
    Falls back to capture-pane processes if control mode fails."""

    def __init__(self, sock, session):
        super().__init__(daemon=True)
        self.sock, self.session = sock, session
        self.first = None
        self.armed = False
        self.stop = False
        self.last_task = None  # the task of the last episode seen
        self.stale = 0         # captures still showing an earlier spin as BLOCKED NOW
        self.ctl = None
        self.seq = 0
        try:
            self.ctl = subprocess.Popen(["tmux", "-S", sock, "-C", "attach", "-t", session],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, bufsize=1)
            # the attach itself answers with a block of its own: skip
            # blocks up to a marker's, so each answer read is its command's
            self.ctl.stdin.write("display-message -p ts-bench-sync\n")
            self.ctl.stdin.flush()
            while self.read_block() != ["ts-bench-sync"]:
                pass
            # the same size as the pane (so top is not resized), no %output flood
            self.command("refresh-client -C 120x50")
            self.command("refresh-client -f no-output")
        except (OSError, RuntimeError):
            self.close()

    def command(self, cmd):
        """The output lines of one tmux command over the control client.
        A marker follows it, and the answer is the block just before the
        marker's: the attach's own block may come after the first
        command's answer, and reading one block per command then read
        every answer one command late (each capture showed the screen
        of the capture before: an earlier spin still BLOCKED NOW, and
        top's first sight of a spin one poll late)."""
        self.seq += 1
        mark = "ts-bench-mark-%d" % self.seq
        self.ctl.stdin.write("%s\ndisplay-message -p %s\n" % (cmd, mark))
        self.ctl.stdin.flush()
        out = []
        while True:
            block = self.read_block()
            if block == [mark]:
                return out
            out = block

    def read_block(self):
        """The lines of the next %begin..%end block (notifications skipped)."""
        out, inside = [], False
        while True:
            line = self.ctl.stdout.readline()
            if not line:
                raise RuntimeError("tmux control client went away")
            if line.startswith("%begin"):
                inside, out = True, []
            elif inside and (line.startswith("%end") or line.startswith("%error")):
                return out
            elif inside:
                out.append(line.rstrip("\n"))

    def close(self):
        if self.ctl:
            try:
                self.ctl.stdin.close()
            except OSError:
                pass
            self.ctl.kill()
            self.ctl.wait()
            self.ctl = None

    def screen(self):
        if self.ctl:
            try:
                return self.command("capture-pane -p -t %s" % self.session)
            except (OSError, RuntimeError):
                self.close()
        return subprocess.run(["tmux", "-S", self.sock, "capture-pane", "-p", "-t",
                               self.session], stdout=subprocess.PIPE,
                              text=True).stdout.splitlines()

    def run(self):
        while not self.stop:
            if self.armed and self.first is None:
                s = self.screen()
                hit = [ln for ln in s if "BLOCKED NOW" in ln and ln.rstrip().endswith("spinner")]
                # "task #N spinner": a screen still showing the previous
                # spin's episode as ongoing is not this spin's report
                task = hit[0].rstrip().rsplit(" ", 2)[-2] if hit else None
                if task and task != self.last_task:
                    self.first = now_ns()
                    self.last_task = task
                elif task:
                    self.stale += 1
            time.sleep(0.002)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    ts = os.path.join(build, "taskscope")
    n = 20 if a.full else 6
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(build, "runtime", "debug")
    env["TASKSCOPE_BLOCK_MS"] = str(int(THRESHOLD_MS))
    tmp = tempfile.mkdtemp(prefix="ts-blocked-latency-")
    lat = {c: [] for c in CONSUMERS}
    lag = {c: [] for c in CONSUMERS[1:]}
    errors = {}
    sp = Spinner(build, n, env)
    pid = sp.p.pid
    sp.wait_ready()
    time.sleep(0.2)
    db = os.path.join(tmp, "attach.db")
    att = subprocess.Popen([ts, "attach", "-o", db, str(pid)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    dbw = DbWatch(db)
    dbw.start()
    # tmux's socket beside the rest, removed with tmp (`-L` would leave
    # it in /tmp/tmux-UID/); /tmp where tmp is too long for a socket's
    # path (sun_path: 108 bytes, its NUL included)
    sock = os.path.join(tmp, "tmux")
    if len(sock.encode()) >= 108:
        sock = "/tmp/ts-bench-%d" % os.getpid()
    top = None
    if shutil.which("tmux"):
        subprocess.run(["tmux", "-S", sock, "new-session", "-d", "-s", "top", "-x", "120",
                        "-y", "50", ts, "top", "-o", os.path.join(tmp, "top.db"), str(pid)])
        time.sleep(0.5)
        subprocess.run(["tmux", "-S", sock, "send-keys", "-t", "top", "2"])
        top = TopWatch(sock, "top")
        top.start()
        time.sleep(0.3)
    else:
        errors["top"] = "tmux is not installed"
    sp.go()
    try:
        turn = 0
        while True:
            got = sp.next_spin()
            if got is None:
                break
            i, t0 = got
            if top:
                top.first = None
                top.armed = True
            cmd = CONSUMERS[3 + turn % 2]
            turn += 1
            c0 = now_ns()
            out = subprocess.run([ts, cmd, "--json", str(pid)], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True).stdout
            t_cmd = now_ns()
            try:
                doc = json.loads(out)
            except ValueError:
                doc = {}
            if cmd == "blocked":
                ok = any(e.get("ongoing") and e.get("task_name") == "spinner"
                         for e in doc.get("episodes", []))
            else:
                ok = any(t.get("name") == "spinner" and t.get("state") == "running"
                         for t in doc.get("tasks", []))
            if ok:
                lat[cmd].append((t_cmd - t0) / 1e6)
            else:
                errors.setdefault(cmd, "spin %d not reported (started %.0f ms in)"
                                  % (i, (c0 - t0) / 1e6))
            deadline = now_ns() + 2_000_000_000
            while now_ns() < deadline and (dbw.after(t0) is None or
                                           (top and top.first is None)):
                time.sleep(0.005)
            d = dbw.after(t0)
            if d:
                lat["attach"].append((d[0] - t0) / 1e6)
                lat["inproc"].append((d[1] - t0) / 1e6)
                # each consumer's lag behind this spin's in-process detection
                lag["attach"].append((d[0] - d[1]) / 1e6)
                if ok:
                    lag[cmd].append((t_cmd - d[1]) / 1e6)
                if top and top.first:
                    lag["top"].append((top.first - d[1]) / 1e6)
            if top and top.first:
                lat["top"].append((top.first - t0) / 1e6)
            if top:
                top.armed = False
            sp.release()
    finally:
        sp.p.wait()
        att.terminate()
        att.wait()
        dbw.stop = True
        if top:
            top.stop = True
            top.join(1)
            top.close()
            if top.stale:
                print("blocked_latency top: %d captures showed an earlier spin still "
                      "BLOCKED NOW" % top.stale, file=sys.stderr)
            subprocess.run(["tmux", "-S", sock, "kill-server"], stderr=subprocess.DEVNULL)
            if not sock.startswith(tmp) and os.path.exists(sock):
                os.unlink(sock)
        shutil.rmtree(tmp, ignore_errors=True)
    for c in CONSUMERS:
        v = lat[c]
        if not v:
            emit("blocked_latency_" + c, None, errors.get(c, "not measured"))
            emit("blocked_latency_%s_p50" % c, None, errors.get(c, "not measured"))
            continue
        print("blocked_latency %s: %s ms" % (c, " ".join("%.1f" % x for x in v)),
              file=sys.stderr)
        emit("blocked_latency_" + c, pct(v, 99))
        emit("blocked_latency_%s_p50" % c, pct(v, 50))
    for c in CONSUMERS[1:]:
        v = lag[c]
        if not v:
            emit("blocked_latency_%s_lag" % c, None, errors.get(c, "not measured"), GOAL_LAG_MS)
            continue
        print("blocked_latency %s after inproc: %s ms" % (c, " ".join("%.1f" % x for x in v)),
              file=sys.stderr)
        emit("blocked_latency_%s_lag" % c, pct(v, 99), anchor=GOAL_LAG_MS, anchor_name="goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
