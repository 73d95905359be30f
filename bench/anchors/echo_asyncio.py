"""echo_asyncio.py - the asyncio and uvloop anchors of the TCP echo benchmark.

    echo_asyncio.py [--loop asyncio|uvloop] [--api streams|protocol]

Listens on 127.0.0.1, a free port, prints the port on stdout and serves
until killed; driven by bench_echo (bench/echo_client.c), like
bench/echo_server.c and anchors/echo_libuv.c.

--api streams (the default) is the tutorial's echo server and the same API
as taskscope's server (start_server, read, write, drain); --api protocol is
asyncio's lower and faster callback interface.  Exits 3 when uvloop is
asked for and not installed.
"""
import argparse
import asyncio
import sys

NOT_INSTALLED = 3


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(16384)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def main(api):
    loop = asyncio.get_running_loop()
    if api == "protocol":
        server = await loop.create_server(EchoProtocol, "127.0.0.1", 0)
    else:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def run():
    p = argparse.ArgumentParser()
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--api", choices=["streams", "protocol"], default="streams")
    args = p.parse_args()
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed for %s" % sys.executable,
                  file=sys.stderr)
            sys.exit(NOT_INSTALLED)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main(args.api))


if __name__ == "__main__":
    run()
