#!/usr/bin/env bash
# Training throughput of mynah-train against plain PyTorch, both measured in this run on this
# machine with the same model (1x128 GRU, embed 32), batch, window, optimizer and threads.
#   usage: scripts/bench-train.sh CORPUS [STEPS]
set -euo pipefail
corpus=${1:?usage: bench-train.sh CORPUS [STEPS]}
steps=${2:-300}
threads=${THREADS:-$(nproc)}
py=${PYTHON:-.venv/bin/python}
bin=${BIN:-target/release/mynah-train}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$bin" train --corpus "$corpus" --mode text --layers 1 --hidden 128 --embed 32 --batch 64 \
  --seq-len 128 --steps "$((steps + 20))" --eval-every 1000000 --sample-every 0 --log-every 10 \
  --threads "$threads" --device cpu --out "$dir/run" >/dev/null 2>&1
# Rows after the first two skip the warm-up; the median resists a noisy neighbour.
ours=$(awk -F, 'NR > 3 { print $5 }' "$dir/run/metrics.csv" | sort -n |
  awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
theirs=$("$py" tests/pytorch/train_baseline.py "$corpus" --steps "$steps" --threads "$threads" |
  "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["chars_per_sec"]))')
echo "threads=$threads steps=$steps"
echo "mynah_train_chars_per_sec=$ours"
echo "pytorch_chars_per_sec=$theirs"
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "train_speed_vs_pytorch=%.3f\n", a / b }'
