//! 4-bit tensors: element access for the oracle, unpacking to bytes for the fast paths, and
//! the packed GEMM weight order.
//!
//! A 4-bit tensor holds element `i` in byte `i / 2`, the low nibble for even `i` (uint4
//! activations 0..=15 with a zero point; int4 weights -8..=7). Packed GEMM weights (int4,
//! [`WEIGHT_LAYOUT_PACKED_8X4`](crate::format::WEIGHT_LAYOUT_PACKED_8X4)) order each group of
//! 32 weights (8 channels x 4 reduction steps, `w[c * 4 + k]` as in the int8 layout) so that
//! byte `j` of the group's 16 holds `w[j]` low and `w[j + 16]` high: one shift and one mask
//! split a group into channels 0..3 and 4..7, the halves NEON `sdot` and AVX2 want.

/// Read access to the elements of an int8 or 4-bit tensor, as i32.
pub trait Elems {
    /// Element `i`.
    fn at(&self, i: usize) -> i32;
}

impl Elems for [i8] {
    #[inline(always)]
    fn at(&self, i: usize) -> i32 {
        i32::from(self[i])
    }
}

/// Write access to the elements of an int8 or uint4 tensor.
pub trait ElemsMut {
    /// Sets element `i` to `v` (already clamped to the type's range).
    fn put(&mut self, i: usize, v: i32);
}

impl ElemsMut for [i8] {
    #[inline(always)]
    fn put(&mut self, i: usize, v: i32) {
        self[i] = v as i8;
    }
}

/// The elements of an int8 or 4-bit tensor, by its dtype.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    /// int8, one per byte.
    I8(&'a [i8]),
    /// uint4 (activations), two per byte.
    U4(&'a [u8]),
    /// int4 (weights), two per byte.
    I4(&'a [u8]),
}

impl<'a> Values<'a> {
    /// The elements of `bytes` as `dtype` (int8, int4 or uint4), or `None` for other types.
    pub fn of(dtype: crate::format::DType, bytes: &'a [u8]) -> Option<Self> {
        use crate::format::DType;
        match dtype {
            DType::I8 => Some(Values::I8(bytemuck::cast_slice(bytes))),
            DType::U4 => Some(Values::U4(bytes)),
            DType::I4 => Some(Values::I4(bytes)),
            _ => None,
        }
    }

    /// Number of elements the buffer holds (for 4-bit types, twice its bytes).
    pub fn len(&self) -> usize {
        match self {
            Values::I8(d) => d.len(),
            Values::U4(d) | Values::I4(d) => d.len() * 2,
        }
    }

    /// True for an empty buffer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements `start..start + out.len()` as bytes.
    pub fn copy_to(&self, start: usize, out: &mut [i8]) {
        match self {
            Values::I8(d) => out.copy_from_slice(&d[start..start + out.len()]),
            Values::U4(d) => unpack_u4(d, start, out),
            Values::I4(_) => {
                for (k, o) in out.iter_mut().enumerate() {
                    *o = self.at(start + k) as i8;
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)`, with copies of at most 16 bytes done as two (or three)
/// overlapping fixed-size moves instead of a call to `memcpy` (which a byte loop becomes).
#[inline]
pub(crate) fn copy_bytes(dst: &mut [i8], src: &[i8]) {
    let n = dst.len();
    if n != src.len() || n > 16 {
        dst.copy_from_slice(src);
        return;
    }
    match n {
        8.. => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        4.. => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        1.. => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        0 => {}
    }
}

/// `dst.fill(v)`, with fills of at most 16 bytes done as overlapping fixed-size stores
/// instead of a call to `memset`.
#[inline]
pub(crate) fn fill_bytes(dst: &mut [i8], v: i8) {
    let n = dst.len();
    match n {
        17.. => dst.fill(v),
        8.. => {
            dst[..8].copy_from_slice(&[v; 8]);
            dst[n - 8..].copy_from_slice(&[v; 8]);
        }
        4.. => {
            dst[..4].copy_from_slice(&[v; 4]);
            dst[n - 4..].copy_from_slice(&[v; 4]);
        }
        1.. => {
            dst[0] = v;
            dst[n / 2] = v;
            dst[n - 1] = v;
        }
        0 => {}
    }
}

impl Elems for Values<'_> {
    #[inline(always)]
    fn at(&self, i: usize) -> i32 {
        match self {
            Values::I8(d) => i32::from(d[i]),
            Values::U4(d) => i32::from(nibble(d[i / 2], i)),
            Values::I4(d) => sign_extend(nibble(d[i / 2], i)),
        }
    }
}

/// The elements of an int8 or uint4 tensor being written, by its dtype.
#[derive(Debug)]
pub enum ValuesMut<'a> {
    /// int8.
    I8(&'a mut [i8]),
    /// uint4, two per byte.
    U4(&'a mut [u8]),
}

impl<'a> ValuesMut<'a> {
    /// `bytes` as `dtype` (int8 or uint4), or `None` for other types.
    pub fn of(dtype: crate::format::DType, bytes: &'a mut [u8]) -> Option<Self> {
        use crate::format::DType;
        match dtype {
            DType::I8 => Some(ValuesMut::I8(bytemuck::cast_slice_mut(bytes))),
            DType::U4 => Some(ValuesMut::U4(bytes)),
            _ => None,
        }
    }

    /// Number of elements the buffer holds.
    pub fn len(&self) -> usize {
        match self {
            ValuesMut::I8(d) => d.len(),
            ValuesMut::U4(d) => d.len() * 2,
        }
    }

    /// True for an empty buffer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `values` as elements `start..`.
    #[inline]
    pub fn write(&mut self, start: usize, values: &[i8]) {
        match self {
            ValuesMut::I8(d) => d[start..start + values.len()].copy_from_slice(values),
            ValuesMut::U4(d) => pack_u4(values, d, start),
        }
    }
}

impl ElemsMut for ValuesMut<'_> {
    #[inline(always)]
    fn put(&mut self, i: usize, v: i32) {
        match self {
            ValuesMut::I8(d) => d[i] = v as i8,
            ValuesMut::U4(d) => set_nibble(d, i, v as u8),
        }
    }
}

/// Nibble of element `i` in its byte.
#[inline(always)]
fn nibble(byte: u8, i: usize) -> u8 {
    if i.is_multiple_of(2) {
        byte & 0x0F
    } else {
        byte >> 4
    }
}

/// A 4-bit two's complement value as i32.
#[inline(always)]
pub fn sign_extend(v: u8) -> i32 {
    (i32::from(v & 0x0F) ^ 8) - 8
}

/// Writes the low 4 bits of `v` as element `i`.
#[inline(always)]
pub fn set_nibble(bytes: &mut [u8], i: usize, v: u8) {
    let b = &mut bytes[i / 2];
    *b = if i.is_multiple_of(2) {
        (*b & 0xF0) | (v & 0x0F)
    } else {
        (*b & 0x0F) | (v << 4)
    };
}

/// Elements `start..start + out.len()` of a packed uint4 tensor, as bytes 0..=15.
pub fn unpack_u4(bytes: &[u8], start: usize, out: &mut [i8]) {
    let mut i = start;
    let mut out = out;
    if i % 2 == 1 && !out.is_empty() {
        out[0] = (bytes[i / 2] >> 4) as i8;
        out = &mut out[1..];
        i += 1;
    }
    let src = &bytes[i / 2..];
    let pairs = out.len() / 2;
    let done = unpack_pairs(&src[..pairs], &mut out[..2 * pairs]);
    for (k, &b) in src[done..pairs].iter().enumerate() {
        out[2 * (done + k)] = (b & 0x0F) as i8;
        out[2 * (done + k) + 1] = (b >> 4) as i8;
    }
    if out.len() % 2 == 1 {
        let last = out.len() - 1;
        out[last] = (src[pairs] & 0x0F) as i8;
    }
}

/// Unpacks whole bytes (`out` holds two values per byte of `src`); returns how many bytes
/// it did: 16 at a time with SSE2 (x86-64) or NEON (aarch64), both baseline there so no
/// dispatch is needed, then 4 at a time (SWAR).
#[inline]
fn unpack_pairs(src: &[u8], out: &mut [i8]) -> usize {
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(unused_mut)
    )]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    for (chunk, dst) in src.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
        use core::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline; the unaligned load reads the 16
        // bytes of `chunk` and the two unaligned stores write the 32 bytes of `dst`.
        unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast());
            let mask = _mm_set1_epi8(0x0F);
            let lo = _mm_and_si128(x, mask);
            let hi = _mm_and_si128(_mm_srli_epi16::<4>(x), mask);
            _mm_storeu_si128(dst.as_mut_ptr().cast(), _mm_unpacklo_epi8(lo, hi));
            _mm_storeu_si128(dst[16..].as_mut_ptr().cast(), _mm_unpackhi_epi8(lo, hi));
        }
        done += 16;
    }
    #[cfg(target_arch = "aarch64")]
    for (chunk, dst) in src.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
        use core::arch::aarch64::*;
        // SAFETY: NEON is part of the aarch64 baseline; the load reads the 16 bytes of
        // `chunk` and the interleaving store writes the 32 bytes of `dst`.
        unsafe {
            let x = vld1q_u8(chunk.as_ptr());
            let pair = uint8x16x2_t(vandq_u8(x, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(x));
            vst2q_u8(dst.as_mut_ptr().cast(), pair);
        }
        done += 16;
    }
    done + unpack_pairs_swar(&src[done..], &mut out[2 * done..])
}

/// [`unpack_pairs`] 4 bytes at a time (SWAR: spreads the low and the high nibbles of 4
/// bytes to alternate bytes of a u64).
#[inline]
fn unpack_pairs_swar(src: &[u8], out: &mut [i8]) -> usize {
    /// Moves byte `i` of the low 4 bytes to byte `2 i`.
    #[inline(always)]
    fn spread(x: u64) -> u64 {
        let x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
        (x | (x << 8)) & 0x00FF_00FF_00FF_00FF
    }
    let mut done = 0;
    for (chunk, dst) in src.chunks_exact(4).zip(out.chunks_exact_mut(8)) {
        let x = u64::from(u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
        let lo = spread(x & 0x0F0F_0F0F);
        let hi = spread((x >> 4) & 0x0F0F_0F0F);
        let v = (lo | (hi << 8)).to_le_bytes();
        for (d, b) in dst.iter_mut().zip(v) {
            *d = b as i8;
        }
        done += 4;
    }
    done
}

/// The elements of a packed int4 tensor (plain order) as int8.
pub fn unpack_i4(bytes: &[u8], out: &mut [i8]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = sign_extend(nibble(bytes[i / 2], i)) as i8;
    }
}

/// Writes `values` (each 0..=15) as elements `start..` of a packed uint4 tensor.
#[inline]
pub fn pack_u4(values: &[i8], bytes: &mut [u8], start: usize) {
    // The GEMM writes each tile row as 8 values at an even element: one SWAR step.
    if let (0, Ok(eight)) = (start % 2, <&[i8; 8]>::try_from(values)) {
        if let Some(out) = bytes.get_mut(start / 2..start / 2 + 4) {
            out.copy_from_slice(&pack_eight(eight));
            return;
        }
    }
    let mut values = values;
    let mut i = start;
    if i % 2 == 1 && !values.is_empty() {
        set_nibble(bytes, i, values[0] as u8);
        values = &values[1..];
        i += 1;
    }
    let n = values.len() / 2;
    let dst = &mut bytes[i / 2..i / 2 + n];
    // 32 values to 16 bytes at a time (SSE2 or NEON), then 8 to 4 (SWAR), then pairs.
    let mut done = pack_pairs_simd(&values[..2 * n], dst);
    for (out, eight) in dst[done..]
        .chunks_exact_mut(4)
        .zip(values[2 * done..].chunks_exact(8))
    {
        out.copy_from_slice(&pack_eight(eight.try_into().unwrap_or(&[0; 8])));
        done += 4;
    }
    let pairs = values[2 * done..2 * n].chunks_exact(2);
    for (b, pair) in dst[done..].iter_mut().zip(pairs) {
        *b = (pair[0] as u8 & 0x0F) | ((pair[1] as u8) << 4);
    }
    let tail = &values[2 * n..];
    if let Some(&v) = tail.first() {
        set_nibble(bytes, i + 2 * n, v as u8);
    }
}

/// 8 values (low nibbles) to 4 bytes (SWAR): byte 2k becomes value 2k | value 2k+1 << 4,
/// then the even bytes close up.
#[inline(always)]
fn pack_eight(eight: &[i8; 8]) -> [u8; 4] {
    let v = u64::from_le_bytes(eight.map(|x| x as u8 & 0x0F));
    let t = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
    let t = (t | (t >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((t | (t >> 16)) as u32).to_le_bytes()
}

/// Packs values 32 at a time into `dst` (16 bytes each) with SSE2 (x86-64) or NEON
/// (aarch64); returns the bytes written (0 elsewhere).
#[inline]
fn pack_pairs_simd(values: &[i8], dst: &mut [u8]) -> usize {
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(unused_mut)
    )]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    for (out, v) in dst.chunks_exact_mut(16).zip(values.chunks_exact(32)) {
        use core::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline; the unaligned loads read the 32
        // bytes of `v` and the unaligned store writes the 16 bytes of `out`.
        unsafe {
            // A 16-bit lane holds an even value low and the next value high; the byte
            // wanted is the even value's low nibble | the odd value's low nibble << 4, at
            // most 0xFF, so the unsigned-saturating pack is exact.
            let (low, high) = (_mm_set1_epi16(0x000F), _mm_set1_epi16(0x00F0));
            let lanes = |x: __m128i| {
                _mm_or_si128(
                    _mm_and_si128(x, low),
                    _mm_and_si128(_mm_srli_epi16::<4>(x), high),
                )
            };
            let a = lanes(_mm_loadu_si128(v.as_ptr().cast()));
            let b = lanes(_mm_loadu_si128(v[16..].as_ptr().cast()));
            _mm_storeu_si128(out.as_mut_ptr().cast(), _mm_packus_epi16(a, b));
        }
        done += 16;
    }
    #[cfg(target_arch = "aarch64")]
    for (out, v) in dst.chunks_exact_mut(16).zip(values.chunks_exact(32)) {
        use core::arch::aarch64::*;
        // SAFETY: NEON is part of the aarch64 baseline; the de-interleaving load reads the
        // 32 bytes of `v` and the store writes the 16 bytes of `out`.
        unsafe {
            let pair = vld2q_u8(v.as_ptr().cast());
            let low = vandq_u8(pair.0, vdupq_n_u8(0x0F));
            vst1q_u8(out.as_mut_ptr(), vorrq_u8(low, vshlq_n_u8::<4>(pair.1)));
        }
        done += 16;
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = (values, dst);
    done
}

/// Packs int4 GEMM weights already in the int8 packed order (`values[i]` for element `i`
/// of the `[ceil(N/8), ceil(K/4), 8, 4]` layout) into the grouped nibble order (host side).
pub fn pack_gemm_i4(values: &[i8], out: &mut [u8]) {
    for (group, bytes) in values.chunks_exact(32).zip(out.chunks_exact_mut(16)) {
        for (j, b) in bytes.iter_mut().enumerate() {
            *b = (group[j] as u8 & 0x0F) | ((group[j + 16] as u8) << 4);
        }
    }
}

/// Weight `i` (0..32) of one packed int4 GEMM group of 16 bytes.
#[inline(always)]
pub fn gemm_i4_at(group: &[u8], i: usize) -> i32 {
    let b = group[i % 16];
    sign_extend(if i < 16 { b } else { b >> 4 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibbles_round_trip_at_any_offset() {
        let values: [i8; 23] = core::array::from_fn(|i| ((i * 7 + 3) % 16) as i8);
        for start in 0..3 {
            let mut bytes = [0xAAu8; 14];
            pack_u4(&values, &mut bytes, start);
            let mut back = [0i8; 23];
            unpack_u4(&bytes, start, &mut back);
            assert_eq!(back, values);
            for len in 0..23 {
                let mut part = [0i8; 23];
                unpack_u4(&bytes, start + 1, &mut part[..len]);
                assert_eq!(&part[..len], &values[1..1 + len.min(22)][..len]);
            }
            let n = Values::U4(&bytes);
            assert!((0..23).all(|k| n.at(start + k) == i32::from(values[k])));
            // Neighbours outside the range keep their bits.
            if start == 1 {
                assert_eq!(bytes[0] & 0x0F, 0x0A);
            }
        }
    }

    /// The vector and SWAR paths against one nibble at a time, for every start parity and
    /// lengths across the 32-, 8- and 4-value blocks and their tails.
    #[test]
    fn pack_and_unpack_match_the_nibble_reference() {
        for len in 0..150 {
            for start in 0..2 {
                let values: [i8; 150] = core::array::from_fn(|i| ((i * 11 + len) % 16) as i8);
                let values = &values[..len];
                let mut bytes = [0x5Au8; 80];
                let mut want = bytes;
                pack_u4(values, &mut bytes, start);
                for (k, &v) in values.iter().enumerate() {
                    set_nibble(&mut want, start + k, v as u8);
                }
                assert_eq!(bytes, want, "pack len {len} start {start}");
                let mut back = [0i8; 150];
                unpack_u4(&bytes, start, &mut back[..len]);
                assert_eq!(&back[..len], values, "unpack len {len} start {start}");
            }
        }
    }

    #[test]
    fn int4_is_twos_complement_and_gemm_groups_split_in_halves() {
        let values: [i8; 32] = core::array::from_fn(|i| (i % 16) as i8 - 8);
        let mut packed = [0u8; 16];
        pack_gemm_i4(&values, &mut packed);
        assert!((0..32).all(|i| gemm_i4_at(&packed, i) == i32::from(values[i])));
        let plain = [0x7Fu8, 0x08];
        let mut out = [0i8; 4];
        unpack_i4(&plain, &mut out);
        assert_eq!(out, [-1, 7, -8, 0]);
    }
}
