//! Property tests of the fan-out: whatever the stream and however players join, stall, drain
//! and leave, each player receives something a decoder can play from its first frame on.
//!
//! Every published tag carries its index in the stream, so a player's received sequence can be
//! checked against what was published: media in order, each run after a skip starting at a
//! keyframe (any frame for audio-only streams), each frame preceded by the sequence header that
//! was current when it was published, timestamps never going back, and the cache within bounds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::protocol::chunk::Payload;

#[derive(Debug, Clone, Copy)]
enum Op {
    Key(usize),
    Inter(usize),
    Audio,
    VideoHeader,
    AudioHeader,
    Metadata,
    /// A player joins with a queue of this many bytes.
    Join(usize),
    /// Player `n % players` has its queue written out.
    Drain(usize),
    /// Player `n % players` leaves.
    Leave(usize),
    /// Time passes (ms), for stall detection.
    Wait(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (10..3000usize).prop_map(Op::Key),
        12 => (10..1500usize).prop_map(Op::Inter),
        8 => Just(Op::Audio),
        1 => Just(Op::VideoHeader),
        1 => Just(Op::AudioHeader),
        1 => Just(Op::Metadata),
        2 => (50..20_000usize).prop_map(Op::Join),
        6 => any::<usize>().prop_map(Op::Drain),
        1 => any::<usize>().prop_map(Op::Leave),
        2 => (0..3000u64).prop_map(Op::Wait),
    ];
    prop::collection::vec(op, 0..200)
}

/// What kind a published tag was, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Key,
    Inter,
    Audio,
    VideoHeader,
    AudioHeader,
    Metadata,
}

#[derive(Default)]
struct QueueState {
    bound: usize,
    queued: usize,
    /// Indexes of the tags received (in the body), and their timestamps.
    received: Vec<(u32, u32)>,
    closed: bool,
}

#[derive(Clone)]
struct Queue(Arc<Mutex<QueueState>>);

impl PlayerQueue for Queue {
    fn try_send(&self, item: Outgoing) -> Result<bool, ConnectionError> {
        let mut state = self.0.lock().unwrap();
        if state.closed {
            return Err(ConnectionError::Closed);
        }
        let (timestamp, payload) = match item {
            Outgoing::Audio { timestamp, payload }
            | Outgoing::Video { timestamp, payload }
            | Outgoing::Data { timestamp, payload } => (timestamp, payload),
            other => panic!("unexpected {other:?}"),
        };
        if state.queued > 0 && state.queued + payload.len() > state.bound {
            return Ok(false);
        }
        state.queued += payload.len();
        let bytes = payload.to_bytes();
        let index = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        state.received.push((index, timestamp));
        Ok(true)
    }

    fn queued_bytes(&self) -> usize {
        self.0.lock().unwrap().queued
    }
}

/// A tag body: the FLV codec header bytes of its kind, then its index, padded to `size`.
fn body(kind: Kind, index: u32, size: usize) -> Vec<u8> {
    let mut body = match kind {
        Kind::Key => vec![0x17, 1, 0, 0, 0],
        Kind::Inter => vec![0x27, 1, 0, 0, 0],
        Kind::VideoHeader => vec![0x17, 0, 0, 0, 0],
        Kind::Audio => vec![0xAF, 1, 0, 0, 0],
        Kind::AudioHeader => vec![0xAF, 0, 0, 0, 0],
        Kind::Metadata => vec![2, 0, 0, 0, 0],
    };
    body.extend_from_slice(&index.to_be_bytes());
    body.resize(size.max(body.len()), 0xAB);
    body
}

fn check_player(published: &[Kind], has_video_at: &[bool], received: &[(u32, u32)]) {
    let media = |kind: Kind| matches!(kind, Kind::Key | Kind::Inter | Kind::Audio);
    let mut last_ts = 0;
    let mut last_media: Option<usize> = None;
    let mut video_header: Option<usize> = None;
    let mut audio_header: Option<usize> = None;
    for &(index, timestamp) in received {
        let index = index as usize;
        let kind = published[index];
        assert!(timestamp >= last_ts, "timestamps went back: {received:?}");
        last_ts = timestamp;
        match kind {
            Kind::VideoHeader => video_header = Some(index),
            Kind::AudioHeader => audio_header = Some(index),
            Kind::Metadata => {}
            _ => {}
        }
        if !media(kind) {
            continue;
        }
        // Media in publishing order; a gap in it (media skipped) ends at a starting point.
        let skipped = match last_media {
            None => true,
            Some(last) => {
                assert!(index > last, "media out of order: {received:?}");
                published[last + 1..index].iter().any(|k| media(*k))
            }
        };
        if skipped {
            let start_ok = if has_video_at[index] {
                kind == Kind::Key
            } else {
                true
            };
            assert!(
                start_ok,
                "resumed at {kind:?} (tag {index}): {received:?} of {published:?}"
            );
        }
        last_media = Some(index);
        // The header current when this frame was published reached the player before it.
        let current = |header: Kind| published[..index].iter().rposition(|k| *k == header);
        let expected = match kind {
            Kind::Audio => (current(Kind::AudioHeader), audio_header),
            _ => (current(Kind::VideoHeader), video_header),
        };
        assert_eq!(
            expected.0, expected.1,
            "tag {index} ({kind:?}) without its header: {received:?} of {published:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_player_can_decode_from_its_first_frame(ops in ops()) {
        let start = Instant::now();
        let config = FanoutConfig {
            cache_bytes: 8000,
            stall_timeout: Duration::from_secs(2),
            max_overflows: 3,
        };
        let mut fanout = Fanout::new(config);
        let mut now = start;
        let mut published: Vec<Kind> = Vec::new();
        let mut has_video_at: Vec<bool> = Vec::new();
        let mut has_video = false;
        let mut queues: Vec<Queue> = Vec::new();
        let mut ts = 0u32;
        for op in ops {
            let (kind, size) = match op {
                Op::Key(size) => (Kind::Key, size),
                Op::Inter(size) => (Kind::Inter, size),
                Op::Audio => (Kind::Audio, 20),
                Op::VideoHeader => (Kind::VideoHeader, 30),
                Op::AudioHeader => (Kind::AudioHeader, 9),
                Op::Metadata => (Kind::Metadata, 40),
                Op::Join(bound) => {
                    let queue = Queue(Arc::new(Mutex::new(QueueState { bound, ..Default::default() })));
                    fanout.add(queue.clone(), now);
                    queues.push(queue);
                    continue;
                }
                Op::Drain(n) => {
                    if !queues.is_empty() {
                        let len = queues.len();
                        queues[n % len].0.lock().unwrap().queued = 0;
                    }
                    continue;
                }
                Op::Leave(n) => {
                    if !queues.is_empty() {
                        let len = queues.len();
                        queues[n % len].0.lock().unwrap().closed = true;
                    }
                    continue;
                }
                Op::Wait(ms) => {
                    now += Duration::from_millis(ms);
                    fanout.tick(now);
                    continue;
                }
            };
            has_video |= matches!(kind, Kind::Key | Kind::Inter | Kind::VideoHeader);
            let index = published.len() as u32;
            published.push(kind);
            has_video_at.push(has_video);
            let tag_type = match kind {
                Kind::Key | Kind::Inter | Kind::VideoHeader => TagType::Video,
                Kind::Audio | Kind::AudioHeader => TagType::Audio,
                Kind::Metadata => TagType::Script,
            };
            ts += 20;
            let tag = Tag {
                tag_type,
                timestamp: ts,
                body: Payload::from(Bytes::from(body(kind, index, size))),
            };
            fanout.push(tag, now);
            prop_assert!(fanout.cached_bytes() <= config.cache_bytes);
        }
        for queue in &queues {
            let received = queue.0.lock().unwrap().received.clone();
            check_player(&published, &has_video_at, &received);
        }
    }
}
