#!/usr/bin/env bash
# make compare: the seed tutorials' four models on tiny shakespeare at the same int8 file
# size (about the 1x128 GRU reference's 115 KB) and the same training time, side by side:
# validation nats/char in float and int8, the int8 file's bytes, host microseconds per
# character (mynah bench), Cortex-M4 instructions per character (make size), and one PNG of
# the four validation curves over training time.
#
# Environment: COMPARE_MINUTES (training minutes per model, default 10), COMPARE_THREADS
# (default all cores), TINY_SHAKESPEARE (the corpus), COMPARE_DIR (default runs/compare).
# Writes COMPARE_DIR/compare.md (the table) and COMPARE_DIR/compare-val.png.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CORPUS=${TINY_SHAKESPEARE:-../shared/data/tinyshakespeare.txt}
MINUTES=${COMPARE_MINUTES:-10}
THREADS=${COMPARE_THREADS:-$(nproc)}
OUT=${COMPARE_DIR:-runs/compare}
TRAIN=target/release/mynah-train
MYNAH=target/release/mynah
[[ -f $CORPUS ]] || { echo "compare: corpus $CORPUS not found (set TINY_SHAKESPEARE)" >&2; exit 2; }
mkdir -p "$OUT"

# name | architecture flags | about 115 KB as int8 over tiny shakespeare's 65 characters
MODELS=(
  "ngram|--arch ngram --context 8 --activation relu --hidden 98"
  "rnn|--cell rnn --hidden 246"
  "lstm|--cell lstm --hidden 106"
  "gru|--cell gru --hidden 128"
)

json_number() { sed -n "s/.*\"$1\": *\([-0-9.e]*\).*/\1/p"; }

rows=()
for m in "${MODELS[@]}"; do
  IFS='|' read -r name flags <<<"$m"
  run="$OUT/$name"
  echo "== $name: $flags, $MINUTES minutes on $THREADS threads"
  rm -rf "$run"
  # shellcheck disable=SC2086
  "$TRAIN" train --corpus "$CORPUS" --mode text $flags --embed 32 --layers 1 \
    --time-limit "$MINUTES" --threads "$THREADS" --device cpu --seed 1 \
    --sample-every 0 --eval-every 500 --out "$run" >"$OUT/$name.train.log"
  tail -n 1 "$OUT/$name.train.log"
  "$TRAIN" export "$run" -o "$run/model.int8.mynah" --dtype int8 | tail -n 2
  "$TRAIN" export "$run" -o "$run/model.f32.mynah" --dtype f32 --safetensors "$run/model.safetensors" >/dev/null
  float=$("$MYNAH" eval "$run/model.f32.mynah" --corpus "$CORPUS" --mode text --json | json_number nats_per_char)
  int8=$("$MYNAH" eval "$run/model.int8.mynah" --corpus "$CORPUS" --mode text --json | json_number nats_per_char)
  bytes=$(stat -c %s "$run/model.int8.mynah")
  us=$("$MYNAH" bench "$run/model.int8.mynah" --chars 20000 | sed -n 's/^mynah_us_per_char=//p')
  m4=$(make --no-print-directory size MODEL="$run/model.int8.mynah" 2>&1 | tee "$run/size.log" |
    sed -n 's/^m4_instructions_per_char=//p')
  params=$(grep -m1 -o '([0-9]* parameters)' "$OUT/$name.train.log" | tr -dc 0-9)
  gap=$(awk -v f="$float" -v q="$int8" 'BEGIN { printf "%+.3f%%", 100 * (q - f) / f }')
  rows+=("| $name | ${flags//--/} | $params | $(printf %.4f "$float") | $(printf %.4f "$int8") | $gap | $bytes | $us | $m4 |")
done

{
  echo "Tiny shakespeare (last 10% validation), $MINUTES minutes of training each on $THREADS CPU threads, seed 1."
  echo
  echo "| model | shape | parameters | val nats/char float | int8 | int8 gap | int8 file bytes | host µs/char | Cortex-M4 instructions/char |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
} | tee "$OUT/compare.md"

"$ROOT/.venv/bin/python" -c "import matplotlib" 2>/dev/null ||
  "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check matplotlib
"$ROOT/.venv/bin/python" scripts/compare_plot.py "$OUT/compare-val.png" \
  "$OUT/ngram" "$OUT/rnn" "$OUT/lstm" "$OUT/gru"
echo "wrote $OUT/compare.md and $OUT/compare-val.png"
