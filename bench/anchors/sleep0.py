"""Anchor for bench_sleep0: one task awaiting asyncio.sleep(0) in a loop;
ns per call."""
import asyncio

import _common as c


async def main_with(args):
    n = c.pick(args, 100000, 500000)

    async def sample():
        t0 = c.now_ns()
        for _ in range(n):
            await asyncio.sleep(0)
        return (c.now_ns() - t0) / n

    await c.repeat(args, "sleep0", "ns/call", "lower", sample)


if __name__ == "__main__":
    args = c.parse_args()
    c.run(args, lambda: main_with(args))
