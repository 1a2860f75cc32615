#!/usr/bin/env python3
"""A model of the fleet scenario's reconnect spread (bench/fleet/run.py).

Why the rolling restart misses "peak reconnects per 100 ms <= 2x the mean",
and what would meet it. N clients sit evenly on B backends behind a load
balancer. Backends restart one after another: the health path answers 503
for `delay` seconds, then the backend closes its clients with 1012,
stratified over its drain window (one close per slot, a uniform point in
each), and the next backend starts after `gap` seconds. A closed client
reconnects after the policy's first delay and lands on another backend, so
later backends hold more clients. Reconnects are counted per 100 ms from the
first close to the last reconnect, the way fleet_load counts them.

    python3 bench/fleet/spread_model.py            # the table in bench/RESULTS.md

Each row is 5 seeds; the figure is peak / mean reconnects per 100 ms.
"""
import random


def run(n, backends, window, first_delay, seed, rate=None, delay=0.6, gap=0.3):
    rnd = random.Random(seed)
    on = [i % backends for i in range(n)]
    t, closes, back = 0.0, [], []
    for b in range(backends):
        t += delay
        members = [c for c in range(n) if on[c] == b]
        rnd.shuffle(members)
        w = len(members) / rate if rate else window
        for i, c in enumerate(members):
            tc = t + w * (i + rnd.random()) / len(members)
            closes.append(tc)
            back.append(tc + first_delay(rnd))
            on[c] = rnd.choice([x for x in range(backends) if x != b])
        t += w + gap
    first, last = min(closes), max(back)
    buckets = {}
    for e in back:
        k = int((e - first) / 0.1)
        buckets[k] = buckets.get(k, 0) + 1
    mean = len(back) / (int((last - first) / 0.1) + 1)
    return max(buckets.values()) / mean


DEFAULT_1012 = lambda r: 0.5 + r.uniform(0, 5)   # default policy: 500 ms + U(0, 5 s)
SHORT = lambda r: 0.5 + r.uniform(0, 0.5)         # a first delay that trusts the server's pacing

CASES = [
    ("drain window 2 s (run.py today), default 1012 delay", dict(window=2.0, first_delay=DEFAULT_1012)),
    ("drain window 5 s, default 1012 delay", dict(window=5.0, first_delay=DEFAULT_1012)),
    ("paced at 200 closes/s, default 1012 delay", dict(window=None, rate=200, first_delay=DEFAULT_1012)),
    ("drain window 2 s, short first delay", dict(window=2.0, first_delay=SHORT)),
    ("paced at 200 closes/s, short first delay", dict(window=None, rate=200, first_delay=SHORT)),
]

if __name__ == "__main__":
    print("| case | 1,000 clients | 2,000 clients |")
    print("|---|---|---|")
    for name, kw in CASES:
        cells = []
        for n in (1000, 2000):
            r = sorted(run(n, 3, seed=s, **kw) for s in range(5))
            cells.append(f"{r[0]:.2f}-{r[-1]:.2f} (median {r[2]:.2f})")
        print(f"| {name} | {cells[0]} | {cells[1]} |")
