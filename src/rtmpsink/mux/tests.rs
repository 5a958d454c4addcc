//! The muxer driven through gst-check harnesses: what FLV tags come out for given buffers and caps.

use gst::glib;
use gst::prelude::*;

use crate::flv::{FlvTagReader, TagType, VideoTag, parse_video_body};

fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| gst::init().expect("gst init"));
}

/// A minimal valid avcC (version 1, profile 66, one 4-byte SPS, one PPS).
fn avcc(profile: u8) -> gst::Buffer {
    gst::Buffer::from_slice(vec![
        1, profile, 0, 30, 0xFF, 0xE1, 0, 4, 0x67, profile, 0, 30, 1, 0, 2, 0x68, 0xCE,
    ])
}

fn h264_caps(profile: u8) -> gst::Caps {
    gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .field("width", 320)
        .field("height", 240)
        .field("codec_data", avcc(profile))
        .build()
}

fn frame(dts_ms: i64, pts_ms: i64, keyframe: bool) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_slice(vec![0, 0, 0, 2, 0x65, 0x88]);
    {
        let buffer = buffer.get_mut().unwrap();
        // Negative DTS cannot be expressed on a buffer: the segment start moves instead (see below).
        buffer.set_dts(gst::ClockTime::from_mseconds(dts_ms as u64));
        buffer.set_pts(gst::ClockTime::from_mseconds(pts_ms as u64));
        if !keyframe {
            buffer.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    buffer
}

fn video_harness() -> gst_check::Harness {
    init();
    let mux: super::super::RtmpMuxElement = glib::Object::new();
    let mut h = gst_check::Harness::with_element(&mux, Some("video"), Some("src"));
    h.play();
    h
}

fn tags(h: &mut gst_check::Harness) -> Vec<(TagType, u32, bytes::Bytes)> {
    let mut reader = FlvTagReader::new();
    // The aggregator works in its own thread: take what it produced until its EOS.
    while let Ok(Some(buffer)) = h.pull_until_eos() {
        let map = buffer.map_readable().unwrap();
        reader.push(bytes::Bytes::copy_from_slice(&map));
    }
    std::iter::from_fn(|| reader.next_tag().unwrap())
        .map(|t| (t.tag_type, t.timestamp, t.body))
        .collect()
}

fn push_segment(h: &mut gst_check::Harness, start_ms: u64) {
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(gst::ClockTime::from_mseconds(start_ms));
    segment.set_time(gst::ClockTime::from_mseconds(start_ms));
    assert!(h.push_event(gst::event::Segment::new(&segment)));
}

#[test]
fn metadata_then_sequence_header_then_frames() {
    let mut h = video_harness();
    h.set_src_caps(h264_caps(66));
    h.push(frame(0, 0, true)).unwrap();
    h.push(frame(40, 40, false)).unwrap();
    h.push_event(gst::event::Eos::new());
    let tags = tags(&mut h);
    let kinds: Vec<_> = tags.iter().map(|(t, ts, _)| (*t, *ts)).collect();
    assert_eq!(
        kinds,
        vec![
            (TagType::Script, 0),
            (TagType::Video, 0),
            (TagType::Video, 0),
            (TagType::Video, 40)
        ]
    );
    assert!(matches!(
        parse_video_body(&tags[1].2).unwrap(),
        VideoTag::AvcSequenceHeader(_)
    ));
    let VideoTag::AvcFrame { keyframe, data, .. } = parse_video_body(&tags[3].2).unwrap() else {
        panic!("not a frame")
    };
    assert!(!keyframe);
    assert_eq!(&data[..], &[0, 0, 0, 2, 0x65, 0x88]);
}

#[test]
fn caps_change_sends_a_new_sequence_header() {
    let mut h = video_harness();
    h.set_src_caps(h264_caps(66));
    h.push(frame(0, 0, true)).unwrap();
    h.set_src_caps(h264_caps(77));
    h.push(frame(40, 40, true)).unwrap();
    h.push_event(gst::event::Eos::new());
    let headers: Vec<_> = tags(&mut h)
        .into_iter()
        .filter_map(|(_, ts, body)| match parse_video_body(&body).ok()? {
            VideoTag::AvcSequenceHeader(avcc) => Some((ts, avcc[1])),
            _ => None,
        })
        .collect();
    assert_eq!(headers, vec![(0, 66), (40, 77)]);
}

#[test]
fn b_frames_starting_before_the_segment_are_offset_not_broken() {
    let mut h = video_harness();
    h.set_src_caps(h264_caps(66));
    // The segment starts at 1000 ms, the first DTS is 33 ms earlier: its running time is negative.
    push_segment(&mut h, 1000);
    h.push(frame(967, 1033, true)).unwrap();
    h.push(frame(1000, 1100, false)).unwrap();
    h.push(frame(1033, 1000 + 33, false)).unwrap();
    h.push_event(gst::event::Eos::new());
    let frames: Vec<_> = tags(&mut h)
        .into_iter()
        .filter_map(|(_, ts, body)| match parse_video_body(&body).ok()? {
            VideoTag::AvcFrame { cts_ms, .. } => Some((ts, cts_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(frames, vec![(0, 66), (33, 100), (66, 0)]);
}

#[test]
fn timestamps_wrap_at_32_bits() {
    let mut h = video_harness();
    h.set_src_caps(h264_caps(66));
    h.push(frame(0, 0, true)).unwrap();
    let past_wrap = (1u64 << 32) + 40;
    h.push(frame(past_wrap as i64, past_wrap as i64, false))
        .unwrap();
    h.push_event(gst::event::Eos::new());
    let ts: Vec<_> = tags(&mut h)
        .into_iter()
        .filter(|(t, _, _)| *t == TagType::Video)
        .map(|(_, ts, _)| ts)
        .collect();
    assert_eq!(ts, vec![0, 0, 40]);
}

#[test]
fn audio_and_video_are_interleaved_by_dts() {
    init();
    let mux: super::super::RtmpMuxElement = glib::Object::new();
    let mut video = gst_check::Harness::with_element(&mux, Some("video"), Some("src"));
    let mut audio = gst_check::Harness::with_element(&mux, Some("audio"), None);
    video.play();
    audio.play();
    video.set_src_caps(h264_caps(66));
    audio.set_src_caps(
        gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .field("stream-format", "raw")
            .field("codec_data", gst::Buffer::from_slice([0x12u8, 0x10]))
            .build(),
    );
    let audio_frame = |ms: u64| {
        let mut b = gst::Buffer::from_slice([0x21u8, 0x10, 0x04]);
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(ms));
        b
    };
    // Each pad holds one buffer, so a push blocks until the muxer has taken the previous one:
    // push each pad one ahead of the other; the muxer must still emit them by DTS.
    audio.push(audio_frame(0)).unwrap();
    video.push(frame(10, 10, true)).unwrap();
    audio.push(audio_frame(23)).unwrap();
    video.push(frame(30, 30, false)).unwrap();
    video.push_event(gst::event::Eos::new());
    audio.push(audio_frame(46)).unwrap();
    audio.push_event(gst::event::Eos::new());
    let media: Vec<_> = tags(&mut video)
        .into_iter()
        .filter(|(t, _, body)| *t != TagType::Script && body.get(1) != Some(&0))
        .map(|(t, ts, _)| (t, ts))
        .collect();
    assert_eq!(
        media,
        vec![
            (TagType::Audio, 0),
            (TagType::Video, 10),
            (TagType::Audio, 23),
            (TagType::Video, 30),
            (TagType::Audio, 46)
        ]
    );
}

#[test]
fn the_encoders_memory_reaches_the_tag_body_uncopied() {
    // Muxer, then the writer's conversion: the frame part is the input buffer's own memory.
    let mut h = video_harness();
    h.set_src_caps(h264_caps(66));
    // A frame large enough to be held rather than copied (small pieces are copied).
    let mut nal = vec![0, 0, 0x0F, 0xFC, 0x65];
    nal.resize(4 + 0x0FFC, 0x88);
    let mut input = gst::Buffer::from_slice(nal.clone());
    {
        let input = input.get_mut().unwrap();
        input.set_dts(gst::ClockTime::ZERO);
        input.set_pts(gst::ClockTime::ZERO);
    }
    let input_ptr = input.peek_memory(0).map_readable().unwrap().as_ptr();
    h.push(input).unwrap();
    h.push_event(gst::event::Eos::new());
    let mut reader = FlvTagReader::new();
    while let Ok(Some(buffer)) = h.pull_until_eos() {
        super::super::writer::push_memories(&mut reader, &buffer).unwrap();
    }
    let mut frames = Vec::new();
    while let Some(tag) = reader.next_tag_parts().unwrap() {
        if tag.tag_type == TagType::Video && tag.body.get(1) == Some(1) {
            frames.push(tag.body);
        }
    }
    assert_eq!(frames.len(), 1);
    let parts = frames[0].parts();
    assert_eq!(parts.len(), 2, "FLV video header, then the frame");
    assert_eq!(&parts[0][..], &[0x17, 0x01, 0, 0, 0]);
    assert_eq!(parts[1].as_ptr(), input_ptr);
    assert_eq!(&parts[1][..], &nal[..]);
}

fn opus_caps() -> gst::Caps {
    let mut head = gst::Buffer::from_slice(*b"OpusHead\x01\x01\x38\x01\x80\xbb\0\0\0\0\0");
    head.get_mut().unwrap().set_flags(gst::BufferFlags::HEADER);
    gst::Caps::builder("audio/x-opus")
        .field("rate", 48000)
        .field("channels", 1)
        .field("streamheader", gst::Array::new([head]))
        .build()
}

fn audio_frame(ms: u64, data: &'static [u8]) -> gst::Buffer {
    let mut b = gst::Buffer::from_slice(data);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(ms));
    b
}

#[test]
fn a_second_audio_track_goes_out_as_one_track_multitrack_packets() {
    init();
    let mux: super::super::RtmpMuxElement = glib::Object::new();
    let mut aac = gst_check::Harness::with_element(&mux, Some("audio"), Some("src"));
    let mut opus = gst_check::Harness::with_element(&mux, Some("audio_1"), None);
    aac.play();
    opus.play();
    aac.set_src_caps(
        gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .field("stream-format", "raw")
            .field("codec_data", gst::Buffer::from_slice([0x12u8, 0x10]))
            .build(),
    );
    opus.set_src_caps(opus_caps());
    aac.push(audio_frame(0, &[0x21, 0x10])).unwrap();
    // opusparse pushes its headers as buffers too: they are not frames. Untimed, so the
    // muxer takes it first: this one thread feeds both pads, and a pad holding a buffer takes
    // no other (latency 0), so had the muxer taken the AAC frame first, the next Opus push
    // would wait for it forever. (A pipeline feeds each pad from its own thread.)
    let mut header = gst::Buffer::from_slice(b"OpusHead");
    header
        .get_mut()
        .unwrap()
        .set_flags(gst::BufferFlags::HEADER);
    opus.push(header).unwrap();
    opus.push(audio_frame(0, &[0xf8, 0xff])).unwrap();
    aac.push(audio_frame(21, &[0x21, 0x11])).unwrap();
    opus.push(audio_frame(20, &[0xf8, 0xfe])).unwrap();
    aac.push_event(gst::event::Eos::new());
    opus.push_event(gst::event::Eos::new());
    let tags = tags(&mut aac);
    let (script, media) = tags.split_first().unwrap();
    assert_eq!(script.0, TagType::Script);
    let values = crate::protocol::amf0::decode_all(&script.2).unwrap();
    let track = values[1]
        .get("audioTrackIdInfoMap")
        .and_then(|m| m.get("1"))
        .expect("track 1 described");
    assert_eq!(
        track
            .get("audiocodecid")
            .and_then(crate::protocol::amf0::Amf0Value::as_number),
        Some(f64::from(u32::from_be_bytes(*b"Opus")))
    );
    let bodies: Vec<(u32, Vec<u8>)> = media
        .iter()
        .map(|(_, ts, body)| (*ts, body.to_vec()))
        .collect();
    let expect = |ts: u32, body: &[u8]| (ts, body.to_vec());
    assert_eq!(
        bodies,
        vec![
            // Track 0 stays legacy AAC; track 1: sequence start, channel config, frames, end.
            expect(0, &[0xaf, 0x00, 0x12, 0x10]),
            expect(0, &[0xaf, 0x01, 0x21, 0x10]),
            expect(
                0,
                b"\x95\x00Opus\x01OpusHead\x01\x01\x38\x01\x80\xbb\0\0\0\0\0"
            ),
            expect(0, b"\x95\x04Opus\x01\x01\x01\x00\x00\x00\x04"),
            expect(0, b"\x95\x01Opus\x01\xf8\xff"),
            expect(20, b"\x95\x01Opus\x01\xf8\xfe"),
            expect(21, &[0xaf, 0x01, 0x21, 0x11]),
            expect(20, b"\x95\x02Opus\x01"),
        ]
    );
}

#[test]
fn track_pads_are_numbered_from_1_to_255() {
    init();
    let mux: super::super::RtmpMuxElement = glib::Object::new();
    assert!(mux.request_pad_simple("audio_0").is_none());
    assert!(mux.request_pad_simple("audio_256").is_none());
    assert!(mux.request_pad_simple("video_x").is_none());
    assert_eq!(mux.request_pad_simple("video_3").unwrap().name(), "video_3");
    // Without a name: the lowest free track.
    let templ = mux.pad_template("audio_%u").unwrap();
    assert_eq!(
        mux.request_pad(&templ, None, None).unwrap().name(),
        "audio_1"
    );
}

#[test]
fn av1_without_codec_data_starts_at_the_first_sequence_header() {
    init();
    let mux: super::super::RtmpMuxElement = glib::Object::new();
    let mut h = gst_check::Harness::with_element(&mux, Some("video"), Some("src"));
    h.play();
    h.set_src_caps(
        gst::Caps::builder("video/x-av1")
            .field("stream-format", "obu-stream")
            .field("alignment", "tu")
            .build(),
    );
    let tu = |ms: u64, data: &'static [u8]| {
        let mut b = gst::Buffer::from_slice(data);
        let b_mut = b.get_mut().unwrap();
        b_mut.set_pts(gst::ClockTime::from_mseconds(ms));
        b_mut.set_dts(gst::ClockTime::from_mseconds(ms));
        b
    };
    // A temporal unit without a sequence header cannot start the stream.
    h.push(tu(0, &[0x12, 0x00, 0x32, 0x01, 0x00])).unwrap();
    h.push(tu(
        33,
        b"\x12\x00\x0a\x0b\x02\x00\x00\x05\x61\xe7\xfd\xe0\x17\xc0\x02\x32\x01\x00",
    ))
    .unwrap();
    h.push_event(gst::event::Eos::new());
    let video: Vec<_> = tags(&mut h)
        .into_iter()
        .filter(|(t, _, _)| *t == TagType::Video)
        .map(|(_, ts, body)| (ts, body[..5].to_vec()))
        .collect();
    assert_eq!(
        video,
        vec![
            (0, b"\x90av01".to_vec()),
            (0, b"\x91av01".to_vec()),
            (0, b"\x92av01".to_vec()),
        ]
    );
}

#[test]
fn non_live_input_goes_out_in_batches_of_tags_due_together() {
    // 1 s of 30 fps video and 43 fps audio from non-live sources into a syncing sink: while the
    // sink waits for each batch's time, the pads fill, and the tags due within the window go out
    // as one buffer list (one clock wait), still in DTS order and all of them.
    init();
    let pipeline = gst::Pipeline::new();
    let mux: super::super::RtmpMuxElement = glib::Object::new();
    let appsrc = |caps: gst::Caps| {
        gst::ElementFactory::make("appsrc")
            .property("format", gst::Format::Time)
            .property("caps", caps)
            .build()
            .unwrap()
    };
    let video = appsrc(h264_caps(66));
    let audio = appsrc(
        gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .field("stream-format", "raw")
            .field("codec_data", gst::Buffer::from_slice([0x12u8, 0x10]))
            .build(),
    );
    let push = |src: &gst::Element, buffer: gst::Buffer| {
        let flow = src.emit_by_name::<gst::FlowReturn>("push-buffer", &[&buffer]);
        assert_eq!(flow, gst::FlowReturn::Ok);
    };
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", true)
        .build()
        .unwrap();
    pipeline
        .add_many([&video, &audio, mux.upcast_ref(), &sink])
        .unwrap();
    video.link_pads(None, &mux, Some("video")).unwrap();
    audio.link_pads(None, &mux, Some("audio")).unwrap();
    mux.link(&sink).unwrap();
    let (lists, tags) = (
        std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new())),
        std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new())),
    );
    let (l, t) = (lists.clone(), tags.clone());
    mux.static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            // A tag without DTS would break the order check below.
            let note = |b: &gst::BufferRef| {
                t.lock()
                    .unwrap()
                    .push(b.dts().map_or(u64::MAX, |d| d.mseconds()))
            };
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => note(b),
                Some(gst::PadProbeData::BufferList(list)) => {
                    l.lock().unwrap().push(list.len());
                    list.iter().for_each(note);
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
    for i in 0..30u64 {
        push(&video, frame(i as i64 * 33, i as i64 * 33, i == 0));
    }
    for i in 0..43u64 {
        let mut b = gst::Buffer::from_slice([0x21u8, 0x10, 0x04]);
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(i * 23));
        push(&audio, b);
    }
    for src in [&video, &audio] {
        let flow = src.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
        assert_eq!(flow, gst::FlowReturn::Ok);
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS within 10 s");
    assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
    pipeline.set_state(gst::State::Null).unwrap();
    let tags = tags.lock().unwrap().clone();
    // Metadata and two sequence headers, then every frame, by DTS.
    assert_eq!(tags.len(), 3 + 30 + 43);
    assert!(tags.windows(2).all(|w| w[0] <= w[1]), "{tags:?}");
    let lists = lists.lock().unwrap().clone();
    let batched: usize = lists.iter().sum();
    assert!(
        batched > tags.len() / 2,
        "most tags go out in lists: {lists:?} of {}",
        tags.len()
    );
}
