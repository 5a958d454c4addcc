//! Where rtmpsrc listens: IPv6 (`[::1]`), rtmps:// with the certificate files (FFmpeg publishes
//! over TLS), and the errors of READY->PAUSED: an address in use, TLS files missing or unusable.

#[path = "rtmpsrc_support/checks.rs"]
mod checks;
mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::time::Duration;

use checks::*;
use common::listen::{BusLog, read_bus};
use common::{TempDir, TestCertificates, TestFlv, ffmpeg_publish_file, free_port, make_test_flv};
use gst::prelude::*;
use player::Player;

const TIMEOUT: Duration = Duration::from_secs(30);

fn publish_and_play(location: &str, publish_url: &str, props: &[(&str, &str)]) {
    let dir = TempDir::new("listen-bind");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(2000));
    let mut all = vec![("mode", "listener")];
    all.extend_from_slice(props);
    let player = Player::new(location, &all);
    player.play();
    let publisher = ffmpeg_publish_file(&flv, publish_url);
    let mut bus = BusLog::default();
    read_bus(&player.pipeline, TIMEOUT, &mut bus, |_| false);
    publisher.finish(WAIT).assert_success("ffmpeg publishing");
    assert!(bus.eos, "{bus:?}");
    let log = player.stop();
    assert_h264_caps(&log, 320, 240, 25);
    assert_aac_caps(&log, 48000, 2);
    assert!(
        log.pad("video").decoded >= 45,
        "video: {}",
        log.pad("video").decoded
    );
    assert!(
        log.pad("audio").decoded >= 80,
        "audio: {}",
        log.pad("audio").decoded
    );
    let connected = bus.named("rtmp-client-connected");
    assert_eq!(connected.len(), 1, "{bus:?}");
    let address = connected[0].get::<String>("address").unwrap();
    let host = location
        .split("://")
        .nth(1)
        .and_then(|rest| rest.rsplit_once(':'))
        .unwrap()
        .0;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    assert!(address.contains(host), "{address} is not from {host}");
}

#[test]
fn listens_on_ipv6_loopback() {
    let port = free_port();
    let location = format!("rtmp://[::1]:{port}/live/cam");
    publish_and_play(&location, &location, &[]);
}

#[test]
fn rtmps_listening_with_certificate_files() {
    let certs = TestCertificates::generate("localhost");
    let port = free_port();
    let location = format!("rtmps://127.0.0.1:{port}/live/cam");
    let cert = certs.cert.display().to_string();
    let key = certs.key.display().to_string();
    publish_and_play(
        &location,
        &location,
        &[("tls-certificate-file", &cert), ("tls-key-file", &key)],
    );
}

/// The error READY->PAUSED posts for `location` with `props`.
fn start_error(location: &str, props: &[(&str, &str)]) -> String {
    common::pipeline::init();
    let src = gst::ElementFactory::make("rtmpsrc")
        .property("location", location)
        .property_from_str("mode", "listener")
        .build()
        .unwrap();
    for (name, value) in props {
        src.set_property_from_str(name, value);
    }
    let pipeline = gst::Pipeline::new();
    pipeline.add(&src).unwrap();
    assert!(
        pipeline.set_state(gst::State::Paused).is_err(),
        "{location} must not start"
    );
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
        .expect("an error message");
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    pipeline.set_state(gst::State::Null).unwrap();
    err.error().to_string()
}

#[test]
fn an_address_in_use_fails_the_state_change_clearly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let text = start_error(&format!("rtmp://127.0.0.1:{port}/live/cam"), &[]);
    assert!(
        text.contains(&format!("could not listen on 127.0.0.1:{port}")),
        "{text}"
    );
    assert!(text.to_lowercase().contains("in use"), "{text}");
}

#[test]
fn rtmps_without_certificate_files_or_with_unusable_ones_fails_clearly() {
    let port = free_port();
    let location = format!("rtmps://127.0.0.1:{port}/live/cam");
    let text = start_error(&location, &[]);
    assert!(
        text.contains("tls-certificate-file") && text.contains("tls-key-file"),
        "{text}"
    );
    let text = start_error(
        &location,
        &[
            ("tls-certificate-file", "/nonexistent/c.pem"),
            ("tls-key-file", "/nonexistent/k.pem"),
        ],
    );
    assert!(text.contains("/nonexistent/c.pem"), "{text}");
    let dir = TempDir::new("listen-badpem");
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let junk = junk.display().to_string();
    let text = start_error(
        &location,
        &[("tls-certificate-file", &junk), ("tls-key-file", &junk)],
    );
    assert!(text.contains(&junk), "{text}");
}

#[test]
fn stopping_while_waiting_for_a_publisher_is_prompt_and_the_port_is_free_again() {
    let port = free_port();
    let location = format!("rtmp://127.0.0.1:{port}/live/cam");
    for round in 0..2 {
        let player = Player::new(&location, &[("mode", "listener")]);
        player.play();
        // An idle client in setup, too: stopping must not wait for it.
        let _idle = std::net::TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("round {round}: nothing listens: {e}"));
        let started = std::time::Instant::now();
        player.stop();
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "round {round}: stopping took {took:?}"
        );
    }
}
