//! The `rtmpsrc` element: properties, state changes, pads and the URI handler.
//!
//! A plain `gst::Element` with sometimes pads, since the pads appear only once the stream says
//! which codecs it carries (or a `src` request pad carrying FLV). READY->PAUSED decides whether
//! the stream is live or recorded ([`super::probe`]) and starts the streaming thread
//! ([`super::stream`]), which maps what arrives to pads and buffers. A live stream returns
//! NO_PREROLL when going to PAUSED and pushes only in PLAYING; a recording prerolls and seeks
//! ([`queries`]). PAUSED->READY flushes the connection (waking every wait), deactivates the
//! pads, joins the threads and removes the sometimes pads.
//!
//! With `mode=listener`, READY->PAUSED binds the location's address instead
//! ([`crate::connection::Listener`]) and the streaming thread takes its connection from the
//! publisher the listener accepts; the stream is live.

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::thread::JoinHandle;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::control::Control;
use super::demux::PadId;
use super::probe::Probed;
use super::stream::Streamer;
use crate::connection::{ConnectOptions, ListenRole, Listener};
use crate::location::{self, Settings};
use crate::protocol::session::{SessionMode, SessionStats};
use crate::shared::connect::Direction;
use crate::shared::start_gate::StartGate;
use crate::shared::stats::MediaCounters;

mod queries;

pub(crate) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtmpsrc",
        gst::DebugColorFlags::empty(),
        Some("RTMP source"),
    )
});

pub const DEFAULT_IDLE_TIMEOUT: u32 = 0;
pub const DEFAULT_NO_EOF_IS_ERROR: bool = false;
pub const DEFAULT_BUFFER_LENGTH: u32 = 1000;
pub const DEFAULT_LATENCY: u32 = 200;
/// Off by default: a player usually wants to know that the stream went away.
pub const DEFAULT_RECONNECT_ATTEMPTS: u32 = 0;
pub const DEFAULT_RECONNECT_DELAY_MS: u32 = 2000;
pub const DEFAULT_STREAM_TYPE: StreamType = StreamType::Auto;
pub const DEFAULT_KEEP_LISTENING: bool = false;

/// Whether the stream is live or a recording (rtmp2's and FFmpeg's `rtmp_live` choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstRsRtmpSrcStreamType")]
pub enum StreamType {
    /// Decided when starting, from what the server says (StreamIsRecorded).
    #[default]
    #[enum_value(name = "Decide from what the server says when starting", nick = "auto")]
    Auto,
    #[enum_value(name = "Live stream", nick = "live")]
    Live,
    #[enum_value(name = "Recorded stream (seekable)", nick = "recorded")]
    Recorded,
}

/// Everything the element's properties set.
#[derive(Debug, Clone)]
pub struct SrcSettings {
    pub common: Settings,
    /// Seconds without data before the stream ends with EOS; 0 = never.
    pub idle_timeout: u32,
    /// An unexpected disconnect is an error instead of EOS.
    pub no_eof_is_error: bool,
    /// Milliseconds the server is asked to buffer (SetBufferLength).
    pub buffer_length: u32,
    /// Milliseconds reported as the minimum latency.
    pub latency: u32,
    /// Attempts to play again after the connection drops without an end of stream.
    pub reconnect_attempts: u32,
    /// Milliseconds before the first attempt; doubles for each next one (at most 10 s).
    pub reconnect_delay: u32,
    pub stream_type: StreamType,
    /// Listener mode: when the publisher stops, wait for the next one instead of EOS.
    pub keep_listening: bool,
    /// `name:kbps,...` of the stream's renditions (dynamic streaming); empty: off.
    pub renditions: String,
}

impl Default for SrcSettings {
    fn default() -> Self {
        SrcSettings {
            common: Settings::default(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            no_eof_is_error: DEFAULT_NO_EOF_IS_ERROR,
            buffer_length: DEFAULT_BUFFER_LENGTH,
            latency: DEFAULT_LATENCY,
            reconnect_attempts: DEFAULT_RECONNECT_ATTEMPTS,
            reconnect_delay: DEFAULT_RECONNECT_DELAY_MS,
            stream_type: DEFAULT_STREAM_TYPE,
            keep_listening: DEFAULT_KEEP_LISTENING,
            renditions: String::new(),
        }
    }
}

#[derive(Default)]
struct StatsState {
    counters: MediaCounters,
    /// Stats of the last connection, kept after it has gone (as rtmp2 does).
    last: Option<SessionStats>,
    /// The rendition played and the bandwidth estimate (kbit/s), with `renditions`.
    rendition: Option<(String, u32)>,
}

struct Run {
    control: Arc<Control>,
    thread: JoinHandle<()>,
}

/// The source pads and how their flow returns combine.
pub struct Pads {
    /// The media pads (`video`, `audio`, `video_N`, `audio_N`), in the order they came.
    pub media: Vec<(PadId, gst::Pad)>,
    /// The `src` request pad (FLV output), which lives until released.
    pub flv: Option<gst::Pad>,
    combiner: gst_base::UniqueFlowCombiner,
    /// The flow of all pads together, updated by the pad threads.
    pub combined: Result<gst::FlowSuccess, gst::FlowError>,
}

impl Default for Pads {
    fn default() -> Self {
        Pads {
            media: Vec::new(),
            flv: None,
            combiner: gst_base::UniqueFlowCombiner::new(),
            combined: Ok(gst::FlowSuccess::Ok),
        }
    }
}

impl Pads {
    pub fn get(&self, pad: PadId) -> Option<&gst::Pad> {
        self.media.iter().find(|(id, _)| *id == pad).map(|(_, p)| p)
    }

    pub fn all(&self) -> Vec<gst::Pad> {
        self.media
            .iter()
            .map(|(_, p)| p)
            .chain(self.flv.iter())
            .cloned()
            .collect()
    }
}

#[derive(Default)]
pub struct RtmpSrc {
    settings: Mutex<SrcSettings>,
    /// Refuses changes of the properties that apply when starting, once started.
    started: StartGate,
    run: Mutex<Option<Run>>,
    pads: Mutex<Pads>,
    stats: Mutex<StatsState>,
}

impl RtmpSrc {
    fn settings(&self) -> MutexGuard<'_, SrcSettings> {
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn pads(&self) -> MutexGuard<'_, Pads> {
        self.pads.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stats_state(&self) -> MutexGuard<'_, StatsState> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) -> MutexGuard<'_, Option<Run>> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the flow returns (a seek flushed every pad).
    pub fn reset_flows(&self) {
        let mut pads = self.pads();
        pads.combiner.reset();
        pads.combined = Ok(gst::FlowSuccess::Ok);
    }

    fn control(&self) -> Option<Arc<Control>> {
        self.run().as_ref().map(|run| run.control.clone())
    }

    /// Records a pad thread's flow return.
    pub fn update_flow(&self, pad: &gst::Pad, flow: Result<gst::FlowSuccess, gst::FlowError>) {
        let mut pads = self.pads();
        pads.combined = pads.combiner.update_pad_flow(pad, flow);
    }

    pub fn count(&self, update: impl FnOnce(&mut MediaCounters)) {
        update(&mut self.stats_state().counters);
    }

    /// Notes the rendition in force and the bandwidth estimate for `stats`.
    pub fn set_rendition(&self, name: &str, estimate_kbps: u32) {
        self.stats_state().rendition = Some((name.to_owned(), estimate_kbps));
    }

    pub fn remember_stats(&self, stats: SessionStats) {
        self.stats_state().last = Some(stats);
    }

    fn stats(&self) -> gst::Structure {
        let live = self
            .run()
            .as_ref()
            .and_then(|run| run.control.connection())
            .map(|c| c.stats());
        let listener = self.control().and_then(|c| c.listener()).map(|l| l.stats());
        let state = self.stats_state();
        let session = live.or(state.last).unwrap_or_default();
        let mut stats = crate::shared::stats::stats_structure(&session, &state.counters);
        if let Some((name, estimate)) = &state.rendition {
            stats.set("rendition", name.as_str());
            stats.set("bandwidth-estimate", *estimate);
        }
        if let Some(listener) = listener {
            crate::shared::listen::add_listener_stats(&mut stats, &listener);
        }
        stats
    }

    /// Creates, activates and adds the pad `id`, with its first events already stored.
    /// Returns `None` when the element is shutting down.
    pub fn add_pad(
        &self,
        id: PadId,
        control: &Control,
        group_id: gst::GroupId,
        first_events: &[gst::Event],
    ) -> Option<gst::Pad> {
        let mut pads = self.pads();
        // Checked under the pads lock, which stop() takes before removing the pads.
        if control.is_shutdown() {
            return None;
        }
        if let Some(pad) = pads.get(id) {
            return Some(pad.clone());
        }
        if pads.flv.is_some() {
            return None;
        }
        let name = id.pad_name();
        let name = name.as_str();
        let templ = self
            .obj()
            .element_class()
            .pad_template(id.template_name())?;
        let pad = source_pad(&templ, name);
        if let Err(err) = pad.set_active(true) {
            gst::error!(CAT, imp = self, "cannot activate pad {name}: {err}");
            return None;
        }
        // Derived from the URI (without the password) and the pad name.
        let stream_id = pad.create_stream_id(&*self.obj(), Some(name));
        let stream_start = gst::event::StreamStart::builder(&stream_id)
            .group_id(group_id)
            .build();
        for event in std::iter::once(&stream_start).chain(first_events) {
            // Sticky events are stored even while the pad is not linked yet.
            pad.push_event(event.clone());
        }
        pads.combiner.add_pad(&pad);
        pads.media.push((id, pad.clone()));
        drop(pads);
        // Outside the lock: pad-added handlers may query the element.
        if let Err(err) = self.obj().add_pad(&pad) {
            gst::error!(CAT, imp = self, "cannot add pad {name}: {err}");
            return None;
        }
        gst::info!(CAT, imp = self, "added pad {name}");
        Some(pad)
    }

    fn start(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings().clone();
        if !settings.renditions.is_empty() {
            super::stream::check_renditions(&settings).map_err(|text| {
                gst::element_imp_error!(self, gst::ResourceError::Settings, ("{text}"));
                gst::StateChangeError
            })?;
        }
        let mut options = connect_options(&settings).map_err(|msg| {
            self.post_error_message(msg);
            gst::StateChangeError
        })?;
        options.log_id = self.obj().name();
        gst::info!(
            CAT,
            imp = self,
            "playing {}",
            settings.common.location.to_redacted_uri()
        );
        *self.stats_state() = StatsState::default();
        let control = Arc::new(Control::default());
        let listening = settings.common.mode == location::Mode::Listener;
        if listening {
            control.set_listener(self.listen(&settings)?);
        }
        let probed = match settings.stream_type {
            // A received publish is live.
            _ if listening => None,
            StreamType::Live => None,
            StreamType::Recorded => {
                control.set_recorded(true);
                None
            }
            // Without connecting now there is nothing to decide from: live, as before.
            StreamType::Auto if !settings.common.async_connect => None,
            StreamType::Auto => {
                let probed = Probed::run(options.clone());
                control.set_recorded(probed.recorded);
                Some(probed)
            }
        };
        gst::info!(
            CAT,
            imp = self,
            "{} stream",
            if control.is_recorded() {
                "recorded"
            } else {
                "live"
            }
        );
        control.set_streaming(true);
        let flv_pad = self.pads().flv.clone();
        if let Some(pad) = &flv_pad {
            // Before the streaming thread pushes on it (the base class activates pads later).
            let _ = pad.set_active(true);
        }
        let streamer = Streamer::new(
            self.obj().clone(),
            control.clone(),
            settings,
            options,
            probed,
        )
        .with_flv_pad(flv_pad);
        let element = self.obj().clone();
        let thread = std::thread::Builder::new()
            .name("rtmpsrc".into())
            .spawn(move || {
                let control = streamer.control();
                if let Err(panic) = crate::panics::catch(|| {
                    crate::panics::inject(&element.name(), "streaming");
                    streamer.run()
                }) {
                    control.set_streaming(false);
                    gst::element_error!(
                        element,
                        gst::CoreError::Failed,
                        ("Internal error: the streaming thread panicked: {panic}")
                    );
                }
            })
            .map_err(|err| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Thread,
                    ("Cannot start the streaming thread: {err}")
                );
                gst::StateChangeError
            })?;
        *self.run() = Some(Run { control, thread });
        Ok(())
    }

    /// Listener mode: binds now, so that an address in use fails the state change.
    fn listen(&self, settings: &SrcSettings) -> Result<Arc<Listener>, gst::StateChangeError> {
        let element = self.obj();
        let notify = crate::shared::listen::poster(element.upcast_ref());
        let mut options =
            crate::shared::listen::listen_options(&settings.common, ListenRole::Publishers, notify)
                .map_err(|msg| {
                    self.post_error_message(msg);
                    gst::StateChangeError
                })?;
        options.log_id = element.name();
        let listener = Listener::bind(options).map_err(|err| {
            let code = crate::shared::connect::resource_error(&err, Direction::Play);
            let uri = settings.common.location.to_redacted_uri();
            gst::element_imp_error!(self, code, ("Cannot listen for {uri}: {err}"));
            gst::StateChangeError
        })?;
        gst::info!(CAT, imp = self, "listening on {}", listener.local_addr());
        Ok(Arc::new(listener))
    }

    fn stop(&self) {
        let run = self.run().take();
        if let Some(run) = run {
            if let Some(connection) = run.control.shutdown() {
                self.remember_stats(connection.stats());
                // Wakes the thread in recv/wait_ready/close; the last Arc joins the I/O thread.
                connection.set_flushing(true);
            }
            // Pushes in progress or to come return FLUSHING.
            for pad in self.pads().all() {
                let _ = pad.set_active(false);
            }
            if run.thread.join().is_err() {
                gst::error!(CAT, imp = self, "the streaming thread panicked");
            }
            // Registered by the streaming thread, which has ended: the list is complete.
            for thread in run.control.take_workers() {
                if thread.join().is_err() {
                    gst::error!(CAT, imp = self, "a pad thread panicked");
                }
            }
        }
        let mut pads = std::mem::take(&mut *self.pads());
        // The request pad stays until the application releases it.
        let flv = pads.flv.take();
        for pad in pads.all() {
            let _ = pad.set_active(false);
            let _ = self.obj().remove_pad(&pad);
        }
        if let Some(pad) = flv {
            let _ = pad.set_active(false);
            let mut pads = self.pads();
            pads.combiner.add_pad(&pad);
            pads.flv = Some(pad);
        }
    }

    fn set_playing(&self, playing: bool) {
        if let Some(run) = self.run().as_ref() {
            run.control.set_playing(playing);
        }
    }

    fn is_recorded(&self) -> bool {
        self.control().is_some_and(|c| c.is_recorded())
    }
}

/// A source pad that answers queries and takes seeks; its caps come from the stream, so
/// downstream cannot negotiate others.
fn source_pad(templ: &gst::PadTemplate, name: &str) -> gst::Pad {
    let pad = gst::Pad::builder_from_template(templ)
        .name(name)
        .query_function(|pad, parent, query| {
            RtmpSrc::catch_panic_pad_function(parent, || false, |imp| imp.src_query(pad, query))
        })
        .event_function(|pad, parent, event| {
            RtmpSrc::catch_panic_pad_function(parent, || false, |imp| imp.src_event(pad, event))
        })
        .build();
    pad.use_fixed_caps();
    pad
}

/// Connection options from the element's settings.
fn connect_options(settings: &SrcSettings) -> Result<ConnectOptions, gst::ErrorMessage> {
    let start = match settings.stream_type {
        // -2: live if there is a live stream of that name, else a recording (rtmp2, FFmpeg).
        StreamType::Auto => -2.0,
        // -1: live only.
        StreamType::Live => -1.0,
        StreamType::Recorded => 0.0,
    };
    let mode = SessionMode::Play {
        stream: settings.common.location.stream.clone(),
        start,
        buffer_ms: settings.buffer_length,
    };
    let mut options = crate::shared::connect::connect_options(&settings.common, mode)?;
    // As FFmpeg: ask for the length unless only a live stream will do.
    options.session.query_stream_length = settings.stream_type != StreamType::Live;
    Ok(options)
}

#[glib::object_subclass]
impl ObjectSubclass for RtmpSrc {
    const NAME: &'static str = "GstRsRtmpSrc";
    type Type = super::RtmpSrc;
    type ParentType = gst::Element;
    type Interfaces = (gst::URIHandler,);
}

impl ObjectImpl for RtmpSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut props = location::properties();
            props.extend([
                glib::ParamSpecUInt::builder("idle-timeout")
                    .nick("Idle timeout")
                    .blurb("The maximum allowed time in seconds for valid packets not to arrive from the peer (0 = no timeout)")
                    .default_value(DEFAULT_IDLE_TIMEOUT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("no-eof-is-error")
                    .nick("No EOF is error")
                    .blurb("If set, an error is raised if the connection is closed without receiving an EOF RTMP message first. If not set, those are reported using EOS")
                    .default_value(DEFAULT_NO_EOF_IS_ERROR)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("buffer-length")
                    .nick("Buffer length")
                    .blurb("Milliseconds of buffering asked from the server (SetBufferLength)")
                    .default_value(DEFAULT_BUFFER_LENGTH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("latency")
                    .nick("Latency")
                    .blurb("Minimum latency reported to the pipeline, in milliseconds: how late data may arrive and still play")
                    .default_value(DEFAULT_LATENCY)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("reconnect-attempts")
                    .nick("Reconnect attempts")
                    .blurb("How often to try playing again when the connection drops without an end of stream (0: never)")
                    .default_value(DEFAULT_RECONNECT_ATTEMPTS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("reconnect-delay")
                    .nick("Reconnect delay")
                    .blurb("Milliseconds before the first reconnection attempt; doubles for each next one (at most 10 s)")
                    .default_value(DEFAULT_RECONNECT_DELAY_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder::<StreamType>("stream-type")
                    .nick("Stream type")
                    .blurb("Live or recorded: auto decides when going to PAUSED from what the server says (StreamIsRecorded); a recording prerolls, seeks and pauses, a live stream is a live source")
                    .default_value(DEFAULT_STREAM_TYPE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("keep-listening")
                    .nick("Keep listening")
                    .blurb("Listener mode: when the publisher stops, wait for the next one and go on (DISCONT, new segment) instead of EOS")
                    .default_value(DEFAULT_KEEP_LISTENING)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("renditions")
                    .nick("Renditions")
                    .blurb("The same stream at several bitrates, as name:kbps pairs separated by commas, highest first (hd:3500,sd:1000,ld:300); location names the one to start with. rtmpsrc switches between them as the bandwidth allows")
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
        if self.started.refuse(*CAT, self.obj().upcast_ref(), pspec) {
            return;
        }
        let mut settings = self.settings();
        match pspec.name() {
            "idle-timeout" => settings.idle_timeout = value.get().expect("type checked upstream"),
            "no-eof-is-error" => {
                settings.no_eof_is_error = value.get().expect("type checked upstream")
            }
            "buffer-length" => settings.buffer_length = value.get().expect("type checked upstream"),
            "reconnect-attempts" => {
                settings.reconnect_attempts = value.get().expect("type checked upstream")
            }
            "reconnect-delay" => {
                settings.reconnect_delay = value.get().expect("type checked upstream")
            }
            "stream-type" => settings.stream_type = value.get().expect("type checked upstream"),
            "keep-listening" => {
                settings.keep_listening = value.get().expect("type checked upstream")
            }
            "renditions" => {
                let spec: Option<String> = value.get().expect("type checked upstream");
                let spec = spec.unwrap_or_default();
                // Checked again when starting (with the location then set).
                if let Err(why) = super::renditions::parse(&spec).map(|_| ())
                    && !spec.is_empty()
                {
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::Settings,
                        ("Invalid renditions '{spec}': {why}")
                    );
                }
                settings.renditions = spec;
            }
            "latency" => {
                settings.latency = value.get().expect("type checked upstream");
                drop(settings);
                let _ = self
                    .obj()
                    .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
            }
            _ => {
                if let Err(err) = settings.common.set_property(value, pspec) {
                    gst::warning!(CAT, imp = self, "{}", err.message());
                }
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "idle-timeout" => self.settings().idle_timeout.to_value(),
            "no-eof-is-error" => self.settings().no_eof_is_error.to_value(),
            "buffer-length" => self.settings().buffer_length.to_value(),
            "latency" => self.settings().latency.to_value(),
            "reconnect-attempts" => self.settings().reconnect_attempts.to_value(),
            "reconnect-delay" => self.settings().reconnect_delay.to_value(),
            "stream-type" => self.settings().stream_type.to_value(),
            "keep-listening" => self.settings().keep_listening.to_value(),
            "renditions" => {
                let spec = self.settings().renditions.clone();
                (!spec.is_empty()).then_some(spec).to_value()
            }
            "stats" => self.stats().to_value(),
            _ => self.settings().common.property(pspec),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.obj().set_element_flags(gst::ElementFlags::SOURCE);
    }
}

impl GstObjectImpl for RtmpSrc {}

impl ElementImpl for RtmpSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTMP source",
                "Source/Network",
                "Plays a live or recorded RTMP stream as elementary streams (H.264, H.265, AV1, VP9, AAC, MP3, Opus, FLAC, AC-3, E-AC-3)",
                "gst-plugin-rtmp developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let mut video = gst::Caps::builder("video/x-h264")
                .field("stream-format", "avc")
                .field("alignment", "au")
                .build();
            // Enhanced RTMP.
            for caps in [
                gst::Caps::builder("video/x-h265")
                    .field("stream-format", "hvc1")
                    .field("alignment", "au")
                    .build(),
                gst::Caps::builder("video/x-av1")
                    .field("stream-format", "obu-stream")
                    .field("alignment", "tu")
                    .build(),
                gst::Caps::builder("video/x-vp9").build(),
            ] {
                video.merge(caps);
            }
            let mut audio = gst::Caps::builder("audio/mpeg")
                .field("mpegversion", 4i32)
                .field("stream-format", "raw")
                .field("framed", true)
                .build();
            audio.merge(
                gst::Caps::builder("audio/mpeg")
                    .field("mpegversion", 1i32)
                    .field("layer", 3i32)
                    .field("parsed", true)
                    .build(),
            );
            for name in [
                "audio/x-opus",
                "audio/x-flac",
                "audio/x-ac3",
                "audio/x-eac3",
            ] {
                audio.merge(gst::Caps::builder(name).build());
            }
            let flv = gst::Caps::builder("video/x-flv").build();
            [
                ("video", gst::PadPresence::Sometimes, video.clone()),
                ("audio", gst::PadPresence::Sometimes, audio.clone()),
                // Enhanced RTMP multitrack: track N of each kind.
                ("video_%u", gst::PadPresence::Sometimes, video),
                ("audio_%u", gst::PadPresence::Sometimes, audio),
                // rtmpsrc ! flvdemux, as with the librtmp element.
                ("src", gst::PadPresence::Request, flv),
            ]
            .into_iter()
            .map(|(name, presence, caps)| {
                gst::PadTemplate::new(name, gst::PadDirection::Src, presence, &caps)
                    .expect("static pad template")
            })
            .collect()
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::debug!(CAT, imp = self, "{transition:?}");
        match transition {
            gst::StateChange::ReadyToPaused => {
                self.started.set_started(true);
                if let Err(err) = self.start() {
                    self.started.set_started(false);
                    return Err(err);
                }
            }
            gst::StateChange::PausedToPlaying => self.set_playing(true),
            gst::StateChange::PlayingToPaused => self.set_playing(false),
            gst::StateChange::PausedToReady => {
                self.stop();
                self.started.set_started(false);
            }
            _ => {}
        }
        let success = self.parent_change_state(transition)?;
        Ok(match transition {
            // Live: nothing to preroll. A recording prerolls like a file.
            gst::StateChange::ReadyToPaused | gst::StateChange::PlayingToPaused
                if !self.is_recorded() =>
            {
                gst::StateChangeSuccess::NoPreroll
            }
            _ => success,
        })
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        if templ.name_template() != "src" {
            return None;
        }
        let mut pads = self.pads();
        if pads.flv.is_some() || !pads.media.is_empty() {
            gst::warning!(
                CAT,
                imp = self,
                "the src pad (FLV) cannot be requested twice or beside the video/audio pads"
            );
            return None;
        }
        if self.run().is_some() {
            gst::warning!(
                CAT,
                imp = self,
                "the src pad (FLV) must be requested before starting"
            );
            return None;
        }
        let pad = source_pad(templ, "src");
        pads.combiner.add_pad(&pad);
        pads.flv = Some(pad.clone());
        drop(pads);
        self.obj().add_pad(&pad).ok()?;
        Some(pad)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let mut pads = self.pads();
        if pads.flv.as_ref() == Some(pad) {
            pads.flv = None;
            pads.combiner.remove_pad(pad);
            drop(pads);
            let _ = pad.set_active(false);
            let _ = self.obj().remove_pad(pad);
        }
    }

    fn send_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Eos(_) => {
                // As a live GstBaseSrc: the streaming thread ends the stream downstream.
                match self.run().as_ref() {
                    Some(run) => {
                        run.control.request_eos();
                        true
                    }
                    None => false,
                }
            }
            _ => self.parent_send_event(event),
        }
    }
}

impl URIHandlerImpl for RtmpSrc {
    const URI_TYPE: gst::URIType = gst::URIType::Src;

    fn protocols() -> &'static [&'static str] {
        location::uri_protocols()
    }

    fn uri(&self) -> Option<String> {
        Some(self.settings().common.location.to_uri())
    }

    fn set_uri(&self, uri: &str) -> Result<(), glib::Error> {
        self.started.check_uri(self.obj().upcast_ref())?;
        let pspec = self
            .obj()
            .find_property("location")
            .ok_or_else(|| glib::Error::new(gst::URIError::BadState, "no location property"))?;
        self.settings().common.set_property(&uri.to_value(), &pspec)
    }
}
