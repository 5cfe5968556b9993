//! The int4 × int16 matrix kernel in ARMv7E-M assembly (`SMLAD`, `SXTB16`), compiled only
//! with `cfg(mynah_dsp)`. It computes what `kernels::int4::pair_sums_model` computes, the
//! same terms in the same order.
//!
//! A word of 8 packed weights `W` (two per byte, low nibble first) is unpacked without
//! leaving the registers: `L = (W << 4) & 0xF0F0F0F0` keeps the low nibbles, each as the
//! high half of its byte (`16 · w`), `H = W & 0xF0F0F0F0` the high nibbles; `SXTB16` of `L`
//! and of `L` rotated by 8 (and the same of `H`) sign-extends them to the halfword pairs
//! `[16w0, 16w4] [16w2, 16w6] [16w1, 16w5] [16w3, 16w7]`, which meet the activation words
//! `[x0, x4] [x2, x6] [x1, x5] [x3, x7]` (`XpMut::set_i4`) in four `SMLAD`. The sums are
//! `16 ·` the true ones; the caller shifts them back.

use crate::kernels::int4::pair_count;
use crate::kernels::Xp;

/// For `k < q = pair_count(..)`: `out[2k]`, `out[2k + 1]` = `16 ·` the sums over the first
/// `8·groups` columns of the rows of `w` at `k·stride` and `k·stride + b_off` (bytes),
/// against the vector `xp` holds. Returns `q`. Any arguments are safe: `pair_count` keeps
/// every access in bounds, and 0 pairs of rows runs nothing.
///
/// Per 8 columns of two rows (16 multiply-accumulates): two `LDRD` of the activations;
/// per row one `LDR` of 8 weights, two `AND` (one with the shifted word), four `SXTB16`,
/// four `SMLAD`: 24 instructions. 16 columns per iteration, then a compare with the end of
/// the activations and a branch (51 for 32 multiply-accumulates, 1.59 each), entered in
/// the middle when the number of 8-column groups is odd; per pair of rows 17 more.
#[inline]
pub(in crate::kernels) fn pair_sums(
    w: &[u8],
    b_off: usize,
    stride: usize,
    groups: usize,
    xp: Xp<'_>,
    out: &mut [i32],
) -> usize {
    let x = xp.as_slice();
    let pairs = pair_count(w.len(), b_off, stride, groups, out.len(), x.len());
    if pairs == 0 {
        return 0;
    }
    // Per pair the row pointer advances 4·groups bytes in the loop, then `skip` to the next
    // pair (`pair_count` guarantees stride >= 4·groups).
    let skip = stride - 4 * groups;
    // SAFETY:
    // - Memory read: for each pair k < `pairs`, `4·groups` bytes of `w` at `k·stride` and
    //   at `k·stride + b_off`, as 32-bit `LDR`s. `pa` starts at `w.as_ptr()`, advances by 4
    //   per load of the first row and by `skip` after each pair, so pair k starts at
    //   `k·stride`; the second row is addressed as `[pa, b_off]`. `pair_count` guarantees
    //   `(pairs - 1)·stride + b_off + 4·groups <= w.len()`, the end of the farthest row
    //   read (with `b_off` 0, the first row's): every byte read is inside `w`. The
    //   activations: `8·groups <= x.len()` halfwords of `x` per pair (two `LDRD` of 8 bytes
    //   per 8 columns), from its start each time; `x_end` (the loop's end) is `x.as_ptr()
    //   + 8·groups` halfwords, inside or one past `x`, and only compared, never read. And
    //   the block's own 24 bytes below the stack pointer.
    // - Memory written: `2·pairs <= out.len()` words of `out` (`STRD`, post-incremented
    //   from `out.as_mut_ptr()`), through the exclusive borrow; and 24 bytes below the
    //   stack pointer (the loop constants), released before the block ends (`sp` restored;
    //   no `nostack`, so the compiler allows for it). No `nomem` or `readonly`: the
    //   compiler assumes memory may have changed.
    // - Alignment: `LDRD`/`STRD` need word-aligned addresses on ARMv7-M: `x` is
    //   word-aligned (`Xp`'s two constructors) and advances by 8; `out` is `[i32]`; the
    //   stack pointer is 8-aligned (AAPCS) and moves by 24. The weight `LDR`s may be
    //   unaligned (rows of `ceil(cols / 2)` bytes start anywhere): ARMv7-M performs
    //   unaligned `LDR` on Normal memory (flash, SRAM) unless CCR.UNALIGN_TRP is set, the
    //   same assumption LLVM makes for these targets, and `kernels::arm_dsp::quad_sums`.
    // - Registers: the inputs are `inout` copies consumed here (`=> _`); the accumulators
    //   and the activation words are scratch outputs. `out(reg)`/`inout(reg)` (not
    //   `lateout`) give every operand its own register, as `LDRD` with writeback requires
    //   (`px` differs from the two destinations). 13 registers: all of r0-r6, r8-r12 and
    //   lr (r7 is the frame pointer); were one unavailable, allocation would fail at
    //   compile time, never silently.
    // - Flags: `CMP` and `SUBS` set N, Z, C, V; `SMLAD` may set Q (only on a signed
    //   overflow of an accumulation, which the runtime's bounds exclude);
    //   `preserves_flags` is not given, so the compiler assumes all of APSR clobbered.
    // - Loops: `pairs >= 1` and `groups >= 1`; the inner loop runs until `px` reaches
    //   `x_end`, which it meets exactly: it starts at `x` and advances by 8 halfwords per
    //   block, `groups` blocks in all (the middle entry for odd `groups` makes the first
    //   iteration a single block).
    unsafe {
        core::arch::asm!(
            // Loop constants (8-byte aligned): [x, x_end, skip, pairs, out, odd].
            "sub sp, sp, #24",
            "strd {xa}, {xb}, [sp]",
            "strd {w}, {t}, [sp, #8]",
            "strd {px}, {u}, [sp, #16]",
            // Per pair of rows.
            "2:",
            "ldr {px}, [sp]",
            "ldr {t}, [sp, #20]",
            "movs {a0}, #0",
            "movs {a1}, #0",
            "cmp {t}, #0",
            "bne 4f",
            // 16 columns per iteration, 8 per block: x = [x0, x4] [x2, x6] [x1, x5]
            // [x3, x7]; the rows at [pa + b_off], then [pa] (post-incremented).
            "3:",
            "ldrd {xa}, {xb}, [{px}], #8",
            "ldrd {xc}, {xd}, [{px}], #8",
            "ldr {w}, [{pa}, {boff}]",
            "and {t}, {mask}, {w}, lsl #4",
            "and {w}, {w}, {mask}",
            "sxtb16 {u}, {t}",
            "smlad {a1}, {u}, {xa}, {a1}",
            "sxtb16 {t}, {t}, ror #8",
            "smlad {a1}, {t}, {xb}, {a1}",
            "sxtb16 {u}, {w}",
            "smlad {a1}, {u}, {xc}, {a1}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a1}, {w}, {xd}, {a1}",
            "ldr {w}, [{pa}], #4",
            "and {t}, {mask}, {w}, lsl #4",
            "and {w}, {w}, {mask}",
            "sxtb16 {u}, {t}",
            "smlad {a0}, {u}, {xa}, {a0}",
            "sxtb16 {t}, {t}, ror #8",
            "smlad {a0}, {t}, {xb}, {a0}",
            "sxtb16 {u}, {w}",
            "smlad {a0}, {u}, {xc}, {a0}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a0}, {w}, {xd}, {a0}",
            // An odd number of 8-column groups enters here, for the second half only.
            "4:",
            "ldrd {xa}, {xb}, [{px}], #8",
            "ldrd {xc}, {xd}, [{px}], #8",
            "ldr {w}, [{pa}, {boff}]",
            "and {t}, {mask}, {w}, lsl #4",
            "and {w}, {w}, {mask}",
            "sxtb16 {u}, {t}",
            "smlad {a1}, {u}, {xa}, {a1}",
            "sxtb16 {t}, {t}, ror #8",
            "smlad {a1}, {t}, {xb}, {a1}",
            "sxtb16 {u}, {w}",
            "smlad {a1}, {u}, {xc}, {a1}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a1}, {w}, {xd}, {a1}",
            "ldr {w}, [{pa}], #4",
            "and {t}, {mask}, {w}, lsl #4",
            "and {w}, {w}, {mask}",
            "sxtb16 {u}, {t}",
            "smlad {a0}, {u}, {xa}, {a0}",
            "sxtb16 {t}, {t}, ror #8",
            "smlad {a0}, {t}, {xb}, {a0}",
            "sxtb16 {u}, {w}",
            "smlad {a0}, {u}, {xc}, {a0}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a0}, {w}, {xd}, {a0}",
            "ldr {t}, [sp, #4]",
            "cmp {px}, {t}",
            "bne 3b",
            "ldr {t}, [sp, #16]",
            "strd {a0}, {a1}, [{t}], #8",
            "str {t}, [sp, #16]",
            "ldr {t}, [sp, #8]",
            "add {pa}, {pa}, {t}",
            "ldr {t}, [sp, #12]",
            "subs {t}, {t}, #1",
            "str {t}, [sp, #12]",
            "bne 2b",
            "add sp, sp, #24",
            pa = inout(reg) w.as_ptr() => _,
            boff = in(reg) b_off,
            mask = in(reg) 0xF0F0_F0F0u32,
            xa = inout(reg) x.as_ptr() => _,
            xb = inout(reg) x.as_ptr().wrapping_add(8 * groups) => _,
            w = inout(reg) skip => _,
            t = inout(reg) pairs => _,
            px = inout(reg) out.as_mut_ptr() => _,
            u = inout(reg) groups & 1 => _,
            xc = out(reg) _,
            xd = out(reg) _,
            a0 = out(reg) _,
            a1 = out(reg) _,
        );
    }
    pairs
}
