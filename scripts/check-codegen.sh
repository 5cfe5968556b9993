#!/usr/bin/env bash
# Shows (and checks) how the runtime's hot loop, the int8 x int16 dot product inside
# every architecture's step (IntModel::<Gru | Lstm | Rnn, ..>::step, NgramModel::step), is
# compiled:
#   x86_64          the `mynah` release binary: the matrix-vector kernel must use pmaddwd
#                   (SSE2; vpmaddwd when built with AVX2, e.g. -C target-cpu=native);
#                   and the int4 kernel (kernels::x86_avx2::i4) must unpack nibbles with
#                   vpmovsxbw + vpsraw and multiply with vpmaddwd;
#   thumbv7em (M4)  a firmware image built with -C target-cpu=cortex-m4: the step of each
#                   architecture must reach the runtime's SMLAD kernel (kernels::arm_dsp:
#                   sxtb16 + smlad, the dual 16-bit multiply-accumulate), in its own body or
#                   in a function it calls; the step of an INT4 GRU the int4 one
#                   (kernels::arm_dsp::i4: the nibbles split by `and ..., lsl #4`, then
#                   sxtb16 + smlad), and the step of a factored GRU the SMLAD kernel too.
# Exit 0 when both hold, 1 when one does not, 2 on a setup problem.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TD="${CARGO_TARGET_DIR:-$ROOT/target}"
OBJDUMP="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-objdump 2>/dev/null | head -n1 || true)"
[ -n "$OBJDUMP" ] || OBJDUMP="$(command -v llvm-objdump || true)"
[ -n "$OBJDUMP" ] || { echo "check-codegen: llvm-objdump not found (rustup component add llvm-tools)" >&2; exit 2; }
status=0

# The disassembly of a program is read into DIS; `reaches START_REGEX INSN...` then
# follows the call graph (any operand `0x... <symbol>` naming the start of another
# function: calls and tail calls) from every function whose mangled name matches
# START_REGEX, and prints the first function reached whose body holds all the INSNs.
DIS=""
fn_body() { printf '%s\n' "$DIS" | awk -v f="<$1>:" '$2 == f { p = 1; next } /^[0-9a-f]+ <.*>:$/ { p = 0 } p'; }
fn_callees() { fn_body "$1" | grep -oE '0x[0-9a-f]+ <[^>+]+>' | sed -E 's/.*<(.*)>/\1/' | sort -u; }
reaches() {
  local start=$1 f b insn ok seen=" "
  shift
  local todo
  mapfile -t todo < <(printf '%s\n' "$DIS" | sed -nE 's/^[0-9a-f]+ <(.*)>:$/\1/p' | grep -E "$start")
  while ((${#todo[@]})); do
    f=${todo[0]}
    todo=("${todo[@]:1}")
    [[ $seen == *" $f "* ]] && continue
    seen+="$f "
    b=$(fn_body "$f")
    ok=1
    for insn in "$@"; do grep -qE "\\b$insn\\b" <<<"$b" || ok=0; done
    if ((ok)); then
      demangle "$f"
      return 0
    fi
    mapfile -t more < <(fn_callees "$f")
    todo+=("${more[@]}")
  done
  return 1
}
# Rust's legacy mangling: llvm-cxxfilt leaves the $..$ escapes and the hash.
demangle() {
  { if command -v llvm-cxxfilt >/dev/null; then llvm-cxxfilt "$1"; else echo "$1"; fi; } |
    sed -E 's/\$LT\$/</g; s/\$GT\$/>/g; s/\$C\$/,/g; s/\$u20\$/ /g; s/\$u7b\$/{/g; s/\$u7d\$/}/g; s/::h[0-9a-f]{16}$//; s/^_</</; s/\.\./::/g'
}

echo "== x86_64: mynah binary, the steps of IntModel (every cell), NgramModel and AnyModel"
(cd "$ROOT" && cargo build --quiet --release -p mynah-tools --bin mynah)
BIN="$TD/release/mynah"
DIS="$("$OBJDUMP" -d --no-show-raw-insn "$BIN")"
# Every step function in the binary: IntModel::step of each cell and NgramModel::step, or
# AnyModel's step_view (what the host runs, on run-time-sized memory) where the compiler
# inlined them into it.
mapfile -t steps < <(printf '%s\n' "$DIS" | sed -nE 's/^[0-9a-f]+ <(.*(IntModel|NgramModel|AnyModel).*(4step|9step_view)17h.*)>:$/\1/p')
[ "${#steps[@]}" -ge 1 ] || { echo "   FAIL: no step function found in $BIN" >&2; status=1; }
for step in "${steps[@]}"; do
  name=$(demangle "$step")
  if k=$(reaches "^$(printf '%s' "$step" | sed 's/[$.]/\\&/g')\$" 'v?pmaddwd'); then
    echo "   $name: the matrix kernel uses pmaddwd/vpmaddwd (in $k)"
  else
    echo "   FAIL: $name reaches no pmaddwd: the dot product is not vectorized" >&2
    status=1
  fi
done

# The int4 matrix product with AVX2: nibbles sign-extended by vpmovsxbw and split by
# arithmetic shifts (vpsraw), multiplied by vpmaddwd.
if k=$(reaches 'matvec_requant_i4_avx2' vpmovsxbw vpsraw vpmaddwd); then
  echo "   int4: the AVX2 kernel unpacks nibbles with vpmovsxbw + vpsraw and multiplies with vpmaddwd (in $k)"
else
  echo "   FAIL: no AVX2 int4 kernel with vpmovsxbw + vpsraw + vpmaddwd in $BIN" >&2
  status=1
fi

TARGET=thumbv7em-none-eabihf
echo "== $TARGET, -C target-cpu=cortex-m4: the step of every architecture (GRU, LSTM, RNN: IntModel::<C, 128, 128, 1>; n-gram MLP: NgramModel::<128, 128, 8>)"
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "   SKIPPED: $TARGET not installed (rustup target add $TARGET)"; exit $status
fi
CRATE="$TD/check-codegen/crate"
mkdir -p "$CRATE/src"
cat > "$CRATE/Cargo.toml" <<TOML
[package]
name = "mynah-check-codegen"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
mynah-runtime = { path = "$ROOT/runtime" }
mynah-format = { path = "$ROOT/format", default-features = false }

[profile.release]
opt-level = 3
panic = "abort"
codegen-units = 1
lto = true

[workspace]
TOML
cp "$ROOT/Cargo.lock" "$CRATE/Cargo.lock"
cat > "$CRATE/src/main.rs" <<'RUST'
#![no_std]
#![no_main]
use core::hint::black_box;
use mynah_format::Model;
use mynah_runtime::{
    forms, Gru, IntModel, Lstm, NgramModel, NgramScratch, NgramState, Rnn, Scratch, State,
    Stepper,
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// Loads `bytes` as an `M` and feeds one token: the whole step of that architecture.
#[inline(always)]
fn step<'a, M: Stepper<'a>>(
    load: impl Fn(&Model<'a>) -> Option<M>,
    bytes: &'a [u8],
    state: &mut M::State,
    scratch: &mut M::Scratch,
    tok: u32,
) -> i32 {
    let Ok(model) = Model::parse(bytes) else { return -1 };
    let Some(m) = load(&model) else { return -2 };
    match m.step(state, scratch, tok) {
        Ok(l) => l.first().copied().unwrap_or(0),
        Err(_) => -3,
    }
}

// One function per architecture, named for the disassembly.
macro_rules! step_fn {
    ($name:ident, $ty:ty, $state:expr, $scratch:expr) => {
        #[inline(never)]
        #[no_mangle]
        pub fn $name(bytes: &'static [u8], tok: u32) -> i32 {
            let (mut state, mut scratch) = ($state, $scratch);
            step(|m| <$ty>::new(m).ok(), bytes, &mut state, &mut scratch, tok)
        }
    };
}

step_fn!(mynah_step_gru, IntModel<'static, Gru, 128, 128, 1>, State::new(), Scratch::new());
step_fn!(mynah_step_lstm, IntModel<'static, Lstm, 128, 128, 1>, State::new(), Scratch::new());
step_fn!(mynah_step_rnn, IntModel<'static, Rnn, 128, 128, 1>, State::new(), Scratch::new());
step_fn!(mynah_step_ngram, NgramModel<'static, 128, 128, 8>, NgramState::filled(1), NgramScratch::new());
step_fn!(mynah_step_gru_i4, IntModel<'static, Gru, 128, 128, 1, { forms::INT4 | forms::TABLE }>, State::new(), Scratch::new());
step_fn!(mynah_step_gru_factored, IntModel<'static, Gru, 128, 128, 1, { forms::INT8 | forms::FACTORED }>, State::new(), Scratch::new());

#[no_mangle]
pub extern "C" fn mynah_codegen_entry() -> ! {
    // An opaque buffer: the compiler cannot evaluate the load, so each step is kept whole.
    let bytes: &'static [u8] = black_box(&[]);
    let t = black_box(1);
    black_box(mynah_step_gru(bytes, t) ^ mynah_step_lstm(bytes, t));
    black_box(mynah_step_rnn(bytes, t) ^ mynah_step_ngram(bytes, t));
    black_box(mynah_step_gru_i4(bytes, t) ^ mynah_step_gru_factored(bytes, t));
    loop {}
}
RUST
(cd "$CRATE" && export CARGO_TARGET_DIR="$TD/check-codegen/build" \
  RUSTFLAGS="-C target-cpu=cortex-m4 -C link-arg=--entry=mynah_codegen_entry -C link-arg=--gc-sections" &&
  { cargo build --quiet --release --offline --target "$TARGET" 2>/dev/null ||
    cargo build --quiet --release --target "$TARGET"; })
ELF="$TD/check-codegen/build/$TARGET/release/mynah-check-codegen"
DIS="$("$OBJDUMP" -d --no-show-raw-insn "$ELF")"
echo "   multiply-accumulates in the image:"
printf '%s\n' "$DIS" | grep -oE '\b(smlabb|smlabt|smlatb|smlatt|smlad|smladx|smlald|smlal|smull|mla|sxtb16)\b' | sort | uniq -c | sed 's/^/     /'
for arch in gru lstm rnn ngram gru_factored; do
  if k=$(reaches "^mynah_step_$arch\$" smlad sxtb16); then
    echo "   $arch: the step runs the SMLAD kernel (smlad + sxtb16 in $k)"
  else
    echo "   FAIL: the $arch step does not reach the SMLAD kernel (no function it calls has smlad + sxtb16)" >&2
    status=1
  fi
done
if k=$(reaches "^mynah_step_gru_i4\$" smlad sxtb16 'lsl #4'); then
  echo "   gru (int4): the step runs the int4 SMLAD kernel (and ... lsl #4 + sxtb16 + smlad in $k)"
else
  echo "   FAIL: the int4 GRU step does not reach the int4 SMLAD kernel" >&2
  status=1
fi
echo "   inner loop of the matrix kernel (its first block: 4 columns of 4 rows):"
{ printf '%s\n' "$DIS" | grep -B1 -A20 -m1 -E '\bldrd\b.*\], #8$' || true; } | sed 's/^/     /'
exit $status
