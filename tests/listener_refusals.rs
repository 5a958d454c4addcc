//! rtmpsrc in listener mode refusing clients while a real publisher (FFmpeg) streams: a wrong
//! stream key, a wrong application, a second publisher, 100 idle sockets, garbage after the
//! handshake, a client announcing a 16 MiB message. Each refusal posts `rtmp-client-refused`
//! (address, reason, names with query values redacted) and the real publisher's stream is
//! decoded in full.

#[path = "rtmpsrc_support/checks.rs"]
mod checks;
mod common;
#[path = "rtmpsrc_support/player.rs"]
mod player;

use std::io::Write;
use std::time::{Duration, Instant};

use checks::WAIT;
use common::listen::{BusLog, handshaken_socket, listen_location, read_bus, rss_kib, wait_closed};
use common::{Proc, TempDir, TestFlv, ffmpeg_publish_file, make_test_flv};
use player::Player;

const TIMEOUT: Duration = Duration::from_secs(30);
/// The real publisher streams this long, so that refusals happen while it is live.
const REAL_MS: u32 = 4000;

struct Setup {
    _dir: TempDir,
    port: u16,
    /// Where the real publisher publishes (`rtmp://127.0.0.1:PORT/live/cam[?query]`).
    player: Player,
    publisher: Proc,
    bus: BusLog,
}

/// A listening rtmpsrc (`props` added) and FFmpeg publishing to `live/{stream}` into it,
/// connected.
fn start(props: &[(&str, &str)], stream: &str) -> Setup {
    let dir = TempDir::new("listen-refuse");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(REAL_MS));
    let (port, location) = listen_location("cam");
    let mut all = vec![("mode", "listener")];
    all.extend_from_slice(props);
    let player = Player::new(&location, &all);
    player.play();
    let url = format!("rtmp://127.0.0.1:{port}/live/{stream}");
    let publisher = ffmpeg_publish_file(&flv, &url);
    let mut bus = BusLog::default();
    read_bus(&player.pipeline, WAIT, &mut bus, |b| {
        !b.named("rtmp-client-connected").is_empty()
    });
    assert_eq!(bus.named("rtmp-client-connected").len(), 1, "{bus:?}");
    Setup {
        _dir: dir,
        port,
        player,
        publisher,
        bus,
    }
}

impl Setup {
    /// Waits for `count` refusals and returns them.
    fn refused(&mut self, count: usize) -> Vec<gst::Structure> {
        read_bus(&self.player.pipeline, WAIT, &mut self.bus, |b| {
            b.named("rtmp-client-refused").len() >= count
        });
        let refused: Vec<gst::Structure> = self
            .bus
            .named("rtmp-client-refused")
            .into_iter()
            .cloned()
            .collect();
        assert!(refused.len() >= count, "refusals: {:?}", self.bus.elements);
        refused
    }

    /// The real stream plays to its end, decoded in full.
    fn finish(mut self) -> gst::Structure {
        read_bus(&self.player.pipeline, TIMEOUT, &mut self.bus, |_| false);
        self.publisher
            .finish(WAIT)
            .assert_success("the real publisher");
        assert!(self.bus.eos, "no EOS: {:?}", self.bus);
        let stats = self.player.stats();
        let log = self.player.stop();
        let frames = u64::from(REAL_MS / 40);
        let video = log.pad("video").decoded;
        assert!(
            video + 5 >= frames,
            "video: {video} of {frames} frames decoded"
        );
        assert!(
            log.pad("audio").decoded >= frames,
            "audio decoded: {}",
            log.pad("audio").decoded
        );
        assert_eq!(self.bus.named("rtmp-client-connected").len(), 1);
        stats
    }
}

fn ffmpeg_fails(url: &str) {
    let dir = TempDir::new("listen-refuse-bad");
    let flv = dir.join("bad.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(1000));
    let finished = ffmpeg_publish_file(&flv, url).finish(WAIT);
    assert!(
        !finished.success(),
        "a refused publisher must fail: {finished:?}"
    );
}

fn field(s: &gst::Structure, name: &str) -> String {
    s.get::<String>(name)
        .unwrap_or_else(|e| panic!("{s}: {name}: {e}"))
}

#[test]
fn a_wrong_stream_key_is_refused_and_redacted() {
    let mut setup = start(&[("stream-key", "s3cret")], "cam?key=s3cret");
    ffmpeg_fails(&format!(
        "rtmp://127.0.0.1:{}/live/cam?key=nope",
        setup.port
    ));
    let refused = setup.refused(1);
    assert_eq!(field(&refused[0], "reason"), "wrong stream key");
    assert_eq!(field(&refused[0], "stream"), "cam?key=<redacted>");
    assert!(field(&refused[0], "address").starts_with("127.0.0.1:"));
    let stats = setup.finish();
    assert_eq!(stats.get::<u64>("clients-refused").unwrap(), 1, "{stats}");
    assert_eq!(stats.get::<u64>("clients-accepted").unwrap(), 1, "{stats}");
}

#[test]
fn a_wrong_application_is_refused() {
    let mut setup = start(&[], "cam");
    ffmpeg_fails(&format!("rtmp://127.0.0.1:{}/other/cam", setup.port));
    let refused = setup.refused(1);
    assert_eq!(field(&refused[0], "reason"), "wrong application");
    assert_eq!(field(&refused[0], "application"), "other");
    setup.finish();
}

#[test]
fn a_second_publisher_while_one_is_live_is_refused() {
    let mut setup = start(&[], "cam");
    ffmpeg_fails(&format!("rtmp://127.0.0.1:{}/live/cam", setup.port));
    let refused = setup.refused(1);
    assert_eq!(
        field(&refused[0], "reason"),
        "the stream is already being published"
    );
    assert_eq!(field(&refused[0], "stream"), "cam");
    setup.finish();
}

#[test]
fn garbage_after_the_handshake_is_refused_and_closed() {
    let mut setup = start(&[], "cam");
    let mut socket = handshaken_socket(setup.port);
    let sent = Instant::now();
    // A type-3 chunk header on a chunk stream without a message yet, then noise.
    socket
        .write_all(b"\xc5GET / HTTP/1.1\r\n\r\n\xff\xfe\x00garbage")
        .unwrap();
    let held = wait_closed(&mut socket, sent, Duration::from_secs(5));
    let refused = setup.refused(1);
    assert!(
        field(&refused[0], "reason").contains("client"),
        "{}",
        refused[0]
    );
    eprintln!("garbage: closed {held:?} after it was sent");
    setup.finish();
}

#[test]
fn a_client_announcing_a_16_mib_message_is_refused_at_the_header() {
    let mut setup = start(&[], "cam");
    let mut socket = handshaken_socket(setup.port);
    let sent = Instant::now();
    // Type-0 chunk header, chunk stream 3: timestamp 0, length 0xFFFFFF, AMF0 command, stream 0.
    socket
        .write_all(&[
            0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0, 0x02, 0x00, 0x07,
        ])
        .unwrap();
    let held = wait_closed(&mut socket, sent, Duration::from_secs(5));
    let refused = setup.refused(1);
    eprintln!("16 MiB: {} closed {held:?} after the header", refused[0]);
    assert!(held < Duration::from_secs(2), "held {held:?}");
    setup.finish();
}

#[test]
fn a_hundred_idle_sockets_do_not_keep_the_publisher_out_and_are_closed_in_time() {
    // A short setup timeout: idle clients are closed after 2 s.
    let dir = TempDir::new("listen-idle");
    let flv = dir.join("in.flv");
    make_test_flv(&flv, &TestFlv::default().duration_ms(REAL_MS));
    let (port, location) = listen_location("cam");
    let player = Player::new(&location, &[("mode", "listener"), ("timeout", "2")]);
    player.play();
    let before = rss_kib();
    let opened = Instant::now();
    let mut idle: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // Measured once the acceptor holds them all.
    let pending = || player.stats().get::<u64>("clients-pending").unwrap();
    assert!(
        common::wait_until(WAIT, || pending() == 100),
        "pending: {}",
        pending()
    );
    let during = rss_kib();
    let mut bus = BusLog::default();
    let url = format!("rtmp://127.0.0.1:{port}/live/cam");
    let publisher = ffmpeg_publish_file(&flv, &url);
    read_bus(&player.pipeline, WAIT, &mut bus, |b| {
        !b.named("rtmp-client-connected").is_empty()
    });
    let connected_after = opened.elapsed();
    assert_eq!(bus.named("rtmp-client-connected").len(), 1, "{bus:?}");
    let mut held = Vec::new();
    for socket in &mut idle {
        held.push(wait_closed(socket, opened, Duration::from_secs(6)));
    }
    let longest = held.iter().max().copied().unwrap();
    eprintln!(
        "100 idle sockets: RSS +{} KiB ({} B each), publisher connected {connected_after:?} \
         after they were opened, all closed by {longest:?} (setup timeout 2 s)",
        during.saturating_sub(before),
        during.saturating_sub(before) * 1024 / 100
    );
    assert!(
        longest < Duration::from_millis(3500),
        "an idle socket was held {longest:?}"
    );
    read_bus(&player.pipeline, TIMEOUT, &mut bus, |_| false);
    publisher.finish(WAIT).assert_success("the real publisher");
    assert!(bus.eos, "{bus:?}");
    let refused = bus.named("rtmp-client-refused");
    assert_eq!(refused.len(), 100, "one refusal per idle socket");
    assert!(
        field(refused[0], "reason").contains("within 2 s"),
        "{}",
        refused[0]
    );
    let log = player.stop();
    let frames = u64::from(REAL_MS / 40);
    assert!(
        log.pad("video").decoded + 5 >= frames,
        "video decoded: {}",
        log.pad("video").decoded
    );
}
