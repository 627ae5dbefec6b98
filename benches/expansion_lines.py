#!/usr/bin/env python3
"""Prints how many lines each function of benches/instrumented.rs becomes after
macro expansion (rustfmt-formatted): the compile-time cost of #[instrumented]
next to #[tracing::instrument] and #[fastrace::trace] on the same body.

Usage: python3 benches/expansion_lines.py
(uses RUSTC_BOOTSTRAP=1 for -Zunpretty=expanded, what `cargo expand` does)
"""
import os
import re
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
env = dict(os.environ, RUSTC_BOOTSTRAP="1")
expanded = subprocess.run(
    ["cargo", "rustc", "-q", "--bench", "instrumented", "--profile=check", "--", "-Zunpretty=expanded"],
    cwd=root, env=env, capture_output=True, text=True,
)
if expanded.returncode != 0:
    sys.exit(expanded.stderr)
formatted = subprocess.run(
    ["rustfmt", "--edition", "2021", "--emit", "stdout"], input=expanded.stdout, capture_output=True, text=True
).stdout or expanded.stdout
lines = formatted.split("\n")


def fn_lines(name):
    for i, line in enumerate(lines):
        if re.match(r"\s*(pub )?(async )?fn " + name + r"\b", line):
            depth, j = 0, i
            while True:
                depth += lines[j].count("{") - lines[j].count("}")
                if depth == 0 and "{" in "".join(lines[i : j + 1]):
                    return j - i + 1
                j += 1
    return None


for name in ["plain", "with_telemetry", "with_telemetry_fields", "with_tracing", "with_tracing_and_info", "with_fastrace"]:
    print(f"{name:24} {fn_lines(name):5} lines")
