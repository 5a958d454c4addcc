//! A client made of bare protocol parts, for sending the server exactly the bytes a test wants
//! and reading back exactly what it answered.

use std::collections::VecDeque;

use bytes::BytesMut;

use super::concat;
use crate::protocol::amf0::Amf0Value;
use crate::protocol::chunk::{ChunkReader, ChunkWriter, RawMessage};
use crate::protocol::handshake::HANDSHAKE_SIZE;
use crate::protocol::message::Message;
use crate::protocol::session::{ServerConfig, ServerSession};

/// C0 + a plain C1 (zero version: the simple handshake) + C2.
pub fn simple_handshake() -> Vec<u8> {
    let mut bytes = vec![3];
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend((0..HANDSHAKE_SIZE - 8).map(|i| i as u8));
    bytes.extend_from_slice(&[0x5a; HANDSHAKE_SIZE]);
    bytes
}

/// Reads messages out of a byte stream, following its Set Chunk Size.
pub struct Decoder {
    reader: ChunkReader,
    buffer: BytesMut,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            reader: ChunkReader::new(),
            buffer: BytesMut::new(),
        }
    }

    pub fn raw(&mut self, bytes: &[u8]) -> Vec<RawMessage> {
        self.buffer.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(raw) = self.reader.read(&mut self.buffer).unwrap() {
            if let Ok(Message::SetChunkSize(size)) = Message::parse(raw.clone()) {
                self.reader.set_chunk_size(size).unwrap();
            }
            out.push(raw);
        }
        out
    }

    pub fn messages(&mut self, bytes: &[u8]) -> Vec<Message> {
        self.raw(bytes)
            .into_iter()
            .map(|raw| Message::parse(raw).unwrap())
            .collect()
    }
}

/// A server session after the simple handshake, and a raw client end.
pub struct RawClient {
    pub server: ServerSession,
    writer: ChunkWriter,
    from_server: Decoder,
}

impl RawClient {
    pub fn new(config: ServerConfig) -> Self {
        let mut server = ServerSession::new(config, 0, &[0x22; 3032]);
        server.handle_input(&simple_handshake()).unwrap();
        let mut client = RawClient {
            server,
            writer: ChunkWriter::new(),
            from_server: Decoder::new(),
        };
        // S0+S1+S2.
        let answer = client.take_bytes();
        assert_eq!(answer.len(), 1 + 2 * HANDSHAKE_SIZE);
        client
    }

    pub fn take_bytes(&mut self) -> Vec<u8> {
        let mut parts = VecDeque::new();
        self.server.take_output(&mut parts);
        concat(&parts)
    }

    /// What the server sent since the last call, decoded.
    pub fn answers(&mut self) -> Vec<Message> {
        let bytes = self.take_bytes();
        self.from_server.messages(&bytes)
    }

    pub fn encode(&mut self, chunk_stream: u32, raw: &RawMessage) -> Vec<u8> {
        let mut out = BytesMut::new();
        self.writer.write(chunk_stream, raw, &mut out);
        out.to_vec()
    }

    /// Sends `message` on chunk stream 3 (commands) or as given; returns the server's verdict.
    pub fn send(&mut self, message: &Message, stream_id: u32) -> Result<(), super::ServerError> {
        let raw = message.to_raw(0, stream_id);
        let bytes = self.encode(3, &raw);
        self.server.handle_input(&bytes)
    }

    pub fn send_raw(
        &mut self,
        chunk_stream: u32,
        raw: &RawMessage,
    ) -> Result<(), super::ServerError> {
        let bytes = self.encode(chunk_stream, raw);
        self.server.handle_input(&bytes)
    }

    pub fn command(
        &mut self,
        stream_id: u32,
        name: &str,
        transaction_id: f64,
        args: Vec<Amf0Value>,
    ) -> Result<(), super::ServerError> {
        let message = command(stream_id, name, transaction_id, Amf0Value::Null, args);
        self.send(&message, stream_id)
    }

    /// Connects to `live` and accepts it; the answers are taken.
    pub fn connected(config: ServerConfig) -> Self {
        let mut client = RawClient::new(config);
        client.send(&connect_command(0.0), 0).unwrap();
        assert!(matches!(
            client.server.poll_event(),
            Some(super::ServerEvent::ConnectRequest { .. })
        ));
        client.server.accept_connect().unwrap();
        client.answers();
        client
    }

    /// createStream; returns the stream id given.
    pub fn create_stream(&mut self, transaction_id: f64) -> Option<f64> {
        self.command(0, "createStream", transaction_id, vec![])
            .unwrap();
        match self.answers().as_slice() {
            [Message::Command { name, args, .. }] if name == "_result" => {
                args.first().and_then(Amf0Value::as_number)
            }
            _ => None,
        }
    }
}

pub fn command(
    stream_id: u32,
    name: &str,
    transaction_id: f64,
    command_object: Amf0Value,
    args: Vec<Amf0Value>,
) -> Message {
    Message::Command {
        stream_id,
        name: name.into(),
        transaction_id,
        command_object,
        args,
    }
}

pub fn string(s: &str) -> Amf0Value {
    Amf0Value::String(s.into())
}

/// connect as FFmpeg sends it, with `objectEncoding` when not 0.
pub fn connect_command(object_encoding: f64) -> Message {
    let mut object = vec![
        ("app".to_owned(), string("live")),
        ("type".to_owned(), string("nonprivate")),
        (
            "flashVer".to_owned(),
            string("FMLE/3.0 (compatible; Lavf59.27.100)"),
        ),
        ("tcUrl".to_owned(), string("rtmp://127.0.0.1:1935/live")),
    ];
    if object_encoding != 0.0 {
        object.push((
            "objectEncoding".to_owned(),
            Amf0Value::Number(object_encoding),
        ));
    }
    command(0, "connect", 1.0, Amf0Value::Object(object), vec![])
}

/// A command's name and, for status answers, the code of its information object.
pub fn summary(message: &Message) -> String {
    match message {
        Message::Command { name, args, .. } => {
            match crate::protocol::command::Status::from_args(args) {
                Some(status) if !status.code.is_empty() => format!("{name} {}", status.code),
                _ => name.clone(),
            }
        }
        Message::Data { values, .. } => values
            .first()
            .and_then(Amf0Value::as_str)
            .unwrap_or("data")
            .to_owned(),
        other => format!("{other:?}"),
    }
}

/// The client's part of a capture: its messages after C0, C1 and C2.
pub fn capture_messages(capture: &[u8]) -> Vec<Message> {
    Decoder::new().messages(&capture[1 + 2 * HANDSHAKE_SIZE..])
}
