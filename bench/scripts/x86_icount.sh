#!/usr/bin/env bash
# Counts the x86 instructions edgeq executes per inference, under valgrind (deterministic,
# unlike times on a shared machine): (count with 11 timed runs - count with 1) / 10, so
# loading, the clock measurement and the report cancel out.
#
#   bench/scripts/x86_icount.sh [--isa ISA] [--functions] EDGEQ_BENCH_BIN MODEL.eqm...
#
# --functions also prints the 15 functions with the most instructions of their own per
# inference (inlined code counts where it was inlined), from callgrind runs of 1 and 11.
# Repeatable to within a few dozen instructions (the timing code around each run). An
# instruction count is not a time: it shows work added or removed, not stalls.
# valgrind runs AVX2 code but not AVX-512 (use --isa avx2 on AVX-512 machines).
set -euo pipefail

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
isa=avx2 functions=0
while [ $# -gt 0 ]; do
  case $1 in
    --isa) isa=$2; shift 2 ;;
    --functions) functions=1; shift ;;
    -h|--help) usage ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || usage 2
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
bin=$1
shift

count() { # MODEL RUNS -> total instructions of the process that ran the model
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$bin" bench --power none --isa "$isa" --runs "$2" --warmup 0 "$1" 2>&1 |
    awk '/I *refs:/ { gsub(",", "", $NF); v = $NF } END { print v }'
}

printf '%-28s %14s\n' model "instr/inference"
for model in "$@"; do
  one=$(count "$model" 1)
  eleven=$(count "$model" 11)
  printf '%-28s %14d\n' "$(basename "$model")" $(((eleven - one) / 10))
  if [ "$functions" = 1 ]; then
    dir=$(mktemp -d)
    for runs in 1 11; do
      valgrind --tool=callgrind --callgrind-out-file="$dir/$runs" \
        "$bin" bench --power none --isa "$isa" --runs "$runs" --warmup 0 "$model" >/dev/null 2>&1
      callgrind_annotate --auto=no --threshold=100 "$dir/$runs" 2>/dev/null >"$dir/$runs.txt"
    done
    python3 - "$dir/1.txt" "$dir/11.txt" <<'PY'
import collections, re, sys

def by_function(path):
    totals = collections.Counter()
    for line in open(path):
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S.*)", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = re.sub(r"\s*\[/.*", "", m.group(2))
        name = name.split(".rs:")[-1].split(".S:")[-1].split(".c:")[-1]
        totals[name] += int(m.group(1).replace(",", ""))
    return totals

one, eleven = (by_function(p) for p in sys.argv[1:3])
diff = {f: (eleven[f] - one[f]) / 10 for f in eleven}
for f, n in sorted(diff.items(), key=lambda kv: -kv[1])[:15]:
    print("  %12d  %s" % (n, f))
PY
    rm -rf "$dir"
  fi
done
