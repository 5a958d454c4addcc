//! The server session against real clients over a plain `std::net::TcpListener`, the application
//! accepting everything: FFmpeg 5.1 and FFmpeg 9 publishing and playing, rtmpdump (librtmp) playing
//! live (`-v`: FCSubscribe, and `_checkbw` after our onBWDone), GStreamer's rtmp2sink publishing and
//! rtmp2src playing, and gst-plugins-bad's librtmp rtmpsink publishing (the OBS-style
//! releaseStream/FCPublish sequence). Frames are counted on both sides: what the publisher sent
//! arrives as that many video messages; what we serve a player, it decodes or records in full.
//!
//! With `RTMP_CAPTURE_DIR` set, every client's bytes are written there (`<test>.bin`): the
//! byte-vector tests in `src/protocol/session/server/tests/` replay such captures.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Proc, TempDir, TestFlv, make_test_flv};
use gstrtmp::protocol::session::{MediaKind, ServerConfig, ServerEvent, ServerSession};

const TIMEOUT: Duration = Duration::from_secs(30);

/// One FLV tag: type (8, 9, 18), timestamp, body.
#[derive(Clone)]
struct Tag {
    kind: u8,
    timestamp: u32,
    body: Bytes,
}

fn read_flv(path: &Path) -> Vec<Tag> {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[..3], b"FLV", "{} is not FLV", path.display());
    let mut pos = u32::from_be_bytes(data[5..9].try_into().unwrap()) as usize + 4;
    let mut tags = Vec::new();
    while pos + 11 <= data.len() {
        let kind = data[pos];
        let size = u32::from_be_bytes([0, data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let timestamp =
            u32::from_be_bytes([data[pos + 7], data[pos + 4], data[pos + 5], data[pos + 6]]);
        let end = pos + 11 + size;
        if end > data.len() {
            break;
        }
        tags.push(Tag {
            kind,
            timestamp,
            body: Bytes::copy_from_slice(&data[pos + 11..end]),
        });
        pos = end + 4;
    }
    tags
}

/// An AVC video tag body holding a coded frame (AVC packet type 1), not a sequence header or
/// end of sequence.
fn is_frame(body: &[u8]) -> bool {
    body.get(1) == Some(&1)
}

fn video_frames(tags: &[Tag]) -> usize {
    tags.iter()
        .filter(|t| t.kind == 9 && is_frame(&t.body))
        .count()
}

/// What the served client did.
struct Served {
    events: Vec<ServerEvent>,
    error: Option<String>,
}

impl Served {
    fn media(&self, kind: MediaKind) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Media { kind: k, .. } if *k == kind))
            .count()
    }

    fn video_frames(&self) -> usize {
        self.count(|e| {
            matches!(e, ServerEvent::Media { kind: MediaKind::Video, payload, .. }
            if is_frame(payload))
        })
    }

    fn count(&self, pred: impl Fn(&ServerEvent) -> bool) -> usize {
        self.events.iter().filter(|e| pred(e)).count()
    }
}

fn accept(listener: &TcpListener, client: &mut Proc) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                return stream;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if let Some(status) = client.try_wait() {
                    panic!("the client exited with {status} before connecting");
                }
                assert!(Instant::now() < deadline, "the client did not connect");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn flush(session: &mut ServerSession, stream: &mut TcpStream) -> std::io::Result<()> {
    let mut out = std::collections::VecDeque::new();
    session.take_output(&mut out);
    for part in out {
        stream.write_all(&part)?;
    }
    Ok(())
}

/// Serves one client of `listener`: accepts its connect and its publish or play; a player gets
/// `tags` and then the end of the stream. Returns once the client closes or exits.
fn serve(name: &str, listener: &TcpListener, client: &mut Proc, tags: &[Tag]) -> Served {
    let mut stream = accept(listener, client);
    let random: Vec<u8> = (0..3032u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut session = ServerSession::new(ServerConfig::default(), 0, &random);
    let mut served = Served {
        events: Vec::new(),
        error: None,
    };
    let mut capture = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + TIMEOUT;
    let mut ended_at = None;
    while Instant::now() < deadline {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if client.try_wait().is_some() {
                    break;
                }
                // After the end of a played stream, the player has a moment to leave by itself.
                if ended_at.is_some_and(|t: Instant| t.elapsed() > Duration::from_secs(2)) {
                    break;
                }
                continue;
            }
            Err(_) => break,
        };
        capture.extend_from_slice(&buf[..n]);
        if let Err(e) = session.handle_input(&buf[..n]) {
            served.error = Some(e.to_string());
            break;
        }
        while let Some(event) = session.poll_event() {
            match &event {
                ServerEvent::ConnectRequest { .. } => session.accept_connect().unwrap(),
                ServerEvent::PublishRequest { stream_id, .. } => {
                    session.accept_publish(*stream_id).unwrap()
                }
                ServerEvent::PlayRequest { stream_id, .. } => {
                    let id = *stream_id;
                    session.accept_play(id).unwrap();
                    for tag in tags {
                        let body = tag.body.clone();
                        match tag.kind {
                            8 => session.send_audio(id, tag.timestamp, body).unwrap(),
                            9 => session.send_video(id, tag.timestamp, body).unwrap(),
                            _ => session.send_data(id, tag.timestamp, body).unwrap(),
                        }
                    }
                    session.end_play(id).unwrap();
                    ended_at = Some(Instant::now());
                }
                _ => {}
            }
            served.events.push(event);
        }
        if flush(&mut session, &mut stream).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    if let Some(dir) = std::env::var_os("RTMP_CAPTURE_DIR") {
        std::fs::write(Path::new(&dir).join(format!("{name}.bin")), &capture).unwrap();
    }
    served
}

fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "rtmp://127.0.0.1:{}/live/key",
        listener.local_addr().unwrap().port()
    );
    (listener, url)
}

/// Two seconds of H.264 (50 frames) and AAC, made once per test.
fn test_flv(dir: &TempDir) -> (std::path::PathBuf, Vec<Tag>) {
    let path = dir.join("in.flv");
    make_test_flv(&path, &TestFlv::default());
    let tags = read_flv(&path);
    assert_eq!(video_frames(&tags), 50);
    (path, tags)
}

fn check_publish(served: &Served, frames: usize) {
    assert_eq!(served.error, None);
    let requests: Vec<_> = served
        .events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::PublishRequest { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(requests, ["key"]);
    assert_eq!(served.video_frames(), frames);
    assert!(
        served.count(|e| matches!(e, ServerEvent::Data { values, .. }
        if values.iter().any(|v| v.as_str() == Some("onMetaData"))))
            >= 1
    );
}

fn ffmpeg_publish(ffmpeg: &Path, name: &str) {
    let dir = TempDir::new(name);
    let (flv, _) = test_flv(&dir);
    let (listener, url) = listen();
    let mut client = Proc::spawn(
        Command::new(ffmpeg)
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(&flv)
            .args(["-c", "copy", "-f", "flv", &url]),
    );
    let served = serve(name, &listener, &mut client, &[]);
    client.finish(TIMEOUT).assert_success("ffmpeg publish");
    check_publish(&served, 50);
    assert!(served.media(MediaKind::Audio) > 50);
    assert_eq!(
        served.count(|e| matches!(e, ServerEvent::PublishEnded { .. })),
        1
    );
}

#[test]
fn ffmpeg51_publishes() {
    ffmpeg_publish(Path::new("ffmpeg"), "ffmpeg51_publish");
}

#[test]
fn ffmpeg9_publishes() {
    ffmpeg_publish(&common::ffmpeg9(), "ffmpeg9_publish");
}

/// Counts the video frames `ffmpeg` decodes from us (`-f framecrc`: one line per frame).
fn ffmpeg_play(ffmpeg: &Path, name: &str) {
    let dir = TempDir::new(name);
    let (_, tags) = test_flv(&dir);
    let (listener, url) = listen();
    let mut client = Proc::spawn(Command::new(ffmpeg).args([
        "-nostdin", "-v", "error", "-i", &url, "-map", "0:v", "-f", "framecrc", "-",
    ]));
    let served = serve(name, &listener, &mut client, &tags);
    let finished = client.finish(TIMEOUT);
    assert_eq!(served.error, None);
    assert!(
        served
            .events
            .iter()
            .any(|e| matches!(e, ServerEvent::PlayRequest { name, .. } if name == "key"))
    );
    let frames = finished
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert_eq!(frames, 50, "{}", finished.stderr);
}

#[test]
fn ffmpeg51_plays() {
    ffmpeg_play(Path::new("ffmpeg"), "ffmpeg51_play");
}

#[test]
fn ffmpeg9_plays() {
    ffmpeg_play(&common::ffmpeg9(), "ffmpeg9_play");
}

#[test]
fn rtmpdump_plays_live() {
    let dir = TempDir::new("rtmpdump");
    let (_, tags) = test_flv(&dir);
    let (listener, url) = listen();
    let out = dir.join("out.flv");
    let mut client = Proc::spawn(
        Command::new("rtmpdump")
            .args(["-q", "-v", "-r", &url, "-o"])
            .arg(&out),
    );
    let served = serve("rtmpdump_play", &listener, &mut client, &tags);
    client.finish(TIMEOUT);
    assert_eq!(served.error, None);
    assert_eq!(video_frames(&read_flv(&out)), 50);
}

/// A `gst-launch-1.0` run of system plugins only: gst-plugins-bad's librtmp `rtmpsink` must not be
/// shadowed by ours.
fn system_gst_launch(pipeline: &str) -> Proc {
    Proc::spawn(
        Command::new("gst-launch-1.0")
            .env_remove("GST_PLUGIN_PATH")
            .env("GST_REGISTRY", common::gst::registry(false))
            .arg("-e")
            .args(common::gst::split_args(pipeline)),
    )
}

#[test]
fn rtmp2sink_publishes() {
    let (listener, url) = listen();
    let mut client = system_gst_launch(&format!(
        "videotestsrc num-buffers=50 ! video/x-raw,width=160,height=120 ! x264enc ! \
             flvmux streamable=true ! rtmp2sink location={url}"
    ));
    let served = serve("rtmp2sink_publish", &listener, &mut client, &[]);
    client.finish(TIMEOUT).assert_success("rtmp2sink");
    check_publish(&served, 50);
}

#[test]
fn librtmp_rtmpsink_publishes() {
    let (listener, url) = listen();
    let mut client = system_gst_launch(&format!(
        "videotestsrc num-buffers=50 ! video/x-raw,width=160,height=120 ! x264enc ! \
             flvmux streamable=true ! rtmpsink location={url}"
    ));
    let served = serve("librtmp_publish", &listener, &mut client, &[]);
    client.finish(TIMEOUT);
    assert_eq!(served.error, None);
    let requests = served.count(|e| matches!(e, ServerEvent::PublishRequest { .. }));
    assert_eq!(requests, 1);
    assert_eq!(served.video_frames(), 50);
}

#[test]
fn rtmp2src_plays() {
    let dir = TempDir::new("rtmp2src");
    let (_, tags) = test_flv(&dir);
    let (listener, url) = listen();
    let out = dir.join("out.flv");
    let mut client = system_gst_launch(&format!(
        "rtmp2src location={url} ! filesink location={}",
        out.display()
    ));
    let served = serve("rtmp2src_play", &listener, &mut client, &tags);
    client.finish(TIMEOUT);
    assert_eq!(served.error, None);
    assert_eq!(video_frames(&read_flv(&out)), 50);
    // rtmp2src asks for the stream by name.
    assert!(served.count(|e| matches!(e, ServerEvent::PlayRequest { .. })) == 1);
}
