//! H.264/AVC in FLV video tags, both directions.
//!
//! A legacy AVC video tag body is `UB[4] FrameType, UB[4] CodecID=7, UI8 AVCPacketType,
//! SI24 CompositionTime` followed by the avcC (packet type 0), length-prefixed NAL units of one
//! access unit (type 1) or nothing (type 2, end of sequence). The composition time is PTS - DTS
//! in milliseconds. Enhanced RTMP tags (high bit of the first byte set) are recognised: `avc1`
//! maps onto the same variants, `hvc1`/`av01`/`vp09` onto the `Ex*` variants (see
//! [`super::enhanced`]), other FourCCs are reported as unsupported.

use bytes::{BufMut, Bytes, BytesMut};

use super::FlvError;
use super::codecs::ExVideoCodec;
use super::metadata::StreamMetadata;
use super::sps::{SpsInfo, parse_sps};

/// FLV CodecID for H.264/AVC.
pub const CODEC_ID_AVC: u8 = 7;

const FRAME_TYPE_KEY: u8 = 1;
const FRAME_TYPE_INTER: u8 = 2;
/// "Generated keyframe" in the FLV spec: a server-made seek point, decodable on its own.
const FRAME_TYPE_GENERATED_KEY: u8 = 4;
/// Video info/command frame: carries a command byte, no picture.
pub(super) const FRAME_TYPE_COMMAND: u8 = 5;

const AVC_SEQUENCE_HEADER: u8 = 0;
const AVC_NALU: u8 = 1;
const AVC_END_OF_SEQUENCE: u8 = 2;

/// Composition time limits of an SI24.
const CTS_MIN: i32 = -0x80_0000;
const CTS_MAX: i32 = 0x7f_ffff;

/// A validated AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.2.4.1), kept as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct AvcDecoderConfig {
    data: Bytes,
}

impl AvcDecoderConfig {
    /// Checks the fixed part: version 1 and at least the 7 bytes up to the first SPS count.
    pub fn parse(data: &Bytes) -> Result<Self, FlvError> {
        match data.first() {
            None => return Err(FlvError::InvalidAvcC("empty")),
            Some(1) => {}
            Some(_) => return Err(FlvError::InvalidAvcC("configurationVersion is not 1")),
        }
        if data.len() < 7 {
            return Err(FlvError::InvalidAvcC("shorter than 7 bytes"));
        }
        Ok(AvcDecoderConfig { data: data.clone() })
    }

    pub fn as_bytes(&self) -> &Bytes {
        &self.data
    }

    fn byte(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    pub fn profile_idc(&self) -> u8 {
        self.byte(1)
    }

    /// The constraint_set flags byte.
    pub fn profile_compatibility(&self) -> u8 {
        self.byte(2)
    }

    pub fn level_idc(&self) -> u8 {
        self.byte(3)
    }

    /// Bytes in each NAL unit length prefix of the coded frames (1, 2 or 4).
    pub fn nal_length_size(&self) -> u8 {
        (self.byte(4) & 0x03) + 1
    }

    /// The first SPS NAL unit, if the list is well-formed up to it.
    pub fn first_sps(&self) -> Option<&[u8]> {
        let count = self.data.get(5)? & 0x1f;
        if count == 0 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([*self.data.get(6)?, *self.data.get(7)?]));
        self.data.get(8..8 + len)
    }

    /// The `profile` string GStreamer uses in H.264 caps, for the common profiles.
    pub fn profile_name(&self) -> Option<&'static str> {
        let cs = self.profile_compatibility();
        let (cs1, cs3, cs4, cs5) = (
            cs & 0x40 != 0,
            cs & 0x10 != 0,
            cs & 0x08 != 0,
            cs & 0x04 != 0,
        );
        Some(match self.profile_idc() {
            66 if cs1 => "constrained-baseline",
            66 => "baseline",
            77 => "main",
            88 => "extended",
            100 if cs4 && cs5 => "constrained-high",
            100 if cs4 => "progressive-high",
            100 => "high",
            110 if cs3 => "high-10-intra",
            110 if cs4 => "progressive-high-10",
            110 => "high-10",
            122 if cs3 => "high-4:2:2-intra",
            122 => "high-4:2:2",
            244 if cs3 => "high-4:4:4-intra",
            244 => "high-4:4:4",
            44 => "cavlc-4:4:4-intra",
            118 => "multiview-high",
            128 => "stereo-high",
            _ => return None,
        })
    }

    /// The `level` string GStreamer uses in H.264 caps ("1b", "3.1", ...).
    pub fn level_name(&self) -> Option<&'static str> {
        let cs3 = self.profile_compatibility() & 0x10 != 0;
        let level = self.level_idc();
        // Level 1b is signalled as 11 with constraint_set3 in the non-High profiles (A.3.1).
        if level == 9 || (level == 11 && cs3 && matches!(self.profile_idc(), 66 | 77 | 88)) {
            return Some("1b");
        }
        Some(match level {
            10 => "1",
            11 => "1.1",
            12 => "1.2",
            13 => "1.3",
            20 => "2",
            21 => "2.1",
            22 => "2.2",
            30 => "3",
            31 => "3.1",
            32 => "3.2",
            40 => "4",
            41 => "4.1",
            42 => "4.2",
            50 => "5",
            51 => "5.1",
            52 => "5.2",
            60 => "6",
            61 => "6.1",
            62 => "6.2",
            _ => return None,
        })
    }

    fn sps_info(&self) -> Option<SpsInfo> {
        parse_sps(self.first_sps()?)
    }
}

/// The video side of an outgoing stream, from the caps of rtmpsink's video pad.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    pub avcc: AvcDecoderConfig,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub framerate: Option<gst::Fraction>,
    pub pixel_aspect_ratio: Option<gst::Fraction>,
    /// Bits per second, for `videodatarate` in onMetaData. Not in caps: set it from tags.
    pub bitrate: Option<u32>,
}

/// A caps integer field that is set and positive.
pub(crate) fn positive_field(s: &gst::StructureRef, field: &str) -> Option<u32> {
    s.get_optional::<i32>(field)
        .ok()
        .flatten()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|&v| v > 0)
}

/// A caps fraction field that is set and positive.
pub(crate) fn fraction_field(s: &gst::StructureRef, field: &str) -> Option<gst::Fraction> {
    s.get_optional::<gst::Fraction>(field)
        .ok()
        .flatten()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
}

impl VideoConfig {
    /// Accepts `video/x-h264, stream-format=avc, alignment=au, codec_data=(buffer)`.
    /// The errors say what to change in the pipeline.
    pub fn from_caps(caps: &gst::CapsRef) -> Result<VideoConfig, FlvError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| FlvError::UnsupportedCaps("empty caps".into()))?;
        if s.name() != "video/x-h264" {
            return Err(FlvError::UnsupportedCaps(format!(
                "{} cannot be sent as FLV video; only H.264 (video/x-h264) is supported",
                s.name()
            )));
        }
        match s.get_optional::<&str>("stream-format").ok().flatten() {
            None | Some("avc") => {}
            Some(other) => {
                return Err(FlvError::UnsupportedCaps(format!(
                    "H.264 stream-format={other}: FLV carries stream-format=avc with codec_data; \
                     put h264parse before the sink"
                )));
            }
        }
        match s.get_optional::<&str>("alignment").ok().flatten() {
            None | Some("au") => {}
            Some(other) => {
                return Err(FlvError::UnsupportedCaps(format!(
                    "H.264 alignment={other}: FLV needs whole access units (alignment=au); \
                     put h264parse before the sink"
                )));
            }
        }
        let codec_data = s
            .get_optional::<gst::Buffer>("codec_data")
            .ok()
            .flatten()
            .ok_or(FlvError::MissingField("codec_data"))?;
        let map = codec_data
            .map_readable()
            .map_err(|_| FlvError::UnsupportedCaps("codec_data buffer is not readable".into()))?;
        let avcc = AvcDecoderConfig::parse(&Bytes::copy_from_slice(map.as_slice()))?;

        Ok(VideoConfig {
            width: positive_field(s, "width"),
            height: positive_field(s, "height"),
            framerate: fraction_field(s, "framerate"),
            pixel_aspect_ratio: fraction_field(s, "pixel-aspect-ratio"),
            avcc,
            bitrate: None,
        })
    }

    /// FLV VideoCodecID of this stream.
    pub fn codec_id(&self) -> u8 {
        CODEC_ID_AVC
    }

    /// Tag body of the AVC sequence header: keyframe, AVCPacketType 0, cts 0, then the avcC.
    pub fn sequence_header(&self) -> Bytes {
        let avcc = self.avcc.as_bytes();
        let mut out = BytesMut::with_capacity(5 + avcc.len());
        out.put_slice(&[0x10 | CODEC_ID_AVC, AVC_SEQUENCE_HEADER, 0, 0, 0]);
        out.put_slice(avcc);
        out.freeze()
    }

    /// Tag body that ends the sequence (AVCPacketType 2), sent before unpublishing.
    pub fn end_of_sequence() -> Bytes {
        Bytes::from_static(&[0x10 | CODEC_ID_AVC, AVC_END_OF_SEQUENCE, 0, 0, 0])
    }
}

/// The 5 bytes that precede an access unit in an AVC tag body. `cts_ms` (PTS - DTS) is clamped
/// to the SI24 range.
pub fn video_frame_header(keyframe: bool, cts_ms: i32) -> [u8; 5] {
    let frame_type = if keyframe {
        FRAME_TYPE_KEY
    } else {
        FRAME_TYPE_INTER
    };
    let cts = cts_ms.clamp(CTS_MIN, CTS_MAX).to_be_bytes();
    [
        (frame_type << 4) | CODEC_ID_AVC,
        AVC_NALU,
        cts[1],
        cts[2],
        cts[3],
    ]
}

/// A parsed video tag body. Payloads are sub-slices of the body (no copy).
#[derive(Debug, Clone, PartialEq)]
pub enum VideoTag {
    /// The avcC, for `codec_data`.
    AvcSequenceHeader(Bytes),
    /// One access unit of length-prefixed NAL units; `cts_ms` is PTS - DTS.
    AvcFrame {
        keyframe: bool,
        cts_ms: i32,
        data: Bytes,
    },
    AvcEndOfSequence,
    /// A video info/command frame (frame type 5); it carries no picture.
    Command,
    /// Enhanced RTMP SequenceStart of `codec`: its configuration record (hvcC, av1C, vpcC).
    ExSequenceStart {
        codec: ExVideoCodec,
        config: Bytes,
    },
    /// One frame (access unit, temporal unit) of `codec`. `cts_ms` is PTS - DTS (0 for codecs
    /// without composition time); `timestamp_offset_ns` comes from a TimestampOffsetNano ModEx.
    ExFrame {
        codec: ExVideoCodec,
        keyframe: bool,
        cts_ms: i32,
        timestamp_offset_ns: u32,
        data: Bytes,
    },
    ExSequenceEnd {
        codec: ExVideoCodec,
    },
    /// The Metadata packet type: an AMF-encoded `colorInfo` object, not mapped yet.
    ExMetadata {
        codec: ExVideoCodec,
        data: Bytes,
    },
    /// An Enhanced RTMP multitrack packet: each track's id and its packet (never another
    /// `Multitrack`). Track 0 is the default track.
    Multitrack(Vec<(u8, VideoTag)>),
    /// A legacy codec other than AVC.
    Unsupported {
        codec_id: u8,
    },
    /// An Enhanced RTMP packet we do not map: another FourCC, packet type or multitrack type.
    UnsupportedEnhanced {
        packet_type: u8,
        fourcc: Option<[u8; 4]>,
    },
}

pub(super) fn read_si24(b: [u8; 3]) -> i32 {
    // Put the 24 bits at the top of an i32 and shift back: the shift sign-extends.
    i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8
}

pub(super) fn is_keyframe(frame_type: u8) -> bool {
    frame_type == FRAME_TYPE_KEY || frame_type == FRAME_TYPE_GENERATED_KEY
}

/// Parses a video tag body (legacy FLV or Enhanced RTMP).
pub fn parse_video_body(body: &Bytes) -> Result<VideoTag, FlvError> {
    let &first = body.first().ok_or(FlvError::Truncated("video tag body"))?;
    if first & 0x80 != 0 {
        return super::enhanced::parse_enhanced_video(body);
    }
    let frame_type = first >> 4;
    if frame_type == FRAME_TYPE_COMMAND {
        return Ok(VideoTag::Command);
    }
    let codec_id = first & 0x0f;
    if codec_id != CODEC_ID_AVC {
        return Ok(VideoTag::Unsupported { codec_id });
    }
    let header = body
        .get(1..5)
        .ok_or(FlvError::Truncated("AVC video tag header"))?;
    let cts_ms = read_si24([header[1], header[2], header[3]]);
    match header[0] {
        AVC_SEQUENCE_HEADER => Ok(VideoTag::AvcSequenceHeader(body.slice(5..))),
        AVC_NALU => Ok(VideoTag::AvcFrame {
            keyframe: is_keyframe(frame_type),
            cts_ms,
            data: body.slice(5..),
        }),
        AVC_END_OF_SEQUENCE => Ok(VideoTag::AvcEndOfSequence),
        other => Err(FlvError::UnknownAvcPacketType(other)),
    }
}

/// Caps for an H.264 stream from its avcC and onMetaData:
/// `video/x-h264, stream-format=avc, alignment=au, codec_data, width, height, framerate,
/// pixel-aspect-ratio, profile, level`.
///
/// Width, height and pixel aspect ratio come from the SPS when it parses (it describes the
/// bitstream, while onMetaData may be stale after a resolution change), else from the
/// metadata; the frame rate comes from the metadata, else from the SPS timing info.
pub fn video_caps(avcc: &Bytes, meta: &StreamMetadata) -> Result<gst::Caps, FlvError> {
    let config = AvcDecoderConfig::parse(avcc)?;
    let sps = config.sps_info();

    let mut builder = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .field("codec_data", gst::Buffer::from_slice(avcc.clone()));
    if let Some(profile) = config.profile_name() {
        builder = builder.field("profile", profile);
    }
    if let Some(level) = config.level_name() {
        builder = builder.field("level", level);
    }

    let as_i32 = |v: u32| i32::try_from(v).ok().filter(|&v| v > 0);
    let width = sps
        .as_ref()
        .map(|s| s.width)
        .or(meta.width)
        .and_then(as_i32);
    let height = sps
        .as_ref()
        .map(|s| s.height)
        .or(meta.height)
        .and_then(as_i32);
    if let (Some(w), Some(h)) = (width, height) {
        builder = builder.field("width", w).field("height", h);
    }

    let to_fraction = |(n, d): (u32, u32)| {
        Some(gst::Fraction::new(
            i32::try_from(n).ok()?,
            i32::try_from(d).ok()?,
        ))
    };
    let framerate = meta
        .framerate
        .or_else(|| sps.as_ref().and_then(|s| s.framerate).and_then(to_fraction));
    if let Some(fps) = framerate {
        builder = builder.field("framerate", fps);
    }
    let par = sps
        .as_ref()
        .and_then(|s| s.par)
        .and_then(to_fraction)
        .or(meta.pixel_aspect_ratio)
        .unwrap_or(gst::Fraction::new(1, 1));
    builder = builder.field("pixel-aspect-ratio", par);
    Ok(builder.build())
}

#[cfg(test)]
#[path = "video_tests.rs"]
mod tests;
