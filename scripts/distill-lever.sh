#!/usr/bin/env bash
# The distillation lever on the CPU, at a 64 KiB int4 budget: the shipped recipe
# (scripts/models.sh) trained for STEPS steps plain and once per distillation temperature,
# taught by a teacher run (weight 0.5), then each exported as f32 and as the shipped int4
# file and evaluated. Equal steps, not equal time: a taught arm also runs the teacher's
# forward pass, and each arm's wall time is reported.
# Without TEACHER a teacher is trained first: the shipped recipe (128 KiB budget, GRU 1x256)
# for TEACHER_MINUTES on both cores. The arms then run two at a time, one thread each.
#   STEPS (default 5000), TEMPERATURES (default "2 1"), TEACHER (a run directory),
#   TEACHER_MINUTES (default 30), CORPUS, OUT (default runs/distill),
#   TEACHER_ONCE (1: the teacher's logits computed once, --teacher-once; default 0, the
#   forward pass per batch these measurements were made with).
set -euo pipefail
source "$(dirname "$0")/recipe.sh"
STEPS=${STEPS:-5000}
TEMPERATURES=${TEMPERATURES:-2 1}
TEACHER_MINUTES=${TEACHER_MINUTES:-30}
OUT=${OUT:-runs/distill}
TEACHER=${TEACHER:-}
TEACHER_ONCE=${TEACHER_ONCE:-0}
case $TEACHER_ONCE in 0) once=() ;; 1) once=(--teacher-once) ;; *) echo "distill-lever: TEACHER_ONCE is 0 or 1, not $TEACHER_ONCE" >&2; exit 1 ;; esac
[[ -f $CORPUS ]] || { echo "distill-lever: the corpus $CORPUS is missing (give CORPUS=PATH)" >&2; exit 1; }
mkdir -p "$OUT"

if [[ -z $TEACHER ]]; then
  TEACHER=$OUT/teacher
  echo "== teacher: the shipped recipe, $TEACHER_MINUTES minutes on 2 threads"
  OUT="$TEACHER" MINUTES=$TEACHER_MINUTES THREADS=2 CORPUS=$CORPUS TRAIN=$TRAIN STAGE=train TEACHER= \
    bash scripts/models.sh
fi
[[ -f $TEACHER/best.safetensors ]] || { echo "distill-lever: the teacher $TEACHER holds no trained model" >&2; exit 1; }

# One arm: the shipped recipe at 64 KiB, for STEPS steps on one thread; $2... are extra flags.
arm() {
  local run=$OUT/$1
  shift
  rm -rf "$run"
  local start=$SECONDS
  "$TRAIN" train "${SHIPPED_TRAIN[@]}" --budget-bytes 65536 --steps "$STEPS" \
    --threads 1 --device cpu "$@" --out "$run" >"$run.log"
  echo "$((SECONDS - start))" >"$run.seconds"
}

arms=(plain)
echo "== the plain arm and a taught arm at each temperature ($TEMPERATURES): $STEPS steps each"
arm plain &
for t in $TEMPERATURES; do
  # Two arms at a time, one per core.
  while (($(jobs -rp | wc -l) >= 2)); do wait -n; done
  arm "taught-t$t" --teacher "$TEACHER" --distill-temperature "$t" --distill-weight 0.5 "${once[@]}" &
  arms+=("taught-t$t")
done
wait

val() {
  "$MYNAH" eval "$1" --corpus "$CORPUS" --mode text --split val --json |
    sed -E 's/.*"nats_per_char": ([0-9.]+).*/\1/'
}
{
  echo "teacher $TEACHER float val nats/char: $(
    "$TRAIN" export "$TEACHER" -o "$OUT/teacher.f32.mynah" --dtype f32 >/dev/null
    val "$OUT/teacher.f32.mynah"
  )"
  for a in "${arms[@]}"; do
    "$TRAIN" export "$OUT/$a" -o "$OUT/$a.f32.mynah" --dtype f32 >/dev/null
    "$TRAIN" export "$OUT/$a" -o "$OUT/$a.int4.mynah" "${SHIPPED_EXPORT[@]}" >/dev/null
    echo "$a: $(grep -E '^model' "$OUT/$a.log" | head -1)"
    echo "$a: $STEPS steps in $(cat "$OUT/$a.seconds") s; float val $(val "$OUT/$a.f32.mynah");" \
      "int4 val $(val "$OUT/$a.int4.mynah") ($(stat -c %s "$OUT/$a.int4.mynah") bytes)"
  done
} | tee "$OUT/result.txt"
