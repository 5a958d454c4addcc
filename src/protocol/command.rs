//! Builders and parsers for the NetConnection and NetStream commands a client exchanges with a server.
//!
//! Field choices follow what servers are known to accept from FFmpeg, OBS and GStreamer's rtmp2:
//! publishers send `type: "nonprivate"`; players announce codec capabilities with FFmpeg's numbers.

use super::amf0::Amf0Value;
use super::message::Message;

/// Whether a connection will publish or play; it shapes the connect command object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectPurpose {
    Publish,
    Play,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectParams {
    pub app: String,
    pub tc_url: String,
    /// `None` leaves `flashVer` out (rtmp2 does the same when unset).
    pub flash_ver: Option<String>,
    pub swf_url: Option<String>,
    pub page_url: Option<String>,
    pub purpose: ConnectPurpose,
    /// Extra arguments appended after the command object (see [`parse_extra_connect_args`]).
    pub extra_args: Vec<Amf0Value>,
    /// Fields appended to the command object: Enhanced RTMP's `fourCcList`,
    /// `videoFourCcInfoMap`, `audioFourCcInfoMap` and `capsEx`.
    pub extra_fields: Vec<(String, Amf0Value)>,
}

fn string(s: &str) -> Amf0Value {
    Amf0Value::String(s.to_owned())
}

fn command(name: &str, transaction_id: f64, args: Vec<Amf0Value>) -> Message {
    Message::Command {
        stream_id: 0,
        name: name.to_owned(),
        transaction_id,
        command_object: Amf0Value::Null,
        args,
    }
}

/// `connect(transaction_id, {app, type, flashVer, swfUrl, tcUrl, ...}, extra...)`.
pub fn connect(transaction_id: f64, params: &ConnectParams) -> Message {
    let mut object = vec![("app".to_owned(), string(&params.app))];
    if params.purpose == ConnectPurpose::Publish {
        object.push(("type".to_owned(), string("nonprivate")));
    }
    if let Some(flash_ver) = &params.flash_ver {
        object.push(("flashVer".to_owned(), string(flash_ver)));
    }
    if let Some(swf_url) = &params.swf_url {
        object.push(("swfUrl".to_owned(), string(swf_url)));
    }
    object.push(("tcUrl".to_owned(), string(&params.tc_url)));
    if params.purpose == ConnectPurpose::Play {
        // FFmpeg's values: all audio codecs, H.264 and the older video codecs, seek support.
        object.extend([
            ("fpad".to_owned(), Amf0Value::Boolean(false)),
            ("capabilities".to_owned(), Amf0Value::Number(15.0)),
            ("audioCodecs".to_owned(), Amf0Value::Number(4071.0)),
            ("videoCodecs".to_owned(), Amf0Value::Number(252.0)),
            ("videoFunction".to_owned(), Amf0Value::Number(1.0)),
        ]);
        if let Some(page_url) = &params.page_url {
            object.push(("pageUrl".to_owned(), string(page_url)));
        }
    }
    object.extend(params.extra_fields.iter().cloned());
    Message::Command {
        stream_id: 0,
        name: "connect".to_owned(),
        transaction_id,
        command_object: Amf0Value::Object(object),
        args: params.extra_args.clone(),
    }
}

pub fn release_stream(transaction_id: f64, stream: &str) -> Message {
    command("releaseStream", transaction_id, vec![string(stream)])
}

pub fn fc_publish(transaction_id: f64, stream: &str) -> Message {
    command("FCPublish", transaction_id, vec![string(stream)])
}

pub fn fc_unpublish(transaction_id: f64, stream: &str) -> Message {
    command("FCUnpublish", transaction_id, vec![string(stream)])
}

pub fn create_stream(transaction_id: f64) -> Message {
    command("createStream", transaction_id, vec![])
}

pub fn delete_stream(transaction_id: f64, stream_id: u32) -> Message {
    command(
        "deleteStream",
        transaction_id,
        vec![Amf0Value::Number(f64::from(stream_id))],
    )
}

/// NetStream commands go on the media stream, with transaction id 0 where no answer is expected.
fn stream_command(stream_id: u32, name: &str, args: Vec<Amf0Value>) -> Message {
    Message::Command {
        stream_id,
        name: name.to_owned(),
        transaction_id: 0.0,
        command_object: Amf0Value::Null,
        args,
    }
}

pub fn publish(stream_id: u32, stream: &str, publish_type: &str) -> Message {
    stream_command(
        stream_id,
        "publish",
        vec![string(stream), string(publish_type)],
    )
}

/// `start`: -2 plays live or recorded, -1 live only, >= 0 a recording from that second.
pub fn play(stream_id: u32, stream: &str, start: f64) -> Message {
    stream_command(
        stream_id,
        "play",
        vec![string(stream), Amf0Value::Number(start)],
    )
}

/// Moves a recorded stream to `ms` milliseconds (the server answers `NetStream.Seek.Notify`).
pub fn seek(stream_id: u32, ms: f64) -> Message {
    stream_command(stream_id, "seek", vec![Amf0Value::Number(ms)])
}

/// Pauses (`pause` true) or resumes a recorded stream; `ms` is where the client is, as Flash
/// Player and FFmpeg send it.
pub fn pause(stream_id: u32, pause: bool, ms: f64) -> Message {
    stream_command(
        stream_id,
        "pause",
        vec![Amf0Value::Boolean(pause), Amf0Value::Number(ms)],
    )
}

/// Asks for a recording's length in seconds (FMS, Wowza and Red5 answer with `_result`),
/// as FFmpeg does before `play` unless it only wants a live stream.
pub fn get_stream_length(transaction_id: f64, stream: &str) -> Message {
    command("getStreamLength", transaction_id, vec![string(stream)])
}

pub fn close_stream(stream_id: u32) -> Message {
    stream_command(stream_id, "closeStream", vec![])
}

/// The information object of an `onStatus` or `_error`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub level: String,
    pub code: String,
    pub description: String,
}

impl Status {
    /// Reads the first object among `args` that has a `code` or `level` field.
    pub fn from_args(args: &[Amf0Value]) -> Option<Status> {
        let info = args
            .iter()
            .find(|a| a.get("code").is_some() || a.get("level").is_some())?;
        let field = |key: &str| {
            info.get(key)
                .and_then(Amf0Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Some(Status {
            level: field("level"),
            code: field("code"),
            description: field("description"),
        })
    }

    pub fn is_error(&self) -> bool {
        self.level == "error"
    }
}

/// Longest extra connect argument string accepted. Real ones are a few dozen bytes; the connect
/// command they join must stay far below RTMP's 16 MiB message length.
pub const MAX_EXTRA_CONNECT_ARGS_LEN: usize = 64 * 1024;

/// Arguments are named by position (from 1), never by text: they may carry tokens.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ExtraArgsError {
    #[error(
        "extra connect arguments of {0} bytes are longer than the {MAX_EXTRA_CONNECT_ARGS_LEN} allowed"
    )]
    TooLong(usize),
    #[error("extra connect argument {0} is not of the form conn=TYPE:VALUE")]
    Malformed(usize),
    #[error("extra connect argument {0} has an invalid number")]
    BadNumber(usize),
    #[error("extra connect argument {0}: type must be B, N, S or Z (objects are not supported)")]
    UnsupportedType(usize),
}

/// Parses librtmp-style extra connect arguments as rtmp2 accepts them:
/// `conn=B:1 conn=N:1.5 conn=S:text conn=Z:` (boolean, number, string, null), separated by spaces.
pub fn parse_extra_connect_args(spec: &str) -> Result<Vec<Amf0Value>, ExtraArgsError> {
    if spec.len() > MAX_EXTRA_CONNECT_ARGS_LEN {
        return Err(ExtraArgsError::TooLong(spec.len()));
    }
    spec.split_whitespace()
        .zip(1..)
        .map(|(item, position)| {
            let (kind, value) = item
                .strip_prefix("conn=")
                .and_then(|body| body.split_once(':'))
                .ok_or(ExtraArgsError::Malformed(position))?;
            match kind {
                "B" => Ok(Amf0Value::Boolean(value != "0" && !value.is_empty())),
                "N" => value
                    .parse::<f64>()
                    .map(Amf0Value::Number)
                    .map_err(|_| ExtraArgsError::BadNumber(position)),
                "S" => Ok(Amf0Value::String(value.to_owned())),
                "Z" => Ok(Amf0Value::Null),
                _ => Err(ExtraArgsError::UnsupportedType(position)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_connect_object_has_type_nonprivate_and_no_play_fields() {
        let params = ConnectParams {
            app: "live".into(),
            tc_url: "rtmp://h/live".into(),
            flash_ver: Some("FMLE/3.0".into()),
            swf_url: None,
            page_url: None,
            purpose: ConnectPurpose::Publish,
            extra_args: vec![],
            extra_fields: vec![],
        };
        let Message::Command {
            name,
            transaction_id,
            command_object,
            ..
        } = connect(1.0, &params)
        else {
            panic!("not a command")
        };
        assert_eq!(name, "connect");
        assert_eq!(transaction_id, 1.0);
        let keys: Vec<_> = command_object
            .properties()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["app", "type", "flashVer", "tcUrl"]);
    }

    #[test]
    fn play_connect_object_announces_codecs() {
        let params = ConnectParams {
            app: "vod".into(),
            tc_url: "rtmp://h/vod".into(),
            flash_ver: None,
            swf_url: None,
            page_url: None,
            purpose: ConnectPurpose::Play,
            extra_args: vec![Amf0Value::Boolean(true)],
            extra_fields: vec![],
        };
        let Message::Command {
            command_object,
            args,
            ..
        } = connect(1.0, &params)
        else {
            panic!("not a command")
        };
        assert_eq!(command_object.get("flashVer"), None);
        assert_eq!(
            command_object.get("videoCodecs"),
            Some(&Amf0Value::Number(252.0))
        );
        assert_eq!(args, vec![Amf0Value::Boolean(true)]);
    }

    fn encoded(message: &Message) -> (u32, String) {
        let raw = message.to_raw(0, 1);
        let hex: String = raw.payload.iter().map(|b| format!("{b:02x}")).collect();
        (raw.stream_id, hex)
    }

    #[test]
    fn seek_and_pause_encode_as_flash_player_sends_them() {
        // "seek", 0, null, 10000 on the media stream.
        assert_eq!(
            encoded(&seek(1, 10000.0)),
            (
                1,
                "0200047365656b".to_owned() + "000000000000000000" + "05" + "0040c3880000000000"
            )
        );
        // "pause", 0, null, true, 5000.
        assert_eq!(
            encoded(&pause(1, true, 5000.0)),
            (
                1,
                "0200057061757365".to_owned()
                    + "000000000000000000"
                    + "05"
                    + "0101"
                    + "0040b3880000000000"
            )
        );
        // "getStreamLength", 2, null, "talk.flv" on the connection's stream 0.
        let Message::Command { stream_id, .. } = get_stream_length(2.0, "talk.flv") else {
            panic!("not a command")
        };
        assert_eq!(stream_id, 0);
        assert_eq!(
            encoded(&get_stream_length(2.0, "talk.flv")).1,
            "02000f67657453747265616d4c656e677468".to_owned()
                + "004000000000000000"
                + "05"
                + "020008"
                + "74616c6b2e666c76"
        );
    }

    #[test]
    fn status_is_read_from_the_info_object() {
        let info = Amf0Value::Object(vec![
            ("level".into(), Amf0Value::String("error".into())),
            (
                "code".into(),
                Amf0Value::String("NetStream.Publish.BadName".into()),
            ),
            (
                "description".into(),
                Amf0Value::String("Already publishing".into()),
            ),
        ]);
        let status = Status::from_args(&[Amf0Value::Null, info]).unwrap();
        assert!(status.is_error());
        assert_eq!(status.code, "NetStream.Publish.BadName");
        assert_eq!(status.description, "Already publishing");
        assert_eq!(Status::from_args(&[Amf0Value::Null]), None);
    }

    #[test]
    fn extra_connect_args_parse_like_librtmp() {
        assert_eq!(
            parse_extra_connect_args("conn=B:1 conn=N:1.5 conn=S:hello conn=Z:").unwrap(),
            vec![
                Amf0Value::Boolean(true),
                Amf0Value::Number(1.5),
                Amf0Value::String("hello".into()),
                Amf0Value::Null
            ]
        );
        assert!(matches!(
            parse_extra_connect_args("conn=N:abc"),
            Err(ExtraArgsError::BadNumber(_))
        ));
        assert!(matches!(
            parse_extra_connect_args("B:1"),
            Err(ExtraArgsError::Malformed(_))
        ));
        assert!(matches!(
            parse_extra_connect_args("conn=O:1"),
            Err(ExtraArgsError::UnsupportedType(_))
        ));
        // Errors name the argument by position: its text may be a token.
        let err = parse_extra_connect_args("conn=S:ok conn=X:TOKEN456").unwrap_err();
        assert_eq!(err, ExtraArgsError::UnsupportedType(2));
        assert!(!err.to_string().contains("TOKEN456"), "{err}");
        let err = parse_extra_connect_args("conn=N:TOKEN456").unwrap_err();
        assert!(!err.to_string().contains("TOKEN456"), "{err}");
        let err = parse_extra_connect_args("TOKEN456").unwrap_err();
        assert!(!err.to_string().contains("TOKEN456"), "{err}");
        // Far beyond any real use, and a connect command too large to send.
        let mut long = "conn=S:".to_owned();
        long.extend(std::iter::repeat_n(
            'x',
            MAX_EXTRA_CONNECT_ARGS_LEN - long.len(),
        ));
        assert!(parse_extra_connect_args(&long).is_ok());
        long.push('x');
        assert_eq!(
            parse_extra_connect_args(&long),
            Err(ExtraArgsError::TooLong(MAX_EXTRA_CONNECT_ARGS_LEN + 1))
        );
    }
}
