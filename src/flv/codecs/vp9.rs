//! VP9 (`vp09`): the sequence start carries a VPCodecConfigurationRecord (vpcC, VP Codec ISO
//! Media File Format Binding 2.2) with its FullBox version and flags, frames are whole VP9
//! frames (superframes included).

use bytes::Bytes;

use super::add_size_and_rate;
use crate::flv::FlvError;
use crate::flv::metadata::StreamMetadata;

const CODEC: &str = "VP9 (vpcC)";

/// `video/x-vp9, profile, bit-depth-luma/chroma, chroma-format, codec_data=vpcC`, with the
/// size and rate from onMetaData (the VP9 frame header has the exact size for the decoder).
pub fn vp9_caps(vpcc: &Bytes, meta: &StreamMetadata) -> Result<gst::Caps, FlvError> {
    let invalid = |reason| FlvError::InvalidCodecConfig {
        codec: CODEC,
        reason,
    };
    // version(8) flags(24) profile(8) level(8) bitDepth(4) chromaSubsampling(3) fullRange(1)
    let fixed = vpcc.get(..7).ok_or(invalid("shorter than 7 bytes"))?;
    if fixed[0] != 1 {
        return Err(invalid("version is not 1"));
    }
    let profile = fixed[4];
    if profile > 3 {
        return Err(invalid("profile above 3"));
    }
    let bit_depth = u32::from(fixed[6] >> 4);
    if !matches!(bit_depth, 8 | 10 | 12) {
        return Err(invalid("bitDepth is not 8, 10 or 12"));
    }
    let chroma_format = match (fixed[6] >> 1) & 0x07 {
        0 | 1 => "4:2:0",
        2 => "4:2:2",
        3 => "4:4:4",
        _ => return Err(invalid("reserved chromaSubsampling")),
    };
    let builder = gst::Caps::builder("video/x-vp9")
        .field("profile", profile.to_string())
        .field("bit-depth-luma", bit_depth)
        .field("bit-depth-chroma", bit_depth)
        .field("chroma-format", chroma_format)
        .field("codec_data", gst::Buffer::from_slice(vpcc.clone()));
    Ok(add_size_and_rate(builder, None, meta).build())
}
