#!/usr/bin/env bash
# Proves that mynah-runtime, compiled for thumbv6m-none-eabi (Cortex-M0/M0+: no FPU), links
# no soft-float routine.
#
# It links a small no_std firmware image that drives the whole runtime API (IntModel::new,
# Generator::prime/next/step, sample, softmax_q30) on the golden fixture, with dead code
# removed as in real firmware, and lists the image's symbols with llvm-nm. Any
# soft-float routine (__aeabi_f*, __aeabi_d*, __aeabi_*2f / *2d conversions, the GNU names
# __addsf3, __divdf3, __fixsfsi, __floatsisf, ...) is a failure.
#
# Before that it links the same image with one f32 division added (a canary) and requires
# the check to catch it, so a broken check cannot pass silently.
#
# Usage: scripts/check-no-float.sh   (exit 0: clean; 1: soft-float found; 2: setup problem)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET=thumbv6m-none-eabi
WORK="${CARGO_TARGET_DIR:-$ROOT/target}/check-no-float"
CRATE="$WORK/crate"
PATTERN='__aeabi_(f|d)[a-z0-9]*|__aeabi_u?[il]2[fd]|__(add|sub|mul|div|neg)[sdt]f3|__(fix|fixuns)[sdt]f[sdt]i|__float(un)?[sdt]i[sdt]f|__(extend|trunc)[sdt]f[sdt]f2|__(eq|ne|lt|le|gt|ge|un|cmp)[sdt]f2|__powi[sd]f2'

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "check-no-float: target $TARGET is not installed (rustup target add $TARGET)" >&2
  exit 2
fi
NM="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-nm 2>/dev/null | head -n1 || true)"
[ -n "$NM" ] || NM="$(command -v llvm-nm || true)"
if [ -z "$NM" ]; then
  echo "check-no-float: llvm-nm not found (rustup component add llvm-tools, or apt-get install llvm)" >&2
  exit 2
fi

mkdir -p "$CRATE/src"
cat > "$CRATE/Cargo.toml" <<TOML
[package]
name = "mynah-check-no-float"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
mynah-runtime = { path = "$ROOT/runtime" }
mynah-format = { path = "$ROOT/format", default-features = false }

[features]
# Adds one f32 division: the check must catch it.
canary = []

[profile.release]
opt-level = "s"
panic = "abort"
codegen-units = 1
lto = true

[workspace]
TOML
# Same dependency versions as the workspace.
cp "$ROOT/Cargo.lock" "$CRATE/Cargo.lock"
cat > "$CRATE/src/main.rs" <<'RUST'
#![no_std]
#![no_main]

use core::hint::black_box;
use mynah_format::{Aligned, Model};
use mynah_runtime::{sample, softmax_q30, Generator, IntModel, Next, Pcg32, SampleOptions, Temperature};

static MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!("FIXTURE"));

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

fn run() -> u32 {
    let Ok(model) = Model::parse(black_box(&MODEL.0)) else { return 1 };
    let Ok(gru) = IntModel::<32, 32, 2>::new(&model) else { return 2 };
    let mut gen = Generator::new(&gru);
    if gen.prime(black_box("the ")).is_err() {
        return 3;
    }
    let mut rng = Pcg32::new(black_box(1));
    let opts = SampleOptions { temperature: Temperature::from_milli(black_box(800)), top_k: black_box(5), allow_eos: true };
    let mut acc = 0u32;
    for _ in 0..black_box(100) {
        match gen.next(&opts, &mut rng) {
            Next::Char(c) => acc = acc.wrapping_add(c as u32),
            Next::Eos => gen.reset(),
        }
    }
    let mut w = [0u32; 32];
    let total = softmax_q30(gen.logits(), Temperature::from_milli(black_box(1000)), true, &mut w);
    let mut sel = [0i32; 32];
    let t = sample(gen.logits(), &opts, &mut rng, &mut sel).unwrap_or(0);
    if let Ok(l) = gen.step(black_box(5)) {
        acc = acc.wrapping_add(l.first().copied().unwrap_or(0) as u32);
    }
    #[cfg(feature = "canary")]
    {
        acc = acc.wrapping_add((black_box(acc as f32) / black_box(3.0f32)) as u32);
    }
    acc.wrapping_add(total as u32).wrapping_add(t)
}

#[no_mangle]
pub extern "C" fn mynah_check_entry() -> ! {
    black_box(run());
    loop {}
}
RUST
sed -i "s|include_bytes!(\"FIXTURE\")|include_bytes!(\"$ROOT/tests/fixtures/tiny-int8.mynah\")|" "$CRATE/src/main.rs"

# Links the image (with or without the canary) and prints the soft-float symbols in it.
scan() {
  local features="$1" dir="$WORK/build$2"
  # Offline first (the workspace's dependencies are already fetched), else fetch.
  (cd "$CRATE" && export CARGO_TARGET_DIR="$dir" RUSTFLAGS="-C link-arg=--entry=mynah_check_entry -C link-arg=--gc-sections" &&
     { cargo build --quiet --release --offline --target "$TARGET" $features 2>/dev/null ||
       cargo build --quiet --release --target "$TARGET" $features; }) >&2
  ELF="$dir/$TARGET/release/mynah-check-no-float"
  SYMBOLS="$("$NM" "$ELF")"
  COUNT="$(printf '%s\n' "$SYMBOLS" | grep -c . || true)"
  printf '%s\n' "$SYMBOLS" | grep -E " ($PATTERN)\$" || true
}

echo "check-no-float: target $TARGET, tool $NM"
echo "check-no-float: pattern $PATTERN"
scan "--features canary" "-canary" > "$WORK/hits-canary.txt"
CANARY="$(cat "$WORK/hits-canary.txt")"
if [ -z "$CANARY" ]; then
  echo "check-no-float: FAILED to detect the f32 canary in $ELF: the check itself is broken" >&2
  exit 2
fi
echo "check-no-float: canary image ($COUNT symbols) shows, as it must: $(echo "$CANARY" | awk '{print $NF}' | sort -u | tr '\n' ' ')"
scan "" "" > "$WORK/hits.txt"
HITS="$(cat "$WORK/hits.txt")"
SIZE="$(stat -c %s "$ELF")"
echo "check-no-float: runtime image $ELF ($SIZE bytes, $COUNT symbols; IntModel::new, Generator prime/next/step, sample, softmax_q30)"
if [ -n "$HITS" ]; then
  echo "check-no-float: FAIL: soft-float routines linked:" >&2
  echo "$HITS" >&2
  exit 1
fi
echo "check-no-float: OK: no soft-float routine (__aeabi_f*, __aeabi_d*, conversions, GNU soft-float names)"
