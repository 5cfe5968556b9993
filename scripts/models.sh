#!/usr/bin/env bash
# make models: trains the shipped device model, models/shakespeare-128k.mynah: the largest
# GRU whose int4 file fits 131,072 bytes (the size budget picks the shape), trained in float
# with dropout and weight decay, then fine-tuned with int4 fake quantization (QAT), exported
# int4 with a factored input layer. Its config, metrics and loss curve go to
# docs/measurements/shakespeare-128k/.
#   MINUTES (float phase, default 100), QAT_MINUTES (default 15), THREADS (default 2),
#   CORPUS, OUT (the run directory), DEVICE (cpu or cuda).
set -euo pipefail
TRAIN=${TRAIN:-target/release/mynah-train}
MYNAH=${MYNAH:-target/release/mynah}
CORPUS=${CORPUS:-../shared/data/tinyshakespeare.txt}
MINUTES=${MINUTES:-100}
QAT_MINUTES=${QAT_MINUTES:-15}
THREADS=${THREADS:-2}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-runs/shakespeare-128k}
MODEL=models/shakespeare-128k.mynah
DOCS=docs/measurements/shakespeare-128k

if [[ ! -f $CORPUS ]]; then
  echo "make models: the corpus $CORPUS is missing (give CORPUS=PATH)" >&2
  exit 1
fi
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")" models "$DOCS"
echo "== float phase: $MINUTES minutes on $THREADS threads ($DEVICE)"
"$TRAIN" train --corpus "$CORPUS" --mode text --cell gru \
  --budget-bytes 131072 --dtype int4 --factored auto \
  --embed-dropout 0.1 --proj-dropout 0.25 --weight-decay 0.05 \
  --lr 0.005 --seq-len 128 --batch 128 --time-limit "$MINUTES" \
  --threads "$THREADS" --device "$DEVICE" --seed 1 --sample-every 0 --eval-every 500 \
  --out "$OUT" >"$OUT.float.log"
grep -E "^(model|size budget|finished)" "$OUT.float.log" || true
echo "== int4 QAT phase: $QAT_MINUTES minutes"
"$TRAIN" train --resume "$OUT" --qat int4 --lr 0.001 --time-limit "$QAT_MINUTES" \
  --threads "$THREADS" --device "$DEVICE" >"$OUT.qat.log"
grep -E "^(starting|finished)" "$OUT.qat.log" || true

"$TRAIN" export "$OUT" -o "$MODEL" --dtype int4 --factored
"$TRAIN" export "$OUT/best-float.safetensors" -o "$OUT/float.mynah" --dtype f32 >/dev/null
cp "$OUT/config.json" "$OUT/metrics.csv" "$OUT/loss.png" "$DOCS/"
{
  echo "float val nats/char: $("$MYNAH" eval "$OUT/float.mynah" --corpus "$CORPUS" --mode text --split val --json)"
  echo "int4 val nats/char: $("$MYNAH" eval "$MODEL" --corpus "$CORPUS" --mode text --split val --json)"
  echo "file bytes: $(stat -c %s "$MODEL")"
} | tee "$DOCS/result.txt"
