//! rtmpsink in listener mode served to each kind of real player at once: FFmpeg 5.1, FFmpeg 9,
//! rtmp2src ! flvdemux, rtmpdump, librtmp's rtmpsrc ! flvdemux and our rtmpsrc. Each decodes every frame from where it joined
//! to the end of the stream, and ends when the stream does.

mod common;

use std::time::Duration;

use common::TempDir;
use common::serve::{FPS, Player, PlayerKind, ServeOptions, ServeStream};

const KINDS: [PlayerKind; 6] = [
    PlayerKind::Ffmpeg,
    PlayerKind::Ffmpeg9,
    PlayerKind::Rtmp2src,
    PlayerKind::Rtmpdump,
    PlayerKind::LibrtmpSrc,
    PlayerKind::Rtmpsrc,
];

#[test]
fn every_kind_of_player_decodes_every_frame_from_where_it_joined() {
    let frames = 8 * FPS;
    let stream = ServeStream::start(&ServeOptions {
        frames,
        ..ServeOptions::default()
    });
    let dir = TempDir::new("serve-players");
    let players: Vec<Player> = KINDS
        .iter()
        .enumerate()
        .map(|(i, kind)| Player::start(*kind, &stream.url, &dir, &format!("p{i}")))
        .collect();
    // EOS: each player gets the end of the stream and is closed, then the pipeline ends.
    let sink = stream.finish(Duration::from_secs(40));
    sink.assert_success("rtmpsink mode=listener");
    // gst-launch's own measure: 8 s of stream, plus the players' good-byes.
    eprintln!(
        "{}",
        sink.stdout
            .lines()
            .find(|l| l.starts_with("Execution ended"))
            .unwrap_or_default()
    );
    // librtmp's rtmpsrc comes back once after the end (and is closed at once).
    let connected = sink.stdout.matches("rtmp-client-connected").count();
    assert!(
        (KINDS.len()..=KINDS.len() + 1).contains(&connected),
        "{}",
        sink.stdout
    );
    for player in players {
        let kind = player.kind;
        let watched = player.finish(Duration::from_secs(20));
        eprintln!(
            "{kind:?}: {} of {frames} video frames, {} audio frames",
            watched.video_ms.len(),
            watched.audio_frames
        );
        watched.assert_every_frame(&format!("{kind:?}"));
        // They all joined within the first two seconds.
        assert!(
            watched.video_ms.len() >= (frames - 2 * FPS) as usize,
            "{kind:?}: {} of {frames} frames\n{}",
            watched.video_ms.len(),
            watched.output
        );
    }
}
