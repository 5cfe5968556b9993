#!/usr/bin/env bash
# make desk: the desk model and the distillation lever. The desk model is a GRU 2×512
# (embed 64, 2.50M parameters, any file size), the best text mynah makes. It is trained with
# dropout between the layers, on the embedding and before the projection, and AdamW weight
# decay. The shipped model's recipe (scripts/models.sh) is then distilled from it, and its
# int4 file is written to $OUT/student.mynah, not over the shipped one, for the lever table.
# Sized for a lent GPU (DEVICE=cuda: 4.5 + 2 minutes, under the 10-minute call); on a CPU give
# it hours.
#   DESK_MINUTES (default 4.5), DESK_BATCH (default 128; 64 gives a CPU twice the updates for
#   nearly the same characters per second), STUDENT_MINUTES (default 2), DEVICE (default
#   cuda), THREADS, CORPUS, OUT (default runs/desk),
#   STAGE: all (default); train = both training runs and the desk model's files and figures;
#   export = the student's int4 file and figures, on a student trained before;
#   desk = the desk model alone, its files and figures (no student).
# On a lent GPU machine, scripts/desk-device.sh runs STAGE=train there and brings back what
# STAGE=export needs here (the desk checkpoint, 30 MB with its optimizer state, stays there).
set -euo pipefail
source "$(dirname "$0")/recipe.sh"
DESK_MINUTES=${DESK_MINUTES:-4.5}
DESK_BATCH=${DESK_BATCH:-128}
STUDENT_MINUTES=${STUDENT_MINUTES:-2}
DEVICE=${DEVICE:-cuda}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-runs/desk}
STAGE=${STAGE:-all}
case $STAGE in all | train | export | desk) ;; *) echo "make desk: STAGE is all, train, export or desk, not $STAGE" >&2; exit 1 ;; esac
# Checked here, not left to the trainer: by then train_desk has made $OUT, which it never deletes.
[[ $DESK_BATCH =~ ^[1-9][0-9]*$ ]] || { echo "make desk: DESK_BATCH is a positive whole number, not $DESK_BATCH" >&2; exit 1; }
[[ $DESK_MINUTES =~ ^[0-9]*\.?[0-9]+$ && ! $DESK_MINUTES =~ ^[0.]+$ ]] ||
  { echo "make desk: DESK_MINUTES is a positive number of minutes, not $DESK_MINUTES" >&2; exit 1; }
source "$(dirname "$0")/torch-lib.sh"
find_torch_lib "$TRAIN"
[[ -f $CORPUS ]] || { echo "make desk: the corpus $CORPUS is missing (give CORPUS=PATH)" >&2; exit 1; }

# models.sh for the student, distilled from the desk run, its files kept under $OUT.
student() {
  # OUT last: a later assignment in the prefix would see the student's OUT.
  TEACHER="$OUT/teacher" MODEL_OUT="$OUT/student.mynah" DOCS="$OUT/student-docs" OUT="$OUT/student" \
    MINUTES=$STUDENT_MINUTES THREADS=$THREADS DEVICE=$DEVICE CORPUS=$CORPUS TRAIN=$TRAIN \
    MYNAH=$MYNAH STAGE=$1 bash scripts/models.sh
}

train_desk() {
  # A desk run is GPU time: never delete one, even when this training fails at once.
  [[ ! -e $OUT ]] || {
    echo "make desk: $OUT exists (an earlier desk run); move it away or give OUT=DIR" >&2
    exit 1
  }
  mkdir -p "$OUT"
  echo "== desk model: $DESK_MINUTES minutes on $DEVICE"
  "$TRAIN" train --corpus "$CORPUS" --mode text --cell gru --layers 2 --hidden 512 --embed 64 \
    --dropout 0.25 --embed-dropout 0.1 --proj-dropout 0.25 --weight-decay 0.05 \
    --lr 0.003 --seq-len 128 --batch "$DESK_BATCH" --time-limit "$DESK_MINUTES" \
    --threads "$THREADS" --device "$DEVICE" --seed 1 --sample-every 0 --eval-every 250 \
    --out "$OUT/teacher" >"$OUT/teacher.log"
  grep -E "^(model|finished)" "$OUT/teacher.log" || true
}

# The desk model's int8 file and figures: float scored by libtorch on $DEVICE (seconds on a
# GPU, where the runtime's f32 path would take minutes), int8 by the integer runtime.
export_desk() {
  [[ -f $OUT/teacher/best.safetensors ]] || {
    echo "make desk: $OUT/teacher holds no trained model (run STAGE=train first)" >&2
    exit 1
  }
  "$TRAIN" export "$OUT/teacher" -o "$OUT/desk.int8.mynah" --dtype int8 >/dev/null
  {
    grep -E "^(model|finished)" "$OUT/teacher.log" | sed 's/^/desk /'
    echo "desk float val nats/char: $("$TRAIN" eval "$OUT/teacher" --corpus "$CORPUS" \
      --mode text --split val --device "$DEVICE" --threads "$THREADS" --json)"
    echo "desk int8 val nats/char: $("$MYNAH" eval "$OUT/desk.int8.mynah" --corpus "$CORPUS" \
      --mode text --split val --json)"
    echo "desk int8 file bytes: $(stat -c %s "$OUT/desk.int8.mynah")"
  } | tee "$OUT/result.txt"
}

if [[ $STAGE != export ]]; then
  train_desk
  [[ $STAGE == desk ]] || student train
  export_desk
fi
if [[ $STAGE == all || $STAGE == export ]]; then
  [[ -d $OUT/student ]] || {
    echo "make desk: $OUT/student holds no student run (run STAGE=train first, or restore it from scripts/desk-device.sh)" >&2
    exit 1
  }
  student export | sed 's/^/student (distilled) /' | tee -a "$OUT/result.txt"
fi
