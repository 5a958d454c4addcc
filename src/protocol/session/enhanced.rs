//! Enhanced RTMP connect negotiation (enhanced-rtmp v2, "Enhancing NetConnection connect
//! Command").
//!
//! The client lists in its connect command object which FourCCs it handles (`fourCcList`, kept
//! for v1 servers, and `videoFourCcInfoMap`/`audioFourCcInfoMap` with CanDecode/CanEncode/
//! CanForward flags) and its extended capabilities (`capsEx`). The server answers the same
//! fields in its `_result`; the specification does not say in which of the answer's two
//! objects, so both are read. A server that sends none of them (nginx-rtmp, FFmpeg's
//! `-listen 1`) is a legacy server: [`PeerCodecs::from_objects`] gives `None` for it.

use crate::protocol::amf0::Amf0Value;

/// FourCCs we map both ways (`flv::codecs`, `flv::write`).
pub const VIDEO_FOURCCS: [&str; 4] = ["avc1", "hvc1", "av01", "vp09"];
pub const AUDIO_FOURCCS: [&str; 6] = ["mp4a", ".mp3", "Opus", "fLaC", "ac-3", "ec-3"];

/// FourCcInfoMask flags.
pub const CAN_DECODE: u32 = 1;
pub const CAN_ENCODE: u32 = 2;
pub const CAN_FORWARD: u32 = 4;

/// CapsExMask flags.
pub const CAPS_EX_RECONNECT: u32 = 1;
pub const CAPS_EX_MULTITRACK: u32 = 2;
pub const CAPS_EX_MOD_EX: u32 = 4;
pub const CAPS_EX_TIMESTAMP_NANO_OFFSET: u32 = 8;

fn info_map(fourccs: &[&str], flags: u32) -> Amf0Value {
    Amf0Value::Object(
        fourccs
            .iter()
            .map(|f| (f.to_string(), Amf0Value::Number(f64::from(flags))))
            .collect(),
    )
}

/// The fields one side adds to its connect object (client) or connect answer (server): every
/// FourCC we map, each with `flags`, and `caps_ex`.
pub fn connect_fields(flags: u32, caps_ex: u32) -> Vec<(String, Amf0Value)> {
    let list = VIDEO_FOURCCS
        .iter()
        .chain(AUDIO_FOURCCS.iter())
        .map(|f| Amf0Value::String(f.to_string()))
        .collect();
    vec![
        ("fourCcList".to_owned(), Amf0Value::StrictArray(list)),
        (
            "videoFourCcInfoMap".to_owned(),
            info_map(&VIDEO_FOURCCS, flags),
        ),
        (
            "audioFourCcInfoMap".to_owned(),
            info_map(&AUDIO_FOURCCS, flags),
        ),
        ("capsEx".to_owned(), Amf0Value::Number(f64::from(caps_ex))),
    ]
}

/// What the peer said about Enhanced RTMP.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PeerCodecs {
    /// `fourCcList` entries (`"*"` means any).
    pub list: Vec<String>,
    /// `videoFourCcInfoMap` / `audioFourCcInfoMap` entries with their flags.
    pub video: Vec<(String, u32)>,
    pub audio: Vec<(String, u32)>,
    pub caps_ex: u32,
}

fn flags(value: &Amf0Value) -> u32 {
    value
        .as_number()
        .filter(|n| n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX))
        .map_or(0, |n| n as u32)
}

fn read_map(value: &Amf0Value) -> Vec<(String, u32)> {
    value
        .properties()
        .map(|props| {
            props
                .iter()
                .map(|(name, value)| (name.clone(), flags(value)))
                .collect()
        })
        .unwrap_or_default()
}

impl PeerCodecs {
    /// Reads the negotiation fields of `objects` (the connect object, or the two objects of the
    /// answer); `None` when none has any of them.
    pub fn from_objects(objects: &[&Amf0Value]) -> Option<PeerCodecs> {
        let mut out = PeerCodecs::default();
        let mut found = false;
        for object in objects {
            if let Some(Amf0Value::StrictArray(items)) = object.get("fourCcList") {
                found = true;
                out.list
                    .extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned)));
            }
            if let Some(map) = object.get("videoFourCcInfoMap") {
                found = true;
                out.video.extend(read_map(map));
            }
            if let Some(map) = object.get("audioFourCcInfoMap") {
                found = true;
                out.audio.extend(read_map(map));
            }
            if let Some(caps) = object.get("capsEx") {
                found = true;
                out.caps_ex |= flags(caps);
            }
        }
        found.then_some(out)
    }

    /// Whether the peer listed `fourcc` (or the `"*"` wildcard) in `fourCcList` or in an info
    /// map with a non-zero flag.
    pub fn lists(&self, fourcc: [u8; 4]) -> bool {
        let name = String::from_utf8_lossy(&fourcc);
        let wildcard_or = |n: &str| n == "*" || n == name;
        self.list.iter().any(|n| wildcard_or(n))
            || self
                .video
                .iter()
                .chain(self.audio.iter())
                .any(|(n, f)| *f != 0 && wildcard_or(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::amf0;

    #[test]
    fn connect_fields_encode_as_the_specification_shows() {
        let fields = connect_fields(CAN_ENCODE, CAPS_EX_RECONNECT | CAPS_EX_MULTITRACK);
        let mut out = bytes::BytesMut::new();
        amf0::encode(&Amf0Value::Object(fields[3..].to_vec()), &mut out);
        // {capsEx: 3}
        assert_eq!(
            &out[..],
            b"\x03\x00\x06capsEx\x00\x40\x08\x00\x00\x00\x00\x00\x00\x00\x00\x09"
        );
        let mut out = bytes::BytesMut::new();
        amf0::encode(&fields[0].1, &mut out);
        // Strict array of 10 short strings, avc1 first.
        assert_eq!(&out[..13], b"\x0a\x00\x00\x00\x0a\x02\x00\x04avc1\x02");
        let peer = PeerCodecs::from_objects(&[&Amf0Value::Object(fields)]).unwrap();
        assert!(peer.lists(*b"hvc1") && peer.lists(*b"Opus") && peer.lists(*b"ec-3"));
        assert!(!peer.lists(*b"vvc1"));
        assert_eq!(peer.caps_ex, 3);
    }

    #[test]
    fn a_server_saying_nothing_is_legacy_and_a_wildcard_takes_anything() {
        let nginx = Amf0Value::Object(vec![
            ("fmsVer".into(), Amf0Value::String("FMS/3,0,1,123".into())),
            ("capabilities".into(), Amf0Value::Number(31.0)),
        ]);
        let info = Amf0Value::Object(vec![(
            "code".into(),
            Amf0Value::String("NetConnection.Connect.Success".into()),
        )]);
        assert_eq!(PeerCodecs::from_objects(&[&nginx, &info]), None);
        let star = Amf0Value::Object(vec![(
            "fourCcList".into(),
            Amf0Value::StrictArray(vec![Amf0Value::String("*".into())]),
        )]);
        assert!(
            PeerCodecs::from_objects(&[&nginx, &star])
                .unwrap()
                .lists(*b"av01")
        );
        // An info map entry with no flag set does not count; an ECMA array is read as well.
        let map = Amf0Value::Object(vec![(
            "videoFourCcInfoMap".into(),
            Amf0Value::EcmaArray(vec![
                ("hvc1".into(), Amf0Value::Number(0.0)),
                ("av01".into(), Amf0Value::Number(5.0)),
            ]),
        )]);
        let peer = PeerCodecs::from_objects(&[&map]).unwrap();
        assert!(!peer.lists(*b"hvc1"));
        assert!(peer.lists(*b"av01"));
    }
}
