#!/usr/bin/env bash
# Times two edgeq-bench binaries (e.g. before and after a kernel change) on the same models,
# alternating them round by round so that a noisy neighbour or a slow process hurts both
# alike, and prints each binary's min latency per round and its best round.
#
#   bench/scripts/ab_binaries.sh OLD_BIN NEW_BIN [--runs N] [--rounds N] [--isa ISA] MODEL.eqm...
#
# Build the "old" binary from another checkout (for example `git worktree add /tmp/old REV`,
# then `CARGO_TARGET_DIR=/tmp/old-target cargo build --release -p edgeq-bench` there) and copy
# it aside before building the new one. Differences of a few percent need several rounds:
# per-process speed on a shared VM varies by more than that.
set -euo pipefail

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
[ $# -ge 1 ] && [ "$1" = "--help" -o "$1" = "-h" ] && usage
[ $# -ge 3 ] || usage 2
old=$1 new=$2
shift 2
runs=500 rounds=3 isa=()
models=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --isa) isa=(--isa "$2"); shift 2 ;;
    -h|--help) usage ;;
    *) models+=("$1"); shift ;;
  esac
done
[ ${#models[@]} -gt 0 ] || { echo "no model given" >&2; usage 2; }
for bin in "$old" "$new"; do
  [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 2; }
done

min_us() { # binary, model -> the min latency in µs that `edgeq-bench bench` prints
  "$1" bench "$2" --runs "$runs" "${isa[@]}" | awk '$1 == "latency" { print $4 }'
}

printf '%-28s %-6s %s\n' model binary "min µs per round (best first)"
for model in "${models[@]}"; do
  declare -a a=() b=()
  for _ in $(seq "$rounds"); do
    a+=("$(min_us "$old" "$model")")
    b+=("$(min_us "$new" "$model")")
  done
  best_a=$(printf '%s\n' "${a[@]}" | sort -g | head -1)
  best_b=$(printf '%s\n' "${b[@]}" | sort -g | head -1)
  printf '%-28s %-6s %s\n' "$(basename "$model")" old "$(printf '%s\n' "${a[@]}" | sort -g | tr '\n' ' ')"
  printf '%-28s %-6s %s\n' "$(basename "$model")" new "$(printf '%s\n' "${b[@]}" | sort -g | tr '\n' ' ')"
  awk -v a="$best_a" -v b="$best_b" -v m="$(basename "$model")" \
    'BEGIN { printf "%-28s new/old %.3fx (best rounds)\n", m, b / a }'
done
