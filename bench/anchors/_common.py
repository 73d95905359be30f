"""Shared by the Python anchors: command line, event loop choice, timing,
best-of-N repetition and the JSON line each figure is printed as.

The output contract is the C programs' (bench/bench_util.h): one line per
figure on stdout,
  {"figure": "spawn", "source": "python-asyncio", "value": 94000.0,
   "unit": "tasks/s", "better": "higher", "stat": "best of 5"}
Progress goes to stderr.  Exit status 3 means the requested loop (uvloop)
is not installed; bench/run reports that and keeps our own figure.
"""
import argparse
import asyncio
import json
import os
import sys
import time

NOT_INSTALLED = 3


def parse_args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--full", action="store_true")
    p.add_argument("--reps", type=int, default=None)
    if extra:
        extra(p)
    args = p.parse_args()
    if args.reps is None:
        args.reps = 3 if args.quick else 5
    args.source = "python-" + args.loop
    return args


def pick(args, quick, normal):
    return quick if args.quick else normal


def run(args, coro_fn):
    """Run coro_fn() to completion on the chosen loop."""
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed for %s" % sys.executable,
                  file=sys.stderr)
            sys.exit(NOT_INSTALLED)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(coro_fn())


def now_ns():
    return time.monotonic_ns()


def emit(figure, source, value, unit, better, stat):
    print(json.dumps({"figure": figure, "source": source, "value": value,
                      "unit": unit, "better": better, "stat": stat}),
          flush=True)


async def repeat(args, figure, unit, better, sample):
    """Await sample() args.reps times and emit the best."""
    values = []
    for i in range(args.reps):
        v = await sample()
        print("%s/%s rep %d: %.6g %s" % (figure, args.source, i + 1, v, unit),
              file=sys.stderr)
        values.append(v)
    best = max(values) if better == "higher" else min(values)
    emit(figure, args.source, best, unit, better, "best of %d" % len(values))


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
