//! The runtime's int8 × int16 and int4 × int16 matrix kernels on the device: checked
//! against the portable dot products, then timed (`make size` counts their instructions
//! under QEMU; `make device-check` runs the check).
//!
//! First, on every target, `mynah_runtime::kernels::matvec_acc` (on ARMv7E-M the `SMLAD`
//! assembly of `kernels::arm_dsp`; elsewhere its portable model) must equal
//! `mynah_runtime::kernels::dot_i8_i16` on every row of 100 shapes: 1 to 13 rows and 0 to
//! 128 columns cut from one `[384, 128]` matrix (so every path: groups of four rows and
//! the rows after them, an odd number of 8-column groups, column tails, fewer than 8
//! columns), the full matrix, and 512-column matrices of the extreme values the runtime
//! admits (weights ±127 and -128, activations ±32767). The same for the int4 kernel:
//! `matvec_acc_i4` (on ARMv7E-M `kernels::arm_dsp::i4`, two rows per pass) against
//! `dot_i4_i16` on the same shapes cut from a packed `[384, 128]` `i4` matrix (every
//! nibble value, -8 included; odd widths read rows with a padding nibble), and 512-column
//! rows of -8 and 7. A difference exits with failure.
//!
//! Then one of four kernels (`MYNAH_BENCH_KERNEL`) multiplies the `[384, 128]` matrix (the
//! 1×128 GRU's `W_hh`) by a Q15 vector `MYNAH_BENCH_REPS` times:
//! - `runtime`: what the runtime's matrix product runs, `Reordered::set` + `matvec_acc`;
//! - `portable`: `dot_i8_i16` row by row, the portable kernel (x86_64, thumbv6m, thumbv7m);
//! - `runtime-i4`, `portable-i4`: the same for the packed `i4` matrix,
//!   `Reordered::set_i4` + `matvec_acc_i4`, and `dot_i4_i16` row by row.
//!
//! Instructions per multiply-accumulate are `(count(2R) − count(R)) / (R · 384 · 128)`
//! between builds with `MYNAH_BENCH_REPS` = R and 2R.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use mynah_runtime::kernels::{
    dot_i4_i16, dot_i8_i16, matvec_acc, matvec_acc_i4, Reordered, ACT_MAX, MAX_COLS,
};

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

/// `W` as `i4`: each weight's low 4 bits (every value in -8..=7), two per byte, low
/// nibble first.
const fn weights_i4() -> [u8; ROWS * COLS / 2] {
    let w = weights();
    let mut p = [0u8; ROWS * COLS / 2];
    let mut i = 0;
    while i < ROWS * COLS / 2 {
        p[i] = (w[2 * i] as u8 & 0x0f) | ((w[2 * i + 1] as u8) << 4);
        i += 1;
    }
    p
}

static W4: [u8; ROWS * COLS / 2] = weights_i4();

/// Two rows of 512 extreme `i4` weights: all -8, all 7.
const fn extreme_weights_i4() -> [u8; MAX_COLS] {
    let mut w = [0u8; MAX_COLS];
    let mut i = 0;
    while i < MAX_COLS {
        w[i] = if i < MAX_COLS / 2 { 0x88 } else { 0x77 };
        i += 1;
    }
    w
}

static W4_EXTREME: [u8; MAX_COLS] = extreme_weights_i4();
static X: [i16; COLS] = activations();

/// Four rows of 512 extreme weights: -128, 127, -127, 127 (the accumulator's worst cases).
const fn extreme_weights() -> [i8; 4 * MAX_COLS] {
    let mut w = [0i8; 4 * MAX_COLS];
    let mut i = 0;
    while i < 4 * MAX_COLS {
        w[i] = match i / MAX_COLS {
            0 => -128,
            2 => -127,
            _ => 127,
        };
        i += 1;
    }
    w
}

static W_EXTREME: [i8; 4 * MAX_COLS] = extreme_weights();

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
    Portable,
    RuntimeI4,
    PortableI4,
}

const KERNEL: Kernel = match option_env!("MYNAH_BENCH_KERNEL") {
    None => Kernel::Runtime,
    Some(s) => match s.as_bytes() {
        b"runtime" => Kernel::Runtime,
        b"portable" => Kernel::Portable,
        b"runtime-i4" => Kernel::RuntimeI4,
        b"portable-i4" => Kernel::PortableI4,
        _ => panic!("MYNAH_BENCH_KERNEL: runtime, portable, runtime-i4 or portable-i4"),
    },
};

/// Whether `matvec_acc` equals `dot_i8_i16` on every row of the row-major `w` (`cols`
/// wide, as many rows as `out` holds) times `x`. `xp` and `out` are the caller's buffers.
fn agrees<const H: usize>(
    w: &[i8],
    cols: usize,
    x: &[i16],
    xp: &mut Reordered<H>,
    out: &mut [i32],
) -> bool {
    let x = x.get(..cols).unwrap_or(&[]);
    xp.set(x);
    matvec_acc(w, cols, xp, out);
    out.iter().enumerate().all(|(i, &got)| {
        let row = w.get(i * cols..(i + 1) * cols).unwrap_or(&[]);
        got == dot_i8_i16(row, x)
    })
}

/// Whether `matvec_acc_i4` equals `dot_i4_i16` on every row of the packed `w` (`cols`
/// wide, rows of `ceil(cols / 2)` bytes, as many rows as `out` holds) times `x`.
fn agrees_i4<const H: usize>(
    w: &[u8],
    cols: usize,
    x: &[i16],
    xp: &mut Reordered<H>,
    out: &mut [i32],
) -> bool {
    let x = x.get(..cols).unwrap_or(&[]);
    let rb = cols.div_ceil(2);
    xp.set_i4(x);
    matvec_acc_i4(w, cols, xp, out);
    out.iter().enumerate().all(|(i, &got)| {
        let row = w.get(i * rb..(i + 1) * rb).unwrap_or(&[]);
        got == dot_i4_i16(row, x)
    })
}

/// The int4 check: the same shapes cut from `W4`, the full `W4`, and the extremes.
fn kernel_i4_matches() -> bool {
    let mut xp = Reordered::<MAX_COLS>::new();
    let mut out = [0i32; ROWS];
    for cols in [1, 3, 7, 8, 9, 15, 16, 24, 40, 45, 64, 100, 127, 128] {
        for rows in [1, 2, 3, 4, 5, 7, 13] {
            if !agrees_i4(&W4, cols, &X, &mut xp, &mut out[..rows]) {
                return false;
            }
        }
    }
    if !agrees_i4(&W4, COLS, &X, &mut xp, &mut out) {
        return false;
    }
    for x in [-ACT_MAX as i16, ACT_MAX as i16] {
        let xs = [x; MAX_COLS];
        if !agrees_i4(&W4_EXTREME, MAX_COLS, &xs, &mut xp, &mut out[..2]) {
            return false;
        }
    }
    true
}

/// The whole check: 100 shapes cut from `W`, the full `W`, and the extremes.
fn kernel_matches() -> bool {
    let mut xp = Reordered::<MAX_COLS>::new();
    let mut out = [0i32; ROWS];
    for cols in [0, 1, 3, 7, 8, 9, 15, 16, 24, 40, 45, 64, 100, 127, 128] {
        for rows in [1, 2, 3, 4, 5, 7, 13] {
            if !agrees(&W, cols, &X, &mut xp, &mut out[..rows]) {
                return false;
            }
        }
    }
    if !agrees(&W, COLS, &X, &mut xp, &mut out) {
        return false;
    }
    for x in [-ACT_MAX as i16, ACT_MAX as i16] {
        let xs = [x; MAX_COLS];
        for cols in [MAX_COLS, MAX_COLS - 3, 200] {
            if !agrees(&W_EXTREME, cols, &xs, &mut xp, &mut out[..4]) {
                return false;
            }
        }
    }
    true
}

fn row(i: usize) -> &'static [i8; COLS] {
    match W.get(i * COLS..(i + 1) * COLS).map(<&[i8; COLS]>::try_from) {
        Some(Ok(r)) => r,
        _ => panic!("row {i} out of range"),
    }
}

/// One matrix-vector product with the chosen kernel.
fn matvec(xp: &mut Reordered<COLS>, out: &mut [i32; ROWS]) {
    match KERNEL {
        Kernel::Runtime => {
            xp.set(&X);
            matvec_acc(&W, COLS, xp, out);
        }
        Kernel::Portable => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = dot_i8_i16(row(i), &X);
            }
        }
        Kernel::RuntimeI4 => {
            xp.set_i4(&X);
            matvec_acc_i4(&W4, COLS, xp, out);
        }
        Kernel::PortableI4 => {
            for (o, r) in out.iter_mut().zip(W4.chunks_exact(COLS / 2)) {
                *o = dot_i4_i16(r, &X);
            }
        }
    }
}

#[entry]
fn main() -> ! {
    // Correctness first (identical work in every build, so it cancels in the difference).
    if !kernel_matches() || !kernel_i4_matches() {
        debug::exit(debug::EXIT_FAILURE);
    }
    let mut xp = Reordered::<COLS>::new();
    let mut out = [0i32; ROWS];
    for _ in 0..black_box(REPS) {
        matvec(&mut xp, &mut out);
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
