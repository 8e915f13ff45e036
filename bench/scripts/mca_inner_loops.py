#!/usr/bin/env python3
"""Estimate the aarch64 GEMM micro-kernels' throughput with llvm-mca (no board needed).

Compiles edgeq-runtime for aarch64 (with `+dotprod`, so the SDOT kernel is emitted), finds
the inner loops of the 4-row GEMM tiles in the assembly (the loop around `ld4` + `smlal`
for baseline NEON, the loop around 8 `sdot` for dotprod), and runs llvm-mca on each for the
given CPUs. Prints cycles per iteration and MACs per cycle against the core's peak.

    python3 bench/scripts/mca_inner_loops.py   # needs llvm-mca: Debian's llvm-19 (or llvm)

LLVM has no Cortex-A76 scheduling model of its own (`-mcpu=cortex-a76` silently uses the
Cortex-A57 one, the same as `cortex-a72`), so the A76 figures use `neoverse-n1`, the A76's
server twin (same core). Prefer llvm-mca-19: LLVM 14 lacks the Neoverse-N1 model.

Each loop iteration is one group of 4 reduction steps for 4 rows x 8 channels: 128 MACs.
Peaks assumed: Cortex-A72 8 int8 MAC/cycle (two 64-bit-per-pipe NEON pipes: 2 SMLAL of 4
lanes), Cortex-A76 32 (two 128-bit SDOT per cycle, 16 MACs each).
"""

import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = "aarch64-unknown-linux-gnu"
MACS_PER_ITERATION = 4 * 8 * 4
PEAK = {"cortex-a72": 8, "neoverse-n1": 32}
LABEL = {"cortex-a72": "Cortex-A72", "neoverse-n1": "Cortex-A76 (neoverse-n1 model)"}
MCA = next(
    (m for m in ("llvm-mca-19", "llvm-mca") if subprocess.run(["which", m], capture_output=True).returncode == 0),
    "llvm-mca",
)


def emit_asm():
    subprocess.run(
        [
            "cargo", "rustc", "-q", "--release", "-p", "edgeq-runtime", "--lib",
            "--target", TARGET, "--", "--emit", "asm", "-C", "target-feature=+dotprod",
            "-A", "dead_code",
        ],
        cwd=ROOT,
        check=True,
    )
    files = glob.glob(os.path.join(ROOT, f"target/{TARGET}/release/deps/edgeq_runtime-*.s"))
    newest = max(os.path.getmtime(f) for f in files)
    return [f for f in files if os.path.getmtime(f) >= newest - 60]


def loops(lines):
    """Yields (label, body) for every backward `b.ne`/`b.lo`/... to a label above it."""
    labels = {}
    for i, line in enumerate(lines):
        m = re.match(r"^(\.LBB\w+):", line)
        if m:
            labels[m.group(1)] = i
        m = re.match(r"^\s+b\.\w+\s+(\.LBB\w+)", line)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            body = lines[labels[m.group(1)] + 1 : i + 1]
            yield m.group(1), [
                l for l in body
                if l.strip() and not re.match(r"^\s*(\.loc|\.Ltmp|//|\.LBB)", l.strip())
                and not l.strip().endswith(":")
            ]


def find(files, must, count):
    """The first loop with exactly `count` instructions containing `must`."""
    for path in files:
        with open(path) as f:
            lines = f.read().splitlines()
        for _label, body in loops(lines):
            if sum(must in l for l in body) == count:
                return body
    return None


def find_neon(files):
    for path in files:
        with open(path) as f:
            lines = f.read().splitlines()
        for _label, body in loops(lines):
            if sum("ld4" in l for l in body) == 1 and len(body) > 60:
                return body
    return None


def mca(body, cpu):
    out = subprocess.run(
        [MCA, f"-mtriple={TARGET}", f"-mcpu={cpu}", "-mattr=+dotprod", "-iterations=200"],
        input="\n".join(body) + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1))
    return cycles / 200


def main():
    files = emit_asm()
    kernels = [
        # LLVM rewrites smlal-by-lane of two sign-extended int8 as 16-bit mul + saddw (exact:
        # |int8 * int8| < 2^15); the loop is the 4-row one with one ld4 and 32 such muls.
        ("neon (ld4 + mul/saddw, 4x8 tile)", find_neon(files), ["cortex-a72", "neoverse-n1"]),
        ("neon-dotprod (sdot, 4x8 tile)", find(files, "sdot", 8), ["neoverse-n1"]),
    ]
    print(f"{MCA} estimate, {MACS_PER_ITERATION} MACs per loop iteration")
    print("| kernel | CPU | instructions/iter | cycles/iter | MAC/cycle | peak | of peak |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, body, cpus in kernels:
        if body is None:
            sys.exit(f"inner loop of {name} not found in the assembly")
        for cpu in cpus:
            cycles = mca(body, cpu)
            macs = MACS_PER_ITERATION / cycles
            print(
                f"| {name} | {LABEL[cpu]} | {len(body)} | {cycles:.2f} | {macs:.1f} | "
                f"{PEAK[cpu]} | {100 * macs / PEAK[cpu]:.0f}% |"
            )


if __name__ == "__main__":
    main()
