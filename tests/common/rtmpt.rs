//! Helpers for the RTMPT tests (`tests/rtmpt_*.rs`): FLV tags to serve to players through an
//! accepted connection, frame counts, and raw HTTP exchanges with a listener.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gstrtmp::connection::{Connection, Outgoing};

/// One FLV tag: type (8, 9, 18), timestamp, body.
#[derive(Clone)]
pub struct Tag {
    pub kind: u8,
    pub timestamp: u32,
    pub body: Bytes,
}

pub fn read_flv(path: &Path) -> Vec<Tag> {
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

/// AVC video tags holding a coded frame (not a sequence header).
pub fn video_frames(tags: &[Tag]) -> usize {
    tags.iter()
        .filter(|t| t.kind == 9 && t.body.get(1) == Some(&1))
        .count()
}

/// Sends `tags` to an accepted player in real time (as a live source would), then closes the
/// connection (StreamEOF, UnpublishNotify); a full queue waits rather than drops.
pub fn serve_tags(connection: &Connection, tags: &[Tag]) {
    let start = Instant::now();
    for tag in tags {
        let due = start + Duration::from_millis(u64::from(tag.timestamp));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let payload = tag.body.clone();
        let item = match tag.kind {
            8 => Outgoing::Audio {
                timestamp: tag.timestamp,
                payload: payload.into(),
            },
            9 => Outgoing::Video {
                timestamp: tag.timestamp,
                payload: payload.into(),
            },
            _ => {
                // `@setDataFrame` is the publisher's wrapper; players get onMetaData as is.
                Outgoing::Data {
                    timestamp: tag.timestamp,
                    payload: payload.into(),
                }
            }
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let item = item.clone();
            if connection.try_send(item).expect("player connection alive") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the player took nothing for 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    connection
        .close(Duration::from_secs(10))
        .expect("closed cleanly");
}

/// Frames `ffmpeg -f framecrc -` printed (one line per frame, comments start with #).
pub fn framecrc_frames(stdout: &str) -> usize {
    stdout.lines().filter(|l| !l.starts_with('#')).count()
}

/// Sends `request` on a fresh connection to `port` and returns everything the listener
/// answers until it closes (at most 5 s).
pub fn raw_http(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A small HTTP forward proxy for the tests: takes a connection, checks its first request
/// (absolute-form target, `Proxy-Authorization` when credentials are set), connects to the
/// target's host and relays both ways from then on (the later requests of a keep-alive
/// connection go to the same server). Counts requests and remembers what it saw.
pub struct TestProxy {
    pub port: u16,
    pub seen: std::sync::Arc<std::sync::Mutex<ProxySeen>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug, Default)]
pub struct ProxySeen {
    /// Request lines of first requests, e.g. `POST http://127.0.0.1:1/open/1 HTTP/1.1`.
    pub first_lines: Vec<String>,
    /// `POST http://` request starts relayed to servers, first ones included.
    pub requests: usize,
    /// Connections refused with 407.
    pub refused: usize,
    /// The client side of every relayed connection, for [`TestProxy::cut_all`].
    pub clients: Vec<TcpStream>,
}

impl TestProxy {
    /// `credentials`: the `Basic` value a client must present (None: no authentication).
    pub fn start(credentials: Option<&str>) -> TestProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(ProxySeen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let expected = credentials.map(|c| format!("Basic {c}"));
        let (thread_seen, thread_stop) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !thread_stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (seen, expected) = (thread_seen.clone(), expected.clone());
                        std::thread::spawn(move || relay(client, seen, expected));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TestProxy {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Breaks every connection relayed so far (as a network failure would); new ones are
    /// still taken.
    pub fn cut_all(&self) {
        for client in self.seen.lock().unwrap().clients.drain(..) {
            let _ = client.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn relay(
    mut client: TcpStream,
    seen: std::sync::Arc<std::sync::Mutex<ProxySeen>>,
    expected: Option<String>,
) {
    client.set_nonblocking(false).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let first = text.lines().next().unwrap_or_default().to_owned();
    let authorized = match &expected {
        None => true,
        Some(value) => text
            .lines()
            .any(|l| l.strip_prefix("Proxy-Authorization: ") == Some(value.as_str())),
    };
    if !authorized {
        seen.lock().unwrap().refused += 1;
        let _ = client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    // CONNECT host:port (rtmpts://): a tunnel, relayed blindly once it is open.
    if let Some(authority) = first
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
    {
        let Ok(server) = TcpStream::connect(authority) else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        {
            let mut seen = seen.lock().unwrap();
            seen.first_lines.push(first.clone());
            seen.clients.push(client.try_clone().unwrap());
        }
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        return pipe(client, server, seen, false);
    }
    let Some(authority) = first
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.strip_prefix("http://"))
        .and_then(|t| t.split('/').next())
    else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let Ok(mut server) = TcpStream::connect(authority) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    {
        let mut seen = seen.lock().unwrap();
        seen.first_lines.push(first);
        seen.requests += 1;
        seen.clients.push(client.try_clone().unwrap());
    }
    // The first request goes on without the proxy's own header.
    let forwarded: String = text
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("Proxy-Authorization:"))
        .collect();
    if server.write_all(forwarded.as_bytes()).is_err() {
        return;
    }
    pipe(client, server, seen, true);
}

/// Relays both ways until either side closes; `count` counts the requests going up.
fn pipe(
    mut client: TcpStream,
    mut server: TcpStream,
    seen: std::sync::Arc<std::sync::Mutex<ProxySeen>>,
    count: bool,
) {
    let (mut client_r, mut server_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let counter = seen.clone();
    let upstream = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let _ = client_r.set_read_timeout(Some(Duration::from_secs(30)));
        loop {
            match client_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if count {
                        let chunk = String::from_utf8_lossy(&buf[..n]);
                        counter.lock().unwrap().requests += chunk.matches("POST http://").count();
                    }
                    if server_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = server_w.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    let _ = server.set_read_timeout(Some(Duration::from_secs(30)));
    loop {
        match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if client.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = upstream.join();
}

/// An RTMPT client by hand, on one keep-alive connection: open, send, idle.
pub struct RawTunnel {
    stream: TcpStream,
    pub id: String,
    seq: u64,
}

impl RawTunnel {
    pub fn open(port: u16) -> RawTunnel {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Head and body go in two writes: without this, Nagle holds the body for an ACK.
        stream.set_nodelay(true).unwrap();
        let mut tunnel = RawTunnel {
            stream,
            id: String::new(),
            seq: 0,
        };
        let (status, body) = tunnel.post("/open/1", &[0]);
        assert_eq!(status, 200);
        tunnel.id = String::from_utf8(body).unwrap().trim().to_owned();
        tunnel
    }

    /// Posts `body` to `path`; returns the status and the reply body.
    pub fn post(&mut self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-fcs\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.stream.write_all(head.as_bytes()).unwrap();
        self.stream.write_all(body).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(self.stream.read(&mut byte).unwrap(), 1, "connection closed");
            head.push(byte[0]);
        }
        let text = String::from_utf8(head).unwrap();
        let status = text[9..12].parse().unwrap();
        let length: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).unwrap();
        (status, body)
    }

    /// `send` (or `idle` when `data` is empty); returns the status and the RTMP bytes.
    pub fn exchange(&mut self, data: &[u8]) -> (u16, Vec<u8>) {
        let (command, body) = match data.is_empty() {
            true => ("idle", &[0u8][..]),
            false => ("send", data),
        };
        let path = format!("/{command}/{}/{}", self.id, self.seq);
        self.seq += 1;
        let (status, mut body) = self.post(&path, body);
        if status == 200 && !body.is_empty() {
            body.remove(0);
        }
        (status, body)
    }
}
