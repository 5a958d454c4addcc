//! When players join rtmpsink in listener mode: before the first frame (they get every frame),
//! and late (they start at a keyframe with onMetaData and the sequence headers, and decode from
//! their first frame).

mod common;

use std::time::{Duration, Instant};

use gst::prelude::*;
use gstrtmp::protocol::message::type_id;

use common::rtmp_client::RawClient;
use common::serve::{FPS, Player, PlayerKind, ServeOptions, ServeStream, serve_pipeline};
use common::{
    LiveReader, TempDir, decode_errors, free_port, probe, video_pict_types, wait_listening,
};

#[test]
fn players_that_come_before_the_first_frame_get_every_frame() {
    common::pipeline::init();
    let frames = 5 * FPS;
    let port = free_port();
    let options = ServeOptions {
        frames,
        ..ServeOptions::default()
    };
    let pipeline = gst::parse::launch(&serve_pipeline(&options, port))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    // Live sources produce nothing in PAUSED, but the sink listens from READY->PAUSED on.
    pipeline.set_state(gst::State::Paused).unwrap();
    assert!(wait_listening(port, Duration::from_secs(10)));
    let url = format!("rtmp://127.0.0.1:{port}/live/key");
    let dir = TempDir::new("serve-early");
    let kinds = [
        PlayerKind::Ffmpeg,
        PlayerKind::Rtmp2src,
        PlayerKind::Rtmpsrc,
    ];
    let players: Vec<Player> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| Player::start(*kind, &url, &dir, &format!("early{i}")))
        .collect();
    let bus = pipeline.bus().unwrap();
    let mut connected = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while connected < kinds.len() && Instant::now() < deadline {
        if let Some(message) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(200),
            &[gst::MessageType::Element],
        ) && message
            .structure()
            .is_some_and(|s| s.name() == "rtmp-client-connected")
        {
            connected += 1;
        }
    }
    assert_eq!(connected, kinds.len(), "players did not all connect");
    let sink = pipeline.by_name("s").unwrap();
    let stats = sink.property::<gst::Structure>("stats");
    assert_eq!(
        stats.get::<u64>("clients-current").unwrap(),
        kinds.len() as u64,
        "{stats}"
    );

    pipeline.set_state(gst::State::Playing).unwrap();
    let end = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    assert!(
        matches!(
            end.as_ref().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        ),
        "no EOS: {end:?}"
    );
    let stats = sink.property::<gst::Structure>("stats");
    assert_eq!(
        stats.get::<u64>("clients-accepted").unwrap(),
        kinds.len() as u64,
        "{stats}"
    );
    assert_eq!(stats.get::<u64>("clients-dropped").unwrap(), 0, "{stats}");
    assert_eq!(
        stats.get::<u64>("video-messages").unwrap(),
        frames as u64 + 1,
        "{stats}"
    );
    // Every player got every frame: the bytes sent are at least three times the video.
    let video_bytes = stats.get::<u64>("video-bytes").unwrap();
    let out_bytes = stats.get::<u64>("out-bytes-total").unwrap();
    assert!(out_bytes > 3 * video_bytes, "{stats}");
    pipeline.set_state(gst::State::Null).unwrap();

    for player in players {
        let kind = player.kind;
        let watched = player.finish(Duration::from_secs(20));
        watched.assert_every_frame(&format!("{kind:?}"));
        assert_eq!(
            watched.video_ms.len(),
            frames as usize,
            "{kind:?} did not get every published frame\n{}",
            watched.output
        );
    }
}

#[test]
fn a_late_joiner_decodes_from_its_first_frame() {
    let stream = ServeStream::start(&ServeOptions {
        frames: 7 * FPS,
        ..ServeOptions::default()
    });
    let dir = TempDir::new("serve-late");
    // The point of this test: join 3 s after the start.
    // Late: 2.5 s after the first keyframe reached players (the encoder may start slowly).
    wait_for_video(stream.port);
    std::thread::sleep(Duration::from_millis(2500));
    let reader = LiveReader::start(&stream.url, &dir.join("late.flv"));
    let sink = stream.finish(Duration::from_secs(30));
    sink.assert_success("rtmpsink");
    let (flv, _) = reader.finish(Duration::from_secs(15));
    assert_eq!(decode_errors(&flv).trim(), "", "decode errors");
    let pict_types = video_pict_types(&flv);
    assert!(
        pict_types.starts_with('I'),
        "first frame not a keyframe: {pict_types}"
    );
    let info = probe(&flv);
    let video = info.video().expect("video stream");
    assert_eq!(
        (video.width, video.height),
        (Some(320), Some(240)),
        "{info:?}"
    );
    assert!(info.audio().is_some(), "no audio: {info:?}");
    // About 4 s of the 7 (it joined 2.5-3 s in, at the keyframe of 2 s).
    let frames = video.nb_read_frames.unwrap_or(0);
    assert!(
        (3 * FPS as u64..=5 * FPS as u64).contains(&frames),
        "{frames} frames: {info:?}"
    );
}

#[test]
fn a_late_joiner_gets_metadata_and_headers_stamped_with_its_first_keyframe() {
    let stream = ServeStream::start(&ServeOptions {
        frames: 6 * FPS,
        ..ServeOptions::default()
    });
    // Late: 1.5 s after the first keyframe reached players (the encoder may start slowly).
    wait_for_video(stream.port);
    std::thread::sleep(Duration::from_millis(1500));
    let mut client = RawClient::connect(stream.port, "live");
    let stream_id = client.create_stream();
    client.play(stream_id, "key", -2.0, 0);
    let got = client.recv_until(Duration::from_secs(10), |m| {
        m.raw.type_id == type_id::VIDEO && m.raw.payload.get(1) == Some(&1)
    });
    drop(client);
    let _ = stream.kill();
    // The stream's messages (not the server's |RtmpSampleAccess and onStatus).
    let stream_messages: Vec<(String, u32)> = got
        .iter()
        .filter_map(|m| {
            let name = match m.raw.type_id {
                type_id::VIDEO if m.raw.payload.get(1) == Some(&0) => "video-header".to_string(),
                type_id::VIDEO => format!("video-{:02x}", m.raw.payload[0]),
                type_id::AUDIO if m.raw.payload.get(1) == Some(&0) => "audio-header".to_string(),
                type_id::AUDIO => "audio".to_string(),
                type_id::DATA_AMF0 => m.name().filter(|n| n == "onMetaData")?,
                _ => return None,
            };
            Some((name, m.raw.timestamp))
        })
        .collect();
    let names: Vec<&str> = stream_messages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["onMetaData", "video-header", "audio-header", "video-17"],
        "{stream_messages:?}"
    );
    let keyframe_ts = stream_messages[3].1;
    assert!(keyframe_ts >= 900, "joined late, yet at {keyframe_ts} ms");
    assert!(
        stream_messages.iter().all(|(_, ts)| *ts == keyframe_ts),
        "{stream_messages:?}"
    );
}

/// Waits until a first player of the sink gets a video keyframe.
fn wait_for_video(port: u16) {
    let mut client = RawClient::connect(port, "live");
    let stream_id = client.create_stream();
    client.play(stream_id, "key", -2.0, 0);
    let got = client.recv_until(Duration::from_secs(20), is_video_keyframe);
    assert!(
        got.iter().any(is_video_keyframe),
        "no video reached a player"
    );
}

fn is_video_keyframe(m: &common::rtmp_client::Received) -> bool {
    m.raw.type_id == type_id::VIDEO
        && m.raw.payload.first().is_some_and(|b| b >> 4 == 1)
        && m.raw.payload.get(1) == Some(&1)
}
