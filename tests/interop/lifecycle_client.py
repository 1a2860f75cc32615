#!/usr/bin/python3
"""python-websockets (Debian's 10.x, legacy asyncio API) as a client of the
closewise server's limits (issue 6). Prints exactly one JSON line.

    lifecycle_client.py URL send text|binary HEX
        Sends one message (raw frame, so invalid UTF-8 text goes out as is) and
        waits for the server to close: {"event": "closed", "code", "reason"}.
    lifecycle_client.py URL echo text|binary HEX
        Sends one message, expects it back, closes with 1000:
        {"event": "echoed", "size": N} (or "closed" if the server closed instead).
    lifecycle_client.py URL connect
        Connects and waits for the server to close:
        {"event": "closed", ...}, or {"event": "refused", "status", "retry_after"}.

Any other failure prints {"event": "error", "what": "..."}.
"""
import asyncio
import json
import sys

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatusCode

# RFC 6455 §5.2 opcodes.
OP_TEXT, OP_BINARY = 0x1, 0x2
TIMEOUT = 8  # seconds; every wait is bounded


def out(**fields):
    print(json.dumps(fields), flush=True)


async def wait_closed(ws):
    try:
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    except asyncio.TimeoutError:
        out(event="error", what="server did not close")
        return
    out(event="closed", code=ws.close_code, reason=ws.close_reason)


async def run(url, action, kind=None, data=b""):
    try:
        ws = await asyncio.wait_for(websockets.connect(url, max_size=None), TIMEOUT)
    except InvalidStatusCode as e:
        headers = getattr(e, "headers", None)
        out(event="refused", status=e.status_code,
            retry_after=headers.get("Retry-After") if headers else None)
        return
    opcode = OP_TEXT if kind == "text" else OP_BINARY
    if action == "connect":
        await wait_closed(ws)
    elif action == "send":
        # write_frame bypasses the library's own UTF-8 encoding of str messages.
        await ws.write_frame(True, opcode, data)
        await wait_closed(ws)
    elif action == "echo":
        await ws.write_frame(True, opcode, data)
        try:
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        except ConnectionClosed:
            out(event="closed", code=ws.close_code, reason=ws.close_reason)
            return
        size = len(got.encode("utf-8")) if isinstance(got, str) else len(got)
        await ws.close(1000)
        out(event="echoed", size=size)
    else:
        out(event="error", what="unknown action " + action)


def main(argv):
    if len(argv) < 3:
        out(event="error", what="usage: URL ACTION [KIND HEX]")
        return 2
    kind = argv[3] if len(argv) > 3 else None
    data = bytes.fromhex(argv[4]) if len(argv) > 4 else b""
    try:
        asyncio.run(run(argv[1], argv[2], kind, data))
    except Exception as e:  # report, never hang or print a traceback instead of JSON
        out(event="error", what=repr(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
