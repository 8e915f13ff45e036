//! AVX-512 VNNI convolution for layers with few input channels (a network's first layer: RGB
//! pixels, one audio channel), whose taps are too short for the in-place GEMM's whole-pixel
//! groups of 4 and which the gathering GEMM spends most of its time copying.
//!
//! One 512-bit register holds 4 output pixels, one per 128-bit lane, and in each lane 4 output
//! channels. Per kernel row, each pixel's `kernel_w * in_c` input bytes (contiguous in NHWC)
//! are loaded into its lane by a masked load that also fills the taps over the edge with the
//! input zero point; each group of 4 bytes is then repeated across the lane (`vpshufd`) and
//! meets 4 channels' weights for those 4 positions in one `vpdpbusd`. As in `igemm`, the
//! activations are the unsigned operand (`x ^ 0x80`) and `128 * sum(w)` leaves the bias once
//! per call; the sums stay far inside int32 (at most 16 bytes per kernel row times
//! `kernel_h`, each below `255 * 128`).

use core::arch::x86_64::*;

use super::vnni::Requant16;
use crate::kernels::gemm::{padded_depth, Block, KR, NR};
use crate::kernels::{ConvGeometry, Requant};

/// Output pixels per pass: one per 128-bit lane.
const PIXELS: usize = 4;
/// Most input bytes of one kernel row (`kernel_w * in_c`): one 128-bit lane.
const MAX_RUN: usize = 16;
/// Most output channels: 16 accumulators of 4 channels.
const MAX_OUTPUTS: usize = 64;
/// Most weight registers (`kernel_h * groups * outputs / 4`), on the stack (10 KB).
const MAX_WEIGHTS: usize = 160;
/// Most input registers of a pass (`kernel_h * groups`), on the stack.
const MAX_INPUTS: usize = 40;

/// Convolution `g` (int8) over the NHWC `input` with the weights `w` packed as `gemm::pack`
/// does for its im2col depth, into `out` (`outputs` channels per pixel). Returns `false`,
/// having done nothing, unless the shape suits the kernel (a kernel row of at most 16 input
/// bytes, no horizontal dilation, at most 64 output channels in fours) and the buffers hold
/// the geometry's elements.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_narrow(
    g: &ConvGeometry,
    input: &[i8],
    zero_point: i8,
    w: &[i8],
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) -> bool {
    let run = g.kernel_w * g.in_c;
    let quads = outputs / 4;
    let q_fits = |t: &[i32]| t.len() >= outputs;
    let fits = g.dilation_w == 1
        && (1..=MAX_RUN).contains(&run)
        && g.kernel_h > 0
        && outputs.is_multiple_of(4)
        && (1..=MAX_OUTPUTS).contains(&outputs)
        && g.kernel_h * run.div_ceil(KR) * quads <= MAX_WEIGHTS
        && g.kernel_h * run.div_ceil(KR) <= MAX_INPUTS
        && w.len() >= outputs.div_ceil(NR) * NR * padded_depth(g.kernel_h * run)
        && input.len() >= g.batch * g.in_h * g.in_w * g.in_c
        && out.len() >= g.batch * g.out_h * g.out_w * outputs
        && q_fits(q.multiplier)
        && q_fits(q.shift)
        && q.bias.is_none_or(q_fits);
    if fits {
        // SAFETY: reached only through the AVX-512 VNNI table (see `Isa::kernels`); the
        // lengths are checked above.
        unsafe { conv_narrow_vnni(g, input, zero_point, w, outputs, q, out) };
    }
    fits
}

/// # Safety
/// The CPU has AVX-512 F/BW/VL/VNNI; the buffers hold what [`conv_narrow`] checks.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn conv_narrow_vnni(
    g: &ConvGeometry,
    input: &[i8],
    zero_point: i8,
    w: &[i8],
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) {
    let run = g.kernel_w * g.in_c;
    let groups = run.div_ceil(KR);
    let quads = outputs / 4;
    let depth = g.kernel_h * run;
    let packed_groups = padded_depth(depth) / KR;
    // Where weight `(n, k)` lies in the packed layout, `k` in im2col order (kernel row,
    // column, channel).
    let index =
        |n: usize, k: usize| (((n / NR) * packed_groups + k / KR) * NR + n % NR) * KR + k % KR;

    // Register `(ky * groups + group) * quads + quad`: in every lane, channel `4 * quad + j`'s
    // weights for bytes `4 * group..4 * group + 4` of kernel row `ky` (0 past the row).
    let mut weights = [_mm512_setzero_si512(); MAX_WEIGHTS];
    let mut quad_sums = [_mm_setzero_si128(); MAX_OUTPUTS / 4];
    for ky in 0..g.kernel_h {
        for group in 0..groups {
            for quad in 0..quads {
                let lane = if run.is_multiple_of(KR) {
                    // Kernel rows start on packed groups: the lane is 4 channels' dwords of
                    // one packed group, 16 bytes in a row.
                    let bytes = &w[index(4 * quad, ky * run + 4 * group)..][..16];
                    // SAFETY: `bytes` is 16 readable bytes; loadu has no alignment need.
                    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
                } else {
                    let lane: [i8; 16] = core::array::from_fn(|i| {
                        let (n, byte) = (4 * quad + i / 4, 4 * group + i % 4);
                        if byte < run {
                            w[index(n, ky * run + byte)]
                        } else {
                            0
                        }
                    });
                    // SAFETY: `lane` is 16 readable bytes; loadu has no alignment need.
                    unsafe { _mm_loadu_si128(lane.as_ptr().cast()) }
                };
                // Each channel's 4 weights summed into its dword.
                quad_sums[quad] = _mm_dpbusd_epi32(quad_sums[quad], _mm_set1_epi8(1), lane);
                weights[(ky * groups + group) * quads + quad] = _mm512_broadcast_i32x4(lane);
            }
        }
    }
    let mut sums = [0i32; MAX_OUTPUTS];
    for (quad, chunk) in sums.chunks_exact_mut(4).enumerate().take(quads) {
        // SAFETY: `chunk` is 4 i32 = 16 writable bytes; storeu has no alignment need.
        unsafe { _mm_storeu_si128(chunk.as_mut_ptr().cast(), quad_sums[quad]) };
    }

    // Lane `4 * p + j` of accumulator `quad` is channel `4 * quad + j` of pixel `p`; the bias
    // loses `128 * sum(w)`, the activations' offset.
    let requant: [Requant16; MAX_OUTPUTS / 4] = core::array::from_fn(|quad| {
        let quad = quad.min(quads - 1);
        let table = |f: &dyn Fn(usize) -> i32| -> [i32; NR] {
            core::array::from_fn(|i| f(4 * quad + i % 4))
        };
        let bias = table(&|n| {
            let bias = q.bias.map_or(0, |b| b[n]);
            bias.wrapping_sub(sums[n].wrapping_mul(128))
        });
        let (multiplier, shift) = (table(&|n| q.multiplier[n]), table(&|n| q.shift[n]));
        let block = Block {
            bias: &bias,
            multiplier: &multiplier,
            shift: &shift,
        };
        Requant16::new(&block, &block, q)
    });

    let weights = Weights {
        registers: &weights,
        quads,
    };
    let rows = g.batch * g.out_h * g.out_w;
    let row_bytes = g.dilation_h * g.in_w * g.in_c;
    let whole_run = (u32::MAX >> (32 - run)) as u16;
    // The bytes a pixel's whole 16-byte loads may reach, from its first kernel row's start.
    let reach = (g.kernel_h - 1) * row_bytes + 16;
    let (last_y, last_x) = ((g.kernel_h - 1) * g.dilation_h, g.kernel_w - 1);
    let zero_points = _mm_set1_epi8(zero_point);
    let flip = _mm512_set1_epi8(i8::MIN);
    let mut inputs = [_mm512_setzero_si512(); MAX_INPUTS];
    let (mut b, mut oy, mut ox) = (0, 0, 0);
    let mut m = 0;
    while m < rows {
        let count = PIXELS.min(rows - m);
        // Each pixel's first input row (wrapping when above the input), the bytes of its
        // kernel row that lie inside the input, and where its kernel row starts (wrapping).
        let mut first_row = [usize::MAX; PIXELS];
        let mut columns = [0u16; PIXELS];
        let mut starts = [core::ptr::null::<i8>(); PIXELS];
        // Whether every pixel's window lies inside the input, with 16 readable bytes from
        // each kernel row: then every load takes 16 bytes.
        let mut whole = count == PIXELS;
        for p in 0..count {
            // Out-of-range coordinates wrap to huge values: one compare each.
            let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
            let ix0 = (ox * g.stride_w).wrapping_sub(g.pad_left);
            first_row[p] = iy0;
            let columns_inside = ix0 < g.in_w && ix0 + last_x < g.in_w;
            columns[p] = if columns_inside {
                whole_run
            } else {
                (0..g.kernel_w)
                    .filter(|&kx| ix0.wrapping_add(kx) < g.in_w)
                    .fold(0, |mask, kx| mask | ((1 << g.in_c) - 1) << (kx * g.in_c))
            };
            let pixel = (b * g.in_h)
                .wrapping_add(iy0)
                .wrapping_mul(g.in_w)
                .wrapping_add(ix0)
                .wrapping_mul(g.in_c);
            whole &= columns_inside
                && iy0 < g.in_h
                && iy0 + last_y < g.in_h
                && pixel + reach <= input.len();
            starts[p] = input.as_ptr().wrapping_add(pixel);
            ox += 1;
            if ox == g.out_w {
                (ox, oy) = (0, oy + 1);
                if oy == g.out_h {
                    (oy, b) = (0, b + 1);
                }
            }
        }

        // The pass's inputs, once for all its channels: per kernel row and group of 4 bytes,
        // each pixel's 4 bytes repeated across its lane, offset to unsigned.
        for ky in 0..g.kernel_h {
            let lane = |p: usize| {
                // (A pixel past the last has no columns.)
                let inside =
                    first_row[p].wrapping_add(ky * g.dilation_h) < g.in_h && columns[p] != 0;
                // One masked load, no branch: all 16 bytes when the pass is whole (the bytes
                // past the run meet zero weights), else the run's bytes inside the input, and
                // none from a row outside (at an address surely mapped: a masked load near an
                // unmapped one can be far slower).
                let (at, mask) = if whole {
                    (starts[p].wrapping_add(ky * row_bytes), u16::MAX)
                } else if inside {
                    (starts[p].wrapping_add(ky * row_bytes), columns[p])
                } else {
                    (input.as_ptr(), 0)
                };
                // SAFETY: the mask keeps bytes that lie inside the input (`whole`: 16 bytes
                // from each kernel row are readable); masked-off bytes are not accessed.
                unsafe { _mm_mask_loadu_epi8(zero_points, mask, at) }
            };
            let low = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lane(0)), lane(1));
            let high = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lane(2)), lane(3));
            let x = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low), high);
            let x = _mm512_xor_si512(x, flip);
            let row = &mut inputs[ky * groups..][..groups];
            for (group, bytes) in row.iter_mut().enumerate() {
                *bytes = match group {
                    0 => _mm512_shuffle_epi32::<0x00>(x),
                    1 => _mm512_shuffle_epi32::<0x55>(x),
                    2 => _mm512_shuffle_epi32::<0xAA>(x),
                    _ => _mm512_shuffle_epi32::<0xFF>(x),
                };
            }
        }
        let inputs = &inputs[..g.kernel_h * groups];

        // Four accumulators (16 channels) at a time keep them in registers.
        for q0 in (0..quads).step_by(4) {
            let out_at = |p: usize| (m + p) * outputs + 4 * q0;
            let requant = &requant[q0..];
            match quads - q0 {
                1 => channels::<1>(inputs, &weights, q0, requant, count, out_at, out),
                2 => channels::<2>(inputs, &weights, q0, requant, count, out_at, out),
                3 => channels::<3>(inputs, &weights, q0, requant, count, out_at, out),
                _ => channels::<4>(inputs, &weights, q0, requant, count, out_at, out),
            }
        }
        m += count;
    }
}

/// The weight registers of [`conv_narrow_vnni`].
struct Weights<'a> {
    registers: &'a [__m512i],
    quads: usize,
}

impl Weights<'_> {
    /// The weights of input register `i` (kernel row `i / groups`, group `i % groups`) for
    /// accumulators `first..first + Q`.
    #[inline(always)]
    fn of<const Q: usize>(&self, i: usize, first: usize) -> &[__m512i] {
        &self.registers[i * self.quads + first..][..Q]
    }
}

/// Channels `4 * first..4 * (first + Q)` of a pass's `count` pixels from its `inputs`,
/// written at `out[out_at(p)..]`.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn channels<const Q: usize>(
    inputs: &[__m512i],
    weights: &Weights<'_>,
    first: usize,
    requant: &[Requant16],
    count: usize,
    out_at: impl Fn(usize) -> usize,
    out: &mut [i8],
) {
    let mut acc = [_mm512_setzero_si512(); Q];
    for (i, &bytes) in inputs.iter().enumerate() {
        for (a, &w) in acc.iter_mut().zip(weights.of::<Q>(i, first)) {
            *a = _mm512_dpbusd_epi32(*a, bytes, w);
        }
    }
    // Requantize (written out, not looped: LLVM kept a loop), then a 4x4 transpose of dwords
    // turns "4 channels of 4 pixels" into "16 channels of 1 pixel".
    let mut narrowed = [_mm_setzero_si128(); 4];
    // The saturating narrow finishes the clamp (see `Requant16::apply`).
    let narrow = |r: &Requant16, a: &__m512i| _mm512_cvtsepi32_epi8(r.apply(*a));
    if let (Some(r), Some(a)) = (requant.first(), acc.first()) {
        narrowed[0] = narrow(r, a);
    }
    if let (Some(r), Some(a)) = (requant.get(1), acc.get(1)) {
        narrowed[1] = narrow(r, a);
    }
    if let (Some(r), Some(a)) = (requant.get(2), acc.get(2)) {
        narrowed[2] = narrow(r, a);
    }
    if let (Some(r), Some(a)) = (requant.get(3), acc.get(3)) {
        narrowed[3] = narrow(r, a);
    }
    let t = [
        _mm_unpacklo_epi32(narrowed[0], narrowed[1]),
        _mm_unpacklo_epi32(narrowed[2], narrowed[3]),
        _mm_unpackhi_epi32(narrowed[0], narrowed[1]),
        _mm_unpackhi_epi32(narrowed[2], narrowed[3]),
    ];
    let pixels = [
        _mm_unpacklo_epi64(t[0], t[1]),
        _mm_unpackhi_epi64(t[0], t[1]),
        _mm_unpacklo_epi64(t[2], t[3]),
        _mm_unpackhi_epi64(t[2], t[3]),
    ];
    for (p, &bytes) in pixels.iter().enumerate().take(count) {
        let at = out_at(p);
        if let Some(dst) = out.get_mut(at..at + 4 * Q) {
            store_channels::<Q>(dst, bytes);
        }
    }
}

/// Writes the first `4 * Q` bytes of `bytes` to `dst` (which holds that many).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn store_channels<const Q: usize>(dst: &mut [i8], bytes: __m128i) {
    let mut lanes = [0i8; 16];
    // SAFETY: `lanes` is 16 writable bytes; storeu has no alignment need.
    unsafe { _mm_storeu_si128(lanes.as_mut_ptr().cast(), bytes) };
    dst[..4 * Q].copy_from_slice(&lanes[..4 * Q]);
}
