#!/usr/bin/env bash
# make size-all: `make size` for one model of every architecture (the GRU: the default
# model, the 1x128 reference fixture when present; LSTM, RNN, n-gram MLP: the checked-in
# synthetic models) and for the format-version-3 forms of the 1x128 GRU (INT4 weights;
# factored INT8), a table of code, RAM and speed per model, and
# docs/measurements/code-size.tsv rewritten with the code sizes of the architectures
# (what `mynah inspect` prints; `make device-check` fails when it goes stale).
#
# Each line of the table comes from scripts/device-size.sh's key=value lines (its log is
# kept in $CARGO_TARGET_DIR/device/size-<arch>.log); the kernel benchmark runs once, with
# the GRU. Settings: SIZE_CHARS, PRIME/TEMPERATURE/SEED as for make size.
set -euo pipefail
source "$(dirname "$0")/device-common.sh"
need_qemu
mkdir -p "$DEVICE_OUT"

declare -A fig
keys=(model_bytes macs_per_char firmware_code_bytes ram_bytes stack_peak_bytes state_bytes
  scratch_bytes tiny_bin_bytes m4_instructions_per_char m4_instructions_per_mac)
# The rows: each architecture, then the GRU's other forms (name=model).
ROWS=("${ARCHS[@]}" gru-int4 gru-factored)
row_model() {
  case $1 in
    gru-int4) echo "$SYNTH_INT4" ;;
    gru-factored) echo "$SYNTH_FACTORED" ;;
    *) size_model "$1" ;;
  esac
}
for row in "${ROWS[@]}"; do
  model=$(row_model "$row")
  arch=${row%%-*}
  log=$DEVICE_OUT/size-$row.log
  echo "== $row: make size MODEL=${model#"$ROOT"/} (log: $log)"
  kernels=0
  [[ $row == gru ]] && kernels=1
  if ! MODEL=$model SIZE_KERNELS=$kernels bash "$ROOT/scripts/device-size.sh" >"$log" 2>&1; then
    cat "$log"
    die "make size failed for $row"
  fi
  got=$(sed -n 's/^arch=//p' "$log")
  [[ $got == "$arch" ]] || die "$model is a $got model, not a $arch"
  for k in "${keys[@]}"; do
    fig[$row.$k]=$(sed -n "s/^$k=//p" "$log")
  done
  grep '^m4_kernel' "$log" | grep -v skipped || true
done

echo
echo "== per model (Cortex-M4F firmware, thumbv7em-none-eabihf; RAM = statics + peak stack)"
printf '%-12s %8s %8s %7s %7s %8s %8s %10s %6s %8s\n' model bytes code RAM state scratch \
  MACs/char insns/char /MAC tiny
for row in "${ROWS[@]}"; do
  printf '%-12s %8s %8s %7s %7s %8s %8s %10s %6s %8s\n' "$row" "${fig[$row.model_bytes]}" \
    "${fig[$row.firmware_code_bytes]}" "${fig[$row.ram_bytes]}" "${fig[$row.state_bytes]}" \
    "${fig[$row.scratch_bytes]}" "${fig[$row.macs_per_char]}" \
    "${fig[$row.m4_instructions_per_char]}" "${fig[$row.m4_instructions_per_mac]}" \
    "${fig[$row.tiny_bin_bytes]}"
done
for row in "${ROWS[@]}"; do
  for k in "${keys[@]}"; do echo "${row//-/_}_$k=${fig[$row.$k]}"; done
done

{
  printf '# arch\ttarget\tcode_bytes (.text + .rodata of the firmware without the model; written by `make size-all`)\n'
  printf '# models: '
  for arch in "${ARCHS[@]}"; do
    m=$(size_model "$arch")
    printf '%s %s; ' "$arch" "$(basename "$m")"
  done
  printf 'checked by `make device-check`\n'
  for arch in "${ARCHS[@]}"; do
    printf '%s\t%s\t%s\n' "$arch" "$CODE_SIZE_TARGET" "${fig[$arch.firmware_code_bytes]}"
  done
} >"$CODE_SIZE_TSV.tmp"
mv "$CODE_SIZE_TSV.tmp" "$CODE_SIZE_TSV"
echo "== wrote ${CODE_SIZE_TSV#"$ROOT"/} (rebuild mynah to embed it in \`mynah inspect\`)"
cat "$CODE_SIZE_TSV"
