//! `mynah-tiny`: the smallest thing that carries a mynah model to a Linux machine.
//!
//! A freestanding x86_64 Linux program: no libc, no std, no allocator. The kernel enters
//! at `_start` (below); output goes through the raw `write` system call and the program
//! ends with `exit_group`. The model and the sampling settings are chosen at build time
//! (`MYNAH_MODEL`, `MYNAH_SEED`, … see `device/common/build.rs`), and the text printed is
//! character for character what `mynah sample` prints with the same settings.
//!
//! Each `unsafe` block is one system call or the entry stub; nothing else needs it.

#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::panic::PanicInfo;

/// Linux x86_64 system call numbers.
const SYS_WRITE: usize = 1;
const SYS_EXIT_GROUP: usize = 231;
/// `-EINTR`: a write interrupted before it wrote anything; simply retried.
const EINTR: isize = -4;

// The kernel starts a static executable at `_start` with `rsp` pointing at `argc`,
// 16-byte aligned, and no return address. Rust functions assume the System V call
// convention (rsp ≡ 8 mod 16 at entry, as after a `call`), so three instructions set that
// up: clear the frame pointer (end of the frame chain), align, and `call` into Rust, which
// never returns (`ud2` traps if it somehow did).
global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "xor ebp, ebp",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym tiny_main,
);

/// `write(fd, buf, len)`; returns the byte count or a negative errno.
fn sys_write(fd: usize, buf: &[u8]) -> isize {
    let ret: isize;
    // SAFETY: system call 1 (`write`) only reads `buf.len()` bytes at `buf.as_ptr()`,
    // which the slice guarantees are readable; the kernel preserves every register except
    // `rax` (the result) and `rcx`/`r11` (declared clobbered), and does not use our stack.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") SYS_WRITE => ret,
            in("rdi") fd,
            in("rsi") buf.as_ptr(),
            in("rdx") buf.len(),
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, readonly, preserves_flags),
        );
    }
    ret
}

/// Ends the process (all threads) with `code`.
fn sys_exit(code: i32) -> ! {
    // SAFETY: system call 231 (`exit_group`) does not return, reads no memory and takes
    // only the exit status in `rdi`.
    unsafe {
        asm!(
            "syscall",
            in("rax") SYS_EXIT_GROUP,
            in("rdi") code as isize,
            options(noreturn, nostack),
        );
    }
}

/// Writes all of `buf` to `fd`; gives up silently on an error (a closed pipe included:
/// `mynah-tiny | head` is not a failure).
fn write_all(fd: usize, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match sys_write(fd, buf) {
            EINTR => continue,
            n if n <= 0 => return false,
            n => buf = buf.get(n as usize..).unwrap_or(&[]),
        }
    }
    true
}

/// A small output buffer, so that a character is not a system call.
struct Out {
    fd: usize,
    buf: [u8; 256],
    len: usize,
    ok: bool,
}

impl Out {
    const fn new(fd: usize) -> Self {
        Out {
            fd,
            buf: [0; 256],
            len: 0,
            ok: true,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len == self.buf.len() {
                self.flush();
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        if bytes.last() == Some(&b'\n') {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.ok {
            self.ok = write_all(self.fd, self.buf.get(..self.len).unwrap_or(&[]));
        }
        self.len = 0;
    }
}

extern "C" fn tiny_main() -> ! {
    let mut out = Out::new(1);
    let result = mynah_device::run(&mut |bytes| out.push(bytes));
    out.flush();
    match result {
        Ok(_) => sys_exit(0),
        Err(_) => {
            let mut err = Out::new(2);
            err.push(b"mynah-tiny: ");
            err.push(mynah_device::LOAD_ERROR.as_bytes());
            sys_exit(1)
        }
    }
}

// Without libc nobody provides the four memory functions the compiler emits calls to
// (`core` relies on them for copies, fills and slice comparison), so they are defined
// here. `rep movsb` / `rep stosb` are the x86 string instructions made for exactly this:
// one instruction, fast on every CPU since Ivy Bridge ("ERMSB"), and a few bytes of code.
// They are `#[no_mangle]` (flagged `unsafe`: the symbol must be unique in the link; no
// other library is linked) and `unsafe extern "C"`: callers must pass valid pointers, the
// contract C gives them.

/// C `memcpy`.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes, not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges; the direction flag is clear on entry to
    // any function (System V ABI), so `rep movsb` copies forwards `rcx` bytes.
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    dst
}

/// C `memmove`: like `memcpy` but the ranges may overlap.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // `dst` is below `src` or past its end: a forward copy never reads a byte it
        // already overwrote.
        // SAFETY: the caller guarantees both ranges.
        return unsafe { memcpy(dst, src, n) };
    }
    // Overlap with `dst` above `src`: copy backwards, from the last byte, with the
    // direction flag set (`std`) and cleared again (`cld`) as the ABI requires.
    // SAFETY: the caller guarantees both ranges; `n >= 1` here since the test above holds
    // for n = 0, so `n - 1` does not wrap.
    unsafe {
        asm!(
            "std",
            "rep movsb",
            "cld",
            inout("rcx") n => _,
            inout("rdi") dst.add(n - 1) => _,
            inout("rsi") src.add(n - 1) => _,
            options(nostack),
        );
    }
    dst
}

/// C `memset`.
///
/// # Safety
/// `dst` writable for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range; `rep stosb` stores `al` `rcx` times forwards.
    unsafe {
        asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            in("al") c as u8,
            options(nostack, preserves_flags),
        );
    }
    dst
}

/// C `memcmp` (and `bcmp`, which only needs zero / non-zero).
///
/// # Safety
/// `a` and `b` readable for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: `i < n` and the caller guarantees `n` readable bytes at each pointer.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// C `bcmp`: zero when the ranges are equal.
///
/// # Safety
/// `a` and `b` readable for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as `memcmp`.
    unsafe { memcmp(a, b, n) }
}

/// Reports where the panic happened (the message itself would need `core::fmt`, kilobytes
/// of code) and exits with status 101, as a Rust program does.
#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let mut err = Out::new(2);
    let mut line = [0u8; 10];
    err.push(b"mynah-tiny: panic at ");
    match info.location() {
        Some(l) => {
            err.push(l.file().as_bytes());
            err.push(b":");
            err.push(mynah_device::decimal(l.line(), &mut line));
        }
        None => err.push(b"?"),
    }
    err.push(b"\n");
    sys_exit(101)
}
