//! Enhanced RTMP in the demuxer: extended headers, colorInfo, unknown FourCCs and multitrack
//! (FFmpeg 9 captures and byte vectors after the specification).

use super::*;

#[test]
fn enhanced_hevc_gets_a_video_pad_and_timestamps_like_h264() {
    init();
    // FFmpeg 9's hvc1 sequence start (320x240 libx265, see flv::codecs::tests).
    let seq = hex(concat!(
        "90687663310101600000009000000000003cf000fcfdf8f800000f03200001001840010c01ffff0160000003",
        "0090000003000003003c959809210001002a42010101600000030090000003000003003ca00a080f165959a4",
        "932bc05a02000003000200000300321022000100074401c172b46240",
    ));
    let mut d = Demuxer::new();
    let actions = d.handle(video(0, seq), T0);
    let Some(Action::AddPad { pad: kind, caps }) = actions.first() else {
        panic!("no pad: {actions:?}");
    };
    assert_eq!(*kind, PadId::VIDEO);
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "video/x-h265");
    assert_eq!(s.get::<i32>("width"), Ok(320));
    assert!(actions.iter().any(|a| matches!(a, Action::Tags { tags, .. }
        if tags.get::<gst::tags::VideoCodec>().is_some_and(|v| v.get() == "H.265 / HEVC"))));
    // An inter frame before any keyframe is dropped; a keyframe with cts 80 is pushed.
    assert!(d.handle(video(0, hex("a168766331000000aa")), T0).is_empty());
    let key = d.handle(video(40, hex("91687663310000500000000126")), T0);
    assert!(
        matches!(&key[..], [Action::Buffer { pad: PadId::VIDEO, frame }]
            if frame.dts_ms == 40 && frame.pts_ms == 120 && frame.keyframe),
        "{key:?}"
    );
    // A frame of another codec than the sequence start's is dropped.
    assert!(d.handle(video(80, hex("9176703039aa")), T0).is_empty());
    // TimestampOffsetNano (250000 ns) in a ModEx prefix reaches the frame.
    let nano = d.handle(video(80, hex("a70203d09001687663310000000126")), T0);
    assert!(
        matches!(&nano[..], [Action::Buffer { frame, .. }]
            if frame.dts_ms == 80 && frame.offset_ns == 250_000),
        "{nano:?}"
    );
}

#[test]
fn enhanced_opus_gets_an_audio_pad_and_multichannel_config_its_channel_mask() {
    init();
    let mut d = Demuxer::new();
    // FFmpeg 9's Opus sequence start, its MultichannelConfig, then a frame.
    let actions = d.handle(
        audio(0, hex("904f7075734f707573486561640102380180bb0000000000")),
        T0,
    );
    let Some(Action::AddPad { pad: kind, caps }) = actions.first() else {
        panic!("no pad: {actions:?}");
    };
    assert_eq!(*kind, PadId::AUDIO);
    assert_eq!(caps.structure(0).unwrap().name(), "audio/x-opus");
    // Native order, 2 channels, FL|FR: the caps say so.
    let layout = d.handle(audio(0, hex("944f707573010200000003")), T0);
    let [Action::Caps { pad, caps }] = &layout[..] else {
        panic!("no caps: {layout:?}");
    };
    assert_eq!(*pad, PadId::AUDIO);
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "audio/x-opus");
    assert_eq!(s.get::<gst::Bitmask>("channel-mask").unwrap().0, 0x3);
    // Again: nothing changes. A mask that does not match the channel count is ignored.
    assert!(
        d.handle(audio(0, hex("944f707573010200000003")), T0)
            .is_empty()
    );
    assert!(
        d.handle(audio(0, hex("944f70757301020000003f")), T0)
            .is_empty()
    );
    let frame = d.handle(audio(20, hex("914f707573fc7e0299")), T0);
    assert!(
        matches!(&frame[..], [Action::Buffer { pad: PadId::AUDIO, frame }]
            if frame.dts_ms == 20 && frame.pts_ms == 20 && &frame.data[..] == b"\xfc\x7e\x02\x99"),
        "{frame:?}"
    );
    // FLAC frames without a FLAC sequence start are dropped.
    assert!(d.handle(audio(40, hex("91664c6143fff8")), T0).is_empty());
}

#[test]
fn avc1_mp4a_and_mp3_in_the_extended_header_use_the_legacy_pads_and_caps() {
    init();
    let with_header = |header: &[u8], legacy: &str, skip: usize| {
        let mut body = header.to_vec();
        body.extend_from_slice(&hex(legacy)[skip..]);
        Bytes::from(body)
    };
    let mut legacy = Demuxer::new();
    let mut legacy_pads = added_pads(&legacy.handle(video(0, hex(AVC_320X240)), T0));
    legacy_pads.extend(added_pads(&legacy.handle(audio(0, hex(AAC_44K_MONO)), T0)));

    let mut d = Demuxer::new();
    let mut pads = added_pads(&d.handle(video(0, with_header(b"\x90avc1", AVC_320X240, 5)), T0));
    pads.extend(added_pads(
        &d.handle(audio(0, with_header(b"\x90mp4a", AAC_44K_MONO, 2)), T0),
    ));
    assert_eq!(pads, legacy_pads);
    // CodedFrames carry the composition time, CodedFramesX none; AAC frames follow.
    let frame = d.handle(video(40, hex("91 61766331 000028 00000002 6588")), T0);
    let frame_x = d.handle(video(80, hex("a3 61766331 00000002 4188")), T0);
    let aac = d.handle(audio(40, hex("91 6d703461 2110")), T0);
    let got: Vec<_> = [frame, frame_x, aac]
        .iter()
        .flat_map(|a| buffers(a))
        .map(|(kind, f)| (kind, f.dts_ms, f.pts_ms, f.keyframe, f.data.len()))
        .collect();
    assert_eq!(
        got,
        vec![
            (StreamKind::Video, 40, 80, true, 6),
            (StreamKind::Video, 80, 80, false, 6),
            (StreamKind::Audio, 40, 40, true, 2),
        ]
    );

    // .mp3 frames make the same audio pad as legacy MP3 tags.
    let mut legacy = Demuxer::new();
    let legacy_mp3 = added_pads(&legacy.handle(audio(0, hex(MP3_44K_MONO)), T0));
    let mut d = Demuxer::new();
    let mp3 = d.handle(audio(0, with_header(b"\x91.mp3", MP3_44K_MONO, 1)), T0);
    assert_eq!(added_pads(&mp3), legacy_mp3);
    assert_eq!(buffers(&mp3).len(), 1);
}

#[test]
fn an_unknown_fourcc_warns_once_gets_no_pad_and_settles_the_layout() {
    init();
    let mut d = Demuxer::new();
    d.handle(
        metadata(&[
            ("videocodecid", Amf0Value::Number(0x7676_6331 as f64)),
            ("audiocodecid", Amf0Value::Number(10.0)),
        ]),
        T0,
    );
    let mut warnings = 0;
    // vvc1 (H.266) sequence start and many frames: one warning, nothing else, ever.
    for i in 0..100u32 {
        let body = if i == 0 {
            "90767663310102"
        } else {
            "91767663310102"
        };
        for action in d.handle(video(i * 40, hex(body)), T0) {
            match action {
                Action::Warning(text) => {
                    assert!(text.contains("'vvc1'"), "{text}");
                    warnings += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(warnings, 1);
    assert!(!d.has_pad(StreamKind::Video));
    // The skipped video stream is settled: the audio pad completes the layout at its first
    // frame.
    let a = d.handle(audio(0, hex(AAC_44K_MONO)), T0);
    assert_eq!(count_no_more_pads(&a), 0);
    let f = d.handle(audio(0, aac_frame()), T0);
    assert_eq!(count_no_more_pads(&f), 1);
    // An unknown audio FourCC after the pad exists: a warning once, the pad stays.
    let w1 = d.handle(audio(20, hex("90 4d504548 00")), T0);
    let w2 = d.handle(audio(40, hex("91 4d504548 00")), T0);
    assert!(matches!(&w1[..], [Action::Warning(t)] if t.contains("'MPEH'")));
    assert!(w2.is_empty());
    assert!(d.has_pad(StreamKind::Audio));
}

#[test]
fn an_unknown_packet_type_of_a_known_codec_skips_only_that_tag() {
    init();
    let mut d = Demuxer::new();
    // hvc1 MPEG2TSSequenceStart (5) and a reserved packet type (0x0e): no warning, no skip.
    assert!(d.handle(video(0, hex("95 68766331 00")), T0).is_empty());
    assert!(d.handle(video(0, hex("9e 68766331 00")), T0).is_empty());
    assert!(d.handle(audio(0, hex("9e 4f707573 00")), T0).is_empty());
    assert!(d.handle(audio(0, hex("9e 6d703461 00")), T0).is_empty());
    // The Opus pad still comes with its sequence start.
    let opus = d.handle(
        audio(0, hex("904f7075734f707573486561640102380180bb0000000000")),
        T0,
    );
    assert_eq!(added_pads(&opus).len(), 1);
}

#[test]
fn color_info_metadata_updates_the_caps_before_the_frames() {
    init();
    let mut d = Demuxer::new();
    // FFmpeg 9's hvc1 sequence start, then its Metadata packet (command frame type 5) for
    // bt2020 / SMPTE 2084 / bt2020nc.
    let seq = hex(concat!(
        "90687663310101600000009000000000003cf000fcfdf8f800000f03200001001840010c01ffff0160000003",
        "0090000003000003003c959809210001002a42010101600000030090000003000003003ca00a080f165959a4",
        "932bc05a02000003000200000300321022000100074401c172b46240",
    ));
    let added = added_pads(&d.handle(video(0, seq), T0));
    assert!(!added[0].1.structure(0).unwrap().has_field("colorimetry"));
    let meta = hex(concat!(
        "d468766331020009636f6c6f72496e666f03000b636f6c6f72436f6e6669670300177472616e7366657243",
        "686172616374657269737469637300403000000000000000126d6174726978436f656666696369656e7473",
        "004022000000000000000e636f6c6f725072696d6172696573004022000000000000000009000009",
    ));
    let actions = d.handle(video(0, meta.clone()), T0);
    let [Action::Caps { caps, .. }] = &actions[..] else {
        panic!("{actions:?}");
    };
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<&str>("colorimetry"), Ok("bt2100-pq"));
    assert_eq!(s.get::<i32>("width"), Ok(320));
    // The same again changes nothing.
    assert!(d.handle(video(0, meta), T0).is_empty());
}

// --- Multitrack ---

/// FFmpeg 9's Opus sequence start of track 1 (OneTrack), its MultichannelConfig and a frame
/// start, from `-map 0:v -map 1:a -map 2:a -c:a:0 aac -c:a:1 libopus -f flv`.
const OPUS_TRACK1_SEQ: &str = "95004f707573014f707573486561640101380180bb0000000000";
const OPUS_TRACK1_MULTICHANNEL: &str = "95044f70757301010100000004";
const OPUS_TRACK1_FRAME: &str = "95014f70757301f89eba2bcc";
/// FFmpeg 9's hvc1 sequence start (320x240 libx265), without its 5-byte tag header.
const HVCC_320X240: &str = concat!(
    "0101600000009000000000003cf000fcfdf8f800000f03200001001840010c01ffff0160000003",
    "0090000003000003003c959809210001002a42010101600000030090000003000003003ca00a080f165959a4",
    "932bc05a02000003000200000300321022000100074401c172b46240",
);

/// (pad, caps name) of each AddPad.
fn pads_added(actions: &[Action]) -> Vec<(String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::AddPad { pad, caps } => Some((
                pad.pad_name(),
                caps.structure(0).unwrap().name().to_string(),
            )),
            _ => None,
        })
        .collect()
}

/// (pad, dts, payload) of each Buffer.
fn track_buffers(actions: &[Action]) -> Vec<(String, i64, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Buffer { pad, frame } => {
                Some((pad.pad_name(), frame.dts_ms, frame.data.to_vec()))
            }
            _ => None,
        })
        .collect()
}

/// A track of [`many_tracks`]: its own FourCC (ManyTracksManyCodecs), id and data.
type Track<'a> = (Option<&'a [u8; 4]>, u8, &'a [u8]);

/// A ManyTracks or ManyTracksManyCodecs body: header byte(s), then per track `[fourcc] id
/// size data`.
fn many_tracks(first: u8, mt: u8, fourcc: Option<&[u8; 4]>, tracks: &[Track]) -> Bytes {
    let mut body = vec![first, mt];
    if let Some(f) = fourcc {
        body.extend_from_slice(f);
    }
    for (f, id, data) in tracks {
        if let Some(f) = f {
            body.extend_from_slice(*f);
        }
        body.push(*id);
        body.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        body.extend_from_slice(data);
    }
    body.into()
}

#[test]
fn ffmpeg9_second_audio_track_gets_its_own_pad_before_no_more_pads() {
    init();
    let mut d = Demuxer::new();
    let mut actions = d.handle(video(0, hex(AVC_320X240)), T0);
    actions.extend(d.handle(audio(0, hex(AAC_44K_MONO)), T0));
    actions.extend(d.handle(audio(0, hex(OPUS_TRACK1_SEQ)), T0));
    actions.extend(d.handle(audio(0, hex(OPUS_TRACK1_MULTICHANNEL)), T0));
    assert_eq!(
        pads_added(&actions),
        vec![
            ("video".into(), "video/x-h264".into()),
            ("audio".into(), "audio/mpeg".into()),
            ("audio_1".into(), "audio/x-opus".into()),
        ]
    );
    // Every sequence start came first: no-more-pads waits for the frames.
    assert_eq!(count_no_more_pads(&actions), 0);
    let f = d.handle(video(0, avc_frame(true, 0)), T0);
    assert_eq!(count_no_more_pads(&f), 1);
    // Each track's frames reach its own pad, with its own timeline.
    let mut frames = d.handle(audio(73, hex(OPUS_TRACK1_FRAME)), T0);
    frames.extend(d.handle(audio(20, aac_frame()), T0));
    assert_eq!(
        track_buffers(&frames),
        vec![
            ("audio_1".into(), 73, hex("f89eba2bcc").to_vec()),
            ("audio".into(), 20, hex("2110 04").to_vec()),
        ]
    );
    assert!(d.has_pad(PadId {
        kind: StreamKind::Audio,
        track: 1
    }));
}

#[test]
fn many_tracks_of_one_codec_split_into_pads_with_their_own_data() {
    init();
    let mut d = Demuxer::new();
    let hvcc = hex(HVCC_320X240);
    // Video ManyTracks (1) of hvc1: SequenceStart for tracks 0 and 2 in one packet.
    let seq = many_tracks(
        0x96,
        0x10,
        Some(b"hvc1"),
        &[(None, 0, &hvcc), (None, 2, &hvcc)],
    );
    let added = d.handle(video(0, seq), T0);
    assert_eq!(
        pads_added(&added),
        vec![
            ("video".into(), "video/x-h265".into()),
            ("video_2".into(), "video/x-h265".into()),
        ]
    );
    // Track-scoped tags come with each pad.
    let tagged: Vec<_> = added
        .iter()
        .filter_map(|a| match a {
            Action::Tags { pad, .. } => Some(pad.pad_name()),
            _ => None,
        })
        .collect();
    assert_eq!(tagged, vec!["video", "video_2"]);
    // Keyframes (CodedFrames with a composition time of 40 ms) of both tracks.
    let frames = many_tracks(
        0x96,
        0x11,
        Some(b"hvc1"),
        &[
            (None, 2, b"\x00\x00\x28\x00\x00\x00\x01\x26"),
            (None, 0, b"\x00\x00\x28\x00\x00\x00\x01\x28"),
        ],
    );
    let out = d.handle(video(40, frames), T0);
    assert_eq!(
        track_buffers(&out),
        vec![
            ("video_2".into(), 40, b"\x00\x00\x00\x01\x26".to_vec()),
            ("video".into(), 40, b"\x00\x00\x00\x01\x28".to_vec()),
        ]
    );
    assert!(
        out.iter()
            .all(|a| !matches!(a, Action::Buffer { frame, .. } if frame.pts_ms != 80))
    );
}

#[test]
fn many_tracks_many_codecs_give_each_track_its_caps() {
    init();
    let mut d = Demuxer::new();
    let opus_head = hex("4f707573486561640102380180bb0000000000");
    // Audio ManyTracksManyCodecs (2): Opus on track 0, AC-3 on track 3, an unknown FourCC
    // on track 4.
    let seq = many_tracks(
        0x95,
        0x20,
        None,
        &[
            (Some(b"Opus"), 0, &opus_head),
            (Some(b"ac-3"), 3, b""),
            (Some(b"zzzz"), 4, b""),
        ],
    );
    let out = d.handle(audio(0, seq), T0);
    assert_eq!(
        pads_added(&out),
        vec![
            ("audio".into(), "audio/x-opus".into()),
            ("audio_3".into(), "audio/x-ac3".into()),
        ]
    );
    let warnings: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::Warning(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("audio_4") && warnings[0].contains("'zzzz'"));
    // The unknown track stays quiet afterwards; the others flow.
    let frames = many_tracks(
        0x95,
        0x21,
        None,
        &[
            (Some(b"zzzz"), 4, b"\x01"),
            (Some(b"ac-3"), 3, b"\x0b\x77"),
            (Some(b"Opus"), 0, b"\xfc"),
        ],
    );
    let out = d.handle(audio(32, frames), T0);
    assert_eq!(
        track_buffers(&out),
        vec![
            ("audio_3".into(), 32, b"\x0b\x77".to_vec()),
            ("audio".into(), 32, b"\xfc".to_vec()),
        ]
    );
    // Nothing says whether video exists: no-more-pads comes at the bounded wait.
    assert_eq!(count_no_more_pads(&out), 0);
    assert_eq!(d.tick(NO_MORE_PADS_TIMEOUT), vec![Action::NoMorePads]);
}

#[test]
fn broken_multitrack_packets_are_dropped_or_skipped_in_a_controlled_way() {
    init();
    let mut d = Demuxer::new();
    // A track that claims more bytes than the body holds, a track header cut short, a body
    // that ends after the multitrack byte: dropped, no actions.
    for body in [
        "96 10 68766331 00 000010 0101",
        "96 10 68766331 00 00",
        "96 20 6876",
        "96",
        "95 00 4f707573",
    ] {
        let kind = if body.starts_with("95") {
            audio(0, hex(body))
        } else {
            video(0, hex(body))
        };
        assert!(d.handle(kind, T0).is_empty(), "{body}");
    }
    // A reserved AvMultitrackType: the stream cannot be played; one warning, then silence.
    let w = d.handle(video(0, hex("96 30 68766331 00")), T0);
    assert!(
        matches!(&w[..], [Action::Warning(t)] if t.contains("multitrack")),
        "{w:?}"
    );
    assert!(d.handle(video(40, hex("96 31 68766331 00")), T0).is_empty());
    // A nested multitrack packet type inside a track is ignored, not recursed into.
    assert!(
        d.handle(video(0, hex("96 06 68766331 00 96 00")), T0)
            .is_empty()
    );
}
