//! The kernel table: one value per tier ([`Isa`]) naming the function that runs each kernel.
//!
//! The scalar oracle's table comes first; each tier's table, written in the tier's own file,
//! starts from the tier below it (`..avx2::KERNELS`) and overrides only what it does better.
//! An entry that is `None` means "the generic path": the drivers in `gemm`, `depthwise` and
//! `elementwise` fall back to the oracle's way of doing that step. [`Isa::ALL`] lists the
//! tiers this build has; it is the one place a new tier is registered.
//!
//! The tiers' functions are safe wrappers around `#[target_feature]` code. That is sound
//! because a table is reached only through [`Isa::kernels`], which hands out a tier's table
//! only when the tier's `available` check (CPU detection, or the build's target features)
//! holds, and the oracle's otherwise.

use core::ffi::CStr;

use super::elementwise::AddU4Levels;
use super::gemm::{Block, RowOut, Rows, SmallGather, TileOut, Weights, MR, NR};
use super::int4::ValuesMut;
use super::{scalar, ConvGeometry, Requant};
use crate::format::AddParams;

/// One tier's kernels: a `static` in the tier's file (so that the generic kernels it names
/// are instantiated once, in this crate); see the module documentation.
pub struct Kernels {
    /// Lower-case name, as printed by the tools and returned by the C API.
    pub(crate) name: &'static CStr,
    /// Nominal int8 multiply-accumulates per cycle of one core at the tier's best
    /// instruction (docs/BENCHMARKING.md); `edgeq-bench` measures the core's own.
    pub(crate) peak_macs_per_cycle: u32,
    /// Whether this CPU, and this build, can run the tier.
    pub(crate) available: fn() -> bool,
    /// The GEMM of CONV_2D and FULLY_CONNECTED.
    pub(crate) gemm: GemmKernels,
    /// int8 depthwise convolution, depth multiplier 1, lengths checked by the caller.
    pub(crate) depthwise: DepthwiseFn,
    /// uint4 x int4 depthwise convolution (see `depthwise::runs_native_u4`); `false`, having
    /// done nothing, for a shape it does not take.
    pub(crate) depthwise_u4: Option<DepthwiseU4Fn>,
    /// int8 ADD of a prefix of the inputs; returns how many elements it wrote.
    pub(crate) add: Option<AddFn>,
    /// uint4 ADD by level thresholds of a prefix of the packed bytes; returns the bytes written.
    pub(crate) add_u4: Option<AddU4Fn>,
}

/// The GEMM's kernels. The driver (`gemm::gemm`) tries them in the order listed.
#[derive(Clone, Copy)]
pub(crate) struct GemmKernels {
    /// The whole int8 GEMM with its rows read in place (no gather); `false` if the shape is
    /// not one it takes.
    pub in_place: Option<InPlaceFn>,
    /// A whole uint4 x int4 convolution into packed uint4 outputs, its receptive fields read
    /// from the input without im2col (dense rows as the pixels of a 1x1 convolution); `false`
    /// if the shape is not one it takes.
    pub conv_u4: Option<ConvU4Fn>,
    /// Builds short im2col rows in registers; `false` if the row is not one it takes.
    pub gather_small: Option<GatherSmallFn>,
    /// Every whole block of one row, int8 or int4 weights; returns the blocks done.
    pub single_row: Option<SingleRowFn>,
    /// Kernels of tiles of one row.
    pub one: TileKernels<1>,
    /// Kernels of tiles of [`MR`] rows.
    pub mr: TileKernels<MR>,
}

/// The kernels of a tile of `R` rows.
#[derive(Clone, Copy)]
pub(crate) struct TileKernels<const R: usize> {
    /// Every block of channels of `R` rows, int8 weights and output, in one call; `false`,
    /// having written nothing, for rows it does not take.
    pub all_blocks: Option<AllBlocksFn<R>>,
    /// One block, int8 weights.
    pub i8: TileFn<R>,
    /// One block, int8 weights, rows holding uint4 values; `None`: `i8` takes them.
    pub i8_u4_rows: Option<PackingTileFn<R>>,
    /// One block, int4 weights.
    pub i4: TileI4Fn<R>,
    /// One block, int4 weights, given each row's sum (for int8 rows, and for single rows);
    /// preferred over `i4` when present.
    pub i4_summed: Option<SummedI4<R>>,
}

/// int4-weight kernels that take row sums, by the kind of rows.
#[derive(Clone, Copy)]
pub(crate) struct SummedI4<const R: usize> {
    /// Rows of int8 values.
    pub signed_rows: TileI4SumsFn<R>,
    /// Rows of uint4 values.
    pub u4_rows: TileI4SumsFn<R>,
}

/// See [`GemmKernels::in_place`]: `(rows, outputs, depth, rows_are_dense, a, w, q, scratch,
/// out)`.
pub(crate) type InPlaceFn =
    fn(usize, usize, usize, bool, Rows<'_>, &[i8], &Requant<'_>, &mut [i8], &mut [i8]) -> bool;
/// See [`GemmKernels::conv_u4`]: `(geometry, packed uint4 input, its zero point, outputs,
/// int4 weights, q, packed uint4 output)`.
pub(crate) type ConvU4Fn =
    fn(&ConvGeometry, &[u8], i8, usize, &[u8], &Requant<'_>, &mut [u8]) -> bool;
/// See [`GemmKernels::gather_small`]: `(masks, geometry, input, row index, row)`.
pub(crate) type GatherSmallFn = fn(&SmallGather, &ConvGeometry, &[i8], usize, &mut [i8]) -> bool;
/// See [`GemmKernels::single_row`]: `(row, weights, rows_u4, row sum, q, out)`.
pub(crate) type SingleRowFn = fn(&[i8], Weights<'_>, bool, i32, &Requant<'_>, RowOut<'_>) -> usize;
/// See [`TileKernels::all_blocks`]: `(rows, rows_u4, weights, outputs, q, out)`.
pub(crate) type AllBlocksFn<const R: usize> =
    fn([&[i8]; R], bool, &[i8], usize, &Requant<'_>, &mut [i8]) -> bool;
/// See [`TileKernels::i8`].
pub(crate) type TileFn<const R: usize> =
    fn([&[i8]; R], &[i8], &Block<'_>, &Requant<'_>) -> [[i8; NR]; R];
/// See [`TileKernels::i8_u4_rows`]: the last argument asks for packed uint4 output.
pub(crate) type PackingTileFn<const R: usize> =
    fn([&[i8]; R], &[i8], &Block<'_>, &Requant<'_>, bool) -> TileOut<R>;
/// See [`TileKernels::i4`].
pub(crate) type TileI4Fn<const R: usize> =
    fn([&[i8]; R], &[u8], &Block<'_>, &Requant<'_>) -> [[i8; NR]; R];
/// See [`TileKernels::i4_summed`]: `(rows, weights, row sums, block, q, pack)`.
pub(crate) type TileI4SumsFn<const R: usize> =
    fn([&[i8]; R], &[u8], &[i32; R], &Block<'_>, &Requant<'_>, bool) -> TileOut<R>;
/// See [`Kernels::depthwise`].
pub(crate) type DepthwiseFn = fn(&ConvGeometry, &Requant<'_>, &[i8], &[i8], &mut [i8]);
/// See [`Kernels::depthwise_u4`].
pub(crate) type DepthwiseU4Fn =
    fn(&ConvGeometry, &Requant<'_>, &[u8], &[u8], &mut ValuesMut<'_>) -> bool;
/// See [`Kernels::add`].
pub(crate) type AddFn = fn(&AddParams, &[i8], &[i8], &mut [i8]) -> usize;
/// See [`Kernels::add_u4`].
pub(crate) type AddU4Fn = fn(&AddU4Levels, &[u8], &[u8], &mut [u8]) -> usize;

/// The portable oracle: every tier's starting point.
pub(crate) static SCALAR: Kernels = Kernels {
    name: c"scalar",
    peak_macs_per_cycle: 1,
    available: || true,
    gemm: GemmKernels {
        in_place: None,
        conv_u4: None,
        gather_small: None,
        single_row: None,
        one: TileKernels {
            all_blocks: None,
            i8: super::gemm::gemm_tile_scalar::<1>,
            i8_u4_rows: None,
            i4: super::gemm::gemm_tile_scalar_i4::<1>,
            i4_summed: None,
        },
        mr: TileKernels {
            all_blocks: None,
            i8: super::gemm::gemm_tile_scalar::<MR>,
            i8_u4_rows: None,
            i4: super::gemm::gemm_tile_scalar_i4::<MR>,
            i4_summed: None,
        },
    },
    depthwise: scalar::depthwise_conv2d,
    depthwise_u4: None,
    add: None,
    add_u4: None,
};

/// A tier of kernels: the instruction set they run on and the table of them. Chosen once per
/// interpreter: by runtime CPU detection with the `std` feature, by compile-time target
/// features without it.
#[derive(Clone, Copy)]
pub struct Isa(&'static Kernels);

impl Isa {
    /// Portable Rust; always available.
    pub const SCALAR: Isa = Isa(&SCALAR);
    /// x86-64 AVX2.
    #[cfg(target_arch = "x86_64")]
    pub const AVX2: Isa = Isa(&super::x86::AVX2);
    /// x86-64 AVX-VNNI (`vpdpbusd` on VEX, no AVX-512: Alder Lake and later client cores,
    /// N100-class E-cores): the GEMM tiles, every other kernel AVX2's.
    #[cfg(target_arch = "x86_64")]
    pub const AVX_VNNI: Isa = Isa(&super::x86::AVX_VNNI);
    /// x86-64 AVX-512 with VNNI (`vpdpbusd`; AVX512F/BW/VL): GEMMs, convolutions, int8
    /// depthwise and ADD on 512-bit registers, every other kernel AVX2's.
    #[cfg(target_arch = "x86_64")]
    pub const AVX512_VNNI: Isa = Isa(&super::x86::AVX512_VNNI);
    /// Arm Advanced SIMD (aarch64, or armv7 with NEON).
    #[cfg(any(
        target_arch = "aarch64",
        all(target_arch = "arm", feature = "armv7-neon")
    ))]
    pub const NEON: Isa = Isa(&super::arm::NEON);
    /// aarch64 Advanced SIMD with the `dotprod` extension (SDOT).
    #[cfg(target_arch = "aarch64")]
    pub const NEON_DOTPROD: Isa = Isa(&super::arm::NEON_DOTPROD);

    /// Every tier this build has kernels for, slowest first: where a tier is registered.
    pub const ALL: &'static [Isa] = &[
        Isa::SCALAR,
        #[cfg(target_arch = "x86_64")]
        Isa::AVX2,
        #[cfg(target_arch = "x86_64")]
        Isa::AVX_VNNI,
        #[cfg(target_arch = "x86_64")]
        Isa::AVX512_VNNI,
        #[cfg(any(
            target_arch = "aarch64",
            all(target_arch = "arm", feature = "armv7-neon")
        ))]
        Isa::NEON,
        #[cfg(target_arch = "aarch64")]
        Isa::NEON_DOTPROD,
    ];

    /// The best tier this CPU runs.
    pub fn detect() -> Isa {
        Isa::ALL
            .iter()
            .rev()
            .find(|isa| isa.is_available())
            .copied()
            .unwrap_or(Isa::SCALAR)
    }

    /// Whether this CPU (and this build) can run kernels for `self`.
    pub fn is_available(self) -> bool {
        (self.0.available)()
    }

    /// Lower-case name, as printed by the tools.
    pub fn name(self) -> &'static str {
        self.0.name.to_str().unwrap_or("?")
    }

    /// [`Isa::name`] as a C string.
    pub fn c_name(self) -> &'static CStr {
        self.0.name
    }

    /// Nominal int8 multiply-accumulates per cycle of one core at this tier's best
    /// instruction: two 256-bit `vpmaddwd` (AVX2) or `vpdpbusd` (AVX-VNNI), one 512-bit
    /// `vpdpbusd` (AVX-512 VNNI) per cycle, two `sdot` (dotprod), one `smlal` pair (NEON).
    /// Cores differ (a Sapphire Rapids core issues two 512-bit `vpdpbusd` per cycle, a Zen 4
    /// core one); `edgeq-bench` times the core's own (docs/BENCHMARKING.md).
    pub fn peak_macs_per_cycle(self) -> u32 {
        self.0.peak_macs_per_cycle
    }

    /// The tier called `name` (see [`Isa::name`]), if this build has it.
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.iter().copied().find(|isa| isa.name() == name)
    }

    /// The table of kernels to run: this tier's if the CPU has it, else the oracle's. The
    /// only way to a tier's table, so the one check behind every tier's `unsafe`.
    pub(crate) fn kernels(self) -> &'static Kernels {
        if self.is_available() {
            self.0
        } else {
            &SCALAR
        }
    }
}

impl PartialEq for Isa {
    fn eq(&self, other: &Isa) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Isa {}

impl core::fmt::Debug for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
