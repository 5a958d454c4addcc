//! A bare RTMP client over a blocking `TcpStream`, built from the plugin's protocol parts but not
//! its session: each test sends exactly the commands it wants (seek, pause, getStreamLength, ...)
//! and sees every message the server sends, with the time it arrived. Used to check what real
//! servers do, independently of the elements.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gstrtmp::protocol::amf0::Amf0Value;
use gstrtmp::protocol::chunk::{ChunkReader, ChunkWriter, RawMessage};
use gstrtmp::protocol::handshake::{ClientHandshake, HandshakeMode, HandshakeProgress};
use gstrtmp::protocol::message::{Message, UserControlEvent, csid, type_id};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A message from the server and when it was taken off the socket.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: RawMessage,
    pub at: Instant,
}

impl Received {
    pub fn is_media(&self) -> bool {
        matches!(self.raw.type_id, type_id::AUDIO | type_id::VIDEO)
    }

    pub fn message(&self) -> Message {
        Message::parse(self.raw.clone()).expect("server message parses")
    }

    /// The command or data message's name (its first AMF0 string).
    pub fn name(&self) -> Option<String> {
        match self.message() {
            Message::Command { name, .. } => Some(name),
            Message::Data { values, .. } => {
                values.first().and_then(|v| v.as_str().map(str::to_owned))
            }
            _ => None,
        }
    }

    /// The `code` of an onStatus / onPlayStatus.
    pub fn status_code(&self) -> Option<String> {
        let values = match self.message() {
            Message::Command { args, .. } => args,
            Message::Data { values, .. } => values,
            _ => return None,
        };
        values
            .iter()
            .find_map(|v| v.get("code").and_then(Amf0Value::as_str).map(str::to_owned))
    }
}

pub struct RawClient {
    socket: TcpStream,
    input: BytesMut,
    reader: ChunkReader,
    writer: ChunkWriter,
    /// Bytes received after the handshake, for acknowledgements.
    bytes_in: u64,
    acked: u64,
    ack_window: u32,
    next_txn: f64,
    pub app: String,
    /// Every message received so far (media included), in order.
    pub log: Vec<Received>,
}

impl RawClient {
    /// Connects to 127.0.0.1:`port`, does the simple handshake and `connect`s to `app`, waiting
    /// for its `_result`.
    pub fn connect(port: u16, app: &str) -> RawClient {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
        socket.set_nodelay(true).ok();
        socket.set_write_timeout(Some(IO_TIMEOUT)).ok();
        socket.set_read_timeout(Some(IO_TIMEOUT)).ok();
        let mut handshake = ClientHandshake::new(HandshakeMode::Simple, 0, &[0x42; 1528]);
        socket.write_all(&handshake.c0c1()).expect("send C0 C1");
        let mut input = BytesMut::new();
        loop {
            let mut buf = [0u8; 8192];
            let n = socket.read(&mut buf).expect("read S0 S1 S2");
            assert!(n > 0, "server closed during the handshake");
            let mut fresh = BytesMut::from(&buf[..n]);
            match handshake.feed(&mut fresh).expect("handshake") {
                HandshakeProgress::NeedMore => {}
                HandshakeProgress::Done(c2) => {
                    socket.write_all(&c2).expect("send C2");
                    input.extend_from_slice(&fresh);
                    break;
                }
            }
        }
        let mut client = RawClient {
            socket,
            input,
            reader: ChunkReader::new(),
            writer: ChunkWriter::new(),
            bytes_in: 0,
            acked: 0,
            ack_window: u32::MAX,
            next_txn: 1.0,
            app: app.to_owned(),
            log: Vec::new(),
        };
        let tc_url = format!("rtmp://127.0.0.1:{port}/{app}");
        let object = Amf0Value::Object(vec![
            ("app".into(), Amf0Value::String(app.into())),
            ("flashVer".into(), Amf0Value::String("LNX 9,0,124,2".into())),
            ("tcUrl".into(), Amf0Value::String(tc_url)),
            ("fpad".into(), Amf0Value::Boolean(false)),
            ("capabilities".into(), Amf0Value::Number(15.0)),
            ("audioCodecs".into(), Amf0Value::Number(4071.0)),
            ("videoCodecs".into(), Amf0Value::Number(252.0)),
            ("videoFunction".into(), Amf0Value::Number(1.0)),
        ]);
        let txn = client.command_with_object(0, "connect", object, vec![]);
        client.wait_result(txn, Duration::from_secs(5));
        client
    }

    /// Sends a command on `stream_id` (chunk stream 3, or 8 for stream commands as FFmpeg does)
    /// with a Null command object; returns the transaction id used (`txn`, or a fresh one if None).
    pub fn command(
        &mut self,
        stream_id: u32,
        name: &str,
        txn: Option<f64>,
        args: Vec<Amf0Value>,
    ) -> f64 {
        let txn = txn.unwrap_or_else(|| self.fresh_txn());
        self.send_command(stream_id, name, txn, Amf0Value::Null, args);
        txn
    }

    fn command_with_object(
        &mut self,
        stream_id: u32,
        name: &str,
        object: Amf0Value,
        args: Vec<Amf0Value>,
    ) -> f64 {
        let txn = self.fresh_txn();
        self.send_command(stream_id, name, txn, object, args);
        txn
    }

    fn fresh_txn(&mut self) -> f64 {
        let txn = self.next_txn;
        self.next_txn += 1.0;
        txn
    }

    fn send_command(
        &mut self,
        stream_id: u32,
        name: &str,
        txn: f64,
        object: Amf0Value,
        args: Vec<Amf0Value>,
    ) {
        let message = Message::Command {
            stream_id,
            name: name.into(),
            transaction_id: txn,
            command_object: object,
            args,
        };
        let chunk_stream = if stream_id == 0 { csid::COMMAND } else { 8 };
        self.send(chunk_stream, &message, stream_id);
    }

    pub fn send(&mut self, chunk_stream: u32, message: &Message, stream_id: u32) {
        let raw = message.to_raw(0, stream_id);
        let mut out = BytesMut::new();
        self.writer.write(chunk_stream, &raw, &mut out);
        self.socket.write_all(&out).expect("send to the server");
    }

    /// Sends a command with no answer expected (transaction 0), reporting a failed write
    /// instead of panicking.
    pub fn try_notify(
        &mut self,
        stream_id: u32,
        name: &str,
        args: Vec<Amf0Value>,
    ) -> std::io::Result<()> {
        let message = Message::Command {
            stream_id,
            name: name.into(),
            transaction_id: 0.0,
            command_object: Amf0Value::Null,
            args,
        };
        let raw = message.to_raw(0, stream_id);
        let mut out = BytesMut::new();
        self.writer.write(csid::COMMAND, &raw, &mut out);
        self.socket.write_all(&out)
    }

    /// Reads until the server closes its side (`Ok`), the connection is reset or `timeout`
    /// passes (`Err`); what arrives meanwhile is thrown away.
    pub fn read_to_close(&mut self, timeout: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            match self.socket.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(e),
            }
        }
        Err(std::io::ErrorKind::TimedOut.into())
    }

    /// createStream; returns the stream id from its `_result`.
    pub fn create_stream(&mut self) -> u32 {
        let txn = self.command(0, "createStream", None, vec![]);
        let result = self.wait_result(txn, Duration::from_secs(5));
        match result.message() {
            Message::Command { args, .. } => {
                args.iter()
                    .find_map(Amf0Value::as_number)
                    .expect("createStream _result has a stream id") as u32
            }
            other => panic!("createStream answered with {other:?}"),
        }
    }

    /// play(`name`, `start`) on `stream_id` followed by SetBufferLength, as FFmpeg and our
    /// session send them.
    pub fn play(&mut self, stream_id: u32, name: &str, start: f64, buffer_ms: u32) {
        self.command(
            stream_id,
            "play",
            Some(0.0),
            vec![Amf0Value::String(name.into()), Amf0Value::Number(start)],
        );
        self.set_buffer_length(stream_id, buffer_ms);
    }

    pub fn set_buffer_length(&mut self, stream_id: u32, buffer_ms: u32) {
        let event = UserControlEvent::SetBufferLength {
            stream_id,
            buffer_ms,
        };
        self.send(csid::PROTOCOL_CONTROL, &Message::UserControl(event), 0);
    }

    /// `seek` (transaction 0, Null, position in ms) on `stream_id`.
    pub fn seek(&mut self, stream_id: u32, ms: f64) {
        self.command(stream_id, "seek", Some(0.0), vec![Amf0Value::Number(ms)]);
    }

    /// `pause` (transaction 0, Null, pause flag, position in ms) on `stream_id`.
    pub fn pause(&mut self, stream_id: u32, paused: bool, ms: f64) {
        self.command(
            stream_id,
            "pause",
            Some(0.0),
            vec![Amf0Value::Boolean(paused), Amf0Value::Number(ms)],
        );
    }

    /// The next message, or `None` if none came within `timeout` or the server closed.
    /// Handles Set Chunk Size and acknowledgements itself (the message is still returned).
    pub fn recv(&mut self, timeout: Duration) -> Option<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(raw) = self.reader.read(&mut self.input).expect("chunk stream") {
                let received = Received {
                    raw,
                    at: Instant::now(),
                };
                match received.message() {
                    Message::SetChunkSize(size) => {
                        self.reader.set_chunk_size(size).expect("chunk size");
                    }
                    Message::WindowAckSize(size) => self.ack_window = size.max(1),
                    _ => {}
                }
                self.log.push(received.clone());
                return Some(received);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            self.socket.set_read_timeout(Some(left)).ok();
            let mut buf = [0u8; 65536];
            let n = match self.socket.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None;
                }
                Err(e) => panic!("read from the server: {e}"),
            };
            self.input.extend_from_slice(&buf[..n]);
            self.bytes_in += n as u64;
            if self.bytes_in - self.acked >= u64::from(self.ack_window) {
                self.acked = self.bytes_in;
                let ack = Message::Acknowledgement(self.bytes_in as u32);
                self.send(csid::PROTOCOL_CONTROL, &ack, 0);
            }
        }
    }

    /// Everything that arrives within `duration`.
    pub fn recv_for(&mut self, duration: Duration) -> Vec<Received> {
        let deadline = Instant::now() + duration;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv(left) {
                Some(m) => out.push(m),
                None => break,
            }
        }
        out
    }

    /// Messages up to and including the first that `stop` accepts, or all that came within
    /// `timeout` if none did.
    pub fn recv_until(
        &mut self,
        timeout: Duration,
        mut stop: impl FnMut(&Received) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Some(m) = self.recv(left) else { break };
            let done = stop(&m);
            out.push(m);
            if done {
                break;
            }
        }
        out
    }

    /// Waits for `_result`/`_error` of transaction `txn`.
    pub fn wait_result(&mut self, txn: f64, timeout: Duration) -> Received {
        let is_answer = |m: &Received| {
            matches!(m.message(), Message::Command { name, transaction_id, .. }
                if (name == "_result" || name == "_error") && transaction_id == txn)
        };
        let got = self.recv_until(timeout, is_answer);
        match got.last() {
            Some(m) if is_answer(m) => m.clone(),
            _ => panic!("no _result for transaction {txn} within {timeout:?}; got {got:?}"),
        }
    }
}
