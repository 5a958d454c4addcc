//! The streaming thread of `rtmpsrc`: connect, wait for the play to start, then map every
//! received event to pads, events and buffers until the stream ends or the element stops.
//! Buffers and serialized events go through each pad's queue to its own pushing thread
//! ([`super::worker`]); this thread only adds pads and takes the flow returns into account.
//!
//! Two timing policies: a live stream is stamped on the pipeline clock as it arrives and, once
//! it has played, drops what arrives while paused (it resumes at the live edge); a recording
//! keeps its own positions as timestamps, prerolls, seeks and pauses the server
//! ([`super::recorded`] decides what to drop around a seek or resume).
//!
//! Each wait is bounded or cancelled: `wait_ready`/`recv`/`close` return `Flushing` once the
//! element flushes the connection, the pause wait ends on shutdown, and pushes return FLUSHING
//! once the pads are deactivated.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::control::Control;
use super::demux::{Action, Demuxer, EndReason, Frame, LiveClock, PadId, StreamKind};
use super::imp::{CAT, SrcSettings};
use super::probe::Probed;
use super::recorded::Playback;
use super::worker::{self, Item, PadQueue};
use crate::connection::{ConnectOptions, Connection, ConnectionError, Outgoing};
use crate::protocol::session::{MediaKind, SessionEvent};
use crate::shared::reconnect;

/// How often the thread wakes without data: EOS requests, the no-more-pads wait.
const TICK: Duration = Duration::from_millis(100);
/// The polite close (closeStream/deleteStream) after the end may take this long.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// A recording's pad queues hold the playback buffer plus this much.
const RECORDED_QUEUE_MARGIN: gst::ClockTime = gst::ClockTime::from_seconds(1);

/// Where the thread keeps the connection so the element can flush it.
pub trait ConnectionSlot {
    /// Stores the connection; false when the element is already shutting down.
    fn store(&self, connection: Arc<Connection>) -> bool;
    fn release(&self) -> Option<Arc<Connection>>;
}

mod ending;
mod flv_mode;
mod listen;
mod recording;
mod switch;

pub use switch::check_renditions;

type Flow = ControlFlow<()>;

pub struct Streamer {
    element: super::RtmpSrc,
    control: Arc<Control>,
    settings: SrcSettings,
    options: ConnectOptions,
    demux: Demuxer,
    clock: LiveClock,
    started: Instant,
    group_id: gst::GroupId,
    /// The queues of the pad threads, one per media pad.
    queues: Vec<(PadId, Arc<PadQueue>)>,
    /// What the probe found before this thread started, if it ran.
    probed: Option<Probed>,
    /// Events read by the probe, handled before anything newer.
    pending: VecDeque<SessionEvent>,
    recorded: bool,
    playback: Playback,
    /// PLAYING was reached (live: until then the thread waits; recorded: a pause from here
    /// on pauses the server).
    played: bool,
    /// Live: media is being dropped while paused; the next buffers start at the live edge.
    live_paused: bool,
    /// Recorded: the server sends (we have not paused it).
    server_playing: bool,
    /// Recorded: EOS went downstream; a seek can start the stream again.
    ended: bool,
    /// The `src` request pad, when the stream goes out as FLV (then no elementary pads).
    flv_pad: Option<gst::Pad>,
    flv: Option<Arc<PadQueue>>,
    flv_stopped: bool,
    /// Listener mode: the publisher stopped (why); the stream loop decides what follows.
    publisher_stopped: Option<String>,
    /// Switches between renditions (`renditions`) of a live stream.
    switcher: Option<switch::Switcher>,
}

impl Streamer {
    pub fn new(
        element: super::RtmpSrc,
        control: Arc<Control>,
        settings: SrcSettings,
        options: ConnectOptions,
        probed: Option<Probed>,
    ) -> Self {
        let recorded = control.is_recorded();
        let listening = settings.common.mode == crate::location::Mode::Listener;
        let switcher = match recorded || listening {
            true => None,
            false => switch::Switcher::new(&settings, &options),
        };
        let mut demux = Demuxer::new();
        if recorded {
            demux.set_recorded();
        }
        Streamer {
            element,
            control,
            settings,
            options,
            demux,
            clock: LiveClock::default(),
            started: Instant::now(),
            group_id: gst::GroupId::next(),
            queues: Vec::new(),
            probed,
            pending: VecDeque::new(),
            recorded,
            playback: Playback::new(),
            played: false,
            live_paused: false,
            server_playing: true,
            ended: false,
            flv_pad: None,
            flv: None,
            flv_stopped: false,
            publisher_stopped: None,
            switcher,
        }
    }

    /// Sends the stream out as FLV on `pad` instead of elementary pads.
    pub fn with_flv_pad(mut self, pad: Option<gst::Pad>) -> Self {
        self.flv_pad = pad;
        self
    }

    pub fn control(&self) -> Arc<Control> {
        self.control.clone()
    }

    fn imp(&self) -> &super::imp::RtmpSrc {
        self.element.imp()
    }

    pub fn run(mut self) {
        let Some(connection) = self.connect() else {
            self.control.set_streaming(false);
            return;
        };
        let connection = self.stream(connection);
        self.control.set_streaming(false);
        self.flush_queues();
        if !self.control.is_shutdown() {
            // Tell the server we are gone (closeStream, deleteStream); bounded, and cut short
            // by a state change flushing the connection.
            let _ = connection.close(CLOSE_TIMEOUT);
        }
        self.imp().remember_stats(connection.stats());
        if let Some(stored) = self.control.release() {
            self.imp().remember_stats(stored.stats());
        }
        gst::debug!(CAT, obj = self.element, "streaming thread done");
    }

    /// Starts the connection (at once, or once PLAYING without async-connect) and waits for
    /// the play to start. `None` when stopped or failed (the error is posted).
    fn connect(&mut self) -> Option<Arc<Connection>> {
        if self.is_listening() {
            return self.accept_publisher();
        }
        let started = match self.probed.take() {
            Some(probed) => {
                self.pending = probed.events.into();
                probed.connection
            }
            None => {
                // A recording prerolls: it needs its data in PAUSED, whatever async-connect says.
                if !self.settings.common.async_connect && !self.recorded {
                    self.control.wait_playing()?;
                }
                Connection::start(self.options.clone()).map(Arc::new)
            }
        };
        let connection = match started {
            Ok(c) => c,
            Err(err) => {
                self.fail_connection(&err);
                return None;
            }
        };
        if !self.control.store(connection.clone()) {
            return None;
        }
        match connection.wait_ready() {
            Ok(()) => {
                gst::info!(CAT, obj = self.element, "play started");
                Some(connection)
            }
            Err(ConnectionError::Flushing) => None,
            Err(err) => {
                self.fail_connection(&err);
                None
            }
        }
    }

    /// Plays until the end; returns the connection in use then (a new one after reconnecting).
    fn stream(&mut self, mut connection: Arc<Connection>) -> Arc<Connection> {
        let idle_timeout = match self.settings.idle_timeout {
            0 => None,
            s => Some(Duration::from_secs(u64::from(s))),
        };
        let mut last_activity = Instant::now();
        if self.start_flv().is_break() {
            return connection;
        }
        loop {
            if !self.recorded && !self.played {
                // A live source pushes nothing before PLAYING.
                if self.control.wait_playing().is_none() {
                    return connection;
                }
                self.played = true;
                last_activity = Instant::now();
            }
            if self.control.is_shutdown() {
                return connection;
            }
            if self.control.take_eos_request() {
                gst::info!(CAT, obj = self.element, "EOS requested by the application");
                self.end_of_stream("the application asked for EOS");
                return connection;
            }
            let playing = self.control.is_playing();
            if !playing || (self.recorded && self.ended) {
                // Time spent paused, or at the end of a recording (waiting for a seek), does
                // not count as idle.
                last_activity = Instant::now();
            }
            if self.recorded {
                if let Some(request) = self.control.take_seek()
                    && self.start_seek(request, &connection).is_break()
                {
                    return connection;
                }
                self.follow_pause(playing, &connection);
            } else {
                self.follow_live_pause(playing);
            }
            let mut timeout = TICK;
            if let Some(idle) = idle_timeout {
                let idle_for = last_activity.elapsed();
                if idle_for >= idle {
                    self.idle(idle);
                    return connection;
                }
                timeout = timeout.min(idle - idle_for);
            }
            // The clock is read once per event (at full speed the readings add up).
            let mut elapsed = None;
            let received = match self.pending.pop_front() {
                Some(event) => Ok(Some(event)),
                None => self.next_event(&connection, timeout),
            };
            if let Some(next) = self.take_swap() {
                // Cut over to the new rendition's connection; the old one closes politely.
                if !self.control.store(next.clone()) {
                    return connection;
                }
                let old = std::mem::replace(&mut connection, next);
                self.retire(old);
            }
            let flow = match received {
                Ok(Some(event)) => {
                    last_activity = Instant::now();
                    let arrival = last_activity - self.started;
                    elapsed = Some(arrival);
                    self.count(&event);
                    let actions = self.handle(event, arrival);
                    match self.flv {
                        Some(_) if self.flv_stopped => Flow::Break(()),
                        Some(_) => match self.apply(actions) {
                            Flow::Continue(()) => self.check_flow(),
                            stop => stop,
                        },
                        None => self.apply(actions),
                    }
                }
                Ok(None) => Flow::Continue(()),
                Err(ConnectionError::Flushing) => return connection,
                Err(err) if self.recorded && self.ended => {
                    // Played to its end: nothing more can come (no seek either).
                    gst::debug!(CAT, obj = self.element, "connection ended after EOS: {err}");
                    return connection;
                }
                Err(err) if self.is_listening() => {
                    let why = format!("the publisher's connection ended: {err}");
                    match self.publisher_gone(&connection, &why, true) {
                        Some(next) => {
                            connection = next;
                            last_activity = Instant::now();
                            continue;
                        }
                        None => return connection,
                    }
                }
                // A reset is a disconnect too (rtmp2 makes no difference either).
                Err(err @ (ConnectionError::Closed | ConnectionError::Io(_))) => {
                    if self.settings.reconnect_attempts == 0 {
                        self.closed_without_eof(&err.to_string());
                        return connection;
                    }
                    if let Some(again) = self.reconnect(&err) {
                        connection = again;
                        last_activity = Instant::now();
                        continue;
                    }
                    if !self.control.is_shutdown() {
                        let uri = self.settings.common.location.to_redacted_uri();
                        let attempts = self.settings.reconnect_attempts;
                        gst::element_error!(
                            self.element,
                            gst::ResourceError::Read,
                            ("Lost the connection to {uri} ({err}) and could not play again in {attempts} attempt(s)")
                        );
                        self.push_eos();
                    }
                    return connection;
                }
                Err(err) => {
                    self.fail_connection(&err);
                    return connection;
                }
            };
            if flow.is_break() {
                let Some(why) = self.publisher_stopped.take() else {
                    return connection;
                };
                match self.publisher_gone(&connection, &why, false) {
                    Some(next) => {
                        connection = next;
                        last_activity = Instant::now();
                        continue;
                    }
                    None => return connection,
                }
            }
            if let Some(deadline) = self.playback.next_deadline() {
                let elapsed = elapsed.unwrap_or_else(|| self.started.elapsed());
                if elapsed >= deadline {
                    self.playback.tick(elapsed);
                }
            }
            if let Some(deadline) = self.demux.next_deadline() {
                let elapsed = elapsed.unwrap_or_else(|| self.started.elapsed());
                if elapsed < deadline {
                    continue;
                }
                let actions = self.demux.tick(elapsed);
                if self.apply(actions).is_break() {
                    return connection;
                }
            }
        }
    }

    /// Maps one event: a recording's policy looks at it first and filters what comes out.
    fn handle(&mut self, event: SessionEvent, now: Duration) -> Vec<Action> {
        if let SessionEvent::StreamLength(seconds) = event {
            self.set_duration((seconds * 1000.0) as u64);
            return Vec::new();
        }
        if self.flv.is_some() {
            return self.handle_flv(event);
        }
        if !self.recorded {
            return self.demux.handle(event, now);
        }
        if let Some(actions) = self.playback.on_event(&event) {
            return actions;
        }
        let data = if let SessionEvent::Data { values, .. } = &event {
            self.playback.read_metadata(values);
            true
        } else {
            false
        };
        let actions = self.demux.handle(event, now);
        if data && let Some(ms) = self.demux.metadata_duration_ms() {
            self.set_duration(ms);
        }
        let has_video = self.demux.has_pad(StreamKind::Video);
        let actions = self.playback.filter(actions, has_video);
        if let Some(ms) = self.playback.take_server_seek(now) {
            self.send_control(Outgoing::Seek(ms));
        }
        actions
    }

    /// Seeks and pauses go to the I/O thread; a connection that has ended reports that on the
    /// next receive.
    fn send_control(&self, item: Outgoing) {
        let Some(connection) = self.control.connection() else {
            return;
        };
        if let Err(err) = connection.send_control(item) {
            gst::debug!(CAT, obj = self.element, "cannot send: {err}");
        }
    }

    /// Plays again after the connection dropped without an end of stream, when reconnecting is
    /// on; posts `rtmp-disconnected` and `rtmp-reconnected` element messages as rtmpsink does.
    fn reconnect(&mut self, err: &ConnectionError) -> Option<Arc<Connection>> {
        let attempts = self.settings.reconnect_attempts;
        if attempts == 0 {
            return None;
        }
        self.post(reconnect::disconnected(&err.to_string()));
        let first = Duration::from_millis(u64::from(self.settings.reconnect_delay));
        for (attempt, delay) in reconnect::attempts(first, attempts) {
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if self.control.is_shutdown() {
                    return None;
                }
                std::thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
            }
            let Ok(connection) = Connection::start(self.options.clone()) else {
                continue;
            };
            let connection = Arc::new(connection);
            if !self.control.store(connection.clone()) {
                return None;
            }
            match connection.wait_ready() {
                Ok(()) => {
                    gst::info!(
                        CAT,
                        obj = self.element,
                        "playing again after {attempt} attempt(s)"
                    );
                    self.demux.restart_timelines();
                    // Place the new connection's media at the time it arrives, after what
                    // came before.
                    self.clock = LiveClock::default();
                    if self.recorded
                        && let Some(ms) = self.playback.start_resume(
                            self.started.elapsed(),
                            self.demux.has_pad(StreamKind::Video),
                        )
                    {
                        // A recording goes on where it was, not from its start.
                        let _ = connection.send_control(Outgoing::Seek(ms));
                    }
                    self.imp().count(|c| c.reconnects += 1);
                    self.post(reconnect::reconnected(attempt).build());
                    return Some(connection);
                }
                Err(ConnectionError::Flushing) => return None,
                Err(err) => gst::debug!(CAT, obj = self.element, "attempt {attempt}: {err}"),
            }
        }
        None
    }

    fn post(&self, structure: gst::Structure) {
        let message = gst::message::Element::builder(structure)
            .src(&self.element)
            .build();
        let _ = self.element.post_message(message);
    }

    fn count(&self, event: &SessionEvent) {
        use crate::flv::TagType;
        let (kind, bytes) = match event {
            SessionEvent::Media {
                kind: MediaKind::Audio,
                payload,
                ..
            } => (TagType::Audio, payload.len()),
            SessionEvent::Media {
                kind: MediaKind::Video,
                payload,
                ..
            } => (TagType::Video, payload.len()),
            SessionEvent::Data { values, .. } => {
                // The session hands out decoded values: count their AMF0 size.
                let mut encoded = bytes::BytesMut::new();
                crate::protocol::amf0::encode_all(values, &mut encoded);
                (TagType::Script, encoded.len())
            }
            _ => return,
        };
        self.imp().count(|c| c.count(kind, bytes as u64));
    }

    fn apply(&mut self, actions: Vec<Action>) -> Flow {
        for action in actions {
            self.apply_one(action)?;
        }
        Flow::Continue(())
    }

    fn apply_one(&mut self, action: Action) -> Flow {
        match action {
            Action::AddPad { pad: id, caps } => {
                gst::info!(CAT, obj = self.element, "{} caps {caps}", id.pad_name());
                let element = self.element.clone();
                let (segment, seqnum) = self.playback.segment();
                let mut segment_event = gst::event::Segment::builder(segment);
                if let Some(seqnum) = seqnum {
                    segment_event = segment_event.seqnum(seqnum);
                }
                let events = [gst::event::Caps::new(&caps), segment_event.build()];
                let pad = element
                    .imp()
                    .add_pad(id, &self.control, self.group_id, &events);
                let Some(pad) = pad else {
                    return Flow::Break(());
                };
                let queue = Arc::new(if self.recorded {
                    let buffer =
                        gst::ClockTime::from_mseconds(u64::from(self.settings.buffer_length));
                    PadQueue::with_max_span(buffer + RECORDED_QUEUE_MARGIN)
                } else {
                    PadQueue::default()
                });
                self.start_pad_thread(pad, &queue)?;
                self.queues.push((id, queue));
            }
            Action::Caps { pad, caps } => {
                gst::info!(
                    CAT,
                    obj = self.element,
                    "{} caps now {caps}",
                    pad.pad_name()
                );
                self.push_event(pad, gst::event::Caps::new(&caps));
            }
            Action::Tags { pad, tags } => {
                self.push_event(pad, gst::event::Tag::new(tags));
            }
            Action::Buffer { pad: kind, frame } => {
                if self.live_paused || (self.recorded && self.ended) {
                    return Flow::Continue(());
                }
                return self.push_frame(kind, frame);
            }
            Action::Segment { segment, seqnum } => {
                gst::debug!(CAT, obj = self.element, "segment {segment:?}");
                let event = gst::event::Segment::builder(&segment)
                    .seqnum(seqnum)
                    .build();
                self.push_event_all(&event);
            }
            Action::NoMorePads => {
                gst::debug!(CAT, obj = self.element, "no more pads");
                self.element.no_more_pads();
            }
            Action::Data {
                name,
                timestamp,
                text,
            } => {
                let structure = gst::Structure::builder("rtmp-data")
                    .field("name", name)
                    .field("timestamp", timestamp)
                    .field("values", text)
                    .build();
                let _ = self.element.post_message(
                    gst::message::Element::builder(structure)
                        .src(&self.element)
                        .build(),
                );
            }
            Action::Warning(text) => {
                gst::element_warning!(self.element, gst::StreamError::CodecNotFound, ("{text}"));
            }
            Action::Eos(reason) => {
                let why = match reason {
                    EndReason::StreamEof => "StreamEOF".to_owned(),
                    EndReason::Status(code) => code,
                };
                if self.recorded {
                    gst::info!(CAT, obj = self.element, "recording ended ({why})");
                    self.end_of_stream(&format!("the recording ended ({why})"));
                    // The connection stays: a seek may play it again.
                    self.ended = true;
                    return Flow::Continue(());
                }
                gst::info!(CAT, obj = self.element, "publisher stopped ({why})");
                if self.is_listening() {
                    // The stream loop ends the stream, or waits for the next publisher.
                    self.publisher_stopped = Some(format!("the publisher stopped ({why})"));
                    return Flow::Break(());
                }
                self.end_of_stream(&format!("the publisher stopped ({why})"));
                return Flow::Break(());
            }
            Action::ServerClosed => {
                self.closed_without_eof("the server closed the session");
                return Flow::Break(());
            }
        }
        Flow::Continue(())
    }

    /// Starts the thread that pushes what `queue` gets on `pad`.
    fn start_pad_thread(&self, pad: gst::Pad, queue: &Arc<PadQueue>) -> Flow {
        let element = self.element.clone();
        let thread = worker::spawn(pad, queue.clone(), move |pad, flow| {
            element.imp().update_flow(pad, flow)
        });
        match thread {
            Ok(thread) => {
                self.control.add_worker(queue.clone(), thread);
                Flow::Continue(())
            }
            Err(err) => {
                gst::element_error!(
                    self.element,
                    gst::CoreError::Thread,
                    ("Cannot start a pad thread: {err}")
                );
                Flow::Break(())
            }
        }
    }

    /// Wakes the pad threads for the frames queued since the last call.
    fn flush_queues(&self) {
        for (_, queue) in &self.queues {
            queue.flush();
        }
        if let Some(queue) = &self.flv {
            queue.flush();
        }
    }

    fn queue(&self, pad: PadId) -> Option<&Arc<PadQueue>> {
        self.queues
            .iter()
            .find(|(id, _)| *id == pad)
            .map(|(_, q)| q)
    }

    fn push_event(&self, pad: PadId, event: gst::Event) {
        if let Some(queue) = self.queue(pad) {
            queue.push(Item::Event(event));
        }
    }

    /// The event on every media pad.
    fn push_event_all(&self, event: &gst::Event) {
        for (_, queue) in &self.queues {
            queue.push(Item::Event(event.clone()));
        }
    }

    fn push_frame(&mut self, kind: PadId, frame: Frame) -> Flow {
        let Some(queue) = self.queue(kind).cloned() else {
            return Flow::Continue(());
        };
        // Received now: this is when the running time is taken for the first buffer.
        let element = self.element.clone();
        let now = || {
            element
                .current_running_time()
                .unwrap_or(gst::ClockTime::ZERO)
        };
        let (dts, pts) = if self.recorded {
            // A recording's timestamps are its positions; the segment places them.
            let at = |ms: i64| gst::ClockTime::from_mseconds(ms.max(0) as u64);
            (at(frame.dts_ms), at(frame.pts_ms))
        } else {
            (
                self.clock.running_time(frame.dts_ms, now),
                self.clock.running_time(frame.pts_ms, now),
            )
        };
        let offset = gst::ClockTime::from_nseconds(u64::from(frame.offset_ns));
        let (dts, pts) = (dts.saturating_add(offset), pts.saturating_add(offset));
        let mut buffer = gst::Buffer::from_slice(frame.data);
        {
            let buffer = buffer.get_mut().expect("a new buffer is writable");
            buffer.set_dts(dts);
            buffer.set_pts(pts);
            if !frame.keyframe {
                buffer.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
            if frame.discont {
                buffer.set_flags(gst::BufferFlags::DISCONT);
            }
        }
        // The pad thread is woken once for all frames that arrived together (see flush_queues).
        if !queue.push_deferred(Item::Buffer(buffer)) {
            return Flow::Break(());
        }
        self.check_flow()
    }

    /// What downstream's flow returns so far mean for the stream.
    fn check_flow(&mut self) -> Flow {
        let combined = self.imp().pads().combined;
        match combined {
            Ok(_) => Flow::Continue(()),
            // A seek's flush: the pads' flows are reset once it is over.
            Err(gst::FlowError::Flushing) if self.recorded => Flow::Continue(()),
            Err(gst::FlowError::Flushing) => Flow::Break(()),
            Err(gst::FlowError::Eos) if self.recorded => {
                if !self.ended {
                    gst::info!(CAT, obj = self.element, "downstream is EOS");
                    self.push_eos();
                    self.ended = true;
                }
                Flow::Continue(())
            }
            Err(gst::FlowError::Eos) => {
                gst::info!(CAT, obj = self.element, "downstream is EOS");
                self.push_eos();
                Flow::Break(())
            }
            Err(err) => {
                gst::element_error!(
                    self.element,
                    gst::StreamError::Failed,
                    ("Internal data stream error."),
                    ["streaming stopped, reason {}", flow_name(err)]
                );
                self.push_eos();
                Flow::Break(())
            }
        }
    }

    fn push_eos(&mut self) {
        let mut eos = gst::event::Eos::builder();
        // After a seek, the EOS belongs to it.
        if let (_, Some(seqnum)) = self.playback.segment() {
            eos = eos.seqnum(seqnum);
        }
        let eos = eos.build();
        self.push_event_all(&eos);
        if let Some(queue) = &self.flv {
            queue.push(Item::Event(eos));
        }
    }
}

/// A flow error as GStreamer names it (`not-linked`), as in its own "streaming stopped" lines.
fn flow_name(err: gst::FlowError) -> &'static str {
    match err {
        gst::FlowError::NotLinked => "not-linked",
        gst::FlowError::Flushing => "flushing",
        gst::FlowError::Eos => "eos",
        gst::FlowError::NotNegotiated => "not-negotiated",
        gst::FlowError::Error => "error",
        gst::FlowError::NotSupported => "not-supported",
        _ => "custom-error",
    }
}
