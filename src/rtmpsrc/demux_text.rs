//! Text for rtmpsrc's messages: codec names for the "cannot play" warning, and data messages
//! (AMF values) as compact JSON-like text.

use std::fmt::Write as _;

use crate::flv::{CODEC_ID_AVC, SOUND_FORMAT_AAC, SOUND_FORMAT_MP3, SOUND_FORMAT_MP3_8K};
use crate::protocol::amf0::Amf0Value;

use super::demux::MAX_DATA_TEXT;

pub(super) fn video_codec_name(codec_id: u8) -> &'static str {
    match codec_id {
        2 => "Sorenson H.263",
        3 => "Screen video",
        4 => "On2 VP6",
        5 => "On2 VP6 with alpha",
        6 => "Screen video v2",
        CODEC_ID_AVC => "H.264",
        12 => "HEVC (non-standard id)",
        _ => "unknown",
    }
}

pub(super) fn sound_format_name(format: u8) -> &'static str {
    match format {
        0 | 3 => "linear PCM",
        1 => "ADPCM",
        SOUND_FORMAT_MP3 | SOUND_FORMAT_MP3_8K => "MP3",
        4..=6 => "Nellymoser",
        7 => "G.711 A-law",
        8 => "G.711 mu-law",
        SOUND_FORMAT_AAC => "AAC",
        11 => "Speex",
        _ => "unknown",
    }
}

pub(super) fn enhanced_name(packet_type: u8, fourcc: Option<[u8; 4]>) -> String {
    match fourcc {
        Some(f) => format!(
            "Enhanced RTMP codec '{}' (packet type {packet_type})",
            String::from_utf8_lossy(&f)
        ),
        None => format!("Enhanced RTMP multitrack packets (packet type {packet_type})"),
    }
}

/// AMF values as compact JSON-like text, cut to [`MAX_DATA_TEXT`] bytes.
pub fn amf_text(values: &[Amf0Value]) -> String {
    let mut out = String::new();
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_amf(&mut out, value);
        if out.len() > MAX_DATA_TEXT {
            break;
        }
    }
    if out.len() > MAX_DATA_TEXT {
        let mut cut = MAX_DATA_TEXT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

fn write_amf(out: &mut String, value: &Amf0Value) {
    // Stop early on huge values; the caller cuts the text anyway.
    if out.len() > MAX_DATA_TEXT {
        return;
    }
    match value {
        Amf0Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Amf0Value::Boolean(b) => {
            let _ = write!(out, "{b}");
        }
        Amf0Value::String(s) | Amf0Value::LongString(s) | Amf0Value::XmlDocument(s) => {
            let _ = write!(out, "{s:?}");
        }
        Amf0Value::Null => out.push_str("null"),
        Amf0Value::Undefined => out.push_str("undefined"),
        Amf0Value::Unsupported => out.push_str("unsupported"),
        Amf0Value::Reference(r) => {
            let _ = write!(out, "ref({r})");
        }
        Amf0Value::Date { millis, .. } => {
            let _ = write!(out, "date({millis})");
        }
        Amf0Value::Object(props) | Amf0Value::EcmaArray(props) => write_props(out, props),
        Amf0Value::TypedObject {
            class_name,
            properties,
        } => {
            let _ = write!(out, "{class_name:?}");
            write_props(out, properties);
        }
        Amf0Value::StrictArray(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_amf(out, item);
            }
            out.push(']');
        }
        Amf0Value::AvmPlus(v) => {
            let _ = write!(out, "{v:?}");
        }
    }
}

fn write_props(out: &mut String, props: &[(String, Amf0Value)]) {
    out.push('{');
    for (i, (key, value)) in props.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{key:?}: ");
        write_amf(out, value);
    }
    out.push('}');
}
