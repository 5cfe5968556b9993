#!/usr/bin/env bash
# The C examples against `mynah sample`, byte for byte (make capi-check, in make test):
#   1. examples/c/sample.c, built with the system gcc against the host libmynah_capi.a, for
#      models of every architecture and several sampling settings;
#   2. examples/c/firmware/, built with Debian's arm-none-eabi-gcc against the
#      thumbv7em-none-eabihf library, run on QEMU's mps2-an386 (Cortex-M4F) with semihosting;
#      and linked for the Cortex-M0+ (thumbv6m-none-eabi library) as a build check.
# Usage: scripts/c-examples.sh LIBDIR MYNAH   (LIBDIR: make capi's target/capi)
set -euo pipefail

LIBDIR=$1
MYNAH=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
FIX=$ROOT/tests/fixtures
REF=$FIX/shakespeare-1x128.int8.mynah
fails=0
checks=0

same() { # NAME FILE_A FILE_B
  checks=$((checks + 1))
  if cmp -s "$2" "$3"; then
    echo "ok    $1 ($(wc -c <"$2") bytes)"
  else
    echo "FAIL  $1: differs from mynah sample"
    diff <(head -c 400 "$2") <(head -c 400 "$3") || true
    fails=$((fails + 1))
  fi
}

echo "== host: examples/c/sample.c with gcc"
gcc -std=c11 -O2 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/examples/c/sample.c" \
  "$LIBDIR/x86_64-unknown-linux-gnu/libmynah_capi.a" $(cat "$LIBDIR/x86_64-unknown-linux-gnu/native-libs") \
  -o "$OUT/sample"
while IFS='|' read -r model args; do
  [ -z "$model" ] && continue
  eval "set -- $args"
  "$OUT/sample" "$FIX/$model" "$@" >"$OUT/c.txt"
  "$MYNAH" sample "$FIX/$model" "$@" >"$OUT/r.txt"
  same "sample $model $args" "$OUT/c.txt" "$OUT/r.txt"
done <<'CASES'
shakespeare-1x128.int8.mynah|--prime 'ROMEO:' --temperature 0.5 --seed 1 --max-len 300 --count 2
shakespeare-1x128.int8.mynah|--temperature 1 --seed 7 --max-len 2000
shakespeare-1x128.int8.mynah|--prime 'To be' --temperature 0 --max-len 200
shakespeare-1x128.int8.mynah|--prime $'JULIET:\n' --temperature 1.3 --top-k 4 --seed 12345678901 --count 3 --max-len 150
tiny-int8.mynah|--prime 'the ' --temperature 1.2 --seed 3 --count 4 --max-len 80 --top-k 5
tiny-int8-v1.mynah|--temperature 0.8 --seed 4 --count 3 --max-len 60
tiny-lstm-int8.mynah|--prime 'a' --temperature 1 --seed 5 --count 4 --max-len 80
tiny-rnn-int8.mynah|--prime 'mynah ' --seed 6 --count 4 --max-len 80 --top-k 2
tiny-ngram-int8.mynah|--prime 'zz, ' --temperature 1.5 --seed 8 --count 4 --max-len 80
CASES
checks=$((checks + 1))
if "$OUT/sample" "$REF" --prime 'héllo' >/dev/null 2>"$OUT/err.txt"; then
  echo "FAIL  an unknown prime character must fail"; fails=$((fails + 1))
elif grep -q "character 'é' (at position 1) is not in the model's vocabulary" "$OUT/err.txt"; then
  echo "ok    unknown prime character: $(cat "$OUT/err.txt")"
else
  echo "FAIL  unknown prime character: $(cat "$OUT/err.txt")"; fails=$((fails + 1))
fi

echo "== Cortex-M4F firmware: examples/c/firmware with arm-none-eabi-gcc, on QEMU mps2-an386"
CFLAGS_M4=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
CFLAGS_M0=(-mcpu=cortex-m0plus -mthumb -mfloat-abi=soft)
firmware() { # OUT.elf LIB MODEL PRIME SEED TEMPERATURE_MILLI MAX_LEN COUNT TOP_K CPU-FLAGS...
  local elf=$1 lib=$2 model=$3 prime=$4 seed=$5 milli=$6 len=$7 count=$8 topk=$9
  shift 9
  arm-none-eabi-gcc -O2 -std=c11 -Wall -Wextra -Werror "$@" -ffreestanding \
    -ffunction-sections -fdata-sections -nostdlib -nostartfiles \
    -I"$ROOT/include" -I"$ROOT/examples/c/firmware" \
    -DMODEL_FILE="\"$model\"" -DPRIME="\"$prime\"" -DSEED="$seed" -DTEMPERATURE_MILLI="$milli" \
    -DMAX_LEN="$len" -DCOUNT="$count" -DTOP_K="$topk" \
    -T "$ROOT/examples/c/firmware/link.ld" "$ROOT"/examples/c/firmware/{main.c,startup.c,semihost.c,model.S} \
    -Wl,--gc-sections -Wl,--no-warn-execstack -Wl,--start-group "$lib" -lgcc -Wl,--end-group -o "$elf"
}
while IFS='|' read -r model prime seed temperature milli len count topk; do
  [ -z "$model" ] && continue
  firmware "$OUT/fw.elf" "$LIBDIR/thumbv7em-none-eabihf/libmynah_capi.a" "$FIX/$model" \
    "$prime" "$seed" "$milli" "$len" "$count" "$topk" "${CFLAGS_M4[@]}"
  timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$OUT/fw.elf" >"$OUT/fw.txt"
  "$MYNAH" sample "$FIX/$model" --prime "$prime" --seed "$seed" --temperature "$temperature" \
    --max-len "$len" --count "$count" --top-k "$topk" >"$OUT/r.txt"
  same "firmware $model --prime '$prime' --seed $seed --temperature $temperature --max-len $len --count $count --top-k $topk" \
    "$OUT/fw.txt" "$OUT/r.txt"
done <<'CASES'
shakespeare-1x128.int8.mynah|ROMEO:|1|0.5|500|300|2|0
shakespeare-1x128.int8.mynah|To be|9|1.0|1000|400|1|5
tiny-lstm-int8.mynah|the |3|1.0|1000|80|3|0
tiny-ngram-int8.mynah|a|4|0.8|800|80|3|3
CASES
echo "   $(arm-none-eabi-size -B "$OUT/fw.elf" | tail -1 | awk '{print "last firmware: text " $1 " B (model included), data " $2 " B, bss " $3 " B"}')"

echo "== Cortex-M0+ link check (thumbv6m-none-eabi library)"
checks=$((checks + 1))
if firmware "$OUT/m0.elf" "$LIBDIR/thumbv6m-none-eabi/libmynah_capi.a" "$REF" "ROMEO:" 1 500 300 1 0 "${CFLAGS_M0[@]}"; then
  echo "ok    firmware links for the Cortex-M0+"
else
  echo "FAIL  firmware does not link for the Cortex-M0+"; fails=$((fails + 1))
fi
# No float through the C ABI either: the M0+ has no FPU, so any float would be a soft-float call.
checks=$((checks + 1))
floats=$(arm-none-eabi-nm "$OUT/m0.elf" | grep -E ' __aeabi_(f|d|[iu]l?2[fd])|__(add|sub|mul|div)[sd]f3' || true)
if [ -z "$floats" ]; then
  echo "ok    no soft-float routine in the Cortex-M0+ firmware"
else
  echo "FAIL  soft-float routines in the Cortex-M0+ firmware: $floats"; fails=$((fails + 1))
fi

echo "$((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
