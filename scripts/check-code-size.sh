#!/usr/bin/env bash
# Checks that docs/measurements/code-size.tsv (the firmware code sizes `mynah inspect`
# prints, written by `make size-all`) still matches the code: for every architecture it
# builds the Cortex-M4F firmware exactly as `make size` does (same model, same sampling
# settings) and compares .text + .rodata with the recorded figure. More than
# CODE_SIZE_TOLERANCE percent apart (default 2) fails and says to run `make size-all`.
# Each of these firmwares must also link only its own architecture: the names of the
# functions and types in its debug information (readelf) mention its own cell
# (`mynah_runtime::cell::Gru`, `Lstm`, `Rnn`) or `NgramModel`, and no other, and never
# `AnyModel`.
# Run by `make device-check` (so by `make test`); needs no QEMU.
set -euo pipefail
source "$(dirname "$0")/device-common.sh"
TOLERANCE=${CODE_SIZE_TOLERANCE:-2}
# make size's settings, not the caller's (device-check takes PRIME etc. for its first run).
unset SEED TEMPERATURE PRIME

[[ -f $CODE_SIZE_TSV ]] || die "${CODE_SIZE_TSV#"$ROOT"/} is missing: run \`make size-all\`"
mkdir -p "$DEVICE_OUT"
failed=0 stale=0
for arch in "${ARCHS[@]}"; do
  target='' recorded=''
  read -r target recorded < <(awk -F '\t' -v a="$arch" '!/^#/ && $1 == a { print $2, $3; exit }' "$CODE_SIZE_TSV") || true
  if [[ -z ${recorded:-} ]]; then
    echo "  FAIL  $arch: no line in ${CODE_SIZE_TSV#"$ROOT"/}"
    stale=1
    continue
  fi
  [[ $target == "$CODE_SIZE_TARGET" ]] || die "$arch: measured on $target, expected $CODE_SIZE_TARGET"
  model=$(size_model "$arch")
  (
    size_settings "$model"
    # make size reads its figures from the build sampling 2N characters.
    MYNAH_MAX_LEN=$((2 * ${SIZE_CHARS:-50})) build_firmware "$CODE_SIZE_TARGET"
  ) >"$DEVICE_OUT/code-size-$arch.path"
  elf=$(cat "$DEVICE_OUT/code-size-$arch.path")
  fresh=$(code_bytes "$elf")
  # What the firmware's debug information names, one marker per architecture.
  names=$(readelf --debug-dump=info "$elf" 2>/dev/null | grep -E 'DW_AT_name' |
    grep -oE 'mynah_runtime::cell::(Gru|Lstm|Rnn)\b|NgramModel<|AnyModel<' | sort -u |
    sed -E 's/.*::(Gru|Lstm|Rnn)$/\L\1/; s/NgramModel</ngram/; s/AnyModel</any/' | tr '\n' ' ')
  links="links only $arch"
  if [[ $names != "$arch " ]]; then
    echo "  FAIL  $arch: the firmware links [${names% }], not only $arch"
    failed=1
    links="links [${names% }]"
  fi
  off=$(awk -v a="$recorded" -v b="$fresh" 'BEGIN { d = (b - a) / a * 100; printf "%+.2f", d }')
  if awk -v a="$recorded" -v b="$fresh" -v t="$TOLERANCE" 'BEGIN { d = b - a; if (d < 0) d = -d; exit !(d * 100 > t * a) }'; then
    echo "  FAIL  $arch: recorded $recorded bytes, measured $fresh ($off%, more than $TOLERANCE%); $links"
    stale=1
  else
    echo "  ok    $arch: recorded $recorded bytes, measured $fresh ($off%); $links"
  fi
done
if [[ $stale != 0 ]]; then
  echo "code-size: ${CODE_SIZE_TSV#"$ROOT"/} is stale: run \`make size-all\` to rewrite it (then rebuild mynah)" >&2
fi
[[ $failed == 0 && $stale == 0 ]]
