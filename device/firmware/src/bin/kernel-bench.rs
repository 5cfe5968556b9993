//! Instructions per multiply-accumulate of int8 × int16 matrix-vector kernels on the
//! Cortex-M4 (`make size` runs it under QEMU with the instruction-count plugin).
//!
//! A `[384, 128]` int8 matrix (the 1×128 GRU's `W_hh`) times a Q15 vector, `REPS` times,
//! with one of three kernels chosen at build time (`MYNAH_BENCH_KERNEL`):
//! - `runtime`: `mynah_runtime::kernels::dot_i8_i16`, what the firmware runs today;
//! - `smlad`: a drop-in replacement for it (same arguments, same layout): per 4 MACs one
//!   word of weights split by `SXTB16` into two pairs, the activations repacked with
//!   `PKHBT`/`PKHTB`, two dual 16-bit MACs (`SMLAD`);
//! - `smlad2`: two rows at once against an activation vector permuted once per product
//!   (`x0 x2 x1 x3` in every group of 4), so no repacking: the CMSIS-NN layout idea.
//!
//! Before timing, every kernel is checked against `dot_i8_i16` on every row (including a
//! row of extreme values); a difference exits with failure. Instructions per MAC are
//! `(count(2R) − count(R)) / (R · 384 · 128)` between builds with `MYNAH_BENCH_REPS` = R, 2R.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use mynah_runtime::kernels::dot_i8_i16;

const ROWS: usize = 384;
const COLS: usize = 128;

/// Weights in `[-127, 127]`, row 0 all `-127` (with the all `-32767` input below it is
/// the largest magnitude the runtime allows), the rest from a 32-bit LCG.
const fn weights() -> [i8; ROWS * COLS] {
    let mut w = [0i8; ROWS * COLS];
    let mut s: u32 = 12345;
    let mut i = 0;
    while i < ROWS * COLS {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        w[i] = if i < COLS {
            -127
        } else {
            ((s >> 24) as i32 % 255 - 127) as i8
        };
        i += 1;
    }
    w
}

/// Activations in `[-32767, 32767]`; the first 64 are `-32767`.
const fn activations() -> [i16; COLS] {
    let mut x = [0i16; COLS];
    let mut s: u32 = 777;
    let mut i = 0;
    while i < COLS {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        x[i] = if i < 64 {
            -32767
        } else {
            ((s >> 16) as i32 % 65535 - 32767) as i16
        };
        i += 1;
    }
    x
}

/// Flash, like a model's weights.
static W: [i8; ROWS * COLS] = weights();
static X: [i16; COLS] = activations();

const fn parse(s: &str) -> u32 {
    let b = s.as_bytes();
    let (mut i, mut n) = (0, 0u32);
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

const REPS: u32 = match option_env!("MYNAH_BENCH_REPS") {
    Some(s) => parse(s),
    None => 1,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Runtime,
    Smlad,
    Smlad2,
}

const KERNEL: Kernel = match option_env!("MYNAH_BENCH_KERNEL") {
    None => Kernel::Runtime,
    Some(s) => match s.as_bytes() {
        b"runtime" => Kernel::Runtime,
        b"smlad" => Kernel::Smlad,
        b"smlad2" => Kernel::Smlad2,
        _ => panic!("MYNAH_BENCH_KERNEL: runtime, smlad or smlad2"),
    },
};

/// `Σ w[j]·x[j]` with `SMLAD`, for any length (a scalar tail after the groups of 8).
#[cfg(mynah_dsp)]
fn dot_smlad(w: &[i8], x: &[i16]) -> i32 {
    let n = w.len().min(x.len());
    let groups = n / 8;
    let mut acc: i32 = 0;
    if groups > 0 {
        // SAFETY: the loop reads `8 * groups <= n` weights (bytes) from `w` and as many
        // activations (halfwords) from `x`, both in bounds; `ldr` of a word at any byte
        // address is allowed on ARMv7-M for normal memory (flash, SRAM). It writes only
        // registers. Per 4 MACs: the weight word [w0 w1 w2 w3] becomes [w0, w2] and
        // [w1, w3] (`sxtb16`, `ror #8`), the activations [x0, x1], [x2, x3] become [x0, x2]
        // and [x1, x3] (`pkhbt`, `pkhtb`), and two `smlad` add w0x0 + w2x2 and w1x1 + w3x3.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr {w}, [{pw}], #4",
                "ldr {a}, [{px}], #4",
                "ldr {b}, [{px}], #4",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "pkhbt {u}, {a}, {b}, lsl #16",
                "pkhtb {b}, {b}, {a}, asr #16",
                "smlad {acc}, {t}, {u}, {acc}",
                "smlad {acc}, {w}, {b}, {acc}",
                "ldr {w}, [{pw}], #4",
                "ldr {a}, [{px}], #4",
                "ldr {b}, [{px}], #4",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "pkhbt {u}, {a}, {b}, lsl #16",
                "pkhtb {b}, {b}, {a}, asr #16",
                "smlad {acc}, {t}, {u}, {acc}",
                "smlad {acc}, {w}, {b}, {acc}",
                "subs {n}, {n}, #1",
                "bne 2b",
                pw = inout(reg) w.as_ptr() => _,
                px = inout(reg) x.as_ptr() => _,
                n = inout(reg) groups => _,
                acc = inout(reg) acc,
                w = out(reg) _,
                a = out(reg) _,
                b = out(reg) _,
                t = out(reg) _,
                u = out(reg) _,
                options(nostack, readonly),
            );
        }
    }
    for j in groups * 8..n {
        acc = acc.wrapping_add(i32::from(w[j]) * i32::from(x[j]));
    }
    acc
}

/// `x` with every group of 4 reordered `x0 x2 x1 x3`, 8-byte aligned for `ldrd`.
#[repr(C, align(8))]
struct Permuted([i16; COLS]);

fn permute(x: &[i16; COLS]) -> Permuted {
    let mut p = Permuted([0; COLS]);
    for (o, i) in p.0.chunks_exact_mut(4).zip(x.chunks_exact(4)) {
        o.copy_from_slice(&[i[0], i[2], i[1], i[3]]);
    }
    p
}

/// Rows `a` and `b` (each `COLS` weights) against the permuted activations.
#[cfg(mynah_dsp)]
fn dot2_smlad(a: &[i8; COLS], b: &[i8; COLS], xp: &Permuted) -> (i32, i32) {
    let (mut acc_a, mut acc_b) = (0i32, 0i32);
    // SAFETY: reads COLS bytes of `a` and of `b` and COLS halfwords of `xp` (8-byte aligned,
    // as `ldrd` needs), all in bounds (COLS is a multiple of 8); writes only registers.
    // Per 4 columns: [x0, x2] and [x1, x3] come ready from the permuted vector, each row's
    // weight word is split by `sxtb16` into [w0, w2] and [w1, w3], and two `smlad` per row.
    unsafe {
        core::arch::asm!(
            "2:",
            "ldrd {xa}, {xb}, [{px}], #8",
            "ldr {w}, [{pa}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {acca}, {t}, {xa}, {acca}",
            "smlad {acca}, {w}, {xb}, {acca}",
            "ldr {w}, [{pb}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {accb}, {t}, {xa}, {accb}",
            "smlad {accb}, {w}, {xb}, {accb}",
            "ldrd {xa}, {xb}, [{px}], #8",
            "ldr {w}, [{pa}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {acca}, {t}, {xa}, {acca}",
            "smlad {acca}, {w}, {xb}, {acca}",
            "ldr {w}, [{pb}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {accb}, {t}, {xa}, {accb}",
            "smlad {accb}, {w}, {xb}, {accb}",
            "subs {n}, {n}, #1",
            "bne 2b",
            pa = inout(reg) a.as_ptr() => _,
            pb = inout(reg) b.as_ptr() => _,
            px = inout(reg) xp.0.as_ptr() => _,
            n = inout(reg) COLS / 8 => _,
            acca = inout(reg) acc_a,
            accb = inout(reg) acc_b,
            xa = out(reg) _,
            xb = out(reg) _,
            w = out(reg) _,
            t = out(reg) _,
            options(nostack, readonly),
        );
    }
    (acc_a, acc_b)
}

fn row(i: usize) -> &'static [i8; COLS] {
    match W.get(i * COLS..(i + 1) * COLS).map(<&[i8; COLS]>::try_from) {
        Some(Ok(r)) => r,
        _ => panic!("row {i} out of range"),
    }
}

/// One matrix-vector product with the chosen kernel.
fn matvec(out: &mut [i32; ROWS]) {
    match KERNEL {
        Kernel::Runtime => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = dot_i8_i16(row(i), &X);
            }
        }
        #[cfg(mynah_dsp)]
        Kernel::Smlad => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = dot_smlad(row(i), &X);
            }
        }
        #[cfg(mynah_dsp)]
        Kernel::Smlad2 => {
            let xp = permute(&X);
            for (i, o) in out.chunks_exact_mut(2).enumerate() {
                let (a, b) = dot2_smlad(row(2 * i), row(2 * i + 1), &xp);
                o[0] = a;
                o[1] = b;
            }
        }
        #[cfg(not(mynah_dsp))]
        _ => panic!("SMLAD kernels need the DSP extension (thumbv7em)"),
    }
}

#[entry]
fn main() -> ! {
    // Correctness first (identical work in every build, so it cancels in the difference).
    let xp = permute(&X);
    for i in 0..ROWS {
        let want = dot_i8_i16(row(i), &X);
        #[cfg(mynah_dsp)]
        {
            let pair = dot2_smlad(row(i & !1), row(i | 1), &xp);
            let got2 = if i & 1 == 0 { pair.0 } else { pair.1 };
            if dot_smlad(row(i), &X) != want || got2 != want {
                debug::exit(debug::EXIT_FAILURE);
            }
        }
        let _ = (want, &xp);
    }
    let mut out = [0i32; ROWS];
    for _ in 0..black_box(REPS) {
        matvec(&mut out);
        black_box(&mut out);
    }
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
