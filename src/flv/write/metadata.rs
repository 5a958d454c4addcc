//! `onMetaData` for an Enhanced RTMP stream: the legacy fields with FourCC codec ids (as
//! numbers, the way FFmpeg 9 writes them) and, for multitrack streams, `videoTrackIdInfoMap` /
//! `audioTrackIdInfoMap` describing the tracks other than the default one (track 0, which the
//! top-level fields describe).

use bytes::{Bytes, BytesMut};

use super::{OutAudio, OutVideo};
use crate::flv::metadata::ON_METADATA;
use crate::protocol::amf0::{self, Amf0Value};

fn num(props: &mut Vec<(String, Amf0Value)>, name: &str, value: f64) {
    props.push((name.to_owned(), Amf0Value::Number(value)));
}

fn video_props(props: &mut Vec<(String, Amf0Value)>, v: &OutVideo) {
    num(props, "videocodecid", v.codec_id());
    if let (Some(w), Some(h)) = (v.width, v.height) {
        num(props, "width", f64::from(w));
        num(props, "height", f64::from(h));
    }
    if let Some(par) = v.pixel_aspect_ratio {
        num(props, "AspectRatioX", f64::from(par.numer()));
        num(props, "AspectRatioY", f64::from(par.denom()));
    }
    if let Some(fps) = v.framerate {
        num(
            props,
            "framerate",
            f64::from(fps.numer()) / f64::from(fps.denom()),
        );
    }
}

fn audio_props(props: &mut Vec<(String, Amf0Value)>, a: &OutAudio, track: bool) {
    num(props, "audiocodecid", a.codec_id());
    num(props, "audiosamplerate", f64::from(a.rate));
    num(props, "audiosamplesize", 16.0);
    props.push(("stereo".to_owned(), Amf0Value::Boolean(a.channels >= 2)));
    if track {
        // `stereo` cannot say 5.1; track descriptions carry the count.
        num(props, "channels", f64::from(a.channels));
    }
}

/// The track map for tracks other than 0: `{"1": {...}, "2": {...}}`.
fn track_map<T>(
    tracks: &[(u8, &T)],
    mut props_of: impl FnMut(&mut Vec<(String, Amf0Value)>, &T),
) -> Option<Amf0Value> {
    let entries: Vec<(String, Amf0Value)> = tracks
        .iter()
        .filter(|(id, _)| *id != 0)
        .map(|(id, t)| {
            let mut p = Vec::new();
            props_of(&mut p, t);
            (id.to_string(), Amf0Value::Object(p))
        })
        .collect();
    (!entries.is_empty()).then_some(Amf0Value::Object(entries))
}

/// The onMetaData body. The default track is track 0 if present, else the lowest track id.
pub fn on_metadata(video: &[(u8, &OutVideo)], audio: &[(u8, &OutAudio)], encoder: &str) -> Bytes {
    let mut props = Vec::new();
    num(&mut props, "duration", 0.0);
    if let Some((_, v)) = video.iter().min_by_key(|(id, _)| *id) {
        video_props(&mut props, v);
    }
    if let Some((_, a)) = audio.iter().min_by_key(|(id, _)| *id) {
        audio_props(&mut props, a, false);
    }
    props.push(("encoder".to_owned(), Amf0Value::String(encoder.to_owned())));
    if let Some(map) = track_map(video, video_props) {
        props.push(("videoTrackIdInfoMap".to_owned(), map));
    }
    if let Some(map) = track_map(audio, |p, a| audio_props(p, a, true)) {
        props.push(("audioTrackIdInfoMap".to_owned(), map));
    }
    let mut out = BytesMut::new();
    amf0::encode_all(
        &[
            Amf0Value::String(ON_METADATA.to_owned()),
            Amf0Value::EcmaArray(props),
        ],
        &mut out,
    );
    out.freeze()
}
