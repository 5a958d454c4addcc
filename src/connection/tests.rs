//! Stress tests of the hand-off between the element's threads and the I/O thread: tiny queue
//! bounds make nearly every `send`/`recv` meet a full or empty queue, so every skipped wake-up
//! (see `Inner::io_wants_media`) is raced many times. A lost wake-up shows as a timeout.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::protocol::amf0::Amf0Value;
use crate::protocol::chunk::{ChunkReader, ChunkWriter};
use crate::protocol::handshake::HANDSHAKE_SIZE;
use crate::protocol::message::Message;
use crate::protocol::session::MediaKind;

const MESSAGES: u32 = 20_000;
/// Room for about three messages in either queue.
const TINY_BOUND: usize = 300;
const PAYLOAD: usize = 100;

/// The server side of one connection, just enough of RTMP for a client session.
struct Peer {
    socket: TcpStream,
    input: BytesMut,
    reader: ChunkReader,
    writer: ChunkWriter,
}

impl Peer {
    fn accept(listener: &TcpListener) -> Peer {
        let (socket, _) = listener.accept().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut peer = Peer {
            socket,
            input: BytesMut::new(),
            reader: ChunkReader::new(),
            writer: ChunkWriter::new(),
        };
        // Simple handshake: S2 echoes C1.
        let mut c0c1 = vec![0u8; 1 + HANDSHAKE_SIZE];
        peer.socket.read_exact(&mut c0c1).unwrap();
        let mut reply = vec![3u8];
        reply.extend_from_slice(&[0x5A; HANDSHAKE_SIZE]);
        reply.extend_from_slice(&c0c1[1..]);
        peer.socket.write_all(&reply).unwrap();
        peer.socket.read_exact(&mut c0c1[1..]).unwrap();
        peer
    }

    /// The next message; `None` once the client has gone.
    fn message(&mut self) -> Option<Message> {
        loop {
            if let Some(raw) = self.reader.read(&mut self.input).unwrap() {
                let message = Message::parse(raw).unwrap();
                if let Message::SetChunkSize(size) = message {
                    self.reader.set_chunk_size(size).unwrap();
                }
                return Some(message);
            }
            let mut buf = [0u8; 16 * 1024];
            match self.socket.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn command(&mut self, name: &str) -> f64 {
        loop {
            if let Some(Message::Command {
                name: got,
                transaction_id,
                ..
            }) = self.message()
                && got == name
            {
                return transaction_id;
            }
        }
    }

    fn send(&mut self, message: &Message) {
        let mut out = BytesMut::new();
        self.writer.write(3, &message.to_raw(0, 1), &mut out);
        self.socket.write_all(&out).unwrap();
    }

    fn reply(&mut self, name: &str, txn: f64, args: Vec<Amf0Value>) {
        self.send(&Message::Command {
            stream_id: 0,
            name: name.into(),
            transaction_id: txn,
            command_object: Amf0Value::Null,
            args,
        });
    }

    fn status(&mut self, code: &str) {
        let info = Amf0Value::Object(vec![
            ("level".into(), Amf0Value::String("status".into())),
            ("code".into(), Amf0Value::String(code.into())),
        ]);
        self.send(&Message::Command {
            stream_id: 1,
            name: "onStatus".into(),
            transaction_id: 0.0,
            command_object: Amf0Value::Null,
            args: vec![info],
        });
    }

    /// connect and createStream, then `start` (publish or play) answered with `code`.
    fn accept_session(&mut self, start: &str, code: &str) {
        let txn = self.command("connect");
        let info = Amf0Value::Object(vec![(
            "code".into(),
            Amf0Value::String("NetConnection.Connect.Success".into()),
        )]);
        self.reply("_result", txn, vec![info]);
        let txn = self.command("createStream");
        self.reply("_result", txn, vec![Amf0Value::Number(1.0)]);
        self.command(start);
        self.status(code);
    }
}

fn options(port: u16, mode: SessionMode) -> ConnectOptions {
    ConnectOptions {
        host: "127.0.0.1".into(),
        port,
        timeout: Duration::from_secs(20),
        session: ClientConfig::new("live", &format!("rtmp://127.0.0.1:{port}/live"), mode),
        tls: None,
        tunnel: None,
        stop_commands: StopCommands::default(),
        max_outgoing_bytes: TINY_BOUND,
        max_incoming_bytes: TINY_BOUND,
        send_low_watermark: None,
        in_flight_budget: None,
        log_id: "test".into(),
    }
}

/// A payload that carries its sequence number.
fn payload(i: u32) -> Bytes {
    let mut data = vec![0u8; PAYLOAD];
    data[..4].copy_from_slice(&i.to_be_bytes());
    Bytes::from(data)
}

fn sequence(payload: &[u8]) -> u32 {
    u32::from_be_bytes(payload[..4].try_into().unwrap())
}

/// Runs `body` on a thread; fails instead of hanging when it does not finish in time.
fn within(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => runner.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("no progress within {limit:?}: a wake-up was lost")
        }
    }
}

#[test]
fn publishing_through_a_tiny_queue_loses_no_wake_up() {
    gst::init().unwrap();
    within(Duration::from_secs(60), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut peer = Peer::accept(&listener);
            peer.accept_session("publish", "NetStream.Publish.Start");
            let mut next = 0;
            while let Some(message) = peer.message() {
                if let Message::Video { payload, .. } = message {
                    assert_eq!(sequence(&payload), next, "in order");
                    next += 1;
                    // Pauses let the socket fill, so the I/O thread also parks with media
                    // it cannot hand over yet.
                    if next % 5_000 == 0 {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            next
        });
        let mode = SessionMode::Publish {
            stream: "s".into(),
            publish_type: "live".into(),
        };
        let connection = Connection::start(options(port, mode)).unwrap();
        connection.wait_ready().unwrap();
        for i in 0..MESSAGES {
            connection
                .send(Outgoing::Video {
                    timestamp: i,
                    payload: payload(i).into(),
                })
                .unwrap();
            if i % 3_000 == 0 {
                // An idle moment: the I/O thread parks with an empty queue.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Also woken by close(): everything queued is sent before the socket closes.
        connection.close(Duration::from_secs(20)).unwrap();
        drop(connection);
        assert_eq!(server.join().unwrap(), MESSAGES);
    });
}

#[test]
fn playing_through_a_tiny_queue_loses_no_wake_up() {
    gst::init().unwrap();
    within(Duration::from_secs(60), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut peer = Peer::accept(&listener);
            peer.accept_session("play", "NetStream.Play.Start");
            for i in 0..MESSAGES {
                peer.send(&Message::Video {
                    timestamp: i,
                    stream_id: 1,
                    payload: payload(i),
                });
                if i % 4_000 == 0 {
                    // Let the client catch up: recv() then waits on an empty queue.
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            // Until the client has gone: its reads must not depend on us closing.
            while peer.message().is_some() {}
        });
        let mode = SessionMode::Play {
            stream: "s".into(),
            start: -2.0,
            buffer_ms: 1000,
        };
        let connection = Connection::start(options(port, mode)).unwrap();
        connection.wait_ready().unwrap();
        let mut next = 0;
        while next < MESSAGES {
            match connection.recv(Some(Duration::from_secs(30))).unwrap() {
                Some(SessionEvent::Media {
                    kind: MediaKind::Video,
                    payload,
                    ..
                }) => {
                    assert_eq!(sequence(&payload), next, "in order");
                    next += 1;
                    if next % 2_500 == 0 {
                        // A slow consumer: the I/O thread parks with a full queue.
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                Some(_) => {}
                None => panic!("no media for 30 s after {next} messages"),
            }
        }
        drop(connection);
        server.join().unwrap();
    });
}

#[test]
fn data_messages_count_by_size_toward_the_incoming_bound() {
    gst::init().unwrap();
    const DATA_MESSAGES: usize = 30;
    const TEXT: usize = 100_000;
    const BOUND: usize = 64 * 1024;
    within(Duration::from_secs(60), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut peer = Peer::accept(&listener);
            peer.accept_session("play", "NetStream.Play.Start");
            // 3 MB of data messages, far beyond the bound, for a client that is not taking them.
            for i in 0..DATA_MESSAGES {
                peer.send(&Message::Data {
                    timestamp: i as u32,
                    stream_id: 1,
                    values: vec![
                        Amf0Value::String("onTextData".into()),
                        Amf0Value::String("t".repeat(TEXT)),
                    ],
                    raw: Bytes::new(),
                });
            }
            while peer.message().is_some() {}
        });
        let mode = SessionMode::Play {
            stream: "s".into(),
            start: -2.0,
            buffer_ms: 1000,
        };
        let mut options = options(port, mode);
        options.max_incoming_bytes = BOUND;
        let connection = Connection::start(options).unwrap();
        connection.wait_ready().unwrap();
        // Until the I/O thread stops reading because the queue is full (it then waits for room).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !connection.shared.lock().io_wants_room {
            assert!(
                std::time::Instant::now() < deadline,
                "the I/O thread never stopped reading"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let queued = {
            let inner = connection.shared.lock();
            let data = |e: &&SessionEvent| matches!(e, SessionEvent::Data { .. });
            (
                inner.incoming.iter().filter(data).count(),
                inner.incoming_bytes,
            )
        };
        // Reading stopped at the bound: what one read of the socket brought can overshoot it,
        // by at most a couple of messages. Counted at 64 bytes each, all 30 were queued.
        assert!(queued.0 <= 3, "{queued:?} data messages/bytes queued");
        assert!(queued.1 >= BOUND, "{queued:?}");
        // Taking them makes room, and none is lost.
        let mut got = 0;
        while got < DATA_MESSAGES {
            match connection.recv(Some(Duration::from_secs(30))).unwrap() {
                Some(SessionEvent::Data { timestamp, values }) => {
                    assert_eq!(timestamp, got as u32);
                    assert_eq!(values[1].as_str().map(str::len), Some(TEXT));
                    got += 1;
                }
                Some(_) => {}
                None => panic!("no data for 30 s after {got} messages"),
            }
        }
        drop(connection);
        server.join().unwrap();
    });
}
