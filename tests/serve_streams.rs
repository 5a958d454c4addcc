//! What rtmpsink in listener mode serves besides the usual H.264 + AAC pads: an audio-only
//! stream, a complete FLV stream from flvmux, and its own chunk size.

mod common;

use std::time::Duration;

use gstrtmp::protocol::message::{Message, type_id};

use common::rtmp_client::RawClient;
use common::serve::{FPS, Player, PlayerKind, ServeOptions, ServeStream};
use common::{Proc, TempDir, free_port, gst_plugin_path, wait_listening};

#[test]
fn an_audio_only_stream_is_served_from_the_next_frame() {
    let frames = 5 * FPS;
    let stream = ServeStream::start(&ServeOptions {
        frames,
        video: false,
        ..ServeOptions::default()
    });
    let dir = TempDir::new("serve-audio");
    let early = Player::start(PlayerKind::Ffmpeg, &stream.url, &dir, "early");
    std::thread::sleep(Duration::from_secs(2));
    let late = Player::start(PlayerKind::Ffmpeg, &stream.url, &dir, "late");
    stream
        .finish(Duration::from_secs(30))
        .assert_success("audio-only rtmpsink");
    // 1470 samples a buffer, 1024 an AAC frame.
    let published = (frames * 1470 / 1024) as usize;
    let early = early.finish(Duration::from_secs(20));
    assert!(
        early.finished_ok && early.errors.trim().is_empty(),
        "{}",
        early.output
    );
    assert!(early.video_ms.is_empty());
    // It joined as soon as it started (within a second): no GOP to wait for.
    let per_second = 44100 / 1024;
    assert!(
        early.audio_frames + per_second >= published,
        "{} of {published} audio frames",
        early.audio_frames
    );
    let late = late.finish(Duration::from_secs(20));
    assert!(
        late.finished_ok && late.errors.trim().is_empty(),
        "{}",
        late.output
    );
    assert!(
        late.audio_frames > published / 4 && late.audio_frames < published * 3 / 4,
        "late joiner got {} of {published} audio frames",
        late.audio_frames
    );
}

#[test]
fn an_flv_stream_from_flvmux_is_served() {
    let port = free_port();
    // flvmux waits up to 1 s for late input (`latency`): with none, a loaded machine's late
    // video made the live aggregator mux audio ahead of it, and flvmux then stamped the late
    // frames with that audio's time (an FLV's tags never go back: 3 frames at 500 ms in CI).
    let pipeline = format!(
        "videotestsrc is-live=true num-buffers={} ! video/x-raw,width=320,height=240,framerate={FPS}/1 \
         ! x264enc tune=zerolatency key-int-max={FPS} speed-preset=ultrafast ! h264parse ! queue ! m. \
         audiotestsrc is-live=true num-buffers={} samplesperbuffer=1470 ! audio/x-raw,rate=44100 \
         ! avenc_aac ! aacparse ! queue ! m. \
         flvmux name=m streamable=true latency=1000000000 ! rtmpsink mode=listener location=rtmp://127.0.0.1:{port}/live/key",
        5 * FPS,
        5 * FPS
    );
    let args = common::gst::split_args(&pipeline);
    let sink = Proc::spawn(
        std::process::Command::new("gst-launch-1.0")
            .env("GST_PLUGIN_PATH", gst_plugin_path())
            .env("GST_REGISTRY", common::gst::registry(true))
            .arg("-e")
            .args(&args),
    );
    assert!(wait_listening(port, Duration::from_secs(20)));
    let dir = TempDir::new("serve-flv");
    let url = format!("rtmp://127.0.0.1:{port}/live/key");
    let players: Vec<Player> = [PlayerKind::Ffmpeg, PlayerKind::Rtmp2src]
        .iter()
        .enumerate()
        .map(|(i, kind)| Player::start(*kind, &url, &dir, &format!("p{i}")))
        .collect();
    sink.finish(Duration::from_secs(30))
        .assert_success("flvmux ! rtmpsink mode=listener");
    for player in players {
        let kind = player.kind;
        let watched = player.finish(Duration::from_secs(20));
        watched.assert_every_frame(&format!("{kind:?} of flvmux output"));
        assert!(watched.video_ms.len() >= 3 * FPS as usize, "{kind:?}");
    }
}

#[test]
fn players_get_the_sinks_chunk_size() {
    let stream = ServeStream::start(&ServeOptions {
        frames: 10 * FPS,
        sink_props: "chunk-size=1000".into(),
        ..ServeOptions::default()
    });
    let mut client = RawClient::connect(stream.port, "live");
    let id = client.create_stream();
    client.play(id, "key", -2.0, 0);
    let got = client.recv_until(Duration::from_secs(10), |m| {
        m.raw.type_id == type_id::VIDEO && m.raw.payload.len() > 1000
    });
    drop(client);
    let _ = stream.kill();
    let sizes: Vec<u32> = got
        .iter()
        .filter_map(|m| match m.message() {
            Message::SetChunkSize(size) => Some(size),
            _ => None,
        })
        .collect();
    assert_eq!(
        sizes.last(),
        Some(&1000),
        "chunk sizes announced: {sizes:?}"
    );
    // A frame larger than a chunk came through whole.
    assert!(got.last().is_some_and(|m| m.raw.payload.len() > 1000));
}

/// A stream that is not live (a file, here a non-live test source) goes to players at its own
/// pace with `sync` (the default), as in caller mode: it takes as long as it lasts.
#[test]
fn a_non_live_stream_is_paced_to_players_by_sync() {
    let port = free_port();
    let frames = 5 * FPS;
    let pipeline = format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,width=320,height=240,framerate={FPS}/1 \
         ! x264enc tune=zerolatency key-int-max={FPS} speed-preset=ultrafast ! h264parse ! queue ! s.video \
         rtmpsink name=s mode=listener location=rtmp://127.0.0.1:{port}/live/key"
    );
    let args = common::gst::split_args(&pipeline);
    let started = std::time::Instant::now();
    let sink = Proc::spawn(
        std::process::Command::new("gst-launch-1.0")
            .env("GST_PLUGIN_PATH", gst_plugin_path())
            .env("GST_REGISTRY", common::gst::registry(true))
            .arg("-e")
            .args(&args),
    );
    assert!(wait_listening(port, Duration::from_secs(20)));
    let dir = TempDir::new("serve-sync");
    let url = format!("rtmp://127.0.0.1:{port}/live/key");
    let player = Player::start(PlayerKind::Ffmpeg, &url, &dir, "paced");
    sink.finish(Duration::from_secs(30))
        .assert_success("non-live input into rtmpsink mode=listener");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(4500),
        "5 s of stream went out in {took:?}"
    );
    let watched = player.finish(Duration::from_secs(20));
    assert!(
        watched.finished_ok && watched.errors.trim().is_empty(),
        "{}",
        watched.output
    );
    assert!(watched.largest_gap_frames() < 1.5, "{:?}", watched.video_ms);
    assert!(
        watched.video_ms.len() >= (frames - FPS) as usize,
        "{}",
        watched.video_ms.len()
    );
}
