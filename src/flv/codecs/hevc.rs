//! H.265/HEVC (`hvc1`): the sequence start carries an HEVCDecoderConfigurationRecord (hvcC,
//! ISO/IEC 14496-15 8.3.3.1), frames are access units of length-prefixed NAL units.

use bytes::Bytes;

use super::add_size_and_rate;
use crate::flv::FlvError;
use crate::flv::bits::{BitReader, unescape_rbsp};
use crate::flv::metadata::StreamMetadata;

const CODEC: &str = "HEVC (hvcC)";
/// Bytes of the hvcC before its NAL unit arrays.
const FIXED_LEN: usize = 23;
const NAL_SPS: u8 = 33;

/// `video/x-h265, stream-format=hvc1, alignment=au, codec_data=hvcC, profile, tier, level`,
/// width/height from the SPS when it parses (else onMetaData), framerate from onMetaData.
pub fn hevc_caps(hvcc: &Bytes, meta: &StreamMetadata) -> Result<gst::Caps, FlvError> {
    let invalid = |reason| FlvError::InvalidCodecConfig {
        codec: CODEC,
        reason,
    };
    match hvcc.first() {
        None => return Err(invalid("empty")),
        Some(1) => {}
        Some(_) => return Err(invalid("configurationVersion is not 1")),
    }
    if hvcc.len() < FIXED_LEN {
        return Err(invalid("shorter than 23 bytes"));
    }
    let mut builder = gst::Caps::builder("video/x-h265")
        .field("stream-format", "hvc1")
        .field("alignment", "au")
        .field("codec_data", gst::Buffer::from_slice(hvcc.clone()));
    let profile = match hvcc[1] & 0x1f {
        1 => Some("main"),
        2 => Some("main-10"),
        3 => Some("main-still-picture"),
        _ => None,
    };
    if let Some(profile) = profile {
        builder = builder.field("profile", profile);
    }
    builder = builder.field("tier", if hvcc[1] & 0x20 != 0 { "high" } else { "main" });
    if let Some(level) = level_name(hvcc[12]) {
        builder = builder.field("level", level);
    }
    let size = first_nal(hvcc, NAL_SPS).and_then(sps_size);
    Ok(add_size_and_rate(builder, size, meta).build())
}

/// GStreamer's level string: general_level_idc is 30 times the level ("3.1" is 93).
fn level_name(level_idc: u8) -> Option<String> {
    if level_idc == 0 || !level_idc.is_multiple_of(3) {
        return None;
    }
    let (major, minor) = (level_idc / 30, (level_idc % 30) / 3);
    Some(if minor == 0 {
        major.to_string()
    } else {
        format!("{major}.{minor}")
    })
}

/// The first NAL unit of `nal_type` in the hvcC's arrays, if they are well-formed up to it.
fn first_nal(hvcc: &[u8], nal_type: u8) -> Option<&[u8]> {
    let mut pos = FIXED_LEN;
    let arrays = *hvcc.get(FIXED_LEN - 1)?;
    for _ in 0..arrays {
        let array_type = hvcc.get(pos)? & 0x3f;
        let count = u16::from_be_bytes([*hvcc.get(pos + 1)?, *hvcc.get(pos + 2)?]);
        pos += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*hvcc.get(pos)?, *hvcc.get(pos + 1)?]));
            let nal = hvcc.get(pos + 2..pos + 2 + len)?;
            if array_type == nal_type {
                return Some(nal);
            }
            pos += 2 + len;
        }
    }
    None
}

/// The cropped picture size from an SPS NAL unit (H.265 7.3.2.2), header included.
fn sps_size(nal: &[u8]) -> Option<(u32, u32)> {
    let rbsp = unescape_rbsp(nal.get(2..)?);
    let mut r = BitReader::new(&rbsp);
    r.skip_bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.read_bits(3)?;
    r.skip_bits(1)?; // sps_temporal_id_nesting_flag
    // profile_tier_level: general profile (88 bits) and level (8 bits).
    r.skip_bits(96)?;
    let mut sub_layer_flags = Vec::with_capacity(8);
    for _ in 0..max_sub_layers_minus1 {
        sub_layer_flags.push((r.read_bit()?, r.read_bit()?));
    }
    if max_sub_layers_minus1 > 0 {
        r.skip_bits(2 * (8 - max_sub_layers_minus1 as usize))?;
    }
    for (profile_present, level_present) in sub_layer_flags {
        if profile_present {
            r.skip_bits(88)?;
        }
        if level_present {
            r.skip_bits(8)?;
        }
    }
    let _sps_id = r.read_ue_max(15)?;
    let chroma_format_idc = r.read_ue_max(3)?;
    let separate_colour_plane = chroma_format_idc == 3 && r.read_bit()?;
    let width = r.read_ue_max(16888)?;
    let height = r.read_ue_max(16888)?;
    let (mut crop_w, mut crop_h) = (0, 0);
    if r.read_bit()? {
        // SubWidthC/SubHeightC (Table 6-1); 1 for 4:4:4 and monochrome.
        let (sub_w, sub_h) = match (chroma_format_idc, separate_colour_plane) {
            (1, false) => (2, 2),
            (2, false) => (2, 1),
            _ => (1, 1),
        };
        let (left, right) = (r.read_ue()?, r.read_ue()?);
        let (top, bottom) = (r.read_ue()?, r.read_ue()?);
        crop_w = sub_w * u64::from(left) + sub_w * u64::from(right);
        crop_h = sub_h * u64::from(top) + sub_h * u64::from(bottom);
    }
    let width = u64::from(width).checked_sub(crop_w)?;
    let height = u64::from(height).checked_sub(crop_h)?;
    Some((u32::try_from(width).ok()?, u32::try_from(height).ok()?)).filter(|&(w, h)| w > 0 && h > 0)
}
