//! The streaming thread of `rtmpsrc`: connect, wait for the play to start, then map every
//! received event to pads, events and buffers until the stream ends or the element stops.
//! Buffers and serialized events go through each pad's queue to its own pushing thread
//! ([`super::worker`]); this thread only adds pads and takes the flow returns into account.
//!
//! Each wait is bounded or cancelled: `wait_ready`/`recv`/`close` return `Flushing` once the
//! element flushes the connection, the pause wait ends on shutdown, and pushes return FLUSHING
//! once the pads are deactivated.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::demux::{Action, Demuxer, EndReason, Frame, LiveClock, StreamKind};
use super::imp::{CAT, Control, SrcSettings};
use super::worker::{self, Item, PadQueue};
use crate::connection::{ConnectOptions, Connection, ConnectionError, Direction};
use crate::protocol::session::{MediaKind, SessionError, SessionEvent};

/// How often the thread wakes without data: EOS requests, the no-more-pads wait.
const TICK: Duration = Duration::from_millis(100);
/// Longest wait between two reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(10);
/// The polite close (closeStream/deleteStream) after the end may take this long.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the thread keeps the connection so the element can flush it.
pub trait ConnectionSlot {
    /// Stores the connection; false when the element is already shutting down.
    fn store(&self, connection: Arc<Connection>) -> bool;
    fn release(&self) -> Option<Arc<Connection>>;
}

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
}

impl Streamer {
    pub fn new(
        element: super::RtmpSrc,
        control: Arc<Control>,
        settings: SrcSettings,
        options: ConnectOptions,
    ) -> Self {
        Streamer {
            element,
            control,
            settings,
            options,
            demux: Demuxer::new(),
            clock: LiveClock::default(),
            started: Instant::now(),
            group_id: gst::GroupId::next(),
            video: None,
            audio: None,
        }
    }

    fn imp(&self) -> &super::imp::RtmpSrc {
        self.element.imp()
    }

    pub fn run(mut self) {
        let Some(connection) = self.connect() else {
            return;
        };
        let connection = self.stream(connection);
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
        if !self.settings.common.async_connect {
            self.control.wait_playing()?;
        }
        let connection = match Connection::start(self.options.clone()) {
            Ok(c) => Arc::new(c),
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
        loop {
            match self.control.wait_playing() {
                None => return connection,
                // Time spent paused does not count as idle.
                Some(true) => last_activity = Instant::now(),
                Some(false) => {}
            }
            if self.control.take_eos_request() {
                gst::info!(CAT, obj = self.element, "EOS requested by the application");
                self.end_of_stream("the application asked for EOS");
                return connection;
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
            let flow = match connection.recv_or(Some(timeout), || self.flush_queues()) {
                Ok(Some(event)) => {
                    last_activity = Instant::now();
                    let arrival = last_activity - self.started;
                    elapsed = Some(arrival);
                    self.count(&event);
                    let actions = self.demux.handle(event, arrival);
                    self.apply(actions)
                }
                Ok(None) => Flow::Continue(()),
                Err(ConnectionError::Flushing) => return connection,
                // A reset is a disconnect too (rtmp2 makes no difference either).
                Err(err @ (ConnectionError::Closed | ConnectionError::Io(_))) => {
                    if let Some(again) = self.reconnect(&err) {
                        connection = again;
                        last_activity = Instant::now();
                        continue;
                    }
                    self.closed_without_eof(&err.to_string());
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

    /// Plays again after the connection dropped without an end of stream, when reconnecting is
    /// on; posts `rtmp-disconnected` and `rtmp-reconnected` element messages as rtmpsink does.
    fn reconnect(&mut self, err: &ConnectionError) -> Option<Arc<Connection>> {
        let attempts = self.settings.reconnect_attempts;
        if attempts == 0 {
            return None;
        }
        self.post(
            gst::Structure::builder("rtmp-disconnected")
                .field("reason", err.to_string())
                .build(),
        );
        let mut delay = Duration::from_millis(u64::from(self.settings.reconnect_delay));
        for attempt in 1..=attempts {
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if self.control.is_shutdown() {
                    return None;
                }
                std::thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
            }
            delay = (delay * 2).min(MAX_RECONNECT_DELAY);
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
                    self.post(
                        gst::Structure::builder("rtmp-reconnected")
                            .field("attempt", attempt)
                            .build(),
                    );
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
        self.imp().count(|c| match event {
            SessionEvent::Media {
                kind: MediaKind::Audio,
                payload,
                ..
            } => {
                c.audio_messages += 1;
                c.audio_bytes += payload.len() as u64;
            }
            SessionEvent::Media {
                kind: MediaKind::Video,
                payload,
                ..
            } => {
                c.video_messages += 1;
                c.video_bytes += payload.len() as u64;
            }
            SessionEvent::Data { .. } => c.data_messages += 1,
            _ => {}
        });
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
                let events = [
                    gst::event::Caps::new(&caps),
                    gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()),
                ];
                let pad = element
                    .imp()
                    .add_pad(kind, &self.control, self.group_id, &events);
                let Some(pad) = pad else {
                    return Flow::Break(());
                };
                let queue = Arc::new(PadQueue::default());
                let flow_element = element.clone();
                let thread = worker::spawn(pad, queue.clone(), move |pad, flow| {
                    flow_element.imp().update_flow(pad, flow)
                });
                match thread {
                    Ok(thread) => self.control.add_worker(queue.clone(), thread),
                    Err(err) => {
                        gst::element_error!(
                            self.element,
                            gst::CoreError::Thread,
                            ("Cannot start a pad thread: {err}")
                        );
                        return Flow::Break(());
                    }
                }
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
            Action::Buffer { kind, frame } => return self.push_frame(kind, frame),
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

    /// Wakes the pad threads for the frames queued since the last call.
    fn flush_queues(&self) {
        for queue in [&self.video, &self.audio].into_iter().flatten() {
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
        let dts = self.clock.running_time(frame.dts_ms, now);
        let pts = self.clock.running_time(frame.pts_ms, now);
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
        let combined = self.imp().pads().combined;
        match combined {
            Ok(_) => Flow::Continue(()),
            Err(gst::FlowError::Flushing) => Flow::Break(()),
            Err(gst::FlowError::Eos) => {
                gst::info!(CAT, obj = self.element, "downstream is EOS");
                self.push_eos();
                Flow::Break(())
            }
            Err(err) => {
                gst::element_error!(
                    self.element,
                    gst::StreamError::Failed,
                    ("Internal data stream error"),
                    ["streaming stopped, reason {err:?}"]
                );
                self.push_eos();
                Flow::Break(())
            }
        }
    }

    fn push_eos(&mut self) {
        for kind in [StreamKind::Video, StreamKind::Audio] {
            self.push_event(kind, gst::event::Eos::new());
        }
    }

    /// EOS downstream, or an error when no pad exists to carry it.
    fn end_of_stream(&mut self, why: &str) {
        if self.imp().pads().all().is_empty() {
            let stream = self.settings.common.location.stream.clone();
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

    fn closed_without_eof(&mut self, why: &str) {
        if self.settings.no_eof_is_error {
            let uri = self.settings.common.location.to_uri();
            gst::element_error!(
                self.element,
                gst::ResourceError::Read,
                ("Connection to {uri} ended without end of stream: {why}")
            );
            self.push_eos();
        } else {
            gst::info!(CAT, obj = self.element, "{why}: EOS");
            self.end_of_stream(why);
        }
    }

    fn idle(&mut self, idle: Duration) {
        let stream = self.settings.common.location.stream.clone();
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
        let uri = location.to_uri();
        let code = err.resource_error(Direction::Play);
        match err {
            ConnectionError::Session(session)
                if matches!(session.as_ref(), SessionError::StreamNotFound(_)) =>
            {
                let stream = &location.stream;
                let app = &location.application;
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
