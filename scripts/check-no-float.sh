#!/usr/bin/env bash
# Proves that mynah-runtime, compiled for thumbv6m-none-eabi (Cortex-M0/M0+: no FPU), links
# no soft-float routine.
#
# It links a small no_std firmware image that drives the whole runtime API of every
# architecture (IntModel::<Gru | Lstm | Rnn, ..>::new, NgramModel::new, AnyModel::new;
# Generator::prime/next/sample/step/reset, Stepper::start/step/logits_and_sel, sample,
# softmax_q30) on the golden fixtures (tests/fixtures/tiny-*.mynah: one INT8 file per
# architecture, the INT4 GRU and the factored INT4 LSTM), with dead code
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
use mynah_runtime::{
    sample, softmax_q30, AnyModel, Generator, Gru, IntModel, Lstm, NgramModel, Next, Pcg32, Rnn,
    SampleOptions, Stepper, Temperature,
};

// The golden fixture of every architecture (tests/fixtures/tiny-*.mynah, records mode).
static GRU: &Aligned<[u8]> = &Aligned(*include_bytes!("FIXTURES/tiny-int8.mynah"));
static LSTM: &Aligned<[u8]> = &Aligned(*include_bytes!("FIXTURES/tiny-lstm-int8.mynah"));
static RNN: &Aligned<[u8]> = &Aligned(*include_bytes!("FIXTURES/tiny-rnn-int8.mynah"));
static NGRAM: &Aligned<[u8]> = &Aligned(*include_bytes!("FIXTURES/tiny-ngram-int8.mynah"));
static GRU4: &Aligned<[u8]> = &Aligned(*include_bytes!("FIXTURES/tiny-int4.mynah"));
static LSTM4F: &Aligned<[u8]> = &Aligned(*include_bytes!("FIXTURES/tiny-lstm-factored-int4.mynah"));

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// The whole runtime API on one model: Generator prime/next/sample/step/reset, the raw
/// Stepper (start, step, logits_and_sel), sample, softmax_q30.
fn drive<'a, M: Stepper<'a>>(m: &M) -> u32 {
    let mut gen = Generator::new(m);
    if gen.prime(black_box("the ")).is_err() {
        return 3;
    }
    let mut rng = Pcg32::new(black_box(1));
    let mut opts = SampleOptions::new(Temperature::from_milli(black_box(800)), &m.vocab(), m.records());
    opts.top_k = black_box(5);
    let mut acc = 0u32;
    for _ in 0..black_box(100) {
        match gen.next(&opts, &mut rng) {
            Ok(Next::Char(c)) => acc = acc.wrapping_add(c as u32),
            Ok(Next::Eos) => gen.reset(),
            Err(_) => return 4,
        }
    }
    let mut w = [0u32; 32];
    let total = softmax_q30(gen.logits(), &opts, &mut w);
    let t = gen.sample(&opts, &mut rng).unwrap_or(0);
    if let Ok(l) = gen.step(black_box(5)) {
        acc = acc.wrapping_add(l.first().copied().unwrap_or(0) as u32);
    }
    let mut state = m.new_state();
    let mut scratch = m.new_scratch();
    if m.start(&mut state, &mut scratch) {
        let (logits, sel) = m.logits_and_sel(&mut scratch);
        acc = acc.wrapping_add(sample(logits, &opts, &mut rng, sel).unwrap_or(0));
    }
    #[cfg(feature = "canary")]
    {
        acc = acc.wrapping_add((black_box(acc as f32) / black_box(3.0f32)) as u32);
    }
    acc.wrapping_add(total as u32).wrapping_add(t)
}

fn run() -> u32 {
    let (Ok(g), Ok(l), Ok(r), Ok(n), Ok(g4), Ok(l4)) = (
        Model::parse(black_box(&GRU.0)),
        Model::parse(black_box(&LSTM.0)),
        Model::parse(black_box(&RNN.0)),
        Model::parse(black_box(&NGRAM.0)),
        Model::parse(black_box(&GRU4.0)),
        Model::parse(black_box(&LSTM4F.0)),
    ) else {
        return 1;
    };
    // Each architecture's own type, as a firmware uses it ...
    let (Ok(gru), Ok(lstm), Ok(rnn), Ok(ngram)) = (
        IntModel::<Gru, 32, 32, 2>::new(&g),
        IntModel::<Lstm, 32, 32, 2>::new(&l),
        IntModel::<Rnn, 32, 32, 2>::new(&r),
        NgramModel::<32, 32, 4>::new(&n),
    ) else {
        return 2;
    };
    let mut acc = drive(&gru) ^ drive(&lstm) ^ drive(&rnn) ^ drive(&ngram);
    // The INT4 GRU and the factored INT4 LSTM in types that run every form ...
    let (Ok(gru4), Ok(lstm4)) = (
        IntModel::<Gru, 32, 32, 2>::new(&g4),
        IntModel::<Lstm, 32, 32, 2>::new(&l4),
    ) else {
        return 6;
    };
    acc ^= drive(&gru4) ^ drive(&lstm4);
    // ... and all of them behind AnyModel, as a host loads them.
    for file in [&g, &l, &r, &n, &g4, &l4] {
        match AnyModel::<32, 32, 2, 4>::new(black_box(file)) {
            Ok(any) => acc = acc.wrapping_add(drive(&any)),
            Err(_) => return 5,
        }
    }
    acc
}

#[no_mangle]
pub extern "C" fn mynah_check_entry() -> ! {
    black_box(run());
    loop {}
}
RUST
sed -i "s|FIXTURES/|$ROOT/tests/fixtures/|" "$CRATE/src/main.rs"

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
echo "check-no-float: runtime image $ELF ($SIZE bytes, $COUNT symbols; GRU, LSTM, RNN and n-gram MLP, INT8 and INT4, token table and factored, each its own type and behind AnyModel: new, Generator, Stepper, sample, softmax_q30)"
if [ -n "$HITS" ]; then
  echo "check-no-float: FAIL: soft-float routines linked:" >&2
  echo "$HITS" >&2
  exit 1
fi
echo "check-no-float: OK: no soft-float routine (__aeabi_f*, __aeabi_d*, conversions, GNU soft-float names)"
