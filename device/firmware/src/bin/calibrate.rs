//! Calibration for the instruction counts of `make size`: a loop whose executed
//! instructions are known exactly, so the counter can be checked against arithmetic.
//!
//! The loop body is `subs; bne` (2 instructions) run `MYNAH_CAL_ITERS` times (build-time
//! environment, default 1000); everything else is identical between two builds with
//! different counts (the count is loaded by one `movw`/`mov.w` either way), so
//! `count(2K) - count(K)` must be exactly `2K`.

#![no_std]
#![no_main]

use core::arch::asm;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;

/// Parses a decimal `u32` at compile time.
const fn parse(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0u32;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "MYNAH_CAL_ITERS must be decimal");
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

/// Loop iterations (at least 1: the loop runs its body before testing).
const ITERS: u32 = match option_env!("MYNAH_CAL_ITERS") {
    Some(s) => parse(s),
    None => 1000,
};

#[entry]
fn main() -> ! {
    const {
        assert!(
            ITERS >= 1 && ITERS <= 0xffff,
            "one movw must load the count"
        )
    };
    // SAFETY: the assembly only counts a scratch register down to zero; it touches no
    // memory and no stack, and leaves the flags changed (not declared preserved).
    unsafe {
        asm!(
            "movw {n}, #{iters}",
            "2:",
            "subs {n}, #1",
            "bne 2b",
            n = out(reg) _,
            iters = const ITERS,
            options(nomem, nostack),
        );
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
