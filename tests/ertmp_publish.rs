//! rtmpsink publishing Enhanced RTMP to FFmpeg 9 acting as the server (`-listen 1 -i
//! rtmp://... -map 0 -f framecrc -`): each of HEVC, AV1 and VP9 with each of Opus, FLAC and
//! AC-3, HEVC with E-AC-3, and H.264/AAC in the extended header, each decoded by FFmpeg
//! without an error, every frame sent. FFmpeg's connect answer lists no Enhanced RTMP codecs,
//! which `enhanced-codec-check` reports.

mod common;

use std::time::Duration;

use common::matrix::ertmp_codec_matrix;
use common::publish::{Audio, Ffmpeg9Listener, Published, Video, publish};

const FRAMES: u32 = 30;
/// About one second of audio at 48 kHz.
const AUDIO_BUFFERS: u32 = 47;
const TIMEOUT: Duration = Duration::from_secs(40);

fn publish_to_ffmpeg9(
    video: Video,
    audio: Audio,
    extra: &str,
) -> (Published, common::publish::Decoded) {
    let server = Ffmpeg9Listener::start();
    let description = format!(
        "{} ! rtmpsink name=s location={} sync=false reconnect-attempts=0 {extra} {} ! s.audio",
        video.branch(FRAMES, false),
        server.url,
        audio.branch(AUDIO_BUFFERS, 440, false)
    );
    let published = publish(&description, TIMEOUT);
    let decoded = server.finish(TIMEOUT);
    eprintln!(
        "{video:?}/{audio:?}: frames {:?}, types {:?}, warnings {:?}",
        decoded.frames, decoded.media_types, published.warnings
    );
    (published, decoded)
}

/// Every video frame and about all audio frames decoded, streams in order video then audio, no
/// decoding error, and the stream ended cleanly.
fn assert_decoded(
    video: Video,
    audio: Audio,
    published: &Published,
    decoded: &common::publish::Decoded,
) {
    assert!(
        published.eos && published.error.is_none(),
        "{video:?}/{audio:?}: publishing failed: {:?}",
        published.error
    );
    assert!(
        decoded.errors.is_empty(),
        "{video:?}/{audio:?}: FFmpeg 9 reported errors:\n{}",
        decoded.errors
    );
    assert_eq!(
        decoded
            .media_types
            .values()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["video", "audio"]
    );
    assert_eq!(
        decoded.frames.get(&0),
        Some(&(FRAMES as usize)),
        "{video:?} frames"
    );
    let audio_frames = decoded.frames.get(&1).copied().unwrap_or(0);
    assert!(
        audio.expected_frames(AUDIO_BUFFERS).contains(&audio_frames),
        "{audio:?}: {audio_frames} frames decoded, expected {:?}",
        audio.expected_frames(AUDIO_BUFFERS)
    );
}

/// FFmpeg answers connect like a legacy server: the default check warns once per FourCC.
fn assert_warned_about(published: &Published, fourccs: &[&str]) {
    for fourcc in fourccs {
        assert_eq!(
            published
                .warnings
                .iter()
                .filter(|w| w.contains("lists no Enhanced RTMP codecs") && w.contains(fourcc))
                .count(),
            1,
            "one warning about {fourcc}: {:?}",
            published.warnings
        );
    }
}

/// One pair: decoded by FFmpeg, and its legacy connect answer reported once per FourCC.
fn decoded_and_reported(video: Video, audio: Audio) {
    let (published, decoded) = publish_to_ffmpeg9(video, audio, "");
    assert_decoded(video, audio, &published, &decoded);
    assert_warned_about(&published, &[video.fourcc(), audio.fourcc()]);
}

ertmp_codec_matrix!(decoded_and_reported(Video, Audio));

#[test]
fn hevc_with_eac3() {
    decoded_and_reported(Video::Hevc, Audio::Eac3);
}

#[test]
fn h264_and_aac_in_the_extended_header() {
    let (published, decoded) =
        publish_to_ffmpeg9(Video::H264, Audio::Aac, "enhanced-rtmp=extended");
    assert_decoded(Video::H264, Audio::Aac, &published, &decoded);
    assert_warned_about(&published, &["avc1", "mp4a"]);
}

#[test]
fn legacy_h264_and_aac_are_not_checked() {
    let (published, decoded) = publish_to_ffmpeg9(Video::H264, Audio::Aac, "");
    assert_decoded(Video::H264, Audio::Aac, &published, &decoded);
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
}

#[test]
fn codec_check_off_says_nothing() {
    let (published, decoded) =
        publish_to_ffmpeg9(Video::Vp9, Audio::Opus, "enhanced-codec-check=off");
    assert_decoded(Video::Vp9, Audio::Opus, &published, &decoded);
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
}

#[test]
fn codec_check_error_refuses_a_codec_the_server_did_not_list() {
    let server = Ffmpeg9Listener::start();
    let description = format!(
        "{} ! rtmpsink name=s location={} reconnect-attempts=0 enhanced-codec-check=error",
        Video::Hevc.branch(FRAMES, true),
        server.url,
    );
    let published = publish(&description, TIMEOUT);
    let error = published.error.expect("an error");
    assert!(
        error.contains("hvc1") && error.contains("lists no Enhanced RTMP codecs"),
        "{error}"
    );
    let decoded = server.finish(TIMEOUT);
    // At most the frames sent before the connect answer came; never the whole stream.
    assert!(
        decoded.frames.get(&0).copied().unwrap_or(0) < FRAMES as usize,
        "{:?}",
        decoded.frames
    );
}
