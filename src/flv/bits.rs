//! A big-endian bit reader for codec headers (AudioSpecificConfig, H.264 SPS).
//!
//! Every read is checked: running off the end returns `None` instead of panicking, so
//! callers can turn it into a typed error.

pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    pub(crate) fn bits_left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Reads `n` bits (at most 32) as an unsigned number, most significant first.
    pub(crate) fn read_bits(&mut self, n: u32) -> Option<u32> {
        if n > 32 || self.bits_left() < n as usize {
            return None;
        }
        let mut value: u64 = 0;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.read_bit()?);
        }
        u32::try_from(value).ok()
    }

    pub(crate) fn skip_bits(&mut self, n: usize) -> Option<()> {
        if self.bits_left() < n {
            return None;
        }
        self.pos += n;
        Some(())
    }

    /// Unsigned exp-Golomb code, ue(v) in H.264. Values beyond 32 bits are rejected: no
    /// field we read can be that large in a valid stream.
    pub(crate) fn read_ue(&mut self) -> Option<u32> {
        let mut leading_zeros = 0u32;
        while !self.read_bit()? {
            leading_zeros += 1;
            if leading_zeros > 31 {
                return None;
            }
        }
        let suffix = self.read_bits(leading_zeros)?;
        let value = (1u64 << leading_zeros) - 1 + u64::from(suffix);
        u32::try_from(value).ok()
    }

    /// Signed exp-Golomb code, se(v) in H.264: -(2^31 - 1) ..= 2^31 - 1.
    pub(crate) fn read_se(&mut self) -> Option<i32> {
        let k = i64::from(self.read_ue()?);
        let value = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(value).ok()
    }

    /// ue(v) limited to the range the specification gives the field: a larger value is a
    /// malformed header (`None`), so later arithmetic on it cannot overflow.
    pub(crate) fn read_ue_max(&mut self, max: u32) -> Option<u32> {
        self.read_ue().filter(|&v| v <= max)
    }

    /// se(v) limited to `min..=max`, as [`read_ue_max`](Self::read_ue_max).
    pub(crate) fn read_se_in(&mut self, min: i32, max: i32) -> Option<i32> {
        self.read_se().filter(|v| (min..=max).contains(v))
    }
}

/// Removes H.264 emulation prevention bytes (the 0x03 in 00 00 03) from a NAL unit payload.
pub(crate) fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bits_across_bytes() {
        let mut r = BitReader::new(&[0b1010_1100, 0b0101_0000]);
        assert_eq!(r.read_bits(3), Some(0b101));
        assert_eq!(r.read_bits(7), Some(0b011_0001));
        assert_eq!(r.bits_left(), 6);
        assert_eq!(r.read_bits(7), None);
        assert_eq!(r.read_bits(6), Some(0b01_0000));
        assert_eq!(r.read_bit(), None);
    }

    #[test]
    fn exp_golomb() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, 00111 -> 6
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0011, 0b1000_0000]);
        assert_eq!(r.read_ue(), Some(0));
        assert_eq!(r.read_ue(), Some(1));
        assert_eq!(r.read_ue(), Some(2));
        assert_eq!(r.read_ue(), Some(3));
        assert_eq!(r.read_ue(), Some(6));
        // se: 1 -> 0, 010 -> 1, 011 -> -1, 00100 -> 2, 00101 -> -2
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0010, 0b1000_0000]);
        assert_eq!(r.read_se(), Some(0));
        assert_eq!(r.read_se(), Some(1));
        assert_eq!(r.read_se(), Some(-1));
        assert_eq!(r.read_se(), Some(2));
        assert_eq!(r.read_se(), Some(-2));
    }

    #[test]
    fn exp_golomb_runs_out_without_panicking() {
        assert_eq!(BitReader::new(&[0, 0, 0, 0, 0]).read_ue(), None);
        assert_eq!(BitReader::new(&[]).read_ue(), None);
        assert_eq!(BitReader::new(&[0x00, 0x01]).read_ue(), None);
    }

    #[test]
    fn exp_golomb_limits() {
        // 31 leading zeros, a one and 31 ones: the largest ue(v) that fits, 2^32 - 2.
        let max = [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(BitReader::new(&max).read_ue(), Some(u32::MAX - 1));
        // ... and as se(v): -(2^31 - 1) (even codes are negative).
        assert_eq!(BitReader::new(&max).read_se(), Some(-i32::MAX));
        // 32 and more leading zeros cannot fit 32 bits: refused, never wrapped.
        let too_long = [0, 0, 0, 0, 0x80, 0, 0, 0, 0];
        assert_eq!(BitReader::new(&too_long).read_ue(), None);
        assert_eq!(BitReader::new(&too_long).read_se(), None);
        let mut forty_zeros = vec![0u8; 5];
        forty_zeros.extend_from_slice(&[0xff; 8]);
        assert_eq!(BitReader::new(&forty_zeros).read_ue(), None);
        // Bounded reads: 00111 is ue 6, se -3.
        assert_eq!(BitReader::new(&[0b0011_1000]).read_ue_max(6), Some(6));
        assert_eq!(BitReader::new(&[0b0011_1000]).read_ue_max(5), None);
        assert_eq!(BitReader::new(&[0b0011_1000]).read_se_in(-3, 3), Some(-3));
        assert_eq!(BitReader::new(&[0b0011_1000]).read_se_in(-2, 3), None);
        assert_eq!(BitReader::new(&max).read_se_in(-128, 127), None);
    }

    #[test]
    fn removes_emulation_prevention() {
        assert_eq!(
            unescape_rbsp(&[0x67, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x03]),
            vec![0x67, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03]
        );
    }
}
