use super::*;
use crate::protocol::amf0::Amf0Value;
use crate::protocol::command::Status;
use bytes::Bytes;

fn new_playback() -> Playback {
    gst::init().unwrap();
    Playback::new()
}

fn frame(dts_ms: i64, keyframe: bool) -> Frame {
    Frame {
        data: Bytes::from_static(&[1, 2, 3]),
        dts_ms,
        pts_ms: dts_ms,
        offset_ns: 0,
        keyframe,
        discont: false,
    }
}

fn video(dts_ms: i64, keyframe: bool) -> Action {
    Action::Buffer {
        pad: StreamKind::Video.into(),
        frame: frame(dts_ms, keyframe),
    }
}

fn audio(dts_ms: i64) -> Action {
    Action::Buffer {
        pad: StreamKind::Audio.into(),
        frame: frame(dts_ms, true),
    }
}

fn status(code: &str) -> SessionEvent {
    SessionEvent::Status(Status {
        level: "status".into(),
        code: code.into(),
        description: String::new(),
    })
}

fn media(timestamp: u32) -> SessionEvent {
    SessionEvent::Media {
        kind: crate::protocol::session::MediaKind::Video,
        timestamp,
        payload: Bytes::from_static(&[0x17, 1]),
    }
}

fn request(target_ms: u64, snap: Snap) -> SeekRequest {
    gst::init().unwrap();
    let mut segment = gst::FormattedSegment::<ClockTime>::new();
    segment.set_start(ClockTime::from_mseconds(target_ms));
    segment.set_time(ClockTime::from_mseconds(target_ms));
    SeekRequest {
        segment,
        snap,
        seqnum: gst::Seqnum::next(),
    }
}

/// What came out, as text: "seg START", "v DTS", "a DTS", "eos".
fn describe(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Segment { segment, .. } => {
                format!("seg {}", segment.start().unwrap().mseconds())
            }
            Action::Buffer { pad, frame } => match pad.kind {
                StreamKind::Video => format!("v {}", frame.dts_ms),
                StreamKind::Audio => format!("a {}", frame.dts_ms),
            },
            Action::Eos(_) => "eos".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn seek(playback: &mut Playback, target_ms: u64, snap: Snap) {
    match playback.start_seek(request(target_ms, snap), Duration::ZERO) {
        // Without an index the server is asked for the target (snapping after: just before).
        SeekStart::Send(ms) => {
            assert!((target_ms.saturating_sub(1)..=target_ms).contains(&u64::from(ms)))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn media_in_flight_before_the_seek_notification_is_dropped() {
    let mut playback = new_playback();
    seek(&mut playback, 10_000, Snap::KeyBefore);
    assert!(playback.is_seeking());
    // Still from before the seek: media, the end of the old play (nginx sends StreamEOF first).
    for event in [
        media(1_000),
        SessionEvent::StreamEof,
        status("NetStream.Play.Stop"),
    ] {
        assert_eq!(playback.on_event(&event), Some(vec![]), "{event:?}");
    }
    assert_eq!(
        playback.on_event(&status("NetStream.Seek.Notify")),
        Some(vec![])
    );
    // After it, events reach the demuxer again.
    assert_eq!(playback.on_event(&SessionEvent::StreamBegin), None);
    assert_eq!(playback.on_event(&media(9_000)), None);
}

#[test]
fn key_unit_segment_starts_at_the_keyframe_and_holds_earlier_audio() {
    let mut playback = new_playback();
    seek(&mut playback, 10_500, Snap::KeyBefore);
    playback.on_event(&status("NetStream.Seek.Notify"));
    let out = playback.filter(vec![audio(9_990), audio(10_013)], true);
    assert!(out.is_empty(), "audio waits for the keyframe: {out:?}");
    // The keyframe before the target, and frames up to it: a later keyframe could still come.
    let out = playback.filter(vec![video(10_000, true), video(10_040, false)], true);
    assert!(out.is_empty(), "{out:?}");
    // Past the target: 10 s was the last keyframe before it.
    let out = playback.filter(vec![video(10_520, false)], true);
    assert_eq!(
        describe(&out),
        ["seg 10000", "v 10000", "a 10013", "v 10040", "v 10520"]
    );
    assert!(!playback.is_seeking());
    assert_eq!(playback.position_ms(), 10_520);
}

#[test]
fn the_last_keyframe_before_the_target_starts_the_segment() {
    let mut playback = new_playback();
    seek(&mut playback, 10_500, Snap::KeyBefore);
    playback.on_event(&status("NetStream.Seek.Notify"));
    // A server that lands well before the target (a coarse index).
    let out = playback.filter(
        vec![
            video(8_000, true),
            audio(8_010),
            video(9_000, true),
            audio(9_990),
            video(10_000, true),
            audio(10_010),
            video(10_040, false),
            video(11_000, true),
        ],
        true,
    );
    assert_eq!(
        describe(&out),
        ["seg 10000", "v 10000", "a 10010", "v 10040", "v 11000"]
    );
}

#[test]
fn a_server_landing_past_the_target_is_asked_again_further_back() {
    let mut playback = new_playback();
    seek(&mut playback, 10_500, Snap::KeyBefore);
    playback.on_event(&status("NetStream.Seek.Notify"));
    // nginx-rtmp's MP4 seek: the keyframe at or after the time.
    let out = playback.filter(vec![audio(10_500), video(11_000, true)], true);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(
        playback.take_server_seek(Duration::from_secs(1)),
        Some(8_500)
    );
    assert_eq!(playback.take_server_seek(Duration::from_secs(1)), None);
    // What the first landing still sends is dropped until the second confirmation.
    assert_eq!(playback.on_event(&media(11_040)), Some(vec![]));
    assert_eq!(
        playback.next_deadline(),
        Some(Duration::from_secs(1) + SEEK_NOTIFY_TIMEOUT)
    );
    playback.on_event(&status("NetStream.Seek.Notify"));
    let out = playback.filter(
        vec![
            video(9_000, true),
            video(10_000, true),
            audio(10_010),
            video(10_600, false),
        ],
        true,
    );
    assert_eq!(
        describe(&out),
        ["seg 10000", "v 10000", "a 10010", "v 10600"]
    );
}

#[test]
fn with_a_keyframe_index_the_server_is_asked_for_the_entry_before() {
    let mut playback = new_playback();
    let times = (0..20).map(|s| Amf0Value::Number(f64::from(s))).collect();
    let metadata = [
        Amf0Value::String("onMetaData".into()),
        Amf0Value::EcmaArray(vec![(
            "keyframes".into(),
            Amf0Value::Object(vec![
                ("filepositions".into(), Amf0Value::StrictArray(vec![])),
                ("times".into(), Amf0Value::StrictArray(times)),
            ]),
        )]),
    ];
    playback.read_metadata(&metadata);
    // nginx-rtmp lands on the first entry after what it is asked: 9 s gives the 10 s keyframe.
    let asked = |playback: &mut Playback, target, snap| match playback
        .start_seek(request(target, snap), Duration::ZERO)
    {
        SeekStart::Send(ms) => ms,
        other => panic!("{other:?}"),
    };
    assert_eq!(asked(&mut playback, 10_500, Snap::KeyBefore), 9_000);
    assert_eq!(asked(&mut playback, 10_000, Snap::Accurate), 9_000);
    assert_eq!(asked(&mut playback, 500, Snap::KeyBefore), 0);
    // Snapping after: just before the target, so a keyframe exactly there is taken.
    assert_eq!(asked(&mut playback, 12_000, Snap::KeyAfter), 11_999);
}

#[test]
fn accurate_segment_starts_at_the_target_and_keeps_everything() {
    let mut playback = new_playback();
    seek(&mut playback, 10_500, Snap::Accurate);
    playback.on_event(&status("NetStream.Seek.Notify"));
    let out = playback.filter(
        vec![
            audio(9_990),
            video(10_000, true),
            audio(10_013),
            video(10_520, false),
        ],
        true,
    );
    assert_eq!(
        describe(&out),
        ["seg 10500", "v 10000", "a 10013", "v 10520"]
    );
}

#[test]
fn snap_after_waits_for_a_keyframe_past_the_target() {
    let mut playback = new_playback();
    seek(&mut playback, 10_500, Snap::KeyAfter);
    playback.on_event(&status("NetStream.Seek.Notify"));
    let out = playback.filter(
        vec![
            video(10_000, true),
            audio(10_100),
            video(10_040, false),
            audio(11_010),
            video(11_000, true),
        ],
        true,
    );
    assert_eq!(describe(&out), ["seg 11000", "a 11010", "v 11000"]);
}

#[test]
fn audio_only_recordings_start_at_the_first_audio_frame() {
    let mut playback = new_playback();
    seek(&mut playback, 5_000, Snap::KeyBefore);
    playback.on_event(&status("NetStream.Seek.Notify"));
    let out = playback.filter(vec![audio(4_992), audio(5_015)], false);
    assert_eq!(describe(&out), ["seg 4992", "a 4992", "a 5015"]);
}

#[test]
fn held_audio_is_bounded_without_a_keyframe() {
    let mut playback = new_playback();
    seek(&mut playback, 5_000, Snap::KeyBefore);
    playback.on_event(&status("NetStream.Seek.Notify"));
    let frames: Vec<Action> = (0..300).map(|i| audio(5_000 + i * 23)).collect();
    let out = playback.filter(frames, true);
    assert_eq!(describe(&out)[0], "seg 5000");
    assert!(out.len() > 100, "{}", out.len());
}

#[test]
fn seeking_past_the_end_ends_without_asking_the_server() {
    let mut playback = new_playback();
    playback.set_duration_ms(20_000);
    let SeekStart::Done(actions) =
        playback.start_seek(request(25_000, Snap::KeyBefore), Duration::ZERO)
    else {
        panic!("the server must not be asked");
    };
    assert_eq!(describe(&actions), ["seg 25000", "eos"]);
    // Frames that still come are not pushed after the EOS.
    assert!(playback.filter(vec![video(19_000, true)], true).is_empty());
}

#[test]
fn a_failed_seek_ends_the_stream() {
    let mut playback = new_playback();
    seek(&mut playback, 50_000, Snap::KeyBefore);
    let out = playback
        .on_event(&status("NetStream.Seek.InvalidTime"))
        .unwrap();
    assert_eq!(describe(&out), ["seg 50000", "eos"]);
}

#[test]
fn a_recording_ending_before_any_frame_after_a_seek_still_gets_a_segment() {
    let mut playback = new_playback();
    seek(&mut playback, 19_900, Snap::KeyBefore);
    playback.on_event(&status("NetStream.Seek.Notify"));
    let out = playback.filter(vec![Action::Eos(EndReason::StreamEof)], true);
    assert_eq!(describe(&out), ["seg 19900", "eos"]);
    // One EOS only.
    assert!(
        playback
            .filter(vec![Action::Eos(EndReason::StreamEof)], true)
            .is_empty()
    );
}

#[test]
fn resume_drops_what_was_already_pushed_and_continues_without_discont() {
    let mut playback = new_playback();
    let out = playback.filter(
        vec![video(0, true), audio(10), video(40, false), audio(33)],
        true,
    );
    assert_eq!(out.len(), 4);
    assert_eq!(playback.position_ms(), 40);
    let position = playback.start_resume(Duration::ZERO, true).unwrap();
    assert_eq!(position, 40);
    // A resume flushes nothing: what was still on its way goes on (through the repeat filter).
    assert_eq!(playback.on_event(&media(80)), None);
    let out = playback.filter(vec![video(40, false), video(60, false)], true);
    assert_eq!(describe(&out), ["v 60"]);
    // The rest of the old play (StreamEOF of nginx's seek) is not the end.
    assert_eq!(playback.on_event(&SessionEvent::StreamEof), Some(vec![]));
    playback.on_event(&status("NetStream.Seek.Notify"));
    // The server restarts at the keyframe before the position.
    let mut restart = vec![video(0, true), audio(10), video(40, false), audio(33)];
    restart.push(Action::Buffer {
        pad: StreamKind::Video.into(),
        frame: Frame {
            discont: true,
            ..frame(80, false)
        },
    });
    restart.push(audio(56));
    let out = playback.filter(restart, true);
    assert_eq!(describe(&out), ["v 80", "a 56"]);
    let Action::Buffer { frame, .. } = &out[0] else {
        unreachable!()
    };
    assert!(!frame.discont, "a resume is no discontinuity");
}

#[test]
fn segment_stop_ends_the_stream_once() {
    let mut playback = new_playback();
    let mut request = request(0, Snap::Accurate);
    request.segment.set_stop(ClockTime::from_mseconds(1_000));
    let SeekStart::Send(_) = playback.start_seek(request, Duration::ZERO) else {
        panic!()
    };
    playback.on_event(&status("NetStream.Seek.Notify"));
    let out = playback.filter(
        vec![
            video(0, true),
            video(960, false),
            video(1_000, false),
            video(1_040, false),
        ],
        true,
    );
    assert_eq!(describe(&out), ["seg 0", "v 0", "v 960", "eos"]);
}

#[test]
fn a_missing_seek_notification_times_out() {
    let mut playback = new_playback();
    seek(&mut playback, 3_000, Snap::KeyBefore);
    playback.tick(SEEK_NOTIFY_TIMEOUT / 2);
    assert_eq!(playback.on_event(&media(1)), Some(vec![]));
    assert_eq!(playback.next_deadline(), Some(SEEK_NOTIFY_TIMEOUT));
    playback.tick(SEEK_NOTIFY_TIMEOUT);
    assert_eq!(playback.on_event(&media(3_000)), None);
}
