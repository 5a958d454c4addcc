//! FLV streams through `FlvTagReader` at arbitrary splits, and every tag body through the codec
//! parsers and caps builders (`gst::init()` once).
//!
//! Invariants: the tags, the error and the bytes consumed do not depend on the splits; no tag
//! exceeds the reader's limit; tags written back with `write_tag` read back equal; payloads the
//! parsers return are suffixes of the body (they are sub-slices, never invented bytes; a
//! multitrack packet's tracks lie within the body and do not nest); caps
//! built from sequence headers carry that header as `codec_data` and sane rates and sizes;
//! `strip_set_data_frame(set_data_frame(b)) == b`.
//!
//! Input: a control byte (bit 7: the rest is one tag body rather than a stream; bits 0-1: the
//! reader's tag size limit), then the data.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::split_plans;
use gstrtmp::flv::metadata::{set_data_frame, strip_set_data_frame};
use gstrtmp::flv::tag::{DEFAULT_MAX_TAG_SIZE, write_tag};
use gstrtmp::flv::{
    AudioTag, ColorInfo, FlvError, FlvTag, FlvTagReader, StreamMetadata, TagType, VideoTag,
    aac_caps, ex_audio_caps, ex_video_caps, mp3_caps, parse_audio_body, parse_video_body,
    video_caps,
};
use gstrtmp::protocol::amf0;

#[derive(Debug, PartialEq)]
struct Outcome {
    tags: Vec<FlvTag>,
    error: Option<FlvError>,
    consumed: usize,
    header_flags: Option<u8>,
}

fn read(stream: &Bytes, plan: &[usize], max_tag: usize) -> Outcome {
    let mut reader = FlvTagReader::with_max_tag_size(max_tag);
    let mut tags = Vec::new();
    let mut pushed = 0;
    let mut error = None;
    'outer: for &piece in plan {
        reader.push(stream.slice(pushed..pushed + piece));
        pushed += piece;
        loop {
            match reader.next_tag() {
                Ok(Some(tag)) => {
                    assert!(tag.body.len() <= max_tag);
                    tags.push(tag);
                }
                Ok(None) => break,
                Err(e) => {
                    // The reader stays failed.
                    assert_eq!(reader.next_tag(), Err(e.clone()));
                    error = Some(e);
                    break 'outer;
                }
            }
        }
        // Whole tags never stay buffered: what is left is less than one tag plus a header.
        if error.is_none() {
            assert!(reader.buffered() < 13 + 11 + max_tag + 4);
        }
    }
    Outcome {
        tags,
        error,
        consumed: pushed - reader.buffered(),
        header_flags: reader.header_flags(),
    }
}

fn is_suffix(body: &Bytes, part: &Bytes) -> bool {
    body.ends_with(part)
}

/// `part` is a sub-slice of `body` (a multitrack track's payload).
fn is_within(body: &Bytes, part: &Bytes) -> bool {
    let (start, p) = (body.as_ptr() as usize, part.as_ptr() as usize);
    part.is_empty() || (p >= start && p + part.len() <= start + body.len())
}

fn check_video(body: &Bytes, meta: &StreamMetadata) {
    let Ok(tag) = parse_video_body(body) else {
        return;
    };
    if let VideoTag::Multitrack(tracks) = tag {
        for (_, track) in tracks {
            check_video_tag(body, track, meta, is_within);
        }
        return;
    }
    check_video_tag(body, tag, meta, is_suffix);
}

/// Checks one (track's) tag; `is_suffix` says where its payloads must lie in `body`.
fn check_video_tag(
    body: &Bytes,
    tag: VideoTag,
    meta: &StreamMetadata,
    is_suffix: fn(&Bytes, &Bytes) -> bool,
) {
    match tag {
        VideoTag::AvcSequenceHeader(avcc) => {
            assert!(is_suffix(body, &avcc));
            if let Ok(caps) = video_caps(&avcc, meta) {
                let s = caps.structure(0).unwrap();
                assert_eq!(s.name(), "video/x-h264");
                let codec_data = s.get::<gst::Buffer>("codec_data").unwrap();
                assert_eq!(&codec_data.map_readable().unwrap()[..], &avcc[..]);
                if let Ok(w) = s.get::<i32>("width") {
                    assert!(w > 0 && s.get::<i32>("height").unwrap() > 0);
                }
                let par = s.get::<gst::Fraction>("pixel-aspect-ratio").unwrap();
                assert!(par.numer() > 0 && par.denom() > 0);
                if let Ok(fps) = s.get::<gst::Fraction>("framerate") {
                    assert!(fps.numer() > 0 && fps.denom() > 0);
                }
            }
        }
        VideoTag::AvcFrame { data, .. } => assert!(is_suffix(body, &data)),
        VideoTag::ExSequenceStart { codec, config } => {
            assert!(is_suffix(body, &config));
            if let Ok(caps) = ex_video_caps(codec, &config, meta) {
                let s = caps.structure(0).unwrap();
                let codec_data = s.get::<gst::Buffer>("codec_data").unwrap();
                assert_eq!(&codec_data.map_readable().unwrap()[..], &config[..]);
                if let Ok(w) = s.get::<i32>("width") {
                    assert!(w > 0 && s.get::<i32>("height").unwrap() > 0);
                }
            }
        }
        VideoTag::ExFrame { data, .. } | VideoTag::ExMetadata { data, .. } => {
            assert!(is_suffix(body, &data));
            // colorInfo parsing takes any bytes.
            if let Some(color) = ColorInfo::parse(&data) {
                let mut caps = gst::Caps::new_empty_simple("video/x-h265");
                color.add_to_caps(&mut caps, None);
            }
        }
        VideoTag::Multitrack(_) => panic!("multitrack tracks do not nest"),
        _ => {}
    }
}

fn check_audio(body: &Bytes) {
    let Ok(tag) = parse_audio_body(body) else {
        return;
    };
    if let AudioTag::Multitrack(tracks) = tag {
        for (_, track) in tracks {
            check_audio_tag(body, track, is_within);
        }
        return;
    }
    check_audio_tag(body, tag, is_suffix);
}

/// Checks one (track's) tag; `is_suffix` says where its payloads must lie in `body`.
fn check_audio_tag(body: &Bytes, tag: AudioTag, is_suffix: fn(&Bytes, &Bytes) -> bool) {
    match tag {
        AudioTag::AacSequenceHeader(asc) => {
            assert!(is_suffix(body, &asc));
            if let Ok(caps) = aac_caps(&asc) {
                let s = caps.structure(0).unwrap();
                assert!(s.get::<i32>("rate").unwrap() > 0);
                if let Ok(channels) = s.get::<i32>("channels") {
                    assert!((1..=24).contains(&channels));
                }
                let codec_data = s.get::<gst::Buffer>("codec_data").unwrap();
                assert_eq!(&codec_data.map_readable().unwrap()[..], &asc[..]);
            }
        }
        AudioTag::AacFrame(data) => assert!(is_suffix(body, &data)),
        AudioTag::Mp3 { data } => {
            assert!(is_suffix(body, &data));
            if let Ok(caps) = mp3_caps(&data) {
                let s = caps.structure(0).unwrap();
                let rate = s.get::<i32>("rate").unwrap();
                assert!((8000..=48000).contains(&rate));
                assert!((1..=2).contains(&s.get::<i32>("channels").unwrap()));
            }
        }
        AudioTag::ExSequenceStart { codec, config } => {
            assert!(is_suffix(body, &config));
            if let Ok(caps) = ex_audio_caps(codec, &config, &StreamMetadata::default()) {
                let s = caps.structure(0).unwrap();
                if let Ok(rate) = s.get::<i32>("rate") {
                    assert!(rate > 0);
                }
                if let Ok(channels) = s.get::<i32>("channels") {
                    assert!((1..=255).contains(&channels));
                }
            }
        }
        AudioTag::ExFrame { data, .. } => assert!(is_suffix(body, &data)),
        AudioTag::Multitrack(_) => panic!("multitrack tracks do not nest"),
        _ => {}
    }
}

/// Reads onMetaData from a script body; other script bodies give the default.
fn check_script(body: &Bytes) -> Option<StreamMetadata> {
    assert_eq!(strip_set_data_frame(&set_data_frame(body)), *body);
    let values = amf0::decode_all(body).ok()?;
    let meta = StreamMetadata::from_amf(&values)?;
    for dim in [meta.width, meta.height].into_iter().flatten() {
        assert!(dim >= 1 && dim <= i32::MAX as u32);
    }
    if let Some(fps) = meta.framerate {
        assert!(fps.numer() > 0 && fps.denom() > 0);
    }
    let _ = (meta.video_tags(), meta.audio_tags());
    Some(meta)
}

fuzz_target!(init: gst::init().unwrap(), |data: &[u8]| {
    let Some((&ctrl, rest)) = data.split_first() else {
        return;
    };
    let stream = Bytes::copy_from_slice(rest);

    if ctrl & 0x80 != 0 {
        // One tag body, seen as each kind of tag.
        let meta = check_script(&stream).unwrap_or_default();
        check_video(&stream, &meta);
        check_audio(&stream);
        return;
    }

    let max_tag = match ctrl & 3 {
        0 => DEFAULT_MAX_TAG_SIZE,
        1 => 0,
        2 => 64,
        _ => 0xff_ffff,
    };
    let seed = u64::from(ctrl);
    let plans = split_plans(stream.len(), seed);
    let reference = read(&stream, &plans[0], max_tag);
    for plan in &plans[1..] {
        assert_eq!(read(&stream, plan, max_tag), reference, "split {plan:?} differs");
    }

    let mut meta = StreamMetadata::default();
    let mut rewritten = BytesMut::new();
    for tag in &reference.tags {
        match tag.tag_type {
            TagType::Script => {
                if let Some(m) = check_script(&tag.body) {
                    meta = m;
                }
            }
            TagType::Video => check_video(&tag.body, &meta),
            TagType::Audio => check_audio(&tag.body),
        }
        write_tag(&mut rewritten, tag.tag_type, tag.timestamp, &tag.body).unwrap();
    }
    let mut reader = FlvTagReader::new();
    reader.push(rewritten.freeze());
    for tag in &reference.tags {
        assert_eq!(reader.next_tag().unwrap().as_ref(), Some(tag));
    }
    assert_eq!(reader.next_tag(), Ok(None));
    assert_eq!(reader.buffered(), 0);
});
