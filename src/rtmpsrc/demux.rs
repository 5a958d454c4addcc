//! What rtmpsrc makes of a played stream, without pads, clocks or sockets.
//!
//! [`Demuxer::handle`] takes the [`SessionEvent`]s of a playing session and returns [`Action`]s
//! for the element: add a pad with caps, change caps, send tags, push a buffer, signal
//! no-more-pads, post a data message, warn, or end the stream. Timestamps come out as stream
//! milliseconds (64-bit, per stream unwrapped and resynchronised like flvdemux does);
//! [`LiveClock`] then maps them onto the pipeline's running time.
//!
//! Rules, after flvdemux where one exists:
//! - A pad is created once its codec is known: after the AVC or AAC sequence header, or at the
//!   first MP3 frame. A new sequence header (or onMetaData changing the frame rate) changes caps.
//! - DTS is the RTMP timestamp, PTS = DTS + composition time (never below 0). A jump back by
//!   [`RESYNC_THRESHOLD_MS`] or more is absorbed into an offset and flagged DISCONT; a 32-bit
//!   wrap (a jump back by more than 2^31 ms) continues the count.
//! - Video frames before the first keyframe are dropped: a decoder cannot use them.
//! - No-more-pads once the layout is known: both pads exist, or onMetaData's codec ids say which
//!   streams exist and those pads exist (or were skipped), or [`NO_MORE_PADS_TIMEOUT`] after
//!   the first pad.
//! - Codecs we cannot map produce one warning per stream, and the stream is skipped.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;

use crate::flv::{
    AudioTag, CODEC_ID_AVC, SOUND_FORMAT_AAC, SOUND_FORMAT_MP3, SOUND_FORMAT_MP3_8K,
    StreamMetadata, VideoTag, aac_caps, mp3_caps, parse_audio_body, parse_video_body, video_caps,
};
use crate::protocol::amf0::Amf0Value;
use crate::protocol::session::{MediaKind, SessionEvent};

use super::imp::CAT;
pub use super::time::{LiveClock, Mapped, Timeline};

pub use super::time::{GAP_THRESHOLD_MS, RESYNC_THRESHOLD_MS};
/// How long after the first pad we wait for the other stream when nothing says it exists.
pub const NO_MORE_PADS_TIMEOUT: Duration = Duration::from_secs(3);
/// Data messages are posted as text cut to this many bytes.
pub const MAX_DATA_TEXT: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Video,
    Audio,
}

impl StreamKind {
    /// The pad name, as flvdemux names them.
    pub fn pad_name(self) -> &'static str {
        match self {
            StreamKind::Video => "video",
            StreamKind::Audio => "audio",
        }
    }
}

/// One buffer's worth of media, timestamped in stream milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub data: Bytes,
    pub dts_ms: i64,
    pub pts_ms: i64,
    /// Audio frames are all keyframes; video non-keyframes become DELTA_UNIT.
    pub keyframe: bool,
    pub discont: bool,
}

/// Why the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The StreamEOF user control event.
    StreamEof,
    /// An onStatus code such as `NetStream.Play.UnpublishNotify` or `NetStream.Play.Stop`.
    Status(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the pad for `kind` with these caps (a `Tags` action for it follows).
    AddPad {
        kind: StreamKind,
        caps: gst::Caps,
    },
    /// New caps on the existing pad of `kind`.
    Caps {
        kind: StreamKind,
        caps: gst::Caps,
    },
    /// A tag event for the pad of `kind`; the list carries its scope.
    Tags {
        kind: StreamKind,
        tags: gst::TagList,
    },
    Buffer {
        kind: StreamKind,
        frame: Frame,
    },
    NoMorePads,
    /// A data message other than onMetaData (onTextData, onCuePoint...): its name and the
    /// remaining values as text.
    Data {
        name: String,
        timestamp: u32,
        text: String,
    },
    /// Something the user should see once, e.g. an unsupported codec.
    Warning(String),
    /// A new segment on every pad, before the buffers that follow (a recording after a seek).
    Segment {
        segment: gst::FormattedSegment<gst::ClockTime>,
        seqnum: gst::Seqnum,
    },
    /// The publisher stopped.
    Eos(EndReason),
    /// The server ended the session (the `close` command or `NetConnection.Connect.Closed`).
    ServerClosed,
}

#[derive(Debug, Clone, PartialEq)]
enum Config {
    None,
    Avc(Bytes),
    Aac(Bytes),
    Mp3,
}

#[derive(Debug)]
struct Stream {
    kind: StreamKind,
    config: Config,
    /// The caps on the pad; `Some` once the pad exists.
    caps: Option<gst::Caps>,
    /// An unsupported codec was seen before any pad: the stream will not get one.
    skipped: bool,
    warned: bool,
    timeline: Timeline,
    /// The next buffer is the pad's first.
    first: bool,
    keyframe_seen: bool,
    /// Frames dropped while waiting for a sequence header or keyframe (logged once).
    dropped: u64,
}

impl Stream {
    fn new(kind: StreamKind) -> Self {
        Stream {
            kind,
            config: Config::None,
            caps: None,
            skipped: false,
            warned: false,
            timeline: Timeline::default(),
            first: true,
            keyframe_seen: false,
            dropped: 0,
        }
    }

    fn has_pad(&self) -> bool {
        self.caps.is_some()
    }
}

/// The mapping state of one played stream.
#[derive(Debug)]
pub struct Demuxer {
    video: Stream,
    audio: Stream,
    meta: Option<StreamMetadata>,
    no_more_pads: bool,
    first_pad_at: Option<Duration>,
    ended: bool,
}

impl Default for Demuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl Demuxer {
    pub fn new() -> Self {
        Demuxer {
            video: Stream::new(StreamKind::Video),
            audio: Stream::new(StreamKind::Audio),
            meta: None,
            no_more_pads: false,
            first_pad_at: None,
            ended: false,
        }
    }

    /// A new connection continues the stream: its timestamps start over, each pad's next buffer
    /// is a DISCONT, and video waits for a keyframe again.
    pub fn restart_timelines(&mut self) {
        for stream in [&mut self.video, &mut self.audio] {
            stream.timeline.restart();
            stream.first = true;
            stream.keyframe_seen = false;
        }
    }

    /// Maps a recording: timestamps are positions in it, and a jump back is kept as it is.
    pub fn set_recorded(&mut self) {
        for stream in [&mut self.video, &mut self.audio] {
            stream.timeline = Timeline::recorded();
        }
    }

    /// After a seek: timelines start over, video waits for a keyframe, and the stream may
    /// flow again after it had ended.
    pub fn restart_after_seek(&mut self) {
        self.restart_timelines();
        self.ended = false;
    }

    /// The duration onMetaData gave, in milliseconds.
    pub fn metadata_duration_ms(&self) -> Option<u64> {
        let seconds = self.meta.as_ref()?.duration?;
        (seconds.is_finite() && seconds > 0.0).then_some((seconds * 1000.0) as u64)
    }

    /// Whether the pad of `kind` exists.
    pub fn has_pad(&self, kind: StreamKind) -> bool {
        self.stream(kind).has_pad()
    }

    pub fn no_more_pads_sent(&self) -> bool {
        self.no_more_pads
    }

    /// When [`tick`](Self::tick) should next be called (time since the start, like `now`).
    pub fn next_deadline(&self) -> Option<Duration> {
        if self.no_more_pads || self.ended {
            return None;
        }
        self.first_pad_at.map(|t| t + NO_MORE_PADS_TIMEOUT)
    }

    fn stream(&self, kind: StreamKind) -> &Stream {
        match kind {
            StreamKind::Video => &self.video,
            StreamKind::Audio => &self.audio,
        }
    }

    fn stream_mut(&mut self, kind: StreamKind) -> &mut Stream {
        match kind {
            StreamKind::Video => &mut self.video,
            StreamKind::Audio => &mut self.audio,
        }
    }

    /// Maps one session event; `now` is the time since playing started (for the bounded
    /// no-more-pads wait).
    pub fn handle(&mut self, event: SessionEvent, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        match event {
            SessionEvent::Media {
                kind: MediaKind::Video,
                timestamp,
                payload,
            } => self.handle_video(timestamp, &payload, now, &mut out),
            SessionEvent::Media {
                kind: MediaKind::Audio,
                timestamp,
                payload,
            } => self.handle_audio(timestamp, &payload, now, &mut out),
            SessionEvent::Data { timestamp, values } => {
                self.handle_data(timestamp, &values, now, &mut out)
            }
            SessionEvent::Status(status) => match status.code.as_str() {
                "NetStream.Play.UnpublishNotify"
                | "NetStream.Play.Stop"
                | "NetStream.Play.Complete" => {
                    self.end(EndReason::Status(status.code), &mut out);
                }
                _ => gst::info!(
                    CAT,
                    "server status {} {} {}",
                    status.level,
                    status.code,
                    status.description
                ),
            },
            SessionEvent::StreamEof => self.end(EndReason::StreamEof, &mut out),
            SessionEvent::ServerClosed => {
                self.ended = true;
                out.push(Action::ServerClosed);
            }
            other => gst::debug!(CAT, "{other:?}"),
        }
        self.check_no_more_pads(now, &mut out);
        out
    }

    /// Checks the bounded no-more-pads wait.
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.ended {
            self.check_no_more_pads(now, &mut out);
        }
        out
    }

    fn end(&mut self, reason: EndReason, out: &mut Vec<Action>) {
        self.ended = true;
        // Whoever waits for the layout must learn it before the end.
        if !self.no_more_pads && (self.video.has_pad() || self.audio.has_pad()) {
            self.no_more_pads = true;
            out.push(Action::NoMorePads);
        }
        out.push(Action::Eos(reason));
    }

    fn handle_video(&mut self, ts: u32, payload: &Bytes, now: Duration, out: &mut Vec<Action>) {
        let tag = match parse_video_body(payload) {
            Ok(tag) => tag,
            Err(err) => {
                gst::warning!(CAT, "dropping invalid video message: {err}");
                return;
            }
        };
        match tag {
            VideoTag::AvcSequenceHeader(avcc) => {
                let meta = self.meta.clone().unwrap_or_default();
                match video_caps(&avcc, &meta) {
                    Ok(caps) => {
                        self.video.config = Config::Avc(avcc);
                        self.set_caps(StreamKind::Video, caps, now, out);
                    }
                    Err(err) => gst::warning!(CAT, "ignoring AVC sequence header: {err}"),
                }
            }
            VideoTag::AvcFrame {
                keyframe,
                cts_ms,
                data,
            } => {
                let stream = &mut self.video;
                if !matches!(stream.config, Config::Avc(_)) || !stream.has_pad() {
                    drop_frame(stream, "no AVC sequence header yet");
                    return;
                }
                if !keyframe && !stream.keyframe_seen {
                    drop_frame(stream, "waiting for a keyframe");
                    return;
                }
                stream.keyframe_seen = true;
                push_frame(stream, ts, cts_ms, keyframe, data, out);
            }
            VideoTag::AvcEndOfSequence | VideoTag::Command => {
                gst::debug!(CAT, "ignoring video {tag:?}");
            }
            VideoTag::Unsupported { codec_id } => {
                let what = format!(
                    "FLV video codec {codec_id} ({})",
                    video_codec_name(codec_id)
                );
                self.unsupported(StreamKind::Video, &what, out);
            }
            VideoTag::UnsupportedEnhanced {
                packet_type,
                fourcc,
            } => {
                if fourcc.as_ref() == Some(b"avc1") {
                    gst::debug!(CAT, "ignoring avc1 packet type {packet_type}");
                } else {
                    let what = enhanced_name(packet_type, fourcc);
                    self.unsupported(StreamKind::Video, &what, out);
                }
            }
        }
    }

    fn handle_audio(&mut self, ts: u32, payload: &Bytes, now: Duration, out: &mut Vec<Action>) {
        let tag = match parse_audio_body(payload) {
            Ok(tag) => tag,
            Err(err) => {
                gst::warning!(CAT, "dropping invalid audio message: {err}");
                return;
            }
        };
        match tag {
            AudioTag::AacSequenceHeader(asc) => match aac_caps(&asc) {
                Ok(caps) => {
                    self.audio.config = Config::Aac(asc);
                    self.set_caps(StreamKind::Audio, caps, now, out);
                }
                Err(err) => gst::warning!(CAT, "ignoring AAC sequence header: {err}"),
            },
            AudioTag::AacFrame(data) => {
                let stream = &mut self.audio;
                if !matches!(stream.config, Config::Aac(_)) || !stream.has_pad() {
                    drop_frame(stream, "no AAC sequence header yet");
                    return;
                }
                push_frame(stream, ts, 0, true, data, out);
            }
            AudioTag::Mp3 { data } => {
                if self.audio.config != Config::Mp3 || !self.audio.has_pad() {
                    match mp3_caps(&data) {
                        Ok(caps) => {
                            self.audio.config = Config::Mp3;
                            self.set_caps(StreamKind::Audio, caps, now, out);
                        }
                        Err(err) => {
                            gst::warning!(CAT, "dropping MP3 message: {err}");
                            return;
                        }
                    }
                }
                push_frame(&mut self.audio, ts, 0, true, data, out);
            }
            AudioTag::Unsupported { sound_format } => {
                let what = format!(
                    "FLV sound format {sound_format} ({})",
                    sound_format_name(sound_format)
                );
                self.unsupported(StreamKind::Audio, &what, out);
            }
            AudioTag::UnsupportedEnhanced {
                packet_type,
                fourcc,
            } => {
                if matches!(fourcc.as_ref(), Some(b"mp4a" | b".mp3")) {
                    gst::debug!(CAT, "ignoring audio packet type {packet_type}");
                } else {
                    let what = enhanced_name(packet_type, fourcc);
                    self.unsupported(StreamKind::Audio, &what, out);
                }
            }
        }
    }

    fn unsupported(&mut self, kind: StreamKind, what: &str, out: &mut Vec<Action>) {
        let stream = self.stream_mut(kind);
        if !stream.has_pad() {
            stream.skipped = true;
        }
        if !stream.warned {
            stream.warned = true;
            out.push(Action::Warning(format!(
                "The {} stream uses {what}, which rtmpsrc cannot play; skipping it",
                kind.pad_name()
            )));
        }
    }

    fn set_caps(
        &mut self,
        kind: StreamKind,
        caps: gst::Caps,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let stream = self.stream_mut(kind);
        stream.skipped = false;
        match &stream.caps {
            None => {
                stream.caps = Some(caps.clone());
                out.push(Action::AddPad { kind, caps });
                self.first_pad_at.get_or_insert(now);
                self.push_tags(kind, out);
            }
            Some(old) if *old != caps => {
                stream.caps = Some(caps.clone());
                out.push(Action::Caps { kind, caps });
            }
            Some(_) => {}
        }
    }

    fn push_tags(&self, kind: StreamKind, out: &mut Vec<Action>) {
        if let Some(meta) = &self.meta
            && meta.tags.n_tags() > 0
        {
            let mut global = meta.tags.clone();
            global.make_mut().set_scope(gst::TagScope::Global);
            out.push(Action::Tags { kind, tags: global });
        }
        out.push(Action::Tags {
            kind,
            tags: self.stream_tags(kind),
        });
    }

    /// Codec name and nominal bitrate, scoped to the stream.
    fn stream_tags(&self, kind: StreamKind) -> gst::TagList {
        let meta = self.meta.clone().unwrap_or_default();
        let mut tags = match kind {
            StreamKind::Video => meta.video_tags(),
            StreamKind::Audio => meta.audio_tags(),
        };
        {
            let tags = tags.make_mut();
            tags.set_scope(gst::TagScope::Stream);
            match (&self.stream(kind).config, kind) {
                (Config::Avc(_), _) => {
                    tags.add::<gst::tags::VideoCodec>(&"H.264 / AVC", gst::TagMergeMode::Replace)
                }
                (Config::Aac(_), _) => {
                    tags.add::<gst::tags::AudioCodec>(&"MPEG-4 AAC", gst::TagMergeMode::Replace)
                }
                (Config::Mp3, _) => tags.add::<gst::tags::AudioCodec>(
                    &"MPEG-1 Layer 3 (MP3)",
                    gst::TagMergeMode::Replace,
                ),
                (Config::None, _) => {}
            }
        }
        tags
    }

    fn handle_data(
        &mut self,
        timestamp: u32,
        values: &[Amf0Value],
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        if let Some(meta) = StreamMetadata::from_amf(values) {
            gst::debug!(CAT, "onMetaData: {}", amf_text(values));
            self.meta = Some(meta);
            // The frame rate and, without an SPS, the size come from here.
            if let Config::Avc(avcc) = &self.video.config {
                let avcc = avcc.clone();
                let meta = self.meta.clone().unwrap_or_default();
                if let Ok(caps) = video_caps(&avcc, &meta) {
                    self.set_caps(StreamKind::Video, caps, now, out);
                }
            }
            for kind in [StreamKind::Video, StreamKind::Audio] {
                if self.stream(kind).has_pad() {
                    self.push_tags(kind, out);
                }
            }
            return;
        }
        // "@setDataFrame" only frames what a publisher asks the server to keep.
        let values = match values.first().and_then(Amf0Value::as_str) {
            Some("@setDataFrame") => values.get(1..).unwrap_or_default(),
            _ => values,
        };
        let (name, rest) = match values.split_first() {
            Some((first, rest)) => match first.as_str() {
                Some(name) => (name.to_owned(), rest),
                None => (String::new(), values),
            },
            None => return,
        };
        if name == "onPlayStatus" {
            // nginx-rtmp and FMS say a recording is complete with a data message.
            let code = rest
                .iter()
                .find_map(|v| v.get("code"))
                .and_then(Amf0Value::as_str);
            if code == Some("NetStream.Play.Complete") {
                self.end(EndReason::Status("NetStream.Play.Complete".into()), out);
                return;
            }
        }
        let text = amf_text(rest);
        if name == "|RtmpSampleAccess" {
            // Flash Player permissions that every nginx/Wowza play starts with.
            gst::debug!(CAT, "{name} {text}");
            return;
        }
        gst::info!(CAT, "data message {name} at {timestamp} ms: {text}");
        out.push(Action::Data {
            name,
            timestamp,
            text,
        });
    }

    fn check_no_more_pads(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.no_more_pads || self.ended {
            return;
        }
        let Some(first_pad_at) = self.first_pad_at else {
            return;
        };
        let announced = |kind: StreamKind| {
            self.meta.as_ref().map(|m| match kind {
                StreamKind::Video => m.video_codec_id.is_some(),
                StreamKind::Audio => m.audio_codec_id.is_some(),
            })
        };
        let settled = |kind: StreamKind| {
            let stream = self.stream(kind);
            stream.has_pad() || stream.skipped || announced(kind) == Some(false)
        };
        let timed_out = now >= first_pad_at + NO_MORE_PADS_TIMEOUT;
        if (settled(StreamKind::Video) && settled(StreamKind::Audio)) || timed_out {
            self.no_more_pads = true;
            out.push(Action::NoMorePads);
        }
    }
}

fn drop_frame(stream: &mut Stream, why: &str) {
    if stream.dropped == 0 {
        gst::debug!(CAT, "dropping {} frames: {why}", stream.kind.pad_name());
    }
    stream.dropped += 1;
}

fn push_frame(
    stream: &mut Stream,
    ts: u32,
    cts_ms: i32,
    keyframe: bool,
    data: Bytes,
    out: &mut Vec<Action>,
) {
    if data.is_empty() {
        return;
    }
    let mapped = stream.timeline.map(ts);
    if mapped.resync {
        gst::warning!(
            CAT,
            "{} timestamps jumped back, resynchronising at {} ms",
            stream.kind.pad_name(),
            mapped.ms
        );
    }
    let discont = std::mem::take(&mut stream.first) || mapped.resync || mapped.gap;
    let frame = Frame {
        data,
        dts_ms: mapped.ms,
        pts_ms: (mapped.ms + i64::from(cts_ms)).max(0),
        keyframe,
        discont,
    };
    out.push(Action::Buffer {
        kind: stream.kind,
        frame,
    });
}

fn video_codec_name(codec_id: u8) -> &'static str {
    match codec_id {
        2 => "Sorenson H.263",
        3 => "Screen video",
        4 => "On2 VP6",
        5 => "On2 VP6 with alpha",
        6 => "Screen video v2",
        CODEC_ID_AVC => "H.264",
        12 => "HEVC (non-standard id)",
        _ => "unknown",
    }
}

fn sound_format_name(format: u8) -> &'static str {
    match format {
        0 | 3 => "linear PCM",
        1 => "ADPCM",
        SOUND_FORMAT_MP3 | SOUND_FORMAT_MP3_8K => "MP3",
        4..=6 => "Nellymoser",
        7 => "G.711 A-law",
        8 => "G.711 mu-law",
        SOUND_FORMAT_AAC => "AAC",
        11 => "Speex",
        _ => "unknown",
    }
}

fn enhanced_name(packet_type: u8, fourcc: Option<[u8; 4]>) -> String {
    match fourcc {
        Some(f) => format!(
            "Enhanced RTMP codec '{}' (packet type {packet_type})",
            String::from_utf8_lossy(&f)
        ),
        None => format!("Enhanced RTMP multitrack packets (packet type {packet_type})"),
    }
}

/// AMF values as compact JSON-like text, cut to [`MAX_DATA_TEXT`] bytes.
pub fn amf_text(values: &[Amf0Value]) -> String {
    let mut out = String::new();
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_amf(&mut out, value);
        if out.len() > MAX_DATA_TEXT {
            break;
        }
    }
    if out.len() > MAX_DATA_TEXT {
        let mut cut = MAX_DATA_TEXT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

fn write_amf(out: &mut String, value: &Amf0Value) {
    // Stop early on huge values; the caller cuts the text anyway.
    if out.len() > MAX_DATA_TEXT {
        return;
    }
    match value {
        Amf0Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Amf0Value::Boolean(b) => {
            let _ = write!(out, "{b}");
        }
        Amf0Value::String(s) | Amf0Value::LongString(s) | Amf0Value::XmlDocument(s) => {
            let _ = write!(out, "{s:?}");
        }
        Amf0Value::Null => out.push_str("null"),
        Amf0Value::Undefined => out.push_str("undefined"),
        Amf0Value::Unsupported => out.push_str("unsupported"),
        Amf0Value::Reference(r) => {
            let _ = write!(out, "ref({r})");
        }
        Amf0Value::Date { millis, .. } => {
            let _ = write!(out, "date({millis})");
        }
        Amf0Value::Object(props) | Amf0Value::EcmaArray(props) => write_props(out, props),
        Amf0Value::TypedObject {
            class_name,
            properties,
        } => {
            let _ = write!(out, "{class_name:?}");
            write_props(out, properties);
        }
        Amf0Value::StrictArray(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_amf(out, item);
            }
            out.push(']');
        }
        Amf0Value::AvmPlus(v) => {
            let _ = write!(out, "{v:?}");
        }
    }
}

fn write_props(out: &mut String, props: &[(String, Amf0Value)]) {
    out.push('{');
    for (i, (key, value)) in props.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{key:?}: ");
        write_amf(out, value);
    }
    out.push('}');
}

#[cfg(test)]
#[path = "demux_tests.rs"]
mod tests;
