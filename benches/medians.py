#!/usr/bin/env python3
"""Prints the median of every criterion benchmark under target/criterion, and each
one's ratio to a baseline in the same group (default: `plain_call`).

Usage: cargo bench --bench emit && python3 benches/medians.py [group] [baseline]
"""
import json
import pathlib
import sys

group = sys.argv[1] if len(sys.argv) > 1 else "emit"
baseline = sys.argv[2] if len(sys.argv) > 2 else "plain_call"
root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion" / group
medians = {}
for est in sorted(root.glob("*/new/estimates.json")):
    medians[est.parent.parent.name] = json.loads(est.read_text())["median"]["point_estimate"]
if not medians:
    sys.exit(f"no results under {root}: run `cargo bench` first")
base = medians.get(baseline)
print(f"{'benchmark':<32} {'median':>12} {'vs ' + baseline:>18}")
for name, ns in sorted(medians.items(), key=lambda kv: kv[1]):
    ratio = f"{ns / base:.2f}x ({ns - base:+.2f} ns)" if base else "-"
    print(f"{group + '/' + name:<32} {ns:>9.2f} ns {ratio:>18}")
