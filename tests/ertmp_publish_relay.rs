//! rtmpsink's Enhanced RTMP through other peers: relayed by node-media-server 4 to our
//! rtmpsrc (each of HEVC, AV1 and VP9 with each of Opus, FLAC and AC-3), published to our own
//! rtmpsrc in listener mode (whose connect answer lists every codec, so nothing is reported),
//! and served by rtmpsink in listener mode to FFmpeg 9 as the player.

mod common;

use std::time::Duration;

use common::listen::listen_location;
use common::matrix::ertmp_codec_matrix;
use common::publish::{Audio, CountingPlayer, Nms4, Published, Video, parse_framecrc, publish};
use common::{Proc, ffmpeg9, wait_listening};

const FRAMES: u32 = 30;
const AUDIO_BUFFERS: u32 = 47;
const TIMEOUT: Duration = Duration::from_secs(30);

fn assert_published(what: &str, published: &Published) {
    assert!(
        published.eos && published.error.is_none(),
        "{what}: publishing failed: {:?}",
        published.error
    );
}

/// The player first (NMS holds it until the publisher comes), then the publisher; the player
/// must decode every video frame and the audio.
fn relay_through_nms(video: Video, audio: Audio) {
    let nms = Nms4::start();
    let url = nms.url("key");
    let player = CountingPlayer::start(
        &url,
        &[("video", video.decoder()), ("audio", audio.decoder())],
    );
    nms.wait_log("start play /live/key", TIMEOUT);
    let published = publish(
        &format!(
            "{} ! rtmpsink name=s location={url} sync=false reconnect-attempts=0 {} ! s.audio",
            video.branch(FRAMES, false),
            audio.branch(AUDIO_BUFFERS, 440, false)
        ),
        TIMEOUT,
    );
    let what = format!("{video:?}/{audio:?} through NMS 4");
    assert_published(&what, &published);
    // NMS does not end the play when the publisher leaves, so a decoder with B-frames keeps
    // its last reordered frames (and the FLAC branch its last frame, seen: 11 in, 10 out):
    // every frame must reach rtmpsrc's pad, and all but those few must come out of the
    // decoder.
    let audio_min = *audio.expected_frames(AUDIO_BUFFERS).start() as u64;
    let received = player.wait_received(
        &[("video", u64::from(FRAMES)), ("audio", audio_min)],
        TIMEOUT,
    );
    let reorder = if video == Video::Hevc { 3 } else { 0 };
    let decoded = player.wait_decoded(
        &[("video", u64::from(FRAMES - reorder)), ("audio", audio_min)],
        TIMEOUT,
    );
    eprintln!(
        "{what}: received video {}, audio {}; decoded video {}, audio {}",
        player.received("video"),
        player.received("audio"),
        player.decoded("video"),
        player.decoded("audio")
    );
    assert!(
        received && decoded,
        "{what}: not everything decoded; player error {:?}",
        player.error()
    );
    assert_eq!(player.received("video"), u64::from(FRAMES));
    assert_eq!(player.error(), None);
    let caps = player
        .caps
        .lock()
        .unwrap()
        .get("video")
        .cloned()
        .expect("video caps");
    let s = caps.structure(0).unwrap();
    assert_eq!(
        (s.get::<i32>("width").ok(), s.get::<i32>("height").ok()),
        (Some(160), Some(120)),
        "{caps}"
    );
}

ertmp_codec_matrix!(relay_through_nms(Video, Audio));

#[test]
fn our_listener_lists_every_codec_so_nothing_is_reported() {
    let (port, location) = listen_location("key");
    let player = CountingPlayer::start_listener(
        &location,
        &[
            ("video", Video::Av1.decoder()),
            ("audio", Audio::Opus.decoder()),
        ],
    );
    assert!(wait_listening(port, TIMEOUT), "rtmpsrc does not listen");
    let published = publish(
        &format!(
            "{} ! rtmpsink name=s location={location} sync=false reconnect-attempts=0 \
             enhanced-codec-check=error {} ! s.audio",
            Video::Av1.branch(FRAMES, false),
            Audio::Opus.branch(AUDIO_BUFFERS, 440, false)
        ),
        TIMEOUT,
    );
    assert_published("AV1/Opus to rtmpsrc mode=listener", &published);
    assert!(published.warnings.is_empty(), "{:?}", published.warnings);
    let audio_min = *Audio::Opus.expected_frames(AUDIO_BUFFERS).start() as u64;
    assert!(
        player.wait_decoded(
            &[("video", u64::from(FRAMES)), ("audio", audio_min)],
            TIMEOUT
        ),
        "decoded video {}, audio {}; error {:?}",
        player.decoded("video"),
        player.decoded("audio"),
        player.error()
    );
}

#[test]
fn listener_mode_serves_hevc_to_ffmpeg9() {
    let (port, location) = listen_location("key");
    let frames = 90;
    let description = format!(
        "rtmpsink name=s mode=listener location={location} {} ! queue ! s.video {} ! queue ! s.audio",
        Video::Hevc.branch(frames, true),
        Audio::Opus.branch(frames * 3 / 2, 440, true)
    );
    let server = std::thread::spawn(move || publish(&description, Duration::from_secs(40)));
    assert!(wait_listening(port, TIMEOUT), "rtmpsink does not listen");
    let player = Proc::spawn(
        std::process::Command::new(ffmpeg9())
            .args(["-nostdin", "-hide_banner", "-v", "error", "-i", &location])
            .args(["-map", "0", "-f", "framecrc", "-"]),
    );
    let published = server.join().expect("publisher thread");
    assert_published("HEVC/Opus served", &published);
    let decoded = parse_framecrc(player.finish(TIMEOUT));
    eprintln!(
        "served HEVC/Opus: {:?} {:?}",
        decoded.frames, decoded.media_types
    );
    assert!(
        decoded.errors.is_empty(),
        "FFmpeg 9 reported:\n{}",
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
    // It joined within the first second (a keyframe every half second).
    let video = decoded.frames.get(&0).copied().unwrap_or(0);
    assert!(
        (frames as usize - 45..=frames as usize).contains(&video),
        "{video} frames"
    );
    assert!(
        decoded.frames.get(&1).copied().unwrap_or(0) > 50,
        "{:?}",
        decoded.frames
    );
}
