#!/usr/bin/env python3
"""Print criterion results as ratios: each benchmark's time over its group's baseline.

Usage: cargo bench -p kv-file && python3 benches/ratios.py [target/criterion]

The baseline of a group is the benchmark named `std_file` (the bare operating-system call)
or `baseline` when present, otherwise the first benchmark in alphabetical order. Ratios, not absolute
times, are what the book reports: machines are noisy, ratios within one run much less so.
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
if not root.is_dir():
    sys.exit(f"{root} not found: run `cargo bench` first")

for group in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "report"):
    means = {}
    # A benchmark is any folder with new/estimates.json; parameterised ones nest (threads/16).
    for estimates in sorted(group.rglob("new/estimates.json")):
        name = str(estimates.parent.parent.relative_to(group))
        if "report" not in name.split("/"):
            means[name] = json.loads(estimates.read_text())["mean"]["point_estimate"]
    if not means:
        continue
    base = next((b for b in ("std_file", "baseline") if b in means), next(iter(means)))
    print(f"{group.name} (baseline {base}; time ratio, and speed-up = baseline / time)")
    for name, ns in sorted(means.items(), key=lambda kv: kv[1]):
        print(f"  {name:<24} {ns:>12.1f} ns   time x{ns / means[base]:.2f}   speed-up x{means[base] / ns:.2f}")
