//! Just enough of an H.264 sequence parameter set parser to fill caps: coded size after
//! cropping, sample aspect ratio and VUI frame rate (ITU-T H.264 7.3.2.1.1 and E.1.1).
//!
//! Everything comes from the peer's avcC, so each read is checked and every Exp-Golomb value
//! is held to the range 7.4.2.1.1 gives it: an out-of-range value makes the SPS malformed
//! (`None`), so no later arithmetic on it can overflow.

use super::bits::{BitReader, unescape_rbsp};

/// What the SPS says about the picture.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpsInfo {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Sample aspect ratio (numerator, denominator), when the VUI gives one.
    pub(crate) par: Option<(u32, u32)>,
    /// Frames per second as (numerator, denominator), when the VUI has timing info.
    pub(crate) framerate: Option<(u32, u32)>,
}

/// Larger pictures are not H.264 levels can describe; rejecting them keeps arithmetic small.
const MAX_DIMENSION: u32 = 16384;
/// The most macroblocks (16 samples) across or down a picture of `MAX_DIMENSION`.
const MAX_MBS: u32 = MAX_DIMENSION / 16;
/// Range of offset_for_non_ref_pic, offset_for_top_to_bottom_field, offset_for_ref_frame.
const MAX_POC_OFFSET: i32 = i32::MAX;
/// MaxDpbFrames is at most 16 (A.3.1 h).
const MAX_REF_FRAMES: u32 = 16;

/// Table E-1: sample aspect ratios for aspect_ratio_idc 1..=16.
const SAR_TABLE: [(u32, u32); 16] = [
    (1, 1),
    (12, 11),
    (10, 11),
    (16, 11),
    (40, 33),
    (24, 11),
    (20, 11),
    (32, 11),
    (80, 33),
    (18, 11),
    (15, 11),
    (64, 33),
    (160, 99),
    (4, 3),
    (3, 2),
    (2, 1),
];

/// Parses an SPS NAL unit, header byte included. `None` if it is not an SPS or is malformed.
pub(crate) fn parse_sps(nal: &[u8]) -> Option<SpsInfo> {
    let (&header, _) = nal.split_first()?;
    if header & 0x1f != 7 {
        return None;
    }
    let rbsp = unescape_rbsp(nal.get(1..)?);
    let mut r = BitReader::new(&rbsp);

    let profile_idc = r.read_bits(8)?;
    r.skip_bits(16)?; // constraint flags, level_idc
    let _sps_id = r.read_ue_max(31)?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.read_ue_max(3)?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.read_bit()?;
        }
        let _bit_depth_luma_minus8 = r.read_ue_max(6)?;
        let _bit_depth_chroma_minus8 = r.read_ue_max(6)?;
        r.skip_bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.read_bit()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.read_bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }

    let _log2_max_frame_num_minus4 = r.read_ue_max(12)?;
    match r.read_ue_max(2)? {
        0 => {
            let _log2_max_poc_lsb_minus4 = r.read_ue_max(12)?;
        }
        1 => {
            r.skip_bits(1)?; // delta_pic_order_always_zero_flag
            r.read_se_in(-MAX_POC_OFFSET, MAX_POC_OFFSET)?; // offset_for_non_ref_pic
            r.read_se_in(-MAX_POC_OFFSET, MAX_POC_OFFSET)?; // offset_for_top_to_bottom_field
            let cycle = r.read_ue_max(255)?;
            for _ in 0..cycle {
                r.read_se_in(-MAX_POC_OFFSET, MAX_POC_OFFSET)?; // offset_for_ref_frame
            }
        }
        _ => {}
    }
    let _max_num_ref_frames = r.read_ue_max(MAX_REF_FRAMES)?;
    r.skip_bits(1)?; // gaps_in_frame_num_value_allowed_flag

    // Minus-one fields: read at most MAX_MBS - 1, so the sizes below stay within MAX_DIMENSION.
    let width_mbs = r.read_ue_max(MAX_MBS - 1)? + 1;
    let height_map_units = r.read_ue_max(MAX_MBS - 1)? + 1;
    let frame_mbs_only = r.read_bit()?;
    if !frame_mbs_only {
        r.skip_bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip_bits(1)?; // direct_8x8_inference_flag

    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let width = width_mbs * 16;
    let height = height_map_units * 16 * field_factor;
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return None;
    }

    let (mut crop_w, mut crop_h) = (0, 0);
    if r.read_bit()? {
        // Any offset beyond the picture is malformed; bounding each keeps the sums small.
        let mut offset = || r.read_ue_max(MAX_DIMENSION);
        let (left, right, top, bottom) = (offset()?, offset()?, offset()?, offset()?);
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        // Table 6-1: SubWidthC/SubHeightC; crop offsets are in chroma sample units.
        let (unit_x, unit_y) = match chroma_array_type {
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        crop_w = (left + right) * unit_x;
        crop_h = (top + bottom) * unit_y;
        if crop_w >= width || crop_h >= height {
            return None;
        }
    }

    let mut info = SpsInfo {
        width: width - crop_w,
        height: height - crop_h,
        par: None,
        framerate: None,
    };
    if r.read_bit()? {
        // A truncated VUI still leaves a usable size, so its errors are not fatal.
        let _ = parse_vui(&mut r, &mut info);
    }
    Some(info)
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            // delta_scale is -128..=127 (7.4.2.1.1.1); a larger one would overflow the sum.
            let delta = r.read_se_in(-128, 127)?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

fn parse_vui(r: &mut BitReader<'_>, info: &mut SpsInfo) -> Option<()> {
    if r.read_bit()? {
        let idc = r.read_bits(8)?;
        let sar = match idc {
            255 => Some((r.read_bits(16)?, r.read_bits(16)?)),
            1..=16 => SAR_TABLE.get(idc as usize - 1).copied(),
            _ => None,
        };
        info.par = sar.filter(|&(n, d)| n != 0 && d != 0);
    }
    if r.read_bit()? {
        r.skip_bits(1)?; // overscan_appropriate_flag
    }
    if r.read_bit()? {
        r.skip_bits(4)?; // video_format, video_full_range_flag
        if r.read_bit()? {
            r.skip_bits(24)?; // colour primaries, transfer, matrix
        }
    }
    if r.read_bit()? {
        r.read_ue_max(5)?; // chroma_sample_loc_type_top_field
        r.read_ue_max(5)?; // chroma_sample_loc_type_bottom_field
    }
    if r.read_bit()? {
        let num_units_in_tick = r.read_bits(32)?;
        let time_scale = r.read_bits(32)?;
        // A frame lasts two ticks (one per field) in the usual encoding (E.2.1).
        let denom = num_units_in_tick.checked_mul(2)?;
        if time_scale != 0 && denom != 0 {
            info.framerate = Some(reduce(time_scale, denom));
        }
    }
    Some(())
}

fn reduce(n: u32, d: u32) -> (u32, u32) {
    let (mut a, mut b) = (n, d);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    (n / a, d / a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// SPS from ffmpeg/libx264, testsrc 320x240 25 fps, High 4:4:4 Predictive (yuv444p).
    const SPS_444_320X240: &str = "67f4000d919b28283f6022000003000200000300641e28532c";
    /// SPS from ffmpeg/libx264, 330x190 at 30 fps, High profile 4:2:0 (needs cropping).
    const SPS_420_330X190: &str = "6764000dacd941519e4ac044000003000400000300f03c50a658";

    #[test]
    fn parses_high_444_sps() {
        let info = parse_sps(&hex(SPS_444_320X240)).unwrap();
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(info.framerate, Some((25, 1)));
        assert_eq!(info.par, Some((1, 1)));
    }

    #[test]
    fn parses_cropped_sps() {
        let info = parse_sps(&hex(SPS_420_330X190)).unwrap();
        assert_eq!((info.width, info.height), (330, 190));
        assert_eq!(info.framerate, Some((30, 1)));
    }

    #[test]
    fn rejects_non_sps_and_truncation() {
        let sps = hex(SPS_420_330X190);
        assert_eq!(parse_sps(&[0x68, 0xeb, 0xe3]), None);
        assert_eq!(parse_sps(&[]), None);
        // Cutting before the size fields fails; cutting inside the VUI keeps the size.
        for len in 0..8 {
            assert_eq!(parse_sps(&sps[..len]), None, "len {len}");
        }
        let info = parse_sps(&sps[..sps.len() - 6]).unwrap();
        assert_eq!((info.width, info.height), (330, 190));
        assert_eq!(info.framerate, None);
    }

    /// Writes syntax elements most significant bit first, to build an SPS field by field.
    #[derive(Default)]
    struct Bits {
        bits: Vec<bool>,
    }

    impl Bits {
        fn u(&mut self, value: u64, n: u32) -> &mut Self {
            for i in (0..n).rev() {
                self.bits.push(value >> i & 1 == 1);
            }
            self
        }
        fn flag(&mut self, b: bool) -> &mut Self {
            self.u(u64::from(b), 1)
        }
        fn ue(&mut self, value: u64) -> &mut Self {
            let code = value + 1;
            let len = 64 - code.leading_zeros();
            self.u(0, len - 1).u(code, len)
        }
        fn se(&mut self, value: i64) -> &mut Self {
            let code = if value > 0 { 2 * value - 1 } else { -2 * value };
            self.ue(code as u64)
        }
        /// The NAL unit: SPS header, the bits, the stop bit, and emulation prevention bytes.
        fn nal(&self) -> Vec<u8> {
            let mut bits = self.bits.clone();
            bits.push(true);
            bits.resize(bits.len().div_ceil(8) * 8, false);
            let mut out = vec![0x67];
            let mut zeros = 0;
            for byte in bits.chunks(8) {
                let byte = byte.iter().fold(0u8, |acc, &b| acc << 1 | u8::from(b));
                if zeros >= 2 && byte <= 3 {
                    out.push(3);
                    zeros = 0;
                }
                zeros = if byte == 0 { zeros + 1 } else { 0 };
                out.push(byte);
            }
            out
        }
    }

    /// The ue/se fields of an SPS, to vary one at a time.
    #[derive(Clone)]
    struct Fields {
        /// `Some` makes a High profile SPS with this first scaling list's delta_scale values.
        scaling_deltas: Option<Vec<i64>>,
        chroma_format_idc: u64,
        bit_depth_luma_minus8: u64,
        sps_id: u64,
        log2_max_frame_num_minus4: u64,
        poc_type: u64,
        log2_max_poc_lsb_minus4: u64,
        /// offset_for_non_ref_pic, offset_for_top_to_bottom_field, offset_for_ref_frame[]
        poc_offsets: (i64, i64, Vec<i64>),
        max_num_ref_frames: u64,
        width_mbs_minus1: u64,
        height_map_units_minus1: u64,
        crop: Option<[u64; 4]>,
        chroma_loc: Option<u64>,
    }

    /// 320x240, baseline.
    const BASE: Fields = Fields {
        scaling_deltas: None,
        chroma_format_idc: 1,
        bit_depth_luma_minus8: 0,
        sps_id: 0,
        log2_max_frame_num_minus4: 0,
        poc_type: 2,
        log2_max_poc_lsb_minus4: 0,
        poc_offsets: (0, 0, Vec::new()),
        max_num_ref_frames: 1,
        width_mbs_minus1: 19,
        height_map_units_minus1: 14,
        crop: None,
        chroma_loc: None,
    };

    fn build(f: &Fields) -> Vec<u8> {
        let mut b = Bits::default();
        let profile = if f.scaling_deltas.is_some() { 100 } else { 66 };
        b.u(profile, 8).u(0, 8).u(30, 8).ue(f.sps_id);
        if let Some(deltas) = &f.scaling_deltas {
            b.ue(f.chroma_format_idc);
            if f.chroma_format_idc == 3 {
                b.flag(false); // separate_colour_plane_flag
            }
            b.ue(f.bit_depth_luma_minus8).ue(0);
            b.flag(false).flag(true); // qpprime_y_zero_transform_bypass, scaling matrix
            b.flag(true); // list 0 present
            for &d in deltas {
                b.se(d);
            }
            let lists = if f.chroma_format_idc == 3 { 12 } else { 8 };
            for _ in 1..lists {
                b.flag(false);
            }
        }
        b.ue(f.log2_max_frame_num_minus4).ue(f.poc_type);
        match f.poc_type {
            0 => {
                b.ue(f.log2_max_poc_lsb_minus4);
            }
            1 => {
                let (non_ref, top_bottom, cycle) = &f.poc_offsets;
                b.flag(false).se(*non_ref).se(*top_bottom);
                b.ue(cycle.len() as u64);
                for &o in cycle {
                    b.se(o);
                }
            }
            _ => {}
        }
        b.ue(f.max_num_ref_frames).flag(false);
        b.ue(f.width_mbs_minus1).ue(f.height_map_units_minus1);
        b.flag(true).flag(true); // frame_mbs_only, direct_8x8_inference
        b.flag(f.crop.is_some());
        for offset in f
            .crop
            .unwrap_or_default()
            .iter()
            .filter(|_| f.crop.is_some())
        {
            b.ue(*offset);
        }
        b.flag(f.chroma_loc.is_some());
        if let Some(loc) = f.chroma_loc {
            // VUI with chroma_loc_info and timing_info (25 fps) only.
            b.flag(false)
                .flag(false)
                .flag(false)
                .flag(true)
                .ue(loc)
                .ue(loc);
            b.flag(true).u(1, 32).u(50, 32).flag(true);
            b.flag(false).flag(false).flag(false).flag(false);
        }
        b.nal()
    }

    fn size_of(f: &Fields) -> Option<(u32, u32)> {
        parse_sps(&build(f)).map(|i| (i.width, i.height))
    }

    #[test]
    fn builds_a_valid_sps() {
        assert_eq!(size_of(&BASE), Some((320, 240)));
        let cropped = Fields {
            crop: Some([0, 5, 0, 3]),
            chroma_loc: Some(5),
            ..BASE
        };
        assert_eq!(size_of(&cropped), Some((310, 234)));
        let high = Fields {
            scaling_deltas: Some(vec![-8]),
            ..BASE
        };
        assert_eq!(size_of(&high), Some((320, 240)));
    }

    #[test]
    fn scaling_list_delta_cannot_overflow() {
        // delta_scale = 2^31 - 1, the largest se(v): 8 + delta overflowed an i32 (a panic in
        // debug builds) before deltas were limited to -128..=127. The bytes are:
        let sps = "6764001ead8000000300fffffffe0168141f90";
        assert_eq!(parse_sps(&hex(sps)), None);
        let huge = Fields {
            scaling_deltas: Some(vec![i64::from(i32::MAX)]),
            ..BASE
        };
        assert_eq!(build(&huge), hex(sps));
        let most_negative = Fields {
            scaling_deltas: Some(vec![-i64::from(i32::MAX)]),
            ..BASE
        };
        assert_eq!(size_of(&most_negative), None);
        // The limits themselves are valid (15 zero deltas complete the 16-entry list).
        for (first, ok) in [(127, true), (-128, true), (128, false), (-129, false)] {
            let mut deltas = vec![first];
            deltas.resize(16, 0);
            let f = Fields {
                scaling_deltas: Some(deltas),
                ..BASE
            };
            assert_eq!(size_of(&f).is_some(), ok, "delta_scale {first}");
        }
    }

    #[test]
    fn out_of_range_fields_are_malformed() {
        type Edit = fn(&mut Fields, u64);
        // Each field at its largest valid value parses; one more is refused.
        let cases: [(&str, u64, Edit); 8] = [
            ("seq_parameter_set_id", 31, |f, v| f.sps_id = v),
            ("log2_max_frame_num_minus4", 12, |f, v| {
                f.log2_max_frame_num_minus4 = v
            }),
            ("pic_order_cnt_type", 2, |f, v| f.poc_type = v),
            ("log2_max_pic_order_cnt_lsb_minus4", 12, |f, v| {
                f.poc_type = 0;
                f.log2_max_poc_lsb_minus4 = v;
            }),
            ("num_ref_frames_in_pic_order_cnt_cycle", 255, |f, v| {
                f.poc_type = 1;
                f.poc_offsets.2 = vec![-i64::from(i32::MAX); v as usize];
            }),
            ("max_num_ref_frames", 16, |f, v| f.max_num_ref_frames = v),
            ("pic_width_in_mbs_minus1", 1023, |f, v| {
                f.width_mbs_minus1 = v
            }),
            ("chroma_format_idc", 3, |f, v| {
                f.scaling_deltas = Some(vec![-8]);
                f.chroma_format_idc = v;
            }),
        ];
        for (name, max, edit) in cases {
            let mut f = BASE.clone();
            edit(&mut f, max);
            assert!(size_of(&f).is_some(), "{name} = {max}");
            let mut f = BASE.clone();
            edit(&mut f, max + 1);
            assert_eq!(size_of(&f), None, "{name} = {}", max + 1);
        }
        // The VUI is optional: a bad one loses what follows the bad field, not the size.
        let vui = |loc| {
            parse_sps(&build(&Fields {
                chroma_loc: Some(loc),
                ..BASE
            }))
            .map(|i| (i.width, i.framerate))
        };
        assert_eq!(vui(5), Some((320, Some((25, 1)))));
        assert_eq!(vui(6), Some((320, None)), "chroma_sample_loc_type = 6");
        let deep = Fields {
            scaling_deltas: Some(vec![-8]),
            bit_depth_luma_minus8: 7,
            ..BASE
        };
        assert_eq!(size_of(&deep), None, "bit_depth_luma_minus8 = 7");
        // POC offsets take the whole se(v) range.
        let offsets = Fields {
            poc_type: 1,
            poc_offsets: (i64::from(i32::MAX), -i64::from(i32::MAX), vec![1, -1]),
            ..BASE
        };
        assert_eq!(size_of(&offsets), Some((320, 240)));
        // Crop offsets far beyond the picture, up to the largest ue(v).
        for offset in [16385, u64::from(u32::MAX - 1)] {
            let f = Fields {
                crop: Some([offset, offset, offset, offset]),
                ..BASE
            };
            assert_eq!(size_of(&f), None, "crop offset {offset}");
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut state = 0x1234_5678u32;
        let mut parsed = 0;
        // Random bytes after the header, and real SPSs with random bytes flipped.
        let mut inputs = Vec::new();
        for len in 0..64 {
            let mut data = vec![0x67];
            for _ in 0..len {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                data.push((state >> 16) as u8);
            }
            inputs.push(data);
        }
        for sps in [hex(SPS_444_320X240), hex(SPS_420_330X190), build(&BASE)] {
            for _ in 0..200 {
                let mut data = sps.clone();
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = 1 + (state >> 8) as usize % (data.len() - 1);
                data[at] ^= (state >> 24) as u8 | 1;
                inputs.push(data);
            }
        }
        for data in inputs {
            let Some(info) = parse_sps(&data) else {
                continue;
            };
            parsed += 1;
            assert!(
                (1..=MAX_DIMENSION).contains(&info.width)
                    && (1..=MAX_DIMENSION).contains(&info.height),
                "{info:?} from {data:02x?}"
            );
            if let Some((n, d)) = info.par {
                assert!(n > 0 && d > 0, "{info:?}");
            }
            if let Some((n, d)) = info.framerate {
                assert!(n > 0 && d > 0, "{info:?}");
            }
        }
        // Some flipped bits leave a valid SPS: the invariants were checked on real results.
        assert!(parsed > 10, "only {parsed} parsed");
    }
}
