//! Opus (`Opus`): the sequence start carries the Opus ID header (`OpusHead`, RFC 7845 5.1),
//! frames are Opus packets.

use bytes::Bytes;

use crate::flv::FlvError;

const CODEC: &str = "Opus (OpusHead)";

/// `audio/x-opus, rate, channels, channel-mapping-family, stream-count, coupled-count,
/// [channel-mapping], streamheader=<OpusHead, OpusTags>`, as GStreamer's
/// `gst_codec_utils_opus_create_caps_from_header` makes them (opusdec takes pre-skip and gain
/// from the header).
pub fn opus_caps(head: &Bytes) -> Result<gst::Caps, FlvError> {
    let invalid = |reason| FlvError::InvalidCodecConfig {
        codec: CODEC,
        reason,
    };
    let fixed = head.get(..19).ok_or(invalid("shorter than 19 bytes"))?;
    if &fixed[..8] != b"OpusHead" {
        return Err(invalid("does not start with OpusHead"));
    }
    if fixed[8] >> 4 != 0 {
        return Err(invalid("unsupported major version"));
    }
    let channels = fixed[9];
    if channels == 0 {
        return Err(invalid("0 channels"));
    }
    let input_rate = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
    let family = fixed[18];
    let (streams, coupled, mapping) = if family == 0 {
        if channels > 2 {
            return Err(invalid("mapping family 0 with more than 2 channels"));
        }
        (1, channels - 1, None)
    } else {
        let table = head
            .get(19..21 + usize::from(channels))
            .ok_or(invalid("channel mapping table is truncated"))?;
        let (streams, coupled) = (table[0], table[1]);
        if streams == 0 || coupled > streams {
            return Err(invalid("invalid stream counts"));
        }
        (streams, coupled, Some(&table[2..]))
    };
    // A minimal comment header: vendor string of length 0, no comments.
    let tags = gst::Buffer::from_slice(*b"OpusTags\0\0\0\0\0\0\0\0");
    let header = |mut buffer: gst::Buffer| {
        buffer.make_mut().set_flags(gst::BufferFlags::HEADER);
        buffer
    };
    let streamheader =
        gst::Array::new([header(gst::Buffer::from_slice(head.clone())), header(tags)]);
    let mut builder = gst::Caps::builder("audio/x-opus")
        .field(
            "rate",
            i32::try_from(input_rate)
                .ok()
                .filter(|&r| r > 0)
                .unwrap_or(48000),
        )
        .field("channels", i32::from(channels))
        .field("channel-mapping-family", i32::from(family))
        .field("stream-count", i32::from(streams))
        .field("coupled-count", i32::from(coupled));
    if let Some(mapping) = mapping {
        builder = builder.field(
            "channel-mapping",
            gst::Array::new(mapping.iter().map(|&c| i32::from(c))),
        );
    }
    Ok(builder.field("streamheader", streamheader).build())
}
