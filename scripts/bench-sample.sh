#!/usr/bin/env bash
# Sampling speed of `mynah sample` (the int8 runtime, characters streamed to stdout) against the
# same model sampled with libtorch one step at a time (`mynah-train sample`, one thread: a
# single stream of tiny matrix-vector products gains nothing from more). Both are measured in
# this run, and so is the runtime alone (`mynah bench`, no output).
#   usage: bench-sample.sh INT8.mynah FLOAT.safetensors
# The time per character of each command is the difference between a long and a short run
# divided by the extra characters, so process start-up and model loading cancel out. Both sides report
# their fastest of RUNS runs (default 5): other processes on the machine only slow a run down.
set -euo pipefail
int8=${1:?usage: bench-sample.sh INT8.mynah FLOAT.safetensors}
float=${2:?usage: bench-sample.sh INT8.mynah FLOAT.safetensors}
mynah=${MYNAH:-target/release/mynah}
train=${TRAIN:-target/release/mynah-train}
short=${SHORT:-1000}
long=${LONG:-5000}
runs=${RUNS:-5}

seconds() { # best of $runs wall-clock times of a command, in seconds
  local best=
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    best=$(awk -v a="$t0" -v b="$t1" -v m="$best" 'BEGIN { d = b - a; print (m == "" || d < m) ? d : m }')
  done
  echo "$best"
}

per_char() { # µs per character of command $1 from runs of $2 and $3 characters
  local s l
  s=$(seconds "$1" "$2")
  l=$(seconds "$1" "$3")
  awk -v s="$s" -v l="$l" -v n="$(($3 - $2))" 'BEGIN { printf "%.3f", (l - s) / n * 1e6 }'
}

lt() { "$train" sample "$float" --device cpu --threads 1 --temperature 0.8 --seed 1 --max-chars "$1"; }
ms() { "$mynah" sample "$int8" --temperature 0.8 --seed 1 --max-len "$1"; }
libtorch_us=$(per_char lt "$short" "$long")
# mynah is ~10x faster: 10x the characters for the same resolution.
mynah_us=$(per_char ms "$((10 * short))" "$((10 * long))")
runtime_us=$("$mynah" bench "$int8" --chars 200000 --repeat "$runs" | sed -n 's/^mynah_us_per_char=//p' | tail -n1)

echo "model=$int8"
echo "runtime_us_per_char=$runtime_us (mynah bench: sampling alone, no output)"
echo "libtorch_us_per_char=$libtorch_us"
echo "mynah_us_per_char=$mynah_us"
awk -v a="$libtorch_us" -v b="$mynah_us" 'BEGIN { printf "sample_speedup_vs_libtorch=%.1f\n", a / b }'
