//! The commands a client sends, and the server's own answers to those that need no decision.

use super::{
    ServerError, ServerEvent, ServerSession, ServerState, StreamRole, answers, string_arg,
};
use crate::protocol::amf0::Amf0Value;

/// Longest command name echoed back in an `_error` description.
const MAX_ECHOED_NAME: usize = 64;

impl ServerSession {
    pub(super) fn handle_command(
        &mut self,
        stream_id: u32,
        name: &str,
        transaction_id: f64,
        command_object: Amf0Value,
        args: Vec<Amf0Value>,
    ) -> Result<(), ServerError> {
        match (self.state, name) {
            (ServerState::AwaitingConnect, "connect") => {
                self.connect_requested(transaction_id, command_object);
                return Ok(());
            }
            (_, "connect") => return Err(ServerError::DuplicateConnect),
            (ServerState::Connected, _) => {}
            _ => {
                return Err(ServerError::BeforeConnect(format!(
                    "the command {}",
                    truncated(name)
                )));
            }
        }
        match name {
            "createStream" => self.create_stream(transaction_id),
            "releaseStream" | "_checkbw" => self.answer(transaction_id, vec![]),
            // A live stream has no length; FFmpeg asks before playing.
            "getStreamLength" => self.answer(transaction_id, vec![Amf0Value::Number(0.0)]),
            "FCPublish" => {
                let stream = string_arg(&args, 0).unwrap_or_default();
                let answer = answers::on_fc("onFCPublish", "NetStream.Publish.Start", stream);
                self.send_command(&answer)
            }
            "FCUnpublish" => {
                let stream = string_arg(&args, 0).unwrap_or_default().to_owned();
                self.fc_unpublish(&stream);
                let answer =
                    answers::on_fc("onFCUnpublish", "NetStream.Unpublish.Success", &stream);
                self.send_command(&answer)
            }
            "FCSubscribe" => {
                let stream = string_arg(&args, 0).unwrap_or_default();
                let answer = answers::on_fc("onFCSubscribe", "NetStream.Play.Start", stream);
                self.send_command(&answer)
            }
            "deleteStream" => {
                let id = args.first().and_then(Amf0Value::as_number);
                if let Some(id) = id.filter(|id| *id >= 0.0 && *id <= f64::from(u32::MAX)) {
                    let id = id as u32;
                    let role = self.streams.remove(&id);
                    self.stream_ended(id, role);
                }
                Ok(())
            }
            "closeStream" => {
                if let Some(role) = self.streams.get_mut(&stream_id) {
                    let role = std::mem::replace(role, StreamRole::Idle);
                    self.stream_ended(stream_id, Some(role));
                }
                Ok(())
            }
            "publish" => self.publish(stream_id, &args),
            "play" => self.play(stream_id, &args),
            "pause" => self.pause(stream_id, &args),
            // No answer expected: receiveAudio/receiveVideo, seek, answers to our onBWDone...
            _ if transaction_id == 0.0 => Ok(()),
            "_result" | "_error" => Ok(()),
            _ => {
                let description = format!("unknown command {}", truncated(name));
                self.send_command(&answers::call_failed(transaction_id, &description))
            }
        }
    }

    fn connect_requested(&mut self, transaction_id: f64, object: Amf0Value) {
        let field = |key: &str| {
            object
                .get(key)
                .and_then(Amf0Value::as_str)
                .map(str::to_owned)
        };
        let app = field("app").unwrap_or_default();
        let tc_url = field("tcUrl");
        let flash_ver = field("flashVer");
        // AMF3 clients say 3; the answer echoes it, as nginx-rtmp does.
        self.object_encoding = match object.get("objectEncoding").and_then(Amf0Value::as_number) {
            Some(3.0) => 3.0,
            _ => 0.0,
        };
        self.connect_transaction = transaction_id;
        self.state = ServerState::ConnectRequested;
        self.events.push_back(ServerEvent::ConnectRequest {
            app,
            tc_url,
            flash_ver,
            object,
        });
    }

    fn answer(&mut self, transaction_id: f64, values: Vec<Amf0Value>) -> Result<(), ServerError> {
        if transaction_id == 0.0 {
            return Ok(());
        }
        self.send_command(&answers::result(transaction_id, values))
    }

    fn create_stream(&mut self, transaction_id: f64) -> Result<(), ServerError> {
        let id = self.next_stream_id;
        if self.streams.len() >= self.config.max_streams as usize || id == u32::MAX {
            let description = format!("at most {} streams", self.config.max_streams);
            return self.send_command(&answers::call_failed(transaction_id, &description));
        }
        self.next_stream_id += 1;
        self.streams.insert(id, StreamRole::Idle);
        self.send_command(&answers::result(
            transaction_id,
            vec![Amf0Value::Number(f64::from(id))],
        ))
    }

    /// Ends the publishing of `stream` on whichever stream publishes it.
    fn fc_unpublish(&mut self, stream: &str) {
        let ended: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, role)| match role {
                StreamRole::PublishRequested { name } | StreamRole::Publishing { name } => {
                    name == stream
                }
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ended {
            if let Some(role) = self.streams.insert(id, StreamRole::Idle) {
                self.stream_ended(id, Some(role));
            }
        }
    }

    fn publish(&mut self, stream_id: u32, args: &[Amf0Value]) -> Result<(), ServerError> {
        if let Some(description) = self.not_idle(stream_id) {
            let status =
                answers::on_status(stream_id, "error", "NetStream.Publish.Failed", &description);
            return self.send_command(&status);
        }
        let Some(name) = string_arg(args, 0).filter(|n| !n.is_empty()) else {
            let status = answers::on_status(
                stream_id,
                "error",
                "NetStream.Publish.BadName",
                "no stream name",
            );
            return self.send_command(&status);
        };
        let name = name.to_owned();
        let publish_type = string_arg(args, 1).unwrap_or("live").to_owned();
        self.streams.insert(
            stream_id,
            StreamRole::PublishRequested { name: name.clone() },
        );
        self.events.push_back(ServerEvent::PublishRequest {
            stream_id,
            name,
            publish_type,
        });
        Ok(())
    }

    fn play(&mut self, stream_id: u32, args: &[Amf0Value]) -> Result<(), ServerError> {
        if let Some(description) = self.not_idle(stream_id) {
            let status =
                answers::on_status(stream_id, "error", "NetStream.Play.Failed", &description);
            return self.send_command(&status);
        }
        let name = string_arg(args, 0).unwrap_or_default().to_owned();
        let start = args.get(1).and_then(Amf0Value::as_number).unwrap_or(-2.0);
        self.streams.insert(stream_id, StreamRole::PlayRequested);
        self.events.push_back(ServerEvent::PlayRequest {
            stream_id,
            name,
            start,
        });
        Ok(())
    }

    /// Pause and resume of a played stream: reported, and answered as nginx-rtmp does.
    fn pause(&mut self, stream_id: u32, args: &[Amf0Value]) -> Result<(), ServerError> {
        if self.streams.get(&stream_id) != Some(&StreamRole::Playing) {
            return Ok(());
        }
        let pause = args.first().and_then(Amf0Value::as_bool).unwrap_or(true);
        let ms = args.get(1).and_then(Amf0Value::as_number).unwrap_or(0.0);
        let (code, description) = if pause {
            ("NetStream.Pause.Notify", "Paused live")
        } else {
            ("NetStream.Unpause.Notify", "Unpaused live")
        };
        self.send_command(&answers::on_status(stream_id, "status", code, description))?;
        self.events.push_back(ServerEvent::Pause {
            stream_id,
            pause,
            ms,
        });
        Ok(())
    }

    /// Why `stream_id` cannot take a publish or play now, if it cannot.
    fn not_idle(&self, stream_id: u32) -> Option<String> {
        match self.streams.get(&stream_id) {
            Some(StreamRole::Idle) => None,
            Some(_) => Some(format!("stream {stream_id} is busy")),
            None => Some(format!("stream {stream_id} was not created")),
        }
    }
}

fn truncated(name: &str) -> &str {
    match name.char_indices().nth(MAX_ECHOED_NAME) {
        Some((end, _)) => &name[..end],
        None => name,
    }
}
