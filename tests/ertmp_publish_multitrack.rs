//! rtmpsink publishing Enhanced RTMP multitrack to FFmpeg 9 (`-listen 1 ... -map 0 -f
//! framecrc -`): `audio_1`/`video_1` pads beside `audio`/`video` go out as OneTrack multitrack
//! packets with their track id, and FFmpeg sees and decodes every track.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::publish::{Audio, Decoded, Ffmpeg9Listener, Video, publish};

const FRAMES: u32 = 30;
const AUDIO_BUFFERS: u32 = 47;
const TIMEOUT: Duration = Duration::from_secs(40);

/// Publishes `branches` (each ending in `s.PAD`) to FFmpeg 9 and returns what it decoded.
fn publish_tracks(branches: &[String]) -> Decoded {
    let server = Ffmpeg9Listener::start();
    let description = format!(
        "rtmpsink name=s location={} sync=false reconnect-attempts=0 {}",
        server.url,
        branches.join(" ")
    );
    let published = publish(&description, TIMEOUT);
    let decoded = server.finish(TIMEOUT);
    eprintln!(
        "frames {:?}, types {:?}",
        decoded.frames, decoded.media_types
    );
    assert!(
        published.eos && published.error.is_none(),
        "publishing failed: {:?}",
        published.error
    );
    assert!(
        decoded.errors.is_empty(),
        "FFmpeg 9 reported errors:\n{}",
        decoded.errors
    );
    decoded
}

/// Frame counts of the streams of `kind`, sorted.
fn counts(decoded: &Decoded, kind: &str) -> Vec<usize> {
    let mut counts: Vec<usize> = decoded
        .media_types
        .iter()
        .filter(|(_, t)| t.as_str() == kind)
        .map(|(i, _)| decoded.frames.get(i).copied().unwrap_or(0))
        .collect();
    counts.sort();
    counts
}

fn dimensions(decoded: &Decoded) -> BTreeMap<u32, String> {
    decoded
        .finished
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("#dimensions "))
        .filter_map(|l| l.split_once(": "))
        .filter_map(|(i, d)| Some((i.parse().ok()?, d.to_owned())))
        .collect()
}

fn in_range(audio: Audio, frames: usize) -> bool {
    audio.expected_frames(AUDIO_BUFFERS).contains(&frames)
}

#[test]
fn two_audio_tracks_beside_h264() {
    let decoded = publish_tracks(&[
        format!("{} ! s.video", Video::H264.branch(FRAMES, false)),
        format!("{} ! s.audio", Audio::Aac.branch(AUDIO_BUFFERS, 440, false)),
        format!(
            "{} ! s.audio_1",
            Audio::Opus.branch(AUDIO_BUFFERS, 880, false)
        ),
    ]);
    assert_eq!(counts(&decoded, "video"), [FRAMES as usize]);
    let audio = counts(&decoded, "audio");
    assert_eq!(
        audio.len(),
        2,
        "two audio streams: {:?}",
        decoded.media_types
    );
    // AAC: 1024 samples a frame; Opus: 960.
    assert!(in_range(Audio::Aac, audio[0]), "{audio:?}");
    assert!(in_range(Audio::Opus, audio[1]), "{audio:?}");
}

#[test]
fn hevc_with_opus_and_ac3_tracks() {
    let decoded = publish_tracks(&[
        format!("{} ! s.video", Video::Hevc.branch(FRAMES, false)),
        format!(
            "{} ! s.audio",
            Audio::Opus.branch(AUDIO_BUFFERS, 440, false)
        ),
        format!(
            "{} ! s.audio_2",
            Audio::Ac3.branch(AUDIO_BUFFERS, 880, false)
        ),
    ]);
    assert_eq!(counts(&decoded, "video"), [FRAMES as usize]);
    let audio = counts(&decoded, "audio");
    assert_eq!(
        audio.len(),
        2,
        "two audio streams: {:?}",
        decoded.media_types
    );
    assert!(in_range(Audio::Ac3, audio[0]), "{audio:?}");
    assert!(in_range(Audio::Opus, audio[1]), "{audio:?}");
}

#[test]
fn a_second_video_track_in_another_codec() {
    let small = Video::Hevc
        .branch(FRAMES, false)
        .replace("width=160,height=120", "width=80,height=60");
    let decoded = publish_tracks(&[
        format!("{} ! s.video", Video::H264.branch(FRAMES, false)),
        format!("{small} ! s.video_1"),
        format!("{} ! s.audio", Audio::Aac.branch(AUDIO_BUFFERS, 440, false)),
    ]);
    assert_eq!(
        counts(&decoded, "video"),
        [FRAMES as usize, FRAMES as usize]
    );
    let mut sizes: Vec<String> = dimensions(&decoded).into_values().collect();
    sizes.sort();
    assert_eq!(sizes, ["160x120", "80x60"]);
}
