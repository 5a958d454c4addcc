//! The session's configuration, events, errors and counters: what a caller of
//! [`ClientSession`](super::ClientSession) hands in and gets back.

use crate::protocol::amf0::Amf0Value;
use crate::protocol::auth::AuthState;
use crate::protocol::chunk::ChunkError;
use crate::protocol::command::Status;
use crate::protocol::handshake::{HandshakeError, HandshakeMode};
use crate::protocol::message::MessageError;
use crate::protocol::redact::redact_query;
use bytes::Bytes;

/// Largest message we accept from the peer by default: far above any real video frame, far below
/// what 64 chunk streams of 16 MiB messages would let a hostile server make us hold.
pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = 8 * 1024 * 1024;

/// The window we ask the peer to acknowledge by, as FFmpeg and rtmp2 do.
pub const DEFAULT_WINDOW_ACK_SIZE: u32 = 2_500_000;

#[derive(Debug, Clone, PartialEq)]
pub enum SessionMode {
    /// Publish `stream` with publishing type `publish_type` ("live", "record" or "append").
    Publish {
        stream: String,
        publish_type: String,
    },
    /// Play `stream` from `start` (see [`command::play`]), asking the server to buffer `buffer_ms`.
    Play {
        stream: String,
        start: f64,
        buffer_ms: u32,
    },
}

#[derive(Clone, PartialEq)]
pub struct ClientConfig {
    pub app: String,
    pub tc_url: String,
    pub flash_ver: Option<String>,
    pub swf_url: Option<String>,
    pub page_url: Option<String>,
    pub extra_connect_args: Vec<Amf0Value>,
    pub mode: SessionMode,
    /// Credentials for Adobe/Limelight authentication, and where that exchange stands.
    pub user: Option<String>,
    pub password: Option<String>,
    pub auth: AuthState,
    /// Makes the client challenge of an authentication response.
    pub auth_random: u32,
    /// Key for answering a `secureToken` challenge in the connect answer.
    pub secure_token: Option<String>,
    pub handshake: HandshakeMode,
    /// Outgoing chunk size, announced right after the connect command.
    pub chunk_size: u32,
    pub window_ack_size: u32,
    /// Largest message the peer may send us.
    pub max_message_size: u32,
    /// Playing: ask for the recording's length (`getStreamLength`) before `play`.
    pub query_stream_length: bool,
    /// Announce our Enhanced RTMP codecs and capabilities in connect (see
    /// [`enhanced`](super::enhanced)); legacy servers ignore the extra fields.
    pub enhanced_connect: bool,
    /// Playing: stop after createStream until [`ClientSession::play_deferred`] names the
    /// stream (a connection kept ready to switch renditions without the setup round trips).
    ///
    /// [`ClientSession::play_deferred`]: super::ClientSession::play_deferred
    pub defer_play: bool,
}

/// Secrets (password, secure token, authentication response, extra connect arguments, query
/// values) stay out of debug output.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Stream keys and tokens ride in query strings.
        let publish = matches!(self.mode, SessionMode::Publish { .. });
        f.debug_struct("ClientConfig")
            .field("app", &redact_query(&self.app))
            .field("tc_url", &redact_query(&self.tc_url))
            .field("mode", &if publish { "publish" } else { "play" })
            .field("stream", &redact_query(self.stream_name()))
            .field("user", &self.user)
            .field("auth", &self.auth.mode_name())
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    pub fn new(app: &str, tc_url: &str, mode: SessionMode) -> Self {
        ClientConfig {
            app: app.to_owned(),
            tc_url: tc_url.to_owned(),
            flash_ver: None,
            swf_url: None,
            page_url: None,
            extra_connect_args: Vec::new(),
            mode,
            user: None,
            password: None,
            auth: AuthState::default(),
            auth_random: 0,
            secure_token: None,
            handshake: HandshakeMode::Simple,
            chunk_size: 4096,
            window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            query_stream_length: false,
            enhanced_connect: true,
            defer_play: false,
        }
    }

    pub(super) fn stream_name(&self) -> &str {
        match &self.mode {
            SessionMode::Publish { stream, .. } | SessionMode::Play { stream, .. } => stream,
        }
    }
}

/// Which commands to send when a publishing session is closed (rtmp2's `stop-commands` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopCommands {
    pub fc_unpublish: bool,
    pub close_stream: bool,
    pub delete_stream: bool,
}

impl Default for StopCommands {
    fn default() -> Self {
        StopCommands {
            fc_unpublish: true,
            close_stream: false,
            delete_stream: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// The server accepted `connect`; its `_result` information object.
    Connected(Amf0Value),
    /// `NetStream.Publish.Start`: media may be sent from now on.
    PublishStarted,
    /// `NetStream.Play.Start` (or `Play.Reset` when no Start follows).
    PlayStarted,
    /// Any `onStatus` that is not an error handled by the session itself, e.g.
    /// `NetStream.Play.UnpublishNotify` or `NetStream.Play.PublishNotify`.
    Status(Status),
    /// Audio or video received while playing; `payload` is the FLV tag body.
    Media {
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    },
    /// A data message received while playing (onMetaData, |RtmpSampleAccess, onTextData...).
    Data {
        timestamp: u32,
        values: Vec<Amf0Value>,
    },
    StreamBegin,
    /// The server says the stream ended (StreamEOF user control event).
    StreamEof,
    StreamDry,
    StreamIsRecorded,
    /// The server's answer to `getStreamLength`: the recording lasts this many seconds.
    StreamLength(f64),
    /// The server sent the `close` command or `NetConnection.Connect.Closed`.
    ServerClosed,
    /// Enhanced RTMP's `NetConnection.Connect.ReconnectRequest`: connect again, to `tc_url` when
    /// given, without interrupting the stream.
    ReconnectRequest {
        tc_url: Option<String>,
    },
    /// An event of a second stream of this connection (see `ClientSession::play_another`).
    OnStream {
        stream_id: u32,
        event: Box<SessionEvent>,
    },
    /// The answer to `ClientSession::play_another`: the new stream's id (play was sent on it),
    /// or why the server cannot play a second stream.
    ExtraStream(Result<u32, String>),
    /// The second stream `u32` is the played one from here on (the caller asked to cut over):
    /// later plain events are its own.
    Promoted(u32),
    /// A data or command message of type `type_id` that did not decode was skipped (`reason`
    /// says why); the session goes on.
    Skipped {
        type_id: u8,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SessionError {
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("invalid chunk stream from server: {0}")]
    Chunk(#[from] ChunkError),
    #[error("invalid message from server: {0}")]
    Message(#[from] MessageError),
    #[error("server refused the connection: {code} {description}")]
    ConnectRejected { code: String, description: String },
    /// Authentication goes on over a new connection with these parameters.
    #[error("the server asks for authentication ({})", .0.mode_name())]
    AuthRetry(AuthState),
    #[error("server refused to create a stream: {0}")]
    CreateStreamFailed(String),
    #[error("stream is already being published (NetStream.Publish.BadName): {0}")]
    PublishBadName(String),
    #[error("publishing denied (NetStream.Publish.Denied): {0}")]
    PublishDenied(String),
    #[error("server refused access: {code} {description}")]
    NotAuthorized { code: String, description: String },
    #[error("stream not found (NetStream.Play.StreamNotFound): {0}")]
    StreamNotFound(String),
    #[error("server rejected the stream: {code} {description}")]
    StreamFailed { code: String, description: String },
    #[error("media sent before publishing started")]
    NotPublishing,
    #[error("seek or pause before playing started")]
    NotPlaying,
    #[error("a message of {0} bytes does not fit in RTMP's 24-bit message length")]
    MessageTooLarge(usize),
}

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Handshaking,
    Connecting,
    CreatingStream,
    /// publish or play sent, waiting for onStatus.
    StartingStream,
    Publishing,
    Playing,
    Closed,
}

/// Counters with rtmp2's `GstRtmpConnectionStats` meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    pub in_chunk_size: u32,
    pub out_chunk_size: u32,
    pub in_window_ack_size: u32,
    pub out_window_ack_size: u32,
    pub in_bytes_total: u64,
    pub out_bytes_total: u64,
    pub in_bytes_acked: u64,
    pub out_bytes_acked: u64,
}
