//! The server session: one accepted RTMP connection from handshake to close, as a state machine.
//!
//! The caller owns the socket, as with the client session: it appends what it reads to
//! [`ServerSession::recv_buffer`], calls [`ServerSession::process`], drains
//! [`ServerSession::poll_event`] and sends what [`ServerSession::take_output`] hands out. Requests
//! that need a decision (connect, publish, play) come out as events; the application answers with
//! `accept_*` / `reject_*`. Everything else (createStream, releaseStream, FCPublish, pings,
//! acknowledgements...) the session answers by itself.
//!
//! Each message stream the client creates has its own state, so one connection can carry several
//! streams. Until connect is accepted, only small messages are read (a client announcing a large
//! one is refused at its chunk header) and only connect is accepted.
//!
//! While a request awaits its decision, further input stays in the receive buffer unread (see
//! [`ServerSession::awaiting_decision`]): the decision methods go on with it, so events keep their
//! order and a decision never meets a stream the client has already closed. The caller bounds
//! how much it appends meanwhile ([`ServerSession::buffered_bytes`]) and how long it waits.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::MediaKind;
use super::SessionStats;
use super::core::{self, MessageStream};
use crate::protocol::amf0::Amf0Value;
use crate::protocol::chunk::{MAX_MESSAGE_LENGTH, MessageInfo, Payload, RawMessage};
use crate::protocol::handshake::{ServerHandshake, ServerHandshakeForm, ServerHandshakeProgress};
use crate::protocol::message::{
    Message, MessageError, PeerBandwidthLimit, UserControlEvent, csid, split_aggregate, type_id,
};

mod answers;
mod commands;
mod types;

pub use types::*;

/// What a client's message stream is doing.
#[derive(Debug, Clone, PartialEq)]
enum StreamRole {
    /// Created, nothing asked yet (or back to that after a refusal or closeStream).
    Idle,
    PublishRequested {
        name: String,
    },
    Publishing {
        name: String,
    },
    PlayRequested,
    Playing,
}

pub struct ServerSession {
    config: ServerConfig,
    state: ServerState,
    handshake: Option<ServerHandshake>,
    form: Option<ServerHandshakeForm>,
    core: MessageStream,
    events: VecDeque<ServerEvent>,
    /// connect's transaction id and object encoding, kept for the answer.
    connect_transaction: f64,
    object_encoding: f64,
    streams: BTreeMap<u32, StreamRole>,
    next_stream_id: u32,
}

impl ServerSession {
    /// Starts a session waiting for the client's C0+C1; `time` and `random` feed S1.
    pub fn new(config: ServerConfig, time: u32, random: &[u8]) -> Self {
        let core = MessageStream::new(config.window_ack_size, config.max_setup_message_size);
        ServerSession {
            config,
            state: ServerState::Handshaking,
            handshake: Some(ServerHandshake::new(time, random)),
            form: None,
            core,
            events: VecDeque::new(),
            connect_transaction: 0.0,
            object_encoding: 0.0,
            streams: BTreeMap::new(),
            next_stream_id: 1,
        }
    }

    pub fn state(&self) -> ServerState {
        self.state
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The handshake form chosen from the client's C1, once C1 has arrived.
    pub fn handshake_form(&self) -> Option<ServerHandshakeForm> {
        self.form
    }

    /// Where the caller appends bytes read from the socket before calling [`process`](Self::process).
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        self.core.recv_buffer()
    }

    /// Appends `data` and processes it.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), ServerError> {
        if self.state == ServerState::Closed {
            self.core.discard_input();
            return Ok(());
        }
        self.core.recv_buffer().extend_from_slice(data);
        self.process()
    }

    /// Processes everything in the receive buffer. On error the session is Closed; once Closed,
    /// input is dropped unread.
    pub fn process(&mut self) -> Result<(), ServerError> {
        if self.state == ServerState::Closed {
            self.core.discard_input();
            return Ok(());
        }
        let result = self.process_inner();
        if result.is_err() {
            self.state = ServerState::Closed;
            self.core.discard_input();
        }
        result
    }

    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Moves every byte slice waiting to be sent, in order, to the end of `dst`.
    pub fn take_output(&mut self, dst: &mut VecDeque<Bytes>) {
        self.core.take_output(dst);
    }

    pub fn has_output(&self) -> bool {
        self.core.has_output()
    }

    /// Bytes queued for the client and not yet taken.
    pub fn output_bytes(&self) -> usize {
        self.core.output_bytes()
    }

    /// Bytes of client input held: unread input and partly received messages.
    pub fn buffered_bytes(&self) -> usize {
        self.core.buffered_bytes()
    }

    pub fn stats(&self) -> SessionStats {
        self.core.stats
    }

    /// Accepts the pending connect: Window Acknowledgement Size, Set Peer Bandwidth, Set Chunk
    /// Size, `_result` with `NetConnection.Connect.Success`, then `onBWDone`, as nginx-rtmp and
    /// FMS answer. Input that came after connect is processed now (its events follow; an error in
    /// it is returned here and closes the session, as from [`process`](Self::process)).
    pub fn accept_connect(&mut self) -> Result<(), ServerError> {
        self.expect_connect_request()?;
        self.core.send_window_ack_size(self.config.window_ack_size);
        self.core.send_control(&Message::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: PeerBandwidthLimit::Dynamic,
        });
        self.core.set_chunk_size(self.config.chunk_size);
        let answer = answers::connect_result(self.connect_transaction, self.object_encoding);
        self.send_command(&answer)?;
        self.send_command(&answers::on_bw_done())?;
        self.core.set_max_message_size(self.config.max_message_size);
        self.state = ServerState::Connected;
        self.process()
    }

    /// Refuses the pending connect with `_error` `NetConnection.Connect.Rejected`; the session is
    /// then Closed: the caller sends the output and closes the socket.
    pub fn reject_connect(&mut self, description: &str) -> Result<(), ServerError> {
        self.expect_connect_request()?;
        let answer = answers::connect_rejected(self.connect_transaction, description);
        let result = self.send_command(&answer);
        self.close();
        result
    }

    /// Accepts the pending publish on `stream_id`: `onStatus NetStream.Publish.Start`.
    /// Then goes on with the input that waited, as [`accept_connect`](Self::accept_connect) does.
    pub fn accept_publish(&mut self, stream_id: u32) -> Result<(), ServerError> {
        self.check_open()?;
        let Some(StreamRole::PublishRequested { name }) = self.streams.get(&stream_id).cloned()
        else {
            return Err(no_request("publish", stream_id));
        };
        let status = answers::on_status(
            stream_id,
            "status",
            "NetStream.Publish.Start",
            &format!("{name} is now published."),
        );
        self.send_command(&status)?;
        self.streams
            .insert(stream_id, StreamRole::Publishing { name });
        self.process()
    }

    /// Refuses the pending publish on `stream_id` with an error `onStatus` (e.g.
    /// `NetStream.Publish.BadName`); the stream stays and may ask again.
    /// Then goes on with the input that waited, as [`accept_connect`](Self::accept_connect) does.
    pub fn reject_publish(
        &mut self,
        stream_id: u32,
        code: &str,
        description: &str,
    ) -> Result<(), ServerError> {
        self.check_open()?;
        if !matches!(
            self.streams.get(&stream_id),
            Some(StreamRole::PublishRequested { .. })
        ) {
            return Err(no_request("publish", stream_id));
        }
        self.streams.insert(stream_id, StreamRole::Idle);
        self.send_command(&answers::on_status(stream_id, "error", code, description))?;
        self.process()
    }

    /// Accepts the pending play on `stream_id`: StreamBegin, `NetStream.Play.Reset`,
    /// `NetStream.Play.Start`, `|RtmpSampleAccess`. Media may be sent from now on.
    /// Then goes on with the input that waited, as [`accept_connect`](Self::accept_connect) does.
    pub fn accept_play(&mut self, stream_id: u32) -> Result<(), ServerError> {
        self.check_open()?;
        if self.streams.get(&stream_id) != Some(&StreamRole::PlayRequested) {
            return Err(no_request("play", stream_id));
        }
        self.core
            .send_control(&Message::UserControl(UserControlEvent::StreamBegin(
                stream_id,
            )));
        let reset = answers::on_status(
            stream_id,
            "status",
            "NetStream.Play.Reset",
            "Playing and resetting.",
        );
        self.send_command(&reset)?;
        let start = answers::on_status(stream_id, "status", "NetStream.Play.Start", "Start live");
        self.send_command(&start)?;
        let access = answers::sample_access(stream_id);
        self.send_checked(csid::DATA, &access, stream_id)?;
        self.streams.insert(stream_id, StreamRole::Playing);
        self.process()
    }

    /// Refuses the pending play on `stream_id` with an error `onStatus` (e.g.
    /// `NetStream.Play.StreamNotFound`).
    /// Then goes on with the input that waited, as [`accept_connect`](Self::accept_connect) does.
    pub fn reject_play(
        &mut self,
        stream_id: u32,
        code: &str,
        description: &str,
    ) -> Result<(), ServerError> {
        self.check_open()?;
        if self.streams.get(&stream_id) != Some(&StreamRole::PlayRequested) {
            return Err(no_request("play", stream_id));
        }
        self.streams.insert(stream_id, StreamRole::Idle);
        self.send_command(&answers::on_status(stream_id, "error", code, description))?;
        self.process()
    }

    /// Sends an FLV audio tag body on a playing stream; the payload's parts are queued as they
    /// are (nothing is copied).
    pub fn send_audio(
        &mut self,
        stream_id: u32,
        timestamp: u32,
        payload: impl Into<Payload>,
    ) -> Result<(), ServerError> {
        let payload = payload.into();
        self.send_media(stream_id, csid::AUDIO, type_id::AUDIO, timestamp, &payload)
    }

    /// Sends an FLV video tag body on a playing stream, without copying.
    pub fn send_video(
        &mut self,
        stream_id: u32,
        timestamp: u32,
        payload: impl Into<Payload>,
    ) -> Result<(), ServerError> {
        let payload = payload.into();
        self.send_media(stream_id, csid::VIDEO, type_id::VIDEO, timestamp, &payload)
    }

    /// Sends an AMF0 data message body (e.g. `onMetaData {...}`) on a playing stream.
    pub fn send_data(
        &mut self,
        stream_id: u32,
        timestamp: u32,
        payload: impl Into<Payload>,
    ) -> Result<(), ServerError> {
        let payload = payload.into();
        self.send_media(
            stream_id,
            csid::DATA,
            type_id::DATA_AMF0,
            timestamp,
            &payload,
        )
    }

    /// The publisher of a played stream left: StreamEOF and `NetStream.Play.UnpublishNotify`, as
    /// nginx-rtmp sends them. The stream is no longer playing.
    pub fn end_play(&mut self, stream_id: u32) -> Result<(), ServerError> {
        self.check_open()?;
        if self.streams.get(&stream_id) != Some(&StreamRole::Playing) {
            return Err(ServerError::NotPlaying(stream_id));
        }
        self.core
            .send_control(&Message::UserControl(UserControlEvent::StreamEof(
                stream_id,
            )));
        let status = answers::on_status(
            stream_id,
            "status",
            "NetStream.Play.UnpublishNotify",
            "Stop publishing",
        );
        self.send_command(&status)?;
        self.streams.insert(stream_id, StreamRole::Idle);
        Ok(())
    }

    /// Changes the outgoing chunk size (sends Set Chunk Size first). Before connect is accepted
    /// it only changes the size that accepting announces: nothing may precede the handshake's
    /// answer or the connect answer's control messages.
    pub fn set_chunk_size(&mut self, size: u32) {
        match self.state {
            ServerState::Connected => self.core.set_chunk_size(size),
            ServerState::Closed => {}
            _ => self.config.chunk_size = size,
        }
    }

    /// Stops handling input; the caller sends what output is left and closes the socket.
    pub fn close(&mut self) {
        self.state = ServerState::Closed;
        self.core.discard_input();
    }

    /// A connect, publish or play request the application has not answered yet.
    pub fn awaiting_decision(&self) -> bool {
        self.state == ServerState::ConnectRequested
            || self.streams.values().any(|role| {
                matches!(
                    role,
                    StreamRole::PublishRequested { .. } | StreamRole::PlayRequested
                )
            })
    }

    /// Nothing is queued once the session is closed.
    fn check_open(&self) -> Result<(), ServerError> {
        if self.state == ServerState::Closed {
            Err(ServerError::Closed)
        } else {
            Ok(())
        }
    }

    fn expect_connect_request(&self) -> Result<(), ServerError> {
        if self.state == ServerState::ConnectRequested {
            Ok(())
        } else {
            Err(no_request("connect", 0))
        }
    }

    fn send_media(
        &mut self,
        stream_id: u32,
        chunk_stream: u32,
        type_id: u8,
        timestamp: u32,
        payload: &Payload,
    ) -> Result<(), ServerError> {
        self.check_open()?;
        if self.streams.get(&stream_id) != Some(&StreamRole::Playing) {
            return Err(ServerError::NotPlaying(stream_id));
        }
        if payload.len() > MAX_MESSAGE_LENGTH as usize {
            return Err(ServerError::MessageTooLarge(payload.len()));
        }
        let info = MessageInfo {
            type_id,
            timestamp,
            stream_id,
        };
        self.core.write_parts(chunk_stream, info, payload.parts());
        Ok(())
    }

    fn send_command(&mut self, message: &Message) -> Result<(), ServerError> {
        self.core
            .send_command(message)
            .map_err(ServerError::MessageTooLarge)
    }

    fn send_checked(
        &mut self,
        chunk_stream: u32,
        message: &Message,
        stream_id: u32,
    ) -> Result<(), ServerError> {
        self.core
            .send_checked(chunk_stream, message, stream_id)
            .map_err(ServerError::MessageTooLarge)
    }

    fn process_inner(&mut self) -> Result<(), ServerError> {
        if let Some(handshake) = &mut self.handshake {
            let before = self.core.recv_buffer().len();
            let progress = handshake.feed(self.core.recv_buffer());
            self.form = handshake.form();
            self.core.count_consumed(before);
            match progress? {
                ServerHandshakeProgress::NeedMore(answer) => {
                    self.core.queue_raw_bytes(answer);
                    return Ok(());
                }
                ServerHandshakeProgress::Done(answer) => {
                    self.core.queue_raw_bytes(answer);
                    self.handshake = None;
                    self.state = ServerState::AwaitingConnect;
                }
            }
        }
        // Input after a request waits for the decision on it: what the client sends next may
        // depend on the answer, and the application's decisions then apply in order.
        while self.state != ServerState::Closed && !self.awaiting_decision() {
            match self.core.read_message()? {
                Some(raw) => self.handle_raw(raw)?,
                None => break,
            }
        }
        Ok(())
    }

    fn handle_raw(&mut self, raw: RawMessage) -> Result<(), ServerError> {
        if raw.type_id == type_id::AGGREGATE {
            for part in split_aggregate(&raw)? {
                self.handle_one(part)?;
            }
            return Ok(());
        }
        self.handle_one(raw)
    }

    fn handle_one(&mut self, raw: RawMessage) -> Result<(), ServerError> {
        match core::decode(raw) {
            Ok(message) => match self.core.handle_control(message)? {
                Some(message) => self.handle_message(message),
                None => Ok(()),
            },
            Err((err, Some(raw))) => self.skip_undecodable(&raw, err),
            Err((err, None)) => Err(err.into()),
        }
    }

    /// A command or data message whose AMF does not decode is skipped and reported, except
    /// before connect is accepted: then the client has not even said who it is.
    fn skip_undecodable(&mut self, raw: &RawMessage, err: MessageError) -> Result<(), ServerError> {
        if self.state != ServerState::Connected {
            return Err(err.into());
        }
        self.events.push_back(ServerEvent::Skipped {
            type_id: raw.type_id,
            reason: err.to_string(),
        });
        Ok(())
    }

    fn handle_message(&mut self, message: Message) -> Result<(), ServerError> {
        match message {
            Message::Command {
                stream_id,
                name,
                transaction_id,
                command_object,
                args,
            } => self.handle_command(stream_id, &name, transaction_id, command_object, args),
            Message::Audio {
                timestamp,
                stream_id,
                payload,
            } => self.deliver_media(stream_id, MediaKind::Audio, timestamp, payload),
            Message::Video {
                timestamp,
                stream_id,
                payload,
            } => self.deliver_media(stream_id, MediaKind::Video, timestamp, payload),
            Message::Data {
                timestamp,
                stream_id,
                values,
                ..
            } => {
                self.require_connected("a data message")?;
                if self.is_publishing(stream_id) {
                    self.events.push_back(ServerEvent::Data {
                        stream_id,
                        timestamp,
                        values,
                    });
                }
                Ok(())
            }
            // Pongs, buffer lengths, shared objects: nothing to do.
            _ => Ok(()),
        }
    }

    fn deliver_media(
        &mut self,
        stream_id: u32,
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<(), ServerError> {
        self.require_connected(match kind {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        })?;
        // Media on a stream that does not publish is dropped, as nginx-rtmp does.
        if self.is_publishing(stream_id) && !payload.is_empty() {
            self.events.push_back(ServerEvent::Media {
                stream_id,
                kind,
                timestamp,
                payload,
            });
        }
        Ok(())
    }

    /// Publishing, or asked to and not yet decided: media may come before the decision.
    fn is_publishing(&self, stream_id: u32) -> bool {
        matches!(
            self.streams.get(&stream_id),
            Some(StreamRole::PublishRequested { .. } | StreamRole::Publishing { .. })
        )
    }

    fn require_connected(&self, what: &str) -> Result<(), ServerError> {
        if self.state == ServerState::Connected {
            Ok(())
        } else {
            Err(ServerError::BeforeConnect(what.to_owned()))
        }
    }

    fn stream_ended(&mut self, stream_id: u32, role: Option<StreamRole>) {
        let event = match role {
            Some(StreamRole::PublishRequested { .. } | StreamRole::Publishing { .. }) => {
                ServerEvent::PublishEnded { stream_id }
            }
            Some(StreamRole::PlayRequested | StreamRole::Playing) => {
                ServerEvent::PlayEnded { stream_id }
            }
            Some(StreamRole::Idle) | None => return,
        };
        self.events.push_back(event);
    }
}

fn no_request(request: &'static str, stream_id: u32) -> ServerError {
    ServerError::NoRequest { request, stream_id }
}

/// The first string argument, or "".
fn string_arg(args: &[Amf0Value], index: usize) -> Option<&str> {
    args.get(index).and_then(Amf0Value::as_str)
}

#[cfg(test)]
mod tests;
