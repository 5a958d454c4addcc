//! rtmpsrc listener with `keep-listening=true`: two publishers one after the other feed one
//! pipeline; both are decoded, the second starts with a DISCONT after a new segment, timestamps
//! keep increasing, and the stream ends only when the application sends EOS.

#[path = "rtmpsrc_support/checks.rs"]
mod checks;
mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use checks::WAIT;
use common::listen::{BusLog, listen_location, read_bus};
use common::{TempDir, TestFlv, ffmpeg_publish_file, make_test_flv};
use gst::prelude::*;
use player::Player;

/// What crossed the video pad, in order: "S" for a segment, "D" for a DISCONT buffer.
fn record_video_marks(player: &Player) -> Arc<Mutex<String>> {
    let marks = Arc::new(Mutex::new(String::new()));
    let m = marks.clone();
    player.src.connect_pad_added(move |_, pad| {
        if pad.name() != "video" {
            return;
        }
        let m = m.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b))
                        if b.flags().contains(gst::BufferFlags::DISCONT) =>
                    {
                        m.lock().unwrap().push('D')
                    }
                    Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Segment => {
                        m.lock().unwrap().push('S')
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    });
    marks
}

#[test]
fn two_publishers_one_after_the_other_play_in_one_pipeline() {
    let dir = TempDir::new("listen-keep");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(2000));
    let (_, location) = listen_location("cam");
    let player = Player::new(
        &location,
        &[("mode", "listener"), ("keep-listening", "true")],
    );
    let marks = record_video_marks(&player);
    player.play();
    let mut bus = BusLog::default();
    for round in 1..=2 {
        ffmpeg_publish_file(&flv, &location)
            .finish(Duration::from_secs(20))
            .assert_success("ffmpeg publishing");
        read_bus(&player.pipeline, WAIT, &mut bus, |b| {
            b.named("rtmp-client-disconnected").len() >= round
        });
        assert_eq!(
            bus.named("rtmp-client-disconnected").len(),
            round,
            "{bus:?}"
        );
        assert!(!bus.eos, "EOS after publisher {round}");
    }
    let decoded_before_eos = player.log().pad("video").decoded;
    assert!(player.src.send_event(gst::event::Eos::new()));
    read_bus(&player.pipeline, WAIT, &mut bus, |_| false);
    assert!(bus.eos, "the application's EOS ends the stream: {bus:?}");
    assert!(bus.error.is_none(), "{bus:?}");
    let stats = player.stats();
    let log = player.stop();
    // Two 2 s publishers at 25 fps.
    assert!(
        decoded_before_eos >= 90,
        "video decoded: {decoded_before_eos}"
    );
    assert!(
        log.pad("audio").decoded >= 160,
        "audio decoded: {}",
        log.pad("audio").decoded
    );
    log.pad("video").assert_monotonic_dts();
    log.pad("audio").assert_monotonic_dts();
    let marks = marks.lock().unwrap().clone();
    // The first segment and buffer, then a new segment before the second publisher's first.
    assert!(marks.starts_with("SD"), "{marks}");
    assert!(
        marks[2..].contains("SD"),
        "no segment + DISCONT for the second publisher: {marks}"
    );
    assert_eq!(bus.named("rtmp-client-connected").len(), 2);
    assert_eq!(stats.get::<u64>("clients-accepted").unwrap(), 2, "{stats}");
}

#[test]
fn a_publisher_that_vanishes_is_followed_by_the_next() {
    let dir = TempDir::new("listen-keep-kill");
    let long = dir.join("long.flv");
    make_test_flv(&long, &TestFlv::default().duration_ms(10_000));
    let short = dir.join("short.flv");
    make_test_flv(&short, &TestFlv::default().duration_ms(2000));
    let (_, location) = listen_location("cam");
    let player = Player::new(
        &location,
        &[("mode", "listener"), ("keep-listening", "true")],
    );
    player.play();
    let first = ffmpeg_publish_file(&long, &location);
    assert!(
        common::wait_until(WAIT, || player
            .log()
            .pads
            .get("video")
            .is_some_and(|p| p.decoded >= 25)),
        "the first publisher's video is not decoded"
    );
    // Killed: no FCUnpublish/deleteStream, the socket just closes.
    first.kill();
    let mut bus = BusLog::default();
    read_bus(&player.pipeline, WAIT, &mut bus, |b| {
        !b.named("rtmp-client-disconnected").is_empty()
    });
    let gone = bus.named("rtmp-client-disconnected");
    assert_eq!(gone.len(), 1, "{bus:?}");
    let reason = gone[0].get::<String>("reason").unwrap();
    assert!(reason.contains("without unpublishing"), "{reason}");
    let decoded_first = player.log().pad("video").decoded;
    ffmpeg_publish_file(&short, &location)
        .finish(Duration::from_secs(20))
        .assert_success("the second publisher");
    read_bus(&player.pipeline, WAIT, &mut bus, |b| {
        b.named("rtmp-client-disconnected").len() >= 2
    });
    assert!(!bus.eos && bus.error.is_none(), "{bus:?}");
    let decoded = player.log().pad("video").decoded;
    assert!(
        decoded >= decoded_first + 45,
        "second publisher: {} frames",
        decoded - decoded_first
    );
    player.log().pad("video").assert_monotonic_dts();
    player.stop();
}
