#!/usr/bin/env python3
"""Turn the parsers benchmark's criterion output (stdin) into BENCHMARKS.md's table rows:
fixture | parse µs | payloads/s | read-only µs | read-only / parse."""
import re
import sys

UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
text = sys.stdin.read()
times = {}
for m in re.finditer(r"^(\S[^\n]*?)\s*\n?\s*time:\s+\[([\d.]+) (\S+) ([\d.]+) (\S+)", text, re.M):
    times[m.group(1).strip()] = float(m.group(4)) * UNITS[m.group(5)]
groups = {}
for name, seconds in times.items():
    if name.startswith("normalize/"):
        group, fn = name.rsplit("/", 1)
        groups.setdefault(group[len("normalize/"):], {})[fn] = seconds
for fixture, t in sorted(groups.items()):
    if "parse" in t and "read_only" in t:
        print(f"| {fixture} | {t['parse'] * 1e6:.2f} | {1 / t['parse']:,.0f} | "
              f"{t['read_only'] * 1e6:.2f} | {t['read_only'] / t['parse'] * 100:.0f} % |")
for name, seconds in times.items():
    if not name.startswith("normalize/"):
        print(f"| {name} | {seconds * 1e6:.2f} µs |")
