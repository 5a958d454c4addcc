//! AV1 (`av01`): the sequence start carries an AV1CodecConfigurationRecord (av1C, AV1 ISOBMFF
//! binding 2.3.3), frames are temporal units of low-overhead OBUs.

use bytes::Bytes;

use super::add_size_and_rate;
use crate::flv::FlvError;
use crate::flv::metadata::StreamMetadata;

const CODEC: &str = "AV1 (av1C)";

/// `video/x-av1, stream-format=obu-stream, alignment=tu, codec_data=av1C, profile`, with the
/// size and rate from onMetaData (av1parse reads the exact size from the sequence header OBU).
pub fn av1_caps(av1c: &Bytes, meta: &StreamMetadata) -> Result<gst::Caps, FlvError> {
    let invalid = |reason| FlvError::InvalidCodecConfig {
        codec: CODEC,
        reason,
    };
    let (&marker_version, rest) = av1c.split_first().ok_or(invalid("empty"))?;
    // marker (1 bit, set) and version (7 bits, 1).
    if marker_version != 0x81 {
        return Err(invalid("marker/version byte is not 0x81"));
    }
    let &profile_level = rest.first().ok_or(invalid("shorter than 4 bytes"))?;
    if av1c.len() < 4 {
        return Err(invalid("shorter than 4 bytes"));
    }
    let profile = match profile_level >> 5 {
        0 => "main",
        1 => "high",
        2 => "professional",
        _ => return Err(invalid("seq_profile above 2")),
    };
    let builder = gst::Caps::builder("video/x-av1")
        .field("stream-format", "obu-stream")
        .field("alignment", "tu")
        .field("profile", profile)
        .field("codec_data", gst::Buffer::from_slice(av1c.clone()));
    Ok(add_size_and_rate(builder, None, meta).build())
}
