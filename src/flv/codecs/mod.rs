//! Enhanced RTMP codecs beyond the legacy FLV ones: one module per codec turns its
//! configuration record into GStreamer caps. H.264 (`avc1`), AAC (`mp4a`) and MP3 (`.mp3`) in
//! the extended header map onto [`super::video`] and [`super::audio`] instead.

mod ac3;
mod av1;
pub(crate) mod color;
mod flac;
mod hevc;
mod opus;
mod vp9;

use bytes::Bytes;

use super::FlvError;
use super::metadata::StreamMetadata;

pub use ac3::ac3_caps;
pub use av1::av1_caps;
pub use color::ColorInfo;
pub use flac::flac_caps;
pub use hevc::hevc_caps;
pub use opus::opus_caps;
pub use vp9::vp9_caps;

/// A video FourCC of the extended header that maps to caps here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExVideoCodec {
    /// `hvc1`: H.265 with an HEVCDecoderConfigurationRecord (hvcC).
    Hevc,
    /// `av01`: AV1 with an AV1CodecConfigurationRecord (av1C).
    Av1,
    /// `vp09`: VP9 with a VPCodecConfigurationRecord (vpcC).
    Vp9,
}

impl ExVideoCodec {
    pub fn from_fourcc(fourcc: [u8; 4]) -> Option<Self> {
        match &fourcc {
            b"hvc1" => Some(ExVideoCodec::Hevc),
            b"av01" => Some(ExVideoCodec::Av1),
            b"vp09" => Some(ExVideoCodec::Vp9),
            _ => None,
        }
    }

    pub fn fourcc(self) -> [u8; 4] {
        match self {
            ExVideoCodec::Hevc => *b"hvc1",
            ExVideoCodec::Av1 => *b"av01",
            ExVideoCodec::Vp9 => *b"vp09",
        }
    }

    /// The name for the `video-codec` tag.
    pub fn name(self) -> &'static str {
        match self {
            ExVideoCodec::Hevc => "H.265 / HEVC",
            ExVideoCodec::Av1 => "AV1",
            ExVideoCodec::Vp9 => "VP9",
        }
    }

    /// Whether CodedFrames carry an SI24 composition time (only codecs with B-frame reordering
    /// in the bitstream, per the specification: avc1 and hvc1).
    pub fn has_composition_time(self) -> bool {
        self == ExVideoCodec::Hevc
    }
}

/// The range flag of `codec`'s configuration record, where it has one (vpcC's
/// videoFullRangeFlag), for [`ColorInfo::colorimetry`].
pub fn config_full_range(codec: ExVideoCodec, config: &Bytes) -> Option<bool> {
    match codec {
        ExVideoCodec::Vp9 => config.get(6).map(|b| b & 1 == 1),
        ExVideoCodec::Hevc | ExVideoCodec::Av1 => None,
    }
}

/// Caps for `codec` from its configuration record and onMetaData.
pub fn ex_video_caps(
    codec: ExVideoCodec,
    config: &Bytes,
    meta: &StreamMetadata,
) -> Result<gst::Caps, FlvError> {
    match codec {
        ExVideoCodec::Hevc => hevc_caps(config, meta),
        ExVideoCodec::Av1 => av1_caps(config, meta),
        ExVideoCodec::Vp9 => vp9_caps(config, meta),
    }
}

/// An audio FourCC of the extended header that maps to caps here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExAudioCodec {
    /// `Opus`, with the Opus ID header.
    Opus,
    /// `fLaC`, with STREAMINFO.
    Flac,
    /// `ac-3`, no configuration.
    Ac3,
    /// `ec-3`, no configuration.
    Eac3,
}

impl ExAudioCodec {
    pub fn from_fourcc(fourcc: [u8; 4]) -> Option<Self> {
        match &fourcc {
            b"Opus" => Some(ExAudioCodec::Opus),
            b"fLaC" => Some(ExAudioCodec::Flac),
            b"ac-3" => Some(ExAudioCodec::Ac3),
            b"ec-3" => Some(ExAudioCodec::Eac3),
            _ => None,
        }
    }

    /// The name for the `audio-codec` tag.
    pub fn name(self) -> &'static str {
        match self {
            ExAudioCodec::Opus => "Opus",
            ExAudioCodec::Flac => "FLAC",
            ExAudioCodec::Ac3 => "AC-3 (ATSC A/52)",
            ExAudioCodec::Eac3 => "E-AC-3 (ATSC A/52B)",
        }
    }
}

/// Caps for `codec` from its sequence start and onMetaData.
pub fn ex_audio_caps(
    codec: ExAudioCodec,
    config: &Bytes,
    meta: &StreamMetadata,
) -> Result<gst::Caps, FlvError> {
    match codec {
        ExAudioCodec::Opus => opus_caps(config),
        ExAudioCodec::Flac => flac_caps(config),
        ExAudioCodec::Ac3 => Ok(ac3_caps(false, meta)),
        ExAudioCodec::Eac3 => Ok(ac3_caps(true, meta)),
    }
}

/// Adds width/height (`size`, else onMetaData's) and framerate (onMetaData's) to the caps.
fn add_size_and_rate(
    mut builder: gst::caps::Builder<gst::caps::NoFeature>,
    size: Option<(u32, u32)>,
    meta: &StreamMetadata,
) -> gst::caps::Builder<gst::caps::NoFeature> {
    let as_i32 = |v: u32| i32::try_from(v).ok().filter(|&v| v > 0);
    let (width, height) = match size {
        Some((w, h)) => (Some(w), Some(h)),
        None => (meta.width, meta.height),
    };
    if let (Some(w), Some(h)) = (width.and_then(as_i32), height.and_then(as_i32)) {
        builder = builder.field("width", w).field("height", h);
    }
    if let Some(fps) = meta.framerate {
        builder = builder.field("framerate", fps);
    }
    builder.field(
        "pixel-aspect-ratio",
        meta.pixel_aspect_ratio.unwrap_or(gst::Fraction::new(1, 1)),
    )
}

#[cfg(test)]
mod audio_tests;
#[cfg(test)]
mod tests;
