#!/usr/bin/python3
"""A WebSocket server (python3-websockets) that ends each connection as told.

Used by closewise's reconnect tests as an independent peer for the close-code
matrix. Usage:

    reconnect_server.py STEP [STEP ...]

Connection number i (0-based, counting upgrade requests) follows
STEP[min(i, len-1)]:

    CODE[:REASON]          accept, then close with CODE (1000-1014, 3000-4999)
    drop                   accept, then drop TCP without a close frame (1006)
    http:STATUS[:SECONDS]  refuse the upgrade with STATUS (and Retry-After)
    open                   accept and stay open, echoing messages

It binds 127.0.0.1 on a free port and prints "PORT <n>" on one line, then one
line per connection ("CONN <i> <step>"), flushed, so the test can follow.
"""

import asyncio
import http
import sys

import websockets


def step_for(steps, i):
    return steps[min(i, len(steps) - 1)]


async def main(steps):
    counter = {"n": 0}

    async def process_request(path, headers):
        i = counter["n"]
        counter["n"] += 1
        step = step_for(steps, i)
        print(f"CONN {i} {step}", flush=True)
        if step.startswith("http:"):
            parts = step.split(":")
            status = http.HTTPStatus(int(parts[1]))
            extra = [("Retry-After", parts[2])] if len(parts) > 2 else []
            return status, extra, b"refused by reconnect_server.py\n"
        return None  # go on with the upgrade

    async def handler(ws, path=None):
        # The step was chosen when the request arrived; find it again from the
        # request order (websockets runs process_request, then the handler).
        step = step_for(steps, handler_counter["n"])
        handler_counter["n"] += 1
        while step.startswith("http:"):  # refused requests never reach here
            step = step_for(steps, handler_counter["n"])
            handler_counter["n"] += 1
        if step == "drop":
            ws.transport.abort()  # no close frame: the client must report 1006
            return
        if step == "open":
            async for message in ws:
                await ws.send(message)
            return
        code, _, reason = step.partition(":")
        await ws.close(int(code), reason)

    handler_counter = {"n": 0}
    async with websockets.serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Future()  # until killed


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1:]))
