"""Anchor for bench_spawn: create tasks in batches of 1000, then await each
in creation order (figure spawn); and asyncio.gather over N fresh
coroutines at once (figure spawn_gather); tasks per second."""
import asyncio

import _common as c

BATCH = 1000


async def noop():
    return None


async def main_with(args):
    total = c.pick(args, 50000, 200000)

    async def sample():
        t0 = c.now_ns()
        done = 0
        while done < total:
            batch = [asyncio.create_task(noop()) for _ in range(BATCH)]
            for t in batch:
                await t
            done += BATCH
        return done * 1e9 / (c.now_ns() - t0)

    await c.repeat(args, "spawn", "tasks/s", "higher", sample)

    n = c.pick(args, 100000, 200000)

    async def sample_gather():
        t0 = c.now_ns()
        await asyncio.gather(*[noop() for _ in range(n)])
        return n * 1e9 / (c.now_ns() - t0)

    await c.repeat(args, "spawn_gather", "tasks/s", "higher", sample_gather)


if __name__ == "__main__":
    args = c.parse_args()
    c.run(args, lambda: main_with(args))
