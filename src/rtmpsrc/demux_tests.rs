//! Tests of the event -> pads/caps/buffers mapping, with tag bodies from real ffmpeg captures
//! (libx264 320x240, AAC-LC 44.1 kHz mono, libmp3lame 44.1 kHz mono; see `flv::testdata`).

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::protocol::command::Status;

fn init() {
    let _ = gst::init();
}

fn hex(s: &str) -> Bytes {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

/// AVC sequence header tag body: libx264, High 4:4:4 Predictive, level 1.3, 320x240.
const AVC_320X240: &str = "170000000001f4000dffe1001967f4000d919b28283f6022000003000200000300641e\
    28532c01000668ebe3c44844fff8f800";
/// AVC sequence header tag body: libx264, High, level 1.3, 330x190 (cropped).
const AVC_330X190: &str = "17000000000164000dffe1001a6764000dacd941519e4ac044000003000400000300f03c\
    50a65801000668ebe3cb22c0fdf8f800";
/// AAC sequence header tag body: AAC-LC, 44100 Hz, mono.
const AAC_44K_MONO: &str = "af00120856e500";
/// MP3 tag body start: flags 0x2e, then an MPEG-1 layer III header at 44100 Hz, mono.
const MP3_44K_MONO: &str = "2efffb50c400000a2c432e5594800181";

const T0: Duration = Duration::ZERO;

fn video(ts: u32, body: Bytes) -> SessionEvent {
    SessionEvent::Media {
        kind: MediaKind::Video,
        timestamp: ts,
        payload: body,
    }
}

fn audio(ts: u32, body: Bytes) -> SessionEvent {
    SessionEvent::Media {
        kind: MediaKind::Audio,
        timestamp: ts,
        payload: body,
    }
}

/// An AVC NALU tag body with composition time `cts` and a few payload bytes.
fn avc_frame(keyframe: bool, cts: i32) -> Bytes {
    let mut body = vec![if keyframe { 0x17 } else { 0x27 }, 1];
    body.extend_from_slice(&cts.to_be_bytes()[1..]);
    body.extend_from_slice(&[0, 0, 0, 2, 0x65, 0x88]);
    body.into()
}

fn aac_frame() -> Bytes {
    Bytes::from_static(&[0xaf, 0x01, 0x21, 0x10, 0x04])
}

fn status(code: &str) -> SessionEvent {
    SessionEvent::Status(Status {
        level: "status".into(),
        code: code.into(),
        description: String::new(),
    })
}

fn metadata(props: &[(&str, Amf0Value)]) -> SessionEvent {
    SessionEvent::Data {
        timestamp: 0,
        values: vec![
            Amf0Value::String("onMetaData".into()),
            Amf0Value::EcmaArray(
                props
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ),
        ],
    }
}

fn buffers(actions: &[Action]) -> Vec<(StreamKind, Frame)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Buffer { pad, frame } => Some((pad.kind, frame.clone())),
            _ => None,
        })
        .collect()
}

fn added_pads(actions: &[Action]) -> Vec<(StreamKind, gst::Caps)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::AddPad { pad, caps } => Some((pad.kind, caps.clone())),
            _ => None,
        })
        .collect()
}

fn count_no_more_pads(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::NoMorePads))
        .count()
}

// --- Timeline ---

#[test]
fn timeline_passes_increasing_timestamps_and_keeps_a_large_start() {
    let mut t = Timeline::default();
    let start = 3_000_000_000u32;
    let a = t.map(start);
    assert_eq!((a.ms, a.resync, a.gap), (3_000_000_000, false, false));
    assert_eq!(t.map(start + 40).ms, 3_000_000_040);
    // Small steps back (reordered messages) pass unchanged.
    let b = t.map(start + 20);
    assert_eq!((b.ms, b.resync), (3_000_000_020, false));
}

#[test]
fn timeline_unwraps_the_32_bit_wrap() {
    let mut t = Timeline::default();
    assert_eq!(t.map(0xFFFF_FF00).ms, 0xFFFF_FF00);
    let after = t.map(0x10);
    assert_eq!(after.ms, (1i64 << 32) + 0x10);
    assert!(!after.resync && !after.gap);
    // A message from just before the wrap arriving late stays before it.
    assert_eq!(t.map(0xFFFF_FFF0).ms, 0xFFFF_FFF0);
    assert_eq!(t.map(0x20).ms, (1i64 << 32) + 0x20);
    // A second wrap.
    assert_eq!(t.map(0x8000_0010).ms, (1i64 << 32) + 0x8000_0010);
    assert_eq!(t.map(0xFFFF_FFFF).ms, (1i64 << 32) + 0xFFFF_FFFF);
    assert_eq!(t.map(5).ms, (2i64 << 32) + 5);
}

#[test]
fn timeline_resyncs_after_a_jump_back_of_two_seconds() {
    let mut t = Timeline::default();
    t.map(10_000);
    t.map(10_040);
    // 1999 ms back: reordering, not a restart.
    let near = t.map(8_041);
    assert_eq!((near.ms, near.resync), (8_041, false));
    t.map(10_080);
    // The publisher restarted at 0: continue where the stream was.
    let restart = t.map(0);
    assert_eq!((restart.ms, restart.resync), (10_080, true));
    let next = t.map(40);
    assert_eq!((next.ms, next.resync), (10_120, false));
}

#[test]
fn timeline_flags_gaps_forward() {
    let mut t = Timeline::default();
    t.map(1_000);
    let small = t.map(5_999);
    assert!(!small.gap);
    let big = t.map(11_000);
    assert_eq!((big.ms, big.gap, big.resync), (11_000, true, false));
}

// --- LiveClock ---

#[test]
fn live_clock_maps_relative_to_the_first_buffer() {
    let mut clock = LiveClock::default();
    assert!(!clock.is_started());
    let rt = clock.running_time(5_000, || gst::ClockTime::from_seconds(2));
    assert_eq!(rt, gst::ClockTime::from_seconds(2));
    assert!(clock.is_started());
    let later = clock.running_time(5_040, || panic!("asked only once"));
    assert_eq!(later, gst::ClockTime::from_mseconds(2_040));
    let earlier = clock.running_time(4_900, || panic!("asked only once"));
    assert_eq!(earlier, gst::ClockTime::from_mseconds(1_900));
    // Never below zero.
    assert_eq!(
        clock.running_time(1_000, || unreachable!()),
        gst::ClockTime::ZERO
    );
}

// --- Pads, caps and buffers ---

#[test]
fn h264_sequence_header_adds_the_video_pad_with_caps() {
    init();
    let mut d = Demuxer::new();
    let actions = d.handle(video(0, hex(AVC_320X240)), T0);
    let pads = added_pads(&actions);
    assert_eq!(pads.len(), 1);
    let (kind, caps) = &pads[0];
    assert_eq!(*kind, StreamKind::Video);
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "video/x-h264");
    assert_eq!(s.get::<&str>("stream-format").unwrap(), "avc");
    assert_eq!(s.get::<&str>("alignment").unwrap(), "au");
    assert_eq!(s.get::<i32>("width").unwrap(), 320);
    assert_eq!(s.get::<i32>("height").unwrap(), 240);
    let codec_data = s.get::<gst::Buffer>("codec_data").unwrap();
    assert_eq!(
        codec_data.map_readable().unwrap().as_slice(),
        &hex(AVC_320X240)[5..]
    );
    // The pad's stream tags follow, naming the codec.
    let tags = actions.iter().find_map(|a| match a {
        Action::Tags { pad, tags } if *pad == PadId::VIDEO => Some(tags.clone()),
        _ => None,
    });
    let tags = tags.expect("stream tags");
    assert_eq!(tags.scope(), gst::TagScope::Stream);
    assert_eq!(
        tags.get::<gst::tags::VideoCodec>().unwrap().get(),
        "H.264 / AVC"
    );
    assert!(d.has_pad(StreamKind::Video));
    assert!(!d.has_pad(StreamKind::Audio));
}

#[test]
fn video_frames_get_dts_pts_and_flags() {
    init();
    let mut d = Demuxer::new();
    d.handle(video(0, hex(AVC_320X240)), T0);
    let key = buffers(&d.handle(video(0, avc_frame(true, 80)), T0));
    assert_eq!(key.len(), 1);
    let f = &key[0].1;
    assert_eq!(
        (f.dts_ms, f.pts_ms, f.keyframe, f.discont),
        (0, 80, true, true)
    );
    assert_eq!(&f.data[..], &[0, 0, 0, 2, 0x65, 0x88]);
    let b = buffers(&d.handle(video(40, avc_frame(false, -40)), T0));
    let f = &b[0].1;
    assert_eq!(
        (f.dts_ms, f.pts_ms, f.keyframe, f.discont),
        (40, 0, false, false)
    );
    let p = buffers(&d.handle(video(80, avc_frame(false, 120)), T0));
    assert_eq!((p[0].1.dts_ms, p[0].1.pts_ms), (80, 200));
}

#[test]
fn negative_composition_time_is_clamped_to_zero() {
    init();
    let mut d = Demuxer::new();
    d.handle(video(0, hex(AVC_320X240)), T0);
    let f = buffers(&d.handle(video(10, avc_frame(true, -50)), T0));
    assert_eq!((f[0].1.dts_ms, f[0].1.pts_ms), (10, 0));
}

#[test]
fn frames_before_the_sequence_header_or_first_keyframe_are_dropped() {
    init();
    let mut d = Demuxer::new();
    assert!(d.handle(video(0, avc_frame(true, 0)), T0).is_empty());
    d.handle(video(40, hex(AVC_320X240)), T0);
    assert!(buffers(&d.handle(video(40, avc_frame(false, 0)), T0)).is_empty());
    let first = buffers(&d.handle(video(80, avc_frame(true, 0)), T0));
    assert_eq!(first.len(), 1);
    assert!(first[0].1.discont, "the pad's first buffer is a DISCONT");
    assert_eq!(
        buffers(&d.handle(video(120, avc_frame(false, 0)), T0)).len(),
        1
    );
    // AAC frames before the AudioSpecificConfig.
    assert!(d.handle(audio(0, aac_frame()), T0).is_empty());
}

#[test]
fn aac_sequence_header_gives_rate_and_channels_from_the_config() {
    init();
    let mut d = Demuxer::new();
    let actions = d.handle(audio(0, hex(AAC_44K_MONO)), T0);
    let (kind, caps) = added_pads(&actions).remove(0);
    assert_eq!(kind, StreamKind::Audio);
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "audio/mpeg");
    assert_eq!(s.get::<i32>("mpegversion").unwrap(), 4);
    assert_eq!(s.get::<&str>("stream-format").unwrap(), "raw");
    assert!(s.get::<bool>("framed").unwrap());
    assert_eq!(s.get::<i32>("rate").unwrap(), 44100);
    assert_eq!(s.get::<i32>("channels").unwrap(), 1);
    assert!(s.has_field("codec_data"));
    let f = buffers(&d.handle(audio(23, aac_frame()), T0));
    assert_eq!(f.len(), 1);
    let f = &f[0].1;
    assert_eq!((f.dts_ms, f.pts_ms, f.keyframe), (23, 23, true));
    assert_eq!(&f.data[..], &[0x21, 0x10, 0x04]);
}

#[test]
fn first_mp3_frame_adds_the_audio_pad() {
    init();
    let mut d = Demuxer::new();
    let actions = d.handle(audio(0, hex(MP3_44K_MONO)), T0);
    let (kind, caps) = added_pads(&actions).remove(0);
    assert_eq!(kind, StreamKind::Audio);
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<i32>("mpegversion").unwrap(), 1);
    assert_eq!(s.get::<i32>("layer").unwrap(), 3);
    assert!(s.get::<bool>("parsed").unwrap());
    assert_eq!(s.get::<i32>("rate").unwrap(), 44100);
    assert_eq!(s.get::<i32>("channels").unwrap(), 1);
    // The pad is added before the buffer, and the buffer carries the frame without the flags.
    let add = actions
        .iter()
        .position(|a| matches!(a, Action::AddPad { .. }));
    let buf = actions
        .iter()
        .position(|a| matches!(a, Action::Buffer { .. }));
    assert!(add < buf);
    assert_eq!(&buffers(&actions)[0].1.data[..], &hex(MP3_44K_MONO)[1..]);
    // The next frame adds nothing.
    let next = d.handle(audio(26, hex(MP3_44K_MONO)), T0);
    assert!(added_pads(&next).is_empty());
    assert_eq!(buffers(&next).len(), 1);
}

#[test]
fn a_new_sequence_header_changes_caps_and_an_identical_one_does_not() {
    init();
    let mut d = Demuxer::new();
    d.handle(video(0, hex(AVC_320X240)), T0);
    assert!(d.handle(video(0, hex(AVC_320X240)), T0).is_empty());
    let actions = d.handle(video(1000, hex(AVC_330X190)), T0);
    assert_eq!(actions.len(), 1, "{actions:?}");
    let Action::Caps { pad: kind, caps } = &actions[0] else {
        panic!("expected new caps, got {actions:?}");
    };
    assert_eq!(*kind, PadId::VIDEO);
    let s = caps.structure(0).unwrap();
    assert_eq!(
        (
            s.get::<i32>("width").unwrap(),
            s.get::<i32>("height").unwrap()
        ),
        (330, 190)
    );
}

// --- Layout and no-more-pads ---

#[test]
fn no_more_pads_once_both_pads_exist_in_either_order() {
    init();
    let mut d = Demuxer::new();
    let a = d.handle(audio(0, hex(AAC_44K_MONO)), T0);
    assert_eq!(count_no_more_pads(&a), 0);
    let v = d.handle(video(0, hex(AVC_320X240)), T0);
    // Audio first, then video; no-more-pads once frames follow the headers (another track
    // could still start before), once.
    assert_eq!(added_pads(&a)[0].0, StreamKind::Audio);
    assert_eq!(added_pads(&v)[0].0, StreamKind::Video);
    assert_eq!(count_no_more_pads(&v), 0);
    let first = d.handle(video(0, avc_frame(true, 0)), T0);
    assert_eq!(count_no_more_pads(&first), 1);
    assert!(matches!(first.last(), Some(Action::NoMorePads)));
    let later = d.handle(video(40, avc_frame(true, 0)), Duration::from_secs(60));
    assert_eq!(count_no_more_pads(&later), 0);
}

#[test]
fn metadata_tells_the_layout_of_a_video_only_stream() {
    init();
    let mut d = Demuxer::new();
    let m = d.handle(
        metadata(&[
            ("width", Amf0Value::Number(320.0)),
            ("height", Amf0Value::Number(240.0)),
            ("framerate", Amf0Value::Number(25.0)),
            ("videocodecid", Amf0Value::Number(7.0)),
            ("title", Amf0Value::String("test card".into())),
        ]),
        T0,
    );
    assert!(m.is_empty(), "nothing to do before a pad exists: {m:?}");
    let v = d.handle(video(0, hex(AVC_320X240)), T0);
    assert_eq!(count_no_more_pads(&v), 0);
    let f = d.handle(video(0, avc_frame(true, 0)), T0);
    assert_eq!(count_no_more_pads(&f), 1);
    let caps = &added_pads(&v)[0].1;
    let s = caps.structure(0).unwrap();
    assert_eq!(
        s.get::<gst::Fraction>("framerate").unwrap(),
        gst::Fraction::new(25, 1)
    );
    // Global tags from onMetaData come with the new pad.
    let global = v.iter().find_map(|a| match a {
        Action::Tags { tags, .. } if tags.scope() == gst::TagScope::Global => Some(tags.clone()),
        _ => None,
    });
    let global = global.expect("global tags");
    assert_eq!(global.get::<gst::tags::Title>().unwrap().get(), "test card");
}

#[test]
fn metadata_after_the_pad_updates_caps_and_sends_tags() {
    init();
    let mut d = Demuxer::new();
    d.handle(video(0, hex(AVC_320X240)), T0);
    let m = d.handle(
        metadata(&[
            ("framerate", Amf0Value::Number(30000.0 / 1001.0)),
            ("videocodecid", Amf0Value::Number(7.0)),
            ("videodatarate", Amf0Value::Number(500.0)),
            ("encoder", Amf0Value::String("Lavf59".into())),
        ]),
        T0,
    );
    let caps = m.iter().find_map(|a| match a {
        Action::Caps { caps, .. } => Some(caps.clone()),
        _ => None,
    });
    let caps = caps.expect("new caps with the frame rate");
    assert_eq!(
        caps.structure(0)
            .unwrap()
            .get::<gst::Fraction>("framerate")
            .unwrap(),
        gst::Fraction::new(30000, 1001)
    );
    let stream_tags = m.iter().find_map(|a| match a {
        Action::Tags { tags, .. } if tags.scope() == gst::TagScope::Stream => Some(tags.clone()),
        _ => None,
    });
    let stream_tags = stream_tags.expect("stream tags");
    assert_eq!(
        stream_tags
            .get::<gst::tags::NominalBitrate>()
            .unwrap()
            .get(),
        500_000
    );
    // Metadata says there is no audio: the layout is complete with the first frame.
    assert_eq!(count_no_more_pads(&m), 0);
    let f = d.handle(video(0, avc_frame(true, 0)), T0);
    assert_eq!(count_no_more_pads(&f), 1);
}

#[test]
fn without_metadata_no_more_pads_waits_a_bounded_time() {
    init();
    let mut d = Demuxer::new();
    let start = Duration::from_secs(10);
    let a = d.handle(audio(0, hex(AAC_44K_MONO)), start);
    assert_eq!(count_no_more_pads(&a), 0);
    assert_eq!(d.next_deadline(), Some(start + NO_MORE_PADS_TIMEOUT));
    assert!(d.tick(start + Duration::from_secs(1)).is_empty());
    let t = d.tick(start + NO_MORE_PADS_TIMEOUT);
    assert_eq!(t, vec![Action::NoMorePads]);
    assert_eq!(d.next_deadline(), None);
    assert!(d.tick(start + Duration::from_secs(20)).is_empty());
}

#[test]
fn an_unknown_codec_warns_once_and_is_skipped() {
    init();
    let mut d = Demuxer::new();
    d.handle(
        metadata(&[
            ("videocodecid", Amf0Value::Number(2.0)),
            ("audiocodecid", Amf0Value::Number(10.0)),
        ]),
        T0,
    );
    // Sorenson H.263 (codec id 2).
    let first = d.handle(video(0, Bytes::from_static(&[0x22, 0, 0, 0])), T0);
    assert!(
        matches!(&first[..], [Action::Warning(text)] if text.contains("Sorenson")),
        "{first:?}"
    );
    assert!(
        d.handle(video(40, Bytes::from_static(&[0x22, 1, 2, 3])), T0)
            .is_empty()
    );
    // The video stream is settled (skipped): the audio pad and its frames complete the layout.
    let a = d.handle(audio(0, hex(AAC_44K_MONO)), T0);
    assert_eq!(count_no_more_pads(&a), 0);
    let f = d.handle(audio(0, aac_frame()), T0);
    assert_eq!(count_no_more_pads(&f), 1);
    // Nellymoser audio would be skipped the same way, but the audio pad exists: just a warning.
    let n = d.handle(audio(10, Bytes::from_static(&[0x62, 0, 0])), T0);
    assert!(matches!(&n[..], [Action::Warning(t)] if t.contains("Nellymoser")));
    // An Enhanced RTMP codec we cannot map.
    let mut d = Demuxer::new();
    let vvc = d.handle(video(0, Bytes::from_static(b"\x90vvc1\x01\x02")), T0);
    assert!(matches!(&vvc[..], [Action::Warning(t)] if t.contains("vvc1")));
}

#[test]
fn invalid_bodies_are_dropped_without_actions() {
    init();
    let mut d = Demuxer::new();
    for body in [
        &[][..],
        &[0x17],
        &[0x17, 0x00, 0x00],
        &[0x17, 0x00, 0, 0, 0, 1, 2],
        &[0x17, 0x09, 0, 0, 0],
    ] {
        assert!(
            d.handle(video(0, Bytes::copy_from_slice(body)), T0)
                .is_empty(),
            "{body:?}"
        );
    }
    for body in [
        &[][..],
        &[0xaf],
        &[0xaf, 0x00, 0xff],
        &[0xaf, 0x07],
        &[0x2e, 1, 2],
    ] {
        assert!(
            d.handle(audio(0, Bytes::copy_from_slice(body)), T0)
                .is_empty(),
            "{body:?}"
        );
    }
}

// --- Data and the end ---

#[test]
fn data_messages_other_than_metadata_become_data_actions() {
    init();
    let mut d = Demuxer::new();
    let sample_access = SessionEvent::Data {
        timestamp: 0,
        values: vec![
            Amf0Value::String("|RtmpSampleAccess".into()),
            Amf0Value::Boolean(false),
            Amf0Value::Boolean(false),
        ],
    };
    assert!(d.handle(sample_access, T0).is_empty());
    let text = SessionEvent::Data {
        timestamp: 1234,
        values: vec![
            Amf0Value::String("@setDataFrame".into()),
            Amf0Value::String("onTextData".into()),
            Amf0Value::Object(vec![
                ("text".into(), Amf0Value::String("hello \"world\"".into())),
                ("trackid".into(), Amf0Value::Number(1.0)),
            ]),
        ],
    };
    let actions = d.handle(text, T0);
    assert_eq!(
        actions,
        vec![Action::Data {
            name: "onTextData".into(),
            timestamp: 1234,
            text: r#"{"text": "hello \"world\"", "trackid": 1}"#.into(),
        }]
    );
}

#[test]
fn the_publisher_stopping_ends_the_stream_once() {
    init();
    for (event, reason) in [
        (SessionEvent::StreamEof, EndReason::StreamEof),
        (
            status("NetStream.Play.UnpublishNotify"),
            EndReason::Status("NetStream.Play.UnpublishNotify".into()),
        ),
        (
            status("NetStream.Play.Stop"),
            EndReason::Status("NetStream.Play.Stop".into()),
        ),
        (
            status("NetStream.Play.Complete"),
            EndReason::Status("NetStream.Play.Complete".into()),
        ),
    ] {
        let mut d = Demuxer::new();
        d.handle(audio(0, hex(AAC_44K_MONO)), T0);
        let end = d.handle(event, T0);
        // The layout is announced before the end.
        assert_eq!(end, vec![Action::NoMorePads, Action::Eos(reason)]);
        assert!(d.handle(audio(23, aac_frame()), T0).is_empty());
        assert!(d.handle(SessionEvent::StreamEof, T0).is_empty());
    }
    // Other statuses and user control events do not end anything.
    let mut d = Demuxer::new();
    for event in [
        status("NetStream.Play.PublishNotify"),
        status("NetStream.Play.Reset"),
        SessionEvent::StreamBegin,
        SessionEvent::StreamDry,
        SessionEvent::StreamIsRecorded,
    ] {
        assert!(d.handle(event, T0).is_empty());
    }
    assert_eq!(
        d.handle(SessionEvent::ServerClosed, T0),
        vec![Action::ServerClosed]
    );
    assert!(d.handle(SessionEvent::StreamEof, T0).is_empty());
}

#[test]
fn a_restarted_publisher_continues_each_pads_timeline_with_a_discont() {
    init();
    let mut d = Demuxer::new();
    d.handle(video(0, hex(AVC_320X240)), T0);
    d.handle(audio(0, hex(AAC_44K_MONO)), T0);
    for ts in (0..=5000).step_by(40) {
        d.handle(video(ts, avc_frame(ts % 1000 == 0, 0)), T0);
    }
    d.handle(audio(5010, aac_frame()), T0);
    d.handle(video(0, hex(AVC_320X240)), T0);
    let v = buffers(&d.handle(video(0, avc_frame(true, 0)), T0));
    assert_eq!((v[0].1.dts_ms, v[0].1.discont), (5000, true));
    let a = buffers(&d.handle(audio(3, aac_frame()), T0));
    assert_eq!((a[0].1.dts_ms, a[0].1.discont), (5010, true));
    let v = buffers(&d.handle(video(40, avc_frame(false, 0)), T0));
    assert_eq!((v[0].1.dts_ms, v[0].1.discont), (5040, false));
}

#[test]
fn amf_text_is_compact_and_bounded() {
    let values = vec![
        Amf0Value::Number(1.5),
        Amf0Value::Null,
        Amf0Value::StrictArray(vec![Amf0Value::Boolean(true), Amf0Value::Undefined]),
        Amf0Value::TypedObject {
            class_name: "Cue".into(),
            properties: vec![(
                "t".into(),
                Amf0Value::Date {
                    millis: 10.0,
                    time_zone: 0,
                },
            )],
        },
    ];
    assert_eq!(
        amf_text(&values),
        r#"1.5 null [true, undefined] "Cue"{"t": date(10)}"#
    );
    let long = vec![Amf0Value::LongString("é".repeat(MAX_DATA_TEXT))];
    let text = amf_text(&long);
    assert!(text.len() <= MAX_DATA_TEXT + 3);
    assert!(text.ends_with("..."));
    let many = vec![Amf0Value::StrictArray(vec![
        Amf0Value::Number(1.0);
        100_000
    ])];
    assert!(amf_text(&many).len() <= MAX_DATA_TEXT + 3);
}

#[path = "demux_enhanced_tests.rs"]
mod enhanced;
