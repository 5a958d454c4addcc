//! `rtmpsink`: publishes H.264, AAC and MP3, Enhanced RTMP codecs (H.265, AV1, VP9, Opus, FLAC,
//! AC-3, E-AC-3; multitrack through `video_%u`/`audio_%u`), or a complete FLV stream, to an RTMP server, or
//! serves it to RTMP players itself (`mode=listener`).
//!
//! A bin around two internal elements: [`mux::RtmpMux`] (an aggregator that interleaves the
//! elementary streams in DTS order and maps them to FLV tags) and [`writer::RtmpWriter`] (a base
//! sink that owns the connection and sends each tag as an RTMP message). The `sink` pad for
//! `video/x-flv` (flvmux output) bypasses the muxer and feeds the writer directly.
//!
//! With `mode=listener` the writer serves players instead of publishing ([`serve`]): it binds
//! the location's address when going to PAUSED and hands each tag to the [`fanout`], which keeps
//! the current GOP for late joiners and a bounded queue per player (`max-clients` at once).

use gst::glib;
use gst::prelude::*;

mod adapter;
mod adaptive;
mod codec_check;
mod encoder;
mod fanout;
mod headers;
mod imp;
mod link;
mod mux;
mod pace;
mod serve;
mod writer;

pub use writer::{MediaCounters, error_message};

/// Outgoing chunk size; larger than the protocol's 128 to save header bytes, as OBS and FFmpeg do.
pub const DEFAULT_CHUNK_SIZE: u32 = 4096;
/// Media queued for the connection (or held while reconnecting) before upstream is blocked
/// (or, while reconnecting, the oldest media is dropped).
pub const DEFAULT_MAX_QUEUE_BYTES: usize = crate::connection::DEFAULT_MAX_OUTGOING_BYTES;
/// A live publish rides out a server restart: 5 attempts, 2 s apart at first, doubling (about
/// 40 s in all).
pub const DEFAULT_RECONNECT_ATTEMPTS: u32 = 5;
pub const DEFAULT_RECONNECT_DELAY_MS: u32 = 2000;
/// Listener mode: players served at once; one more is refused.
pub const DEFAULT_MAX_CLIENTS: u32 = 64;

/// Adaptive bitrate: the floor (kbit/s), the ceiling (0: the encoder's bitrate at start) and
/// the delay beyond which whole GOPs are dropped (0: never).
pub const DEFAULT_MIN_BITRATE: u32 = 250;
pub const DEFAULT_MAX_BITRATE: u32 = 0;
pub const DEFAULT_MAX_DELAY_MS: u32 = 0;

fn default_settings() -> writer::SinkSettings {
    writer::SinkSettings {
        common: crate::location::Settings::default(),
        chunk_size: DEFAULT_CHUNK_SIZE,
        stop_commands: crate::protocol::session::StopCommands::default(),
        max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
        publish_type: PublishType::default(),
        reconnect: link::ReconnectPolicy {
            attempts: DEFAULT_RECONNECT_ATTEMPTS,
            delay: std::time::Duration::from_millis(u64::from(DEFAULT_RECONNECT_DELAY_MS)),
        },
        max_clients: DEFAULT_MAX_CLIENTS,
        adaptive: adapter::AdaptiveSettings {
            enabled: false,
            min_kbps: DEFAULT_MIN_BITRATE,
            max_kbps: DEFAULT_MAX_BITRATE,
            max_delay: std::time::Duration::from_millis(u64::from(DEFAULT_MAX_DELAY_MS)),
        },
        enhanced_rtmp: EnhancedRtmp::default(),
        codec_check: EnhancedCodecCheck::default(),
    }
}

glib::wrapper! {
    pub struct RtmpSink(ObjectSubclass<imp::RtmpSink>) @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy, gst::URIHandler;
}

glib::wrapper! {
    pub struct RtmpMuxElement(ObjectSubclass<mux::RtmpMux>)
        @extends gst_base::Aggregator, gst::Element, gst::Object;
}

glib::wrapper! {
    pub struct RtmpWriterElement(ObjectSubclass<writer::RtmpWriter>)
        @extends gst_base::BaseSink, gst::Element, gst::Object;
}

/// Which commands to send when the stream ends (rtmp2's `stop-commands` flags).
#[glib::flags(name = "GstRsRtmpStopCommands")]
pub enum StopCommandFlags {
    #[flags_value(name = "FCUnpublish", nick = "fcunpublish")]
    FCUNPUBLISH = 0b001,
    #[flags_value(name = "closeStream", nick = "closestream")]
    CLOSESTREAM = 0b010,
    #[flags_value(name = "deleteStream", nick = "deletestream")]
    DELETESTREAM = 0b100,
}

/// The publishing type sent as `publish`'s second argument. Servers such as Red5 and Wowza
/// decide by it whether to record and whether to start a new file or extend the existing one;
/// nginx-rtmp records by its own config and only passes the type to `on_publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstRsRtmpPublishType")]
pub enum PublishType {
    #[default]
    #[enum_value(name = "Live: the server does not record", nick = "live")]
    Live = 0,
    #[enum_value(name = "Record: the server records into a new file", nick = "record")]
    Record = 1,
    #[enum_value(
        name = "Append: the server records, appending to an existing file",
        nick = "append"
    )]
    Append = 2,
}

/// How H.264, AAC and MP3 go out (other codecs have only the Enhanced RTMP form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstRsRtmpEnhancedRtmp")]
pub enum EnhancedRtmp {
    #[default]
    #[enum_value(
        name = "Legacy FLV headers for H.264, AAC and MP3 (what every server takes)",
        nick = "legacy"
    )]
    Legacy = 0,
    #[enum_value(
        name = "Enhanced RTMP headers for every codec (avc1, mp4a, .mp3)",
        nick = "extended"
    )]
    Extended = 1,
}

impl EnhancedRtmp {
    pub fn legacy_codecs(self) -> crate::flv::write::LegacyCodecs {
        match self {
            EnhancedRtmp::Legacy => crate::flv::write::LegacyCodecs::Legacy,
            EnhancedRtmp::Extended => crate::flv::write::LegacyCodecs::Extended,
        }
    }
}

/// What to do when an Enhanced RTMP codec is about to go to a server that did not list it in
/// its connect answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstRsRtmpEnhancedCodecCheck")]
pub enum EnhancedCodecCheck {
    #[default]
    #[enum_value(name = "Post a warning and send it", nick = "warn")]
    Warn = 0,
    #[enum_value(name = "Fail with an error", nick = "error")]
    Error = 1,
    #[enum_value(name = "Do not check", nick = "off")]
    Off = 2,
}

impl PublishType {
    /// The string the publish command carries.
    pub fn as_str(self) -> &'static str {
        match self {
            PublishType::Live => "live",
            PublishType::Record => "record",
            PublishType::Append => "append",
        }
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtmpsink",
        // Above rtmp2sink (PRIMARY + 1) and the librtmp element, so autoplugging picks this one.
        gst::Rank::PRIMARY + 2,
        RtmpSink::static_type(),
    )
}
