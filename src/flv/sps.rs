//! Just enough of an H.264 sequence parameter set parser to fill caps: coded size after
//! cropping, sample aspect ratio and VUI frame rate (ITU-T H.264 7.3.2.1.1 and E.1.1).
//!
//! Everything comes from the peer's avcC, so each read is checked and sizes are bounded.

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
    let _sps_id = r.read_ue()?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.read_ue()?;
        if chroma_format_idc > 3 {
            return None;
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.read_bit()?;
        }
        let _bit_depth_luma = r.read_ue()?;
        let _bit_depth_chroma = r.read_ue()?;
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

    let _log2_max_frame_num = r.read_ue()?;
    match r.read_ue()? {
        0 => {
            let _log2_max_poc_lsb = r.read_ue()?;
        }
        1 => {
            r.skip_bits(1)?;
            r.read_se()?;
            r.read_se()?;
            let cycle = r.read_ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                r.read_se()?;
            }
        }
        2 => {}
        _ => return None,
    }
    let _max_num_ref_frames = r.read_ue()?;
    r.skip_bits(1)?; // gaps_in_frame_num_value_allowed_flag

    let width_mbs = r.read_ue()?.checked_add(1)?;
    let height_map_units = r.read_ue()?.checked_add(1)?;
    let frame_mbs_only = r.read_bit()?;
    if !frame_mbs_only {
        r.skip_bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip_bits(1)?; // direct_8x8_inference_flag

    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let width = width_mbs.checked_mul(16)?;
    let height = height_map_units.checked_mul(16 * field_factor)?;
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return None;
    }

    let (mut crop_w, mut crop_h) = (0, 0);
    if r.read_bit()? {
        let (left, right, top, bottom) = (r.read_ue()?, r.read_ue()?, r.read_ue()?, r.read_ue()?);
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
        crop_w = left.checked_add(right)?.checked_mul(unit_x)?;
        crop_h = top.checked_add(bottom)?.checked_mul(unit_y)?;
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
            let delta = r.read_se()?;
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
        r.read_ue()?;
        r.read_ue()?;
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

    #[test]
    fn never_panics_on_garbage() {
        let mut state = 0x1234_5678u32;
        for len in 0..64 {
            let mut data = vec![0x67];
            for _ in 0..len {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                data.push((state >> 16) as u8);
            }
            let _ = parse_sps(&data);
        }
    }
}
