#!/usr/bin/env python3
"""The fleet bench (issue 14): HAProxy (or `closewise proxy`) in front of
`closewise serve` backends, N reconnecting clients sending numbered messages,
and a rolling restart of every backend with SO_REUSEPORT: a new serve binds
the backend's port, the old one gets SIGHUP (health 503, listener closed, 1012
spread over the drain window, exit 0).

Reports: clients that gave up (target 0), refused connects (target 0),
reconnects per 100 ms (peak vs mean), the time until every client is back,
messages lost and duplicated. With --kill-one, a backend is then SIGKILLed and
the close codes the clients saw are reported (HAProxy: 1006; a closewise proxy
may say 1014). With --resume the backends share a redis-server this script
starts (serve --resume redis://...) and the clients offer resumable sessions:
messages lost and duplicated should then both be 0, even across the kill.

Everything runs on loopback, on free ports, and is stopped on exit.

  bench/fleet/run.py --build out/normal [--clients 1000] [--backends 3]
                     [--proxy haproxy|closewise] [--kill-one] [--resume] [--check]

--check exits 1 unless gave_up == 0, refused == 0 and every client came back
(the ctest form). Under CI=true a missing haproxy fails with one line.
"""
import argparse
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Proc:
    """A child whose stdout JSON lines are collected on a thread."""

    def __init__(self, args, stdin=False, name=""):
        self.name = name
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  text=True)
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.err = []
        self.te = threading.Thread(target=self._read_err, daemon=True)
        self.te.start()

    def _read(self):
        for line in self.p.stdout:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            with self.cv:
                self.lines.append(j)
                self.cv.notify_all()

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line.rstrip())

    def wait_event(self, event, timeout=30.0):
        end = time.time() + timeout
        with self.cv:
            while True:
                for j in self.lines:
                    if isinstance(j, dict) and j.get("event") == event:
                        return j
                left = end - time.time()
                if left <= 0 or self.p.poll() is not None and not self.t.is_alive():
                    return None
                self.cv.wait(min(left, 0.2))

    def wait_err(self, pattern, timeout=10.0):
        """The first group of the first stderr line matching `pattern`, or None."""
        end = time.time() + timeout
        while time.time() < end:
            for line in list(self.err):
                m = re.search(pattern, line)
                if m:
                    return m.group(1)
            time.sleep(0.02)
        return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def haproxy_config(fe_port, backends, path):
    servers = "\n".join(
        f"  server s{i} 127.0.0.1:{p} check inter 200 fall 1 rise 1" for i, p in enumerate(backends))
    cfg = f"""global
  # Each connection takes two descriptors (client and server side); stay under ulimit -n.
  maxconn 8000
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout tunnel 120s
  option redispatch
  retries 3
frontend fe
  bind 127.0.0.1:{fe_port}
  default_backend be
backend be
  balance leastconn
  option httpchk GET /healthz
  http-check expect status 200
{servers}
"""
    with open(path, "w") as f:
        f.write(cfg)


def serve(cli, port, threads, window_ms, resume=None, rate=0):
    extra = ["--resume", resume] if resume else []
    return Proc([cli, "serve", "--json", "--echo", "--port", str(port), "--threads", str(threads),
                 "--health-path", "/healthz", "--drain-delay-ms", "600",
                 "--drain-window-ms", str(window_ms), "--drain-rate", str(rate)] + extra,
                name=f"serve:{port}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="out/normal", help="CMake build dir with closewise and the load")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--backends", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="--threads of each serve")
    ap.add_argument("--drain-window-ms", type=int, default=2000)
    ap.add_argument("--no-pipeline", dest="pipeline", action="store_false",
                    help="restart the next backend only after the previous one exited")
    ap.add_argument("--drain-rate", type=int, default=200,
                    help="serve --drain-rate: 1012s per second at most (0: the window alone)")
    ap.add_argument("--interval-ms", type=int, default=200, help="each client sends a message this often")
    ap.add_argument("--proxy", choices=["haproxy", "closewise"], default="haproxy")
    # `closewise proxy` has one upstream (docs/proxy.md), so in its place the
    # clients go through it to the first backend: the kill-one comparison
    # (1006 behind HAProxy vs 1014 behind closewise proxy) needs no balancing.
    ap.add_argument("--proxy-cmd",
                    default="{cli} proxy --listen 127.0.0.1:{port} --upstream {first_backend}",
                    help="command for --proxy closewise; {backends} expands to ws://127.0.0.1:P/ "
                         "each, {first_backend} to the first")
    ap.add_argument("--kill-one", action="store_true", help="after the restarts, SIGKILL one backend")
    ap.add_argument("--resume", action="store_true",
                    help="resumable sessions (issue 13): the backends share a redis-server started here "
                         "(serve --resume redis://...), the clients offer resume")
    ap.add_argument("--check", action="store_true", help="exit 1 unless nobody gave up, was refused, or stayed away")
    a = ap.parse_args()

    cli = os.path.join(a.build, "tools", "closewise", "closewise")
    load = os.path.join(a.build, "bench", "fleet", "closewise_fleet_load")
    for b in (cli, load):
        if not os.access(b, os.X_OK):
            print(f"run.py: {b} not built (cmake --build {a.build} --target closewise_cli closewise_fleet_load)")
            return 2
    if a.proxy == "haproxy" and not shutil.which("haproxy") and not os.access("/usr/sbin/haproxy", os.X_OK):
        print("run.py: haproxy (2.6) is missing: install it with scripts/deps.sh (Debian package haproxy)")
        return 1 if os.environ.get("CI") == "true" else 77
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if a.proxy == "closewise":
        probe = subprocess.run([cli, "proxy", "--help"], capture_output=True, text=True)
        if probe.returncode != 0:
            print("run.py: this closewise has no `proxy` subcommand (issue 14 item 4); skipping --proxy closewise")
            return 77

    tmp = tempfile.mkdtemp(prefix="closewise-fleet-")
    procs = []
    try:
        store = None
        if a.resume:
            # One Redis for the fleet, no persistence, on a free loopback port.
            redis = shutil.which("redis-server") or "/usr/bin/redis-server"
            rp = free_port()
            rs = Proc([redis, "--port", str(rp), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--dir", tmp], name="redis")
            procs.append(rs)
            if not wait_port(rp):
                print(f"run.py: redis-server did not listen on {rp}: {rs.err[-3:]}")
                return 1
            store = f"redis://127.0.0.1:{rp}"
        ports = [free_port() for _ in range(a.backends)]
        backends = {}
        for p in ports:
            s = serve(cli, p, a.threads, a.drain_window_ms, store, a.drain_rate)
            procs.append(s)
            if not s.wait_event("listening", 10):
                print(f"run.py: serve on {p} did not start: {s.err[-3:]}")
                return 1
            backends[p] = s
        fe = free_port()
        if a.proxy == "haproxy":
            cfg = os.path.join(tmp, "haproxy.cfg")
            haproxy_config(fe, ports, cfg)
            lb = Proc([haproxy, "-db", "-f", cfg], name="haproxy")
        else:
            cmd = a.proxy_cmd.format(cli=cli, port=fe,
                                     backends=" ".join(f"ws://127.0.0.1:{p}/" for p in ports),
                                     first_backend=f"ws://127.0.0.1:{ports[0]}/")
            lb = Proc(cmd.split(), name="proxy")
        procs.append(lb)
        if not wait_port(fe):
            print(f"run.py: {lb.name} did not listen on {fe}: {lb.err[-3:]}")
            return 1
        time.sleep(0.5)  # let HAProxy's first health checks pass (rise 1, inter 200 ms)

        ld = Proc([load, "--url", f"ws://127.0.0.1:{fe}/", "--clients", str(a.clients),
                   "--interval-ms", str(a.interval_ms), "--resume", "1" if a.resume else "0"],
                  stdin=True, name="load")
        procs.append(ld)
        if not ld.wait_event("ready", 90):
            print(f"run.py: the clients did not all connect: {ld.err[-3:]}")
            return 1

        restarts = []
        draining = []
        t0 = time.time()
        for i, p in enumerate(ports):
            new = serve(cli, p, a.threads, a.drain_window_ms, store, a.drain_rate)
            procs.append(new)
            if not new.wait_event("listening", 10):
                print(f"run.py: new serve on {p} did not bind (SO_REUSEPORT?): {new.err[-3:]}")
                return 1
            old = backends[p]
            old.p.send_signal(signal.SIGHUP)
            signalled = time.time()
            draining.append((p, old))
            backends[p] = new
            if i + 1 == len(ports):
                break
            if a.pipeline:
                # Like a deploy tool that moves on once the new process is ready: the
                # next backend's 503 period (the drain delay) runs while this one's
                # 1012s still go out, so its first 1012 follows this one's last.
                spread = old.wait_err(r"1012s spread over (\d+) ms", 10) if a.drain_rate else None
                spread_s = (int(spread) if spread else a.drain_window_ms) / 1000
                time.sleep(max(0.0, signalled + spread_s - time.time()))
            else:
                summ = old.wait_event("summary", 60)
        for p, old in draining:
            summ = old.wait_event("summary", 60)
            old.p.wait(10)
            restarts.append({"port": p, "exit": old.p.returncode,
                             "shutdown": summ and summ.get("shutdown")})
        restart_s = time.time() - t0
        # The last 1012s' clients come back: the default policy's first retry after
        # a 1012 waits for its retry-after hint (1 s + U(0, 0.2 s)), or 500 ms + U(0, 5 s)
        # without one, so 6.5 s covers every one of them.
        time.sleep(6.5)

        killed = None
        if a.kill_one:
            victim = ports[0]
            backends[victim].p.send_signal(signal.SIGKILL)
            backends[victim].p.wait(5)
            killed = victim
            time.sleep(6.0)

        ld.p.stdin.write("stop\n")
        ld.p.stdin.flush()
        summary = ld.wait_event("summary", 60)
        if not summary:
            print(f"run.py: no summary from the load: {ld.err[-5:]}")
            return 1
        result = {"proxy": a.proxy, "clients": a.clients, "backends": a.backends, "resume": bool(a.resume),
                  "rolling_restart_s": round(restart_s, 2), "restarts": restarts,
                  "killed_backend": killed, "load": summary}
        print(json.dumps(result, indent=1))
        back = summary["rates"].get("reconnects", 0)
        ok = summary["gave_up"] == 0 and summary["refused"] == 0 and summary["open_at_stop"] == a.clients and all(
            r["exit"] == 0 for r in restarts)
        print(f"\nopen at the end {summary['open_at_stop']}/{a.clients}, gave up {summary['gave_up']}, refused {summary['refused']}, reconnects {back}, "
              f"peak {summary['rates'].get('peak_per_window')} vs mean "
              f"{summary['rates'].get('mean_per_window', 0):.1f} per 100 ms, every client back after "
              f"{summary['rates'].get('first_close_to_last_reopen_ms')} ms, messages sent "
              f"{summary['messages']['sent']}, lost {summary['messages']['lost']}, duplicated "
              f"{summary['messages']['duplicated']}; close codes {summary['close_codes']}")
        if a.check and not ok:
            print("run.py: check failed: someone gave up, was refused, or a backend did not exit 0")
            return 1
        return 0
    finally:
        for pr in reversed(procs):
            pr.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
