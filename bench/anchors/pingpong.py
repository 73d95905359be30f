"""Anchor for bench_pingpong: two tasks passing an item back and forth
through two unbounded asyncio.Queue; ns per switch (a round is two)."""
import asyncio

import _common as c


async def ping(q1, q2, rounds):
    for i in range(rounds):
        await q1.put(i)
        await q2.get()


async def pong(q1, q2, rounds):
    for _ in range(rounds):
        await q2.put(await q1.get())


async def main_with(args):
    rounds = c.pick(args, 20000, 100000)

    async def sample():
        q1, q2 = asyncio.Queue(), asyncio.Queue()
        t0 = c.now_ns()
        a = asyncio.create_task(ping(q1, q2, rounds))
        b = asyncio.create_task(pong(q1, q2, rounds))
        await a
        await b
        return (c.now_ns() - t0) / (2 * rounds)

    await c.repeat(args, "pingpong", "ns/switch", "lower", sample)


if __name__ == "__main__":
    args = c.parse_args()
    c.run(args, lambda: main_with(args))
