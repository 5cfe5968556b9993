#!/usr/bin/env bash
# make device-count-validate: checks the instruction counter of `make size` (a QEMU TCG
# plugin, device/qemu/insn-count.c) against an independent method, QEMU's own execution
# trace with one instruction per translation block (-singlestep -d exec,nochain: one
# "Trace" line per executed instruction), on
#   1. the calibration loop (2 instructions x K iterations), and
#   2. the firmware sampling 1 and 2 characters from the synthetic 2x48 model.
# Both counts must be equal for every program, and the loop's difference exactly 2K.
set -euo pipefail
source "$(dirname "$0")/device-common.sh"
need_qemu
build_plugin >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

trace_count() { # ELF: executed instructions according to QEMU's exec trace
  mkfifo "$WORK/fifo"
  grep -c '^Trace' <"$WORK/fifo" >"$WORK/trace_count" &
  run_qemu mps2-an386 "$1" "$WORK/out" "$WORK/err" -singlestep -d exec,nochain -D "$WORK/fifo"
  wait
  rm -f "$WORK/fifo"
  cat "$WORK/trace_count"
}

failed=0
check() { # NAME ELF
  local p t
  p=$(count_insns mps2-an386 "$2")
  t=$(trace_count "$2")
  if [[ $p == "$t" ]]; then echo "  ok    $1: plugin $p = trace $t"; else
    echo "  FAIL  $1: plugin $p, trace $t"
    failed=1
  fi
  echo "$p" >"$WORK/last"
}

echo "== calibration loop"
cal=$(MYNAH_CAL_ITERS=1000 build_firmware thumbv7em-none-eabihf calibrate)
cp "$cal" "$WORK/cal1"
check "loop K=1000" "$WORK/cal1"
a=$(cat "$WORK/last")
cal=$(MYNAH_CAL_ITERS=2000 build_firmware thumbv7em-none-eabihf calibrate)
check "loop K=2000" "$cal"
b=$(cat "$WORK/last")
echo "  difference $((b - a)) (expected 2000)"
[[ $((b - a)) == 2000 ]] || failed=1

echo "== firmware, synthetic 2x48 model"
export MYNAH_MODEL=$SYNTH_2X48 MYNAH_PRIME=th MYNAH_SEED=1 MYNAH_TEMPERATURE=0.5
fw=$(MYNAH_MAX_LEN=1 build_firmware thumbv7em-none-eabihf)
cp "$fw" "$WORK/fw1"
check "1 character" "$WORK/fw1"
fw=$(MYNAH_MAX_LEN=2 build_firmware thumbv7em-none-eabihf)
check "2 characters" "$fw"
[[ $failed == 0 ]] && echo "device-count-validate: the plugin's counts are exact"
exit $failed
