#!/usr/bin/env bash
# make size-all: `make size` for one model of every architecture (the GRU: the default
# model, the 1x128 reference fixture when present; LSTM, RNN, n-gram MLP: the checked-in
# synthetic models), a table of code, RAM and speed per architecture, and
# docs/measurements/code-size.tsv rewritten with the code sizes (what `mynah inspect`
# prints; `make device-check` fails when it goes stale).
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
for arch in "${ARCHS[@]}"; do
  model=$(size_model "$arch")
  log=$DEVICE_OUT/size-$arch.log
  echo "== $arch: make size MODEL=${model#"$ROOT"/} (log: $log)"
  kernels=0
  [[ $arch == gru ]] && kernels=1
  if ! MODEL=$model SIZE_KERNELS=$kernels bash "$ROOT/scripts/device-size.sh" >"$log" 2>&1; then
    cat "$log"
    die "make size failed for $arch"
  fi
  got=$(sed -n 's/^arch=//p' "$log")
  [[ $got == "$arch" ]] || die "$model is a $got model, not a $arch"
  for k in "${keys[@]}"; do
    fig[$arch.$k]=$(sed -n "s/^$k=//p" "$log")
  done
  grep '^m4_kernel' "$log" | grep -v skipped || true
done

echo
echo "== per architecture (Cortex-M4F firmware, thumbv7em-none-eabihf; RAM = statics + peak stack)"
printf '%-6s %8s %8s %7s %7s %8s %8s %10s %6s %8s\n' arch model code RAM state scratch \
  MACs/char insns/char /MAC tiny
for arch in "${ARCHS[@]}"; do
  printf '%-6s %8s %8s %7s %7s %8s %8s %10s %6s %8s\n' "$arch" "${fig[$arch.model_bytes]}" \
    "${fig[$arch.firmware_code_bytes]}" "${fig[$arch.ram_bytes]}" "${fig[$arch.state_bytes]}" \
    "${fig[$arch.scratch_bytes]}" "${fig[$arch.macs_per_char]}" \
    "${fig[$arch.m4_instructions_per_char]}" "${fig[$arch.m4_instructions_per_mac]}" \
    "${fig[$arch.tiny_bin_bytes]}"
done
for arch in "${ARCHS[@]}"; do
  for k in "${keys[@]}"; do echo "${arch}_$k=${fig[$arch.$k]}"; done
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
