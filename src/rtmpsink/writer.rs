//! The sink inside `rtmpsink` that owns the connection: it takes an FLV tag stream (from our own
//! muxer, or from flvmux through the `sink` pad), turns each tag into an RTMP message and hands it
//! to the [`Connection`]. Being a GstBaseSink gives `sync` (pacing by the clock) and preroll for free.

use crate::shared::reconnect;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::adapter::{Adapter, AdaptiveSettings, AdaptiveStats};
use super::codec_check::{CodecCheck, Verdict};
use super::encoder::Encoder;
use super::link::{Interrupt, Link, LinkEvent, ReconnectPolicy, Tag};
use super::pace::Pacer;
use super::serve::Server;
use crate::connection::{ConnectOptions, ConnectionError, Outgoing};
use crate::flv::FlvTagReader;
use crate::location::{Mode, Settings};
use crate::protocol::redact::redact_query;
use crate::protocol::session::{SessionMode, SessionStats, StopCommands};
use crate::shared::connect::{self, Direction};
pub use crate::shared::stats::MediaCounters;

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("rtmpsink", gst::DebugColorFlags::empty(), Some("RTMP sink"))
});

/// Settings of the `rtmpsink` bin that the writer needs, shared with it.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    pub common: Settings,
    pub chunk_size: u32,
    pub stop_commands: StopCommands,
    pub max_queue_bytes: usize,
    pub publish_type: super::PublishType,
    pub reconnect: ReconnectPolicy,
    /// Listener mode: players served at once.
    pub max_clients: u32,
    /// `adaptive-bitrate`, `min-bitrate`, `max-bitrate`, `max-delay`.
    pub adaptive: AdaptiveSettings,
    /// H.264/AAC/MP3 in the legacy or the extended header.
    pub enhanced_rtmp: super::EnhancedRtmp,
    /// Enhanced RTMP codecs the server did not advertise: warn, fail or say nothing.
    pub codec_check: super::EnhancedCodecCheck,
}

#[derive(Default)]
struct State {
    tags: FlvTagReader,
    counters: MediaCounters,
    /// Last stats of a connection that has gone, so the values survive a disconnect (as rtmp2's do).
    last_stats: Option<SessionStats>,
    pacer: Pacer,
    /// Adaptive bitrate or `max-delay` (publishing only).
    adapter: Option<Adapter>,
    /// The video encoder upstream, once looked for (adaptive bitrate only).
    encoder: Option<Option<Encoder>>,
    codec_check: CodecCheck,
}

#[derive(Default)]
pub struct RtmpWriter {
    settings: Mutex<Option<Arc<Mutex<SinkSettings>>>>,
    state: Mutex<State>,
    /// Used by the streaming thread (and start/stop) only, so it may be held across waits.
    link: Mutex<Option<Link>>,
    /// Listener mode (instead of `link`): the players served, from start to stop.
    server: Mutex<Option<Arc<Server>>>,
    /// Reaches into those waits from unlock() and the stats property.
    interrupt: Mutex<Arc<Interrupt>>,
    /// `peak-kbps`, read for each message so that changes apply while playing (0: no limit).
    peak_kbps: AtomicU32,
    /// The application's `ts-offset` (rtmpsink's property) and the pipeline latency in ns:
    /// base sink's own ts-offset is their difference (see `send_event`).
    user_ts_offset: AtomicI64,
    latency: AtomicI64,
}

impl RtmpWriter {
    /// Connects the writer to the bin's settings; called once when the bin builds it.
    pub fn set_settings(&self, settings: Arc<Mutex<SinkSettings>>) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = Some(settings);
    }

    fn settings(&self) -> SinkSettings {
        let shared = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match shared {
            Some(s) => s.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            None => super::default_settings(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn link(&self) -> MutexGuard<'_, Option<Link>> {
        self.link.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn interrupt(&self) -> Arc<Interrupt> {
        self.interrupt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn server(&self) -> Option<Arc<Server>> {
        self.server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Listener mode: adds the players' figures to `stats` (see `Server::add_stats`).
    pub fn add_listener_stats(&self, stats: &mut gst::StructureRef) {
        if let Some(server) = self.server() {
            server.add_stats(stats);
        }
    }

    pub fn counters(&self) -> MediaCounters {
        self.state().counters
    }

    pub fn session_stats(&self) -> Option<SessionStats> {
        if let Some(server) = self.server() {
            return Some(server.session_stats());
        }
        match self.interrupt().current() {
            Some(connection) => Some(connection.stats()),
            None => self.state().last_stats,
        }
    }

    /// Creates the link and starts connecting, unless that happened already.
    fn ensure_link(&self) -> Result<(), gst::ErrorMessage> {
        let mut link = self.link();
        if link.is_none() {
            let settings = self.settings();
            let mut options = connect_options(&settings)?;
            // The rtmpsink bin's name, the one users know.
            let obj = self.obj();
            options.log_id = obj
                .parent()
                .map_or_else(|| obj.name(), |parent| parent.name());
            gst::info!(
                CAT,
                imp = self,
                "publishing to {}",
                settings.common.location.to_redacted_uri()
            );
            let weak = self.obj().downgrade();
            let notify = Box::new(move |event: LinkEvent| {
                if let Some(writer) = weak.upgrade() {
                    writer.imp().announce(event);
                }
            });
            *link = Some(Link::new(
                options,
                settings.reconnect,
                self.interrupt(),
                notify,
            ));
        }
        if let Some(link) = link.as_mut() {
            link.start().map_err(|e| error_message(&e))?;
        }
        Ok(())
    }

    /// Tells the application about a lost or regained connection with an element message from
    /// the rtmpsink bin.
    fn announce(&self, event: LinkEvent) {
        let structure = match &event {
            LinkEvent::Moved { tc_url } => {
                let to = tc_url.as_deref().map(redact_query);
                gst::info!(CAT, imp = self, "moved to {to:?} as the server asked");
                reconnect::reconnected(1)
                    .field("dropped-bytes", 0u64)
                    .field("requested-by-server", true)
                    .build()
            }
            LinkEvent::Disconnected { reason } => {
                gst::warning!(CAT, imp = self, "connection lost ({reason}), reconnecting");
                reconnect::disconnected(reason)
            }
            LinkEvent::Reconnected {
                attempt,
                dropped_bytes,
            } => {
                gst::info!(CAT, imp = self, "reconnected after {attempt} attempt(s)");
                self.state().counters.reconnects += 1;
                reconnect::reconnected(*attempt)
                    .field("dropped-bytes", dropped_bytes)
                    .build()
            }
        };
        // From the rtmpsink bin the application knows, not from this internal element.
        self.post_from_bin(structure);
    }

    fn flow_error(&self, err: ConnectionError) -> gst::FlowError {
        if err == ConnectionError::Flushing {
            return gst::FlowError::Flushing;
        }
        self.post_error_message(error_message(&err));
        gst::FlowError::Error
    }

    fn send_tag(&self, tag: Tag) -> Result<(), ConnectionError> {
        let (tag_type, len, timestamp) = (tag.tag_type, tag.body.len() as u64, tag.timestamp);
        if self.adapt(&tag) {
            return Ok(());
        }
        let kbps = self.peak_kbps.load(Ordering::Relaxed);
        let delay = self
            .state()
            .pacer
            .delay(Instant::now(), tag.body.len(), kbps);
        if !delay.is_zero() {
            // unlock() cuts the wait short (flushing, stopping, or PLAYING->PAUSED, after which
            // this tag still goes out): the send below then decides as for any other tag.
            let _ = self.interrupt().pause(delay);
        }
        if let Some(server) = self.server() {
            server.send(tag);
        } else {
            match self.link().as_mut() {
                Some(link) => link.send(tag)?,
                None => return Err(ConnectionError::Closed),
            }
        }
        let mut state = self.state();
        state.counters.count(tag_type, len);
        if let Some(adapter) = state.adapter.as_mut() {
            adapter.handed(tag_type, timestamp, Instant::now());
        }
        Ok(())
    }

    /// Adaptation before a tag goes out: samples the connection, applies a bitrate change;
    /// true when the tag is to be dropped (part of a dropped group of pictures).
    fn adapt(&self, tag: &Tag) -> bool {
        let now = Instant::now();
        let Some(due) = self.state().adapter.as_ref().map(|a| a.sample_due(now)) else {
            return false;
        };
        // The connection's lock is shared with its I/O thread: taken only when sampling.
        let connection = due.then(|| self.interrupt().current()).flatten();
        let figures = connection.as_ref().map(|c| c.figures());
        self.find_encoder();
        let mut state = self.state();
        let counters = state.counters;
        let Some(adapter) = state.adapter.as_mut() else {
            return false;
        };
        if let Some(connection) = &connection {
            adapter.connection_changed(Arc::as_ptr(connection) as usize);
        }
        let verdict = adapter.on_tag(
            tag,
            now,
            figures,
            counters.video_bytes,
            counters.audio_bytes,
        );
        let stats = adapter.stats();
        let encoder = state.encoder.clone().flatten();
        drop(state);
        if let Some(change) = verdict.change {
            // The encoder applies it from its next frame; what is queued drains meanwhile.
            let applied = encoder
                .as_ref()
                .is_some_and(|e| e.set_bitrate_kbps(change.new_kbps));
            gst::info!(
                CAT,
                imp = self,
                "video bitrate {} -> {} kbit/s ({}; estimate {} kbit/s, delay {:?}){}",
                change.old_kbps,
                change.new_kbps,
                change.reason.as_str(),
                stats.estimate_kbps,
                stats.delay,
                if applied {
                    ""
                } else {
                    ", for the application to apply"
                }
            );
            let structure = gst::Structure::builder("rtmp-bitrate-changed")
                .field("old", change.old_kbps)
                .field("new", change.new_kbps)
                .field("reason", change.reason.as_str())
                .field("bandwidth-estimate", stats.estimate_kbps)
                .field("queued-ms", stats.delay.as_millis() as u64)
                .field("encoder", encoder.as_ref().map(Encoder::name))
                .field("applied", applied)
                .build();
            self.post_from_bin(structure);
        }
        verdict.drop
    }

    /// Looks for the video encoder upstream once (adaptive bitrate only), at the first tag,
    /// when the pipeline is linked.
    fn find_encoder(&self) {
        let enabled = {
            let state = self.state();
            state.encoder.is_none() && state.adapter.as_ref().is_some_and(|a| a.settings().enabled)
        };
        if !enabled {
            return;
        }
        let bin = self
            .obj()
            .parent()
            .and_then(|p| p.downcast::<gst::Element>().ok());
        let pad = bin.and_then(|bin| bin.static_pad("video").or_else(|| bin.static_pad("sink")));
        let encoder = pad.as_ref().and_then(Encoder::find);
        let start = encoder.as_ref().and_then(Encoder::bitrate_kbps);
        match &encoder {
            Some(e) => gst::info!(
                CAT,
                imp = self,
                "adapting the bitrate of {} (now {start:?} kbit/s)",
                e.name()
            ),
            None => gst::warning!(
                CAT,
                imp = self,
                "no known video encoder upstream: rtmp-bitrate-changed messages carry the \
                 bitrate for the application to apply"
            ),
        }
        let mut state = self.state();
        if let Some(adapter) = state.adapter.as_mut() {
            adapter.set_start_kbps(start);
        }
        state.encoder = Some(encoder);
    }

    /// Adaptation figures for `stats` (zero when off).
    pub fn adaptive_stats(&self) -> AdaptiveStats {
        self.state()
            .adapter
            .as_ref()
            .map(Adapter::stats)
            .unwrap_or_default()
    }

    /// Posts an element message from the rtmpsink bin, the element the application knows.
    fn post_from_bin(&self, structure: gst::Structure) {
        let obj = self.obj();
        let source: gst::Element = obj
            .parent()
            .and_then(|p| p.downcast::<gst::Element>().ok())
            .unwrap_or_else(|| obj.clone().upcast());
        let message = gst::message::Element::builder(structure)
            .src(&source)
            .build();
        let _ = source.post_message(message);
    }

    /// Judges the Enhanced RTMP codecs seen so far against the server's connect answer, once
    /// it has come: a warning from the bin, or an error that stops the stream.
    fn check_codecs(&self) -> Result<(), gst::FlowError> {
        if !self.state().codec_check.has_pending() {
            return Ok(());
        }
        let answer = self.interrupt().current().and_then(|c| c.server_codecs());
        let verdicts = self.state().codec_check.judge(answer);
        for verdict in verdicts {
            match verdict {
                Verdict::Warn(text) => {
                    gst::warning!(CAT, imp = self, "{text}");
                    let obj = self.obj();
                    let source: gst::Element = obj
                        .parent()
                        .and_then(|p| p.downcast::<gst::Element>().ok())
                        .unwrap_or_else(|| obj.clone().upcast());
                    let error = glib::Error::new(gst::StreamError::Format, &text);
                    let message = gst::message::Warning::builder_from_error(error)
                        .src(&source)
                        .build();
                    let _ = source.post_message(message);
                }
                Verdict::Refuse(text) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("{text}"),
                        ["enhanced-codec-check=error; warn or off sends it anyway"]
                    );
                    return Err(gst::FlowError::Error);
                }
            }
        }
        Ok(())
    }

    /// Sets `peak-kbps`; it applies from the next message on.
    pub fn set_peak_kbps(&self, kbps: u32) {
        self.peak_kbps.store(kbps, Ordering::Relaxed);
    }

    pub fn peak_kbps(&self) -> u32 {
        self.peak_kbps.load(Ordering::Relaxed)
    }

    /// Sets the application's `ts-offset` (ns), added to the one the writer keeps for latency.
    pub fn set_user_ts_offset(&self, offset: i64) {
        self.user_ts_offset.store(offset, Ordering::Relaxed);
        self.apply_ts_offset();
    }

    pub fn user_ts_offset(&self) -> i64 {
        self.user_ts_offset.load(Ordering::Relaxed)
    }

    /// Base sink's ts-offset: the application's, minus the pipeline latency (see `send_event`).
    fn apply_ts_offset(&self) {
        let user = self.user_ts_offset.load(Ordering::Relaxed);
        let latency = self.latency.load(Ordering::Relaxed);
        self.obj().set_ts_offset(user.saturating_sub(latency));
    }

    /// Applies a changed `chunk-size` while streaming.
    pub fn set_chunk_size(&self, size: u32) {
        if let Some(server) = self.server() {
            server.set_chunk_size(size);
        }
        // Queued in order with media, so it applies between two messages.
        if let Some(connection) = self.interrupt().current() {
            let _ = connection.send(Outgoing::ChunkSize(size));
        }
    }
}

/// TCP_NOTSENT_LOWAT with adaptation: about 85 ms at 1.5 Mbit/s.
const SEND_LOW_WATERMARK: u32 = 16 * 1024;

/// What may wait in flight, beyond our reach: a third of `max-delay` (the rest is for our
/// queue, where whole GOPs can go), at most [`MAX_IN_FLIGHT`].
fn in_flight_budget(max_delay: Duration) -> Duration {
    match max_delay {
        Duration::ZERO => MAX_IN_FLIGHT,
        max_delay => (max_delay / 3).clamp(MIN_IN_FLIGHT, MAX_IN_FLIGHT),
    }
}
const MIN_IN_FLIGHT: Duration = Duration::from_millis(100);
const MAX_IN_FLIGHT: Duration = Duration::from_millis(500);

/// Memories smaller than this are copied rather than held (see push_memories).
const COPY_BELOW: usize = 2048;

/// Pushes the bytes of `buffer` into `tags`, one piece per memory, each mapped and shared with
/// the buffer rather than copied: tag bodies taken from them keep the memories alive until
/// they are on the wire, and reach the socket's `writev` as they are.
///
/// Our muxer's (and flvmux's) tags come in several memories: tag header with the codec header
/// bytes, the encoder's frame, the trailer. Mapping the whole buffer would merge them into a
/// temporary copy (kept alive beside the originals); mapping each memory copies no frame
/// larger than [`COPY_BELOW`].
pub(super) fn push_memories(
    tags: &mut FlvTagReader,
    buffer: &gst::Buffer,
) -> Result<(), glib::BoolError> {
    for memory in buffer.iter_memories_owned() {
        let mapped = memory
            .into_mapped_memory_readable()
            .map_err(|_| glib::bool_error!("cannot map memory readable"))?;
        // Small pieces (tag headers, audio frames) are copied: that costs less than keeping the
        // memory, and a small frame cut from a larger block (as demuxers output them) would
        // hold the whole block while queued, beyond what max-queue-bytes counts.
        if mapped.len() < COPY_BELOW {
            tags.push(Bytes::copy_from_slice(mapped.as_slice()));
        } else {
            tags.push(Bytes::from_owner(mapped));
        }
    }
    Ok(())
}

/// Builds the connection options from the bin's settings.
fn connect_options(settings: &SinkSettings) -> Result<ConnectOptions, gst::ErrorMessage> {
    let mode = SessionMode::Publish {
        stream: settings.common.location.stream.clone(),
        publish_type: settings.publish_type.as_str().into(),
    };
    let mut options = connect::connect_options(&settings.common, mode)?;
    // Reconnecting resends the sequence headers itself; the chunk size is per connection.
    options.session.chunk_size = settings.chunk_size;
    options.stop_commands = settings.stop_commands;
    options.max_outgoing_bytes = settings.max_queue_bytes;
    if settings.adaptive.active() {
        // Congestion then shows in our queue, where adaptation sees it, not in a socket
        // buffer of several MB.
        options.send_low_watermark = Some(SEND_LOW_WATERMARK);
        options.in_flight_budget = Some(in_flight_budget(settings.adaptive.max_delay));
    }
    Ok(options)
}

/// The GStreamer error for a publishing connection's failure.
pub fn error_message(err: &ConnectionError) -> gst::ErrorMessage {
    connect::error_message(err, Direction::Publish)
}

#[glib::object_subclass]
impl ObjectSubclass for RtmpWriter {
    const NAME: &'static str = "GstRsRtmpWriter";
    type Type = super::RtmpWriterElement;
    type ParentType = gst_base::BaseSink;
}

impl ObjectImpl for RtmpWriter {
    fn constructed(&self) {
        self.parent_constructed();
        // Handing a tag to the connection takes microseconds: the default 20 ms processing
        // deadline would only add to the latency of live streams.
        self.obj().set_processing_deadline(gst::ClockTime::ZERO);
    }
}
impl GstObjectImpl for RtmpWriter {}

impl ElementImpl for RtmpWriter {
    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-flv").build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("static pad template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn send_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Latency(latency) = event.view() {
            // A syncing sink renders each buffer at its running time plus the pipeline latency,
            // which keeps the sinks of a pipeline together. Sending is not presenting: wait only
            // until the running time itself. That still paces files and bursts, and live input
            // (which arrives after its running time) goes out as soon as it is muxed.
            // An application's ts-offset on rtmpsink shifts that further, as on any sink.
            let latency = latency.latency().nseconds();
            self.latency.store(
                i64::try_from(latency).unwrap_or(i64::MAX),
                Ordering::Relaxed,
            );
            self.apply_ts_offset();
        }
        self.parent_send_event(event)
    }
}

impl BaseSinkImpl for RtmpWriter {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        {
            let mut state = self.state();
            state.tags = FlvTagReader::new();
            state.counters = MediaCounters::default();
            state.last_stats = None;
            state.pacer = Pacer::default();
            let adaptive = self.settings().adaptive;
            let publishing = self.settings().common.mode != Mode::Listener;
            state.adapter = (publishing && adaptive.active()).then(|| Adapter::new(adaptive));
            state.encoder = None;
        }
        *self.interrupt.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(Interrupt::default());
        let settings = self.settings();
        self.state().codec_check = CodecCheck::new(settings.codec_check);
        if settings.common.mode == Mode::Listener {
            // Bound now, so that an address in use fails the state change. Players are served
            // by the bin, the element users know.
            let obj = self.obj();
            let element = obj
                .parent()
                .and_then(|p| p.downcast::<gst::Element>().ok())
                .unwrap_or_else(|| obj.clone().upcast());
            let server = super::serve::start_server(&settings, &element)?;
            *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(server));
            return Ok(());
        }
        if settings.common.async_connect {
            self.ensure_link()?;
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(connection) = self.interrupt().current() {
            self.state().last_stats = Some(connection.stats());
        }
        if let Some(server) = self.server() {
            self.state().last_stats = Some(server.session_stats());
        }
        // Dropping the link stops a reconnection in progress and the connection's I/O thread;
        // dropping the server closes the listening socket and every player.
        let link = self.link().take();
        drop(link);
        let server = self.server.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(server);
        Ok(())
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.interrupt().set_flushing(true);
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.interrupt().set_flushing(false);
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.server().is_none() {
            self.ensure_link().map_err(|msg| {
                self.post_error_message(msg);
                gst::FlowError::Error
            })?;
        }
        // flvmux starts again with a file header when caps change mid-stream.
        if buffer.flags().contains(gst::BufferFlags::HEADER) {
            let mut signature = [0u8; 3];
            if buffer.copy_to_slice(0, &mut signature).is_ok() && &signature == b"FLV" {
                self.state().tags = FlvTagReader::new();
            }
        }
        push_memories(&mut self.state().tags, buffer).map_err(|err| {
            gst::error!(CAT, imp = self, "{err}");
            gst::FlowError::Error
        })?;
        loop {
            let tag = self.state().tags.next_tag_parts();
            let tag = match tag {
                Ok(Some(tag)) => tag,
                Ok(None) => break,
                Err(err) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Demux,
                        ("Invalid FLV input: {err}")
                    );
                    return Err(gst::FlowError::Error);
                }
            };
            let tag = Tag {
                tag_type: tag.tag_type,
                timestamp: tag.timestamp,
                body: tag.body,
            };
            if self.server().is_none() {
                self.state().codec_check.note(&tag);
                self.check_codecs()?;
            }
            self.send_tag(tag).map_err(|e| self.flow_error(e))?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            // EOS is posted only once everything is on the wire and the stream is closed.
            let timeout = Duration::from_secs(u64::from(self.settings().common.timeout.max(1)));
            if let Some(server) = self.server() {
                server.finish(timeout);
            }
            let result = match self.link().as_mut() {
                Some(link) => link.finish(timeout),
                None => Ok(()),
            };
            match result {
                Ok(()) | Err(ConnectionError::Flushing) => {}
                Err(err) => {
                    self.post_error_message(error_message(&err));
                    return false;
                }
            }
            gst::info!(CAT, imp = self, "stream closed after EOS");
        }
        self.parent_event(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::TagType;
    use crate::flv::tag::{TAG_HEADER_LEN, tag_header};

    #[test]
    fn large_memories_become_parts_without_copying_and_small_ones_are_copied() {
        gst::init().expect("gst init");
        let frame: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let frame_buffer = gst::Buffer::from_slice(frame.clone());
        let size = 5 + frame.len() as u32;
        // As the muxer builds a tag: header + FLV video header, the encoder's memory, trailer.
        let mut head = tag_header(TagType::Video, size, 40).to_vec();
        head.extend_from_slice(&[0x27, 0x01, 0, 0, 0]);
        let mut buffer = gst::Buffer::from_mut_slice(head);
        buffer.append(frame_buffer.clone());
        buffer.append(gst::Buffer::from_mut_slice(
            (TAG_HEADER_LEN as u32 + size).to_be_bytes(),
        ));
        assert_eq!(buffer.n_memory(), 3);

        let mut reader = FlvTagReader::new();
        push_memories(&mut reader, &buffer).unwrap();
        let tag = reader.next_tag_parts().unwrap().expect("a whole tag");
        assert_eq!((tag.tag_type, tag.timestamp), (TagType::Video, 40));
        let parts = tag.body.parts();
        assert_eq!(parts.len(), 2);
        {
            let head_map = buffer.peek_memory(0).map_readable().unwrap();
            let frame_map = frame_buffer.peek_memory(0).map_readable().unwrap();
            // The 16-byte head is copied; the frame is the encoder's memory itself.
            assert_ne!(parts[0].as_ptr(), head_map[TAG_HEADER_LEN..].as_ptr());
            assert_eq!(&parts[0][..], &head_map[TAG_HEADER_LEN..]);
            assert_eq!(parts[1].as_ptr(), frame_map.as_ptr());
            assert_eq!(parts[1].len(), frame.len());
        }
        // The parts keep the memories alive once the buffers are gone.
        let body = tag.body.clone();
        drop((tag, buffer, frame_buffer, reader));
        assert_eq!(&body.parts()[1][..], &frame[..]);
    }
}
