//! nginx-rtmp relaying Enhanced RTMP to an rtmpsrc player that was there before the publisher
//! (nginx caches only AVC/AAC sequence headers, so only such a player gets the HEVC/AV1 one):
//! FFmpeg 9 publishes HEVC + Opus, our rtmpsink AV1 + Opus; rtmpsrc decodes every frame and ends
//! with nginx's `Play.Stop`. The application needs `wait_key off`: nginx's default (on) reads
//! the frame type without the extended header's IsExHeader bit, never sees an E-RTMP keyframe
//! and relays no video at all (checked here: the player gets only its audio pad).

mod common;

use std::time::Duration;

use common::ertmp::{ExAudio, ExCodec, PlayLog, make_ex_flv, play_and_decode_with};
use common::nginx::Nginx;
use common::publish::{Audio, Video, publish};
use common::{Proc, TempDir, ffmpeg9};

const TIMEOUT: Duration = Duration::from_secs(30);
const APP: &str = "application ertmp { live on; wait_key off; play_restart on; }";

/// Starts rtmpsrc on nginx's `live/NAME`, waits until nginx has it as a player, runs
/// `publisher`, and returns what the player decoded once the publish ended.
fn play_first(
    nginx: &Nginx,
    name: &str,
    decoders: &[(&'static str, &'static str)],
    publisher: impl FnOnce(&str),
) -> PlayLog {
    let url = nginx.url(name);
    let player_url = url.clone();
    let decoders = decoders.to_vec();
    let player =
        std::thread::spawn(move || play_and_decode_with(&player_url, &decoders, TIMEOUT, &[]));
    nginx.wait_player(name.rsplit('/').next().unwrap(), Duration::from_secs(10));
    publisher(&url);
    let log = player.join().expect("player thread");
    for (pad, p) in &log.pads {
        eprintln!("{pad}: {} buffers, {} decoded", p.buffers, p.decoded);
    }
    assert!(
        log.eos && log.error.is_none(),
        "no clean EOS: {:?}, warnings {:?}\n{}",
        log.error,
        log.warnings,
        nginx.error_log()
    );
    let mut pads = log.pad_names.clone();
    pads.sort();
    assert_eq!(pads, vec!["audio", "video"], "warnings {:?}", log.warnings);
    log
}

#[test]
fn ffmpeg9_hevc_through_nginx_to_a_player_that_came_first() {
    let nginx = Nginx::start_with(APP);
    let dir = TempDir::new("ertmp-nginx");
    let frames = 50;
    let flv = make_ex_flv(&dir, Some(ExCodec::Hevc), Some(ExAudio::Opus), frames);
    let decoders = [
        ("video", ExCodec::Hevc.decoder()),
        ("audio", ExAudio::Opus.decoder()),
    ];
    let log = play_first(&nginx, "ertmp/hevc", &decoders, |url| {
        let publisher = Proc::spawn(
            std::process::Command::new(ffmpeg9())
                .args(["-nostdin", "-v", "error", "-re", "-i"])
                .arg(&flv)
                .args(["-map", "0", "-c", "copy", "-f", "flv"])
                .arg(url),
        );
        publisher
            .finish(TIMEOUT)
            .assert_success("FFmpeg 9 publishing");
    });
    let v = log.pad("video");
    assert_eq!(
        (v.buffers, v.decoded),
        (u64::from(frames), u64::from(frames))
    );
    let caps = v.caps.first().and_then(|c| c.structure(0)).expect("caps");
    assert_eq!(caps.name(), "video/x-h265");
    let a = log.pad("audio");
    // 2 s of 20 ms Opus packets.
    assert!(a.decoded >= 99 && a.decoded == a.buffers, "audio {a:?}");
}

#[test]
fn rtmpsink_av1_through_nginx_to_a_player_that_came_first() {
    let nginx = Nginx::start_with(APP);
    let frames = 45;
    let audio_buffers = 70;
    let decoders = [
        ("video", Video::Av1.decoder()),
        ("audio", Audio::Opus.decoder()),
    ];
    let log = play_first(&nginx, "ertmp/av1", &decoders, |url| {
        let published = publish(
            &format!(
                "rtmpsink name=s location={url} enhanced-codec-check=off {} ! queue ! s.video \
                 {} ! queue ! s.audio",
                Video::Av1.branch(frames, true),
                Audio::Opus.branch(audio_buffers, 440, true)
            ),
            TIMEOUT,
        );
        assert!(
            published.eos && published.error.is_none(),
            "publishing failed: {:?}",
            published.error
        );
    });
    let v = log.pad("video");
    assert_eq!(
        (v.buffers, v.decoded),
        (u64::from(frames), u64::from(frames))
    );
    let a = log.pad("audio");
    let expected = Audio::Opus.expected_frames(audio_buffers);
    assert!(
        expected.contains(&(a.decoded as usize)) && a.decoded == a.buffers,
        "audio {a:?}, expected {expected:?}"
    );
}
