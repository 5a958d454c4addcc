//! The client session: one RTMP connection from handshake to close, as a state machine.
//!
//! The caller owns the socket. It sends whatever [`ClientSession::take_output`] hands out, appends
//! what it reads to [`ClientSession::recv_buffer`] and calls [`ClientSession::process`], then drains
//! [`ClientSession::poll_event`]. Publishing goes handshake -> connect -> releaseStream/FCPublish ->
//! createStream -> publish -> `NetStream.Publish.Start`; playing goes handshake -> connect ->
//! createStream -> play + SetBufferLength -> `NetStream.Play.Start`.
//!
//! The session answers pings, acknowledges received bytes as the peer's window fills, follows the
//! peer's chunk size and splits aggregate messages (through the shared core), so the caller
//! only sees what matters to it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::core::{self, MessageStream};
use super::enhanced::{self, PeerCodecs};
use super::types::*;
use crate::protocol::amf0::Amf0Value;
use crate::protocol::auth::{self, AuthStep};
use crate::protocol::chunk::{MAX_MESSAGE_LENGTH, MessageInfo, Payload, RawMessage};
use crate::protocol::command::{self, ConnectParams, ConnectPurpose, Status};
use crate::protocol::handshake::{ClientHandshake, HandshakeProgress};
use crate::protocol::message::{
    Message, MessageError, UserControlEvent, command_header, csid, split_aggregate, type_id,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Connect,
    CreateStream,
    StreamLength,
    /// createStream for a second stream (a rendition to switch to, see `streams.rs`).
    ExtraStream,
    /// releaseStream/FCPublish/FCUnpublish/deleteStream: answers (if any) need no action.
    Ignored,
}

/// Where the connection is, below its streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshaking,
    Connecting,
    CreatingStream,
    /// Our stream exists: what it does is in `streams`.
    Streaming,
    Closed,
}

/// What one of our message streams does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamPhase {
    /// publish or play sent, waiting for onStatus.
    Starting,
    Publishing,
    Playing,
}

pub struct ClientSession {
    config: ClientConfig,
    phase: Phase,
    /// Per message stream (stream id -> what it does). The configuration asks for one stream,
    /// `stream_id`; the map is what lets a connection carry more later.
    streams: BTreeMap<u32, StreamPhase>,
    handshake: Option<ClientHandshake>,
    core: MessageStream,
    events: VecDeque<SessionEvent>,
    next_transaction_id: f64,
    pending: HashMap<u64, Pending>,
    stream_id: u32,
    /// What the server's connect answer said about Enhanced RTMP (`None`: nothing, or no
    /// answer yet).
    peer_codecs: Option<PeerCodecs>,
    /// Second streams on this connection and bandwidth checks (`streams.rs`).
    extra: streams::Extra,
}

impl ClientSession {
    /// Starts a session; C0+C1 are queued for sending at once. `time` and `random` feed the handshake.
    pub fn new(config: ClientConfig, time: u32, random: &[u8]) -> Self {
        let handshake = ClientHandshake::new(config.handshake, time, random);
        let mut session = ClientSession {
            phase: Phase::Handshaking,
            streams: BTreeMap::new(),
            core: MessageStream::new(config.window_ack_size, config.max_message_size),
            events: VecDeque::new(),
            next_transaction_id: 1.0,
            pending: HashMap::new(),
            stream_id: 0,
            peer_codecs: None,
            extra: streams::Extra::default(),
            config,
            handshake: None,
        };
        let c0c1 = handshake.c0c1();
        session.core.queue_raw_bytes(c0c1);
        session.handshake = Some(handshake);
        session
    }

    pub fn state(&self) -> SessionState {
        match self.phase {
            Phase::Handshaking => SessionState::Handshaking,
            Phase::Connecting => SessionState::Connecting,
            Phase::CreatingStream => SessionState::CreatingStream,
            Phase::Streaming => match self.streams.get(&self.stream_id) {
                Some(StreamPhase::Publishing) => SessionState::Publishing,
                Some(StreamPhase::Playing) => SessionState::Playing,
                Some(StreamPhase::Starting) | None => SessionState::StartingStream,
            },
            Phase::Closed => SessionState::Closed,
        }
    }

    fn stream_phase(&self, stream_id: u32) -> Option<StreamPhase> {
        match self.phase {
            Phase::Streaming => self.streams.get(&stream_id).copied(),
            _ => None,
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The Enhanced RTMP codecs and capabilities the server's connect answer listed; `None`
    /// before the answer and for a server that lists none (a legacy server).
    pub fn peer_codecs(&self) -> Option<&PeerCodecs> {
        self.peer_codecs.as_ref()
    }

    pub fn stats(&self) -> SessionStats {
        self.core.stats
    }

    /// The stream id the server gave us (0 before createStream answered).
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// Where the caller appends bytes read from the socket before calling [`process`](Self::process).
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        self.core.recv_buffer()
    }

    /// Appends `data` and processes it.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        self.core.recv_buffer().extend_from_slice(data);
        self.process()
    }

    /// Processes everything in the receive buffer. On error the session is unusable.
    pub fn process(&mut self) -> Result<(), SessionError> {
        let result = self.process_inner();
        if result.is_err() {
            self.phase = Phase::Closed;
        }
        result
    }

    fn process_inner(&mut self) -> Result<(), SessionError> {
        if let Some(handshake) = &mut self.handshake {
            let before = self.core.recv_buffer().len();
            let progress = handshake.feed(self.core.recv_buffer())?;
            self.core.count_consumed(before);
            match progress {
                HandshakeProgress::NeedMore => return Ok(()),
                HandshakeProgress::Done(c2) => {
                    self.handshake = None;
                    self.core.queue_raw_bytes(c2);
                    self.send_connect()?;
                }
            }
        }
        loop {
            match self.core.read_message()? {
                Some(raw) => self.handle_raw(raw)?,
                None => return Ok(()),
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Moves every byte slice waiting to be sent, in order, to the end of `dst`.
    pub fn take_output(&mut self, dst: &mut VecDeque<Bytes>) {
        self.core.take_output(dst);
    }

    pub fn has_output(&self) -> bool {
        self.core.has_output()
    }

    /// Sends an FLV audio tag body. Only while publishing. The payload's parts are queued as
    /// they are (see [`Payload`]): nothing is copied.
    pub fn send_audio(
        &mut self,
        timestamp: u32,
        payload: impl Into<Payload>,
    ) -> Result<(), SessionError> {
        let payload = payload.into();
        self.send_stream_message(csid::AUDIO, type_id::AUDIO, timestamp, &payload)
    }

    /// Sends an FLV video tag body. Only while publishing. Nothing is copied, as for audio.
    pub fn send_video(
        &mut self,
        timestamp: u32,
        payload: impl Into<Payload>,
    ) -> Result<(), SessionError> {
        let payload = payload.into();
        self.send_stream_message(csid::VIDEO, type_id::VIDEO, timestamp, &payload)
    }

    /// Sends an AMF0 data message body (e.g. `@setDataFrame onMetaData {...}`). Only while publishing.
    pub fn send_data(
        &mut self,
        timestamp: u32,
        payload: impl Into<Payload>,
    ) -> Result<(), SessionError> {
        let payload = payload.into();
        self.send_stream_message(csid::DATA, type_id::DATA_AMF0, timestamp, &payload)
    }

    /// Moves a played recording to `ms` milliseconds. Media already on its way keeps coming
    /// until the server's `NetStream.Seek.Notify`: the caller drops what arrives before it.
    pub fn seek(&mut self, ms: u32) -> Result<(), SessionError> {
        if self.stream_phase(self.stream_id) != Some(StreamPhase::Playing) {
            return Err(SessionError::NotPlaying);
        }
        self.send_command(&command::seek(self.stream_id, f64::from(ms)))?;
        Ok(())
    }

    /// Pauses (or resumes) a played recording; `ms` is the client's position.
    pub fn pause(&mut self, pause: bool, ms: u32) -> Result<(), SessionError> {
        if self.stream_phase(self.stream_id) != Some(StreamPhase::Playing) {
            return Err(SessionError::NotPlaying);
        }
        self.send_command(&command::pause(self.stream_id, pause, f64::from(ms)))?;
        Ok(())
    }

    /// Changes the outgoing chunk size (sends Set Chunk Size first).
    pub fn set_chunk_size(&mut self, size: u32) {
        self.core.set_chunk_size(size);
    }

    /// Ends the session politely: the stop commands for a publisher, deleteStream for a player.
    /// The caller sends the output and then closes the socket.
    pub fn close(&mut self, stop: StopCommands) {
        let stream = self.config.stream_name().to_owned();
        let publishing = matches!(self.config.mode, SessionMode::Publish { .. });
        if self.phase == Phase::Streaming {
            self.close_extra_streams();
        }
        if self.stream_id != 0 && self.phase != Phase::Closed {
            if publishing && stop.fc_unpublish {
                let txn = self.next_transaction(Pending::Ignored);
                // Sizes as FCPublish and publish, which went out: these cannot be too large.
                let _ = self.send_command(&command::fc_unpublish(txn, &stream));
            }
            if stop.close_stream || !publishing {
                let _ = self.send_command(&command::close_stream(self.stream_id));
            }
            if stop.delete_stream {
                let txn = self.next_transaction(Pending::Ignored);
                let _ = self.send_command(&command::delete_stream(txn, self.stream_id));
            }
        }
        self.phase = Phase::Closed;
    }

    fn send_stream_message(
        &mut self,
        chunk_stream: u32,
        type_id: u8,
        timestamp: u32,
        payload: &Payload,
    ) -> Result<(), SessionError> {
        if self.stream_phase(self.stream_id) != Some(StreamPhase::Publishing) {
            return Err(SessionError::NotPublishing);
        }
        if payload.len() > MAX_MESSAGE_LENGTH as usize {
            return Err(SessionError::MessageTooLarge(payload.len()));
        }
        let info = MessageInfo {
            type_id,
            timestamp,
            stream_id: self.stream_id,
        };
        self.core.write_parts(chunk_stream, info, payload.parts());
        Ok(())
    }

    /// Commands carry the caller's strings (stream name, extra connect arguments), so one can
    /// exceed RTMP's 24-bit message length: an error, where the chunk writer would panic.
    fn send_command(&mut self, message: &Message) -> Result<(), SessionError> {
        self.core
            .send_command(message)
            .map_err(SessionError::MessageTooLarge)
    }

    fn next_transaction(&mut self, pending: Pending) -> f64 {
        let id = self.next_transaction_id;
        self.next_transaction_id += 1.0;
        self.pending.insert(id as u64, pending);
        id
    }

    fn send_connect(&mut self) -> Result<(), SessionError> {
        let purpose = match self.config.mode {
            SessionMode::Publish { .. } => ConnectPurpose::Publish,
            SessionMode::Play { .. } => ConnectPurpose::Play,
        };
        // Authentication parameters ride on the application and tcUrl, as FMS expects them.
        let auth = &self.config.auth.params;
        let params = ConnectParams {
            app: format!("{}{auth}", self.config.app),
            tc_url: format!("{}{auth}", self.config.tc_url),
            flash_ver: self.config.flash_ver.clone(),
            swf_url: self.config.swf_url.clone(),
            page_url: self.config.page_url.clone(),
            purpose,
            extra_args: self.config.extra_connect_args.clone(),
            extra_fields: if self.config.enhanced_connect {
                match purpose {
                    // We encode all of them, follow reconnect requests, and send multitrack.
                    ConnectPurpose::Publish => enhanced::connect_fields(
                        enhanced::CAN_ENCODE,
                        enhanced::CAPS_EX_RECONNECT | enhanced::CAPS_EX_MULTITRACK,
                    ),
                    // rtmpsrc maps all of them, gives each track a pad and applies ModEx
                    // nanosecond offsets.
                    ConnectPurpose::Play => enhanced::connect_fields(
                        enhanced::CAN_DECODE,
                        enhanced::CAPS_EX_MULTITRACK
                            | enhanced::CAPS_EX_MOD_EX
                            | enhanced::CAPS_EX_TIMESTAMP_NANO_OFFSET,
                    ),
                }
            } else {
                Vec::new()
            },
        };
        let txn = self.next_transaction(Pending::Connect);
        self.send_command(&command::connect(txn, &params))?;
        // After the connect request, as some servers expect (rml_rtmp#31).
        self.set_chunk_size(self.config.chunk_size);
        self.phase = Phase::Connecting;
        Ok(())
    }

    fn handle_raw(&mut self, raw: RawMessage) -> Result<(), SessionError> {
        if raw.type_id == type_id::AGGREGATE {
            for part in split_aggregate(&raw)? {
                self.handle_one(part)?;
            }
            return Ok(());
        }
        self.handle_one(raw)
    }

    fn handle_one(&mut self, raw: RawMessage) -> Result<(), SessionError> {
        match core::decode(raw) {
            Ok(message) => match self.core.handle_control(message)? {
                Some(message) => self.handle_message(message),
                None => Ok(()),
            },
            Err((err, Some(raw))) => self.skip_undecodable(&raw, err),
            Err((err, None)) => Err(err.into()),
        }
    }

    /// Servers send odd AMF (unknown markers, stray bytes): such a data or command message is
    /// skipped and reported, unless it answers the connect or createStream the session waits for.
    fn skip_undecodable(
        &mut self,
        raw: &RawMessage,
        err: MessageError,
    ) -> Result<(), SessionError> {
        if let Some((name, txn)) = command_header(raw)
            && (name == "_result" || name == "_error")
            && matches!(
                self.pending.get(&(txn as u64)),
                Some(Pending::Connect | Pending::CreateStream)
            )
        {
            return Err(err.into());
        }
        self.events.push_back(SessionEvent::Skipped {
            type_id: raw.type_id,
            reason: err.to_string(),
        });
        Ok(())
    }

    fn handle_message(&mut self, message: Message) -> Result<(), SessionError> {
        match message {
            Message::UserControl(event) => self.handle_user_control(event),
            Message::Command {
                stream_id,
                name,
                transaction_id,
                command_object,
                args,
            } => self.handle_command(stream_id, &name, transaction_id, command_object, args)?,
            Message::Audio {
                timestamp,
                payload,
                stream_id,
            } => self.route_media(stream_id, MediaKind::Audio, timestamp, payload),
            Message::Video {
                timestamp,
                payload,
                stream_id,
            } => self.route_media(stream_id, MediaKind::Video, timestamp, payload),
            Message::Data {
                timestamp,
                values,
                stream_id,
                ..
            } if self.route(stream_id) != streams::Route::Main => {
                self.route_data(stream_id, timestamp, values)
            }
            Message::Data {
                timestamp, values, ..
            } if matches!(
                self.stream_phase(self.stream_id),
                Some(StreamPhase::Playing | StreamPhase::Starting)
            ) =>
            {
                self.events
                    .push_back(SessionEvent::Data { timestamp, values });
            }
            // Control messages were handled by the core; shared objects are not used.
            _ => {}
        }
        Ok(())
    }

    pub(super) fn deliver_media(&mut self, kind: MediaKind, timestamp: u32, payload: Bytes) {
        // Media can arrive just before Play.Start; it belongs to the stream all the same.
        if matches!(self.config.mode, SessionMode::Play { .. }) && !payload.is_empty() {
            self.events.push_back(SessionEvent::Media {
                kind,
                timestamp,
                payload,
            });
        }
    }

    fn handle_user_control(&mut self, event: UserControlEvent) {
        if self.route_user_control(&event) {
            return;
        }
        let event = match event {
            UserControlEvent::StreamBegin(_) => SessionEvent::StreamBegin,
            UserControlEvent::StreamEof(_) => SessionEvent::StreamEof,
            UserControlEvent::StreamDry(_) => SessionEvent::StreamDry,
            UserControlEvent::StreamIsRecorded(_) => SessionEvent::StreamIsRecorded,
            _ => return,
        };
        self.events.push_back(event);
    }

    fn handle_command(
        &mut self,
        stream_id: u32,
        name: &str,
        transaction_id: f64,
        command_object: Amf0Value,
        args: Vec<Amf0Value>,
    ) -> Result<(), SessionError> {
        match name {
            "_result" | "_error" => {
                let pending = self.pending.remove(&(transaction_id as u64));
                self.handle_answer(name == "_result", pending, command_object, args)
            }
            "onStatus" => {
                let status = Status::from_args(&args).unwrap_or_default();
                if status.code == "NetConnection.Connect.ReconnectRequest" {
                    // Enhanced RTMP: move to another server (or the same tcUrl) at a keyframe.
                    let tc_url = args
                        .iter()
                        .find_map(|a| a.get("tcUrl"))
                        .and_then(Amf0Value::as_str)
                        .map(str::to_owned);
                    self.events
                        .push_back(SessionEvent::ReconnectRequest { tc_url });
                    return Ok(());
                }
                self.handle_status(stream_id, status)
            }
            "close" => {
                self.events.push_back(SessionEvent::ServerClosed);
                Ok(())
            }
            "onBWDone" | "_onbwcheck" | "_onbwdone" => {
                self.answer_bandwidth_check(name, transaction_id)
            }
            // onFCPublish, onFCUnpublish and the like need no answer from a client.
            _ => Ok(()),
        }
    }

    fn handle_answer(
        &mut self,
        success: bool,
        pending: Option<Pending>,
        command_object: Amf0Value,
        args: Vec<Amf0Value>,
    ) -> Result<(), SessionError> {
        match pending {
            Some(Pending::Connect) => {
                let status = Status::from_args(&args);
                if !success || status.as_ref().is_some_and(Status::is_error) {
                    return Err(self.connect_rejected(status.unwrap_or_default()));
                }
                self.peer_codecs = PeerCodecs::from_objects(
                    &std::iter::once(&command_object)
                        .chain(args.first())
                        .collect::<Vec<_>>(),
                );
                let info = args.into_iter().next().unwrap_or(command_object);
                self.answer_secure_token(&info)?;
                self.events.push_back(SessionEvent::Connected(info));
                let stream = self.config.stream_name().to_owned();
                if matches!(self.config.mode, SessionMode::Publish { .. }) {
                    let txn = self.next_transaction(Pending::Ignored);
                    self.send_command(&command::release_stream(txn, &stream))?;
                    let txn = self.next_transaction(Pending::Ignored);
                    self.send_command(&command::fc_publish(txn, &stream))?;
                }
                let txn = self.next_transaction(Pending::CreateStream);
                self.send_command(&command::create_stream(txn))?;
                self.phase = Phase::CreatingStream;
                Ok(())
            }
            Some(Pending::CreateStream) => {
                let stream_id = args.iter().find_map(Amf0Value::as_number);
                match (success, stream_id) {
                    (true, Some(id)) if id >= 0.0 && id <= f64::from(u32::MAX) => {
                        self.stream_id = id as u32;
                        self.start_stream()
                    }
                    _ => {
                        let status = Status::from_args(&args).unwrap_or_default();
                        Err(SessionError::CreateStreamFailed(
                            if status.description.is_empty() {
                                status.code
                            } else {
                                status.description
                            },
                        ))
                    }
                }
            }
            Some(Pending::ExtraStream) => self.extra_stream_created(success, &args),
            Some(Pending::StreamLength) => {
                // nginx-rtmp does not know the command; servers that do answer in seconds.
                let seconds = args.iter().find_map(Amf0Value::as_number);
                if let (true, Some(seconds)) = (success, seconds)
                    && seconds.is_finite()
                    && seconds > 0.0
                {
                    self.events.push_back(SessionEvent::StreamLength(seconds));
                }
                Ok(())
            }
            Some(Pending::Ignored) | None => Ok(()),
        }
    }

    fn connect_rejected(&self, status: Status) -> SessionError {
        let config = &self.config;
        let step = auth::after_rejection(
            &status.description,
            &config.auth,
            config.user.as_deref(),
            config.password.as_deref(),
            &config.app,
            config.auth_random,
        );
        match step {
            AuthStep::Retry(state) => SessionError::AuthRetry(state),
            AuthStep::Failed(description) => SessionError::ConnectRejected {
                code: status.code,
                description,
            },
        }
    }

    /// Answers a `secureToken` in the connect answer, when we have the key for it.
    fn answer_secure_token(&mut self, info: &Amf0Value) -> Result<(), SessionError> {
        let (Some(key), Some(token)) = (
            self.config.secure_token.as_deref(),
            info.get("secureToken").and_then(Amf0Value::as_str),
        ) else {
            return Ok(());
        };
        if let Some(answer) = auth::decode_secure_token(key, token) {
            let message = Message::Command {
                stream_id: 0,
                name: "secureTokenResponse".into(),
                transaction_id: 0.0,
                command_object: Amf0Value::Null,
                args: vec![Amf0Value::String(answer)],
            };
            self.send_command(&message)?;
        }
        Ok(())
    }

    fn start_stream(&mut self) -> Result<(), SessionError> {
        let stream_id = self.stream_id;
        match self.config.mode.clone() {
            SessionMode::Publish {
                stream,
                publish_type,
            } => {
                self.send_command(&command::publish(stream_id, &stream, &publish_type))?;
            }
            SessionMode::Play { .. } if self.config.defer_play => {}
            SessionMode::Play {
                stream,
                start,
                buffer_ms,
            } => {
                if self.config.query_stream_length {
                    let txn = self.next_transaction(Pending::StreamLength);
                    self.send_command(&command::get_stream_length(txn, &stream))?;
                }
                self.send_command(&command::play(stream_id, &stream, start))?;
                self.core
                    .send_control(&Message::UserControl(UserControlEvent::SetBufferLength {
                        stream_id,
                        buffer_ms,
                    }));
            }
        }
        self.streams.insert(stream_id, StreamPhase::Starting);
        self.phase = Phase::Streaming;
        Ok(())
    }

    /// A status for `stream_id`; one on a stream we do not have (servers put some on stream
    /// 0) concerns ours.
    fn handle_status(&mut self, stream_id: u32, status: Status) -> Result<(), SessionError> {
        if self.route_status(stream_id, &status) {
            return Ok(());
        }
        let stream_id = if self.streams.contains_key(&stream_id) {
            stream_id
        } else {
            self.stream_id
        };
        let starting = self.stream_phase(stream_id) == Some(StreamPhase::Starting);
        let description = status.description.clone();
        match status.code.as_str() {
            "NetStream.Publish.Start" if starting => {
                self.streams.insert(stream_id, StreamPhase::Publishing);
                self.events.push_back(SessionEvent::PublishStarted);
            }
            "NetStream.Play.Start" | "NetStream.Play.Reset" if starting => {
                self.streams.insert(stream_id, StreamPhase::Playing);
                self.events.push_back(SessionEvent::PlayStarted);
            }
            "NetStream.Publish.BadName" => return Err(SessionError::PublishBadName(description)),
            "NetStream.Publish.Denied" => return Err(SessionError::PublishDenied(description)),
            // node-media-server's own code for a missing or wrong signature.
            code if code.to_ascii_lowercase().ends_with(".unauthorized") => {
                return Err(SessionError::NotAuthorized {
                    code: status.code.clone(),
                    description,
                });
            }
            "NetStream.Play.StreamNotFound" => {
                return Err(SessionError::StreamNotFound(description));
            }
            "NetConnection.Connect.Closed" => self.events.push_back(SessionEvent::ServerClosed),
            _ if status.is_error() && starting => {
                return Err(SessionError::StreamFailed {
                    code: status.code,
                    description,
                });
            }
            _ => self.events.push_back(SessionEvent::Status(status)),
        }
        Ok(())
    }
}

mod streams;
pub use streams::Play2;

#[cfg(test)]
mod tests;
