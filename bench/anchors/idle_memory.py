"""Anchor for bench_idle_memory: N tasks each suspended in
asyncio.sleep(1000); growth of the resident set per task, in bytes, and
(figure spawn_concurrent) how fast they were created and parked.

One sample, as in the C program: a second round would reuse the first
one's memory.  --tasks N overrides N and --figure names the figure (bench/run
uses them for the million-task run, idle_1m)."""
import asyncio
import sys

import _common as c


async def sleeper():
    await asyncio.sleep(1000)


async def main_with(args):
    n = args.tasks or c.pick(args, 10000, 100000)
    tasks = [None] * n           # ours, not asyncio's: allocated before rss0
    rss0 = c.rss_bytes()
    t0 = c.now_ns()
    for i in range(n):
        tasks[i] = asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    t1 = c.now_ns()
    per_task = (c.rss_bytes() - rss0) / n
    print("%s/%s: %d concurrent sleeping tasks, %.0f B/task, %.2f s"
          % (args.figure, args.source, n, per_task, (t1 - t0) / 1e9),
          file=sys.stderr)
    c.emit(args.figure, args.source, per_task, "B/task", "lower", "one run")
    if args.figure == "idle_memory":
        c.emit("spawn_concurrent", args.source, n * 1e9 / (t1 - t0), "tasks/s",
               "higher", "one run")
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def extra(p):
    p.add_argument("--tasks", type=int, default=0)
    p.add_argument("--figure", default="idle_memory")


if __name__ == "__main__":
    args = c.parse_args(extra)
    c.run(args, lambda: main_with(args))
