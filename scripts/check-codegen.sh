#!/usr/bin/env bash
# Shows (and checks) how the runtime's hot loop, the int8 x int16 dot product inside
# IntModel::step, is compiled:
#   x86_64          the `mynah` release binary: the matrix-vector kernel must use pmaddwd
#                   (SSE2; vpmaddwd when built with AVX2, e.g. -C target-cpu=native);
#   thumbv7em (M4)  a firmware image built with -C target-cpu=cortex-m4: the step must run
#                   the runtime's SMLAD kernel (kernels::arm_dsp: sxtb16 + smlad, the dual
#                   16-bit multiply-accumulate).
# Exit 0 when both hold, 1 when one does not, 2 on a setup problem.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TD="${CARGO_TARGET_DIR:-$ROOT/target}"
OBJDUMP="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-objdump 2>/dev/null | head -n1 || true)"
[ -n "$OBJDUMP" ] || OBJDUMP="$(command -v llvm-objdump || true)"
[ -n "$OBJDUMP" ] || { echo "check-codegen: llvm-objdump not found (rustup component add llvm-tools)" >&2; exit 2; }
status=0

echo "== x86_64: mynah binary, Dense::matvec"
(cd "$ROOT" && cargo build --quiet --release -p mynah-tools --bin mynah)
BIN="$TD/release/mynah"
ASM="$("$OBJDUMP" -d --no-show-raw-insn --demangle "$BIN" | awk '/^[0-9a-f]+ <.*Dense.*matvec.*>:$/{p=1;print;next} /^[0-9a-f]+ <.*>:$/{p=0} p')"
N="$(printf '%s\n' "$ASM" | grep -cE 'v?pmaddwd' || true)"
echo "   $(printf '%s\n' "$ASM" | grep -cE '^\s+[0-9a-f]+:' || true) instructions, $N pmaddwd/vpmaddwd"
if [ "$N" -eq 0 ]; then echo "   FAIL: the dot product is not vectorized" >&2; status=1; fi

TARGET=thumbv7em-none-eabihf
echo "== $TARGET, -C target-cpu=cortex-m4: IntModel::<128, 128, 1>::step"
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
use mynah_runtime::{IntModel, Scratch, State};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

#[inline(never)]
#[no_mangle]
pub fn mynah_step(bytes: &[u8], state: &mut State<128, 1>, scratch: &mut Scratch<128, 128>, tok: u32) -> i32 {
    let Ok(model) = Model::parse(bytes) else { return -1 };
    let Ok(gru) = IntModel::<128, 128, 1>::new(&model) else { return -2 };
    match gru.step(state, scratch, tok) {
        Ok(l) => l.first().copied().unwrap_or(0),
        Err(_) => -3,
    }
}

#[no_mangle]
pub extern "C" fn mynah_codegen_entry() -> ! {
    let mut state = State::new();
    let mut scratch = Scratch::new();
    // An opaque buffer: the compiler cannot evaluate the load, so the step is kept whole.
    let bytes: &[u8] = black_box(&[]);
    black_box(mynah_step(bytes, &mut state, &mut scratch, black_box(1)));
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
SMLAD="$(printf '%s\n' "$DIS" | grep -cE '\bsmlad\b' || true)"
SXTB16="$(printf '%s\n' "$DIS" | grep -cE '\bsxtb16\b' || true)"
if [ "$SMLAD" -eq 0 ] || [ "$SXTB16" -eq 0 ]; then
  echo "   FAIL: the step does not run the SMLAD kernel (smlad: $SMLAD, sxtb16: $SXTB16)" >&2; status=1
fi
echo "   inner loop of the matrix kernel (its first block: 4 columns of 4 rows):"
{ printf '%s\n' "$DIS" | grep -B1 -A20 -m1 -E '\bldrd\b.*\], #8$' || true; } | sed 's/^/     /'
exit $status
