//! The server handshake against FFmpeg 5.1 as a client, over a plain `std::net::TcpListener`: as a
//! publisher (`-f flv rtmp://…`) and as a player (`-i rtmp://…`). FFmpeg sends a digest C1; as a
//! player it also checks our S1 digest and our S2's answer to its C1 digest ("Signature mismatch"
//! otherwise) before it sends C2. Either way it sends its `connect` command only after accepting
//! S0+S1+S2, so the first chunk after C2 being a `connect` (type 0 header on chunk stream 3,
//! message type 20, AMF0 command) proves FFmpeg took the handshake. Missing ffmpeg fails the test.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gstrtmp::protocol::handshake::{ServerHandshake, ServerHandshakeForm, ServerHandshakeProgress};

const TIMEOUT: Duration = Duration::from_secs(10);

/// An ffmpeg we started; killed by its own handle on drop.
struct Ffmpeg(Child);

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn accept(listener: &TcpListener, ffmpeg: &mut Ffmpeg) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(TIMEOUT)).unwrap();
                return stream;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if let Ok(Some(status)) = ffmpeg.0.try_wait() {
                    panic!("ffmpeg exited with {status} before connecting");
                }
                assert!(Instant::now() < deadline, "ffmpeg did not connect");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Runs the server handshake on `stream`; returns the form chosen and the bytes read after C2
/// (at least 12, a type 0 chunk header).
fn handshake_and_first_chunk(stream: &mut TcpStream) -> (ServerHandshakeForm, BytesMut) {
    let random: Vec<u8> = (0..3032u32).map(|i| (i * 13 + 5) as u8).collect();
    let mut hs = ServerHandshake::new(0, &random);
    let mut input = BytesMut::new();
    let mut buf = [0u8; 4096];
    let mut done = false;
    loop {
        if !done {
            let progress = hs.feed(&mut input).expect("FFmpeg's handshake refused");
            let (ServerHandshakeProgress::NeedMore(send) | ServerHandshakeProgress::Done(send)) =
                &progress;
            stream.write_all(send).unwrap();
            done = matches!(progress, ServerHandshakeProgress::Done(_));
        }
        if done && input.len() >= 12 {
            return (hs.form().unwrap(), input);
        }
        let n = stream.read(&mut buf).expect("read from ffmpeg");
        assert!(n > 0, "ffmpeg closed the connection (done: {done})");
        input.extend_from_slice(&buf[..n]);
    }
}

fn check_against(args: &[&str]) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "rtmp://127.0.0.1:{}/live/x",
        listener.local_addr().unwrap().port()
    );
    let args: Vec<&str> = args
        .iter()
        .map(|&a| if a == "URL" { url.as_str() } else { a })
        .collect();
    let mut ffmpeg = Ffmpeg(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg is needed for this test"),
    );
    let mut stream = accept(&listener, &mut ffmpeg);
    let (form, after) = handshake_and_first_chunk(&mut stream);
    assert_eq!(form, ServerHandshakeForm::Digest { base: 8 });
    // Basic header: fmt 0, chunk stream 3; message header: timestamp, length, type 20 (AMF0 command).
    assert_eq!(after[0], 0x03, "first chunk header {:02x?}", &after[..12]);
    assert_eq!(after[7], 20, "first chunk header {:02x?}", &after[..12]);
    // AMF0 string "connect" opens the command.
    let body = &after[12..];
    if body.len() >= 10 {
        assert_eq!(&body[..10], b"\x02\x00\x07connect");
    }
}

#[test]
fn ffmpeg_publisher_accepts_the_handshake() {
    check_against(&[
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=5",
        "-t",
        "5",
        "-f",
        "flv",
        "URL",
    ]);
}

#[test]
fn ffmpeg_player_verifies_our_digests() {
    check_against(&["-i", "URL", "-t", "1", "-f", "null", "-"]);
}
