//! The video side of an outgoing stream: which codec, its configuration record, and the tag
//! bodies (legacy AVC, or the extended header).

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    CODED_FRAMES, FRAME_TYPE_COMMAND, FRAME_TYPE_INTER, FRAME_TYPE_KEY, LegacyCodecs, SEQUENCE_END,
    SEQUENCE_START, VIDEO_CODED_FRAMES_X, VIDEO_METADATA, fourcc_number, video_header,
};
use crate::flv::ColorInfo;
use crate::flv::codecs::{av1_caps, hevc_caps};
use crate::flv::metadata::StreamMetadata;
use crate::flv::video::{fraction_field, positive_field};
use crate::flv::{CODEC_ID_AVC, FlvError, VideoConfig, video_frame_header};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFormat {
    Avc,
    Hevc,
    Av1,
    Vp9,
}

impl VideoFormat {
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            VideoFormat::Avc => *b"avc1",
            VideoFormat::Hevc => *b"hvc1",
            VideoFormat::Av1 => *b"av01",
            VideoFormat::Vp9 => *b"vp09",
        }
    }

    /// CodedFrames carry a composition time (codecs with reordering in the bitstream).
    fn has_composition_time(self) -> bool {
        matches!(self, VideoFormat::Avc | VideoFormat::Hevc)
    }
}

/// What rtmpsink's video pad sends, from its caps.
#[derive(Debug, Clone, PartialEq)]
pub struct OutVideo {
    pub format: VideoFormat,
    /// H.264 in the legacy FLV header (the default for track 0).
    legacy: Option<VideoConfig>,
    /// avcC, hvcC, av1C or vpcC; `None` for AV1 until the first sequence header OBU.
    config: Option<Bytes>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub framerate: Option<gst::Fraction>,
    pub pixel_aspect_ratio: Option<gst::Fraction>,
    /// HDR colour description for the `colorInfo` Metadata packet.
    color: Option<ColorInfo>,
}

fn unsupported(msg: String) -> FlvError {
    FlvError::UnsupportedCaps(msg)
}

fn codec_data(s: &gst::StructureRef) -> Result<Option<Bytes>, FlvError> {
    let Some(buffer) = s.get_optional::<gst::Buffer>("codec_data").ok().flatten() else {
        return Ok(None);
    };
    let map = buffer
        .map_readable()
        .map_err(|_| unsupported("codec_data buffer is not readable".into()))?;
    Ok(Some(Bytes::copy_from_slice(map.as_slice())))
}

/// Refuses a caps string field outside `allowed` (absent is fine), saying what to put in front.
fn check_field(
    s: &gst::StructureRef,
    field: &str,
    allowed: &[&str],
    hint: &str,
) -> Result<(), FlvError> {
    match s.get_optional::<&str>(field).ok().flatten() {
        None => Ok(()),
        Some(v) if allowed.contains(&v) => Ok(()),
        Some(v) => Err(unsupported(format!(
            "{} {field}={v}: FLV carries {field}={}; {hint}",
            s.name(),
            allowed.join(" or ")
        ))),
    }
}

impl OutVideo {
    /// Accepts H.264 (`stream-format=avc, alignment=au`, codec_data), H.265 (`hvc1`/`hev1`,
    /// `au`, codec_data = hvcC), AV1 (`obu-stream`, `tu`, codec_data = av1C optional) and VP9.
    pub fn from_caps(caps: &gst::CapsRef, mode: LegacyCodecs) -> Result<OutVideo, FlvError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| unsupported("empty caps".into()))?;
        let mut out = OutVideo {
            format: VideoFormat::Avc,
            legacy: None,
            config: None,
            width: positive_field(s, "width"),
            height: positive_field(s, "height"),
            framerate: fraction_field(s, "framerate"),
            pixel_aspect_ratio: fraction_field(s, "pixel-aspect-ratio"),
            color: super::color::color_info_from_caps(s),
        };
        match s.name().as_str() {
            "video/x-h264" => {
                let avc = VideoConfig::from_caps(caps)?;
                out.config = Some(avc.avcc.as_bytes().clone());
                if mode == LegacyCodecs::Legacy {
                    out.legacy = Some(avc);
                }
            }
            "video/x-h265" => {
                let hint = "put h265parse before the sink";
                check_field(s, "stream-format", &["hvc1", "hev1"], hint)?;
                check_field(s, "alignment", &["au"], hint)?;
                let hvcc = codec_data(s)?.ok_or(FlvError::MissingField("codec_data"))?;
                // The playing side's parser checks the record as a player would.
                hevc_caps(&hvcc, &StreamMetadata::default())?;
                out.format = VideoFormat::Hevc;
                out.config = Some(hvcc);
            }
            "video/x-av1" => {
                let hint = "put av1parse before the sink";
                check_field(s, "stream-format", &["obu-stream"], hint)?;
                check_field(s, "alignment", &["tu"], hint)?;
                out.format = VideoFormat::Av1;
                // Without codec_data the av1C is built from the first sequence header OBU.
                if let Some(av1c) = codec_data(s)? {
                    av1_caps(&av1c, &StreamMetadata::default())?;
                    out.config = Some(av1c);
                }
            }
            "video/x-vp9" => {
                check_field(
                    s,
                    "alignment",
                    &["super-frame", "frame"],
                    "put vp9parse before the sink",
                )?;
                out.format = VideoFormat::Vp9;
                out.config = Some(super::vp9::vpcc_from_caps(
                    s,
                    out.width,
                    out.height,
                    out.framerate,
                )?);
            }
            other => {
                return Err(unsupported(format!(
                    "{other} cannot be sent as FLV video; rtmpsink takes H.264, H.265, AV1 and VP9"
                )));
            }
        }
        Ok(out)
    }

    pub fn fourcc(&self) -> [u8; 4] {
        self.format.fourcc()
    }

    /// Whether the tags of `track` use the legacy AVC header.
    fn legacy_for(&self, track: u8) -> Option<&VideoConfig> {
        self.legacy.as_ref().filter(|_| track == 0)
    }

    /// `videocodecid` for onMetaData: 7 for legacy AVC, else the FourCC's number.
    pub fn codec_id(&self) -> f64 {
        match self.legacy {
            Some(_) => f64::from(CODEC_ID_AVC),
            None => fourcc_number(self.fourcc()),
        }
    }

    /// The configuration record is not known yet (AV1 caps without codec_data).
    pub fn needs_config(&self) -> bool {
        self.config.is_none()
    }

    /// AV1: builds the av1C from the sequence header OBU in `temporal_unit`, if it has one.
    pub fn config_from_frame(&mut self, temporal_unit: &[u8]) -> bool {
        if self.format == VideoFormat::Av1 && self.config.is_none() {
            self.config = super::av1::av1c_from_temporal_unit(temporal_unit);
        }
        self.config.is_some()
    }

    /// The sequence start (or AVC sequence header) for `track`; `None` while the configuration
    /// is unknown.
    pub fn sequence_start(&self, track: u8) -> Option<Bytes> {
        if let Some(avc) = self.legacy_for(track) {
            return Some(avc.sequence_header());
        }
        let config = self.config.as_ref()?;
        let header = video_header(FRAME_TYPE_KEY, SEQUENCE_START, self.fourcc(), track);
        let mut out = BytesMut::with_capacity(header.len() + config.len());
        out.put_slice(&header);
        out.put_slice(config);
        Some(out.freeze())
    }

    /// The `colorInfo` Metadata packet for `track`, sent before its sequence start when the
    /// caps describe HDR; legacy AVC has no place for it.
    pub fn metadata_packet(&self, track: u8) -> Option<Bytes> {
        if self.legacy_for(track).is_some() {
            return None;
        }
        let amf = super::color::color_info_amf(self.color.as_ref()?);
        let mut out = video_header(FRAME_TYPE_COMMAND, VIDEO_METADATA, self.fourcc(), track);
        out.extend_from_slice(&amf);
        Some(Bytes::from(out))
    }

    /// The bytes before a frame's data. CodedFramesX when the composition time is 0 (as FFmpeg
    /// writes), CodedFrames with an SI24 composition time otherwise; AV1 and VP9 carry none.
    pub fn frame_header(&self, keyframe: bool, cts_ms: i32, track: u8) -> Vec<u8> {
        if self.legacy_for(track).is_some() {
            return video_frame_header(keyframe, cts_ms).to_vec();
        }
        let frame_type = if keyframe {
            FRAME_TYPE_KEY
        } else {
            FRAME_TYPE_INTER
        };
        let with_cts = self.format.has_composition_time() && cts_ms != 0;
        let packet_type = match (self.format.has_composition_time(), with_cts) {
            (true, false) => VIDEO_CODED_FRAMES_X,
            _ => CODED_FRAMES,
        };
        let mut out = video_header(frame_type, packet_type, self.fourcc(), track);
        if with_cts {
            let cts = cts_ms.clamp(-0x80_0000, 0x7f_ffff).to_be_bytes();
            out.extend_from_slice(&cts[1..]);
        }
        out
    }

    /// The SequenceEnd sent at EOS; `None` for legacy AVC, which rtmpsink has never ended
    /// with an end-of-sequence tag (old servers and players see what they always saw).
    pub fn sequence_end(&self, track: u8) -> Option<Bytes> {
        if self.legacy_for(track).is_some() {
            return None;
        }
        Some(Bytes::from(video_header(
            FRAME_TYPE_KEY,
            SEQUENCE_END,
            self.fourcc(),
            track,
        )))
    }
}
