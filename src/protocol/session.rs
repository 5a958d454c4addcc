//! The client session: one RTMP connection from handshake to close, as a state machine.
//!
//! The caller owns the socket. It sends whatever [`ClientSession::take_output`] hands out, appends
//! what it reads to [`ClientSession::recv_buffer`] and calls [`ClientSession::process`], then drains
//! [`ClientSession::poll_event`]. Publishing goes handshake -> connect -> releaseStream/FCPublish ->
//! createStream -> publish -> `NetStream.Publish.Start`; playing goes handshake -> connect ->
//! createStream -> play + SetBufferLength -> `NetStream.Play.Start`.
//!
//! The session answers pings, acknowledges received bytes as the peer's window fills, follows the
//! peer's chunk size and splits aggregate messages, so the caller only sees what matters to it.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::amf0::Amf0Value;
use super::auth::{self, AuthStep};
use super::chunk::{
    ChunkReader, ChunkWriter, DEFAULT_CHUNK_SIZE, MessageInfo, Payload, RawMessage,
};
use super::command::{self, ConnectParams, ConnectPurpose, Status};
use super::handshake::{ClientHandshake, HandshakeProgress};
use super::message::{
    Message, MessageError, UserControlEvent, command_header, csid, split_aggregate, type_id,
};

mod types;

pub use types::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Connect,
    CreateStream,
    StreamLength,
    /// releaseStream/FCPublish/FCUnpublish/deleteStream: answers (if any) need no action.
    Ignored,
}

pub struct ClientSession {
    config: ClientConfig,
    state: SessionState,
    handshake: Option<ClientHandshake>,
    reader: ChunkReader,
    writer: ChunkWriter,
    recv: BytesMut,
    header_scratch: BytesMut,
    /// Reused for each message's slices before they join `output`.
    parts_scratch: Vec<Bytes>,
    output: VecDeque<Bytes>,
    events: VecDeque<SessionEvent>,
    next_transaction_id: f64,
    pending: HashMap<u64, Pending>,
    stream_id: u32,
    /// The window the server asked us to acknowledge by (its Window Acknowledgement Size).
    peer_window: u32,
    last_ack_at: u64,
    announced_window: Option<u32>,
    stats: SessionStats,
}

impl ClientSession {
    /// Starts a session; C0+C1 are queued for sending at once. `time` and `random` feed the handshake.
    pub fn new(config: ClientConfig, time: u32, random: &[u8]) -> Self {
        let handshake = ClientHandshake::new(config.handshake, time, random);
        let mut reader = ChunkReader::new();
        reader.set_max_message_size(config.max_message_size);
        let mut session = ClientSession {
            state: SessionState::Handshaking,
            reader,
            writer: ChunkWriter::new(),
            recv: BytesMut::with_capacity(64 * 1024),
            header_scratch: BytesMut::with_capacity(4096),
            parts_scratch: Vec::new(),
            output: VecDeque::new(),
            events: VecDeque::new(),
            next_transaction_id: 1.0,
            pending: HashMap::new(),
            stream_id: 0,
            peer_window: DEFAULT_WINDOW_ACK_SIZE,
            last_ack_at: 0,
            announced_window: None,
            stats: SessionStats {
                in_chunk_size: DEFAULT_CHUNK_SIZE,
                out_chunk_size: DEFAULT_CHUNK_SIZE,
                in_window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
                out_window_ack_size: 0,
                ..Default::default()
            },
            config,
            handshake: None,
        };
        let c0c1 = handshake.c0c1();
        session.queue_raw_bytes(c0c1);
        session.handshake = Some(handshake);
        session
    }

    pub fn state(&self) -> SessionState {
        self.state
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// The stream id the server gave us (0 before createStream answered).
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// Where the caller appends bytes read from the socket before calling [`process`](Self::process).
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        &mut self.recv
    }

    /// Appends `data` and processes it.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        self.recv.extend_from_slice(data);
        self.process()
    }

    /// Processes everything in the receive buffer. On error the session is unusable.
    pub fn process(&mut self) -> Result<(), SessionError> {
        let result = self.process_inner();
        if result.is_err() {
            self.state = SessionState::Closed;
        }
        result
    }

    fn process_inner(&mut self) -> Result<(), SessionError> {
        if let Some(handshake) = &mut self.handshake {
            let before = self.recv.len();
            let progress = handshake.feed(&mut self.recv)?;
            self.stats.in_bytes_total += (before - self.recv.len()) as u64;
            match progress {
                HandshakeProgress::NeedMore => return Ok(()),
                HandshakeProgress::Done(c2) => {
                    self.handshake = None;
                    self.queue_raw_bytes(c2);
                    self.send_connect()?;
                }
            }
        }
        loop {
            let before = self.recv.len();
            let raw = self.reader.read(&mut self.recv)?;
            self.stats.in_bytes_total += (before - self.recv.len()) as u64;
            self.maybe_acknowledge();
            match raw {
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
        dst.extend(self.output.drain(..));
    }

    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
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
        if self.state != SessionState::Playing {
            return Err(SessionError::NotPlaying);
        }
        self.send_command(&command::seek(self.stream_id, f64::from(ms)))?;
        Ok(())
    }

    /// Pauses (or resumes) a played recording; `ms` is the client's position.
    pub fn pause(&mut self, pause: bool, ms: u32) -> Result<(), SessionError> {
        if self.state != SessionState::Playing {
            return Err(SessionError::NotPlaying);
        }
        self.send_command(&command::pause(self.stream_id, pause, f64::from(ms)))?;
        Ok(())
    }

    /// Changes the outgoing chunk size (sends Set Chunk Size first).
    pub fn set_chunk_size(&mut self, size: u32) {
        let size = size.clamp(1, super::chunk::MAX_CHUNK_SIZE);
        if size == self.writer.chunk_size() {
            return;
        }
        self.send_message(csid::PROTOCOL_CONTROL, &Message::SetChunkSize(size), 0, 0);
        self.writer.set_chunk_size(size);
        self.stats.out_chunk_size = size;
    }

    /// Ends the session politely: the stop commands for a publisher, deleteStream for a player.
    /// The caller sends the output and then closes the socket.
    pub fn close(&mut self, stop: StopCommands) {
        let stream = self.config.stream_name().to_owned();
        let publishing = matches!(self.config.mode, SessionMode::Publish { .. });
        if self.stream_id != 0 && self.state != SessionState::Closed {
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
        self.state = SessionState::Closed;
    }

    fn send_stream_message(
        &mut self,
        chunk_stream: u32,
        type_id: u8,
        timestamp: u32,
        payload: &Payload,
    ) -> Result<(), SessionError> {
        if self.state != SessionState::Publishing {
            return Err(SessionError::NotPublishing);
        }
        if payload.len() > super::chunk::MAX_MESSAGE_LENGTH as usize {
            return Err(SessionError::MessageTooLarge(payload.len()));
        }
        let info = MessageInfo {
            type_id,
            timestamp,
            stream_id: self.stream_id,
        };
        self.write_parts(chunk_stream, info, payload.parts());
        Ok(())
    }

    fn write_raw(&mut self, chunk_stream: u32, raw: &RawMessage) {
        let payload = std::slice::from_ref(&raw.payload);
        self.write_parts(chunk_stream, MessageInfo::of(raw), payload);
    }

    /// Queues one message, its payload taken from `payload` in order without copying.
    fn write_parts(&mut self, chunk_stream: u32, info: MessageInfo, payload: &[Bytes]) {
        let mut parts = std::mem::take(&mut self.parts_scratch);
        self.writer.write_parts_vectored(
            chunk_stream,
            info,
            payload,
            &mut self.header_scratch,
            &mut parts,
        );
        // Header slices are frozen out of the scratch buffer; reserving lets it reclaim its
        // allocation once those slices have been sent and dropped.
        self.header_scratch.reserve(1024);
        let bytes: usize = parts.iter().map(Bytes::len).sum();
        self.stats.out_bytes_total += bytes as u64;
        self.output.extend(parts.drain(..));
        self.parts_scratch = parts;
    }

    fn queue_raw_bytes(&mut self, bytes: Bytes) {
        self.stats.out_bytes_total += bytes.len() as u64;
        self.output.push_back(bytes);
    }

    fn send_message(
        &mut self,
        chunk_stream: u32,
        message: &Message,
        timestamp: u32,
        stream_id: u32,
    ) {
        let raw = message.to_raw(timestamp, stream_id);
        self.write_raw(chunk_stream, &raw);
    }

    /// Commands carry the caller's strings (stream name, extra connect arguments), so one can
    /// exceed RTMP's 24-bit message length: an error, where the chunk writer would panic.
    fn send_command(&mut self, message: &Message) -> Result<(), SessionError> {
        let stream_id = match message {
            Message::Command { stream_id, .. } => *stream_id,
            _ => 0,
        };
        let raw = message.to_raw(0, stream_id);
        if raw.payload.len() > super::chunk::MAX_MESSAGE_LENGTH as usize {
            return Err(SessionError::MessageTooLarge(raw.payload.len()));
        }
        self.write_raw(csid::COMMAND, &raw);
        Ok(())
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
        };
        let txn = self.next_transaction(Pending::Connect);
        self.send_command(&command::connect(txn, &params))?;
        // After the connect request, as some servers expect (rml_rtmp#31).
        self.set_chunk_size(self.config.chunk_size);
        self.state = SessionState::Connecting;
        Ok(())
    }

    fn maybe_acknowledge(&mut self) {
        let window = u64::from(self.peer_window.max(1));
        if self.stats.in_bytes_total - self.last_ack_at >= window {
            self.last_ack_at = self.stats.in_bytes_total;
            self.stats.in_bytes_acked = self.stats.in_bytes_total;
            // The sequence number is the byte count modulo 2^32.
            let sequence = self.stats.in_bytes_total as u32;
            self.send_message(
                csid::PROTOCOL_CONTROL,
                &Message::Acknowledgement(sequence),
                0,
                0,
            );
        }
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
        use type_id::*;
        // Payloads are shared, so keeping one for the error path costs no copy.
        let amf = matches!(
            raw.type_id,
            COMMAND_AMF0 | COMMAND_AMF3 | DATA_AMF0 | DATA_AMF3
        );
        let kept = amf.then(|| raw.clone());
        match (Message::parse(raw), kept) {
            (Ok(message), _) => self.handle_message(message),
            (Err(err), Some(raw)) => self.skip_undecodable(&raw, err),
            (Err(err), None) => Err(err.into()),
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
            Message::SetChunkSize(size) => {
                self.reader.set_chunk_size(size)?;
                self.stats.in_chunk_size = size;
            }
            Message::Abort(chunk_stream) => self.reader.abort(chunk_stream),
            Message::Acknowledgement(sequence) => {
                // Sequence numbers wrap at 2^32: extend to the nearest value at or below what we sent.
                let sent = self.stats.out_bytes_total;
                let wrapped = (sent & !0xFFFF_FFFF) | u64::from(sequence);
                let acked = if wrapped > sent {
                    wrapped.saturating_sub(1 << 32)
                } else {
                    wrapped
                };
                self.stats.out_bytes_acked = acked;
            }
            Message::WindowAckSize(size) => {
                self.peer_window = size;
                self.stats.in_window_ack_size = size;
            }
            Message::SetPeerBandwidth { size, .. } => {
                // Answer with our own window, once per distinct value (AWS MediaLive rejects duplicates).
                if self.announced_window != Some(size) {
                    self.announced_window = Some(size);
                    let window = self.config.window_ack_size;
                    self.send_message(
                        csid::PROTOCOL_CONTROL,
                        &Message::WindowAckSize(window),
                        0,
                        0,
                    );
                    self.stats.out_window_ack_size = window;
                }
            }
            Message::UserControl(event) => self.handle_user_control(event),
            Message::Command {
                name,
                transaction_id,
                command_object,
                args,
                ..
            } => self.handle_command(&name, transaction_id, command_object, args)?,
            Message::Audio {
                timestamp, payload, ..
            } => self.deliver_media(MediaKind::Audio, timestamp, payload),
            Message::Video {
                timestamp, payload, ..
            } => self.deliver_media(MediaKind::Video, timestamp, payload),
            Message::Data {
                timestamp, values, ..
            } => {
                if self.state == SessionState::Playing || self.state == SessionState::StartingStream
                {
                    self.events
                        .push_back(SessionEvent::Data { timestamp, values });
                }
            }
            Message::Other(_) => {}
        }
        Ok(())
    }

    fn deliver_media(&mut self, kind: MediaKind, timestamp: u32, payload: Bytes) {
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
        let event = match event {
            UserControlEvent::PingRequest(time) => {
                self.send_message(
                    csid::PROTOCOL_CONTROL,
                    &Message::UserControl(UserControlEvent::PingResponse(time)),
                    0,
                    0,
                );
                return;
            }
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
                self.handle_status(status)
            }
            "close" => {
                self.events.push_back(SessionEvent::ServerClosed);
                Ok(())
            }
            // onBWDone, onFCPublish, onFCUnpublish and the like need no answer from a client.
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
                self.state = SessionState::CreatingStream;
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
                self.send_message(
                    csid::PROTOCOL_CONTROL,
                    &Message::UserControl(UserControlEvent::SetBufferLength {
                        stream_id,
                        buffer_ms,
                    }),
                    0,
                    0,
                );
            }
        }
        self.state = SessionState::StartingStream;
        Ok(())
    }

    fn handle_status(&mut self, status: Status) -> Result<(), SessionError> {
        let description = status.description.clone();
        match status.code.as_str() {
            "NetStream.Publish.Start" if self.state == SessionState::StartingStream => {
                self.state = SessionState::Publishing;
                self.events.push_back(SessionEvent::PublishStarted);
            }
            "NetStream.Play.Start" | "NetStream.Play.Reset"
                if self.state == SessionState::StartingStream =>
            {
                self.state = SessionState::Playing;
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
            _ if status.is_error() && self.state == SessionState::StartingStream => {
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

#[cfg(test)]
mod tests;
