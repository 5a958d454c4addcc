//! The `rtmpsink` bin: properties, request pads and the URI handler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::mux::{audio_caps, video_caps};
use super::writer::{CAT, SinkSettings};
use super::{
    DEFAULT_CHUNK_SIZE, DEFAULT_MAX_BITRATE, DEFAULT_MAX_CLIENTS, DEFAULT_MAX_DELAY_MS,
    DEFAULT_MAX_QUEUE_BYTES, DEFAULT_MIN_BITRATE, DEFAULT_RECONNECT_ATTEMPTS,
    DEFAULT_RECONNECT_DELAY_MS, EnhancedCodecCheck, EnhancedRtmp, PublishType, RtmpMuxElement,
    RtmpWriterElement, StopCommandFlags,
};
use crate::location;
use crate::protocol::session::StopCommands;

const DEFAULT_SYNC: bool = true;
const DEFAULT_PEAK_KBPS: u32 = 0;

/// Base sink properties of the writer that rtmpsink shows as its own (ts-offset apart).
const WRITER_PROPERTIES: &[&str] = &[
    "sync",
    "max-lateness",
    "qos",
    "async",
    "enable-last-sample",
    "last-sample",
];

fn stop_flags(stop: StopCommands) -> StopCommandFlags {
    let mut flags = StopCommandFlags::empty();
    flags.set(StopCommandFlags::FCUNPUBLISH, stop.fc_unpublish);
    flags.set(StopCommandFlags::CLOSESTREAM, stop.close_stream);
    flags.set(StopCommandFlags::DELETESTREAM, stop.delete_stream);
    flags
}

pub struct RtmpSink {
    settings: Arc<Mutex<SinkSettings>>,
    writer: RtmpWriterElement,
    /// Created when the first elementary pad is requested.
    mux: Mutex<Option<RtmpMuxElement>>,
    /// An error of this run (since READY->PAUSED) has been posted: later ones from the children
    /// (the same failure seen again on EOS, base sink's generic "failed to start") are dropped.
    error_posted: AtomicBool,
    /// Refuses changes of the properties that apply only when starting, once started.
    started: crate::shared::start_gate::StartGate,
}

impl Default for RtmpSink {
    fn default() -> Self {
        RtmpSink {
            settings: Arc::new(Mutex::new(super::default_settings())),
            writer: glib::Object::new(),
            mux: Mutex::new(None),
            error_posted: AtomicBool::new(false),
            started: crate::shared::start_gate::StartGate::default(),
        }
    }
}

impl RtmpSink {
    fn settings(&self) -> MutexGuard<'_, SinkSettings> {
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn has_flv_pad(&self) -> bool {
        self.obj().static_pad("sink").is_some()
    }

    fn mux(&self) -> Result<RtmpMuxElement, glib::BoolError> {
        let mut mux = self.mux.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mux) = &*mux {
            return Ok(mux.clone());
        }
        let new: RtmpMuxElement = glib::Object::builder().property("name", "mux").build();
        new.imp()
            .set_legacy_codecs(self.settings().enhanced_rtmp.legacy_codecs());
        self.obj().add(&new)?;
        new.link(&self.writer)?;
        new.sync_state_with_parent()?;
        *mux = Some(new.clone());
        Ok(new)
    }

    fn stats(&self) -> gst::Structure {
        let writer = self.writer.imp();
        let session = writer.session_stats().unwrap_or_default();
        let counters = writer.counters();
        let mut stats = crate::shared::stats::stats_structure(&session, &counters);
        writer.add_listener_stats(stats.as_mut());
        let adaptive = writer.adaptive_stats();
        let stats = stats.as_mut();
        stats.set("bitrate", adaptive.bitrate_kbps);
        stats.set("bandwidth-estimate", adaptive.estimate_kbps);
        stats.set("queued-ms", adaptive.delay.as_millis() as u64);
        stats.set("dropped-gops", adaptive.dropped_gops);
        stats.set("dropped-bytes", adaptive.dropped_bytes);
        stats.to_owned()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtmpSink {
    const NAME: &'static str = "GstRsRtmpSink";
    type Type = super::RtmpSink;
    type ParentType = gst::Bin;
    type Interfaces = (gst::URIHandler,);
}

impl ObjectImpl for RtmpSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = location::properties();
            props.extend([
                glib::ParamSpecUInt::builder("chunk-size")
                    .nick("Chunk size")
                    .blurb("RTMP chunk size to send")
                    .minimum(1)
                    .maximum(0x7FFF_FFFF)
                    .default_value(DEFAULT_CHUNK_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFlags::builder::<StopCommandFlags>("stop-commands")
                    .nick("Stop commands")
                    .blurb("RTMP commands to send on EOS event before closing connection")
                    .default_value(stop_flags(StopCommands::default()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder::<PublishType>("publish-type")
                    .nick("Publish type")
                    .blurb("Publishing type sent with the publish command, for servers that record (live, record, append)")
                    .default_value(PublishType::default())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder::<EnhancedRtmp>("enhanced-rtmp")
                    .nick("Enhanced RTMP")
                    .blurb("H.264, AAC and MP3 in the legacy FLV headers, or in the Enhanced RTMP ones (avc1, mp4a, .mp3); H.265, AV1, VP9, Opus, FLAC and AC-3 always use Enhanced RTMP, and so do tracks other than 0")
                    .default_value(EnhancedRtmp::default())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder::<EnhancedCodecCheck>("enhanced-codec-check")
                    .nick("Enhanced codec check")
                    .blurb("When an Enhanced RTMP codec goes to a server that did not list it in its connect answer (or listed none): post a warning, fail with an error, or say nothing")
                    .default_value(EnhancedCodecCheck::default())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("sync")
                    .nick("Sync")
                    .blurb("Send each buffer no earlier than its running time (paces files; live input goes out as it comes, without waiting for the pipeline latency). false: as fast as the server takes it")
                    .default_value(DEFAULT_SYNC)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("peak-kbps")
                    .nick("Peak bitrate")
                    .blurb("Bandwidth limit in kbps (0 = unlimited)")
                    .maximum(i32::MAX as u32 / 1000)
                    .default_value(DEFAULT_PEAK_KBPS)
                    .mutable_playing()
                    .build(),
                // Base sink properties of the internal writer, as rtmp2sink has them.
                glib::ParamSpecInt64::builder("ts-offset")
                    .nick("TS Offset")
                    .blurb("Timestamp offset in nanoseconds (added to the one rtmpsink keeps so as not to wait for the pipeline latency)")
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecInt64::builder("max-lateness")
                    .nick("Max Lateness")
                    .blurb("Maximum number of nanoseconds that a buffer can be late before it is dropped (-1 unlimited)")
                    .minimum(-1)
                    .default_value(-1)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("qos")
                    .nick("Qos")
                    .blurb("Generate Quality-of-Service events upstream")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("async")
                    .nick("Async")
                    .blurb("Go asynchronously to PAUSED")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("enable-last-sample")
                    .nick("Enable Last Buffer")
                    .blurb("Enable the last-sample property")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Sample>("last-sample")
                    .nick("Last Sample")
                    .blurb("The last sample received in the sink (an FLV tag)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("reconnect-attempts")
                    .nick("Reconnect attempts")
                    .blurb(
                        "How often to try reconnecting when an established connection drops \
                         (0: a drop is an error)",
                    )
                    .default_value(DEFAULT_RECONNECT_ATTEMPTS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("reconnect-delay")
                    .nick("Reconnect delay")
                    .blurb("Milliseconds before the first reconnection attempt; doubles for each next one (at most 10 s)")
                    .default_value(DEFAULT_RECONNECT_DELAY_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("max-queue-bytes")
                    .nick("Maximum queued bytes")
                    .blurb(
                        "Media held for a slow server (or while reconnecting) before upstream \
                         blocks (or the oldest media is dropped while reconnecting)",
                    )
                    .minimum(64 * 1024)
                    .default_value(DEFAULT_MAX_QUEUE_BYTES as u64)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-clients")
                    .nick("Maximum clients")
                    .blurb(
                        "Listener mode: players served at once; one more is refused \
                         (NetStream.Play.Failed) until one leaves",
                    )
                    .minimum(1)
                    .default_value(DEFAULT_MAX_CLIENTS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("adaptive-bitrate")
                    .nick("Adaptive bitrate")
                    .blurb(
                        "Follow the bandwidth: lower the upstream video encoder's bitrate when \
                         media queues up, raise it again when the link carries more",
                    )
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-bitrate")
                    .nick("Minimum bitrate")
                    .blurb("Adaptive bitrate: the lowest video bitrate to set, in kbit/s")
                    .minimum(1)
                    .default_value(DEFAULT_MIN_BITRATE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-bitrate")
                    .nick("Maximum bitrate")
                    .blurb(
                        "Adaptive bitrate: the highest video bitrate to set, in kbit/s \
                         (0: the encoder's bitrate at start)",
                    )
                    .default_value(DEFAULT_MAX_BITRATE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-delay")
                    .nick("Maximum delay")
                    .blurb(
                        "Milliseconds media may wait for the link before whole groups of \
                         pictures (and their audio) are dropped (0: never drop)",
                    )
                    .default_value(DEFAULT_MAX_DELAY_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Stats")
                    .blurb("Connection and media statistics")
                    .read_only()
                    .build(),
            ]);
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if self
            .started
            .refuse(*CAT, self.obj().upcast_ref::<gst::Element>(), pspec)
        {
            return;
        }
        match pspec.name() {
            "chunk-size" => {
                let size = value.get().expect("type checked upstream");
                self.settings().chunk_size = size;
                self.writer.imp().set_chunk_size(size);
            }
            "stop-commands" => {
                let flags: StopCommandFlags = value.get().expect("type checked upstream");
                self.settings().stop_commands = StopCommands {
                    fc_unpublish: flags.contains(StopCommandFlags::FCUNPUBLISH),
                    close_stream: flags.contains(StopCommandFlags::CLOSESTREAM),
                    delete_stream: flags.contains(StopCommandFlags::DELETESTREAM),
                };
            }
            "publish-type" => {
                self.settings().publish_type = value.get().expect("type checked upstream");
            }
            "enhanced-rtmp" => {
                let mode: EnhancedRtmp = value.get().expect("type checked upstream");
                self.settings().enhanced_rtmp = mode;
                let mux = self.mux.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(mux) = mux {
                    mux.imp().set_legacy_codecs(mode.legacy_codecs());
                }
            }
            "enhanced-codec-check" => {
                self.settings().codec_check = value.get().expect("type checked upstream");
            }
            name if WRITER_PROPERTIES.contains(&name) => {
                self.writer.set_property_from_value(name, value)
            }
            "ts-offset" => self
                .writer
                .imp()
                .set_user_ts_offset(value.get().expect("type checked upstream")),
            "peak-kbps" => self
                .writer
                .imp()
                .set_peak_kbps(value.get().expect("type checked upstream")),
            "reconnect-attempts" => {
                self.settings().reconnect.attempts = value.get().expect("type checked upstream");
            }
            "reconnect-delay" => {
                let ms: u32 = value.get().expect("type checked upstream");
                self.settings().reconnect.delay = Duration::from_millis(u64::from(ms));
            }
            "max-clients" => {
                self.settings().max_clients = value.get().expect("type checked upstream");
            }
            "adaptive-bitrate" => {
                self.settings().adaptive.enabled = value.get().expect("type checked upstream");
            }
            "min-bitrate" => {
                self.settings().adaptive.min_kbps = value.get().expect("type checked upstream");
            }
            "max-bitrate" => {
                self.settings().adaptive.max_kbps = value.get().expect("type checked upstream");
            }
            "max-delay" => {
                let ms: u32 = value.get().expect("type checked upstream");
                self.settings().adaptive.max_delay = Duration::from_millis(u64::from(ms));
            }
            "max-queue-bytes" => {
                let bytes: u64 = value.get().expect("type checked upstream");
                self.settings().max_queue_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
            }
            _ => {
                if let Err(err) = self.settings().common.set_property(value, pspec) {
                    gst::warning!(CAT, imp = self, "{}", err.message());
                }
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "chunk-size" => self.settings().chunk_size.to_value(),
            "stop-commands" => stop_flags(self.settings().stop_commands).to_value(),
            "publish-type" => self.settings().publish_type.to_value(),
            "enhanced-rtmp" => self.settings().enhanced_rtmp.to_value(),
            "enhanced-codec-check" => self.settings().codec_check.to_value(),
            name if WRITER_PROPERTIES.contains(&name) => self.writer.property_value(name),
            "ts-offset" => self.writer.imp().user_ts_offset().to_value(),
            "peak-kbps" => self.writer.imp().peak_kbps().to_value(),
            "reconnect-attempts" => self.settings().reconnect.attempts.to_value(),
            "reconnect-delay" => (self
                .settings()
                .reconnect
                .delay
                .as_millis()
                .min(u128::from(u32::MAX)) as u32)
                .to_value(),
            "max-queue-bytes" => (self.settings().max_queue_bytes as u64).to_value(),
            "max-clients" => self.settings().max_clients.to_value(),
            "adaptive-bitrate" => self.settings().adaptive.enabled.to_value(),
            "min-bitrate" => self.settings().adaptive.min_kbps.to_value(),
            "max-bitrate" => self.settings().adaptive.max_kbps.to_value(),
            "max-delay" => (self.settings().adaptive.max_delay.as_millis() as u32).to_value(),
            "stats" => self.stats().to_value(),
            _ => self.settings().common.property(pspec),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.writer.imp().set_settings(self.settings.clone());
        self.writer.set_property("name", "writer");
        self.obj()
            .add(&self.writer)
            .expect("a new bin accepts its first child");
        self.obj().set_element_flags(gst::ElementFlags::SINK);
    }
}

impl GstObjectImpl for RtmpSink {}

impl ElementImpl for RtmpSink {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            self.error_posted.store(false, Ordering::SeqCst);
            // From here the writer may read the settings to connect.
            self.started.set_started(true);
        }
        let result = self.parent_change_state(transition);
        match transition {
            gst::StateChange::ReadyToPaused if result.is_err() => self.started.set_started(false),
            gst::StateChange::PausedToReady => self.started.set_started(false),
            _ => {}
        }
        result
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTMP sink",
                "Sink/Network",
                "Publishes H.264, H.265, AV1, VP9, AAC, MP3, Opus, FLAC and AC-3 (Enhanced RTMP, multitrack), or an FLV stream, to an RTMP server, or serves it to RTMP players (mode=listener)",
                "gst-plugin-rtmp developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // Byte-stream H.264 from an encoder needs h264parse in front to become avc/au.
            let video = gst::PadTemplate::new(
                "video",
                gst::PadDirection::Sink,
                gst::PadPresence::Request,
                &video_caps(),
            );
            let audio = gst::PadTemplate::new(
                "audio",
                gst::PadDirection::Sink,
                gst::PadPresence::Request,
                &audio_caps(),
            );
            let flv = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Request,
                &gst::Caps::builder("video/x-flv").build(),
            );
            // Enhanced RTMP multitrack: tracks 1..255 beside track 0 (`video`, `audio`).
            let video_track = gst::PadTemplate::new(
                "video_%u",
                gst::PadDirection::Sink,
                gst::PadPresence::Request,
                &video_caps(),
            );
            let audio_track = gst::PadTemplate::new(
                "audio_%u",
                gst::PadDirection::Sink,
                gst::PadPresence::Request,
                &audio_caps(),
            );
            [video, audio, flv, video_track, audio_track]
                .into_iter()
                .map(|t| t.expect("static pad template"))
                .collect()
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        req_name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let template = templ.name_template();
        let name = match template.strip_suffix("_%u") {
            None => template.to_string(),
            Some(_) if req_name.is_some() => req_name?.to_string(),
            // The lowest free track id.
            Some(kind) => (1..=255)
                .map(|n| format!("{kind}_{n}"))
                .find(|n| self.obj().static_pad(n).is_none())?,
        };
        if self.obj().static_pad(&name).is_some() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Pad,
                ("rtmpsink has only one {name} pad")
            );
            return None;
        }
        let target = if name == "sink" {
            if self.mux.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Pad,
                    ("An FLV stream (sink pad) cannot be mixed with video/audio pads")
                );
                return None;
            }
            self.writer.static_pad("sink")?
        } else {
            if self.has_flv_pad() {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Pad,
                    ("video/audio pads cannot be mixed with an FLV stream (sink pad)")
                );
                return None;
            }
            let mux = match self.mux() {
                Ok(mux) => mux,
                Err(err) => {
                    gst::error!(CAT, imp = self, "could not set up the muxer: {err}");
                    return None;
                }
            };
            let Some(target) = mux.request_pad_simple(&name) else {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Pad,
                    ("Cannot make pad {name}: tracks are video_N or audio_N with N from 1 to 255")
                );
                return None;
            };
            target
        };
        let ghost = gst::GhostPad::builder_from_template_with_target(templ, &target)
            .ok()?
            .name(name.as_str())
            .build();
        ghost.set_active(true).ok()?;
        self.obj().add_pad(&ghost).ok()?;
        Some(ghost.upcast())
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let Some(ghost) = pad.downcast_ref::<gst::GhostPad>() else {
            return;
        };
        if let Some(target) = ghost.target() {
            let mux = self.mux.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(mux) = mux
                && target.parent().as_ref() == Some(mux.upcast_ref::<gst::Object>())
            {
                mux.release_request_pad(&target);
            }
        }
        let _ = ghost.set_active(false);
        let _ = self.obj().remove_pad(pad);
    }
}

impl BinImpl for RtmpSink {
    /// The application sees one error per failure, posted by rtmpsink itself (the element it
    /// knows, not the internal `writer` or `mux`): the first error from a child is posted again
    /// with the bin as its source, and the children's later errors of the same run are dropped
    /// (the writer sees a failed connection again when the EOS that follows arrives, and base
    /// sink adds a generic "failed to start" after the reason that start posted).
    ///
    /// Upstream elements outside the bin still post GStreamer's usual "Internal data stream
    /// error" when our flow error reaches their streaming thread; that one comes after ours.
    fn handle_message(&self, message: gst::Message) {
        let obj = self.obj();
        if let gst::MessageView::Error(err) = message.view()
            && message
                .src()
                .is_some_and(|src| src != obj.upcast_ref::<gst::Object>())
        {
            if self.error_posted.swap(true, Ordering::SeqCst) {
                gst::debug!(
                    CAT,
                    imp = self,
                    "not posting a further error from {}: {}",
                    message.src().map(|s| s.name()).unwrap_or_default(),
                    err.error()
                );
                return;
            }
            let mut builder = gst::message::Error::builder_from_error(err.error())
                .src(&*obj)
                .seqnum(message.seqnum());
            let debug = err.debug();
            if let Some(debug) = debug.as_deref() {
                builder = builder.debug(debug);
            }
            if let Some(details) = err.details() {
                builder = builder.details(details.to_owned());
            }
            self.parent_handle_message(builder.build());
            return;
        }
        self.parent_handle_message(message)
    }
}

impl URIHandlerImpl for RtmpSink {
    const URI_TYPE: gst::URIType = gst::URIType::Sink;

    fn protocols() -> &'static [&'static str] {
        location::uri_protocols()
    }

    fn uri(&self) -> Option<String> {
        Some(self.settings().common.location.to_uri())
    }

    fn set_uri(&self, uri: &str) -> Result<(), glib::Error> {
        self.started
            .check_uri(self.obj().upcast_ref::<gst::Element>())?;
        let pspec = self
            .obj()
            .find_property("location")
            .ok_or_else(|| glib::Error::new(gst::URIError::BadState, "no location property"))?;
        self.settings().common.set_property(&uri.to_value(), &pspec)
    }
}
