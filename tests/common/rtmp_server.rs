//! A scripted RTMP server for faults that real servers will not produce on demand: it speaks
//! through the plugin's own protocol types (chunk reader/writer, messages, AMF0), and each test
//! writes what the server does with each connection.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;
use gstrtmp::protocol::amf0::Amf0Value;
use gstrtmp::protocol::chunk::{ChunkReader, ChunkWriter, RawMessage};
use gstrtmp::protocol::handshake::HANDSHAKE_SIZE;
use gstrtmp::protocol::message::Message;

/// Listens on a free loopback port and runs `script` for each connection, in its own thread.
/// Dropping it stops accepting; running scripts end when their peer goes away.
pub struct ScriptedServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    pub fn start(script: impl Fn(Conn) + Send + Sync + 'static) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(script);
        let thread_stop = stop.clone();
        let thread = std::thread::spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => {
                        let script = script.clone();
                        std::thread::spawn(move || {
                            let _ = socket.set_nonblocking(false);
                            let _ = socket.set_read_timeout(Some(Duration::from_secs(20)));
                            script(Conn::new(socket));
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        ScriptedServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, app_and_stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{app_and_stream}", self.port)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One client connection, seen from the server.
pub struct Conn {
    pub socket: TcpStream,
    input: BytesMut,
    reader: ChunkReader,
    writer: ChunkWriter,
}

impl Conn {
    fn new(socket: TcpStream) -> Conn {
        Conn {
            socket,
            input: BytesMut::new(),
            reader: ChunkReader::new(),
            writer: ChunkWriter::new(),
        }
    }

    /// Reads exactly `n` bytes; `None` if the client went away.
    pub fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0; n];
        self.socket.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    pub fn write(&mut self, bytes: &[u8]) -> bool {
        self.socket.write_all(bytes).is_ok()
    }

    /// The simple handshake: S2 echoes C1. `None` if the client went away.
    pub fn handshake(&mut self) -> Option<()> {
        let c0c1 = self.read_exact(1 + HANDSHAKE_SIZE)?;
        let mut reply = vec![3u8];
        reply.extend_from_slice(&[0x5A; HANDSHAKE_SIZE]);
        reply.extend_from_slice(&c0c1[1..]);
        self.write(&reply).then_some(())?;
        self.read_exact(HANDSHAKE_SIZE)?;
        Some(())
    }

    /// The next message from the client (following its Set Chunk Size); `None` when it is gone.
    pub fn read_message(&mut self) -> Option<Message> {
        loop {
            if let Some(raw) = self.reader.read(&mut self.input).ok()? {
                let message = Message::parse(raw).ok()?;
                if let Message::SetChunkSize(size) = message {
                    self.reader.set_chunk_size(size).ok()?;
                }
                return Some(message);
            }
            let mut buf = [0u8; 65536];
            let n = self.socket.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            self.input.extend_from_slice(&buf[..n]);
        }
    }

    /// Skips messages until a command named `name`: returns its transaction id and arguments.
    pub fn expect_command(&mut self, name: &str) -> Option<(f64, Vec<Amf0Value>)> {
        loop {
            if let Message::Command {
                name: got,
                transaction_id,
                args,
                ..
            } = self.read_message()?
                && got == name
            {
                return Some((transaction_id, args));
            }
        }
    }

    pub fn send(&mut self, csid: u32, message: &Message, stream_id: u32) -> bool {
        let raw = message.to_raw(0, stream_id);
        self.send_raw(csid, &raw)
    }

    pub fn send_raw(&mut self, csid: u32, raw: &RawMessage) -> bool {
        let mut out = BytesMut::new();
        self.writer.write(csid, raw, &mut out);
        self.write(&out)
    }

    pub fn command(&mut self, name: &str, txn: f64, stream_id: u32, args: Vec<Amf0Value>) -> bool {
        let message = Message::Command {
            stream_id,
            name: name.into(),
            transaction_id: txn,
            command_object: Amf0Value::Null,
            args,
        };
        self.send(3, &message, stream_id)
    }

    pub fn status(&mut self, stream_id: u32, level: &str, code: &str) -> bool {
        self.command("onStatus", 0.0, stream_id, vec![info(level, code)])
    }

    /// Handshake and a successful connect; returns false if anything failed.
    pub fn accept_connect(&mut self) -> bool {
        self.handshake().is_some()
            && self.expect_command("connect").is_some_and(|(txn, _)| {
                self.command(
                    "_result",
                    txn,
                    0,
                    vec![info("status", "NetConnection.Connect.Success")],
                )
            })
    }

    /// After connect: answers createStream with stream id 1.
    pub fn accept_create_stream(&mut self) -> bool {
        self.expect_command("createStream")
            .is_some_and(|(txn, _)| self.command("_result", txn, 0, vec![Amf0Value::Number(1.0)]))
    }

    /// The whole publish setup, up to NetStream.Publish.Start.
    pub fn accept_publish(&mut self) -> bool {
        self.accept_connect()
            && self.accept_create_stream()
            && self.expect_command("publish").is_some()
            && self.status(1, "status", "NetStream.Publish.Start")
    }

    /// Reads and drops everything until the client goes away.
    pub fn drain(&mut self) {
        let mut buf = [0u8; 65536];
        while matches!(self.socket.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Keeps the socket open without reading, for `duration`.
    pub fn stall(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

pub fn info(level: &str, code: &str) -> Amf0Value {
    Amf0Value::Object(vec![
        ("level".into(), Amf0Value::String(level.into())),
        ("code".into(), Amf0Value::String(code.into())),
        (
            "description".into(),
            Amf0Value::String(format!("scripted {code}")),
        ),
    ])
}
