//! The server session's configuration, events and errors: what a caller of
//! [`ServerSession`](super::ServerSession) hands in and gets back.

use bytes::Bytes;

use crate::protocol::amf0::Amf0Value;
use crate::protocol::chunk::ChunkError;
use crate::protocol::handshake::HandshakeError;
use crate::protocol::message::MessageError;
use crate::protocol::session::{DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_WINDOW_ACK_SIZE, MediaKind};

/// Largest message a client may send before its connect is accepted: a connect command is a few
/// hundred bytes, so a client announcing megabytes is refused at the chunk header.
pub const DEFAULT_MAX_SETUP_MESSAGE_SIZE: u32 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Our outgoing chunk size, announced when connect is accepted.
    pub chunk_size: u32,
    /// The Window Acknowledgement Size we send.
    pub window_ack_size: u32,
    /// The Set Peer Bandwidth we send (limit type dynamic).
    pub peer_bandwidth: u32,
    /// Largest client message once connected.
    pub max_message_size: u32,
    /// Largest client message before connect is accepted.
    pub max_setup_message_size: u32,
    /// createStream calls answered at most; more get `_error`.
    pub max_streams: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk_size: 4096,
            window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
            peer_bandwidth: DEFAULT_WINDOW_ACK_SIZE,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_setup_message_size: DEFAULT_MAX_SETUP_MESSAGE_SIZE,
            max_streams: 8,
        }
    }
}

/// Where the server session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Handshaking,
    /// Handshake done, no connect yet.
    AwaitingConnect,
    /// connect received and reported; the application has not decided yet.
    ConnectRequested,
    Connected,
    Closed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// The client asks to connect to `app`; answer with `accept_connect` or `reject_connect`.
    ConnectRequest {
        app: String,
        tc_url: Option<String>,
        flash_ver: Option<String>,
        object: Amf0Value,
    },
    /// The client asks to publish `name` (with its `?query`) on `stream_id`.
    PublishRequest {
        stream_id: u32,
        name: String,
        publish_type: String,
    },
    /// The client asks to play `name` from `start`.
    PlayRequest {
        stream_id: u32,
        name: String,
        start: f64,
    },
    /// Audio or video from a publishing stream (requested or accepted).
    Media {
        stream_id: u32,
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    },
    /// A data message from a publishing stream, e.g. `@setDataFrame onMetaData`.
    Data {
        stream_id: u32,
        timestamp: u32,
        values: Vec<Amf0Value>,
    },
    /// FCUnpublish, closeStream or deleteStream of a publishing stream, reported once.
    PublishEnded { stream_id: u32 },
    /// closeStream or deleteStream of a playing stream.
    PlayEnded { stream_id: u32 },
    Pause {
        stream_id: u32,
        pause: bool,
        ms: f64,
    },
    /// A data or command message of type `type_id` that did not decode was skipped.
    Skipped { type_id: u8, reason: String },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ServerError {
    #[error("handshake with client failed: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("invalid chunk stream from client: {0}")]
    Chunk(#[from] ChunkError),
    #[error("invalid message from client: {0}")]
    Message(#[from] MessageError),
    #[error("client sent {0} before connect")]
    BeforeConnect(String),
    #[error("client sent a second connect")]
    DuplicateConnect,
    /// The application decided on something the client did not ask for (or decided twice).
    #[error("no {request} request from client pending on stream {stream_id}")]
    NoRequest {
        request: &'static str,
        stream_id: u32,
    },
    #[error("stream {0} of the client is not playing")]
    NotPlaying(u32),
    #[error("a message of {0} bytes for the client does not fit in RTMP's 24-bit message length")]
    MessageTooLarge(usize),
    #[error("session with client is closed")]
    Closed,
}
