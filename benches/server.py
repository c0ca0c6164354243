#!/usr/bin/env python3
"""redis-benchmark against `kanthorkv serve` and against Debian's redis-server, on loopback,
in one run: SET and GET with -P 1 and -P 16, 50 clients. Prints requests per second and the
ratios the book reports.

Usage: python3 benches/server.py [requests] [keyspace]
  (defaults: 100000 requests per test, random keys from a space of 100000)

redis-server runs twice: without persistence (its default benchmark setting) and with an
append-only file fsynced on every write (appendfsync always), the durability kanthorkv
gives by default. kanthorkv runs with its defaults (every acknowledged write fsynced).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
KEYSPACE = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
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
        ["redis-benchmark", "-p", str(port), "-t", "set,get", "-P", str(pipeline), "-c", "50",
         "-n", str(REQUESTS), "-r", str(KEYSPACE), "-q"],
        capture_output=True, text=True, check=True,
    ).stdout.replace("\r", "\n")
    results = {}
    for line in out.splitlines():
        m = re.match(r"^(SET|GET): ([0-9.]+) requests per second", line.strip())
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
        port = free_port()
        servers["redis (no persistence)"] = run_server("redis", [
            "redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", tmp], port)
        port = free_port()
        servers["redis (AOF, fsync always)"] = run_server("redis-aof", [
            "redis-server", "--port", str(port), "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--dir", tmp], port)
    print(f"\nrequests per second ({REQUESTS} requests, 50 clients, {KEYSPACE} random keys)")
    names = list(servers)
    print("| test | " + " | ".join(names) + " | kanthorkv / redis | kanthorkv / redis AOF |")
    print("|---" * (len(names) + 3) + "|")
    for pipeline in (1, 16):
        for test in ("SET", "GET"):
            rates = [servers[n][pipeline].get(test, 0.0) for n in names]
            ratio = rates[0] / rates[1] if rates[1] else 0
            ratio_aof = rates[0] / rates[2] if rates[2] else 0
            cells = " | ".join(f"{r:,.0f}" for r in rates)
            print(f"| {test} -P {pipeline} | {cells} | {ratio:.2f} | {ratio_aof:.2f} |")


if __name__ == "__main__":
    main()
