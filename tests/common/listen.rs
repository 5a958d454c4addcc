//! Helpers for the rtmpsrc listener tests (`tests/listener_*.rs`): where to listen, publishers
//! aimed at a listening rtmpsrc, and a bus reader that keeps whole element messages (the
//! `rtmp-client-*` structures) rather than names.

use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::{Proc, free_port};

/// A fresh loopback port and the listener location for it: `rtmp://127.0.0.1:PORT/live/STREAM`.
pub fn listen_location(stream: &str) -> (u16, String) {
    let port = free_port();
    (port, format!("rtmp://127.0.0.1:{port}/live/{stream}"))
}

/// Publishes `flv` in real time with `ffmpeg` (a path: Debian's 5.1 or FFmpeg 9) to `url`,
/// with extra output options before the URL (e.g. `-rtmp_flashver`).
pub fn ffmpeg_publish_with(
    ffmpeg: &std::ffi::OsStr,
    flv: &std::path::Path,
    url: &str,
    extra: &[&str],
) -> Proc {
    Proc::spawn(
        Command::new(ffmpeg)
            .args(["-nostdin", "-v", "error", "-re", "-i"])
            .arg(flv)
            .args(["-c", "copy", "-f", "flv"])
            .args(extra)
            .arg(url),
    )
}

/// What the bus said while a pipeline ran.
#[derive(Debug, Default)]
pub struct BusLog {
    pub eos: bool,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// Element messages, whole.
    pub elements: Vec<gst::Structure>,
}

impl BusLog {
    /// The element messages named `name`.
    pub fn named(&self, name: &str) -> Vec<&gst::Structure> {
        self.elements.iter().filter(|s| s.name() == name).collect()
    }
}

/// Reads `pipeline`'s bus until EOS, an error, `timeout`, or `stop` says so for a message it
/// sees (after it is recorded).
pub fn read_bus(
    pipeline: &gst::Pipeline,
    timeout: Duration,
    log: &mut BusLog,
    mut stop: impl FnMut(&BusLog) -> bool,
) {
    let bus = pipeline.bus().expect("bus");
    let deadline = Instant::now() + timeout;
    loop {
        if stop(log) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            return;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                log.eos = true;
                return;
            }
            gst::MessageView::Error(err) => {
                log.error = Some(format!("{} ({:?})", err.error(), err.debug()));
                return;
            }
            gst::MessageView::Warning(w) => log.warnings.push(w.error().to_string()),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    log.elements.push(s.to_owned());
                }
            }
            _ => {}
        }
    }
}

/// A TCP client that completes the RTMP handshake (simple form) and nothing else, for sending
/// what a misbehaving client sends after it.
pub fn handshaken_socket(port: u16) -> std::net::TcpStream {
    use gstrtmp::protocol::handshake::{ClientHandshake, HandshakeMode, HandshakeProgress};
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // Each write goes at once: the times measured are the server's.
    socket.set_nodelay(true).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut handshake = ClientHandshake::new(HandshakeMode::Simple, 0, &[0x42; 1528]);
    socket.write_all(&handshake.c0c1()).expect("send C0 C1");
    loop {
        let mut buf = [0u8; 8192];
        let n = socket.read(&mut buf).expect("read S0 S1 S2");
        assert!(n > 0, "closed during the handshake");
        let mut fresh = bytes::BytesMut::from(&buf[..n]);
        match handshake.feed(&mut fresh).expect("handshake") {
            HandshakeProgress::NeedMore => {}
            HandshakeProgress::Done(c2) => {
                socket.write_all(&c2).expect("send C2");
                return socket;
            }
        }
    }
}

/// Reads until the peer closes (or resets); how long that took from `since`. Panics after
/// `timeout`.
pub fn wait_closed(
    socket: &mut std::net::TcpStream,
    since: Instant,
    timeout: Duration,
) -> Duration {
    use std::io::Read;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return since.elapsed(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return since.elapsed(),
        }
        assert!(
            since.elapsed() < timeout,
            "the server did not close within {timeout:?}"
        );
    }
}

/// This process's resident memory in KiB (VmRSS).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
