//! End to end: a real FLV stream through the tag reader and the demux mappings to caps and
//! buffers, and the mux mappings back to the same tag bodies.

use bytes::Bytes;

use super::testdata::{FLV_EXCERPT, MP3_22K_STEREO_BODY_START, hex};
use super::*;
use crate::protocol::amf0;

#[test]
fn real_stream_maps_to_caps_and_back() {
    gst::init().unwrap();
    let mut reader = FlvTagReader::new();
    reader.push(Bytes::from(hex(FLV_EXCERPT)));

    let mut meta = None;
    let mut video = None;
    let mut audio = None;
    let mut frames = Vec::new();
    let mut saw_eos = false;
    while let Some(tag) = reader.next_tag().unwrap() {
        match tag.tag_type {
            TagType::Script => {
                let values = amf0::decode_all(&tag.body).unwrap();
                meta = StreamMetadata::from_amf(&values);
            }
            TagType::Video => match parse_video_body(&tag.body).unwrap() {
                VideoTag::AvcSequenceHeader(avcc) => {
                    let caps = video_caps(&avcc, meta.as_ref().unwrap()).unwrap();
                    // The mux side rebuilds the identical tag body from these caps.
                    let config = VideoConfig::from_caps(&caps).unwrap();
                    assert_eq!(config.sequence_header(), tag.body);
                    video = Some(caps);
                }
                VideoTag::AvcFrame {
                    keyframe,
                    cts_ms,
                    data,
                } => {
                    let mut rebuilt = video_frame_header(keyframe, cts_ms).to_vec();
                    rebuilt.extend_from_slice(&data);
                    assert_eq!(rebuilt, tag.body);
                    frames.push((tag.timestamp, keyframe, cts_ms, data.len()));
                }
                VideoTag::AvcEndOfSequence => saw_eos = true,
                other => panic!("unexpected {other:?}"),
            },
            TagType::Audio => match parse_audio_body(&tag.body).unwrap() {
                AudioTag::AacSequenceHeader(asc) => {
                    let caps = aac_caps(&asc).unwrap();
                    let config = AudioConfig::from_caps(&caps).unwrap();
                    assert_eq!(config.sequence_header(), Some(tag.body.clone()));
                    audio = Some(caps);
                }
                AudioTag::AacFrame(data) => {
                    assert_eq!(
                        &tag.body[..2],
                        AudioConfig::from_caps(audio.as_ref().unwrap())
                            .unwrap()
                            .frame_header()
                    );
                    assert_eq!(data.len(), 5);
                }
                other => panic!("unexpected {other:?}"),
            },
        }
    }

    let video = video.unwrap();
    let s = video.structure(0).unwrap();
    assert_eq!(s.get::<i32>("width").unwrap(), 320);
    assert_eq!(s.get::<i32>("height").unwrap(), 240);
    assert_eq!(
        s.get::<gst::Fraction>("framerate").unwrap(),
        gst::Fraction::new(25, 1)
    );
    let audio = audio.unwrap();
    let s = audio.structure(0).unwrap();
    assert_eq!(s.get::<i32>("rate").unwrap(), 44100);
    assert_eq!(s.get::<i32>("channels").unwrap(), 1);
    // The B-frame at 240 ms is shown 40 ms after it is decoded.
    assert_eq!(frames, [(240, false, 40, 28)]);
    assert!(saw_eos);
}

#[test]
fn real_mp3_body_maps_to_caps() {
    gst::init().unwrap();
    let body = Bytes::from(hex(MP3_22K_STEREO_BODY_START));
    let AudioTag::Mp3 { data } = parse_audio_body(&body).unwrap() else {
        panic!("not MP3");
    };
    let caps = mp3_caps(&data).unwrap();
    let config = AudioConfig::from_caps(&caps).unwrap();
    assert_eq!((config.rate(), config.channels()), (22050, 2));
    assert_eq!(config.frame_header(), &body[..1]);
}
