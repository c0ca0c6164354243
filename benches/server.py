#!/usr/bin/env python3
"""redis-benchmark against `kanthorkv serve` and against Debian's redis-server, on loopback,
one after another in one run: SET, GET, INCR and MSET with -P 1 and -P 16, 50 clients.
Prints requests per second and the ratios the book reports.

Usage: python3 benches/server.py [requests] [keyspace]
  (defaults: 200000 requests per test, random keys from a space of 100000)

redis-server runs three times: without persistence (appendonly no), with an append-only
file fsynced once a second (appendfsync everysec: up to a second of acknowledged writes
lost in a power cut) and fsynced before every reply (appendfsync always), the durability
kanthorkv gives by default. kanthorkv runs with its defaults (every acknowledged write
fsynced; pipelined writes share one fsync).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
KEYSPACE = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
TESTS = ("SET", "GET", "INCR", "MSET")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, proc):
    """Waits until the server answers PING (it prints nothing we could wait on instead)."""
    for _ in range(500):
        if proc.poll() is not None:
            sys.exit(f"server on port {port} exited with {proc.returncode}")
        out = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
        if out.stdout.strip() == "PONG":
            return
        time.sleep(0.02)
    sys.exit(f"server on port {port} did not start")


def bench(port, pipeline):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", ",".join(TESTS).lower(), "-P", str(pipeline),
         "-c", "50",
         "-n", str(REQUESTS), "-r", str(KEYSPACE), "-q"],
        capture_output=True, text=True, check=True,
    ).stdout.replace("\r", "\n")
    results = {}
    for line in out.splitlines():
        m = re.match(r"^([A-Z]+)(?: \(10 keys\))?: ([0-9.]+) requests per second",
                     line.strip())
        if m:
            results[m.group(1)] = float(m.group(2))
    return results


def run_server(name, argv, port):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, proc)
        figures = {p: bench(port, p) for p in (1, 16)}
    finally:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        proc.wait(timeout=60)
    print(f"{name}: {figures}", flush=True)
    return figures


def main():
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install redis-tools redis-server")
    subprocess.run(["cargo", "build", "--release", "--bin", "kanthorkv"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "kanthorkv")
    with tempfile.TemporaryDirectory() as tmp:
        servers = {}
        port = free_port()
        servers["kanthorkv"] = run_server("kanthorkv", [
            binary, "serve", "--dir", os.path.join(tmp, "kv"), "--port", str(port)], port)
        for name, aof in (("redis, no AOF", ["--appendonly", "no"]),
                          ("redis, AOF everysec", ["--appendonly", "yes", "--appendfsync",
                                                   "everysec"]),
                          ("redis, AOF always", ["--appendonly", "yes", "--appendfsync",
                                                 "always"])):
            port = free_port()
            data = os.path.join(tmp, name.replace(" ", "_").replace(",", ""))
            os.makedirs(data)
            servers[name] = run_server(name, [
                "redis-server", "--port", str(port), "--save", "", "--dir", data] + aof, port)
    print(f"\nrequests per second ({REQUESTS} requests, 50 clients, {KEYSPACE} random keys)")
    names = list(servers)
    print("| test | " + " | ".join(names) + " | "
          + " | ".join(f"kanthorkv / {n}" for n in names[1:]) + " |")
    print("|---" * (2 * len(names)) + "|")
    for pipeline in (1, 16):
        for test in TESTS:
            rates = [servers[n][pipeline].get(test, 0.0) for n in names]
            cells = " | ".join(f"{r:,.0f}" for r in rates)
            ratios = " | ".join(f"{rates[0] / r:.2f}" if r else "-" for r in rates[1:])
            print(f"| {test} -P {pipeline} | {cells} | {ratios} |")


if __name__ == "__main__":
    main()
