//! Packed int8 GEMM: the fast path of CONV_2D and FULLY_CONNECTED.
//!
//! `out[m, n] = requant(bias'[n] + sum_k a[m, k] * w[n, k])` where `a` holds raw int8 inputs
//! and `bias'` is the *folded* bias `bias[n] - input_zero_point * sum_k w[n, k]`, computed at
//! import. Padding reads as the input zero point, so it contributes `zp * w - zp * w = 0`,
//! exactly as the reference kernels' skipped taps do; the result is bit-identical.
//!
//! Weights are packed once, at import ([`pack`]), as blocks of [`NR`] output channels by
//! [`KR`] reduction steps: `[ceil(N/8), ceil(K/4), 8, 4]`, zero padded. Every ISA reads that
//! one layout: AVX2 widens a 4x4 sub-block to int16 for `vpmaddwd`, NEON `sdot` reads it as
//! is, baseline NEON de-interleaves it with `ld4`. The driver here walks tiles of [`MR`] rows
//! (gathered im2col rows for convolutions, in a scratch buffer planned at import) and calls
//! the ISA's micro-kernel for each block of 8 channels. On x86, int8 convolutions and dense
//! rows skip that driver: AVX2 gathers each pixel's receptive field straight into int16
//! (`x86::avx2_conv`) and reads dense rows in place; on AVX-512 VNNI `x86::igemm` reads
//! every tap in place when the input channels are a multiple of 4, `x86::conv_narrow` each
//! kernel row's run of bytes when they are few (first layers).

use super::int4::{self, Values, ValuesMut};
use super::table::{Kernels, TileKernels};
use super::{ConvGeometry, Isa, Requant};

/// Output channels per weight block.
pub const NR: usize = 8;
/// Reduction steps per weight group.
pub const KR: usize = 4;
/// Rows per tile; the im2col scratch holds `MR * padded_depth(K)` bytes.
pub const MR: usize = 4;

/// `k` rounded up to a multiple of [`KR`].
pub const fn padded_depth(k: usize) -> usize {
    k.div_ceil(KR) * KR
}

/// Bytes of packed weights for `n` outputs and reduction depth `k`.
pub const fn packed_len(n: usize, k: usize) -> usize {
    n.div_ceil(NR) * NR * padded_depth(k)
}

/// Bytes of scratch a GEMM with reduction depth `k` needs when its rows are gathered.
pub const fn scratch_len(k: usize) -> usize {
    MR * padded_depth(k)
}

/// As [`scratch_len`], for a GEMM of `rows` rows (fewer than [`MR`] rows gather fewer).
pub const fn scratch_len_for(rows: usize, k: usize) -> usize {
    let tile = if rows < MR { rows } else { MR };
    tile * padded_depth(k)
}

/// Packs `weight(n, k)` (for `n < outputs`, `k < depth`) into `out` (host side, at import).
/// `out` must hold [`packed_len`] bytes.
pub fn pack(outputs: usize, depth: usize, weight: impl Fn(usize, usize) -> i8, out: &mut [i8]) {
    let groups = padded_depth(depth) / KR;
    for (i, slot) in out[..packed_len(outputs, depth)].iter_mut().enumerate() {
        let j = i % KR;
        let c = (i / KR) % NR;
        let group = (i / (KR * NR)) % groups;
        let block = i / (KR * NR * groups);
        let (n, k) = (block * NR + c, group * KR + j);
        *slot = if n < outputs && k < depth {
            weight(n, k)
        } else {
            0
        };
    }
}

/// Whether a convolution reads its GEMM rows straight from the input (a 1x1, stride-1,
/// unpadded conv whose input rows are its output rows) instead of gathering them.
pub fn conv_rows_are_input(g: &ConvGeometry) -> bool {
    g.kernel_h == 1
        && g.kernel_w == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && g.pad_top == 0
        && g.pad_left == 0
        && g.in_h == g.out_h
        && g.in_w == g.out_w
}

/// Packed GEMM weights: int8, or int4 in the grouped nibble order of [`int4`].
#[derive(Clone, Copy, Debug)]
pub enum Weights<'a> {
    /// `[ceil(N/8), ceil(K/4), 8, 4]` int8.
    I8(&'a [i8]),
    /// The same layout in int4, 16 bytes per group of 32.
    I4(&'a [u8]),
}

impl Weights<'_> {
    /// Bytes of one block of [`NR`] channels with padded depth `kp`.
    fn block_bytes(&self, kp: usize) -> usize {
        match self {
            Weights::I8(_) => kp * NR,
            Weights::I4(_) => kp * NR / 2,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Weights::I8(w) => w.len(),
            Weights::I4(w) => w.len(),
        }
    }
}

/// Where the GEMM's `a` rows come from.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    /// Row `m` is values `m * k..(m + 1) * k`.
    Dense(Values<'a>),
    /// Row `m` is the receptive field of output pixel `m` of a convolution (im2col),
    /// padding filled with `zero_point`.
    Conv {
        /// The convolution.
        geometry: &'a ConvGeometry,
        /// NHWC input.
        input: Values<'a>,
        /// Input zero point: the value padding reads as.
        zero_point: i8,
    },
}

/// A buffer is shorter than the GEMM's shape needs (the op's load-time checks prevent it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeMismatch;

/// Requantization constants of one block of [`NR`] output channels.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    /// Folded bias.
    pub bias: &'a [i32; NR],
    /// Q0.31 multipliers (non-negative, checked at load).
    pub multiplier: &'a [i32; NR],
    /// Shifts in `-31..=30`.
    pub shift: &'a [i32; NR],
}

impl Block<'_> {
    /// All zeros (a placeholder).
    pub const ZERO: Block<'static> = Block {
        bias: &[0; NR],
        multiplier: &[0; NR],
        shift: &[0; NR],
    };
}

/// The [`Block`] of the channels `$n0..$n0 + $nr` of the tables of `$q`: borrowed when the
/// block is whole, else copied into `$copies` (a `let` the caller declares), zero padded to
/// [`NR`]. A macro, not a function: as a function it made the GEMM tiles around it 3-5 %
/// slower.
macro_rules! block_tables {
    ($q:expr, $n0:expr, $nr:expr, $copies:ident) => {{
        let (q, n0, nr): (&Requant<'_>, usize, usize) = ($q, $n0, $nr);
        match whole_block(q, n0).filter(|_| nr == NR) {
            Some(block) => block,
            None => {
                let padded = |t: &[i32]| -> [i32; NR] {
                    core::array::from_fn(|i| if i < nr { t[n0 + i] } else { 0 })
                };
                $copies = (
                    q.bias.map_or([0; NR], padded),
                    padded(q.multiplier),
                    padded(q.shift),
                );
                Block {
                    bias: &$copies.0,
                    multiplier: &$copies.1,
                    shift: &$copies.2,
                }
            }
        }
    }};
}
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))] // the VNNI kernels' too
pub(crate) use block_tables;

/// Whether a GEMM over `a` gathers its rows into the scratch (see [`scratch_len`]): always
/// for convolutions that are not [`conv_rows_are_input`] and for uint4 rows, and when the
/// depth is not a multiple of [`KR`].
pub fn gathers_rows(a_is_u4: bool, conv_gathers: bool, depth: usize) -> bool {
    a_is_u4 || conv_gathers || !depth.is_multiple_of(KR)
}

/// `out[m, n]` for `m < rows`, `n < outputs`, reduction depth `depth`; `w` packed by
/// [`pack`] (and [`int4::pack_gemm_i4`]); `scratch` holds [`scratch_len`] bytes when rows
/// are gathered ([`gathers_rows`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    isa: Isa,
    rows: usize,
    outputs: usize,
    depth: usize,
    a: Rows<'_>,
    w: Weights<'_>,
    q: &Requant<'_>,
    scratch: &mut [i8],
    mut out: ValuesMut<'_>,
) -> Result<(), ShapeMismatch> {
    let kernels = isa.kernels();
    let kp = padded_depth(depth);
    let direct = match a {
        Rows::Dense(data) => {
            if data.len() < rows * depth {
                return Err(ShapeMismatch);
            }
            kp == depth && matches!(data, Values::I8(_))
        }
        Rows::Conv {
            geometry: g, input, ..
        } => {
            let conv_rows = g.batch * g.out_h * g.out_w;
            let conv_depth = g.kernel_h * g.kernel_w * g.in_c;
            if conv_rows != rows
                || conv_depth != depth
                || input.len() < g.batch * g.in_h * g.in_w * g.in_c
            {
                return Err(ShapeMismatch);
            }
            false
        }
    };
    let q_len = |t: &[i32]| t.len() >= outputs;
    if w.bytes() < w.block_bytes(kp) * outputs.div_ceil(NR)
        || out.len() < rows * outputs
        || (!direct && scratch.len() < scratch_len_for(rows, depth))
        || !q_len(q.multiplier)
        || !q_len(q.shift)
        || !q.bias.is_none_or(q_len)
    {
        return Err(ShapeMismatch);
    }
    if let (Some(in_place), Weights::I8(w), ValuesMut::I8(out)) =
        (kernels.gemm.in_place, w, &mut out)
    {
        if in_place(rows, outputs, depth, direct, a, w, q, scratch, out) {
            return Ok(());
        }
    }
    if let (Some(conv_u4), Weights::I4(w), ValuesMut::U4(out)) = (kernels.gemm.conv_u4, w, &mut out)
    {
        let pixels;
        let conv = match a {
            Rows::Conv {
                geometry,
                input: Values::U4(input),
                zero_point,
            } => Some((geometry, input, zero_point)),
            Rows::Dense(Values::U4(input)) => {
                pixels = ConvGeometry::pixels(rows, depth, outputs);
                Some((&pixels, input, 0))
            }
            _ => None,
        };
        if let Some((g, input, zero_point)) = conv {
            if conv_u4(g, input, zero_point, outputs, w, q, out) {
                return Ok(());
            }
        }
    }
    let rows_u4 = match a {
        Rows::Dense(data) | Rows::Conv { input: data, .. } => matches!(data, Values::U4(_)),
    };
    let tile = Tile {
        kernels,
        outputs,
        depth,
        kp,
        a,
        w,
        q,
        rows_u4,
        pack_u4: matches!(out, ValuesMut::U4(_)) && outputs.is_multiple_of(2),
        small_gather: match a {
            Rows::Conv { geometry, .. } if kernels.gemm.gather_small.is_some() => {
                SmallGather::new(geometry, kp)
            }
            _ => None,
        },
    };
    if let Rows::Conv {
        geometry,
        input: Values::U4(packed),
        zero_point,
    } = a
    {
        if scratch.len() >= conv_u4_scratch_len(geometry, depth) {
            conv_u4_by_rows(&tile, geometry, packed, zero_point, scratch, &mut out);
            return Ok(());
        }
    }
    tile.run_rows(0..rows, 0, scratch, &mut out);
    Ok(())
}

/// Scratch of a convolution with uint4 input: one window of `KH` input rows unpacked to bytes,
/// then the gathered rows.
pub fn conv_u4_scratch_len(g: &ConvGeometry, depth: usize) -> usize {
    g.kernel_h * g.in_w * g.in_c + scratch_len(depth)
}

/// A uint4-input convolution, one output row at a time: its `KH` input rows are unpacked once
/// into a window (rows outside the input read as the zero point), and the output row's
/// pixels are gathered from the window like an int8 convolution's. Each input value is
/// unpacked `KH` times instead of once per tap.
fn conv_u4_by_rows(
    tile: &Tile<'_>,
    g: &ConvGeometry,
    packed: &[u8],
    zero_point: i8,
    scratch: &mut [i8],
    out: &mut ValuesMut<'_>,
) {
    let row_len = g.in_w * g.in_c;
    let (window, rest) = scratch.split_at_mut(g.kernel_h * row_len);
    let one_row = ConvGeometry {
        batch: 1,
        in_h: g.kernel_h,
        out_h: 1,
        stride_h: 1,
        dilation_h: 1,
        pad_top: 0,
        ..*g
    };
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for (ky, dst) in window.chunks_exact_mut(row_len).enumerate() {
                let iy = (oy * g.stride_h + ky * g.dilation_h).wrapping_sub(g.pad_top);
                if iy < g.in_h {
                    int4::unpack_u4(packed, (b * g.in_h + iy) * row_len, dst);
                } else {
                    dst.fill(zero_point);
                }
            }
            let row_tile = Tile {
                a: Rows::Conv {
                    geometry: &one_row,
                    input: Values::I8(window),
                    zero_point,
                },
                ..*tile
            };
            let first = (b * g.out_h + oy) * g.out_w;
            row_tile.run_rows(0..g.out_w, first, rest, out);
        }
    }
}

/// One GEMM's fixed facts, shared by its tiles. Lengths were checked by [`gemm`].
#[derive(Clone, Copy)]
struct Tile<'a> {
    kernels: &'static Kernels,
    outputs: usize,
    depth: usize,
    kp: usize,
    a: Rows<'a>,
    w: Weights<'a>,
    q: &'a Requant<'a>,
    /// The rows hold uint4 values (0..=15), whatever buffer they are read from.
    rows_u4: bool,
    /// Whole tiles may come back as packed uint4 (the output is uint4 with an even row
    /// length, so every tile row starts on a byte).
    pack_u4: bool,
    /// Masks that gather short im2col rows in registers (where the tier can, int8 inputs).
    small_gather: Option<SmallGather>,
}

/// Most kernel rows [`SmallGather`] handles.
const SMALL_KH: usize = 4;

/// `pshufb` masks that build an im2col row of at most 32 bytes from one 16-byte load per
/// kernel row: `masks[ky][half][j]` is the byte of kernel row `ky` that lands on row byte
/// `16 * half + j`, or 0x80 (a zero). For convolutions with few input channels (the first
/// layer of image models), whose rows are a few short runs: copied run by run, each row cost
/// a call per run, and the kernel's 4-byte reads straddling two runs' stores stalled.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the AVX2 gather
pub(crate) struct SmallGather {
    pub masks: [[[u8; 16]; 2]; SMALL_KH],
    pub kernel_h: usize,
}

impl SmallGather {
    /// For convolutions of at most [`SMALL_KH`] kernel rows, each at most 16 contiguous bytes
    /// (`dilation_w` 1), into rows of `kp <= 32` bytes.
    pub(crate) fn new(g: &ConvGeometry, kp: usize) -> Option<Self> {
        let span = g.kernel_w * g.in_c;
        if g.dilation_w != 1 || span > 16 || g.kernel_h > SMALL_KH || kp > 32 {
            return None;
        }
        let mut masks = [[[0x80u8; 16]; 2]; SMALL_KH];
        for (ky, halves) in masks.iter_mut().enumerate().take(g.kernel_h) {
            for (half, mask) in halves.iter_mut().enumerate() {
                for (j, m) in mask.iter_mut().enumerate() {
                    let at = (16 * half + j).wrapping_sub(ky * span);
                    if at < span {
                        *m = at as u8;
                    }
                }
            }
        }
        Some(Self {
            masks,
            kernel_h: g.kernel_h,
        })
    }
}

impl<'a> Tile<'a> {
    /// Rows `rows` of `a`, written as output rows `out_first..`, in tiles of [`MR`].
    fn run_rows(
        &self,
        rows: core::ops::Range<usize>,
        out_first: usize,
        scratch: &mut [i8],
        out: &mut ValuesMut<'_>,
    ) {
        let mut m0 = rows.start;
        while m0 < rows.end {
            let out_row = out_first + m0 - rows.start;
            if rows.end - m0 >= MR {
                self.run::<MR>(&self.kernels.gemm.mr, m0, out_row, scratch, out);
                m0 += MR;
            } else {
                self.run::<1>(&self.kernels.gemm.one, m0, out_row, scratch, out);
                m0 += 1;
            }
        }
    }

    /// Rows `m0..m0 + R` of `a`, every channel, written as output rows `out_row..`, by the
    /// tier's kernels of `R`-row tiles `tk`.
    fn run<const R: usize>(
        &self,
        tk: &TileKernels<R>,
        m0: usize,
        out_row: usize,
        scratch: &mut [i8],
        out: &mut ValuesMut<'_>,
    ) {
        let (kp, depth) = (self.kp, self.depth);
        let rows_u4 = self.rows_u4;
        let a: [&[i8]; R] = match self.a {
            Rows::Dense(Values::I8(data)) if kp == depth => {
                core::array::from_fn(|r| &data[(m0 + r) * depth..][..depth])
            }
            Rows::Dense(data) if kp == depth => {
                // Consecutive rows are contiguous: one unpack for the tile.
                data.copy_to(m0 * depth, &mut scratch[..R * depth]);
                core::array::from_fn(|r| &scratch[r * kp..][..kp])
            }
            Rows::Dense(data) => {
                for (r, row) in scratch.chunks_exact_mut(kp).take(R).enumerate() {
                    data.copy_to((m0 + r) * depth, &mut row[..depth]);
                    row[depth..].fill(0);
                }
                core::array::from_fn(|r| &scratch[r * kp..][..kp])
            }
            Rows::Conv {
                geometry,
                input,
                zero_point,
            } => {
                let small = match (self.small_gather, self.kernels.gemm.gather_small, input) {
                    (Some(masks), Some(gather), Values::I8(data)) => Some((masks, gather, data)),
                    _ => None,
                };
                for (r, row) in scratch.chunks_exact_mut(kp).take(R).enumerate() {
                    if let Some((masks, gather, data)) = &small {
                        if gather(masks, geometry, data, m0 + r, row) {
                            continue;
                        }
                    }
                    gather_conv_row(geometry, input, zero_point, m0 + r, row);
                }
                core::array::from_fn(|r| &scratch[r * kp..][..kp])
            }
        };
        // A kernel that loops over every block of channels itself.
        if let (Some(all_blocks), Weights::I8(w), ValuesMut::I8(d)) =
            (tk.all_blocks, self.w, &mut *out)
        {
            let dst = &mut d[out_row * self.outputs..][..R * self.outputs];
            if all_blocks(a, rows_u4, w, self.outputs, self.q, dst) {
                return;
            }
        }
        // int4 kernels that take row sums get those of int8 rows, and of single rows.
        let row_sums: [i32; R] = match self.w {
            Weights::I4(_) if tk.i4_summed.is_some() && (!rows_u4 || R == 1) => {
                a.map(|row| row.iter().map(|&x| i32::from(x)).sum())
            }
            _ => [0; R],
        };
        let q = self.q;
        // A single row's whole blocks go to one SIMD call where the ISA has one.
        let first_block = match R {
            1 => self.single_row(a[0], row_sums[0], out_row, out),
            _ => 0,
        };
        let block_bytes = self.w.block_bytes(kp);
        for nb in first_block..self.outputs.div_ceil(NR) {
            let n0 = nb * NR;
            let nr = NR.min(self.outputs - n0);
            let copies;
            let block = block_tables!(q, n0, nr, copies);
            let pack = self.pack_u4 && nr == NR;
            let result = match (self.w, &tk.i8_u4_rows, &tk.i4_summed) {
                (Weights::I8(w), Some(u4_rows), _) if rows_u4 => {
                    u4_rows(a, &w[nb * block_bytes..][..block_bytes], &block, q, pack)
                }
                (Weights::I8(w), ..) => {
                    let w = &w[nb * block_bytes..][..block_bytes];
                    TileOut::Values((tk.i8)(a, w, &block, q))
                }
                (Weights::I4(w), _, Some(summed)) => {
                    let w = &w[nb * block_bytes..][..block_bytes];
                    let kernel = match rows_u4 {
                        true => summed.u4_rows,
                        false => summed.signed_rows,
                    };
                    kernel(a, w, &row_sums, &block, q, pack)
                }
                (Weights::I4(w), ..) => {
                    let w = &w[nb * block_bytes..][..block_bytes];
                    TileOut::Values((tk.i4)(a, w, &block, q))
                }
            };
            match (result, &mut *out) {
                (TileOut::PackedU4(rows), ValuesMut::U4(bytes)) => {
                    for (r, packed) in rows.iter().enumerate() {
                        let first = (out_row + r) * self.outputs + n0; // even: see `pack_u4`
                        bytes[first / 2..][..NR / 2].copy_from_slice(&packed.to_le_bytes());
                    }
                }
                (TileOut::Values(rows), _) => {
                    for (r, values) in rows.iter().enumerate() {
                        out.write((out_row + r) * self.outputs + n0, &values[..nr]);
                    }
                }
                // Kernels pack only when asked, and are asked only for uint4 outputs.
                (TileOut::PackedU4(_), ValuesMut::I8(_)) => {}
            }
        }
    }
}

impl Tile<'_> {
    /// The whole blocks of one row (`a`, with sum `row_sum`) as output row `out_row`, in one
    /// call to the tier's row kernel, which loops over the blocks itself instead of returning
    /// here for each. Returns the number of blocks done: the whole ones, or 0 where there is
    /// no row kernel (or the row's uint4 outputs do not start on a byte).
    // Kept out of line: inlined into `run_rows`, it made the 4-row tiles' code around it
    // slower (int8 ResNet-8 by 12 %).
    #[inline(never)]
    fn single_row(&self, a: &[i8], row_sum: i32, out_row: usize, out: &mut ValuesMut<'_>) -> usize {
        let Some(row_kernel) = self.kernels.gemm.single_row else {
            return 0;
        };
        let blocks = self.outputs / NR;
        let first = out_row * self.outputs;
        let dst = match out {
            ValuesMut::I8(d) => RowOut::I8(&mut d[first..][..blocks * NR]),
            ValuesMut::U4(d) if first.is_multiple_of(2) => {
                RowOut::PackedU4(&mut d[first / 2..][..blocks * NR / 2])
            }
            ValuesMut::U4(_) => return 0,
        };
        row_kernel(a, self.w, self.rows_u4, row_sum, self.q, dst)
    }
}

/// The tables of the whole block of channels `n0..n0 + NR`, borrowed, or `None` if the
/// tables end inside it.
pub(crate) fn whole_block<'a>(q: &Requant<'a>, n0: usize) -> Option<Block<'a>> {
    let whole = |t: &'a [i32]| -> Option<&'a [i32; NR]> { t.get(n0..n0 + NR)?.try_into().ok() };
    Some(Block {
        bias: match q.bias {
            Some(bias) => whole(bias)?,
            None => Block::ZERO.bias,
        },
        multiplier: whole(q.multiplier)?,
        shift: whole(q.shift)?,
    })
}

/// Where a row kernel writes a row's whole blocks (only AVX2 has row kernels so far).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) enum RowOut<'a> {
    /// int8 values.
    I8(&'a mut [i8]),
    /// uint4 values, two per byte, low nibble first.
    PackedU4(&'a mut [u8]),
}

/// What a micro-kernel returns for its `R` rows of one block of [`NR`] channels.
pub(crate) enum TileOut<const R: usize> {
    /// Requantized values, one byte each (uint4 values as 0..=15).
    Values([[i8; NR]; R]),
    /// uint4 values packed two per byte, low nibble first (only when asked to pack; only the
    /// AVX2 kernels pack so far).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    PackedU4([u32; R]),
}

/// Portable micro-kernel for int4 weights.
pub(crate) fn gemm_tile_scalar_i4<const R: usize>(
    a: [&[i8]; R],
    w: &[u8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    let mut acc = [[0i32; NR]; R];
    for (g, wg) in w.chunks_exact(NR * KR / 2).enumerate() {
        for (row, acc) in a.iter().zip(acc.iter_mut()) {
            let x = &row[g * KR..][..KR];
            for (c, acc) in acc.iter_mut().enumerate() {
                for (k, &xv) in x.iter().enumerate() {
                    *acc += i32::from(xv) * int4::gemm_i4_at(wg, c * KR + k);
                }
            }
        }
    }
    acc.map(|row| core::array::from_fn(|c| requantize_one(row[c], block, c, q)))
}

/// Portable micro-kernel (and the fallback on CPUs without SIMD).
pub(crate) fn gemm_tile_scalar<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    let mut acc = [[0i32; NR]; R];
    for (g, wg) in w.chunks_exact(NR * KR).enumerate() {
        for (row, acc) in a.iter().zip(acc.iter_mut()) {
            let x = &row[g * KR..][..KR];
            for (acc, wc) in acc.iter_mut().zip(wg.chunks_exact(KR)) {
                for (&xv, &wv) in x.iter().zip(wc) {
                    *acc += i32::from(xv) * i32::from(wv);
                }
            }
        }
    }
    acc.map(|row| core::array::from_fn(|c| requantize_one(row[c], block, c, q)))
}

/// Scalar requantization of channel `c` of a block (what every SIMD requantization matches).
#[inline(always)]
pub(crate) fn requantize_one(acc: i32, block: &Block<'_>, c: usize, q: &Requant<'_>) -> i8 {
    let scaled = q.rounding.apply(
        acc.wrapping_add(block.bias[c]),
        block.multiplier[c],
        block.shift[c],
    );
    scaled
        .saturating_add(q.output_zero_point)
        .clamp(q.act_min, q.act_max) as i8
}

/// im2col of one output pixel: `row[(ky * KW + kx) * Cin + c]`, zero point where the window
/// hangs over the edge, zeros in the tail up to `row.len()`. uint4 inputs become bytes.
/// Out of line: inlined, it slowed the tiles' code around it.
#[inline(never)]
fn gather_conv_row(g: &ConvGeometry, input: Values<'_>, zero_point: i8, m: usize, row: &mut [i8]) {
    // int8 runs are short with few input channels: copied inline, not by a call each.
    match input {
        Values::I8(d) => gather_with(g, zero_point, m, row, |start, dst| {
            int4::copy_bytes(dst, &d[start..start + dst.len()]);
        }),
        _ => gather_with(g, zero_point, m, row, |start, dst| {
            input.copy_to(start, dst)
        }),
    }
}

/// [`gather_conv_row`] with `copy(start, dst)` filling `dst` from input element `start` on.
#[inline(always)]
fn gather_with(
    g: &ConvGeometry,
    zero_point: i8,
    m: usize,
    row: &mut [i8],
    copy: impl Fn(usize, &mut [i8]),
) {
    let pixels = g.out_h * g.out_w;
    let (b, oy, ox) = (m / pixels, (m % pixels) / g.out_w, m % g.out_w);
    let c = g.in_c;
    let mut pos = 0;
    let span = g.kernel_w * c; // one kernel row, contiguous in the input when dilation_w = 1
    let x0 = (ox * g.stride_w).wrapping_sub(g.pad_left);
    let row_inside = g.dilation_w == 1 && x0 < g.in_w && x0 + g.kernel_w <= g.in_w;
    let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
    let last_y = iy0.wrapping_add((g.kernel_h - 1) * g.dilation_h);
    if row_inside && iy0 < g.in_h && last_y < g.in_h {
        // The whole window inside: one run per kernel row, a fixed stride apart.
        let (first, step) = (
            ((b * g.in_h + iy0) * g.in_w + x0) * c,
            g.dilation_h * g.in_w * c,
        );
        for (ky, dst) in row.chunks_exact_mut(span).take(g.kernel_h).enumerate() {
            copy(first + ky * step, dst);
        }
        int4::fill_bytes(&mut row[g.kernel_h * span..], 0);
        return;
    }
    for ky in 0..g.kernel_h {
        let iy = (oy * g.stride_h + ky * g.dilation_h).wrapping_sub(g.pad_top);
        // Out-of-range coordinates wrapped to huge values, so one compare each.
        if iy < g.in_h && row_inside {
            let start = ((b * g.in_h + iy) * g.in_w + x0) * c;
            copy(start, &mut row[pos..pos + span]);
            pos += span;
            continue;
        }
        if iy >= g.in_h {
            int4::fill_bytes(&mut row[pos..pos + span], zero_point);
            pos += span;
            continue;
        }
        if g.dilation_w == 1 {
            // A kernel row hanging over the left or right edge: zero points, one run of
            // inputs, zero points.
            let first = g.pad_left.saturating_sub(ox * g.stride_w).min(g.kernel_w);
            let end = (g.in_w + g.pad_left)
                .saturating_sub(ox * g.stride_w)
                .clamp(first, g.kernel_w);
            let dst = &mut row[pos..pos + span];
            int4::fill_bytes(&mut dst[..first * c], zero_point);
            if end > first {
                let ix = ox * g.stride_w + first - g.pad_left;
                copy(
                    ((b * g.in_h + iy) * g.in_w + ix) * c,
                    &mut dst[first * c..end * c],
                );
            }
            int4::fill_bytes(&mut dst[end * c..], zero_point);
            pos += span;
            continue;
        }
        for kx in 0..g.kernel_w {
            let ix = (ox * g.stride_w + kx * g.dilation_w).wrapping_sub(g.pad_left);
            let dst = &mut row[pos..pos + c];
            if iy < g.in_h && ix < g.in_w {
                copy(((b * g.in_h + iy) * g.in_w + ix) * c, dst);
            } else {
                int4::fill_bytes(dst, zero_point);
            }
            pos += c;
        }
    }
    int4::fill_bytes(&mut row[pos..], 0);
}
