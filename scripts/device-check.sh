#!/usr/bin/env bash
# make device-check: the firmware on the emulated Cortex-M4 (mps2-an386) and Cortex-M3
# (mps2-an385) and the freestanding x86_64 binary print exactly what `mynah sample` prints
# on the host for the same model, seed, temperature, prompt, length, count and top-k.
# Also builds the firmware for thumbv6m-none-eabi (Cortex-M0+; build only).
#
# Environment: MODEL (the first configuration's model; default: the 1x128 reference
# fixture when present, else the synthetic 1x128 model), PRIME, TEMPERATURE, SEED, MAX_LEN
# (that configuration's settings; defaults are `make demo`'s). Two more configurations on
# the checked-in synthetic GRUs (format version 1) cover 2 layers, top-k, several samples
# and greedy, and the runtime's records-mode golden fixtures (GRU and n-gram MLP, when
# present) cover <EOS>.
# One synthetic model of every other architecture (format version 2) runs too: an LSTM
# with <UNK> (characters from id 4), a tanh RNN without any special token (no <BOS>: it
# starts from the prime), an n-gram MLP whose context is longer than its prime. Format
# version 3: an INT4 GRU (the int4 kernels), a factored INT8 GRU (layer 0's product over
# the embedding) and the runtime's factored INT4 LSTM fixture (both, records mode).
# Then the runtime's matrix kernel is checked against the portable dot product on the M4
# (SMLAD assembly) and the M3 (portable model) by kernel-bench, and
# docs/measurements/code-size.tsv against fresh builds (scripts/check-code-size.sh).
# Exits non-zero on any difference, printing both texts.
set -euo pipefail
source "$(dirname "$0")/device-common.sh"
need_qemu

MODEL=$(abspath "${MODEL:-$(default_model)}")
# name | model | seed | temperature | prime | max_len | count | top_k
CONFIGS=(
  "demo|$MODEL|${SEED:-1}|${TEMPERATURE:-0.5}|${PRIME-ROMEO:}|${MAX_LEN:-300}|1|0"
  "2x48-topk|$SYNTH_2X48|7|1.0|th|150|2|5"
  "greedy-empty-prime|$SYNTH_1X128|3|0||80|1|0"
  "lstm|$SYNTH_LSTM|5|0.8|ROMEO:|120|2|0"
  "rnn-no-bos|$SYNTH_RNN|6|0.7|Th|120|1|4"
  "ngram|$SYNTH_NGRAM|8|1.0|KING|120|1|0"
  "int4|$SYNTH_INT4|9|0.8|ROMEO:|150|2|0"
  "factored|$SYNTH_FACTORED|10|0.9|JULIET:|150|1|3"
)
# The runtime's golden fixtures are records models: sampling stops at <EOS>, no separators
# (the GRU's, and the n-gram MLP's for a version-2 file, whose context restarts from <BOS>).
RECORDS_MODEL=$ROOT/tests/fixtures/tiny-int8.mynah
[[ -f $RECORDS_MODEL ]] && CONFIGS+=("records|$RECORDS_MODEL|2|1.5|t|200|6|0")
RECORDS_NGRAM=$ROOT/tests/fixtures/tiny-ngram-int8.mynah
[[ -f $RECORDS_NGRAM ]] && CONFIGS+=("records-ngram|$RECORDS_NGRAM|3|1.2|a|200|5|3")
# The shipped device model (make models): INT4, factored, 1x256.
SHIPPED=$ROOT/models/shakespeare-128k.mynah
[[ -f $SHIPPED ]] && CONFIGS+=("shipped|$SHIPPED|1|0.7|ROMEO:|200|1|0")
RECORDS_FACTORED_INT4=$ROOT/tests/fixtures/tiny-lstm-factored-int4.mynah
[[ -f $RECORDS_FACTORED_INT4 ]] &&
  CONFIGS+=("records-factored-int4|$RECORDS_FACTORED_INT4|4|1.1|th|200|5|0")

MYNAH=$(build_mynah)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

compare() { # NAME WHAT FILE
  if cmp -s "$WORK/host" "$3"; then
    passed=$((passed + 1))
    echo "  ok    $2 ($(wc -c <"$3") bytes)"
  else
    failed=$((failed + 1))
    echo "  FAIL  $2 differs from mynah sample"
    echo "----- mynah sample (host) -----"
    cat "$WORK/host"
    echo "----- $2 -----"
    cat "$3"
    echo "----- stderr -----"
    cat "$3.err" 2>/dev/null || true
    echo "-------------------------------"
  fi
}

for config in "${CONFIGS[@]}"; do
  IFS='|' read -r name model seed temp prime max_len count top_k <<<"$config"
  echo "== $name: $(basename "$model") seed=$seed temperature=$temp prime=$(printf %q "$prime") max_len=$max_len count=$count top_k=$top_k"
  "$MYNAH" sample "$model" --seed "$seed" --temperature "$temp" --prime "$prime" \
    --max-len "$max_len" --count "$count" --top-k "$top_k" >"$WORK/host"
  export MYNAH_MODEL=$model MYNAH_SEED=$seed MYNAH_TEMPERATURE=$temp MYNAH_PRIME=$prime \
    MYNAH_MAX_LEN=$max_len MYNAH_COUNT=$count MYNAH_TOP_K=$top_k
  m4=$(build_firmware thumbv7em-none-eabihf)
  run_qemu mps2-an386 "$m4" "$WORK/m4" "$WORK/m4.err" || echo "  (M4 exited with $?)"
  compare "$name" "Cortex-M4F mps2-an386 (thumbv7em-none-eabihf)" "$WORK/m4"
  m3=$(build_firmware thumbv7m-none-eabi)
  run_qemu mps2-an385 "$m3" "$WORK/m3" "$WORK/m3.err" || echo "  (M3 exited with $?)"
  compare "$name" "Cortex-M3 mps2-an385 (thumbv7m-none-eabi)" "$WORK/m3"
  tiny=$(build_tiny)
  "$tiny" >"$WORK/tiny" 2>"$WORK/tiny.err" || echo "  (tiny exited with $?)"
  compare "$name" "freestanding x86_64 ($(wc -c <"$tiny") bytes)" "$WORK/tiny"
  if [[ $name == demo ]]; then
    build_firmware thumbv6m-none-eabi >/dev/null
    echo "  ok    Cortex-M0+ (thumbv6m-none-eabi) builds"
  fi
done

# The runtime's matrix kernels against the portable dot products on every row of 100 shapes
# and the extreme values (device/firmware/src/bin/kernel-bench.rs; it exits with failure on
# a difference): on the M4 that is the SMLAD assembly, int8 and int4, on the M3 its
# portable model.
echo "== matrix kernels: kernels::matvec_acc == dot_i8_i16, matvec_acc_i4 == dot_i4_i16 (kernel-bench)"
for board in "mps2-an386 thumbv7em-none-eabihf Cortex-M4F, SMLAD assembly" \
  "mps2-an385 thumbv7m-none-eabi Cortex-M3, portable model"; do
  read -r machine target what <<<"$board"
  kb=$(MYNAH_BENCH_KERNEL=runtime MYNAH_BENCH_REPS=1 build_firmware "$target" kernel-bench)
  if run_qemu "$machine" "$kb" "$WORK/kb" "$WORK/kb.err"; then
    passed=$((passed + 1))
    echo "  ok    $what ($machine)"
  else
    failed=$((failed + 1))
    echo "  FAIL  $what ($machine): matvec_acc differs from dot_i8_i16 or matvec_acc_i4 from dot_i4_i16"
  fi
done

echo "== firmware code size: docs/measurements/code-size.tsv (mynah inspect) == a fresh build"
if bash "$ROOT/scripts/check-code-size.sh"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi

echo "device-check: $passed passed, $failed failed"
[[ $failed == 0 ]]
