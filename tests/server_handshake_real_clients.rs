//! The server handshake against real clients over a plain `std::net::TcpListener`: FFmpeg 5.1 as a
//! publisher (`-f flv rtmp://…`) and as a player (`-i rtmp://…`), and GStreamer's rtmp2sink, whose
//! plain C1 (zero version) gets the simple answer. FFmpeg sends a digest C1; as a player it also
//! checks our S1 digest and our S2's answer to its C1 digest ("Signature mismatch" otherwise)
//! before it sends C2. A client sends its `connect` command only after accepting S0+S1+S2, so the
//! first chunk after C2 being a `connect` (type 0 header on chunk stream 3, message type 20, AMF0
//! string "connect") proves the client took the handshake. Missing ffmpeg or gst-launch-1.0 fails
//! the tests.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gstrtmp::protocol::handshake::{ServerHandshake, ServerHandshakeForm, ServerHandshakeProgress};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A client process we started; killed by its own handle on drop.
struct Client(Child);

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn accept(listener: &TcpListener, client: &mut Client) -> TcpStream {
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
                if let Ok(Some(status)) = client.0.try_wait() {
                    panic!("the client exited with {status} before connecting");
                }
                assert!(Instant::now() < deadline, "the client did not connect");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Runs the server handshake on `stream`; returns the form chosen and the bytes read after C2
/// (at least 22: a type 0 chunk header and the command name).
fn handshake_and_first_chunk(stream: &mut TcpStream) -> (ServerHandshakeForm, BytesMut) {
    let random: Vec<u8> = (0..3032u32).map(|i| (i * 13 + 5) as u8).collect();
    let mut hs = ServerHandshake::new(0, &random);
    let mut input = BytesMut::new();
    let mut buf = [0u8; 4096];
    let mut done = false;
    loop {
        if !done {
            let progress = hs.feed(&mut input).expect("the client's handshake refused");
            let (ServerHandshakeProgress::NeedMore(send) | ServerHandshakeProgress::Done(send)) =
                &progress;
            stream.write_all(send).unwrap();
            done = matches!(progress, ServerHandshakeProgress::Done(_));
        }
        if done && input.len() >= 22 {
            return (hs.form().unwrap(), input);
        }
        let n = stream.read(&mut buf).expect("read from the client");
        assert!(n > 0, "the client closed the connection (done: {done})");
        input.extend_from_slice(&buf[..n]);
    }
}

/// Runs `program` with `args` (`URL` replaced by a URL to our listener) and checks the handshake
/// takes the `expected` form and is followed by `connect`.
fn check_against(program: &str, args: &[&str], expected: ServerHandshakeForm) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "rtmp://127.0.0.1:{}/live/x",
        listener.local_addr().unwrap().port()
    );
    let location = format!("location={url}");
    let args: Vec<&str> = args
        .iter()
        .map(|&a| match a {
            "URL" => url.as_str(),
            "location=URL" => location.as_str(),
            a => a,
        })
        .collect();
    let mut client = Client(
        Command::new(program)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}")),
    );
    let mut stream = accept(&listener, &mut client);
    let (form, after) = handshake_and_first_chunk(&mut stream);
    assert_eq!(form, expected);
    // Basic header: fmt 0, chunk stream 3; message header: timestamp, length, type 20 (AMF0 command).
    assert_eq!(after[0], 0x03, "first chunk header {:02x?}", &after[..12]);
    assert_eq!(after[7], 20, "first chunk header {:02x?}", &after[..12]);
    // AMF0 string "connect" opens the command.
    assert_eq!(&after[12..22], b"\x02\x00\x07connect");
}

const FFMPEG: [&str; 4] = ["-hide_banner", "-loglevel", "error", "-nostdin"];

#[test]
fn ffmpeg_publisher_accepts_the_handshake() {
    let args = [
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
    ];
    check_against(
        "ffmpeg",
        &[&FFMPEG[..], &args].concat(),
        ServerHandshakeForm::Digest { base: 8 },
    );
}

#[test]
fn ffmpeg_player_verifies_our_digests() {
    let args = ["-i", "URL", "-t", "1", "-f", "null", "-"];
    check_against(
        "ffmpeg",
        &[&FFMPEG[..], &args].concat(),
        ServerHandshakeForm::Digest { base: 8 },
    );
}

#[test]
fn rtmp2sink_gets_the_simple_answer() {
    let pipeline = "videotestsrc is-live=true ! video/x-raw,width=64,height=64 ! \
                    x264enc tune=zerolatency ! flvmux streamable=true ! rtmp2sink location=URL";
    check_against(
        "gst-launch-1.0",
        &pipeline.split_whitespace().collect::<Vec<_>>(),
        ServerHandshakeForm::Simple,
    );
}
