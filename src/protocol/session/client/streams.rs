//! What a playing session does beyond its one stream: a second stream on the same connection
//! (a rendition to switch to: createStream + play, then promote it and delete the old one),
//! Flash Media Server's `play2` transitions, and answers to the bandwidth checks servers send.
//!
//! Messages of a second stream come out wrapped in [`SessionEvent::OnStream`], so a caller that
//! never asks for one sees exactly what it saw before. Messages of a stream we deleted are
//! dropped: the server may still have some on their way.

use super::*;

/// Streams deleted recently, whose late messages are dropped (a server may reuse ids, so few).
const MAX_DELETED: usize = 8;

#[derive(Debug, Default)]
pub(super) struct Extra {
    /// The stream name of the createStream in flight for a second stream.
    pending: Option<String>,
    /// Names played on second streams, by stream id.
    names: BTreeMap<u32, String>,
    deleted: Vec<u32>,
    /// `_checkbw` went out (once per connection, as librtmp).
    bw_check_sent: bool,
    /// How many `_onbwcheck` calls were answered.
    bw_checks: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// The stream the session plays (or a message on a stream we do not know: ours too).
    Main,
    /// A second stream that is being set up or playing.
    Extra,
    /// A stream we deleted.
    Gone,
}

/// `play2`'s NetStreamPlayOptions (Flash): switch the played stream to `stream_name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Play2 {
    pub stream_name: String,
    pub old_stream_name: String,
    /// "switch" (at the next keyframe, keeping the timeline) or "swap".
    pub transition: String,
}

impl ClientSession {
    pub(super) fn route(&self, stream_id: u32) -> Route {
        if stream_id != self.stream_id && self.stream_phase(stream_id).is_some() {
            Route::Extra
        } else if stream_id != 0 && self.extra.deleted.contains(&stream_id) {
            Route::Gone
        } else {
            Route::Main
        }
    }

    fn push_on_stream(&mut self, stream_id: u32, event: SessionEvent) {
        self.events.push_back(SessionEvent::OnStream {
            stream_id,
            event: Box::new(event),
        });
    }

    pub(super) fn route_media(
        &mut self,
        stream_id: u32,
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    ) {
        match self.route(stream_id) {
            Route::Main => self.deliver_media(kind, timestamp, payload),
            Route::Extra if !payload.is_empty() => {
                let media = SessionEvent::Media {
                    kind,
                    timestamp,
                    payload,
                };
                self.push_on_stream(stream_id, media);
            }
            Route::Extra | Route::Gone => {}
        }
    }

    /// A data message of a stream that is not the main one.
    pub(super) fn route_data(&mut self, stream_id: u32, timestamp: u32, values: Vec<Amf0Value>) {
        if self.route(stream_id) == Route::Extra {
            self.push_on_stream(stream_id, SessionEvent::Data { timestamp, values });
        }
    }

    /// True when the event concerned a second or deleted stream (and was dealt with).
    pub(super) fn route_user_control(&mut self, event: &UserControlEvent) -> bool {
        let (stream_id, wrapped) = match *event {
            UserControlEvent::StreamBegin(id) => (id, SessionEvent::StreamBegin),
            UserControlEvent::StreamEof(id) => (id, SessionEvent::StreamEof),
            UserControlEvent::StreamDry(id) => (id, SessionEvent::StreamDry),
            UserControlEvent::StreamIsRecorded(id) => (id, SessionEvent::StreamIsRecorded),
            _ => return false,
        };
        match self.route(stream_id) {
            Route::Main => false,
            Route::Extra => {
                self.push_on_stream(stream_id, wrapped);
                true
            }
            Route::Gone => true,
        }
    }

    /// True when the status concerned a second or deleted stream: never an error of the
    /// session (the caller decides what a failed rendition means).
    pub(super) fn route_status(&mut self, stream_id: u32, status: &Status) -> bool {
        match self.route(stream_id) {
            Route::Main => false,
            Route::Gone => true,
            Route::Extra => {
                let starting = self.stream_phase(stream_id) == Some(StreamPhase::Starting);
                let started = matches!(
                    status.code.as_str(),
                    "NetStream.Play.Start" | "NetStream.Play.Reset"
                );
                if started && starting {
                    self.streams.insert(stream_id, StreamPhase::Playing);
                    self.push_on_stream(stream_id, SessionEvent::PlayStarted);
                } else {
                    self.push_on_stream(stream_id, SessionEvent::Status(status.clone()));
                }
                true
            }
        }
    }

    /// Plays `stream` on a second stream of this connection, beside the one playing: the
    /// answer comes as [`SessionEvent::ExtraStream`], its messages as [`SessionEvent::OnStream`].
    pub fn play_another(&mut self, stream: &str) -> Result<(), SessionError> {
        if self.state() != SessionState::Playing {
            return Err(SessionError::NotPlaying);
        }
        let txn = self.next_transaction(Pending::ExtraStream);
        self.send_command(&command::create_stream(txn))?;
        self.extra.pending = Some(stream.to_owned());
        Ok(())
    }

    pub(super) fn extra_stream_created(
        &mut self,
        success: bool,
        args: &[Amf0Value],
    ) -> Result<(), SessionError> {
        let Some(name) = self.extra.pending.take() else {
            return Ok(());
        };
        let id = args
            .iter()
            .find_map(Amf0Value::as_number)
            .filter(|id| *id >= 1.0 && *id <= f64::from(u32::MAX));
        let answer = match (success, id) {
            (true, Some(id)) => {
                let id = id as u32;
                if id == self.stream_id || self.streams.contains_key(&id) {
                    // nginx-rtmp answers every createStream with 1 and plays one stream per
                    // connection.
                    Err(format!(
                        "the server gave stream id {id} again: it plays one stream per connection"
                    ))
                } else {
                    self.start_extra(id, &name)?;
                    Ok(id)
                }
            }
            _ => Err(Status::from_args(args)
                .map(|s| format!("{} {}", s.code, s.description))
                .unwrap_or_else(|| "createStream failed".into())),
        };
        self.events.push_back(SessionEvent::ExtraStream(answer));
        Ok(())
    }

    fn start_extra(&mut self, stream_id: u32, name: &str) -> Result<(), SessionError> {
        let (start, buffer_ms) = match &self.config.mode {
            SessionMode::Play {
                start, buffer_ms, ..
            } => (*start, *buffer_ms),
            SessionMode::Publish { .. } => return Err(SessionError::NotPlaying),
        };
        self.extra.deleted.retain(|id| *id != stream_id);
        self.send_command(&command::play(stream_id, name, start))?;
        self.core
            .send_control(&Message::UserControl(UserControlEvent::SetBufferLength {
                stream_id,
                buffer_ms,
            }));
        self.streams.insert(stream_id, StreamPhase::Starting);
        self.extra.names.insert(stream_id, name.to_owned());
        Ok(())
    }

    /// Plays `stream` on a session configured with `defer_play`, once its stream exists.
    pub fn play_deferred(&mut self, stream: &str) -> Result<(), SessionError> {
        let stream_id = self.stream_id;
        if !self.config.defer_play || self.stream_phase(stream_id) != Some(StreamPhase::Starting) {
            return Err(SessionError::NotPlaying);
        }
        self.config.defer_play = false;
        let (start, buffer_ms) = match &mut self.config.mode {
            SessionMode::Play {
                stream: name,
                start,
                buffer_ms,
            } => {
                *name = stream.to_owned();
                (*start, *buffer_ms)
            }
            SessionMode::Publish { .. } => return Err(SessionError::NotPlaying),
        };
        self.send_command(&command::play(stream_id, stream, start))?;
        self.core
            .send_control(&Message::UserControl(UserControlEvent::SetBufferLength {
                stream_id,
                buffer_ms,
            }));
        Ok(())
    }

    /// Makes the second stream `stream_id` the one the session plays: its messages come out
    /// as plain events from now on. Returns the previous stream's id (delete it next).
    pub fn promote(&mut self, stream_id: u32) -> Result<u32, SessionError> {
        if self.route(stream_id) != Route::Extra {
            return Err(SessionError::NotPlaying);
        }
        let old = self.stream_id;
        self.stream_id = stream_id;
        if let (Some(name), SessionMode::Play { stream, .. }) =
            (self.extra.names.remove(&stream_id), &mut self.config.mode)
        {
            *stream = name;
        }
        Ok(old)
    }

    /// Stops and deletes a stream other than the one played (closeStream + deleteStream);
    /// what it still sends is dropped.
    pub fn delete_stream(&mut self, stream_id: u32) -> Result<(), SessionError> {
        if stream_id == self.stream_id || self.streams.remove(&stream_id).is_none() {
            return Err(SessionError::NotPlaying);
        }
        self.extra.names.remove(&stream_id);
        self.send_command(&command::close_stream(stream_id))?;
        let txn = self.next_transaction(Pending::Ignored);
        self.send_command(&command::delete_stream(txn, stream_id))?;
        if self.extra.deleted.len() >= MAX_DELETED {
            self.extra.deleted.remove(0);
        }
        self.extra.deleted.push(stream_id);
        Ok(())
    }

    /// Asks the server to switch the played stream (FMS 3.5+, Wowza, Red5): it answers
    /// `NetStream.Play.Transition` and, once done, `onPlayStatus` `NetStream.Play.TransitionComplete`;
    /// media keeps coming on the same stream.
    pub fn play2(&mut self, options: &Play2) -> Result<(), SessionError> {
        if self.state() != SessionState::Playing {
            return Err(SessionError::NotPlaying);
        }
        let start = match &self.config.mode {
            SessionMode::Play { start, .. } => *start,
            SessionMode::Publish { .. } => return Err(SessionError::NotPlaying),
        };
        let string = |s: &str| Amf0Value::String(s.to_owned());
        let object = Amf0Value::Object(vec![
            ("streamName".into(), string(&options.stream_name)),
            ("oldStreamName".into(), string(&options.old_stream_name)),
            ("start".into(), Amf0Value::Number(start)),
            ("len".into(), Amf0Value::Number(-1.0)),
            ("transition".into(), string(&options.transition)),
        ]);
        let message = Message::Command {
            stream_id: self.stream_id,
            name: "play2".into(),
            transaction_id: 0.0,
            command_object: Amf0Value::Null,
            args: vec![object],
        };
        self.send_command(&message)?;
        if let SessionMode::Play { stream, .. } = &mut self.config.mode {
            *stream = options.stream_name.clone();
        }
        Ok(())
    }

    /// Closes and deletes every second stream (the session is closing).
    pub(super) fn close_extra_streams(&mut self) {
        let extra: Vec<u32> = self
            .streams
            .keys()
            .copied()
            .filter(|id| *id != self.stream_id)
            .collect();
        for id in extra {
            let _ = self.delete_stream(id);
        }
    }

    /// Bandwidth checks, as librtmp answers them: `onBWDone` gets one `_checkbw` per
    /// connection, `_onbwcheck` a `_result` with a counter, `_onbwdone` (the server's figures)
    /// nothing. Servers that run a check (FMS, Wowza, SRS) wait for these answers.
    pub(super) fn answer_bandwidth_check(
        &mut self,
        name: &str,
        transaction_id: f64,
    ) -> Result<(), SessionError> {
        match name {
            "onBWDone" if !self.extra.bw_check_sent => {
                self.extra.bw_check_sent = true;
                let txn = self.next_transaction(Pending::Ignored);
                self.send_command(&Message::Command {
                    stream_id: 0,
                    name: "_checkbw".into(),
                    transaction_id: txn,
                    command_object: Amf0Value::Null,
                    args: vec![],
                })
            }
            "_onbwcheck" => {
                let count = self.extra.bw_checks;
                self.extra.bw_checks += 1;
                self.send_command(&Message::Command {
                    stream_id: 0,
                    name: "_result".into(),
                    transaction_id,
                    command_object: Amf0Value::Null,
                    args: vec![Amf0Value::Number(f64::from(count))],
                })
            }
            _ => Ok(()),
        }
    }
}
