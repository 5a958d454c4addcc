//! IPv6 end to end: rtmpsink publishes to nginx-rtmp listening on `[::1]`, rtmpsrc plays it back
//! from there, both through `rtmp://[::1]:PORT/...` locations.

mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::time::Duration;

use common::Nginx;
use common::pipeline::run;
use player::Player;

const WAIT: Duration = Duration::from_secs(10);

/// Whether the loopback interface has `::1` (a kernel without IPv6, or with it disabled, has no
/// such line).
fn has_ipv6_loopback() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|t| {
        t.lines()
            .any(|l| l.starts_with("00000000000000000000000000000001"))
    })
}

/// A port free on `[::1]` a moment ago.
fn free_port_v6() -> u16 {
    std::net::TcpListener::bind("[::1]:0")
        .expect("bind [::1]:0")
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn publish_and_play_over_ipv6() {
    if !has_ipv6_loopback() {
        eprintln!("skipped: this machine has no IPv6 loopback (no ::1 in /proc/net/if_inet6)");
        return;
    }
    // nginx listens on 127.0.0.1 (the harness waits for that port) and on [::1].
    let port = free_port_v6();
    let nginx = Nginx::start_with(&format!("listen [::1]:{port};"));
    let url = format!("rtmp://[::1]:{port}/live/v6");

    let player = Player::new(&url, &[]);
    player.play();
    nginx.wait_player("v6", WAIT);
    let outcome = run(
        &format!(
            "videotestsrc is-live=true num-buffers=50 ! video/x-raw,width=320,height=240,framerate=25/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse \
             ! rtmpsink name=s location={url} \
             audiotestsrc is-live=true num-buffers=40 samplesperbuffer=2205 ! voaacenc ! aacparse ! s."
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let played = player.run(Duration::from_secs(20));
    let log = player.stop();
    played.assert_eos();

    // Both clients came over IPv6.
    let error_log = nginx.error_log();
    let v6_clients = error_log
        .lines()
        .filter(|l| l.contains("client connected '::1'"))
        .count();
    assert_eq!(v6_clients, 2, "{error_log}");
    // Everything sent arrived and decoded.
    assert_eq!(outcome.buffers["video"], 50);
    assert_eq!(log.pad("video").decoded, 50);
    assert_eq!(log.pad("audio").decoded, outcome.buffers["audio"]);
}
