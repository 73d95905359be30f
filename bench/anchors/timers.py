"""Anchor for bench_timers: call_later with N distinct deadlines shuffled
over 1 ms (timers/s), and T tasks each sleeping R random delays below 1 ms
(sleeps/s).  Same sizes and the same shuffle scheme as the C program."""
import asyncio
import random

import _common as c


async def main_with(args):
    loop = asyncio.get_running_loop()
    n = c.pick(args, 50000, 200000)
    rng = random.Random(1)
    delays = [1e-3 * i / n for i in range(n)]

    async def sample_call_later():
        rng.shuffle(delays)
        done = loop.create_future()
        fired = 0

        def on_timer():
            nonlocal fired
            fired += 1
            if fired == n:
                done.set_result(None)

        t0 = c.now_ns()
        for d in delays:
            loop.call_later(d, on_timer)
        await done
        return n * 1e9 / (c.now_ns() - t0)

    await c.repeat(args, "timers", "timers/s", "higher", sample_call_later)

    tasks, rounds = c.pick(args, 2000, 10000), c.pick(args, 10, 20)

    async def sleeper(seed):
        r = random.Random(seed)
        for _ in range(rounds):
            await asyncio.sleep(r.randrange(1000000) * 1e-9)

    async def sample_sleep():
        t0 = c.now_ns()
        ts = [asyncio.create_task(sleeper(i)) for i in range(tasks)]
        for t in ts:
            await t
        return tasks * rounds * 1e9 / (c.now_ns() - t0)

    await c.repeat(args, "timers_sleep", "sleeps/s", "higher", sample_sleep)


if __name__ == "__main__":
    args = c.parse_args()
    c.run(args, lambda: main_with(args))
