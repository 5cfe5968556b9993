#!/usr/bin/env bash
# make desk's training stage on a lent GPU machine (the `run` tool), bringing back in $BACK
# the eight files that the export stage and the figures need: the student's run (its
# checkpoint, config, metrics, loss curve), the desk model's int8 file, its metrics and log,
# and result.txt. Copy the corpus to .devdata/ (ignored), carry target/release/mynah-train,
# target/release/mynah and .devdata, run `bash scripts/desk-device.sh $OUT` (about 8 minutes
# on an H200 with the defaults), then here:
#   mkdir -p runs/desk && cp -r FILES_AT/desk/. runs/desk/ && STAGE=export bash scripts/desk.sh
#   usage: scripts/desk-device.sh BACK   (e.g. $OUT; DESK_MINUTES, STUDENT_MINUTES as desk.sh)
set -euo pipefail
back=${1:?usage: desk-device.sh BACK}/desk
runs=runs/desk
CORPUS=${CORPUS:-.devdata/tinyshakespeare.txt} OUT=$runs STAGE=train DEVICE=${DEVICE:-cuda} \
  bash "$(dirname "$0")/desk.sh"
mkdir -p "$back/student"
cp "$runs"/student/{best.safetensors,config.json,metrics.csv,loss.png} "$back/student/"
cp "$runs"/{result.txt,teacher.log,desk.int8.mynah} "$back/"
cp "$runs/teacher/metrics.csv" "$back/teacher-metrics.csv"
