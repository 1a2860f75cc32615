#!/usr/bin/env python3
"""Writes the seed scripts of fuzz/connection_fuzz.cpp into fuzz/corpus/connection/.

A script is a flags byte, then steps: an actor byte (even: the client acts, odd:
the server), an action byte (low nibble: the action, high nibble: its variant)
and the action's parameters. Run from anywhere; CLOSEWISE_FUZZ_TRACE=1 with
closewise_connection_replay shows how each seed ends.
"""
import os

C, S = 0, 1
CODES = [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
         1014, 1015, 1016, 2999, 3000, 3499, 3500, 3999, 4000, 4999, 999, 5000, 0, 65535]


def payload(b, raw=False, long=False):
    return bytes([(1 if long else 0) | (2 if raw else 0), len(b) - (256 if long else 0)]) + b


def text(a, s, raw=False):
    b = s.encode() if isinstance(s, str) else s
    return bytes([a, 0]) + payload(b, raw)


def binary(a, b): return bytes([a, 1]) + payload(b)
def big(a, n): return bytes([a, 1]) + payload(bytes((i * 7) & 0xFF for i in range(n)), long=True)


def frag(a, s, parts, binary_=False):
    return bytes([a, 2 | (0x10 if binary_ else 0)]) + payload(s.encode()) + bytes([parts])


def ping(a, b=b''): return bytes([a, 3, len(b)]) + b
def pong(a, b=b''): return bytes([a, 4, len(b)]) + b


def close(a, code, reason=b'', endpoint=False):
    c = bytes([CODES.index(code)]) if code in CODES else bytes([0xF0, code >> 8, code & 0xFF])
    return bytes([a, 6 if endpoint else 5]) + c + bytes([len(reason)]) + reason


def deliver(a, n=0, how=0): return bytes([a, 7 | (how << 4), n])  # how: 0 receive, 1 in place, 2 window
def garbage(a, b): return bytes([a, 9, len(b) - 1]) + b
def eof(a): return bytes([a, 10 | 0x10])    # the other side reads EOF
def timeout(a): return bytes([a, 10])       # the other side's close timer fires
def abort(a): return bytes([a, 11])         # the other side aborts (heartbeat)


DEFLATE, LIMITS, NO_AUTO_PONG, DEFLATE_ALL = 1, 2, 4, 8
SEEDS = {
    'client_closes_1000_clean': (0, [text(C, 'hello'), deliver(C), binary(S, b'\0\1\2'), deliver(S),
                                     close(C, 1000, b'bye'), deliver(C), deliver(S)]),
    'server_closes_1001_going_away': (0, [text(S, 'tick'), close(S, 1001, b'shutdown', True),
                                          deliver(S), deliver(C)]),
    # A masked, empty close frame (key 0): reported as 1005 and echoed empty.
    'empty_close_echoed_empty': (0, [text(C, 'x'), garbage(C, bytes.fromhex('888000000000')),
                                     deliver(C), deliver(S)]),
    'simultaneous_close': (0, [close(C, 1000, b'c'), close(S, 4000, b's'), deliver(C), deliver(S)]),
    'fragmented_with_ping': (0, [ping(C, b'p1'), frag(C, 'fragmented message', 4), deliver(C, 5, 1),
                                 deliver(C, 0, 1), pong(S, b'u'), deliver(S), close(S, 3000, b'', True),
                                 deliver(S), deliver(C)]),
    'byte_at_a_time_window': (0, [big(C, 300), frag(S, 'abcdef', 3, True)] +
                              [deliver(C, 1, 2) for _ in range(40)] +
                              [deliver(C, 0, 2), deliver(S, 1, 2), deliver(S),
                               close(S, 1012, b'retry-after=5', True), deliver(S), deliver(C)]),
    'deflate_round_trip': (DEFLATE | DEFLATE_ALL, [text(C, 'compress me ' * 10), binary(S, b'\0' * 100),
                                                   deliver(C), deliver(S), text(C, 'again ' * 10),
                                                   deliver(C, 7), deliver(C), close(C, 1000),
                                                   deliver(C), deliver(S)]),
    'deflate_min_size_mixed': (DEFLATE, [text(C, 'short'), text(C, 'long enough to compress ' * 4),
                                         frag(C, 'plain fragments under deflate', 3), deliver(C, 0, 1),
                                         close(S, 1000, b'done'), deliver(S), deliver(C)]),
    'limits_1009': (LIMITS, [big(C, 400), deliver(C), deliver(S), text(C, 'after'), deliver(C)]),
    'limits_fragments_1009': (LIMITS, [frag(S, 'y' * 150, 3), frag(S, 'z' * 250, 5), deliver(S, 0, 2),
                                       deliver(C), deliver(S)]),
    'garbage_reserved_opcode_1002': (0, [text(C, 'ok'), garbage(C, bytes.fromhex('838000000000')),
                                         deliver(C), deliver(S)]),
    'garbage_to_client_1002': (0, [garbage(S, b'\x83\x00'), deliver(S), deliver(C)]),
    'eof_before_close': (0, [text(C, 'x'), deliver(C), eof(C)]),
    'eof_while_closing': (0, [close(C, 1000, b'bye'), deliver(C), eof(S)]),
    'close_timeout_1006': (0, [close(C, 1000, b'bye'), deliver(C), timeout(S)]),
    'abort_heartbeat': (0, [text(S, 'x'), abort(C), deliver(S)]),
    'app_close_refuses_protocol_codes': (0, [close(C, 1002, b'no'), close(C, 1015), close(C, 3000, b'x' * 124),
                                             close(C, 4999, b'ok'), deliver(C), deliver(S)]),
    'invalid_utf8_text_refused': (0, [text(C, b'\xc3\x28', raw=True), text(C, '\u20ac'.encode(), raw=True),
                                      deliver(C), close(S, 1000), deliver(S), deliver(C)]),
    'ping_limits_no_auto_pong': (NO_AUTO_PONG, [ping(C, b'x' * 126), ping(C, b'y' * 125), deliver(C),
                                                deliver(S), close(S, 1011, b'', True), deliver(S), deliver(C)]),
    'send_after_close_refused': (0, [close(S, 1000), text(S, 'late'), ping(S), deliver(S), text(C, 'reply'),
                                     deliver(C), deliver(S)]),
    'close_reason_123_bytes': (0, [close(C, 4000, b'r' * 123), deliver(C, 3), deliver(C), deliver(S)]),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus', 'connection')
os.makedirs(here, exist_ok=True)
for name in os.listdir(here):
    os.remove(os.path.join(here, name))
for name, (flags, steps) in SEEDS.items():
    with open(os.path.join(here, name), 'wb') as f:
        f.write(bytes([flags]) + b''.join(steps))
