//! Switching renditions while a live stream plays (`renditions`): the policy
//! ([`crate::rtmpsrc::renditions`]) decides, this file carries the decision out.
//!
//! The new rendition plays beside the old one, which keeps feeding the pads, until the new
//! one's first keyframe (stepping up, its first keyframe once it has kept pace: a probe the
//! link cannot carry is dropped before the cut-over): there the [`Splice`] puts the new
//! stream on the old timeline (its headers, then the keyframe, where the old stream's next
//! frame would be) and the old stream goes. Three ways to play it beside:
//! - `play2` with `transition=switch`, on servers that do transitions (FMS/AMS 3.5+ by their
//!   `fmsVer`); the server switches on its side, media keeps coming on the same stream;
//! - a second stream of the same connection (createStream + play, then the session promotes
//!   it and deletes the old one);
//! - a second connection, for servers that play one stream per connection: nginx-rtmp answers
//!   every createStream with stream id 1, which the session reports.
//!
//! Stepping down, the old stream is paused at the decision (its bytes would hold up the new
//! one on the narrow link), both connections' receive windows are capped until the cut-over
//! (neither fills the link's queue), and once the new one has drained what queued behind it,
//! the lateness the congestion left is skipped in one step at a keyframe (see
//! [`Splice::skip_ahead`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::{CLOSE_TIMEOUT, Streamer};
use crate::connection::{ConnectOptions, Connection, ConnectionError, Outgoing};
use crate::protocol::amf0::Amf0Value;
use crate::protocol::session::{Play2, SessionEvent, SessionMode};
use crate::rtmpsrc::demux::Timeline;
use crate::rtmpsrc::imp::{CAT, SrcSettings};
use crate::rtmpsrc::renditions::{
    self, BURST_MIN_BYTES, Decision, Policy, ProbeVerdict, ProbeWatch, Reason, Rendition, Splice,
};

/// A new rendition whose keyframe has not come by then is given up.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(8);
/// While a second connection plays, the main one is waited on this long at a time.
const CANDIDATE_POLL: Duration = Duration::from_millis(5);
/// A spare connection that failed is made again after this long at the earliest.
const SPARE_RETRY: Duration = Duration::from_secs(10);
/// A spare waits before `play`, which the connection's setup timeout bounds: the spare gets
/// at least this much, and is replaced after [`SPARE_RENEW`] (well before it ends).
const SPARE_TIMEOUT: Duration = Duration::from_secs(60);
const SPARE_RENEW: Duration = Duration::from_secs(40);
/// After a switch down, the new rendition first drains what it has in flight; then, if media
/// is still this much later than at its best (on the pads' timeline), the timeline skips
/// ahead by that at a keyframe. Below it, staying a little late beats a jump.
const SKIP_AHEAD_MIN_MS: i64 = 300;
/// The window after a switch down in which lateness is caught up (once).
const CATCH_UP_FROM: Duration = Duration::from_secs(3);
const CATCH_UP_UNTIL: Duration = Duration::from_secs(10);
/// Lateness counts at its lowest over this long (jitter would make a skip too long); the
/// new rendition has drained when that is no lower than over the window before.
const CATCH_UP_WINDOW: Duration = Duration::from_millis(1500);
const DRAINED_MS: i64 = 50;
/// How often `stats` gets a new estimate.
const STATS_EVERY: Duration = Duration::from_millis(500);

/// Checks `renditions` against `location` (when starting).
pub fn check_renditions(settings: &SrcSettings) -> Result<(), String> {
    let spec = &settings.renditions;
    let list =
        renditions::parse(spec).map_err(|why| format!("Invalid renditions '{spec}': {why}"))?;
    let stream = base_name(&settings.common.location.stream);
    if !list.iter().any(|r| r.name == stream) {
        let names: Vec<&str> = list.iter().map(|r| r.name.as_str()).collect();
        return Err(format!(
            "The location's stream '{stream}' is not one of the renditions ({})",
            names.join(", ")
        ));
    }
    Ok(())
}

fn base_name(stream: &str) -> &str {
    stream.split_once('?').map_or(stream, |(name, _)| name)
}

/// Why a switch was given up (`why` of `rtmp-rendition-switch-failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GiveUp {
    /// A probe whose rendition the link did not carry beside the played one.
    LinkBehind,
    Refused,
    Ended,
    NotInTime,
    ConnectionFailed,
}

impl GiveUp {
    fn as_str(self) -> &'static str {
        match self {
            GiveUp::LinkBehind => "the link did not keep up with the new rendition",
            GiveUp::Refused => "the server refused the new rendition",
            GiveUp::Ended => "the new rendition ended",
            GiveUp::NotInTime => "the new rendition did not start in time",
            GiveUp::ConnectionFailed => "the connection for the new rendition failed",
        }
    }
}

enum Via {
    Play2,
    /// A second stream of the connection; its id once the server gave it.
    Stream(Option<u32>),
    Connection(Arc<Connection>),
}

struct Candidate {
    decision: Decision,
    started: Duration,
    via: Via,
    /// When its first media came, and its bytes up to its first keyframe (logged at the
    /// cut-over: what a step down's gap at the pads is made of).
    first_media: Option<Duration>,
    before_key: usize,
    /// A probe beside the played stream: how the new rendition keeps pace before the cut.
    watch: Option<(ProbeWatch, Timeline)>,
}

impl Candidate {
    fn new(decision: Decision, now: Duration, via: Via) -> Candidate {
        // With play2 the server switches on its side: nothing arrives beside to measure.
        let beside = !matches!(via, Via::Play2);
        Candidate {
            decision,
            started: now,
            via,
            first_media: None,
            before_key: 0,
            watch: (beside && decision.reason == Reason::Probe)
                .then(|| (ProbeWatch::default(), Timeline::default())),
        }
    }
}

pub struct Switcher {
    list: Vec<Rendition>,
    /// The location's query, kept on every rendition's name (stream keys, tokens).
    query: Option<String>,
    options: ConnectOptions,
    policy: Policy,
    splice: Splice,
    timeline: Timeline,
    /// Whether the server plays a second stream per connection (unknown until tried).
    same_connection: Option<bool>,
    play2: Option<bool>,
    candidate: Option<Candidate>,
    /// Events for the streaming thread, in order.
    ready: VecDeque<SessionEvent>,
    /// Cut over to this second stream: plain events are the old stream's until it is promoted.
    awaiting_promotion: Option<u32>,
    last_arrival: Option<Duration>,
    /// A second connection to play from now on (the streaming loop swaps it in).
    swap: Option<Arc<Connection>>,
    stats_at: Option<Duration>,
    /// A connection set up up to createStream, ready to play the next rendition at once:
    /// on a congested link each setup round trip waits behind the old stream's backlog.
    spare: Option<Arc<Connection>>,
    spare_at: Option<Duration>,
    /// Why the last switch was made.
    last_reason: Option<Reason>,
    /// The played stream was paused for a switch down (its backlog drains, nothing new
    /// joins it): its pause notices and StreamEOF do not end the stream.
    paused_old: bool,
    /// ... and its receive window capped (lifted if the switch is given up).
    capped_old: bool,
    /// What leaves for the pads: its timeline, how late its video arrives at best, and
    /// recently (arrival, lateness ms).
    out_timeline: Timeline,
    out_best: Option<i64>,
    out_recent: VecDeque<(Duration, i64)>,
    /// After a switch down: when the lateness it left is caught up.
    catch_up_at: Option<Duration>,
    /// When the played stream's last video left for the pads (how long the pads went
    /// without video at a cut-over).
    last_video_out: Option<Duration>,
}

impl Switcher {
    /// `None` without renditions (or when they do not apply).
    pub fn new(settings: &SrcSettings, options: &ConnectOptions) -> Option<Switcher> {
        if settings.renditions.is_empty() {
            return None;
        }
        let list = renditions::parse(&settings.renditions).ok()?;
        let stream = &settings.common.location.stream;
        let current = list.iter().position(|r| r.name == base_name(stream))?;
        let kbps = list.iter().map(|r| r.kbps).collect();
        let mut options = options.clone();
        options.session.query_stream_length = false;
        Some(Switcher {
            query: stream.split_once('?').map(|(_, q)| q.to_owned()),
            list,
            options,
            policy: Policy::new(kbps, current),
            splice: Splice::default(),
            timeline: Timeline::default(),
            same_connection: None,
            play2: None,
            candidate: None,
            ready: VecDeque::new(),
            awaiting_promotion: None,
            last_arrival: None,
            swap: None,
            stats_at: None,
            spare: None,
            spare_at: None,
            last_reason: None,
            paused_old: false,
            capped_old: false,
            out_timeline: Timeline::default(),
            out_best: None,
            out_recent: VecDeque::new(),
            catch_up_at: None,
            last_video_out: None,
        })
    }

    fn stream_name(&self, index: usize) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.list[index].name),
            None => self.list[index].name.clone(),
        }
    }

    fn current_name(&self) -> &str {
        &self.list[self.policy.current()].name
    }

    /// Measures what arrived on the played stream.
    fn measure(&mut self, now: Duration, event: &SessionEvent) {
        let SessionEvent::Media {
            kind,
            timestamp,
            payload,
        } = event
        else {
            return;
        };
        self.policy.on_bytes(now, payload.len());
        let gap = self
            .last_arrival
            .map_or(Duration::ZERO, |t| now.saturating_sub(t));
        self.last_arrival = Some(now);
        if *kind == crate::protocol::session::MediaKind::Video && payload.len() >= BURST_MIN_BYTES {
            gst::trace!(
                CAT,
                "burst sample: {} bytes {gap:?} after the message before",
                payload.len()
            );
            self.policy.on_burst(now, payload.len(), gap);
        }
        let media_ms = self.timeline.map(*timestamp).ms;
        self.policy.on_media_time(now, media_ms);
    }

    /// Queues an event for the pads, measuring how late its video leaves, and catches up
    /// after a switch down (see [`SKIP_AHEAD_MIN_MS`]).
    fn push_out(&mut self, now: Duration, event: SessionEvent) {
        if let SessionEvent::Media {
            kind: crate::protocol::session::MediaKind::Video,
            timestamp,
            payload,
        } = &event
            && matches!(
                renditions::video_part(payload),
                renditions::VideoPart::Keyframe | renditions::VideoPart::Frame
            )
        {
            let delay = now.as_millis() as i64 - self.out_timeline.map(*timestamp).ms;
            if self.out_best.is_none_or(|best| delay < best) {
                self.out_best = Some(delay);
            }
            self.out_recent.push_back((now, delay));
            while self
                .out_recent
                .front()
                .is_some_and(|&(t, _)| now.saturating_sub(t) > 2 * CATCH_UP_WINDOW)
            {
                self.out_recent.pop_front();
            }
            self.catch_up(now);
            self.last_video_out = Some(now);
        }
        self.ready.push_back(event);
    }

    fn catch_up(&mut self, now: Duration) {
        let Some(at) = self.catch_up_at else {
            return;
        };
        // A probe beside holds up the played stream for a while: lateness it causes drains
        // once it is over, or the cut-over ends it; it is not the switch down's to catch up.
        if now < at + CATCH_UP_FROM || self.splice.skipping() || self.candidate.is_some() {
            return;
        }
        if now > at + CATCH_UP_UNTIL {
            self.catch_up_at = None;
            return;
        }
        let lowest = |recent: bool| {
            self.out_recent
                .iter()
                .filter(|&&(t, _)| (now.saturating_sub(t) <= CATCH_UP_WINDOW) == recent)
                .map(|&(_, d)| d)
                .min()
        };
        let (Some(best), Some(lowest), Some(before)) = (self.out_best, lowest(true), lowest(false))
        else {
            return;
        };
        if lowest < before - DRAINED_MS {
            // Still arriving faster than it plays: what it had in flight is draining.
            return;
        }
        let late = lowest - best;
        gst::trace!(
            CAT,
            "catching up: lowest {lowest} ms (before {before}), best {best}, late {late}"
        );
        if late >= SKIP_AHEAD_MIN_MS {
            gst::debug!(CAT, "{late} ms late after the switch down: skipping ahead");
            self.splice.skip_ahead(u32::try_from(late).unwrap_or(0));
            self.catch_up_at = None;
        }
    }

    /// Whether the server does play2 transitions: FMS/AMS 3.5 and later say so in `fmsVer`
    /// (nginx-rtmp says 3.0; SRS says 3.5 but marks itself with `srs_` fields and has none).
    fn server_does_play2(info: Option<&Amf0Value>) -> bool {
        let Some(info) = info else {
            return false;
        };
        let fields = match info {
            Amf0Value::Object(fields) | Amf0Value::EcmaArray(fields) => fields,
            _ => return false,
        };
        if fields.iter().any(|(key, _)| key.starts_with("srs_")) {
            return false;
        }
        let version = info.get("fmsVer").and_then(Amf0Value::as_str).unwrap_or("");
        let Some(numbers) = version.strip_prefix("FMS/") else {
            return false;
        };
        let mut parts = numbers
            .split(',')
            .map(|p| p.trim().parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(0);
        let minor = parts.next().unwrap_or(0);
        (major, minor) >= (3, 5)
    }

    /// Whether the server plays several streams on one connection: the FMS family (the
    /// servers that do transitions) and Red5. Not nginx-rtmp (every createStream gets id 1)
    /// nor node-media-server 2.7, which answers a second play with BadConnection, plays it on
    /// that stream anyway mixed with the first, and when that connection closes, breaks the
    /// stream first played for every player (a TypeError on each message): never try there.
    fn server_plays_several_streams(info: Option<&Amf0Value>) -> bool {
        let red5 = info
            .and_then(|info| info.get("fmsVer"))
            .and_then(Amf0Value::as_str)
            .is_some_and(|version| version.starts_with("RED5/"));
        red5 || Switcher::server_does_play2(info)
    }
}

impl Streamer {
    /// The next event to handle, through the rendition switcher when there is one.
    pub(super) fn next_event(
        &mut self,
        connection: &Arc<Connection>,
        timeout: Duration,
    ) -> Result<Option<SessionEvent>, ConnectionError> {
        let Some(mut switcher) = self.switcher.take() else {
            return connection.recv_or(Some(timeout), || self.flush_queues());
        };
        let result = self.next_switched(&mut switcher, connection, timeout);
        self.switcher = Some(switcher);
        result
    }

    fn next_switched(
        &mut self,
        sw: &mut Switcher,
        connection: &Arc<Connection>,
        timeout: Duration,
    ) -> Result<Option<SessionEvent>, ConnectionError> {
        if let Some(event) = sw.ready.pop_front() {
            return Ok(Some(event));
        }
        let now = self.started.elapsed();
        self.poll_candidate(sw, now);
        if sw.play2.is_none() || sw.same_connection.is_none() {
            let info = connection.server_info();
            sw.play2 = Some(Switcher::server_does_play2(info.as_ref()));
            sw.same_connection = Some(Switcher::server_plays_several_streams(info.as_ref()));
        }
        self.keep_spare(sw, now);
        if sw.candidate.is_none()
            && sw.swap.is_none()
            && self.played
            && let Some(decision) = sw.policy.tick(now)
        {
            self.begin_switch(sw, decision, connection, now);
        }
        if sw
            .stats_at
            .is_none_or(|t| now.saturating_sub(t) >= STATS_EVERY)
        {
            sw.stats_at = Some(now);
            gst::debug!(CAT, obj = self.element, "{}", sw.policy.describe(now));
            self.imp()
                .set_rendition(sw.current_name(), sw.policy.estimate_kbps(now));
        }
        if let Some(event) = sw.ready.pop_front() {
            return Ok(Some(event));
        }
        let second_connection = matches!(
            sw.candidate,
            Some(Candidate {
                via: Via::Connection(_),
                ..
            })
        );
        let wait = if second_connection {
            CANDIDATE_POLL
        } else {
            timeout
        };
        let Some(event) = connection.recv_or(Some(wait), || self.flush_queues())? else {
            return Ok(None);
        };
        let now = self.started.elapsed();
        self.main_event(sw, event, now, connection);
        Ok(sw.ready.pop_front())
    }

    /// An event of the main connection.
    fn main_event(
        &mut self,
        sw: &mut Switcher,
        event: SessionEvent,
        now: Duration,
        connection: &Arc<Connection>,
    ) {
        match event {
            SessionEvent::OnStream { stream_id, event } => {
                if sw.awaiting_promotion == Some(stream_id) {
                    sw.measure(now, &event);
                    if let Some(event) = sw.splice.played(*event) {
                        sw.push_out(now, event);
                    }
                    return;
                }
                if let Some(Candidate {
                    via: Via::Stream(id @ (None | Some(_))),
                    ..
                }) = &mut sw.candidate
                    && id.is_none_or(|id| id == stream_id)
                {
                    *id = Some(stream_id);
                    self.candidate_event(sw, *event, now, connection);
                }
            }
            SessionEvent::ExtraStream(answer) => {
                let Some(Candidate {
                    via: Via::Stream(id),
                    decision,
                    ..
                }) = &mut sw.candidate
                else {
                    if let Ok(id) = answer {
                        let _ = connection.send_control(Outgoing::DeleteStream(id));
                    }
                    return;
                };
                match answer {
                    Ok(stream_id) => {
                        sw.same_connection = Some(true);
                        *id = Some(stream_id);
                    }
                    Err(why) => {
                        gst::info!(CAT, obj = self.element, "second stream refused: {why}");
                        sw.same_connection = Some(false);
                        let decision = *decision;
                        sw.candidate = None;
                        self.start_connection(sw, decision, now);
                    }
                }
            }
            SessionEvent::Promoted(id) if sw.awaiting_promotion == Some(id) => {
                sw.awaiting_promotion = None;
                sw.paused_old = false;
            }
            // What our pause makes the server say (some stop the stream instead): not an end.
            SessionEvent::StreamEof | SessionEvent::StreamBegin if sw.paused_old => {}
            SessionEvent::Status(status)
                if sw.paused_old
                    && matches!(
                        status.code.as_str(),
                        "NetStream.Pause.Notify"
                            | "NetStream.Unpause.Notify"
                            | "NetStream.Play.Stop"
                    ) => {}
            // The old stream's last media, between the cut-over and the promotion.
            SessionEvent::Media { .. } | SessionEvent::Data { .. }
                if sw.awaiting_promotion.is_some() => {}
            SessionEvent::Status(status)
                if matches!(
                    sw.candidate,
                    Some(Candidate {
                        via: Via::Play2,
                        ..
                    })
                ) && status.code == "NetStream.Play.Transition" =>
            {
                sw.play2 = Some(true);
                if let Some(candidate) = sw.candidate.take() {
                    self.switched(sw, &candidate, now, "play2");
                }
            }
            other => {
                sw.measure(now, &other);
                if let Some(event) = sw.splice.played(other) {
                    sw.push_out(now, event);
                }
            }
        }
    }

    /// An event of the rendition being switched to (second stream or connection).
    fn candidate_event(
        &mut self,
        sw: &mut Switcher,
        event: SessionEvent,
        now: Duration,
        connection: &Arc<Connection>,
    ) {
        if let SessionEvent::Media { payload, .. } = &event {
            // It shares the link with the played stream.
            sw.policy.on_bytes(now, payload.len());
            if let Some(candidate) = &mut sw.candidate {
                candidate.first_media.get_or_insert(now);
                candidate.before_key += payload.len();
            }
        }
        match &event {
            SessionEvent::Status(status) if status.is_error() => {
                if let Some(Candidate {
                    via: Via::Stream(id),
                    decision,
                    ..
                }) = &sw.candidate
                {
                    // The server was taken to play several streams per connection and does
                    // not: the stream is not deleted (a server confused enough to refuse may stop
                    // the played one too); the cut-over to the other connection retires
                    // this one.
                    gst::info!(
                        CAT,
                        obj = self.element,
                        "second stream {id:?} not played ({}): switching on another connection",
                        status.code
                    );
                    sw.same_connection = Some(false);
                    let decision = *decision;
                    sw.candidate = None;
                    self.start_connection(sw, decision, now);
                    return;
                }
                gst::warning!(
                    CAT,
                    obj = self.element,
                    "rendition refused: {} {}",
                    status.code,
                    status.description
                );
                self.give_up(sw, now, GiveUp::Refused, connection);
                return;
            }
            SessionEvent::StreamEof | SessionEvent::ServerClosed => {
                self.give_up(sw, now, GiveUp::Ended, connection);
                return;
            }
            _ => {}
        }
        if !self.probe_keeps_pace(sw, &event, now, connection) {
            return;
        }
        let Some(cut) = sw.splice.candidate(event) else {
            return;
        };
        let old_last = sw.last_video_out;
        for event in cut {
            sw.push_out(now, event);
        }
        let Some(mut candidate) = sw.candidate.take() else {
            return;
        };
        let ms = |t: Option<Duration>| {
            t.map_or(-1, |t| {
                t.as_millis() as i64 - candidate.started.as_millis() as i64
            })
        };
        gst::debug!(
            CAT,
            obj = self.element,
            "cut-over {} ms after the decision: new media from {} ms, {} bytes up to its keyframe; \
             the old stream's last video left at {} ms",
            ms(Some(now)),
            ms(candidate.first_media),
            candidate.before_key,
            ms(old_last)
        );
        let via = match std::mem::replace(&mut candidate.via, Via::Play2) {
            Via::Stream(Some(id)) => {
                let _ = connection.send_control(Outgoing::CutOver(id));
                sw.awaiting_promotion = Some(id);
                "stream"
            }
            Via::Connection(next) => {
                next.cap_receive_window(None);
                sw.swap = Some(next);
                sw.paused_old = false;
                sw.capped_old = false;
                "connection"
            }
            Via::Stream(None) | Via::Play2 => "stream",
        };
        sw.timeline = Timeline::default();
        sw.last_arrival = None;
        self.switched(sw, &candidate, now, via);
    }

    /// Whether `event` of a probed rendition goes on to the splice: its keyframes wait until
    /// it has kept pace for [`renditions::PROBE_MEASURE`]; when the link does not keep up,
    /// the probe is dropped before the pads depend on it.
    fn probe_keeps_pace(
        &mut self,
        sw: &mut Switcher,
        event: &SessionEvent,
        now: Duration,
        connection: &Arc<Connection>,
    ) -> bool {
        let Some(Candidate {
            watch: Some((watch, timeline)),
            decision,
            ..
        }) = &mut sw.candidate
        else {
            return true;
        };
        let decision_to = decision.to;
        let SessionEvent::Media {
            kind: crate::protocol::session::MediaKind::Video,
            timestamp,
            payload,
        } = event
        else {
            return true;
        };
        let part = renditions::video_part(payload);
        if !matches!(
            part,
            renditions::VideoPart::Keyframe | renditions::VideoPart::Frame
        ) {
            return true;
        }
        let keyframe = part == renditions::VideoPart::Keyframe;
        let verdict = watch.on_video(now, timeline.map(*timestamp).ms, keyframe);
        if keyframe {
            gst::debug!(
                CAT,
                obj = self.element,
                "probe keyframe: {verdict:?} ({})",
                watch.describe(now)
            );
        }
        match verdict {
            ProbeVerdict::CutOver => true,
            // Frames before the cut go nowhere anyway; a keyframe waits for a later one.
            ProbeVerdict::Wait => !keyframe,
            ProbeVerdict::Failed => {
                gst::info!(
                    CAT,
                    obj = self.element,
                    "probe of {} failed: the link did not keep up with it beside {}",
                    sw.list[decision_to].name,
                    sw.current_name()
                );
                self.give_up(sw, now, GiveUp::LinkBehind, connection);
                false
            }
        }
    }

    fn post_switch_failed(&self, sw: &Switcher, decision: Decision, now: Duration, why: GiveUp) {
        self.post(
            gst::Structure::builder("rtmp-rendition-switch-failed")
                .field("from", sw.current_name())
                .field("to", sw.list[decision.to].name.as_str())
                .field("reason", decision.reason.as_str())
                .field("estimate", sw.policy.estimate_kbps(now))
                .field("why", why.as_str())
                .build(),
        );
    }

    fn switched(&mut self, sw: &mut Switcher, candidate: &Candidate, now: Duration, via: &str) {
        let from = sw.current_name().to_owned();
        sw.catch_up_at = (candidate.decision.reason != Reason::Probe).then_some(now);
        sw.last_reason = Some(candidate.decision.reason);
        sw.policy.switched(now, &candidate.decision);
        let to = sw.current_name().to_owned();
        gst::info!(
            CAT,
            obj = self.element,
            "switched from {from} to {to} ({}, estimate {} kbit/s, by {via})",
            candidate.decision.reason.as_str(),
            candidate.decision.estimate_kbps
        );
        self.imp()
            .set_rendition(&to, candidate.decision.estimate_kbps);
        // A reconnect plays the rendition in force.
        if let SessionMode::Play { stream, .. } = &mut self.options.session.mode {
            *stream = sw.stream_name(candidate.decision.to);
        }
        self.post(
            gst::Structure::builder("rtmp-rendition-switched")
                .field("from", from)
                .field("to", to)
                .field("reason", candidate.decision.reason.as_str())
                .field("estimate", candidate.decision.estimate_kbps)
                .field("via", via)
                .build(),
        );
    }

    fn begin_switch(
        &mut self,
        sw: &mut Switcher,
        decision: Decision,
        connection: &Arc<Connection>,
        now: Duration,
    ) {
        // A new decision ends the last switch down's catch-up: a probe's own disturbance, or a
        // further step down's congestion, is not that switch's lateness to skip.
        sw.catch_up_at = None;
        gst::info!(
            CAT,
            obj = self.element,
            "switching from {} to {} ({}, estimate {} kbit/s)",
            sw.current_name(),
            sw.list[decision.to].name,
            decision.reason.as_str(),
            decision.estimate_kbps
        );
        self.post(
            gst::Structure::builder("rtmp-rendition-switching")
                .field("from", sw.current_name())
                .field("to", sw.list[decision.to].name.as_str())
                .field("reason", decision.reason.as_str())
                .field("estimate", decision.estimate_kbps)
                .build(),
        );
        let name = sw.stream_name(decision.to);
        let via = if sw.play2 == Some(true) {
            let options = Play2 {
                stream_name: name,
                old_stream_name: sw.stream_name(sw.policy.current()),
                transition: "switch".into(),
            };
            Some((Outgoing::Play2(options), Via::Play2))
        } else if sw.same_connection == Some(true) {
            Some((Outgoing::PlayAnother(name), Via::Stream(None)))
        } else {
            None
        };
        match via {
            Some((request, via)) => match connection.send_control(request) {
                Ok(()) => sw.candidate = Some(Candidate::new(decision, now, via)),
                Err(_) => sw.policy.switch_failed(now),
            },
            None => self.start_connection(sw, decision, now),
        }
        // Stepping down, the link cannot carry the old stream: pause it, so that what it has
        // in flight drains (and keeps the pads fed) while nothing new joins it, and the link
        // frees up for the new rendition. Stepping up, the old one plays on to the cut-over.
        let beside = matches!(
            sw.candidate,
            Some(Candidate {
                via: Via::Connection(_) | Via::Stream(_),
                ..
            })
        );
        if beside
            && decision.reason != Reason::Probe
            && connection
                .send_control(Outgoing::Pause { pause: true, ms: 0 })
                .is_ok()
        {
            sw.paused_old = true;
        }
        // What the server still has to send of the old stream (node-media-server buffers
        // seconds of it) would keep the link's queue full, and the new connection's first
        // packets lost there wait out TCP's backed-off retransmission timer (a 1.5-1.8 s
        // stall). With its window capped the old stream still drains, politely.
        if sw.paused_old
            && matches!(
                sw.candidate,
                Some(Candidate {
                    via: Via::Connection(_),
                    ..
                })
            )
        {
            connection.cap_receive_window(Some(bytes_per_sec(sw.list[sw.policy.current()].kbps)));
            sw.capped_old = true;
        }
    }

    /// Keeps a spare connection while switches may need one.
    fn keep_spare(&mut self, sw: &mut Switcher, now: Duration) {
        if let Some(spare) = &sw.spare
            && spare.error().is_some()
        {
            gst::debug!(CAT, obj = self.element, "spare connection ended");
            sw.spare = None;
        }
        let wanted = self.played
            && sw.candidate.is_none()
            && sw.swap.is_none()
            && sw.same_connection != Some(true)
            && sw.play2 != Some(true);
        if !wanted {
            return;
        }
        if sw.spare.is_some() {
            if sw.spare_at.is_some_and(|t| now < t + SPARE_RENEW) {
                return;
            }
            if let Some(old) = sw.spare.take() {
                close_in_background(old);
            }
        } else if sw.spare_at.is_some_and(|t| now < t + SPARE_RETRY) {
            return;
        }
        sw.spare_at = Some(now);
        let mut options = sw.options.clone();
        options.session.defer_play = true;
        options.timeout = options.timeout.max(SPARE_TIMEOUT);
        match Connection::start(options) {
            Ok(spare) => sw.spare = Some(Arc::new(spare)),
            Err(err) => gst::debug!(CAT, obj = self.element, "no spare connection: {err}"),
        }
    }

    /// Plays the new rendition on a connection of its own: the spare if there is one.
    fn start_connection(&mut self, sw: &mut Switcher, decision: Decision, now: Duration) {
        // The new connection's receive window is capped until the cut-over: a server's cached
        // GOP then cannot overflow a narrow link's queue, where the played stream's lost
        // packets stalled it for 1.4 s (a probe), or its own wait out backed-off
        // retransmissions (a switch down).
        let rate = bytes_per_sec(sw.list[decision.to].kbps);
        let cap = |connection: &Connection| connection.cap_receive_window(Some(rate));
        if let Some(spare) = sw.spare.take() {
            let name = sw.stream_name(decision.to);
            cap(&spare);
            if spare.send_control(Outgoing::StartPlay(name)).is_ok() {
                sw.candidate = Some(Candidate::new(decision, now, Via::Connection(spare)));
                return;
            }
        }
        let mut options = sw.options.clone();
        if let SessionMode::Play { stream, .. } = &mut options.session.mode {
            *stream = sw.stream_name(decision.to);
        }
        match Connection::start(options) {
            Ok(next) => {
                cap(&next);
                sw.candidate = Some(Candidate::new(
                    decision,
                    now,
                    Via::Connection(Arc::new(next)),
                ));
            }
            Err(err) => {
                gst::warning!(
                    CAT,
                    obj = self.element,
                    "cannot connect for the rendition: {err}"
                );
                sw.policy.switch_failed(now);
            }
        }
    }

    /// Reads what the second connection received, and gives up a switch that takes too long.
    fn poll_candidate(&mut self, sw: &mut Switcher, now: Duration) {
        let Some(candidate) = &sw.candidate else {
            return;
        };
        if now.saturating_sub(candidate.started) > SWITCH_TIMEOUT {
            gst::warning!(CAT, obj = self.element, "{}", GiveUp::NotInTime.as_str());
            if let Some(connection) = self.control.connection() {
                self.give_up(sw, now, GiveUp::NotInTime, &connection);
            }
            return;
        }
        let Via::Connection(next) = &candidate.via else {
            return;
        };
        let next = next.clone();
        // Bounded: the main connection gets its turn.
        for _ in 0..64 {
            match next.recv(Some(Duration::ZERO)) {
                Ok(Some(event)) => {
                    if let Some(connection) = self.control.connection() {
                        self.candidate_event(sw, event, now, &connection);
                    }
                    if sw.candidate.is_none() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(err) => {
                    gst::warning!(CAT, obj = self.element, "rendition connection: {err}");
                    if let Some(connection) = self.control.connection() {
                        self.give_up(sw, now, GiveUp::ConnectionFailed, &connection);
                    }
                    return;
                }
            }
        }
    }

    /// The switch did not happen: the new rendition goes, and the next switch waits longer.
    fn give_up(
        &mut self,
        sw: &mut Switcher,
        now: Duration,
        why: GiveUp,
        connection: &Arc<Connection>,
    ) {
        if let Some(candidate) = &sw.candidate {
            self.post_switch_failed(sw, candidate.decision, now, why);
        }
        sw.splice.abandon();
        if std::mem::take(&mut sw.paused_old) {
            let _ = connection.send_control(Outgoing::Pause {
                pause: false,
                ms: 0,
            });
        }
        if std::mem::take(&mut sw.capped_old) {
            connection.cap_receive_window(None);
        }
        match why {
            GiveUp::LinkBehind => sw.policy.probe_failed(now),
            _ => sw.policy.switch_failed(now),
        }
        match sw.candidate.take().map(|c| c.via) {
            Some(Via::Stream(Some(id))) => {
                let _ = connection.send_control(Outgoing::DeleteStream(id));
            }
            // Its backlog would hold up the played stream: dropped at once.
            Some(Via::Connection(next)) if why == GiveUp::LinkBehind => drop(next),
            Some(Via::Connection(next)) => close_in_background(next),
            // A server that says it is FMS 3.5+ but does not do transitions: the next switch
            // goes the other ways.
            Some(Via::Play2) => sw.play2 = Some(false),
            Some(Via::Stream(None)) | None => {}
        }
    }

    /// Ends the connection of the rendition switched from. Stepping down, its backlog holds up
    /// the new one on the link: it is dropped at once (the server stops sending); otherwise it
    /// is closed politely.
    pub(super) fn retire(&mut self, old: Arc<Connection>) {
        let congested = self
            .switcher
            .as_ref()
            .is_some_and(|sw| sw.last_reason != Some(Reason::Probe));
        if congested {
            drop(old);
        } else {
            close_in_background(old);
        }
    }

    /// After a cut-over to a second connection: the connection to play from now on.
    pub(super) fn take_swap(&mut self) -> Option<Arc<Connection>> {
        self.switcher.as_mut()?.swap.take()
    }
}

fn bytes_per_sec(kbps: u32) -> u32 {
    kbps.saturating_mul(1000 / 8)
}

/// Closes a connection politely without holding up the stream.
pub(super) fn close_in_background(connection: Arc<Connection>) {
    let closing = std::thread::Builder::new()
        .name("rtmpsrc-close".into())
        .spawn(move || {
            let _ = connection.close(CLOSE_TIMEOUT);
        });
    if let Err(err) = closing {
        gst::debug!(CAT, "cannot close in the background: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(fields: &[(&str, &str)]) -> Amf0Value {
        Amf0Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), Amf0Value::String(v.to_string())))
                .collect(),
        )
    }

    #[test]
    fn the_server_says_how_a_rendition_can_be_played_beside() {
        // (connect _result fields, does play2, plays several streams per connection)
        let cases = [
            // nginx-rtmp 1.2 and node-media-server 2.7 both answer as FMS 3.0.
            (vec![("fmsVer", "FMS/3,0,1,123")], false, false),
            (vec![("fmsVer", "FMS/3,5,7,7009")], true, true),
            (vec![("fmsVer", "FMS/5,0,15,5004")], true, true),
            (vec![("fmsVer", "RED5/1,0,10,0")], false, true),
            (
                vec![("fmsVer", "FMS/3,5,3,888"), ("srs_version", "5.0.213")],
                false,
                false,
            ),
            (vec![], false, false),
        ];
        for (fields, play2, several) in cases {
            let info = info(&fields);
            assert_eq!(
                Switcher::server_does_play2(Some(&info)),
                play2,
                "{fields:?}"
            );
            assert_eq!(
                Switcher::server_plays_several_streams(Some(&info)),
                several,
                "{fields:?}"
            );
        }
        assert!(!Switcher::server_plays_several_streams(None));
    }
}
