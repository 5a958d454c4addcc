//! The client handshake against real servers: nginx-rtmp and FFmpeg's RTMP server
//! (`ffmpeg -listen 1`), in simple and digest mode, over a plain `std::net::TcpStream`.
//!
//! After the handshake each test sends a hand-built AMF0 `connect` and waits for `_result`: a server
//! only answers commands once it has taken our C2, so this proves the handshake completed on its side
//! too. Missing binaries fail the tests with a message rather than skipping them.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gstrtmp::protocol::handshake::{
    ClientHandshake, HANDSHAKE_SIZE, HandshakeMode, HandshakeProgress,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
const TIMEOUT: Duration = Duration::from_secs(10);

/// A server process we started; killed (by its own handle) and cleaned up on drop.
struct Server {
    name: &'static str,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
}

impl Server {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server and returns its log.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().unwrap().port()
}

fn temp_dir(tag: &str, port: u16) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gstrtmp-handshake-{tag}-{}-{port}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

fn spawn(name: &str, command: &mut Command) -> Child {
    match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`{name}` is not installed or not in PATH; these tests need it \
             (Debian: apt-get install nginx libnginx-mod-rtmp ffmpeg)"
        ),
        Err(e) => panic!("cannot start `{name}`: {e}"),
    }
}

fn start_nginx() -> (Server, u16) {
    assert!(
        Path::new(NGINX_RTMP_MODULE).exists(),
        "the nginx RTMP module is missing at {NGINX_RTMP_MODULE} (Debian: apt-get install libnginx-mod-rtmp)"
    );
    let port = free_port();
    let dir = temp_dir("nginx", port);
    let log = dir.join("error.log");
    let conf = dir.join("nginx.conf");
    fs::write(
        &conf,
        format!(
            "load_module {NGINX_RTMP_MODULE};\n\
             daemon off;\nmaster_process off;\n\
             pid {pid};\nerror_log {log} info;\n\
             events {{ worker_connections 64; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; }} }} }}\n",
            pid = dir.join("nginx.pid").display(),
            log = log.display(),
        ),
    )
    .unwrap();
    let child = spawn(
        "nginx",
        Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(&log)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    (
        Server {
            name: "nginx",
            child,
            dir,
            log,
        },
        port,
    )
}

fn start_ffmpeg() -> (Server, u16) {
    let port = free_port();
    let dir = temp_dir("ffmpeg", port);
    let log = dir.join("ffmpeg.log");
    let child = spawn(
        "ffmpeg",
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "info",
                "-listen",
                "1",
            ])
            .arg("-i")
            .arg(format!("rtmp://127.0.0.1:{port}/live/x"))
            .args(["-f", "null", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap()),
    );
    (
        Server {
            name: "ffmpeg",
            child,
            dir,
            log,
        },
        port,
    )
}

/// Connects once the server listens. FFmpeg accepts a single connection, so there is no probing:
/// the first connection that succeeds is the one used.
fn connect(server: &mut Server, port: u16) -> TcpStream {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "{} exited ({status}) before accepting a connection; log:\n{}",
                server.name,
                server.log()
            );
        }
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(TIMEOUT)).unwrap();
            stream.set_write_timeout(Some(TIMEOUT)).unwrap();
            return stream;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "{} does not listen on port {port}; log:\n{}",
            server.name,
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Outcome {
    /// S0, S1 and S2 as the server sent them.
    response: Vec<u8>,
    c1: Bytes,
    c2: Bytes,
    /// Bytes read after S2.
    leftover: BytesMut,
}

impl Outcome {
    fn s1(&self) -> &[u8] {
        &self.response[1..1 + HANDSHAKE_SIZE]
    }
}

fn handshake(stream: &mut TcpStream, mode: HandshakeMode, server: &Server) -> Outcome {
    let mut random = vec![0; 2 * HANDSHAKE_SIZE];
    getrandom::fill(&mut random).unwrap();
    let mut hs = ClientHandshake::new(mode, 1234, &random);
    let c0c1 = hs.c0c1();
    stream.write_all(&c0c1).unwrap();

    let mut input = BytesMut::new();
    let mut read = Vec::new();
    // A small read buffer, so the input arrives in several pieces.
    let mut buf = [0; 1000];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => panic!(
                "{} closed the connection during the handshake; log:\n{}",
                server.name,
                server.log()
            ),
            Ok(n) => n,
            Err(e) => panic!("reading from {}: {e}; log:\n{}", server.name, server.log()),
        };
        input.extend_from_slice(&buf[..n]);
        read.extend_from_slice(&buf[..n]);
        let progress = hs.feed(&mut input).unwrap_or_else(|e| {
            panic!("handshake with {} failed: {e}", server.name);
        });
        if let HandshakeProgress::Done(c2) = progress {
            stream.write_all(&c2).unwrap();
            let response_len = 1 + 2 * HANDSHAKE_SIZE;
            assert_eq!(&read[response_len..], &input[..]);
            read.truncate(response_len);
            return Outcome {
                response: read,
                c1: c0c1.slice(1..),
                c2,
                leftover: input,
            };
        }
    }
}

fn amf0_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// `connect` on chunk stream 3 in 128-byte chunks (the default chunk size).
fn connect_command(port: u16) -> Vec<u8> {
    let mut body = vec![0x02];
    amf0_string(&mut body, "connect");
    body.push(0x00);
    body.extend_from_slice(&1.0f64.to_be_bytes());
    body.push(0x03);
    for (key, value) in [
        ("app", "live".to_string()),
        ("type", "nonprivate".to_string()),
        (
            "flashVer",
            "FMLE/3.0 (compatible; gstrtmp test)".to_string(),
        ),
        ("tcUrl", format!("rtmp://127.0.0.1:{port}/live")),
    ] {
        amf0_string(&mut body, key);
        body.push(0x02);
        amf0_string(&mut body, &value);
    }
    body.extend_from_slice(&[0, 0, 0x09]);

    let mut out = vec![0x03, 0, 0, 0];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.push(20);
    out.extend_from_slice(&[0; 4]);
    for (i, chunk) in body.chunks(128).enumerate() {
        if i > 0 {
            out.push(0xC3);
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// Sends `connect` and waits for the `_result` that answers it.
fn expect_connect_result(stream: &mut TcpStream, port: u16, outcome: &Outcome, server: &Server) {
    stream.write_all(&connect_command(port)).unwrap();
    let mut got = outcome.leftover.to_vec();
    let needle = b"\x02\x00\x07_result";
    let mut buf = [0; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => panic!(
                "{} sent no _result for connect after the handshake (got {} bytes); log:\n{}",
                server.name,
                got.len(),
                server.log()
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The digest of a C1/S1 keyed by `key`, found in either layout.
fn block_digest(block: &[u8], key: &[u8]) -> Option<[u8; 32]> {
    [8, 772].into_iter().find_map(|base| {
        let off = block[base..base + 4]
            .iter()
            .map(|&b| b as usize)
            .sum::<usize>()
            % 728
            + base
            + 4;
        let digest = hmac(key, &[&block[..off], &block[off + 32..]]);
        (block[off..off + 32] == digest).then_some(digest)
    })
}

/// Checks independently of the crate that the server sent a digest S1 and that our C2 answers it.
fn assert_digest_exchange(outcome: &Outcome) {
    let fms_key = [&b"Genuine Adobe Flash Media Server 001"[..], &KEY_TAIL].concat();
    let fp_key = [&b"Genuine Adobe Flash Player 001"[..], &KEY_TAIL].concat();
    assert!(block_digest(&outcome.c1, &fp_key[..30]).is_some());
    let s1_digest =
        block_digest(outcome.s1(), &fms_key[..36]).expect("the server's S1 carries no digest");
    let s2 = &outcome.response[1 + HANDSHAKE_SIZE..];
    let c1_digest = block_digest(&outcome.c1, &fp_key[..30]).unwrap();
    assert_eq!(
        &s2[HANDSHAKE_SIZE - 32..],
        hmac(
            &hmac(&fms_key, &[&c1_digest]),
            &[&s2[..HANDSHAKE_SIZE - 32]]
        ),
        "the server's S2 does not carry our C1 digest"
    );
    let (filler, sig) = outcome.c2.split_at(HANDSHAKE_SIZE - 32);
    assert_eq!(sig, hmac(&hmac(&fp_key, &[&s1_digest]), &[filler]));
}

#[test]
fn nginx_simple() {
    let (mut server, port) = start_nginx();
    let mut stream = connect(&mut server, port);
    let outcome = handshake(&mut stream, HandshakeMode::Simple, &server);
    // nginx-rtmp answers a zero-version C1 the old way: zero version, no digest.
    assert_eq!(&outcome.s1()[4..8], &[0; 4]);
    assert_eq!(&outcome.c2[..], outcome.s1());
    expect_connect_result(&mut stream, port, &outcome, &server);
}

#[test]
fn nginx_digest() {
    let (mut server, port) = start_nginx();
    let mut stream = connect(&mut server, port);
    let outcome = handshake(&mut stream, HandshakeMode::Digest, &server);
    // nginx-rtmp finds our C1 digest and answers with digest S1 and S2.
    assert_ne!(&outcome.s1()[4..8], &[0; 4]);
    assert_ne!(&outcome.c2[..], outcome.s1());
    assert_digest_exchange(&outcome);
    expect_connect_result(&mut stream, port, &outcome, &server);
    let log = server.stop();
    assert!(!log.contains("digest not found"), "nginx log:\n{log}");
}

fn ffmpeg(mode: HandshakeMode) {
    let (mut server, port) = start_ffmpeg();
    let mut stream = connect(&mut server, port);
    let outcome = handshake(&mut stream, mode, &server);
    // FFmpeg's server does no digests: plain S1, so C2 echoes it in both modes.
    assert_eq!(&outcome.s1()[4..8], &[0; 4]);
    assert_eq!(&outcome.c2[..], outcome.s1());
    expect_connect_result(&mut stream, port, &outcome, &server);
    drop(stream);
    let log = server.stop();
    // FFmpeg checks C2 against its S1 and only warns when they differ.
    assert!(!log.contains("Erroneous C2"), "ffmpeg log:\n{log}");
}

#[test]
fn ffmpeg_simple() {
    ffmpeg(HandshakeMode::Simple);
}

#[test]
fn ffmpeg_digest() {
    ffmpeg(HandshakeMode::Digest);
}
