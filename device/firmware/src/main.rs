//! mynah on a Cortex-M: samples text from a model embedded in flash and prints it through
//! semihosting, then exits (QEMU's `mps2-an386` / `mps2-an385` boards; any Cortex-M with a
//! debugger attached).
//!
//! The model, seed, temperature, prompt and length are chosen at build time
//! (`MYNAH_MODEL`, `MYNAH_SEED`, … see `device/common/build.rs`); the text on stdout is
//! character for character what `mynah sample` prints with the same settings.
//!
//! On stderr it reports what `make size` needs: the stack's high-water mark, measured by
//! painting the free stack with a pattern at boot and finding the deepest word that
//! changed after sampling, and the static RAM (`.data` + `.bss` + `.uninit`).

#![no_std]
#![no_main]

use core::panic::PanicInfo;
use core::ptr::{addr_of, read_volatile, write_volatile};

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hio};

/// The word painted over the free stack ("mynA"); a word still equal to it was never
/// written (a false "unused" needs the program to store exactly this value there).
const PAINT: u32 = 0x6d79_6e41;

/// Bytes just below the stack pointer of `paint_stack` left unpainted, so that painting
/// can never touch a live frame (its own, or anything the compiler keeps below it).
const PAINT_MARGIN: usize = 256;

// Only their addresses are used (`addr_of!`, no read), which needs no `unsafe`.
extern "C" {
    // cortex-m-rt's linker script (link.x): start of `.data` (the first byte of RAM we
    // use), end of `.bss`/`.uninit` (where the unused RAM starts; no heap here), and the
    // initial stack pointer (the top of RAM).
    static __sdata: u32;
    static __sheap: u32;
    static _stack_start: u32;
}

fn static_ram_start() -> usize {
    addr_of!(__sdata) as usize
}

fn free_ram_start() -> usize {
    addr_of!(__sheap) as usize
}

fn stack_top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Fills the unused RAM between the end of the statics and the current stack pointer
/// (less [`PAINT_MARGIN`]) with [`PAINT`]; returns the end of the painted area.
#[inline(never)]
fn paint_stack() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = (free_ram_start() + 3) & !3;
    let end = sp.saturating_sub(PAINT_MARGIN);
    while p + 4 <= end {
        // SAFETY: `p` is word-aligned and lies in RAM between the end of every static
        // (`__sheap`) and below the live stack (`sp - PAINT_MARGIN`): memory no Rust object
        // owns. Interrupts are not enabled, so nothing else writes there meanwhile.
        // Volatile, because to the compiler these stores are dead.
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    p
}

/// The deepest stack use since [`paint_stack`]: bytes from the top of RAM down to the
/// lowest word no longer holding [`PAINT`]. If every painted word is intact (the stack never
/// went below `painted_end`), the result, `top - painted_end`, is an upper bound instead.
fn stack_peak(painted_end: usize) -> usize {
    let mut p = (free_ram_start() + 3) & !3;
    let top = stack_top();
    while p < painted_end {
        // SAFETY: `p` is word-aligned RAM between the statics and the top of the stack;
        // reading it has no side effect. Volatile, since the compiler cannot know the
        // stack wrote it.
        if unsafe { read_volatile(p as *const u32) } != PAINT {
            break;
        }
        p += 4;
    }
    top - p
}

/// Semihosting stdout with a small line buffer: one host call per line, not per byte.
struct Out {
    host: Option<hio::HostStream>,
    buf: [u8; 128],
    len: usize,
}

impl Out {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len == self.buf.len() {
                self.flush();
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
            if b == b'\n' {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        if let Some(h) = self.host.as_mut() {
            let _ = h.write_all(self.buf.get(..self.len).unwrap_or(&[]));
        }
        self.len = 0;
    }
}

/// Writes `parts` to a semihosting stream (stderr here), without `core::fmt`.
fn report(stream: &mut Option<hio::HostStream>, parts: &[&[u8]]) {
    if let Some(h) = stream.as_mut() {
        for p in parts {
            let _ = h.write_all(p);
        }
    }
}

/// `key=value ` for [`report`].
fn kv<'b>(key: &'b str, value: usize, buf: &'b mut [u8; 10]) -> [&'b [u8]; 3] {
    [
        key.as_bytes(),
        mynah_device::decimal(value as u32, buf),
        b" ",
    ]
}

#[entry]
fn main() -> ! {
    let painted_end = paint_stack();
    let mut out = Out {
        host: hio::hstdout().ok(),
        buf: [0; 128],
        len: 0,
    };
    let result = mynah_device::run(&mut |bytes| out.push(bytes));
    out.flush();
    let peak = stack_peak(painted_end);
    let mut err = hio::hstderr().ok();
    let code = match result {
        Ok(summary) => {
            let mut b = [[0u8; 10]; 5];
            let [b0, b1, b2, b3, b4] = &mut b;
            let statics = free_ram_start() - static_ram_start();
            // One call over every part: each call costs code.
            let [c0, c1, c2] = kv("chars=", summary.chars as usize, b0);
            let [p0, p1, p2] = kv("stack_peak_bytes=", peak, b1);
            let [s0, s1, s2] = kv("static_ram_bytes=", statics, b2);
            let [t0, t1, t2] = kv("state_bytes=", mynah_device::STATE_BYTES, b3);
            let [x0, x1, x2] = kv("scratch_bytes=", mynah_device::SCRATCH_BYTES, b4);
            report(
                &mut err,
                &[
                    b"mynah-firmware: ",
                    c0,
                    c1,
                    c2,
                    p0,
                    p1,
                    p2,
                    s0,
                    s1,
                    s2,
                    t0,
                    t1,
                    t2,
                    x0,
                    x1,
                    x2,
                    b"\n",
                ],
            );
            debug::EXIT_SUCCESS
        }
        Err(_) => {
            report(
                &mut err,
                &[b"mynah-firmware: ", mynah_device::LOAD_ERROR.as_bytes()],
            );
            debug::EXIT_FAILURE
        }
    };
    debug::exit(code);
    // Not reached under QEMU; on a board without a debugger, stop here.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Exits with a failure status after saying so. Release builds do not say where: the
/// file names and the code to print them cost 320 bytes of a 16 KiB budget (a panic here
/// is a bug: the runtime indexes with `get`); `cargo build` (debug) builds do.
#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let mut err = hio::hstderr().ok();
    report(&mut err, &[b"mynah-firmware: panic"]);
    #[cfg(debug_assertions)]
    if let Some(l) = info.location() {
        let mut line = [0u8; 10];
        let line = mynah_device::decimal(l.line(), &mut line);
        report(&mut err, &[b" at ", l.file().as_bytes(), b":", line]);
    }
    #[cfg(not(debug_assertions))]
    let _ = info;
    report(&mut err, &[b"\n"]);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
