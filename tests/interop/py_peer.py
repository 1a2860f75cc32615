#!/usr/bin/python3
"""python-websockets (Debian's, legacy asyncio API of 10.x) as a closewise interop peer.

    py_peer.py server [--cert FILE --key FILE]
        Prints {"event": "listening", "port": N}, then one {"event": "closed", ...}
        line per connection. The request path says what the peer does:
          /close/<code>/<hex reason>[/...]  the peer closes with that code and reason
          /await[/...]                      the peer waits for closewise to close
          /drop[/...]                       the peer drops TCP without a close frame
          /echo[/...]                       the peer echoes every message
    py_peer.py client BASE_URL CASES_JSON [--ca FILE]
        Runs every case concurrently; prints one result line per case.

Every "closed" line carries what the peer received: the close code and reason
of closewise's close frame (1006 when there was none).
"""
import asyncio
import json
import ssl
import sys

import websockets

MAX_SIZE = 64 * 1024 * 1024


def out(**fields):
    print(json.dumps(fields), flush=True)


def payload(size, text):
    """Deterministic test data; text is multibyte UTF-8 of exactly `size` bytes."""
    if text:
        unit = "é"  # 2 bytes
        return unit * (size // 2) + "x" * (size % 2)
    # The pattern repeats every 64 KiB, so build one block and repeat it.
    block = bytes((i * 131 ^ (i >> 8)) & 0xFF for i in range(min(size, 65536)))
    return (block * (size // 65536 + 1))[:size]


def parse_path(path):
    parts = path.split("?")[0].strip("/").split("/")
    action = parts[0] if parts else ""
    code = int(parts[1]) if action == "close" else None
    reason = bytes.fromhex(parts[2]).decode("utf-8") if action == "close" and len(parts) > 2 else ""
    return action, code, reason


async def serve(args):
    ctx = None
    if "--cert" in args:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args[args.index("--cert") + 1], args[args.index("--key") + 1])

    async def handler(ws):
        path = ws.path
        action, code, reason = parse_path(path)
        try:
            if action == "close":
                await ws.close(code, reason)
            elif action == "drop":
                ws.transport.abort()
            elif action == "echo":
                async for msg in ws:
                    await ws.send(msg)
            await ws.wait_closed()
        except websockets.ConnectionClosed:
            pass
        out(event="closed", path=path, code=ws.close_code, reason=ws.close_reason)

    async with websockets.serve(handler, "127.0.0.1", 0, ssl=ctx, max_size=MAX_SIZE,
                                ping_interval=None, close_timeout=5) as server:
        out(event="listening", port=server.sockets[0].getsockname()[1])
        await asyncio.Future()


async def run_case(base, case, ctx):
    try:
        ws = await websockets.connect(base + case["path"], ssl=ctx, max_size=MAX_SIZE,
                                      ping_interval=None, close_timeout=5)
    except Exception as e:  # noqa: BLE001 - reported to the test, which fails on it
        out(id=case["id"], event="error", error=repr(e))
        return
    action = case["action"]
    try:
        if action == "close":
            await ws.close(case["code"], bytes.fromhex(case["reason"]).decode("utf-8"))
        elif action == "drop":
            ws.transport.abort()
        elif action == "echo":
            bad = []
            for size, text in case["sizes"]:
                data = payload(size, text)
                await ws.send(data)
                back = await ws.recv()
                if back != data:
                    bad.append(size)
            await ws.close(1000)
            await ws.wait_closed()
            out(id=case["id"], event="echo", bad=bad, code=ws.close_code)
            return
        await ws.wait_closed()
    except websockets.ConnectionClosed:
        pass
    out(id=case["id"], event="closed", code=ws.close_code, reason=ws.close_reason)


async def connect(args):
    base, cases = args[0], json.loads(args[1])
    ctx = None
    if "--ca" in args:
        ctx = ssl.create_default_context(cafile=args[args.index("--ca") + 1])
    await asyncio.gather(*(run_case(base, c, ctx) for c in cases))
    out(event="done")


if __name__ == "__main__":
    out(event="version", peer="python-websockets", version=websockets.__version__)
    if sys.argv[1] == "server":
        asyncio.run(serve(sys.argv[2:]))
    else:
        asyncio.run(connect(sys.argv[2:]))
