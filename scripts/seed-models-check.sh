#!/usr/bin/env bash
# The seed tutorials' models on the emulated Cortex-M4 (mps2-an386): the CSC321
# TextGenerator (GRU, <BOS>/<EOS> at the end of its vocabulary, records), Microsoft's
# LSTMGenerator (one-hot LSTM, torchtext's <unk>/<pad>, primed with "today "), the ToyRNN
# (tanh RNN, no special tokens) and the 20 Newsgroups lstm_char_predict (2-layer one-hot
# LSTM), each trained in PyTorch by tests/pytorch/seed_models.py, imported with
# `mynah-train import` and exported to int8 by tests/tests/seed_models.rs (its ignored test
# write_int8_models_for_qemu). The firmware must print exactly what `mynah sample` prints
# on the host for the same model, seed, temperature, prime, length, count and top-k, and the
# ToyRNN must print "hello" greedily from "h".
#
# Needs the project's .venv (torch) and qemu-system-arm (`make device-setup`).
# Exits non-zero on any difference, printing both texts.
set -euo pipefail
source "$(dirname "$0")/device-common.sh"
need_qemu

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== seed models: trained in PyTorch, imported, exported to int8 (tests/tests/seed_models.rs)"
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_BASE cargo build --quiet -p mynah-trainer -p mynah-tools --bins) >&2
if ! (cd "$ROOT" && MYNAH_SEED_MODELS_OUT=$WORK/models CARGO_TARGET_DIR=$TARGET_BASE \
  cargo test --quiet -p mynah-tests --test seed_models -- --ignored --exact \
  write_int8_models_for_qemu) >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log"
  die "could not build the seed models"
fi
MYNAH=$(build_mynah)

declare -A FILE PRIME
while IFS='|' read -r name file prime; do
  FILE[$name]=$file
  PRIME[$name]=$prime
done <"$WORK/models/models.txt"
for name in csc321_textgen ms_lstm_generator toy_rnn newsgroups_lstm; do
  [[ -n ${FILE[$name]:-} ]] || die "seed model $name was not written"
done

# name | seed | temperature | prime | max_len | count | top_k | expected text (optional)
CONFIGS=(
  "csc321_textgen|3|0.8||200|3|0|"
  "ms_lstm_generator|1|0|${PRIME[ms_lstm_generator]}|120|1|0|"
  "ms_lstm_generator|5|0.7|${PRIME[ms_lstm_generator]}|120|2|5|"
  "toy_rnn|1|0|h|4|1|0|hello"
  "toy_rnn|2|1.0|h|20|1|0|"
  "newsgroups_lstm|4|0.8|${PRIME[newsgroups_lstm]}|120|2|0|"
)

passed=0
failed=0
for config in "${CONFIGS[@]}"; do
  IFS='|' read -r name seed temp prime max_len count top_k expect <<<"$config"
  model=${FILE[$name]}
  echo "== $name: seed=$seed temperature=$temp prime=$(printf %q "$prime") max_len=$max_len count=$count top_k=$top_k"
  "$MYNAH" sample "$model" --seed "$seed" --temperature "$temp" --prime "$prime" \
    --max-len "$max_len" --count "$count" --top-k "$top_k" >"$WORK/host"
  export MYNAH_MODEL=$model MYNAH_SEED=$seed MYNAH_TEMPERATURE=$temp MYNAH_PRIME=$prime \
    MYNAH_MAX_LEN=$max_len MYNAH_COUNT=$count MYNAH_TOP_K=$top_k
  m4=$(build_firmware thumbv7em-none-eabihf)
  run_qemu mps2-an386 "$m4" "$WORK/m4" "$WORK/m4.err" || echo "  (M4 exited with $?)"
  if cmp -s "$WORK/host" "$WORK/m4"; then
    passed=$((passed + 1))
    echo "  ok    Cortex-M4F mps2-an386 prints what mynah sample prints ($(wc -c <"$WORK/m4") bytes)"
  else
    failed=$((failed + 1))
    echo "  FAIL  Cortex-M4F mps2-an386 differs from mynah sample"
    echo "----- mynah sample (host) -----"
    cat "$WORK/host"
    echo "----- Cortex-M4F -----"
    cat "$WORK/m4"
    echo "----- stderr -----"
    cat "$WORK/m4.err"
    echo "----------------------"
  fi
  if [[ -n $expect ]]; then
    if [[ $(cat "$WORK/m4") == "$expect" ]]; then
      passed=$((passed + 1))
      echo "  ok    prints \"$expect\""
    else
      failed=$((failed + 1))
      echo "  FAIL  expected \"$expect\", got: $(cat "$WORK/m4")"
    fi
  fi
done

echo "seed-models-check: $passed passed, $failed failed"
[[ $failed == 0 ]]
