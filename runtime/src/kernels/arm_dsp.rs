//! The int8 × int16 matrix kernel in ARMv7E-M assembly (`SMLAD`, `SXTB16`), compiled only
//! with `cfg(mynah_dsp)` (see `runtime/build.rs`).
//!
//! Stable Rust has no DSP intrinsics (`core::arch::arm::__smlad` and `__sxtb16` are
//! unstable) and LLVM does not form `SMLAD` from int8 weights by itself (its
//! ARMParallelDSP pass pairs only 16-bit loads), so the loop is written out. It computes
//! what `kernels::quad_sums_model` computes, the same terms in the same order.

use super::{quad_count, Xp};

// The int4 kernel: the same discipline, nibbles unpacked to halfword pairs.
pub(super) mod i4;

/// For `k < q = quad_count(..)`: `out[4k..4k + 4]` = the sums over the first `8·groups`
/// columns of the rows of `w` at `k·stride + {0, b_off, c_off, c_off + b_off}`, against
/// the vector `xp` holds. Returns `q`. Any arguments are safe: `quad_count` keeps every
/// access in bounds, and 0 groups of rows runs nothing.
///
/// Per 4 columns of four rows (16 multiply-accumulates): one `LDRD` of the activations
/// `[x0, x2] [x1, x3]`; per row one `LDR` of 4 weights, `SXTB16` into `[w0, w2]` and
/// (rotated by 8) `[w1, w3]`, two `SMLAD`. 16 columns per iteration: 84 instructions +
/// `SUBS`/`BNE` for 64 multiply-accumulates (1.34 each), entered in the middle when the
/// number of 8-column groups is odd; per group of rows 20 more.
#[inline]
pub(super) fn quad_sums(
    w: &[i8],
    b_off: usize,
    c_off: usize,
    stride: usize,
    groups: usize,
    xp: Xp<'_>,
    out: &mut [i32],
) -> usize {
    let x = xp.as_slice();
    let quads = quad_count(w.len(), b_off, c_off, stride, groups, out.len(), x.len());
    if quads == 0 {
        return 0;
    }
    // Per group of rows the row pointers advance 8·groups in the loop, then `skip` to the
    // next group (`quad_count` guarantees stride >= 8·groups).
    let skip = stride - 8 * groups;
    // SAFETY:
    // - Memory read: for each group k < `quads`, `8·groups` bytes of `w` at each of
    //   `k·stride + {0, b_off, c_off, c_off + b_off}`, as 32-bit `LDR`s. `pa` starts at
    //   `w.as_ptr()` and `pc` at `w.as_ptr() + c_off`; each advances by 4 per load of its
    //   own row and by `skip` after each group, so group k starts at `k·stride` (+ `c_off`);
    //   the other two rows are addressed as `[pa, b_off]`, `[pc, b_off]`. `quad_count`
    //   guarantees `(quads - 1)·stride + c_off + b_off + 8·groups <= w.len()`, the end of
    //   the farthest row read: every byte read is inside `w`. The activations: `8·groups
    //   <= x.len()` halfwords of `x` per group (`LDRD`, 8 bytes), from its start each time.
    //   And the block's own 24 bytes below the stack pointer.
    // - Memory written: `4·quads <= out.len()` words of `out` (`STRD`, post-incremented
    //   from `out.as_mut_ptr()`), through the exclusive borrow; and 24 bytes below the
    //   stack pointer (the loop constants), released before the block ends (`sp`
    //   restored; no `nostack`, so the compiler allows for it). No `nomem` or `readonly`:
    //   the compiler assumes memory may have changed.
    // - Alignment: `LDRD`/`STRD` need word-aligned addresses on ARMv7-M: `x` is
    //   word-aligned (`Xp`'s two constructors: offset 0 of the `#[repr(C, align(4))]`
    //   `Reordered`, or a `u32` slice viewed as `i16`) and advances by 8; `out` is `[i32]`;
    //   the stack pointer is 8-aligned (AAPCS) and moves by 24. The weight `LDR`s may be
    //   unaligned (rows of a matrix whose width is not a multiple of 4 start anywhere):
    //   ARMv7-M performs unaligned `LDR` on Normal memory (flash, SRAM) unless
    //   CCR.UNALIGN_TRP is set, the same assumption LLVM makes for these targets (no
    //   `strict-align`: it emits unaligned word loads itself).
    // - Registers: the inputs are `inout` copies consumed here (`=> _`); the accumulators
    //   and `px` are scratch outputs. `out(reg)`/`inout(reg)` (not `lateout`) give every
    //   operand its own register, as `LDRD` with writeback requires (`px` differs from the
    //   two destinations). 13 registers: all of r0-r6, r8-r12 and lr (r7 is the frame
    //   pointer); were one unavailable (r6 when LLVM needs a base pointer), allocation
    //   would fail at compile time, never silently.
    // - Flags: `SUBS` and `MOVS` set N, Z, C, V; `SMLAD` may set Q (only on a signed
    //   overflow of an accumulation, which the runtime's bounds exclude);
    //   `preserves_flags` is not given, so the compiler assumes all of APSR clobbered.
    // - Loops: `quads >= 1` and `groups >= 1`, so `ceil(groups / 2) >= 1` and neither
    //   counter wraps; the middle entry (odd `groups`) makes the last of those iterations
    //   a half: `8·groups` columns in all.
    unsafe {
        core::arch::asm!(
            // Loop constants (8-byte aligned): [xp, iterations, skip, quads, out, odd].
            "sub sp, sp, #24",
            "strd {xa}, {xb}, [sp]",
            "strd {w}, {n}, [sp, #8]",
            "strd {px}, {t}, [sp, #16]",
            // Per group of four rows.
            "2:",
            "ldrd {px}, {n}, [sp]",
            "ldr {t}, [sp, #20]",
            "movs {a0}, #0",
            "movs {a1}, #0",
            "movs {a2}, #0",
            "movs {a3}, #0",
            "cmp {t}, #0",
            "bne 4f",
            // 16 columns per iteration, 4 per block: x = [x0, x2] [x1, x3]; the rows at
            // [pa + b_off], [pa], [pc + b_off], [pc] (`pa`, `pc` post-incremented).
            "3:",
            "ldrd {xa}, {xb}, [{px}], #8",
            "ldr {w}, [{pa}, {boff}]",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a1}, {t}, {xa}, {a1}",
            "smlad {a1}, {w}, {xb}, {a1}",
            "ldr {w}, [{pa}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a0}, {t}, {xa}, {a0}",
            "smlad {a0}, {w}, {xb}, {a0}",
            "ldr {w}, [{pc}, {boff}]",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a3}, {t}, {xa}, {a3}",
            "smlad {a3}, {w}, {xb}, {a3}",
            "ldr {w}, [{pc}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a2}, {t}, {xa}, {a2}",
            "smlad {a2}, {w}, {xb}, {a2}",
            "ldrd {xa}, {xb}, [{px}], #8",
            "ldr {w}, [{pa}, {boff}]",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a1}, {t}, {xa}, {a1}",
            "smlad {a1}, {w}, {xb}, {a1}",
            "ldr {w}, [{pa}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a0}, {t}, {xa}, {a0}",
            "smlad {a0}, {w}, {xb}, {a0}",
            "ldr {w}, [{pc}, {boff}]",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a3}, {t}, {xa}, {a3}",
            "smlad {a3}, {w}, {xb}, {a3}",
            "ldr {w}, [{pc}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a2}, {t}, {xa}, {a2}",
            "smlad {a2}, {w}, {xb}, {a2}",
            // An odd number of 8-column groups enters here, for the second half only.
            "4:",
            "ldrd {xa}, {xb}, [{px}], #8",
            "ldr {w}, [{pa}, {boff}]",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a1}, {t}, {xa}, {a1}",
            "smlad {a1}, {w}, {xb}, {a1}",
            "ldr {w}, [{pa}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a0}, {t}, {xa}, {a0}",
            "smlad {a0}, {w}, {xb}, {a0}",
            "ldr {w}, [{pc}, {boff}]",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a3}, {t}, {xa}, {a3}",
            "smlad {a3}, {w}, {xb}, {a3}",
            "ldr {w}, [{pc}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a2}, {t}, {xa}, {a2}",
            "smlad {a2}, {w}, {xb}, {a2}",
            "ldrd {xa}, {xb}, [{px}], #8",
            "ldr {w}, [{pa}, {boff}]",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a1}, {t}, {xa}, {a1}",
            "smlad {a1}, {w}, {xb}, {a1}",
            "ldr {w}, [{pa}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a0}, {t}, {xa}, {a0}",
            "smlad {a0}, {w}, {xb}, {a0}",
            "ldr {w}, [{pc}, {boff}]",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a3}, {t}, {xa}, {a3}",
            "smlad {a3}, {w}, {xb}, {a3}",
            "ldr {w}, [{pc}], #4",
            "sxtb16 {t}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a2}, {t}, {xa}, {a2}",
            "smlad {a2}, {w}, {xb}, {a2}",
            "subs {n}, {n}, #1",
            "bne 3b",
            "ldr {t}, [sp, #16]",
            "strd {a0}, {a1}, [{t}], #8",
            "strd {a2}, {a3}, [{t}], #8",
            "str {t}, [sp, #16]",
            "ldr {t}, [sp, #8]",
            "add {pa}, {pa}, {t}",
            "add {pc}, {pc}, {t}",
            "ldr {t}, [sp, #12]",
            "subs {t}, {t}, #1",
            "str {t}, [sp, #12]",
            "bne 2b",
            "add sp, sp, #24",
            pa = inout(reg) w.as_ptr() => _,
            pc = inout(reg) w.as_ptr().wrapping_add(c_off) => _,
            boff = in(reg) b_off,
            xa = inout(reg) x.as_ptr() => _,
            xb = inout(reg) groups.div_ceil(2) => _,
            w = inout(reg) skip => _,
            n = inout(reg) quads => _,
            px = inout(reg) out.as_mut_ptr() => _,
            a0 = out(reg) _,
            a1 = out(reg) _,
            a2 = out(reg) _,
            a3 = out(reg) _,
            t = inout(reg) groups & 1 => _,
        );
    }
    quads
}
