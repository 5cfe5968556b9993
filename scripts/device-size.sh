#!/usr/bin/env bash
# make size: flash, RAM and speed of mynah on a Cortex-M4 (QEMU mps2-an386), and the size of
# the freestanding x86_64 binary, for one model (MODEL=path; default: the 1x128 reference
# fixture when present, else the synthetic 1x128 model of the same shape).
#
# Ends with key=value lines:
#   firmware_code_bytes  .text + .rodata of the M4 firmware: its code and constants without
#                        the model, which lives in its own section, .mynah_model
#                        (firmware_flash_bytes adds the vector table and .data's image)
#   model_bytes          the model file (= the .mynah_model section, less alignment)
#   ram_bytes            static RAM (.data + .bss + .uninit) + peak stack; the runtime's
#                        state and scratch live on the stack and are inside the peak
#   tiny_bin_bytes       the stripped x86_64 binary minus its .mynah_model section
#   m4_instructions_per_char  executed instructions per sampled character: the difference
#                        between builds sampling N and 2N characters, divided by N
#   m4_instructions_per_mac   that, over the model's multiply-accumulates per character
#                        (macs_per_char, per architecture: see macs_per_char in
#                        device-common.sh)
# Settings: SIZE_CHARS (N, default 50), PRIME/TEMPERATURE/SEED as for device-check;
# SIZE_KERNELS=0 skips the kernel benchmark (make size-all, which runs this per
# architecture, times the kernels once).
set -euo pipefail
source "$(dirname "$0")/device-common.sh"
need_qemu

MODEL=$(abspath "${MODEL:-$(default_model)}")
N=${SIZE_CHARS:-50}
size_settings "$MODEL"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
build_plugin >/dev/null

echo "== model $MODEL"
arch=$(model_arch "$MODEL")
form=$(model_form "$MODEL")
vocab=$(header_u32 "$MODEL" 20)
hidden=$(header_u32 "$MODEL" 28)
layers=$(header_u32 "$MODEL" 32)
model_bytes=$(stat -c %s "$MODEL")
# Per character: every layer's recurrent product W_hh h (G·H x H, G = 3 GRU, 4 LSTM, 1
# RNN), the input product of layers 1.. (G·H x H; layer 0's is a row of the token table, no
# MACs, or, factored, G·H x E), the projection (V x H); the n-gram MLP's hidden layer is
# table additions only.
macs=$(macs_per_char "$MODEL")
echo "   $arch ($form): vocab=$vocab hidden=$hidden layers=$layers$([[ $arch == ngram ]] && echo " context=$(header_u32 "$MODEL" 72)"): $macs multiply-accumulates per character"

echo "== instruction counter check: a loop of exactly 2 instructions x K iterations"
cal1=$(MYNAH_CAL_ITERS=1000 build_firmware thumbv7em-none-eabihf calibrate)
cp "$cal1" "$WORK/cal1"
cal2=$(MYNAH_CAL_ITERS=2000 build_firmware thumbv7em-none-eabihf calibrate)
c1=$(count_insns mps2-an386 "$WORK/cal1")
c2=$(count_insns mps2-an386 "$cal2")
echo "   K=1000: $c1, K=2000: $c2, difference $((c2 - c1)) (expected 2000)"
[[ $((c2 - c1)) == 2000 ]] || die "the instruction counter is off"

echo "== Cortex-M4F firmware, $N and $((2 * N)) characters"
fw1=$(MYNAH_MAX_LEN=$N build_firmware thumbv7em-none-eabihf)
cp "$fw1" "$WORK/fw1"
run_qemu mps2-an386 "$WORK/fw1" "$WORK/out1" "$WORK/err1" -plugin "$PLUGIN,outfile=$WORK/count1" ||
  { cat "$WORK/err1"; die "firmware failed"; }
fw2=$(MYNAH_MAX_LEN=$((2 * N)) build_firmware thumbv7em-none-eabihf)
run_qemu mps2-an386 "$fw2" "$WORK/out2" "$WORK/err2" -plugin "$PLUGIN,outfile=$WORK/count2" ||
  { cat "$WORK/err2"; die "firmware failed"; }
i1=$(sed -n 's/^insns=//p' "$WORK/count1")
i2=$(sed -n 's/^insns=//p' "$WORK/count2")
cat "$WORK/err2"
echo "   executed instructions: $i1 ($N chars), $i2 ($((2 * N)) chars)"

stat_of() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$WORK/err2"; }
stack_peak=$(stat_of stack_peak_bytes)
state=$(stat_of state_bytes)
scratch=$(stat_of scratch_bytes)
vt=$(section_size "$fw2" .vector_table)
text=$(section_size "$fw2" .text)
rodata=$(section_size "$fw2" .rodata)
data=$(section_size "$fw2" .data)
bss=$(section_size "$fw2" .bss)
uninit=$(section_size "$fw2" .uninit)
model_section=$(section_size "$fw2" .mynah_model)
echo "   flash: .vector_table $vt + .text $text + .rodata $rodata + .data $data; .mynah_model $model_section"
echo "   RAM: .data $data + .bss $bss + .uninit $uninit + peak stack $stack_peak (state $state and scratch $scratch are on the stack)"

echo "== freestanding x86_64 binary"
tiny=$(build_tiny)
tiny_file=$(stat -c %s "$tiny")
tiny_model=$(section_size "$tiny" .mynah_model)
echo "   $tiny_file bytes stripped, .mynah_model $tiny_model"

declare -A kernel_per_mac=([portable]=skipped [runtime]=skipped [portable-i4]=skipped
  [runtime-i4]=skipped)
kernels=(portable runtime portable-i4 runtime-i4)
if [[ ${SIZE_KERNELS:-1} == 0 ]]; then
  kernels=()
else
  echo "== matrix-vector kernels alone, [384 x 128] int8 (and int4) x Q15 (device/firmware/src/bin/kernel-bench.rs)"
fi
for kernel in "${kernels[@]}"; do
  kb=$(MYNAH_BENCH_KERNEL=$kernel MYNAH_BENCH_REPS=2 build_firmware thumbv7em-none-eabihf kernel-bench)
  cp "$kb" "$WORK/kb"
  k1=$(count_insns mps2-an386 "$WORK/kb")
  kb=$(MYNAH_BENCH_KERNEL=$kernel MYNAH_BENCH_REPS=4 build_firmware thumbv7em-none-eabihf kernel-bench)
  k2=$(count_insns mps2-an386 "$kb")
  kernel_per_mac[$kernel]=$(awk -v a="$k1" -v b="$k2" 'BEGIN { printf "%.2f", (b - a) / (2 * 384 * 128) }')
  echo "   $kernel: ${kernel_per_mac[$kernel]} instructions per MAC (the runtime's kernels checked equal to dot_i8_i16 and dot_i4_i16 first)"
done

per_char=$(awk -v a="$i1" -v b="$i2" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
per_mac=$(awk -v c="$per_char" -v m="$macs" 'BEGIN { printf "%.2f", c / m }')
ms_80=$(awk -v c="$per_char" 'BEGIN { printf "%.2f", c / 80e6 * 1e3 }')
cps_80=$(awk -v c="$per_char" 'BEGIN { printf "%.0f", 80e6 / c }')
echo "== at 80 MHz, one instruction per cycle: $ms_80 ms per character, $cps_80 characters per second"
echo "arch=$arch"
echo "form=$form"
echo "macs_per_char=$macs"
echo "m4_kernel_instructions_per_mac_portable=${kernel_per_mac[portable]}"
echo "m4_kernel_instructions_per_mac_runtime=${kernel_per_mac[runtime]}"
echo "m4_kernel_instructions_per_mac_portable_i4=${kernel_per_mac[portable-i4]}"
echo "m4_kernel_instructions_per_mac_runtime_i4=${kernel_per_mac[runtime-i4]}"
echo "firmware_flash_bytes=$((vt + text + rodata + data))"
echo "firmware_code_bytes=$(code_bytes "$fw2")"
echo "model_bytes=$model_bytes"
echo "ram_bytes=$((data + bss + uninit + stack_peak))"
echo "stack_peak_bytes=$stack_peak"
echo "state_bytes=$state"
echo "scratch_bytes=$scratch"
echo "tiny_bin_bytes=$((tiny_file - tiny_model))"
echo "m4_instructions_per_char=$per_char"
echo "m4_instructions_per_mac=$per_mac"
