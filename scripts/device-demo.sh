#!/usr/bin/env bash
# make device-demo: sample MODEL on the emulated Cortex-M4F (QEMU mps2-an386) with
# `make demo`'s settings (or PRIME/TEMPERATURE/SEED/MAX_LEN) and print the text.
set -euo pipefail
source "$(dirname "$0")/device-common.sh"
need_qemu
MODEL=$(abspath "${MODEL:-$(default_model)}")
export MYNAH_MODEL=$MODEL MYNAH_SEED=${SEED:-1} MYNAH_TEMPERATURE=${TEMPERATURE:-0.5} \
  MYNAH_PRIME=${PRIME-ROMEO:} MYNAH_MAX_LEN=${MAX_LEN:-300} MYNAH_COUNT=1 MYNAH_TOP_K=0
echo "== $(basename "$MODEL") on an emulated Cortex-M4F (qemu-system-arm -M mps2-an386)," \
  "seed $MYNAH_SEED, temperature $MYNAH_TEMPERATURE"
elf=$(build_firmware thumbv7em-none-eabihf)
timeout "$QEMU_TIMEOUT" qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native -kernel "$elf"
