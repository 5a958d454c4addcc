//! node-media-server v4 (`target/nms4`, Enhanced RTMP relay) between FFmpeg 9 publishing and
//! rtmpsrc playing: each of HEVC, AV1 and VP9 with each of Opus, FLAC and AC-3. The player
//! joins the running stream and decodes it. NMS never tells a player that the publish ended,
//! so the player stops at `idle-timeout`.

mod common;

use std::time::Duration;

use common::ertmp::{ExAudio, ExCodec, make_ex_flv, play_and_decode_with};
use common::matrix::ertmp_codec_matrix;
use common::publish::Nms4;
use common::{Proc, TempDir, ffmpeg9};

/// Video frames published (25 fps): long enough that a late join still sees a few GOPs.
const FRAMES: u32 = 60;

fn through_nms4(video: ExCodec, audio: ExAudio) {
    let nms = Nms4::start();
    let dir = TempDir::new("ertmp-nms4");
    let what = format!("{video:?}/{audio:?}");
    // Published in real time; the player joins while it runs.
    let flv = make_ex_flv(&dir, Some(video), Some(audio), FRAMES);
    let url = nms.url("ertmp");
    let _publisher = Proc::spawn(
        std::process::Command::new(ffmpeg9())
            .args(["-nostdin", "-v", "error", "-re", "-i"])
            .arg(&flv)
            .args(["-map", "0", "-c", "copy", "-f", "flv"])
            .arg(&url),
    );
    let decoders = [("video", video.decoder()), ("audio", audio.decoder())];
    let log = play_and_decode_with(
        &url,
        &decoders,
        Duration::from_secs(30),
        &[("idle-timeout", "2")],
    );
    for (pad, p) in &log.pads {
        eprintln!("{what} {pad}: {} buffers, {} decoded", p.buffers, p.decoded);
    }
    assert!(
        log.error.is_none(),
        "{what}: {:?} {:?}",
        log.error,
        log.warnings
    );
    let mut pads = log.pad_names.clone();
    pads.sort();
    assert_eq!(pads, vec!["audio", "video"], "{what}");
    let v = log.pad("video");
    let a = log.pad("audio");
    // The player may join a second or two late, but from a keyframe: every picture it got
    // decodes.
    assert!(
        v.decoded > 25 && v.decoded == v.buffers,
        "{what}: video {v:?}"
    );
    assert!(
        a.decoded > 25 && a.decoded == a.buffers,
        "{what}: audio {a:?}"
    );
}

ertmp_codec_matrix!(through_nms4(ExCodec, ExAudio));
