//! `rtmpt://` through an HTTP proxy started by the test: our rtmpsink (caller) publishes into
//! a listening rtmpsrc through it, with `proxy`/`proxy-id`/`proxy-pw` and with `http_proxy`
//! from the environment (a gst-launch process); wrong credentials fail the connection.

#[path = "rtmpsrc_support/checks.rs"]
mod checks;
mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::time::Duration;

use checks::*;
use common::free_port;
use common::listen::{BusLog, read_bus};
use common::rtmpt::TestProxy;
use gst::prelude::*;
use player::Player;

const TIMEOUT: Duration = Duration::from_secs(30);

/// `u:p` in Basic form.
const CREDENTIALS: &str = "dTpw";

fn listening_player() -> (Player, String) {
    let location = format!("rtmpt://127.0.0.1:{}/live/key", free_port());
    let player = Player::new(&location, &[("mode", "listener")]);
    player.play();
    (player, location)
}

fn assert_decoded(player: Player, min_video: u64) {
    let mut bus = BusLog::default();
    read_bus(&player.pipeline, TIMEOUT, &mut bus, |_| false);
    let log = player.stop();
    assert!(bus.eos, "no EOS: {bus:?}");
    assert_h264_caps(&log, 320, 240, 25);
    assert_clean_pad(&log, "video");
    let decoded = log.pad("video").decoded;
    assert!(decoded >= min_video, "{decoded} video frames decoded");
}

#[test]
fn our_rtmpsink_publishes_through_an_http_proxy_with_credentials() {
    let proxy = TestProxy::start(Some(CREDENTIALS));
    let (player, location) = listening_player();
    let publisher = gst::parse::launch(&format!(
        "{LIVE_VIDEO} ! rtmpsink name=m location={location} proxy={} proxy-id=u proxy-pw=p \
         {LIVE_AUDIO} ! m.",
        proxy.url()
    ))
    .unwrap();
    run_publisher(&publisher, TIMEOUT);
    assert_decoded(player, 70);
    let seen = proxy.seen.lock().unwrap();
    let port = location
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert_eq!(
        seen.first_lines.first().map(String::as_str),
        Some(format!("POST http://127.0.0.1:{port}/open/1 HTTP/1.1").as_str()),
        "{seen:?}"
    );
    assert!(seen.requests >= 20, "{seen:?}");
    assert_eq!(seen.refused, 0);
}

#[test]
fn wrong_proxy_credentials_fail_the_connection() {
    let proxy = TestProxy::start(Some(CREDENTIALS));
    let (player, location) = listening_player();
    let outcome = common::pipeline::run(
        &format!(
            "{LIVE_VIDEO} ! rtmpsink name=s location={location} proxy={} proxy-id=u proxy-pw=WRONG",
            proxy.url()
        ),
        TIMEOUT,
    );
    let text = outcome.error_text();
    assert!(text.contains("407"), "{text}");
    assert_eq!(proxy.seen.lock().unwrap().refused, 1);
    drop(player);
}

#[test]
fn http_proxy_from_the_environment_is_used() {
    let proxy = TestProxy::start(None);
    let (player, location) = listening_player();
    let pipeline = format!("{LIVE_VIDEO} ! rtmpsink name=m location={location} {LIVE_AUDIO} ! m.");
    let args = common::gst::split_args(&pipeline);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let url = proxy.url();
    let finished = common::gst::gst_launch_args_env(
        &refs,
        &[("http_proxy", url.as_str()), ("no_proxy", "")],
        TIMEOUT,
    );
    finished.assert_success("rtmpsink with http_proxy");
    assert_decoded(player, 70);
    assert!(proxy.seen.lock().unwrap().requests >= 20);
}

/// The other direction: our rtmpsrc plays from a listening rtmpsink through the proxy.
#[test]
fn our_rtmpsrc_plays_through_an_http_proxy() {
    use common::serve::{FPS, ServeOptions, ServeStream};
    let proxy = TestProxy::start(Some(CREDENTIALS));
    let frames = 4 * FPS;
    let stream = ServeStream::start(&ServeOptions {
        frames,
        scheme: "rtmpt".into(),
        ..ServeOptions::default()
    });
    let url = proxy.url();
    let player = Player::new(
        &stream.url,
        &[
            ("proxy", url.as_str()),
            ("proxy-id", "u"),
            ("proxy-pw", "p"),
        ],
    );
    player.play();
    let mut bus = BusLog::default();
    read_bus(&player.pipeline, TIMEOUT, &mut bus, |_| false);
    let log = player.stop();
    stream
        .finish(Duration::from_secs(30))
        .assert_success("rtmpsink listening on rtmpt");
    assert!(bus.eos, "no EOS: {bus:?}");
    assert_clean_pad(&log, "video");
    let decoded = log.pad("video").decoded;
    assert!(
        decoded >= u64::from(frames - FPS),
        "{decoded} of {frames} frames"
    );
    let seen = proxy.seen.lock().unwrap();
    assert!(seen.requests >= 20 && seen.refused == 0, "{seen:?}");
}

/// A tunnel cut in the middle (the proxy drops its connections) is a lost connection: our
/// rtmpsink reconnects as over TCP, and the listening rtmpsrc (keep-listening) takes the new
/// tunnel once the old session, which no request reaches any more, has expired.
#[test]
fn a_cut_tunnel_reconnects_as_tcp_does() {
    let proxy = std::sync::Arc::new(TestProxy::start(None));
    let location = format!("rtmpt://127.0.0.1:{}/live/key", free_port());
    let player = Player::new(
        &location,
        &[
            ("mode", "listener"),
            ("keep-listening", "true"),
            ("timeout", "2"),
        ],
    );
    player.play();
    let publisher = gst::parse::launch(&format!(
        "videotestsrc is-live=true num-buffers=250 ! video/x-raw,width=320,height=240,framerate=25/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse \
         ! rtmpsink name=s location={location} proxy={} reconnect-delay=300 reconnect-attempts=10",
        proxy.url()
    ))
    .unwrap();
    let cutter = {
        let proxy = proxy.clone();
        std::thread::spawn(move || {
            assert!(common::wait_until(Duration::from_secs(10), || {
                proxy.seen.lock().unwrap().requests >= 30
            }));
            proxy.cut_all();
        })
    };
    let bus = publisher.bus().unwrap();
    publisher.set_state(gst::State::Playing).unwrap();
    let mut names = Vec::new();
    let end = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(30)) else {
            break None;
        };
        match msg.view() {
            gst::MessageView::Element(e) => names.push(
                e.structure()
                    .map(|s| s.name().to_string())
                    .unwrap_or_default(),
            ),
            gst::MessageView::Eos(_) => break Some(Ok(())),
            gst::MessageView::Error(e) => break Some(Err(e.error().to_string())),
            _ => {}
        }
    };
    publisher.set_state(gst::State::Null).unwrap();
    cutter.join().unwrap();
    assert_eq!(end, Some(Ok(())), "{names:?}");
    assert!(names.iter().any(|n| n == "rtmp-disconnected"), "{names:?}");
    assert!(names.iter().any(|n| n == "rtmp-reconnected"), "{names:?}");
    let mut log_bus = BusLog::default();
    read_bus(
        &player.pipeline,
        Duration::from_secs(3),
        &mut log_bus,
        |_| false,
    );
    let log = player.stop();
    // The publisher before the cut and the one after it.
    assert_eq!(
        log_bus.named("rtmp-client-connected").len(),
        2,
        "{:?}",
        log_bus.elements
    );
    let decoded = log.pad("video").decoded;
    eprintln!("{decoded} of 250 frames decoded across the cut; publisher: {names:?}");
    assert!(
        decoded >= 100,
        "{decoded} video frames decoded across the cut"
    );
}

/// rtmpts:// through the proxy: a CONNECT tunnel, TLS to the listener inside it.
#[test]
fn rtmpts_goes_through_the_proxy_in_a_connect_tunnel() {
    use common::serve::{FPS, ServeOptions, ServeStream};
    let certs = common::tls::TestCertificates::generate("localhost");
    let proxy = TestProxy::start(Some(CREDENTIALS));
    let frames = 4 * FPS;
    let stream = ServeStream::start(&ServeOptions {
        frames,
        scheme: "rtmpts".into(),
        sink_props: format!(
            "tls-certificate-file={} tls-key-file={}",
            certs.cert.display(),
            certs.key.display()
        ),
        ..ServeOptions::default()
    });
    let (url, ca) = (proxy.url(), certs.ca.display().to_string());
    let location = format!("rtmpts://localhost:{}/live/key", stream.port);
    let player = Player::new(
        &location,
        &[
            ("proxy", url.as_str()),
            ("proxy-id", "u"),
            ("proxy-pw", "p"),
            ("tls-ca-file", ca.as_str()),
        ],
    );
    player.play();
    let mut bus = BusLog::default();
    read_bus(&player.pipeline, TIMEOUT, &mut bus, |_| false);
    let log = player.stop();
    stream
        .finish(Duration::from_secs(30))
        .assert_success("rtmpsink listening on rtmpts");
    assert!(bus.eos, "no EOS: {bus:?}");
    let decoded = log.pad("video").decoded;
    assert!(
        decoded >= u64::from(frames - FPS),
        "{decoded} of {frames} frames"
    );
    let seen = proxy.seen.lock().unwrap();
    assert_eq!(
        seen.first_lines,
        [format!(
            "CONNECT localhost:{} HTTP/1.1",
            stream_port(&location)
        )],
        "{seen:?}"
    );
}

fn stream_port(location: &str) -> u16 {
    location
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
