use super::*;
use bytes::Bytes;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn the_property_is_parsed_and_checked() {
    let list = parse("hd:3500, sd:1000,ld:300").unwrap();
    assert_eq!(
        list,
        vec![
            Rendition {
                name: "hd".into(),
                kbps: 3500
            },
            Rendition {
                name: "sd".into(),
                kbps: 1000
            },
            Rendition {
                name: "ld".into(),
                kbps: 300
            },
        ]
    );
    for (bad, why) in [
        ("hd", "not name:kbps"),
        ("hd:3500", "at least two"),
        ("hd:fast,sd:1", "positive"),
        ("hd:0,sd:1", "positive"),
        (":3500,sd:1", "no stream name"),
        ("sd:1000,hd:3500", "highest bitrate to the lowest"),
        ("hd:3500,hd:1000", "twice"),
        ("", "not name:kbps"),
    ] {
        let err = parse(bad).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// Feeds `secs` of a stream at `kbps` over a link of `link_kbps`: 25 messages a second, each
/// arriving when the link has carried it (queued behind the previous ones), with a large
/// keyframe every second. Returns the decisions with their times.
struct Sim {
    policy: Policy,
    now: Duration,
    media_ms: i64,
    /// When the link is free again.
    link_free: Duration,
}

impl Sim {
    fn new(current: usize) -> Self {
        Sim {
            policy: Policy::new(vec![3500, 1000, 300], current),
            now: Duration::ZERO,
            media_ms: 0,
            link_free: Duration::ZERO,
        }
    }

    fn run(&mut self, secs: u64, link_kbps: u64) -> Vec<(Duration, Decision)> {
        let mut out = Vec::new();
        for i in 0..secs * 25 {
            let kbps = u64::from(self.policy.kbps[self.policy.current()]);
            // A keyframe of 1/4 of the second's bytes, the rest spread over the other frames.
            let second_bytes = kbps * 1000 / 8;
            let bytes = if i % 25 == 0 {
                second_bytes / 4
            } else {
                second_bytes * 3 / 4 / 24
            } as usize;
            let sent = ms(self.media_ms as u64);
            let start = sent.max(self.link_free);
            let arrival = start + Duration::from_micros(bytes as u64 * 8 * 1000 / link_kbps);
            let gap = arrival.saturating_sub(self.now.max(start.min(arrival)));
            let gap = if self.link_free > sent {
                arrival - start
            } else {
                gap.max(arrival - start)
            };
            self.link_free = arrival;
            self.now = arrival.max(self.now);
            self.policy.on_bytes(self.now, bytes);
            self.policy.on_media_time(self.now, self.media_ms);
            self.policy.on_burst(self.now, bytes, gap);
            if let Some(d) = self.policy.tick(self.now) {
                // The switch completes at once, at the live edge: the backlog is gone.
                self.link_free = self.now;
                self.media_ms = self.now.as_millis() as i64;
                self.policy.switched(self.now, &d);
                out.push((self.now, d));
            }
            self.media_ms += 40;
        }
        out
    }
}

#[test]
fn a_narrow_link_steps_down_to_what_fits_and_a_wide_one_back_up() {
    let mut sim = Sim::new(0);
    assert_eq!(sim.run(10, 10_000), vec![], "3.5 Mbit/s fits 10 Mbit/s");
    let down = sim.run(20, 1500);
    let (at, d) = down[0];
    assert_eq!(d.reason, Reason::Congestion, "{down:?}");
    assert!(d.to > 0);
    assert!(at < ms(10_000 + 3000), "down within 3 s: {at:?}");
    assert!(
        (900..=1700).contains(&d.estimate_kbps),
        "the estimate is the link: {}",
        d.estimate_kbps
    );
    // It settles on what fits 1.5 Mbit/s (sd; from ld a probe finds room for it) and stays:
    // the bursts show 1.5 Mbit/s, not room for hd.
    assert_eq!(sim.policy.current(), 1, "{down:?}");
    assert!(down.len() <= 2, "{down:?}");
    assert_eq!(sim.run(20, 1500), vec![]);
    let up = sim.run(15, 10_000);
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!((up[0].1.to, up[0].1.reason), (0, Reason::Probe));
    assert!(up[0].0 < ms(50_000 + 8000), "up within 8 s: {:?}", up[0].0);
    assert_eq!(sim.run(20, 10_000), vec![], "hd holds on 10 Mbit/s");
}

/// The first decision on a steady stream of `bytes` every 40 ms whose large messages each
/// arrive `gap` after the one before, on rendition `current`, within 20 s.
fn first_decision(current: usize, bytes: usize, gap: Duration) -> Option<(Duration, Decision)> {
    let mut policy = Policy::new(vec![3500, 1000, 300], current);
    for media in (0..20_000).step_by(40) {
        let now = ms(media);
        policy.on_bytes(now, bytes);
        policy.on_media_time(now, media as i64);
        policy.on_burst(now, bytes, gap);
        if let Some(d) = policy.tick(now) {
            return Some((now, d));
        }
    }
    None
}

#[test]
fn a_rendition_that_cannot_measure_the_link_still_probes_up() {
    // ld at 300 kbit/s in 1.5 KB messages: none is large enough to measure a burst rate.
    let ld = first_decision(2, 1500, ms(40));
    // sd in clumps, as node-media-server sends: the first large message of each clump comes
    // 140 ms after the last one, "measuring" 290 kbit/s on a link that carries sd's 1000.
    let sd = first_decision(1, 5000, ms(140));
    for (what, decision, to) in [("ld", ld, 1), ("sd", sd, 0)] {
        let (at, d) = decision.unwrap_or_else(|| panic!("a probe up from {what}"));
        assert_eq!((d.to, d.reason), (to, Reason::Probe), "{what}");
        assert!(at >= STABLE && at < STABLE + ms(1000), "{what}: {at:?}");
    }
    // A burst rate at the link's (1.25 Mbit/s, 5 KB in 32 ms) measures it: no room for hd.
    assert_eq!(first_decision(1, 5000, ms(32)), None);
}

/// hd for 5 s on a link that carries it, then a stall of `stall_ms`, then media that arrives
/// `behind_ms` later than before each 40 ms for 2 s: the first decision.
fn after_a_stall(stall_ms: u64, behind_ms: i64) -> Option<Decision> {
    let mut policy = Policy::new(vec![3500, 1000, 300], 0);
    let mut media = 0i64;
    let mut now = Duration::ZERO;
    for _ in 0..(5 * 25) {
        now += ms(40);
        media += 40;
        policy.on_bytes(now, 17_500);
        policy.on_media_time(now, media);
        policy.on_burst(now, 17_500, ms(20));
        assert_eq!(policy.tick(now), None);
    }
    now += ms(stall_ms);
    let mut late = stall_ms as i64;
    for _ in 0..50 {
        media += 40;
        policy.on_bytes(now, 17_500);
        policy.on_media_time(now, media - late);
        if let Some(d) = policy.tick(now) {
            return Some(d);
        }
        late = (late + behind_ms).max(0);
        // What queued in the stall arrives at once, then the rest as it comes.
        if late > 0 && behind_ms < 0 {
            now += ms(5);
        } else {
            now += ms(40);
        }
    }
    None
}

#[test]
fn a_stall_the_link_catches_up_on_is_not_congestion() {
    // A second without media (the link's queue overflowed), then the backlog in a burst.
    assert_eq!(after_a_stall(1000, -35), None);
}

#[test]
fn lateness_that_lasts_after_a_stall_steps_down_one_rendition_not_to_the_lowest() {
    // The same stall, then media falling further behind: nothing arrived while it was late at
    // first, so the link is not measured and it steps down one rendition.
    let d = after_a_stall(1000, 10).expect("a step down");
    assert_eq!((d.to, d.reason), (1, Reason::Congestion), "{d:?}");
}

#[test]
fn a_failed_probe_goes_back_down_and_waits_twice_as_long() {
    // The link carries 2.5 Mbit/s but bursts look like 10 (a shaper with a deep burst).
    let mut policy = Policy::new(vec![3500, 1000, 300], 1);
    let mut now = Duration::ZERO;
    let mut decisions = Vec::new();
    let mut media = 0i64;
    let mut late = 0i64;
    for _ in 0..(60 * 25) {
        now += ms(40);
        media += 40;
        let hd = policy.current() == 0;
        // On hd, media falls behind by 0.4 s each second.
        if hd {
            late += 16;
        }
        // What the link carries of each: 2.5 of hd's 3.5 Mbit/s, all of sd's 1.
        policy.on_bytes(now, if hd { 12_500 } else { 5000 });
        policy.on_media_time(now, media - late);
        policy.on_burst(now, 40_000, ms(32));
        if let Some(d) = policy.tick(now) {
            policy.switched(now, &d);
            if !hd {
                late = 0;
            }
            decisions.push((now, d.to, d.reason));
        }
    }
    let reasons: Vec<_> = decisions.iter().map(|&(_, to, r)| (to, r)).collect();
    assert_eq!(
        &reasons[..4],
        &[
            (0, Reason::Probe),
            (1, Reason::ProbeFailed),
            (0, Reason::Probe),
            (1, Reason::ProbeFailed)
        ],
        "{decisions:?}"
    );
    let first_wait = decisions[2].0 - decisions[1].0;
    let first = decisions[0].0;
    assert!(first >= STABLE, "{first:?}");
    assert!(first_wait >= STABLE * 2, "backoff: {first_wait:?}");
    if decisions.len() > 4 {
        assert!(decisions[4].0 - decisions[3].0 >= STABLE * 4);
    }
}

fn video(ts: u32, part: VideoPart, tag: u8) -> SessionEvent {
    let body = match part {
        VideoPart::SequenceHeader => vec![0x17, 0, 0, 0, 0, tag],
        VideoPart::Keyframe => vec![0x17, 1, 0, 0, 0, tag],
        _ => vec![0x27, 1, 0, 0, 0, tag],
    };
    SessionEvent::Media {
        kind: MediaKind::Video,
        timestamp: ts,
        payload: Bytes::from(body),
    }
}

fn audio(ts: u32, header: bool) -> SessionEvent {
    SessionEvent::Media {
        kind: MediaKind::Audio,
        timestamp: ts,
        payload: Bytes::from(vec![0xAF, if header { 0 } else { 1 }, 9]),
    }
}

fn ts(event: &SessionEvent) -> u32 {
    match event {
        SessionEvent::Media { timestamp, .. } | SessionEvent::Data { timestamp, .. } => *timestamp,
        _ => panic!(),
    }
}

#[test]
fn a_new_rendition_continues_the_old_timeline_at_its_keyframe() {
    let mut splice = Splice::default();
    for i in 0..10u32 {
        assert!(
            splice
                .played(video(1000 + i * 40, VideoPart::Frame, 1))
                .is_some()
        );
        assert!(splice.played(audio(1000 + i * 40 + 10, false)).is_some());
    }
    // Last old video 1360, audio 1370. The candidate starts far away on its own timeline.
    assert_eq!(
        splice.candidate(video(90_000, VideoPart::SequenceHeader, 2)),
        None
    );
    assert_eq!(splice.candidate(audio(90_000, true)), None);
    assert_eq!(
        splice.candidate(video(90_000, VideoPart::Frame, 2)),
        None,
        "before the keyframe"
    );
    let cut = splice
        .candidate(video(90_040, VideoPart::Keyframe, 2))
        .unwrap();
    assert_eq!(cut.len(), 3, "{cut:?}");
    assert!(
        matches!(&cut[0], SessionEvent::Media { kind: MediaKind::Video, payload, .. } if payload[1] == 0)
    );
    assert!(matches!(
        &cut[1],
        SessionEvent::Media {
            kind: MediaKind::Audio,
            ..
        }
    ));
    assert_eq!(
        cut.iter().map(ts).collect::<Vec<_>>(),
        vec![1400, 1400, 1400]
    );
    // The new stream's later media keeps its spacing; audio not after the old audio is dropped.
    assert_eq!(splice.played(audio(90_000, false)), None);
    assert_eq!(
        splice
            .played(video(90_080, VideoPart::Frame, 2))
            .map(|e| ts(&e)),
        Some(1440)
    );
    assert_eq!(
        splice.played(audio(90_040, false)).map(|e| ts(&e)),
        Some(1400)
    );
    // A second switch builds on the first.
    let cut = splice.candidate(video(5, VideoPart::Keyframe, 3)).unwrap();
    assert_eq!(cut.iter().map(ts).collect::<Vec<_>>(), vec![1480]);
    assert_eq!(
        splice
            .played(video(45, VideoPart::Frame, 3))
            .map(|e| ts(&e)),
        Some(1520)
    );
}

#[test]
fn video_bodies_are_told_apart() {
    assert_eq!(video_part(&[0x17, 0]), VideoPart::SequenceHeader);
    assert_eq!(video_part(&[0x17, 1]), VideoPart::Keyframe);
    assert_eq!(video_part(&[0x27, 1]), VideoPart::Frame);
    assert_eq!(video_part(&[0x17, 2]), VideoPart::Other);
    // Enhanced RTMP: key frame, packet type 1 (coded frames) / 0 (sequence start).
    assert_eq!(
        video_part(&[0x91, b'h', b'v', b'c', b'1']),
        VideoPart::Keyframe
    );
    assert_eq!(
        video_part(&[0x90, b'a', b'v', b'0', b'1']),
        VideoPart::SequenceHeader
    );
    assert_eq!(video_part(&[0xA3]), VideoPart::Frame);
    assert_eq!(video_part(&[]), VideoPart::Other);
}

#[test]
fn with_b_frames_the_keyframe_is_shown_after_the_old_streams_last_picture() {
    let frame = |ts: u32, cts: u32, key: bool| SessionEvent::Media {
        kind: MediaKind::Video,
        timestamp: ts,
        payload: Bytes::from(vec![
            if key { 0x17 } else { 0x27 },
            1,
            0,
            (cts >> 8) as u8,
            cts as u8,
        ]),
    };
    // DTS 1000..1120 every 40 ms; the last frame decoded is shown 80 ms later.
    let mut splice = Splice::default();
    for (ts, cts) in [(1000, 80), (1040, 0), (1080, 0), (1120, 80)] {
        splice.played(frame(ts, cts, false)).unwrap();
    }
    // A keyframe shown 40 ms after it is decoded: DTS continuing at 1160 shows it at 1200,
    // which would be the old last picture's time; it goes one frame after that instead.
    let cut = splice.candidate(frame(5000, 40, true)).unwrap();
    assert_eq!(
        ts(&cut[0]) + 40,
        1120 + 80 + 40,
        "PTS follows the old last picture"
    );
    assert!(ts(&cut[0]) > 1120, "DTS goes on");
    // A keyframe without reordering: DTS continuity is what decides.
    let mut splice = Splice::default();
    for (ts, cts) in [(1000, 0), (1040, 0)] {
        splice.played(frame(ts, cts, false)).unwrap();
    }
    let cut = splice.candidate(frame(7, 0, true)).unwrap();
    assert_eq!(ts(&cut[0]), 1080);
}

#[test]
fn a_late_stream_skips_ahead_at_its_next_keyframe() {
    let mut splice = Splice::default();
    for i in 0..5u32 {
        splice.played(video(1000 + i * 40, VideoPart::Frame, 1));
        splice.played(audio(1000 + i * 40 + 10, false));
    }
    // The cut-over itself continues the timeline: the next frame's time, 1200.
    let cut = splice
        .candidate(video(520, VideoPart::Keyframe, 2))
        .unwrap();
    assert_eq!(cut.iter().map(ts).collect::<Vec<_>>(), vec![1200]);
    // Still 1.5 s late once caught up: from the next keyframe on, 1.5 s ahead. Frames before
    // it keep their times, audio after it moves along.
    splice.skip_ahead(1500);
    assert!(splice.skipping());
    assert_eq!(
        splice
            .played(video(560, VideoPart::Frame, 2))
            .map(|e| ts(&e)),
        Some(1240)
    );
    assert_eq!(
        splice
            .played(video(600, VideoPart::Keyframe, 2))
            .map(|e| ts(&e)),
        Some(2780)
    );
    assert!(!splice.skipping());
    assert_eq!(splice.played(audio(610, false)).map(|e| ts(&e)), Some(2790));
    assert_eq!(
        splice
            .played(video(640, VideoPart::Frame, 2))
            .map(|e| ts(&e)),
        Some(2820)
    );
    // Once: the next keyframe keeps its spacing.
    assert_eq!(
        splice
            .played(video(680, VideoPart::Keyframe, 2))
            .map(|e| ts(&e)),
        Some(2860)
    );
}

/// Feeds a probed rendition's video, 30 frames a second with a keyframe every second of
/// media: the first `cached_ms` (a server's cached GOP) arriving at `cached_speed` times real
/// time, the rest at `live_speed`. Returns the verdict that ended the wait, and the arrival
/// and media time of the frame it came on.
fn probe(cached_ms: i64, cached_speed: f64, live_speed: f64) -> (ProbeVerdict, Duration, i64) {
    let mut watch = ProbeWatch::default();
    let mut arrival = 0.0f64;
    for frame in 0..900i64 {
        let media = frame * 1000 / 30;
        let verdict = watch.on_video(ms(arrival as u64), media, frame % 30 == 0);
        if verdict != ProbeVerdict::Wait {
            return (verdict, ms(arrival as u64), media);
        }
        let speed = if media < cached_ms {
            cached_speed
        } else {
            live_speed
        };
        arrival += 1000.0 / 30.0 / speed;
    }
    panic!("no verdict in 30 s of media");
}

#[test]
fn a_probe_cuts_over_at_a_live_keyframe_after_the_cached_gop() {
    // A cached GOP crossing a wide link at four times real time, then live media.
    let (verdict, at, media) = probe(1000, 4.0, 1.0);
    assert_eq!(verdict, ProbeVerdict::CutOver);
    assert!(media >= 1000, "cut at the cache's keyframe ({media} ms)");
    assert!(at >= PROBE_MEASURE, "cut after {at:?}");
    // A server without a cache starts live: the keyframe a second in.
    let (verdict, at, media) = probe(0, 1.0, 1.0);
    assert_eq!(verdict, ProbeVerdict::CutOver);
    assert_eq!(media, 1000);
    assert!(at < ms(1100), "{at:?}");
}

#[test]
fn a_probe_read_slowly_cuts_over_only_once_past_the_cached_gop() {
    // rtmpsrc reads a probe at twice its bitrate: a cached GOP of 2.5 s comes at about 1.5
    // times real time, so keyframes still in it arrive after the measuring time.
    let (verdict, at, media) = probe(2500, 1.5, 1.0);
    assert_eq!(verdict, ProbeVerdict::CutOver);
    assert!(media >= 2500, "cut at a cached keyframe ({media} ms)");
    assert!(at < ms(2800), "cut only after {at:?}");
}

#[test]
fn a_probe_the_link_cannot_carry_fails_before_any_cut_over() {
    // The cached GOP crawls at 0.45 of real time (3.4 Mbit/s on a 1.5 Mbit/s link), and so
    // does live media.
    let (verdict, at, _) = probe(1000, 0.45, 0.45);
    assert_eq!(verdict, ProbeVerdict::Failed);
    assert!(at < ms(1500), "failed only after {at:?}");
}

#[test]
fn a_failed_probe_does_not_count_as_congestion_on_the_played_rendition() {
    let mut policy = Policy::new(vec![3000, 1000, 300], 1);
    // Played on time, then held up 900 ms by the probe's bytes.
    for i in 0..100u64 {
        policy.on_media_time(ms(i * 33), (i * 33) as i64);
    }
    let start = policy.tick(ms(6000)).expect("a probe up");
    assert_eq!(start.reason, Reason::Probe);
    policy.on_media_time(ms(7000), 6100);
    policy.probe_failed(ms(7000));
    // Late against its best before the probe, not against now: draining, no step down.
    for i in 0..100u64 {
        let t = 7000 + i * 33;
        policy.on_media_time(ms(t), 6100 + (i * 36) as i64);
        assert_eq!(policy.tick(ms(t)), None, "at {t} ms");
    }
}

/// Media on time for 3 s, then `jump_ms` late at once (a probe's or a stall's backlog in the
/// way), then lateness changing by `then_ms_per_s` for 4 s: the first decision.
fn after_a_jump(jump_ms: i64, then_ms_per_s: i64) -> Option<Decision> {
    let mut policy = Policy::new(vec![3000, 1000, 300], 0);
    let mut decision = None;
    for i in 0..210i64 {
        let t = i * 33;
        let lateness = match t {
            ..3000 => 0,
            _ => (jump_ms + then_ms_per_s * (t - 3000) / 1000).max(0),
        };
        policy.on_bytes(ms(t as u64), 4000);
        policy.on_media_time(ms(t as u64), t - lateness);
        decision = decision.or(policy.tick(ms(t as u64)));
    }
    decision
}

#[test]
fn lateness_that_drains_is_not_congestion_and_lateness_that_stays_is() {
    assert_eq!(after_a_jump(900, -400), None);
    for then in [0, 300] {
        let d = after_a_jump(900, then).expect("a step down");
        assert_eq!(d.reason, Reason::Congestion);
    }
}

#[test]
fn a_hiccup_of_the_probed_rendition_is_not_a_failed_probe() {
    // Live frames on a wide link, then nothing for 800 ms (a publisher's hiccup), then the
    // frames held up in a burst and on as before.
    let mut watch = ProbeWatch::default();
    let mut verdicts = Vec::new();
    for frame in 0..60i64 {
        let media = frame * 1000 / 30;
        let mut arrival = media as u64;
        if frame >= 10 {
            arrival = arrival.max(1133 + (frame as u64 - 10) * 5);
        }
        verdicts.push(watch.on_video(ms(arrival), media, frame % 30 == 0));
    }
    assert!(!verdicts.contains(&ProbeVerdict::Failed), "{verdicts:?}");
    assert_eq!(verdicts[30], ProbeVerdict::CutOver);
}
