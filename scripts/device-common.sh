# Shared by scripts/device-check.sh and scripts/device-size.sh (sourced, not run).
#
# Builds land in $CARGO_TARGET_DIR/device/... (default target/device/...): the firmware and
# the tiny binary are separate cargo workspaces (device/firmware, device/tiny) whose
# builds must not share a target directory with the host workspace's lock.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_BASE=${CARGO_TARGET_DIR:-$ROOT/target}
DEVICE_OUT=$TARGET_BASE/device
FW_DIR=$DEVICE_OUT/firmware
TINY_DIR=$DEVICE_OUT/tiny
PLUGIN=$DEVICE_OUT/libinsn-count.so
REFERENCE_MODEL=$ROOT/tests/fixtures/shakespeare-1x128.int8.mynah
SYNTH_1X128=$ROOT/device/models/synthetic-1x128.int8.mynah
SYNTH_2X48=$ROOT/device/models/synthetic-2x48.int8.mynah
SYNTH_LSTM=$ROOT/device/models/synthetic-lstm-1x96.int8.mynah
SYNTH_RNN=$ROOT/device/models/synthetic-rnn-1x128.int8.mynah
SYNTH_NGRAM=$ROOT/device/models/synthetic-ngram-c8x96.int8.mynah
SYNTH_INT4=$ROOT/device/models/synthetic-int4-1x128.int4.mynah
SYNTH_FACTORED=$ROOT/device/models/synthetic-factored-1x128.int8.mynah
# The architectures, in the order of docs/measurements/code-size.tsv.
ARCHS=(gru lstm rnn ngram)
# Where the code sizes `mynah inspect` prints come from (`make size-all` writes it,
# `make device-check` checks it against a fresh build).
CODE_SIZE_TSV=$ROOT/docs/measurements/code-size.tsv
CODE_SIZE_TARGET=thumbv7em-none-eabihf
QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}

die() {
  echo "error: $*" >&2
  exit 1
}

# The default model: the 1x128 tiny-shakespeare reference once it is checked in, else the
# synthetic 1x128 model of the same shape.
default_model() {
  if [[ -f $REFERENCE_MODEL ]]; then echo "$REFERENCE_MODEL"; else echo "$SYNTH_1X128"; fi
}

# size_model ARCH: the model `make size-all` measures for an architecture: the default
# model for the GRU, the checked-in synthetic model for the others.
size_model() {
  case $1 in
    gru) default_model ;;
    lstm) echo "$SYNTH_LSTM" ;;
    rnn) echo "$SYNTH_RNN" ;;
    ngram) echo "$SYNTH_NGRAM" ;;
    *) die "unknown architecture $1" ;;
  esac
}

# size_settings: the sampling settings of `make size` (`make demo`'s first sample, one
# sample, all tokens), exported as MYNAH_* for build_firmware; MAX_LEN is the caller's.
size_settings() {
  export MYNAH_MODEL=$1 MYNAH_SEED=${SEED:-1} MYNAH_TEMPERATURE=${TEMPERATURE:-0.5} \
    MYNAH_PRIME=${PRIME-ROMEO:} MYNAH_COUNT=1 MYNAH_TOP_K=0
}

abspath() {
  local p=$1
  [[ -f $p ]] || die "model file $p not found"
  echo "$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
}

need_qemu() {
  command -v qemu-system-arm >/dev/null ||
    die "qemu-system-arm not found: run 'make device-setup' (apt-get install qemu-system-arm)"
}

# The host `mynah` (root workspace). The dev profile: `make test` has already built it for
# the CLI tests, and the integer runtime prints the same text in every profile.
build_mynah() {
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_BASE cargo build --quiet -p mynah-tools --bin mynah) >&2
  echo "$TARGET_BASE/debug/mynah"
}

# build_firmware TARGET [BIN]: prints the ELF path. Settings come from MYNAH_* variables.
build_firmware() {
  local target=$1 bin=${2:-mynah-firmware}
  (cd "$ROOT/device/firmware" &&
    CARGO_TARGET_DIR=$FW_DIR cargo build --quiet --release --target "$target" --bin "$bin") >&2
  echo "$FW_DIR/$target/release/$bin"
}

build_tiny() {
  (cd "$ROOT/device/tiny" && CARGO_TARGET_DIR=$TINY_DIR cargo build --quiet --release) >&2
  echo "$TINY_DIR/x86_64-unknown-linux-gnu/release/mynah-tiny"
}

# run_qemu MACHINE ELF STDOUT STDERR [QEMU ARGS...]: semihosting on, exit status of the
# program (semihosting SYS_EXIT) becomes QEMU's.
run_qemu() {
  local machine=$1 elf=$2 out=$3 err=$4
  shift 4
  timeout "$QEMU_TIMEOUT" qemu-system-arm -M "$machine" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native "$@" -kernel "$elf" >"$out" 2>"$err"
}

# The TCG plugin that counts executed instructions (device/qemu/insn-count.c).
build_plugin() {
  local src=$ROOT/device/qemu/insn-count.c
  mkdir -p "$DEVICE_OUT"
  if [[ ! -f $PLUGIN || $src -nt $PLUGIN ]]; then
    cc -O2 -shared -fPIC -Wall -Wextra -Werror -o "$PLUGIN" "$src" >&2
  fi
  echo "$PLUGIN"
}

# count_insns MACHINE ELF: executed instructions from reset to semihosting exit.
count_insns() {
  local machine=$1 elf=$2 tmp
  tmp=$(mktemp -d)
  run_qemu "$machine" "$elf" "$tmp/out" "$tmp/err" -plugin "$PLUGIN,outfile=$tmp/count" ||
    { cat "$tmp/err" >&2; rm -rf "$tmp"; die "$elf failed under QEMU"; }
  sed -n 's/^insns=//p' "$tmp/count"
  rm -rf "$tmp"
}

# section_size ELF NAME: bytes of one section (0 if absent), from readelf.
section_size() {
  local hex
  hex=$(readelf -SW "$1" | awk -v n="$2" '
    { for (i = 1; i <= NF; i++) if ($i == n) { print $(i + 4); exit } }')
  echo $((16#${hex:-0}))
}

# header_u32 FILE OFFSET: a little-endian u32 of the model header.
header_u32() {
  od -An -tu4 -j "$2" -N4 --endian=little "$1" | tr -d ' '
}

# model_arch FILE: gru, lstm, rnn or ngram (format version 1 files are GRUs).
model_arch() {
  local version
  version=$(od -An -tu2 -j 8 -N2 --endian=little "$1" | tr -d ' ')
  if [[ $version == 1 ]]; then echo gru; return; fi
  case $(header_u32 "$1" 64) in
    0) echo gru ;; 1) echo lstm ;; 2) echo rnn ;; 3) echo ngram ;;
    *) die "$1: unknown architecture code" ;;
  esac
}

# macs_per_char FILE: multiply-accumulates per sampled character. A recurrent layer's
# recurrent product W_hh h is G·H x H (G = 3 GRU, 4 LSTM, 1 RNN); layers 1.. add their
# input product W_ih x (G·H x H; layer 0's is a row of the token table, no MACs, or in a
# factored file (flag bit 1) W_ih0 e, G·H x E). The n-gram's hidden layer is context·H
# table additions, no MACs. Then the projection, V x H.
macs_per_char() {
  local vocab embed hidden layers gates input=0
  vocab=$(header_u32 "$1" 20)
  embed=$(header_u32 "$1" 24)
  hidden=$(header_u32 "$1" 28)
  layers=$(header_u32 "$1" 32)
  case $(model_arch "$1") in
    gru) gates=3 ;; lstm) gates=4 ;; rnn) gates=1 ;; ngram) gates=0 ;;
  esac
  (($(header_u32 "$1" 12) & 2)) && input=$((gates * hidden * embed))
  echo $(((2 * layers - 1) * gates * hidden * hidden + input + vocab * hidden))
}

# model_form FILE: int8 or int4, and ", factored" for a factored file (the header's weights
# kind and flag bit 1).
model_form() {
  local form=int8
  [[ $(header_u32 "$1" 16) == 2 ]] && form=int4
  (($(header_u32 "$1" 12) & 2)) && form="$form, factored"
  echo "$form"
}

# code_bytes ELF: the program's code and constants, .text + .rodata (the model is in
# .mynah_model): `make size`'s firmware_code_bytes.
code_bytes() {
  echo $(($(section_size "$1" .text) + $(section_size "$1" .rodata)))
}
