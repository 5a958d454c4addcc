//! rtmpsrc playing an Enhanced RTMP multitrack stream from FFmpeg 9 acting as the server
//! (`-listen 1`): one H.264 video track and two audio tracks (AAC on track 0, Opus on
//! track 1). rtmpsrc exposes `video`, `audio` and `audio_1`, and each decodes completely.

mod common;

use std::time::Duration;

use common::TempDir;
use common::ertmp::{ffmpeg9_server, make_two_audio_track_flv, play_and_decode};

const FRAMES: u64 = 50;
/// What FRAMES video frames last; both audio tracks are cut to the same.
const DURATION: Duration = Duration::from_secs(2);

#[test]
fn two_audio_tracks_from_ffmpeg9_get_two_pads_and_both_decode() {
    let dir = TempDir::new("ertmp-multitrack");
    let h264 = ["-c:v", "libx264", "-preset", "ultrafast"];
    let flv = make_two_audio_track_flv(&dir, FRAMES, &h264, ["aac", "libopus"]);

    let (url, server) = ffmpeg9_server(&flv);
    let decoders = [
        ("video", "h264parse ! avdec_h264"),
        ("audio", "aacparse ! avdec_aac"),
        ("audio_1", "opusdec"),
    ];
    let log = play_and_decode(&url, &decoders, Duration::from_secs(30));
    drop(server);
    log.print_pads();
    assert!(
        log.eos && log.error.is_none(),
        "no clean EOS: {:?}, warnings {:?}",
        log.error,
        log.warnings
    );
    let unexpected: Vec<_> = log
        .warnings
        .iter()
        .filter(|w| !w.contains("ended without end of stream"))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let mut pads = log.pad_names.clone();
    pads.sort();
    assert_eq!(pads, vec!["audio", "audio_1", "video"]);

    let caps = |pad: &str| log.first_caps_name(pad);
    assert_eq!(caps("audio").as_deref(), Some("audio/mpeg"));
    assert_eq!(caps("audio_1").as_deref(), Some("audio/x-opus"));
    let v = log.pad("video");
    assert_eq!((v.buffers, v.decoded), (FRAMES, FRAMES));
    // Each audio track decoded in full: 2 s of samples (within codec frame granularity).
    for pad in ["audio", "audio_1"] {
        let a = log.pad(pad);
        let decoded = Duration::from_nanos(a.decoded_duration.nseconds());
        assert!(
            a.buffers > 10 && decoded.abs_diff(DURATION) < Duration::from_millis(70),
            "{pad}: decoded {decoded:?} from {} buffers",
            a.buffers
        );
    }
}
