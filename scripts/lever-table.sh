#!/usr/bin/env bash
# The contribution of each lever of the shipped model (make models), measured on its run:
# the float model, then the same trained weights exported in every integer form (token
# table or factored input; int8 or int4; rounded to nearest or compensated; tuned after
# rounding or not; post-training or after the int4 QAT phase), and
# optionally a run trained without dropout and weight decay (ABLATION=DIR) and a second QAT
# phase (QAT2=DIR, e.g. another learning rate). Writes
# docs/measurements/shakespeare-128k/levers.md.
#   scripts/lever-table.sh [RUN]   (default runs/shakespeare-128k)
set -euo pipefail
RUN=${1:-runs/shakespeare-128k}
# The run whose best checkpoint is the int4 QAT phase's (by default RUN itself).
QAT_RUN=${QAT_RUN:-$RUN}
ABLATION=${ABLATION:-}
TRAIN=${TRAIN:-target/release/mynah-train}
MYNAH=${MYNAH:-target/release/mynah}
CORPUS=${CORPUS:-../shared/data/tinyshakespeare.txt}
OUT=${OUT:-docs/measurements/shakespeare-128k/levers.md}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for f in "$RUN/best-float.safetensors" "$QAT_RUN/best.safetensors" "$CORPUS"; do
  [[ -f $f ]] || { echo "lever-table: $f not found (run make models first)" >&2; exit 1; }
done

json_number() { sed -n "s/.*\"$1\": *\([-0-9.e]*\).*/\1/p"; }
val() { "$MYNAH" eval "$1" --corpus "$CORPUS" --mode text --split val --json | json_number nats_per_char; }

# row NAME CHECKPOINT FLOAT_VAL EXPORT_FLAGS...
row() {
  local name=$1 ckpt=$2 float=$3
  shift 3
  local file="$WORK/$RANDOM.mynah"
  "$TRAIN" export "$ckpt" -o "$file" "$@" >/dev/null
  local v bytes
  v=$(val "$file")
  bytes=$(stat -c %s "$file")
  awk -v n="$name" -v v="$v" -v f="$float" -v b="$bytes" -v fl="$*" 'BEGIN {
    printf "| %s | `%s` | %d | %.4f | %+.2f%% |\n", n, fl, b, v, 100 * (v - f) / f }'
}

float_of() {
  "$TRAIN" export "$1" -o "$WORK/float.mynah" --dtype f32 >/dev/null
  val "$WORK/float.mynah"
}

float=$(float_of "$RUN/best-float.safetensors")
{
  echo "Levers of \`models/shakespeare-128k.mynah\` ($RUN), tiny shakespeare validation (last 10%)."
  echo "Every row but the last two exports the same float weights (the float phase's best checkpoint);"
  echo "the file budget is 131 072 bytes."
  echo
  echo "| model | export | file bytes | val nats/char | vs float |"
  echo "|---|---|---:|---:|---:|"
  printf "| float (f32) | \`--dtype f32\` | %d | %.4f | |\n" \
    "$(stat -c %s "$WORK/float.mynah")" "$float"
  row "int8, token table" "$RUN/best-float.safetensors" "$float" --dtype int8
  row "int8, factored input" "$RUN/best-float.safetensors" "$float" --dtype int8 --factored
  row "int4, token table, nearest" "$RUN/best-float.safetensors" "$float" --dtype int4 --rounding nearest
  row "int4, token table, compensated" "$RUN/best-float.safetensors" "$float" --dtype int4 --rounding compensated
  row "int4, factored, nearest" "$RUN/best-float.safetensors" "$float" --dtype int4 --factored --rounding nearest
  row "int4, factored, compensated" "$RUN/best-float.safetensors" "$float" --dtype int4 --factored --rounding compensated
  row "int4, factored, compensated on the whole training part" "$RUN/best-float.safetensors" "$float" \
    --dtype int4 --factored --rounding compensated --calib-chars 1000000
  row "int4, factored, compensated, tuned (shipped)" "$RUN/best-float.safetensors" "$float" \
    --dtype int4 --factored --rounding compensated --calib-chars 1000000 --tune-steps 600
  row "int4, factored, after int4 QAT" "$QAT_RUN/best.safetensors" "$float" \
    --dtype int4 --factored --calib-chars 0 --rounding nearest
  if [[ -n ${QAT2:-} ]]; then
    row "int4, factored, after int4 QAT ($QAT2)" "$QAT2/best.safetensors" "$float" \
      --dtype int4 --factored --calib-chars 0 --rounding nearest
  fi
  if [[ -n $ABLATION ]]; then
    af=$(float_of "$ABLATION/best.safetensors")
    printf "| no dropout, no weight decay: float | \`--dtype f32\` | %d | %.4f | %+.2f%% |\n" \
      "$(stat -c %s "$WORK/float.mynah")" "$af" "$(awk -v a="$af" -v f="$float" 'BEGIN { print 100 * (a - f) / f }')"
    row "no dropout, no weight decay: int4 factored, nearest" "$ABLATION/best.safetensors" "$float" \
      --dtype int4 --factored --rounding nearest
    row "no dropout, no weight decay: int4 factored, compensated, tuned" "$ABLATION/best.safetensors" "$float" \
      --dtype int4 --factored --rounding compensated --calib-chars 1000000 --tune-steps 600
  fi
} | tee "$OUT"
