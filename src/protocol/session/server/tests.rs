//! The server session against the client session, in memory: what one sends the other
//! understands, and every refusal reaches the client as the error it already knows.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::protocol::amf0::{self, Amf0Value};
use crate::protocol::command::Status;
use crate::protocol::handshake::HandshakeMode;
use crate::protocol::session::{
    ClientConfig, ClientSession, DEFAULT_WINDOW_ACK_SIZE, SessionError, SessionEvent, SessionMode,
    SessionState, StopCommands,
};

mod answers_bytes;
mod limits;
mod raw_client;

/// A client and a server session joined by in-memory pipes.
pub(super) struct Pair {
    pub client: ClientSession,
    pub server: ServerSession,
    pub client_events: Vec<SessionEvent>,
    pub server_events: Vec<ServerEvent>,
}

impl Pair {
    pub fn new(config: ClientConfig) -> Self {
        Pair {
            client: ClientSession::new(config, 0, &[0x11; 1528]),
            server: ServerSession::new(ServerConfig::default(), 0, &[0x22; 3032]),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Moves bytes both ways until neither side has anything to send. A client error ends it.
    pub fn pump(&mut self) -> Result<(), SessionError> {
        loop {
            let mut moved = false;
            let mut parts = VecDeque::new();
            self.client.take_output(&mut parts);
            if !parts.is_empty() {
                moved = true;
                self.server.handle_input(&concat(&parts)).unwrap();
                self.server_events
                    .extend(std::iter::from_fn(|| self.server.poll_event()));
            }
            let mut parts = VecDeque::new();
            self.server.take_output(&mut parts);
            if !parts.is_empty() {
                moved = true;
                self.client.handle_input(&concat(&parts))?;
                self.client_events
                    .extend(std::iter::from_fn(|| self.client.poll_event()));
            }
            if !moved {
                return Ok(());
            }
        }
    }

    pub fn take_server_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.server_events)
    }

    pub fn take_client_events(&mut self) -> Vec<SessionEvent> {
        std::mem::take(&mut self.client_events)
    }

    /// Runs up to the connect request and accepts it.
    pub fn connect(&mut self) {
        self.pump().unwrap();
        let events = self.take_server_events();
        assert!(
            matches!(events.as_slice(), [ServerEvent::ConnectRequest { app, .. }] if app == "live"),
            "{events:?}"
        );
        assert_eq!(self.server.state(), ServerState::ConnectRequested);
        self.server.accept_connect().unwrap();
        self.pump().unwrap();
        assert_eq!(self.server.state(), ServerState::Connected);
    }
}

pub(super) fn concat(parts: &VecDeque<Bytes>) -> Vec<u8> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

pub(super) fn publish_config(stream: &str) -> ClientConfig {
    ClientConfig::new(
        "live",
        "rtmp://127.0.0.1/live",
        SessionMode::Publish {
            stream: stream.into(),
            publish_type: "live".into(),
        },
    )
}

pub(super) fn play_config(stream: &str) -> ClientConfig {
    let mut config = ClientConfig::new(
        "live",
        "rtmp://127.0.0.1/live",
        SessionMode::Play {
            stream: stream.into(),
            start: -2.0,
            buffer_ms: 1000,
        },
    );
    config.query_stream_length = true;
    config
}

fn encode(values: &[Amf0Value]) -> Bytes {
    let mut out = BytesMut::new();
    for value in values {
        amf0::encode(value, &mut out);
    }
    out.freeze()
}

#[test]
fn connect_request_carries_app_tc_url_and_flash_ver() {
    let mut config = publish_config("key");
    config.flash_ver = Some("FMLE/3.0 (compatible; FMSc/1.0)".into());
    let mut pair = Pair::new(config);
    pair.pump().unwrap();
    match pair.take_server_events().as_slice() {
        [
            ServerEvent::ConnectRequest {
                app,
                tc_url,
                flash_ver,
                object,
            },
        ] => {
            assert_eq!(app, "live");
            assert_eq!(tc_url.as_deref(), Some("rtmp://127.0.0.1/live"));
            assert_eq!(
                flash_ver.as_deref(),
                Some("FMLE/3.0 (compatible; FMSc/1.0)")
            );
            assert_eq!(
                object.get("type").and_then(Amf0Value::as_str),
                Some("nonprivate")
            );
        }
        other => panic!("{other:?}"),
    }
    // Nothing is answered before the application decides.
    assert!(!pair.server.has_output());
    assert_eq!(pair.client.state(), SessionState::Connecting);
}

#[test]
fn publish_flow_delivers_media_data_and_the_end() {
    let mut pair = Pair::new(publish_config("key?token=1"));
    pair.connect();
    let info = pair.take_client_events();
    match info.as_slice() {
        [SessionEvent::Connected(info)] => {
            let status = Status::from_args(std::slice::from_ref(info)).unwrap();
            assert_eq!(status.code, "NetConnection.Connect.Success");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pair.take_server_events(),
        vec![ServerEvent::PublishRequest {
            stream_id: 1,
            name: "key?token=1".into(),
            publish_type: "live".into(),
        }]
    );
    pair.server.accept_publish(1).unwrap();
    pair.pump().unwrap();
    assert_eq!(
        pair.take_client_events(),
        vec![SessionEvent::PublishStarted]
    );
    assert_eq!(pair.client.state(), SessionState::Publishing);
    // The client follows our 4096-byte chunks and our window.
    let stats = pair.client.stats();
    assert_eq!(stats.in_chunk_size, 4096);
    assert_eq!(stats.in_window_ack_size, DEFAULT_WINDOW_ACK_SIZE);

    let metadata = [
        Amf0Value::String("@setDataFrame".into()),
        Amf0Value::String("onMetaData".into()),
        Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(320.0))]),
    ];
    pair.client.send_data(0, encode(&metadata)).unwrap();
    let keyframe = Bytes::from(vec![0x17; 10_000]);
    pair.client.send_video(40, keyframe.clone()).unwrap();
    pair.client
        .send_audio(0xFF_FFFF + 5, Bytes::from_static(&[0xaf, 1, 2, 3]))
        .unwrap();
    pair.pump().unwrap();
    assert_eq!(
        pair.take_server_events(),
        vec![
            ServerEvent::Data {
                stream_id: 1,
                timestamp: 0,
                values: metadata.to_vec(),
            },
            ServerEvent::Media {
                stream_id: 1,
                kind: MediaKind::Video,
                timestamp: 40,
                payload: keyframe,
            },
            ServerEvent::Media {
                stream_id: 1,
                kind: MediaKind::Audio,
                timestamp: 0xFF_FFFF + 5,
                payload: Bytes::from_static(&[0xaf, 1, 2, 3]),
            },
        ]
    );

    // FCUnpublish then deleteStream: one end.
    pair.client.close(StopCommands::default());
    pair.pump().unwrap();
    assert_eq!(
        pair.take_server_events(),
        vec![ServerEvent::PublishEnded { stream_id: 1 }]
    );
}

#[test]
fn publish_ended_by_close_stream_alone() {
    let mut pair = Pair::new(publish_config("key"));
    pair.connect();
    pair.take_server_events();
    pair.server.accept_publish(1).unwrap();
    pair.pump().unwrap();
    pair.client.close(StopCommands {
        fc_unpublish: false,
        close_stream: true,
        delete_stream: true,
    });
    pair.pump().unwrap();
    assert_eq!(
        pair.take_server_events(),
        vec![ServerEvent::PublishEnded { stream_id: 1 }]
    );
}

#[test]
fn play_flow_delivers_play_start_media_and_end() {
    let mut pair = Pair::new(play_config("key"));
    pair.connect();
    assert_eq!(
        pair.take_server_events(),
        vec![ServerEvent::PlayRequest {
            stream_id: 1,
            name: "key".into(),
            start: -2.0,
        }]
    );
    pair.server.accept_play(1).unwrap();
    pair.pump().unwrap();
    let events = pair.take_client_events();
    assert!(events.contains(&SessionEvent::PlayStarted), "{events:?}");
    assert!(events.contains(&SessionEvent::StreamBegin), "{events:?}");
    assert_eq!(pair.client.state(), SessionState::Playing);

    let metadata = [
        Amf0Value::String("onMetaData".into()),
        Amf0Value::EcmaArray(vec![("duration".into(), Amf0Value::Number(0.0))]),
    ];
    pair.server.send_data(1, 0, encode(&metadata)).unwrap();
    let header = Bytes::from_static(&[0x17, 0, 0, 0, 0]);
    let frame = Bytes::from(vec![0x55; 9000]);
    let payload = Payload::from_parts([header.clone(), frame.clone()]);
    pair.server.send_video(1, 33, payload).unwrap();
    pair.server
        .send_audio(1, 40, Bytes::from_static(&[0xaf, 1, 9]))
        .unwrap();
    pair.pump().unwrap();
    let whole: Bytes = [header, frame].concat().into();
    assert_eq!(
        pair.take_client_events(),
        vec![
            SessionEvent::Data {
                timestamp: 0,
                values: metadata.to_vec(),
            },
            SessionEvent::Media {
                kind: MediaKind::Video,
                timestamp: 33,
                payload: whole,
            },
            SessionEvent::Media {
                kind: MediaKind::Audio,
                timestamp: 40,
                payload: Bytes::from_static(&[0xaf, 1, 9]),
            },
        ]
    );

    pair.server.end_play(1).unwrap();
    pair.pump().unwrap();
    let events = pair.take_client_events();
    assert_eq!(events.first(), Some(&SessionEvent::StreamEof));
    assert!(matches!(
        events.get(1),
        Some(SessionEvent::Status(status)) if status.code == "NetStream.Play.UnpublishNotify"
    ));
    assert_eq!(
        pair.server.send_audio(1, 50, Bytes::from_static(&[0xaf])),
        Err(ServerError::NotPlaying(1))
    );
    // The player leaves: deleteStream.
    pair.client.close(StopCommands::default());
    pair.pump().unwrap();
    assert!(pair.take_server_events().is_empty());
}

#[test]
fn player_leaving_is_reported() {
    let mut pair = Pair::new(play_config("key"));
    pair.connect();
    pair.take_server_events();
    pair.server.accept_play(1).unwrap();
    pair.pump().unwrap();
    pair.client.close(StopCommands::default());
    pair.pump().unwrap();
    assert_eq!(
        pair.take_server_events(),
        vec![ServerEvent::PlayEnded { stream_id: 1 }]
    );
}

#[test]
fn pause_is_reported_and_answered() {
    let mut pair = Pair::new(play_config("key"));
    pair.connect();
    pair.take_server_events();
    pair.server.accept_play(1).unwrap();
    pair.pump().unwrap();
    pair.take_client_events();
    pair.client.pause(true, 1234).unwrap();
    pair.pump().unwrap();
    assert_eq!(
        pair.take_server_events(),
        vec![ServerEvent::Pause {
            stream_id: 1,
            pause: true,
            ms: 1234.0
        }]
    );
    assert!(matches!(
        pair.take_client_events().as_slice(),
        [SessionEvent::Status(s)] if s.code == "NetStream.Pause.Notify"
    ));
}

#[test]
fn rejected_publish_is_bad_name_at_the_client() {
    let mut pair = Pair::new(publish_config("key"));
    pair.connect();
    pair.take_server_events();
    pair.server
        .reject_publish(1, "NetStream.Publish.BadName", "key is taken")
        .unwrap();
    assert_eq!(
        pair.pump(),
        Err(SessionError::PublishBadName("key is taken".into()))
    );
    // Deciding twice is the application's mistake, reported as such.
    assert_eq!(
        pair.server.accept_publish(1),
        Err(ServerError::NoRequest {
            request: "publish",
            stream_id: 1
        })
    );
}

#[test]
fn rejected_play_is_stream_not_found_at_the_client() {
    let mut pair = Pair::new(play_config("nothing"));
    pair.connect();
    pair.take_server_events();
    pair.server
        .reject_play(1, "NetStream.Play.StreamNotFound", "no such stream")
        .unwrap();
    assert_eq!(
        pair.pump(),
        Err(SessionError::StreamNotFound("no such stream".into()))
    );
}

#[test]
fn rejected_connect_is_connect_rejected_at_the_client() {
    let mut pair = Pair::new(publish_config("key"));
    pair.pump().unwrap();
    pair.take_server_events();
    pair.server.reject_connect("unknown application").unwrap();
    assert_eq!(pair.server.state(), ServerState::Closed);
    assert_eq!(
        pair.pump(),
        Err(SessionError::ConnectRejected {
            code: "NetConnection.Connect.Rejected".into(),
            description: "unknown application".into(),
        })
    );
}

#[test]
fn digest_handshake_client_is_answered_in_digest_form() {
    let mut config = publish_config("key");
    config.handshake = HandshakeMode::Digest;
    let mut pair = Pair::new(config);
    pair.connect();
    assert!(matches!(
        pair.server.handshake_form(),
        Some(ServerHandshakeForm::Digest { .. })
    ));
    assert_eq!(pair.take_server_events().len(), 1);
}

#[test]
fn client_pings_and_acknowledgements_flow() {
    let mut pair = Pair::new(publish_config("key"));
    pair.connect();
    pair.take_server_events();
    pair.server.accept_publish(1).unwrap();
    pair.pump().unwrap();
    // More than a window of media: the server acknowledges it by the client's window.
    let frame = Bytes::from(vec![0x27; 100_000]);
    for i in 0..30 {
        pair.client.send_video(i * 40, frame.clone()).unwrap();
        pair.pump().unwrap();
    }
    let stats = pair.server.stats();
    assert!(stats.in_bytes_total > 3_000_000);
    assert!(stats.in_bytes_acked >= 2_500_000, "{stats:?}");
    assert!(pair.client.stats().out_bytes_acked >= 2_500_000);
    assert_eq!(pair.take_server_events().len(), 30);
}
