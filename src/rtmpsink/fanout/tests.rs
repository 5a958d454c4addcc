//! The fan-out with fake players: what each player receives, in which order, with which
//! timestamps, and when it is skipped or dropped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::protocol::chunk::Payload;

/// What a player received, as a user would tell it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Metadata(u32),
    VideoHeader(u32, u8),
    AudioHeader(u32, u8),
    Key(u32),
    Inter(u32),
    Audio(u32),
    /// An Enhanced RTMP OneTrack audio packet: its packet type and track id.
    Track(u32, u8, u8),
}

#[derive(Default)]
struct FakeState {
    /// Bytes the queue takes before `try_send` says no.
    bound: usize,
    queued: usize,
    received: Vec<Got>,
    closed: bool,
}

/// A player whose queue drains only when the test says so.
#[derive(Clone)]
struct Fake(Arc<Mutex<FakeState>>);

impl Fake {
    fn new(bound: usize) -> Fake {
        Fake(Arc::new(Mutex::new(FakeState {
            bound,
            ..Default::default()
        })))
    }

    fn fast() -> Fake {
        Fake::new(usize::MAX / 2)
    }

    /// The socket took everything queued.
    fn drain(&self) {
        self.0.lock().unwrap().queued = 0;
    }

    fn received(&self) -> Vec<Got> {
        self.0.lock().unwrap().received.clone()
    }

    fn close(&self) {
        self.0.lock().unwrap().closed = true;
    }
}

fn classify(item: &Outgoing) -> (Got, usize) {
    match item {
        Outgoing::Data { timestamp, payload } => {
            // Players get onMetaData as it is, never with @setDataFrame in front.
            assert_eq!(payload.to_bytes(), Bytes::from_static(META));
            (Got::Metadata(*timestamp), payload.len())
        }
        Outgoing::Video { timestamp, payload } => {
            let got = match (payload.first(), payload.get(1)) {
                (Some(0x17), Some(0)) => {
                    Got::VideoHeader(*timestamp, payload.get(5).unwrap_or_default())
                }
                (Some(0x17), _) => Got::Key(*timestamp),
                _ => Got::Inter(*timestamp),
            };
            (got, payload.len())
        }
        Outgoing::Audio { timestamp, payload } if payload.first() == Some(0x95) => {
            let inner = payload.get(1).unwrap_or_default() & 0x0F;
            let track = payload.get(6).unwrap_or_default();
            (Got::Track(*timestamp, inner, track), payload.len())
        }
        Outgoing::Audio { timestamp, payload } => {
            let got = match payload.get(1) {
                Some(0) => Got::AudioHeader(*timestamp, payload.get(2).unwrap_or_default()),
                _ => Got::Audio(*timestamp),
            };
            (got, payload.len())
        }
        other => panic!("unexpected {other:?}"),
    }
}

impl PlayerQueue for Fake {
    fn try_send(&self, item: Outgoing) -> Result<bool, ConnectionError> {
        let mut state = self.0.lock().unwrap();
        if state.closed {
            return Err(ConnectionError::Closed);
        }
        let (got, len) = classify(&item);
        if state.queued + len > state.bound {
            return Ok(false);
        }
        state.queued += len;
        state.received.push(got);
        Ok(true)
    }

    fn queued_bytes(&self) -> usize {
        self.0.lock().unwrap().queued
    }
}

const META: &[u8] = &[
    2, 0, 10, b'o', b'n', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a',
];

fn tag(tag_type: TagType, timestamp: u32, body: Vec<u8>) -> Tag {
    Tag {
        tag_type,
        timestamp,
        body: Payload::from(Bytes::from(body)),
    }
}

fn metadata(ts: u32) -> Tag {
    tag(TagType::Script, ts, META.to_vec())
}

/// An AVC sequence header; `version` tells one apart from another (avcC's profile byte).
fn video_header(ts: u32, version: u8) -> Tag {
    tag(TagType::Video, ts, vec![0x17, 0, 0, 0, 0, version, 1, 2, 3])
}

fn audio_header(ts: u32, version: u8) -> Tag {
    tag(TagType::Audio, ts, vec![0xAF, 0, version, 0x10])
}

fn frame(ts: u32, key: bool, size: usize) -> Tag {
    let mut body = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    body.resize(size.max(6), 0xAB);
    tag(TagType::Video, ts, body)
}

fn audio(ts: u32) -> Tag {
    tag(TagType::Audio, ts, vec![0xAF, 1, 0x21, 0x10, 0x04])
}

fn fanout() -> Fanout<Fake> {
    Fanout::new(FanoutConfig::default())
}

/// Headers, then `gops` groups of a keyframe and two inter frames, 40 ms apart, with audio.
fn publish(fanout: &mut Fanout<Fake>, now: Instant, start_ts: u32, gops: u32) -> u32 {
    let mut ts = start_ts;
    for _ in 0..gops {
        for i in 0..3 {
            fanout.push(frame(ts, i == 0, 100), now);
            fanout.push(audio(ts + 1), now);
            ts += 40;
        }
    }
    ts
}

fn headers(fanout: &mut Fanout<Fake>, now: Instant) {
    fanout.push(metadata(0), now);
    fanout.push(video_header(0, 1), now);
    fanout.push(audio_header(0, 1), now);
}

#[test]
fn a_late_joiner_gets_metadata_and_headers_then_the_gop_from_its_keyframe() {
    let now = Instant::now();
    let mut fanout = fanout();
    headers(&mut fanout, now);
    let ts = publish(&mut fanout, now, 0, 2);
    fanout.push(frame(ts, true, 100), now);
    fanout.push(audio(ts + 1), now);
    fanout.push(frame(ts + 40, false, 100), now);

    let late = Fake::fast();
    fanout.add(late.clone(), now);
    fanout.push(audio(ts + 41), now);
    assert_eq!(
        late.received(),
        [
            // The headers carry the keyframe's timestamp: no jump back to 0.
            Got::Metadata(240),
            Got::VideoHeader(240, 1),
            Got::AudioHeader(240, 1),
            Got::Key(240),
            Got::Audio(241),
            Got::Inter(280),
            Got::Audio(281),
        ]
    );
    assert_eq!(fanout.cached_bytes(), 100 + 5 + 100 + 5);
}

/// Audio track 1 (Opus, OneTrack multitrack packets): a packet of `packet_type`.
fn track_1(ts: u32, packet_type: u8) -> Tag {
    let mut body = vec![0x95, packet_type];
    body.extend_from_slice(b"Opus");
    body.extend_from_slice(&[1, 0xAA, 0xBB]);
    tag(TagType::Audio, ts, body)
}

const SEQUENCE_START: u8 = 0;
const CODED_FRAMES: u8 = 1;
const MULTICHANNEL_CONFIG: u8 = 4;

#[test]
fn a_late_joiner_of_a_multitrack_stream_gets_every_tracks_headers_first() {
    let now = Instant::now();
    let mut fanout = fanout();
    headers(&mut fanout, now);
    fanout.push(track_1(0, SEQUENCE_START), now);
    fanout.push(track_1(0, MULTICHANNEL_CONFIG), now);
    let mut ts = 0;
    for i in 0..6 {
        fanout.push(frame(ts, i % 3 == 0, 100), now);
        fanout.push(audio(ts + 1), now);
        fanout.push(track_1(ts + 2, CODED_FRAMES), now);
        ts += 40;
    }
    let late = Fake::fast();
    fanout.add(late.clone(), now);
    assert_eq!(
        late.received()[..7],
        [
            Got::Metadata(120),
            Got::VideoHeader(120, 1),
            Got::AudioHeader(120, 1),
            // Track 1's sequence start and channel layout, before any of its frames.
            Got::Track(120, SEQUENCE_START, 1),
            Got::Track(120, MULTICHANNEL_CONFIG, 1),
            Got::Key(120),
            Got::Audio(121),
        ]
    );
    assert_eq!(late.received()[7], Got::Track(122, CODED_FRAMES, 1));
}

#[test]
fn a_player_that_comes_before_the_first_frame_gets_everything_as_it_comes() {
    let now = Instant::now();
    let mut fanout = fanout();
    let early = Fake::fast();
    fanout.add(early.clone(), now);
    headers(&mut fanout, now);
    publish(&mut fanout, now, 0, 1);
    assert_eq!(
        early.received(),
        [
            Got::Metadata(0),
            Got::VideoHeader(0, 1),
            Got::AudioHeader(0, 1),
            Got::Key(0),
            Got::Audio(1),
            Got::Inter(40),
            Got::Audio(41),
            Got::Inter(80),
            Got::Audio(81),
        ]
    );
}

#[test]
fn audio_only_joiners_start_with_the_next_frame() {
    let now = Instant::now();
    let mut fanout = fanout();
    fanout.push(audio_header(0, 1), now);
    fanout.push(audio(0), now);
    fanout.push(audio(23), now);
    let player = Fake::fast();
    fanout.add(player.clone(), now);
    assert!(player.received().is_empty());
    fanout.push(audio(46), now);
    fanout.push(audio(69), now);
    assert_eq!(
        player.received(),
        [Got::AudioHeader(46, 1), Got::Audio(46), Got::Audio(69)]
    );
    assert_eq!(fanout.cached_bytes(), 0);
}

#[test]
fn a_full_queue_skips_to_the_next_keyframe_dropping_audio_too() {
    let now = Instant::now();
    let mut fanout = fanout();
    // Room for the headers and one frame with its audio, not for two frames.
    let slow = Fake::new(150);
    let fast = Fake::fast();
    let slow_id = fanout.add(slow.clone(), now);
    fanout.add(fast.clone(), now);
    headers(&mut fanout, now);
    fanout.push(frame(0, true, 100), now);
    fanout.push(audio(1), now);
    assert_eq!(fanout.take_fell_behind(), []);
    fanout.push(frame(40, false, 100), now); // does not fit
    fanout.push(audio(41), now);
    // Reported once, when it starts skipping.
    assert_eq!(fanout.take_fell_behind(), [slow_id]);
    slow.drain();
    fanout.push(frame(80, false, 100), now);
    fanout.push(audio(81), now);
    fanout.push(frame(120, true, 100), now);
    fanout.push(audio(121), now);
    let got = slow.received();
    assert_eq!(
        got[3..],
        [Got::Key(0), Got::Audio(1), Got::Key(120), Got::Audio(121)],
        "{got:?}"
    );
    // Headers unchanged: not sent again on resuming.
    assert_eq!(got.len(), 7);
    // The other player got every tag.
    assert_eq!(fast.received().len(), 3 + 8);
    let counters = fanout.counters();
    assert_eq!(counters[0].1.overflows, 1);
    assert_eq!(counters[0].1.skipped_tags, 4);
    assert_eq!(fanout.take_fell_behind(), []);
}

#[test]
fn headers_that_changed_while_skipping_are_sent_on_resuming() {
    let now = Instant::now();
    let mut fanout = fanout();
    let slow = Fake::new(250);
    fanout.add(slow.clone(), now);
    headers(&mut fanout, now);
    fanout.push(frame(0, true, 100), now);
    fanout.push(frame(40, false, 200), now); // does not fit
    slow.drain();
    // Caps changed: a new video header, the audio one stays.
    fanout.push(video_header(80, 2), now);
    fanout.push(frame(80, true, 100), now);
    let got = slow.received();
    assert_eq!(got[4..], [Got::VideoHeader(80, 2), Got::Key(80)], "{got:?}");
}

#[test]
fn a_stalled_player_is_dropped_after_the_timeout_and_the_others_keep_every_frame() {
    let start = Instant::now();
    let config = FanoutConfig {
        stall_timeout: Duration::from_secs(5),
        ..FanoutConfig::default()
    };
    let mut fanout = Fanout::new(config);
    let stalled = Fake::new(100_000);
    let others: Vec<Fake> = (0..5).map(|_| Fake::fast()).collect();
    fanout.add(stalled.clone(), start);
    for other in &others {
        fanout.add(other.clone(), start);
    }
    headers(&mut fanout, start);
    let mut ts = 0;
    for second in 0..7u64 {
        let now = start + Duration::from_secs(second);
        ts = publish(&mut fanout, now, ts, 2);
        for other in &others {
            other.drain();
        }
        if second < 4 {
            assert_eq!(fanout.len(), 6, "second {second}");
        }
    }
    let dropped = fanout.take_dropped();
    assert_eq!(dropped.len(), 1);
    assert!(matches!(dropped[0].reason, DropReason::Stalled(d) if d >= Duration::from_secs(5)));
    assert_eq!(dropped[0].id, PlayerId(1));
    for other in &others {
        assert_eq!(other.received().len(), 3 + 7 * 12);
    }
}

#[test]
fn tick_drops_a_stalled_player_while_no_media_flows() {
    let start = Instant::now();
    let mut fanout = fanout();
    let stalled = Fake::new(100_000);
    fanout.add(stalled.clone(), start);
    headers(&mut fanout, start);
    publish(&mut fanout, start, 0, 1);
    fanout.tick(start + Duration::from_secs(4));
    assert_eq!(fanout.len(), 1);
    fanout.tick(start + Duration::from_secs(6));
    assert_eq!(fanout.len(), 0);
    assert_eq!(fanout.take_dropped().len(), 1);
}

#[test]
fn a_player_with_an_empty_queue_is_never_stalled() {
    let start = Instant::now();
    let mut fanout = fanout();
    fanout.add(Fake::fast(), start);
    fanout.tick(start + Duration::from_secs(60));
    assert_eq!(fanout.len(), 1);
}

#[test]
fn a_player_that_overflows_too_often_in_a_row_is_dropped() {
    let now = Instant::now();
    let config = FanoutConfig {
        max_overflows: 3,
        stall_timeout: Duration::from_secs(3600),
        ..FanoutConfig::default()
    };
    let mut fanout = Fanout::new(config);
    // Takes the headers and a little, then never drains.
    let slow = Fake::new(150);
    fanout.add(slow.clone(), now);
    headers(&mut fanout, now);
    for gop in 0..2 {
        fanout.push(frame(gop * 120, true, 100), now);
        fanout.push(frame(gop * 120 + 40, false, 100), now);
    }
    assert_eq!(fanout.len(), 1);
    fanout.push(frame(240, true, 100), now);
    assert_eq!(fanout.len(), 0);
    let dropped = fanout.take_dropped();
    assert_eq!(dropped[0].reason, DropReason::Overflowed(3));
}

#[test]
fn resuming_at_a_keyframe_resets_the_count() {
    let now = Instant::now();
    let config = FanoutConfig {
        max_overflows: 2,
        stall_timeout: Duration::from_secs(3600),
        ..FanoutConfig::default()
    };
    let mut fanout = Fanout::new(config);
    let slow = Fake::new(250);
    fanout.add(slow.clone(), now);
    headers(&mut fanout, now);
    for gop in 0..10 {
        fanout.push(frame(gop * 120, true, 100), now);
        fanout.push(frame(gop * 120 + 40, false, 100), now);
        fanout.push(frame(gop * 120 + 80, false, 100), now); // overflows once per GOP
        slow.drain();
    }
    assert_eq!(fanout.len(), 1);
    assert!(fanout.take_dropped().is_empty());
}

#[test]
fn a_gop_larger_than_the_cache_is_not_kept_and_joiners_wait_for_the_next_keyframe() {
    let now = Instant::now();
    let config = FanoutConfig {
        cache_bytes: 1000,
        ..FanoutConfig::default()
    };
    let mut fanout = Fanout::new(config);
    headers(&mut fanout, now);
    fanout.push(frame(0, true, 400), now);
    fanout.push(frame(40, false, 400), now);
    assert_eq!(fanout.cached_bytes(), 800);
    fanout.push(frame(80, false, 400), now);
    assert_eq!(fanout.cached_bytes(), 0);
    fanout.push(frame(120, false, 400), now);
    assert_eq!(fanout.cached_bytes(), 0);
    let player = Fake::fast();
    fanout.add(player.clone(), now);
    fanout.push(frame(160, false, 400), now);
    assert!(player.received().is_empty());
    fanout.push(frame(200, true, 400), now);
    assert_eq!(
        player.received(),
        [
            Got::Metadata(200),
            Got::VideoHeader(200, 1),
            Got::AudioHeader(200, 1),
            Got::Key(200)
        ]
    );
    assert_eq!(fanout.cached_bytes(), 400);
}

#[test]
fn a_joiner_whose_queue_fills_during_the_cached_gop_waits_for_the_next_keyframe() {
    let now = Instant::now();
    let mut fanout = fanout();
    headers(&mut fanout, now);
    fanout.push(frame(0, true, 100), now);
    fanout.push(frame(40, false, 100), now);
    fanout.push(frame(80, false, 100), now);
    let small = Fake::new(150);
    fanout.add(small.clone(), now);
    small.drain();
    // Not a starting point for it, although it is the next tag.
    fanout.push(frame(120, false, 100), now);
    fanout.push(frame(160, true, 100), now);
    let got = small.received();
    assert_eq!(got[3..], [Got::Key(0), Got::Key(160)], "{got:?}");
}

#[test]
fn a_player_that_left_is_dropped_with_the_connection_error() {
    let now = Instant::now();
    let mut fanout = fanout();
    let gone = Fake::fast();
    let stays = Fake::fast();
    let gone_id = fanout.add(gone.clone(), now);
    fanout.add(stays.clone(), now);
    headers(&mut fanout, now);
    gone.close();
    publish(&mut fanout, now, 0, 1);
    let dropped = fanout.take_dropped();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].id, gone_id);
    assert_eq!(
        dropped[0].reason,
        DropReason::Closed(ConnectionError::Closed)
    );
    assert_eq!(stays.received().len(), 3 + 6);
}

#[test]
fn removing_players() {
    let now = Instant::now();
    let mut fanout = fanout();
    let a = fanout.add(Fake::fast(), now);
    fanout.add(Fake::fast(), now);
    assert!(fanout.remove(a).is_some());
    assert!(fanout.remove(a).is_none());
    assert_eq!(fanout.remove_all().len(), 1);
    assert!(fanout.is_empty());
}

#[test]
fn a_joiner_gets_the_headers_of_the_gops_start_and_a_change_within_it_in_place() {
    let now = Instant::now();
    let mut fanout = fanout();
    headers(&mut fanout, now);
    fanout.push(frame(0, true, 100), now);
    fanout.push(audio(1), now);
    // Audio caps change within the GOP (found by the property test).
    fanout.push(audio_header(20, 2), now);
    fanout.push(audio(21), now);
    let late = Fake::fast();
    fanout.add(late.clone(), now);
    assert_eq!(
        late.received(),
        [
            Got::Metadata(0),
            Got::VideoHeader(0, 1),
            Got::AudioHeader(0, 1),
            Got::Key(0),
            Got::Audio(1),
            Got::AudioHeader(20, 2),
            Got::Audio(21),
        ]
    );
    // Later joiners of the next GOP get the new one first.
    fanout.push(frame(40, true, 100), now);
    let later = Fake::fast();
    fanout.add(later.clone(), now);
    assert_eq!(later.received()[2], Got::AudioHeader(40, 2));
}
