#!/usr/bin/env bash
# make models: trains the shipped device model, models/shakespeare-128k.mynah: the largest
# GRU whose int4 file fits 131,072 bytes (the size budget picks the shape), trained in float
# with embedding and projection dropout and AdamW weight decay, distilled from the desk
# model (its logits computed once over the training part), exported int4 with a
# factored input layer: compensated rounding calibrated on the whole training part, then 600
# steps tuning the row scales, biases and embedding toward the float model's predictions
# (5 to 8 CPU minutes). QAT_MINUTES > 0 adds an int4 quantization-aware phase and exports its
# result beside it as $OUT/qat.mynah (measured: it did not beat the post-training export,
# docs/measurements/shakespeare-128k/levers.md). Its config, metrics and loss curve go to
# docs/measurements/shakespeare-128k/.
#   MINUTES (float phase, default 100), QAT_MINUTES (default 0), THREADS (default 2),
#   CORPUS, OUT (the run directory), DEVICE (cpu or cuda), MODEL_OUT, DOCS,
#   TEACHER (the model to distill from: a run or a model file; default the shipped desk
#   model, models/shakespeare-desk.mynah, through the integer runtime; TEACHER= for none),
#   DISTILL_T and DISTILL_A (its temperature and weight, default 1 and 0.5),
#   STAGE (all; train = the float phase only; export = the rest, on a run trained before:
#   train on a lent GPU, export on the CPU).
set -euo pipefail
source "$(dirname "$0")/recipe.sh"
MINUTES=${MINUTES:-100}
QAT_MINUTES=${QAT_MINUTES:-0}
THREADS=${THREADS:-2}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-runs/shakespeare-128k}
MODEL=${MODEL_OUT:-models/shakespeare-128k.mynah}
DOCS=${DOCS:-docs/measurements/shakespeare-128k}
TEACHER=${TEACHER-models/shakespeare-desk.mynah}
DISTILL_T=${DISTILL_T:-1}
DISTILL_A=${DISTILL_A:-0.5}
STAGE=${STAGE:-all}
case $STAGE in all | train | export) ;; *) echo "make models: STAGE is all, train or export, not $STAGE" >&2; exit 1 ;; esac

if [[ ! -f $CORPUS ]]; then
  echo "make models: the corpus $CORPUS is missing (give CORPUS=PATH)" >&2
  exit 1
fi
# The float phase (the size budget picks the shape), distilled when TEACHER is given.
train_float() {
  local distill=()
  if [[ -n $TEACHER ]]; then
    [[ -e $TEACHER ]] || { echo "make models: the teacher $TEACHER is missing" >&2; exit 1; }
    # Computed once: per batch, the desk model's forward pass made a CPU step 6.1x slower.
    distill=(--teacher "$TEACHER" --teacher-once --distill-temperature "$DISTILL_T"
      --distill-weight "$DISTILL_A")
  fi
  rm -rf "$OUT"
  mkdir -p "$(dirname "$OUT")"
  echo "== float phase: $MINUTES minutes on $THREADS threads ($DEVICE)${TEACHER:+, distilled from $TEACHER}"
  "$TRAIN" train "${SHIPPED_TRAIN[@]}" --budget-bytes 131072 --time-limit "$MINUTES" \
    --threads "$THREADS" --device "$DEVICE" "${distill[@]}" --out "$OUT" >"$OUT.float.log"
  grep -E "^(model|size budget|finished)" "$OUT.float.log" || true
}

# The int4 file, the float file beside it, the optional QAT phase, and the figures.
export_model() {
  [[ -f $OUT/best.safetensors ]] || {
    echo "make models: $OUT holds no trained model (run STAGE=train first)" >&2
    exit 1
  }
  mkdir -p "$(dirname "$MODEL")" "$DOCS"
  "$TRAIN" export "$OUT" -o "$MODEL" "${SHIPPED_EXPORT[@]}"
  "$TRAIN" export "$OUT" -o "$OUT/float.mynah" --dtype f32 >/dev/null
  if [[ $QAT_MINUTES != 0 ]]; then
    echo "== int4 QAT phase: $QAT_MINUTES minutes"
    "$TRAIN" train --resume "$OUT" --qat int4 --lr 0.0005 --time-limit "$QAT_MINUTES" \
      --threads "$THREADS" --device "$DEVICE" >"$OUT.qat.log"
    grep -E "^(starting|finished)" "$OUT.qat.log" || true
    # A QAT model needs no bias correction: its biases were trained against the rounded weights.
    "$TRAIN" export "$OUT" -o "$OUT/qat.mynah" --dtype int4 --factored --calib-chars 0 \
      --rounding nearest
  fi
  cp "$OUT/config.json" "$OUT/metrics.csv" "$OUT/loss.png" "$DOCS/"
  {
    echo "float val nats/char: $("$MYNAH" eval "$OUT/float.mynah" --corpus "$CORPUS" --mode text --split val --json)"
    echo "int4 val nats/char: $("$MYNAH" eval "$MODEL" --corpus "$CORPUS" --mode text --split val --json)"
    [[ ! -f $OUT/qat.mynah ]] ||
      echo "int4 after QAT val nats/char: $("$MYNAH" eval "$OUT/qat.mynah" --corpus "$CORPUS" --mode text --split val --json)"
    echo "file bytes: $(stat -c %s "$MODEL")"
  } | tee "$DOCS/result.txt"
}

[[ $STAGE == export ]] || train_float
[[ $STAGE == train ]] || export_model
