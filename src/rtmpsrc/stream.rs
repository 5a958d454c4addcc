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
use super::demux::{Action, Demuxer, EndReason, Frame, LiveClock, StreamKind};
use super::imp::{CAT, SrcSettings};
use super::probe::Probed;
use super::recorded::Playback;
use super::worker::{self, Item, PadQueue};
use crate::connection::{ConnectOptions, Connection, ConnectionError, Outgoing};
use crate::protocol::session::{MediaKind, SessionError, SessionEvent};
use crate::shared::connect::{self, Direction};
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

mod flv_mode;
mod recording;

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
    /// The queues of the pad threads.
    video: Option<Arc<PadQueue>>,
    audio: Option<Arc<PadQueue>>,
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
            video: None,
            audio: None,
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
                None => connection.recv_or(Some(timeout), || self.flush_queues()),
            };
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
                return connection;
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
            Action::AddPad { kind, caps } => {
                gst::info!(CAT, obj = self.element, "{} caps {caps}", kind.pad_name());
                let element = self.element.clone();
                let (segment, seqnum) = self.playback.segment();
                let mut segment_event = gst::event::Segment::builder(segment);
                if let Some(seqnum) = seqnum {
                    segment_event = segment_event.seqnum(seqnum);
                }
                let events = [gst::event::Caps::new(&caps), segment_event.build()];
                let pad = element
                    .imp()
                    .add_pad(kind, &self.control, self.group_id, &events);
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
                match kind {
                    StreamKind::Video => self.video = Some(queue),
                    StreamKind::Audio => self.audio = Some(queue),
                }
            }
            Action::Caps { kind, caps } => {
                gst::info!(
                    CAT,
                    obj = self.element,
                    "{} caps now {caps}",
                    kind.pad_name()
                );
                self.push_event(kind, gst::event::Caps::new(&caps));
            }
            Action::Tags { kind, tags } => {
                self.push_event(kind, gst::event::Tag::new(tags));
            }
            Action::Buffer { kind, frame } => {
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
                for kind in [StreamKind::Video, StreamKind::Audio] {
                    self.push_event(kind, event.clone());
                }
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
        for queue in [&self.video, &self.audio, &self.flv].into_iter().flatten() {
            queue.flush();
        }
    }

    fn queue(&self, kind: StreamKind) -> Option<&Arc<PadQueue>> {
        match kind {
            StreamKind::Video => self.video.as_ref(),
            StreamKind::Audio => self.audio.as_ref(),
        }
    }

    fn push_event(&self, kind: StreamKind, event: gst::Event) {
        if let Some(queue) = self.queue(kind) {
            queue.push(Item::Event(event));
        }
    }

    fn push_frame(&mut self, kind: StreamKind, frame: Frame) -> Flow {
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
        for kind in [StreamKind::Video, StreamKind::Audio] {
            self.push_event(kind, eos.clone());
        }
        if let Some(queue) = &self.flv {
            queue.push(Item::Event(eos));
        }
    }

    /// EOS downstream, or an error when no pad exists to carry it.
    fn end_of_stream(&mut self, why: &str) {
        if self.imp().pads().all().is_empty() {
            let stream = self.settings.common.location.redacted_stream().into_owned();
            gst::element_error!(
                self.element,
                gst::StreamError::Failed,
                ("Stream '{stream}' ended before any audio or video arrived"),
                ["{why}"]
            );
            return;
        }
        if !self.demux.no_more_pads_sent() {
            self.element.no_more_pads();
        }
        self.push_eos();
    }

    /// The connection ended without the server saying the stream did: an error with
    /// `no-eof-is-error`, else a warning (so an application can tell it from a clean end)
    /// and EOS.
    fn closed_without_eof(&mut self, why: &str) {
        let uri = self.settings.common.location.to_redacted_uri();
        if self.settings.no_eof_is_error {
            gst::element_error!(
                self.element,
                gst::ResourceError::Read,
                ("Connection to {uri} ended without end of stream: {why}")
            );
            self.push_eos();
        } else {
            gst::element_warning!(
                self.element,
                gst::ResourceError::Read,
                ("Connection to {uri} ended without end of stream: {why}"),
                ["ending the stream with EOS; reconnect-attempts plays on instead"]
            );
            self.end_of_stream(why);
        }
    }

    fn idle(&mut self, idle: Duration) {
        let stream = self.settings.common.location.redacted_stream().into_owned();
        if self.imp().pads().all().is_empty() {
            gst::element_error!(
                self.element,
                gst::ResourceError::NotFound,
                (
                    "No audio or video arrived from stream '{stream}' within {} s: is it being published?",
                    idle.as_secs()
                )
            );
        } else {
            gst::info!(CAT, obj = self.element, "no data for {idle:?}: EOS");
            self.end_of_stream("idle timeout");
        }
    }

    fn fail_connection(&mut self, err: &ConnectionError) {
        let location = &self.settings.common.location;
        let uri = location.to_redacted_uri();
        let code = connect::resource_error(err, Direction::Play);
        match err {
            ConnectionError::Session(session)
                if matches!(session.as_ref(), SessionError::StreamNotFound(_)) =>
            {
                let stream = location.redacted_stream();
                let app = location.redacted_application();
                gst::element_error!(
                    self.element,
                    code,
                    ("Stream '{stream}' not found in application '{app}': {err}"),
                    ["{uri}"]
                );
            }
            _ => {
                gst::element_error!(self.element, code, ("Could not play {uri}: {err}"));
            }
        }
        self.push_eos();
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
