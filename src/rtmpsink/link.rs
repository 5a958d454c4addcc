//! The publishing link: the writer's connection, kept up across drops.
//!
//! When an established connection fails (server restart, network loss), a background thread
//! reconnects with backoff while the streaming thread keeps accepting tags into a bounded
//! backlog, so upstream keeps flowing. Once reconnected, the latest metadata and sequence
//! headers go out first, then the backlog from the next video keyframe on: players that join
//! the new publish can decode from its first frame. When the backlog outgrows its bound, the
//! oldest group of pictures is dropped (live streams prefer fresh media).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::headers::Headers;
use super::writer::CAT;
use crate::connection::{ConnectOptions, Connection, ConnectionError, Outgoing};
use crate::flv::TagType;
use crate::protocol::chunk::Payload;
use crate::protocol::redact::redact_query;

/// How long the connection left for a reconnect request may take to finish and close.
const OLD_CONNECTION_CLOSE: Duration = Duration::from_secs(2);
/// A reconnection only counts as recovered once the new connection has lasted this long;
/// a server that accepts and drops at once uses up the attempts instead of looping forever.
const STABLE_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// 0 turns reconnecting off: a lost connection is an error at once.
    pub attempts: u32,
    /// Wait before the first attempt; it doubles for each later one.
    pub delay: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    Disconnected {
        reason: String,
    },
    Reconnected {
        attempt: u32,
        dropped_bytes: u64,
    },
    /// The server asked us to move (Enhanced RTMP reconnect request), and we did.
    Moved {
        tc_url: Option<String>,
    },
}

/// One FLV tag on its way to the server. The body is usually in two parts (codec header
/// bytes, the encoder's frame), shared with the buffers it came in.
#[derive(Debug, Clone)]
pub struct Tag {
    pub tag_type: TagType,
    pub timestamp: u32,
    pub body: Payload,
}

impl Tag {
    pub(super) fn is_video_keyframe(&self) -> bool {
        let Some(first) = self
            .body
            .first()
            .filter(|_| self.tag_type == TagType::Video)
        else {
            return false;
        };
        if first & 0x80 != 0 {
            // Enhanced RTMP (flvmux's successor sends it): frame type in bits 4-6, then the
            // packet type; a keyframe carries coded frames, not a sequence start/end/metadata.
            let packet_type = first & 0x0F;
            return (first >> 4) & 0x07 == 1 && !matches!(packet_type, 0 | 2 | 4 | 5);
        }
        // Frame type 1 (key) and, for AVC, a coded frame rather than a sequence header.
        first >> 4 == 1 && self.body.get(1) != Some(0)
    }

    fn outgoing(&self) -> Outgoing {
        let (timestamp, payload) = (self.timestamp, self.body.clone());
        match self.tag_type {
            TagType::Audio => Outgoing::Audio { timestamp, payload },
            TagType::Video => Outgoing::Video { timestamp, payload },
            TagType::Script => Outgoing::Data {
                timestamp,
                // Small, and the @setDataFrame prefix is prepended anyway.
                payload: crate::flv::metadata::set_data_frame(&payload.to_bytes()).into(),
            },
        }
    }
}

/// What the streaming thread and `unlock()` share: flushing interrupts every wait.
#[derive(Default)]
pub struct Interrupt {
    state: Mutex<InterruptState>,
    changed: Condvar,
}

#[derive(Default)]
struct InterruptState {
    flushing: bool,
    shutdown: bool,
    current: Option<Arc<Connection>>,
    attempt: Option<Arc<Connection>>,
    reconnected: Option<Result<(Arc<Connection>, u32), ConnectionError>>,
    /// The connection a reconnect request asked for, once it publishes.
    moved: Option<Result<Arc<Connection>, ConnectionError>>,
}

impl Interrupt {
    fn lock(&self) -> MutexGuard<'_, InterruptState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_flushing(&self, flushing: bool) {
        let mut state = self.lock();
        state.flushing = flushing;
        if let Some(connection) = &state.current {
            connection.set_flushing(flushing);
        }
        drop(state);
        self.changed.notify_all();
    }

    /// The connection in use, if any (none while reconnecting).
    pub fn current(&self) -> Option<Arc<Connection>> {
        self.lock().current.clone()
    }

    fn shutdown(&self) {
        let mut state = self.lock();
        state.shutdown = true;
        if let Some(attempt) = &state.attempt {
            attempt.set_flushing(true);
        }
        drop(state);
        self.changed.notify_all();
    }

    fn set_current(&self, connection: Option<Arc<Connection>>) {
        let mut state = self.lock();
        if let Some(connection) = &connection {
            connection.set_flushing(state.flushing);
        }
        state.current = connection;
    }

    /// Waits for `duration` (pacing the stream), unless flushing or shut down first.
    pub fn pause(&self, duration: Duration) -> Result<(), ConnectionError> {
        let deadline = Instant::now() + duration;
        let mut state = self.lock();
        loop {
            if state.flushing || state.shutdown {
                return Err(ConnectionError::Flushing);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Sleeps for `duration` unless shut down first (returns false then).
    fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut state = self.lock();
        while !state.shutdown {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        false
    }
}

pub struct Link {
    options: ConnectOptions,
    policy: ReconnectPolicy,
    interrupt: Arc<Interrupt>,
    current: Option<Arc<Connection>>,
    /// The current connection reached publishing at least once.
    established: bool,
    reconnecting: bool,
    /// A reconnect request is being followed: the new connection is being set up.
    moving: Option<Option<String>>,
    /// Attempts used since the connection was last stable, and when it last came back.
    attempts_used: u32,
    reconnected_at: Option<Instant>,
    backlog: VecDeque<Tag>,
    backlog_bytes: usize,
    dropped_bytes: u64,
    /// The latest metadata and, for every track, sequence start, colorInfo and channel layout.
    headers: Headers,
    notify: Box<dyn Fn(LinkEvent) + Send>,
}

impl Link {
    pub fn new(
        options: ConnectOptions,
        policy: ReconnectPolicy,
        interrupt: Arc<Interrupt>,
        notify: Box<dyn Fn(LinkEvent) + Send>,
    ) -> Link {
        Link {
            options,
            policy,
            interrupt,
            current: None,
            established: false,
            reconnecting: false,
            moving: None,
            attempts_used: 0,
            reconnected_at: None,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            dropped_bytes: 0,
            headers: Headers::default(),
            notify,
        }
    }

    /// Starts the first connection (async-connect) unless it exists.
    pub fn start(&mut self) -> Result<(), ConnectionError> {
        if self.current.is_none() && !self.reconnecting {
            let connection = Arc::new(Connection::start(self.options.clone())?);
            self.interrupt.set_current(Some(connection.clone()));
            self.current = Some(connection);
        }
        Ok(())
    }

    /// Sends a tag, riding out a lost connection when reconnecting is on.
    pub fn send(&mut self, tag: Tag) -> Result<(), ConnectionError> {
        self.remember_header(&tag);
        self.start()?;
        if self.reconnecting && !self.poll_reconnected()? {
            self.push_backlog(tag);
            return Ok(());
        }
        self.follow_reconnect_request(&tag);
        self.send_now(tag)
    }

    /// Enhanced RTMP's reconnect request: set up the new connection in the background while
    /// this one carries on, and switch at a keyframe (any tag for audio-only streams), so the
    /// stream goes on without a gap and players of the new one start with a picture.
    fn follow_reconnect_request(&mut self, tag: &Tag) {
        if self.moving.is_none() {
            let Some(request) = self
                .current
                .as_ref()
                .and_then(|c| c.take_reconnect_request())
            else {
                return;
            };
            let options = match &request {
                Some(tc_url) => match self.options.retarget(tc_url) {
                    Ok(options) => options,
                    Err(err) => {
                        let tc_url = redact_query(tc_url);
                        gst::warning!(CAT, "ignoring reconnect request to {tc_url}: {err}");
                        return;
                    }
                },
                None => self.options.clone(),
            };
            self.moving = Some(request);
            let interrupt = self.interrupt.clone();
            std::thread::spawn(move || {
                let outcome = crate::panics::catch(|| {
                    Connection::start(options)
                        .map(Arc::new)
                        .and_then(|connection| {
                            connection.wait_ready()?;
                            Ok(connection)
                        })
                })
                .unwrap_or_else(|panic| {
                    Err(ConnectionError::Internal(format!(
                        "the thread following a reconnect request panicked: {panic}"
                    )))
                });
                interrupt.lock().moved = Some(outcome);
                interrupt.changed.notify_all();
            });
            return;
        }
        let switch_here = !self.headers.has_video() || tag.is_video_keyframe();
        if !switch_here {
            return;
        }
        let outcome = self.interrupt.lock().moved.take();
        match outcome {
            None => {}
            Some(Err(err)) => {
                gst::warning!(CAT, "could not follow the reconnect request: {err}");
                self.moving = None;
            }
            Some(Ok(connection)) => {
                let tc_url = self.moving.take().flatten();
                if let Some(tc_url) = &tc_url
                    && let Ok(options) = self.options.retarget(tc_url)
                {
                    // Later reconnections go to the new server too.
                    self.options = options;
                }
                self.interrupt.set_current(Some(connection.clone()));
                // The old connection sends what it still holds and closes politely, on the side.
                if let Some(old) = self.current.replace(connection) {
                    std::thread::spawn(move || {
                        let _ = old.close(OLD_CONNECTION_CLOSE);
                    });
                }
                self.reconnected_at = Some(Instant::now());
                (self.notify)(LinkEvent::Moved { tc_url });
                for header in self.headers() {
                    let _ = self.send_now(header);
                }
            }
        }
    }

    /// Sends everything, waiting for a reconnection in progress, then the stop commands; closes.
    pub fn finish(&mut self, timeout: Duration) -> Result<(), ConnectionError> {
        if self.reconnecting {
            self.wait_reconnected()?;
        }
        let Some(connection) = self.current.clone() else {
            return Ok(());
        };
        connection.wait_ready()?;
        connection.close(timeout)
    }

    fn send_now(&mut self, tag: Tag) -> Result<(), ConnectionError> {
        let Some(connection) = self.current.clone() else {
            return Err(ConnectionError::Closed);
        };
        let result = connection.wait_ready().and_then(|()| {
            self.established = true;
            connection.send(tag.outgoing())
        });
        match result {
            Err(err) if self.established && err != ConnectionError::Flushing => {
                if self
                    .reconnected_at
                    .is_some_and(|at| at.elapsed() >= STABLE_AFTER)
                {
                    self.attempts_used = 0;
                }
                if self.attempts_used >= self.policy.attempts {
                    return Err(err);
                }
                (self.notify)(LinkEvent::Disconnected {
                    reason: err.to_string(),
                });
                self.start_reconnecting();
                self.push_backlog(tag);
                Ok(())
            }
            other => other,
        }
    }

    /// The headers a new connection needs first: metadata, then each track's colorInfo,
    /// sequence start and channel layout.
    fn headers(&self) -> Vec<Tag> {
        self.headers.iter().map(|(_, tag, _)| tag.clone()).collect()
    }

    fn remember_header(&mut self, tag: &Tag) {
        self.headers.remember(tag);
    }

    fn push_backlog(&mut self, tag: Tag) {
        self.backlog_bytes += tag.body.len();
        self.backlog.push_back(tag);
        // Over the bound: drop whole groups of pictures from the front, oldest first.
        while self.backlog_bytes > self.options.max_outgoing_bytes && !self.backlog.is_empty() {
            loop {
                let Some(front) = self.backlog.pop_front() else {
                    break;
                };
                self.backlog_bytes -= front.body.len();
                self.dropped_bytes += front.body.len() as u64;
                if self.backlog.front().is_none_or(Tag::is_video_keyframe) {
                    break;
                }
            }
        }
    }

    fn start_reconnecting(&mut self) {
        self.reconnecting = true;
        self.established = false;
        self.current = None;
        self.interrupt.set_current(None);
        let options = self.options.clone();
        let policy = ReconnectPolicy {
            attempts: self.policy.attempts.saturating_sub(self.attempts_used),
            delay: self.policy.delay,
        };
        spawn_reconnect(options, policy, self.interrupt.clone());
    }

    /// Whether the reconnection finished; installs the new connection and sends what waited.
    fn poll_reconnected(&mut self) -> Result<bool, ConnectionError> {
        let outcome = self.interrupt.lock().reconnected.take();
        match outcome {
            None => Ok(false),
            Some(outcome) => self.reconnected(outcome).map(|()| true),
        }
    }

    fn wait_reconnected(&mut self) -> Result<(), ConnectionError> {
        let mut state = self.interrupt.lock();
        loop {
            if state.flushing || state.shutdown {
                return Err(ConnectionError::Flushing);
            }
            if let Some(outcome) = state.reconnected.take() {
                drop(state);
                return self.reconnected(outcome);
            }
            state = self
                .interrupt
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    fn reconnected(
        &mut self,
        outcome: Result<(Arc<Connection>, u32), ConnectionError>,
    ) -> Result<(), ConnectionError> {
        self.reconnecting = false;
        let (connection, attempt) = outcome?;
        self.attempts_used += attempt;
        self.reconnected_at = Some(Instant::now());
        self.interrupt.set_current(Some(connection.clone()));
        self.current = Some(connection);
        self.established = true;
        (self.notify)(LinkEvent::Reconnected {
            attempt,
            dropped_bytes: self.dropped_bytes,
        });
        self.dropped_bytes = 0;
        let headers = self.headers();
        let mut waiting_for_keyframe = self.headers.has_video();
        let backlog = std::mem::take(&mut self.backlog);
        self.backlog_bytes = 0;
        for tag in headers {
            self.send_now(tag)?;
        }
        for tag in backlog {
            if tag.header_key().is_some() {
                continue;
            }
            if tag.tag_type == TagType::Video && waiting_for_keyframe {
                if !tag.is_video_keyframe() {
                    continue;
                }
                waiting_for_keyframe = false;
            }
            if self.reconnecting {
                self.push_backlog(tag);
            } else {
                self.send_now(tag)?;
            }
        }
        Ok(())
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.interrupt.shutdown();
    }
}

/// Starts the reconnecting thread; a panic in it ends the reconnection with an error, which the
/// writer reports like any other.
fn spawn_reconnect(options: ConnectOptions, policy: ReconnectPolicy, interrupt: Arc<Interrupt>) {
    std::thread::spawn(move || {
        let result = crate::panics::catch(|| {
            crate::panics::inject(&options.host, "reconnect");
            reconnect(options, policy, interrupt.clone())
        });
        if let Err(panic) = result {
            interrupt.lock().reconnected = Some(Err(ConnectionError::Internal(format!(
                "the reconnecting thread panicked: {panic}"
            ))));
            interrupt.changed.notify_all();
        }
    });
}

/// The reconnecting thread: attempts with doubling delays until one reaches publishing.
fn reconnect(options: ConnectOptions, policy: ReconnectPolicy, interrupt: Arc<Interrupt>) {
    let mut last_error = ConnectionError::Closed;
    for (attempt, delay) in crate::shared::reconnect::attempts(policy.delay, policy.attempts) {
        if !interrupt.sleep(delay) {
            return;
        }
        let connection = match Connection::start(options.clone()) {
            Ok(connection) => Arc::new(connection),
            Err(err) => {
                last_error = err;
                continue;
            }
        };
        {
            let mut state = interrupt.lock();
            if state.shutdown {
                return;
            }
            state.attempt = Some(connection.clone());
        }
        let ready = connection.wait_ready();
        let mut state = interrupt.lock();
        state.attempt = None;
        match ready {
            Ok(()) => {
                state.reconnected = Some(Ok((connection, attempt)));
                drop(state);
                interrupt.changed.notify_all();
                return;
            }
            Err(err) => last_error = err,
        }
        if state.shutdown {
            return;
        }
    }
    interrupt.lock().reconnected = Some(Err(last_error));
    interrupt.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn video(parts: &[&'static [u8]]) -> Tag {
        Tag {
            tag_type: TagType::Video,
            timestamp: 0,
            body: Payload::from_parts(parts.iter().map(|p| Bytes::from_static(p))),
        }
    }

    #[test]
    fn a_panic_in_the_reconnecting_thread_ends_the_reconnection_with_an_error() {
        gst::init().unwrap();
        let (options, policy) = publishing_to("inject-panic-reconnect");
        let interrupt = Arc::new(Interrupt::default());
        spawn_reconnect(options, policy, interrupt.clone());
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut state = interrupt.lock();
        while state.reconnected.is_none() && Instant::now() < deadline {
            state = interrupt
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap()
                .0;
        }
        let Some(Err(ConnectionError::Internal(text))) = state.reconnected.take() else {
            panic!("no error from the reconnecting thread");
        };
        assert!(text.contains("reconnecting thread panicked"), "{text}");
    }

    #[test]
    fn frame_kinds_are_read_across_body_parts() {
        assert!(video(&[&[0x17], &[0x01, 0, 0, 0, 0xAA]]).is_video_keyframe());
        assert!(video(&[&[0x17, 0x01, 0, 0, 0], &[0xAA]]).is_video_keyframe());
        assert!(!video(&[&[0x27, 0x01, 0, 0, 0], &[0xAA]]).is_video_keyframe());
        let header = video(&[&[0x17], &[0x00, 0, 0, 0, 1]]);
        assert!(header.header_key().is_some() && !header.is_video_keyframe());
    }

    fn tag(tag_type: TagType, body: &'static [u8]) -> Tag {
        Tag {
            tag_type,
            timestamp: 0,
            body: Payload::from(Bytes::from_static(body)),
        }
    }

    /// Options to publish stream `s` on `host`, and one reconnect attempt at once.
    fn publishing_to(host: &str) -> (ConnectOptions, ReconnectPolicy) {
        let mut settings = crate::location::Settings::default();
        settings.location.host = host.into();
        let mode = crate::protocol::session::SessionMode::Publish {
            stream: "s".into(),
            publish_type: "live".into(),
        };
        let options = crate::shared::connect::connect_options(&settings, mode).unwrap();
        let policy = ReconnectPolicy {
            attempts: 1,
            delay: Duration::ZERO,
        };
        (options, policy)
    }

    fn link() -> Link {
        let (options, policy) = publishing_to("127.0.0.1");
        Link::new(
            options,
            policy,
            Arc::new(Interrupt::default()),
            Box::new(|_| {}),
        )
    }

    fn audio_tag(body: Bytes) -> Tag {
        Tag {
            tag_type: TagType::Audio,
            timestamp: 0,
            body: Payload::from(body),
        }
    }

    #[test]
    fn a_reconnect_resends_every_tracks_sequence_start_and_channel_layout() {
        gst::init().unwrap();
        // Two Opus tracks as rtmpsink's muxer writes them: each sequence start followed by its
        // MultichannelConfig, track 1 in OneTrack multitrack packets.
        let caps = gst::Caps::builder("audio/x-opus")
            .field("channel-mapping-family", 0i32)
            .field("rate", 48000i32)
            .field("channels", 2i32)
            .build();
        let opus =
            crate::flv::write::OutAudio::from_caps(&caps, crate::flv::write::LegacyCodecs::Legacy)
                .unwrap();
        let mut link = link();
        let mut expected = Vec::new();
        for track in [0, 1] {
            for header in [opus.sequence_start(track), opus.multichannel_config(track)] {
                let header = header.expect("Opus has both");
                link.remember_header(&audio_tag(header.clone()));
                expected.push(header);
            }
            let frame = [&opus.frame_header(track)[..], &[0xf8, 0xff, 0xfe]].concat();
            link.remember_header(&audio_tag(frame.into()));
        }
        let sent: Vec<Bytes> = link.headers().iter().map(|t| t.body.to_bytes()).collect();
        // Starts first, then channel layouts; channel configs are packet type 4.
        assert_eq!(
            sent,
            [&expected[0], &expected[2], &expected[1], &expected[3]].map(Clone::clone)
        );
        assert_eq!(sent[2][0] & 0x0F, 4, "track 0's MultichannelConfig");
        assert_eq!((sent[3][0] & 0x0F, sent[3][1]), (5, 4), "track 1's");
    }

    #[test]
    fn enhanced_rtmp_keyframes_and_sequence_starts_are_recognised() {
        // hvc1: key + SequenceStart, key + CodedFrames, key + CodedFramesX, inter + CodedFrames.
        let start = tag(TagType::Video, b"\x90hvc1\x01");
        assert!(start.header_key().is_some() && !start.is_video_keyframe());
        assert!(tag(TagType::Video, b"\x91hvc1\0\0\0\x01").is_video_keyframe());
        assert!(tag(TagType::Video, b"\x93hvc1\x01").is_video_keyframe());
        let inter = tag(TagType::Video, b"\xA1hvc1\0\0\0\x01");
        assert!(!inter.is_video_keyframe() && inter.header_key().is_none());
        // SequenceEnd is neither.
        let end = tag(TagType::Video, b"\x92hvc1");
        assert!(!end.is_video_keyframe() && end.header_key().is_none());
        // Enhanced audio (Opus): SequenceStart, then coded frames.
        assert!(tag(TagType::Audio, b"\x90Opus\x01").header_key().is_some());
        assert!(tag(TagType::Audio, b"\x91Opus\x01").header_key().is_none());
        // Legacy AAC and MP3.
        assert!(
            tag(TagType::Audio, b"\xAF\0\x12\x10")
                .header_key()
                .is_some()
        );
        assert!(tag(TagType::Audio, b"\xAF\x01\x21").header_key().is_none());
        assert!(tag(TagType::Audio, b"\x2F\0\x01").header_key().is_none());
    }

    #[test]
    fn script_bodies_in_parts_get_set_data_frame() {
        let tag = Tag {
            tag_type: TagType::Script,
            timestamp: 0,
            body: Payload::from_parts([
                Bytes::from_static(&[2, 0]),
                Bytes::from_static(&[1, b'x']),
            ]),
        };
        let Outgoing::Data { payload, .. } = tag.outgoing() else {
            panic!("not a data message")
        };
        let expected = crate::flv::metadata::set_data_frame(&Bytes::from_static(&[2, 0, 1, b'x']));
        assert_eq!(payload.to_bytes(), expected);
    }
}
