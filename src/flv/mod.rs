//! FLV tag bodies <-> GStreamer caps and buffers.
//!
//! This is the one place that knows FLV codec ids. It does no I/O: everything
//! works on byte slices, [`Bytes`](bytes::Bytes) and GStreamer caps.
//!
//! Mux side (rtmpsink turns elementary streams into FLV tag bodies itself):
//! - [`VideoConfig::from_caps`] accepts `video/x-h264, stream-format=avc, alignment=au` with a
//!   `codec_data` (avcC) and builds the AVC sequence header tag body; [`video_frame_header`] is
//!   the 5-byte prefix of each coded frame (frame type, AVCPacketType 1, SI24 composition time).
//! - [`AudioConfig::from_caps`] accepts raw AAC with an AudioSpecificConfig, or MP3, and gives the
//!   FLV sound-flags byte, the AAC sequence header and the per-frame prefix.
//! - [`metadata::on_metadata`] writes the `onMetaData` script body from both configs;
//!   [`metadata::set_data_frame`] prepends the `@setDataFrame` that RTMP publishing wants.
//! - [`tag`] frames bodies into an FLV file ([`tag::write_tag`]) and parses one back
//!   incrementally ([`tag::FlvTagReader`]), which lets `flvmux ! rtmpsink` work.
//!
//! Demux side (rtmpsrc maps received messages to buffers and caps):
//! - [`parse_video_body`] / [`parse_audio_body`] split a tag body into its codec payload.
//! - [`video_caps`], [`aac_caps`], [`mp3_caps`] build caps from the sequence headers (and
//!   [`StreamMetadata`] from `onMetaData`), taking rate/channels/size from the bitstream.
//!
//! Every parser here takes peer data and must not panic: lengths are checked and errors are
//! returned as [`FlvError`].

mod audio;
mod bits;
pub mod channels;
pub mod codecs;
mod enhanced;
pub mod metadata;
#[cfg(test)]
mod proptests;
mod sps;
#[cfg(test)]
mod stream_tests;
pub mod tag;
#[cfg(test)]
mod testdata;
mod video;
pub mod write;

pub use audio::{
    AudioCodec, AudioConfig, AudioSpecificConfig, AudioTag, Mp3Header, SOUND_FORMAT_AAC,
    SOUND_FORMAT_MP3, SOUND_FORMAT_MP3_8K, aac_caps, mp3_caps, parse_audio_body,
};
pub use codecs::{
    ColorInfo, ExAudioCodec, ExVideoCodec, config_full_range, ex_audio_caps, ex_video_caps,
};
pub use metadata::StreamMetadata;
pub use tag::{FlvTag, FlvTagParts, FlvTagReader, TagType};
pub use video::{
    AvcDecoderConfig, CODEC_ID_AVC, VideoConfig, VideoTag, parse_video_body, video_caps,
    video_frame_header,
};

/// Errors from mapping FLV bodies and GStreamer caps.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum FlvError {
    /// The caps cannot be sent as FLV; the message says why and what to do.
    #[error("unsupported caps: {0}")]
    UnsupportedCaps(String),
    /// A field the mapping needs is absent from the caps.
    #[error("caps lack the `{0}` field")]
    MissingField(&'static str),
    /// A tag body or header is shorter than its fixed part.
    #[error("{0} is truncated")]
    Truncated(&'static str),
    #[error("invalid AVCDecoderConfigurationRecord (avcC): {0}")]
    InvalidAvcC(&'static str),
    #[error("invalid AAC AudioSpecificConfig: {0}")]
    InvalidAsc(&'static str),
    #[error("invalid MPEG audio frame header: {0}")]
    InvalidMp3Header(&'static str),
    /// An Enhanced RTMP codec configuration record (hvcC, av1C, vpcC) is malformed.
    #[error("invalid {codec} configuration record: {reason}")]
    InvalidCodecConfig {
        codec: &'static str,
        reason: &'static str,
    },
    #[error("unknown AVCPacketType {0}")]
    UnknownAvcPacketType(u8),
    #[error("unknown AACPacketType {0}")]
    UnknownAacPacketType(u8),
    /// An FLV stream held a byte that is not an audio, video or script tag type (or had the
    /// reserved/encryption bits set).
    #[error("invalid FLV tag type byte 0x{0:02x}")]
    InvalidTagType(u8),
    #[error("FLV tag declares {size} bytes of data, more than the limit of {limit}")]
    TagTooLarge { size: usize, limit: usize },
    #[error("invalid FLV file header: {0}")]
    InvalidHeader(&'static str),
}
