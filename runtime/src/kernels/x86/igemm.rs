//! AVX-512 VNNI GEMM whose rows are read in place: the rows of a dense GEMM, or the output
//! pixels of a convolution as one pointer per tap (an indirection, as XNNPACK's IGEMM: a tap
//! over the edge points at a row of the input zero point), so no im2col copy is made. Taps
//! are whole input pixels, so the convolution's input channels must be a multiple of 4 (one
//! packed group never straddles two taps).
//!
//! Here the activations are `vpdpbusd`'s unsigned operand, `x ^ 0x80 = x + 128`, and the
//! weights the signed one: the extra `128 * sum_k w[n, k]` is a per-channel constant, taken
//! out of the bias once per call instead of once per row. Each pair of channel blocks
//! accumulates in one 512-bit register (on Sapphire Rapids two 512-bit `vpdpbusd` issue per
//! cycle, twice the MACs of 256-bit ones); its requantization constants are built once per
//! call and serve every row, and each row's pair is requantized in that register and written
//! with one 16-byte store.
//!
//! Exact: `|sum((x + 128) * w)| <= 65536 * 255 * 128 < 2^31` (at most 65,536 reduction steps,
//! checked at load), and the correction is exact in wrapping int32 arithmetic since the true
//! result fits.

use core::arch::x86_64::*;

use super::vnni::Requant16;
use crate::kernels::gemm::{block_tables, whole_block, Block, Rows, KR, NR};
use crate::kernels::int4::Values;
use crate::kernels::{ConvGeometry, Requant};

/// Most taps (`kernel_h * kernel_w`) of a convolution read in place.
pub(crate) const MAX_TAPS: usize = 64;

/// Channel blocks whose requantization constants are held at once (4 pairs).
const CHUNK_BLOCKS: usize = 8;

/// Where the rows of a GEMM are read: each row is `taps` runs of `run` bytes, `run` a
/// multiple of 4. Built only through [`RowSource::dense`] and [`RowSource::conv`], which check
/// that every pointer [`RowSource::fill`] makes has `run` readable bytes.
pub(crate) struct RowSource<'a> {
    kind: Kind<'a>,
    rows: usize,
    taps: usize,
    run: usize,
    /// Convolutions: tap `t`'s input at `tap_offset[t]` elements from the window's first
    /// pixel, when the window is inside the input.
    tap_offset: [usize; MAX_TAPS],
}

enum Kind<'a> {
    /// Row `m` is `data[m * run..][..run]`.
    Dense(&'a [i8]),
    /// Row `m` is output pixel `m` of `geometry`: tap `t` reads the input pixel under it.
    Conv {
        geometry: &'a ConvGeometry,
        input: &'a [i8],
        zero_row: &'a [i8],
    },
}

impl<'a> RowSource<'a> {
    /// `rows` rows of `depth` int8 values each, one after another in `data`.
    pub(crate) fn dense(data: &'a [i8], rows: usize, depth: usize) -> Option<Self> {
        (depth > 0 && depth.is_multiple_of(KR) && data.len() >= rows.checked_mul(depth)?).then_some(
            Self {
                kind: Kind::Dense(data),
                rows,
                taps: 1,
                run: depth,
                tap_offset: [0; MAX_TAPS],
            },
        )
    }

    /// The output pixels of convolution `g` over the NHWC `input`; `zero_row` holds at least
    /// `in_c` copies of the input zero point. `None` unless `in_c` is a multiple of 4 and the
    /// kernel has at most [`MAX_TAPS`] taps.
    pub(crate) fn conv(g: &'a ConvGeometry, input: &'a [i8], zero_row: &'a [i8]) -> Option<Self> {
        let taps = g.kernel_h * g.kernel_w;
        let fits = g.in_c > 0
            && g.in_c.is_multiple_of(KR)
            && (1..=MAX_TAPS).contains(&taps)
            && zero_row.len() >= g.in_c
            && input.len() >= g.batch * g.in_h * g.in_w * g.in_c;
        if !fits {
            return None;
        }
        let mut tap_offset = [0; MAX_TAPS];
        for (t, offset) in tap_offset.iter_mut().enumerate().take(taps) {
            let (ky, kx) = (t / g.kernel_w, t % g.kernel_w);
            *offset = (ky * g.dilation_h * g.in_w + kx * g.dilation_w) * g.in_c;
        }
        Some(Self {
            kind: Kind::Conv {
                geometry: g,
                input,
                zero_row,
            },
            rows: g.batch * g.out_h * g.out_w,
            tap_offset,
            taps,
            run: g.in_c,
        })
    }

    /// Reduction depth of every row.
    fn depth(&self) -> usize {
        self.taps * self.run
    }

    /// The first byte of each tap of rows `m..m + ptrs.len()` (rows of this source); each
    /// has `run` readable bytes behind it.
    #[inline(always)]
    fn fill(&self, m: usize, ptrs: &mut [[*const i8; MAX_TAPS]]) {
        match &self.kind {
            Kind::Dense(data) => {
                for (r, p) in ptrs.iter_mut().enumerate() {
                    p[0] = data.as_ptr().wrapping_add((m + r) * self.run);
                }
            }
            Kind::Conv {
                geometry: g,
                input,
                zero_row,
            } => {
                // One division per tile; the next rows step along the output row.
                let pixels = g.out_h * g.out_w;
                let (mut b, mut oy, mut ox) = (m / pixels, (m % pixels) / g.out_w, m % g.out_w);
                for p in ptrs.iter_mut() {
                    conv_taps(
                        g,
                        input,
                        zero_row,
                        &self.tap_offset,
                        self.taps,
                        (b, oy, ox),
                        p,
                    );
                    ox += 1;
                    if ox == g.out_w {
                        (ox, oy) = (0, oy + 1);
                        if oy == g.out_h {
                            (oy, b) = (0, b + 1);
                        }
                    }
                }
            }
        }
    }
}

/// The taps of output pixel `(b, oy, ox)` of `g`: input pixels, or `zero_row` over the edge.
#[inline(always)]
fn conv_taps(
    g: &ConvGeometry,
    input: &[i8],
    zero_row: &[i8],
    tap_offset: &[usize; MAX_TAPS],
    taps: usize,
    (b, oy, ox): (usize, usize, usize),
    ptrs: &mut [*const i8; MAX_TAPS],
) {
    // Out-of-range coordinates wrap to huge values: one compare each.
    let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
    let ix0 = (ox * g.stride_w).wrapping_sub(g.pad_left);
    let last_y = iy0.wrapping_add((g.kernel_h - 1) * g.dilation_h);
    let last_x = ix0.wrapping_add((g.kernel_w - 1) * g.dilation_w);
    let pixel = |iy: usize, ix: usize| {
        input
            .as_ptr()
            .wrapping_add(((b * g.in_h + iy) * g.in_w + ix) * g.in_c)
    };
    if iy0 < g.in_h && last_y < g.in_h && ix0 < g.in_w && last_x < g.in_w {
        let origin = pixel(iy0, ix0);
        // Whole runs of 8 (past `taps` too; those pointers are never read): a fixed-length
        // inner loop LLVM always vectorizes, where it sometimes left the `taps`-long one
        // scalar.
        let runs = ptrs.chunks_exact_mut(8).zip(tap_offset.chunks_exact(8));
        for (p, offsets) in runs.take(taps.div_ceil(8)) {
            for (p, &offset) in p.iter_mut().zip(offsets) {
                *p = origin.wrapping_add(offset);
            }
        }
        return;
    }
    let mut taps = ptrs.iter_mut();
    for ky in 0..g.kernel_h {
        let iy = iy0.wrapping_add(ky * g.dilation_h);
        for kx in 0..g.kernel_w {
            let ix = ix0.wrapping_add(kx * g.dilation_w);
            if let Some(p) = taps.next() {
                *p = if iy < g.in_h && ix < g.in_w {
                    pixel(iy, ix)
                } else {
                    zero_row.as_ptr()
                };
            }
        }
    }
}

/// The AVX-512 VNNI tier's whole int8 GEMM (`table::GemmKernels::in_place`): dense rows
/// (`direct`: unpadded int8) and convolutions read in place, without the gather. Returns
/// `false`, having done nothing, for shapes it does not take.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_in_place(
    rows: usize,
    outputs: usize,
    depth: usize,
    direct: bool,
    a: Rows<'_>,
    w: &[i8],
    q: &Requant<'_>,
    scratch: &mut [i8],
    out: &mut [i8],
) -> bool {
    // The kernel takes each channel's weight sum out of its bias once per call: a pass over
    // the weights, paid back only over many rows (a single-row GEMM would do twice the work).
    const MIN_ROWS: usize = 16;
    if rows < MIN_ROWS {
        return false;
    }
    let source = match a {
        Rows::Dense(Values::I8(data)) if direct => RowSource::dense(data, rows, depth),
        // Input channels not in fours (first layers): each kernel row's run of bytes at once.
        Rows::Conv {
            geometry,
            input: Values::I8(input),
            zero_point,
        } if !geometry.in_c.is_multiple_of(KR) => {
            return super::conv_narrow::conv_narrow(
                geometry, input, zero_point, w, outputs, q, out,
            );
        }
        Rows::Conv {
            geometry,
            input: Values::I8(input),
            zero_point,
        } if scratch.len() >= geometry.in_c => {
            let zero_row = &mut scratch[..geometry.in_c];
            zero_row.fill(zero_point);
            RowSource::conv(geometry, input, zero_row)
        }
        _ => None,
    };
    source.is_some_and(|source| igemm(&source, w, outputs, q, out))
}

/// `out[m, n] = requant(sum_k row_m[k] * w[n, k])` for every row of `rows` and `n < outputs`,
/// `w` packed as `gemm::pack` does with depth `rows.depth()`. Returns `false`, having done
/// nothing, if a buffer is too short.
fn igemm(rows: &RowSource<'_>, w: &[i8], outputs: usize, q: &Requant<'_>, out: &mut [i8]) -> bool {
    let q_fits = |t: &[i32]| t.len() >= outputs;
    let fits = w.len() >= outputs.div_ceil(NR) * NR * rows.depth()
        && out.len() >= rows.rows * outputs
        && q_fits(q.multiplier)
        && q_fits(q.shift)
        && q.bias.is_none_or(q_fits);
    if fits {
        // SAFETY: reached only through the AVX-512 VNNI table (see `Isa::kernels`); the
        // lengths are checked above and the row pointers by `RowSource`'s constructors.
        unsafe { igemm_vnni(rows, w, outputs, q, out) };
    }
    fits
}

/// # Safety
/// The CPU has AVX-512 F/BW/VL/VNNI; the buffers hold what [`igemm`] checks.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn igemm_vnni(
    rows: &RowSource<'_>,
    w: &[i8],
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) {
    let blocks = outputs.div_ceil(NR);
    let block_bytes = rows.depth() * NR;
    let mut ptrs = [[core::ptr::null::<i8>(); MAX_TAPS]; 8];
    for c0 in (0..blocks).step_by(CHUNK_BLOCKS) {
        let chunk = CHUNK_BLOCKS.min(blocks - c0);
        // SAFETY: blocks `c0..c0 + chunk` lie within `w`.
        let w_chunk = unsafe { w.as_ptr().add(c0 * block_bytes) };
        let pair = |p: usize| {
            let tables = |nb: usize| {
                let n0 = (c0 + nb) * NR;
                let nr = NR.min(outputs - n0);
                let copies;
                let block = block_tables!(q, n0, nr, copies);
                // SAFETY: block `nb` of the chunk lies within `w`.
                let sums = unsafe { weight_sums(w_chunk.add(nb * block_bytes), rows.depth()) };
                let bias: [i32; NR] =
                    core::array::from_fn(|j| block.bias[j].wrapping_sub(sums[j].wrapping_mul(128)));
                (bias, *block.multiplier, *block.shift)
            };
            let lower = tables(2 * p);
            let upper = if 2 * p + 1 < chunk {
                tables(2 * p + 1)
            } else {
                ([0; NR], [0; NR], [0; NR])
            };
            Requant16::new(&as_block(&lower), &as_block(&upper), q)
        };
        let first = pair(0);
        let mut requant = [first; CHUNK_BLOCKS / 2];
        for (p, r) in requant
            .iter_mut()
            .enumerate()
            .take(chunk.div_ceil(2))
            .skip(1)
        {
            *r = pair(p);
        }
        let chunk = Chunk {
            w: w_chunk,
            block_bytes,
            blocks: chunk,
            requant,
            outputs,
            n0: c0 * NR,
        };
        let mut m = 0;
        while m < rows.rows {
            let left = rows.rows - m;
            let out_rows = &mut out[m * outputs..];
            // Few channels: 8 rows per tile keep 16 accumulators busy.
            let step = match left {
                8.. if chunk.blocks <= 4 => 8,
                4.. => 4,
                _ => 1,
            };
            // SAFETY: as this function's; rows `m..m + step` exist and `out_rows` holds them.
            unsafe {
                match step {
                    8 => chunk.tile::<8>(rows, first_rows(&mut ptrs, rows, m), out_rows),
                    4 => chunk.tile::<4>(rows, first_rows(&mut ptrs, rows, m), out_rows),
                    _ => chunk.tile::<1>(rows, first_rows(&mut ptrs, rows, m), out_rows),
                }
            }
            m += step;
        }
    }
}

/// Up to [`CHUNK_BLOCKS`] channel blocks of the weights, with their requantization.
struct Chunk {
    /// The first block's packed weights.
    w: *const i8,
    block_bytes: usize,
    /// Blocks in the chunk.
    blocks: usize,
    /// One per pair of blocks.
    requant: [Requant16; CHUNK_BLOCKS / 2],
    /// Output row length.
    outputs: usize,
    /// The chunk's first channel.
    n0: usize,
}

/// The tap pointers of rows `m..m + R`, in the first `R` entries of `ptrs`.
#[inline(always)]
fn first_rows<'p, const R: usize>(
    ptrs: &'p mut [[*const i8; MAX_TAPS]; 8],
    rows: &RowSource<'_>,
    m: usize,
) -> &'p [[*const i8; MAX_TAPS]; R] {
    let (head, _) = ptrs.split_first_chunk_mut::<R>().expect("R <= 8");
    rows.fill(m, head);
    head
}

impl Chunk {
    /// The rows at `ptrs` by every block of the chunk, written into the chunk's channels of
    /// the `R` output rows at `out`.
    ///
    /// # Safety
    /// As [`igemm_vnni`]'s; `out` holds `R` rows.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn tile<const R: usize>(
        &self,
        rows: &RowSource<'_>,
        ptrs: &[[*const i8; MAX_TAPS]; R],
        out: &mut [i8],
    ) {
        let mut nb = 0;
        while nb < self.blocks {
            // SAFETY: each arm's blocks `nb..nb + B` (`2 P`) lie within the chunk.
            nb += unsafe {
                match self.blocks - nb {
                    8.. if R <= 4 => self.pairs_of::<R, 4>(rows, ptrs, nb, out),
                    4.. => self.pairs_of::<R, 2>(rows, ptrs, nb, out),
                    2.. => self.pairs_of::<R, 1>(rows, ptrs, nb, out),
                    _ => self.last_block::<R>(rows, ptrs, nb, out),
                }
            };
        }
    }

    /// Blocks `nb..nb + 2 P` (`nb` even) of the tile, each pair in one 512-bit register;
    /// returns `2 P`.
    ///
    /// # Safety
    /// As [`Chunk::tile`]'s; the blocks lie within the chunk.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn pairs_of<const R: usize, const P: usize>(
        &self,
        rows: &RowSource<'_>,
        ptrs: &[[*const i8; MAX_TAPS]; R],
        nb: usize,
        out: &mut [i8],
    ) -> usize {
        // SAFETY: the caller's.
        let acc = unsafe {
            let w = self.w.add(nb * self.block_bytes);
            dot_pairs::<R, P>(rows, ptrs, w, self.block_bytes)
        };
        for (p, acc) in acc.iter().enumerate() {
            let pair = nb / 2 + p;
            for (r, &acc) in acc.iter().enumerate() {
                // SAFETY: `out` holds the tile's `R` rows; the pair's blocks are whole or
                // the chunk's last.
                unsafe { self.store_pair(pair, acc, &mut out[r * self.outputs..]) };
            }
        }
        2 * P
    }

    /// Requantizes pair `pair` of the chunk's blocks (accumulators of blocks `2 pair` and
    /// `2 pair + 1` in the low and high halves of `acc`) and writes its channels of the
    /// output row at `row`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/VL; `row` holds the chunk's channels.
    #[inline(always)]
    unsafe fn store_pair(&self, pair: usize, acc: __m512i, row: &mut [i8]) {
        let n0 = self.n0 + 2 * pair * NR;
        let count = (2 * NR).min(self.outputs - n0);
        // SAFETY: the caller's CPU has AVX-512 F/BW/VL; each store writes the `count` bytes
        // of `dst` only.
        unsafe {
            // The saturating narrow finishes the clamp (see `Requant16::apply`).
            let bytes = _mm512_cvtsepi32_epi8(self.requant[pair].apply(acc));
            let dst = &mut row[n0..][..count];
            // Whole pairs and blocks with plain stores (masked stores measured slower on
            // Zen 4).
            match count {
                16 => _mm_storeu_si128(dst.as_mut_ptr().cast(), bytes),
                8 => _mm_storel_epi64(dst.as_mut_ptr().cast(), bytes),
                _ => _mm_mask_storeu_epi8(dst.as_mut_ptr(), ((1u32 << count) - 1) as u16, bytes),
            }
        }
    }

    /// The chunk's last block `nb` (`nb` even, the pair's second block missing); returns 1.
    ///
    /// # Safety
    /// As [`Chunk::tile`]'s; block `nb` lies within the chunk.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn last_block<const R: usize>(
        &self,
        rows: &RowSource<'_>,
        ptrs: &[[*const i8; MAX_TAPS]; R],
        nb: usize,
        out: &mut [i8],
    ) -> usize {
        // SAFETY: the caller's.
        let [acc] = unsafe {
            let w = self.w.add(nb * self.block_bytes);
            dot::<R, 1>(rows, ptrs, w, self.block_bytes)
        };
        for (r, &acc) in acc.iter().enumerate() {
            // SAFETY: as in `pairs_of`; the upper half's channels do not exist and are not
            // written.
            unsafe {
                let acc = _mm512_zextsi256_si512(acc);
                self.store_pair(nb / 2, acc, &mut out[r * self.outputs..]);
            }
        }
        1
    }
}

/// Raw dot products `acc[b][r]` of the `R` rows with the `B` blocks at `w` (`block_bytes`
/// apart), the activations offset by 128 (see the module's doc).
///
/// # Safety
/// As [`tile`]'s, with `B` blocks at `w`.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dot<const R: usize, const B: usize>(
    rows: &RowSource<'_>,
    ptrs: &[[*const i8; MAX_TAPS]; R],
    w: *const i8,
    block_bytes: usize,
) -> [[__m256i; R]; B] {
    // Opaque to LLVM, which otherwise flips the 4 bytes before broadcasting them: a shuffle
    // per row and group where a broadcast load needs none.
    let flip = core::hint::black_box(_mm256_set1_epi8(0x80u8 as i8));
    let mut acc = [[_mm256_setzero_si256(); R]; B];
    let mut wp = w;
    #[allow(clippy::needless_range_loop)] // `t` indexes the taps of every row
    for t in 0..rows.taps {
        let xs: [*const i8; R] = core::array::from_fn(|r| ptrs[r][t]);
        for j in (0..rows.run).step_by(KR) {
            // SAFETY: group `t * run / 4 + j / 4` of each block lies within it.
            let wv: [__m256i; B] = core::array::from_fn(|b| unsafe {
                _mm256_loadu_si256(wp.add(b * block_bytes).cast())
            });
            for r in 0..R {
                // SAFETY: `j + 4 <= run` bytes are readable at each tap pointer.
                let x4 = unsafe { xs[r].add(j).cast::<i32>().read_unaligned() };
                let x = _mm256_xor_si256(_mm256_set1_epi32(x4), flip);
                for b in 0..B {
                    acc[b][r] = _mm256_dpbusd_epi32(acc[b][r], x, wv[b]);
                }
            }
            // SAFETY: stays within (or one past) the block's `block_bytes`.
            wp = unsafe { wp.add(NR * KR) };
        }
    }
    acc
}

/// Raw dot products `acc[p][r]` of the `R` rows with the `P` pairs of blocks at `w`
/// (`block_bytes` apart; pair `p`'s first block in the low half of a 512-bit accumulator,
/// its second in the high half), the activations offset by 128 (see the module's doc). On
/// cores with two 512-bit `vpdpbusd` ports (Sapphire Rapids) this doubles the rate of 256-bit
/// registers; the weights of a pair meet in a register with one `vinserti64x4` per group.
///
/// # Safety
/// As [`tile`]'s, with `2 P` blocks at `w`.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dot_pairs<const R: usize, const P: usize>(
    rows: &RowSource<'_>,
    ptrs: &[[*const i8; MAX_TAPS]; R],
    w: *const i8,
    block_bytes: usize,
) -> [[__m512i; R]; P] {
    // Opaque to LLVM, as in `dot`.
    let flip = core::hint::black_box(_mm512_set1_epi8(0x80u8 as i8));
    let mut acc = [[_mm512_setzero_si512(); R]; P];
    let mut wp = w;
    #[allow(clippy::needless_range_loop)] // `t` indexes the taps of every row
    for t in 0..rows.taps {
        let xs: [*const i8; R] = core::array::from_fn(|r| ptrs[r][t]);
        for j in (0..rows.run).step_by(KR) {
            // SAFETY: group `t * run / 4 + j / 4` of each block lies within it.
            let wv: [__m512i; P] = core::array::from_fn(|p| unsafe {
                let lower = _mm256_loadu_si256(wp.add(2 * p * block_bytes).cast());
                let upper = _mm256_loadu_si256(wp.add((2 * p + 1) * block_bytes).cast());
                _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lower), upper)
            });
            for r in 0..R {
                // SAFETY: `j + 4 <= run` bytes are readable at each tap pointer.
                let x4 = unsafe { xs[r].add(j).cast::<i32>().read_unaligned() };
                let x = _mm512_xor_si512(_mm512_set1_epi32(x4), flip);
                for p in 0..P {
                    acc[p][r] = _mm512_dpbusd_epi32(acc[p][r], x, wv[p]);
                }
            }
            // SAFETY: stays within (or one past) the block's `block_bytes`.
            wp = unsafe { wp.add(NR * KR) };
        }
    }
    acc
}

/// One block's tables as a [`Block`].
fn as_block(t: &([i32; NR], [i32; NR], [i32; NR])) -> Block<'_> {
    Block {
        bias: &t.0,
        multiplier: &t.1,
        shift: &t.2,
    }
}

/// Each channel's `sum_k w[n, k]` of the packed block at `w` (`depth` reduction steps).
///
/// # Safety
/// As [`igemm_vnni`]'s; `w` holds `depth * NR` bytes.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn weight_sums(w: *const i8, depth: usize) -> [i32; NR] {
    let ones = _mm256_set1_epi8(1);
    let mut acc = _mm256_setzero_si256();
    for g in 0..depth / KR {
        // SAFETY: group `g` lies within the block.
        let v = unsafe { _mm256_loadu_si256(w.add(g * NR * KR).cast()) };
        acc = _mm256_dpbusd_epi32(acc, ones, v);
    }
    let mut sums = [0; NR];
    // SAFETY: `sums` is 32 writable bytes; storeu has no alignment need.
    unsafe { _mm256_storeu_si256(sums.as_mut_ptr().cast(), acc) };
    sums
}
