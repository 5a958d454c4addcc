//! FLAC (`fLaC`): the sequence start carries the STREAMINFO metadata block (FFmpeg writes its 34
//! bytes bare; a `fLaC`-prefixed header is accepted too), frames are FLAC frames.

use bytes::{BufMut, Bytes, BytesMut};

use crate::flv::FlvError;
use crate::flv::bits::BitReader;

const CODEC: &str = "FLAC (STREAMINFO)";
const STREAMINFO_LEN: usize = 34;

/// `audio/x-flac, framed=true, rate, channels, streamheader=<"fLaC", STREAMINFO block>`, the
/// header split matroskademux gives flacparse.
pub fn flac_caps(config: &Bytes) -> Result<gst::Caps, FlvError> {
    let invalid = |reason| FlvError::InvalidCodecConfig {
        codec: CODEC,
        reason,
    };
    // fLaC, a metadata block header of type 0 (STREAMINFO), then the block.
    let info = match config.strip_prefix(b"fLaC") {
        Some(rest) if rest.first().is_some_and(|b| b & 0x7f == 0) => rest.get(4..),
        Some(_) => return Err(invalid("first metadata block is not STREAMINFO")),
        None => Some(&config[..]),
    }
    .and_then(|i| i.get(..STREAMINFO_LEN))
    .ok_or(invalid("STREAMINFO is shorter than 34 bytes"))?;

    let mut r = BitReader::new(info);
    r.skip_bits(80).ok_or(invalid("truncated"))?; // block and frame sizes
    let rate = r.read_bits(20).ok_or(invalid("truncated"))?;
    let channels = r.read_bits(3).ok_or(invalid("truncated"))? + 1;
    if rate == 0 {
        return Err(invalid("sample rate 0"));
    }

    let mut block = BytesMut::with_capacity(4 + STREAMINFO_LEN);
    // Last-metadata-block flag, type 0, 24-bit length.
    block.put_slice(&[0x80, 0, 0, STREAMINFO_LEN as u8]);
    block.put_slice(info);
    let header = |data: Bytes| {
        let mut buffer = gst::Buffer::from_slice(data);
        buffer.make_mut().set_flags(gst::BufferFlags::HEADER);
        buffer
    };
    let streamheader =
        gst::Array::new([header(Bytes::from_static(b"fLaC")), header(block.freeze())]);
    Ok(gst::Caps::builder("audio/x-flac")
        .field("framed", true)
        .field("rate", i32::try_from(rate).map_err(|_| invalid("rate"))?)
        .field("channels", channels as i32)
        .field("streamheader", streamheader)
        .build())
}
