//! `enhanced-codec-check`: each Enhanced RTMP FourCC rtmpsink sends is checked once against
//! what the server's connect answer listed (`fourCcList`, the FourCC info maps). A server that
//! lists none (nginx-rtmp, FFmpeg's `-listen 1`, most servers today) may still relay the codec,
//! so by default this is a warning; `error` refuses to send it, `off` says nothing.

use super::EnhancedCodecCheck;
use super::link::Tag;
use crate::flv::TagType;
use crate::flv::write::extended_fourcc;
use crate::protocol::session::enhanced::PeerCodecs;

/// What to tell the application about one FourCC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Warn(String),
    Refuse(String),
}

#[derive(Debug, Default)]
pub struct CodecCheck {
    mode: EnhancedCodecCheck,
    /// Seen in tags, not judged yet (the connect answer had not come).
    pending: Vec<[u8; 4]>,
    judged: Vec<[u8; 4]>,
}

impl CodecCheck {
    pub fn new(mode: EnhancedCodecCheck) -> Self {
        CodecCheck {
            mode,
            ..Default::default()
        }
    }

    /// Notes the extended-header FourCC of a tag about to be sent.
    pub fn note(&mut self, tag: &Tag) {
        if self.mode == EnhancedCodecCheck::Off {
            return;
        }
        let is_video = match tag.tag_type {
            TagType::Video => true,
            TagType::Audio => false,
            TagType::Script => return,
        };
        let head: Vec<u8> = (0..6).map_while(|i| tag.body.get(i)).collect();
        if let Some(fourcc) = extended_fourcc(is_video, &head)
            && !self.judged.contains(&fourcc)
            && !self.pending.contains(&fourcc)
        {
            self.pending.push(fourcc);
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Judges the pending FourCCs once the server answered connect (`answer` is `None` before
    /// that; `Some(None)` for a server that listed nothing).
    pub fn judge(&mut self, answer: Option<Option<PeerCodecs>>) -> Vec<Verdict> {
        let Some(answer) = answer else {
            return Vec::new();
        };
        let mut verdicts = Vec::new();
        for fourcc in std::mem::take(&mut self.pending) {
            self.judged.push(fourcc);
            let name = String::from_utf8_lossy(&fourcc).into_owned();
            let message = match &answer {
                Some(peer) if peer.lists(fourcc) => continue,
                Some(_) => format!(
                    "The server's connect answer lists Enhanced RTMP codecs but not {name}: it \
                     may refuse or drop this stream"
                ),
                None => format!(
                    "The server's connect answer lists no Enhanced RTMP codecs (a legacy \
                     server): it may not relay {name}"
                ),
            };
            verdicts.push(match self.mode {
                EnhancedCodecCheck::Error => Verdict::Refuse(message),
                _ => Verdict::Warn(format!(
                    "{message} (sending it anyway; enhanced-codec-check=off silences this)"
                )),
            });
        }
        verdicts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::amf0::Amf0Value;
    use crate::protocol::chunk::Payload;

    fn tag(tag_type: TagType, body: &[u8]) -> Tag {
        Tag {
            tag_type,
            timestamp: 0,
            body: Payload::from_parts([bytes::Bytes::copy_from_slice(body)]),
        }
    }

    fn server_listing(fourccs: &[&str]) -> Option<Option<PeerCodecs>> {
        let list = fourccs
            .iter()
            .map(|f| Amf0Value::String(f.to_string()))
            .collect();
        let object = Amf0Value::Object(vec![("fourCcList".into(), Amf0Value::StrictArray(list))]);
        Some(PeerCodecs::from_objects(&[&object]))
    }

    #[test]
    fn each_fourcc_is_judged_once_when_the_answer_is_known() {
        let mut check = CodecCheck::new(EnhancedCodecCheck::Warn);
        check.note(&tag(TagType::Video, b"\x90hvc1\x01"));
        check.note(&tag(TagType::Video, b"\x93hvc1"));
        check.note(&tag(TagType::Audio, b"\x90Opus"));
        // Legacy tags have no FourCC to check.
        check.note(&tag(TagType::Video, &[0x17, 0, 0, 0, 0]));
        check.note(&tag(TagType::Audio, &[0xaf, 1]));
        assert!(check.judge(None).is_empty());
        let verdicts = check.judge(server_listing(&["hvc1"]));
        assert_eq!(verdicts.len(), 1);
        let Verdict::Warn(text) = &verdicts[0] else {
            panic!("not a warning")
        };
        assert!(text.contains("not Opus"), "{text}");
        check.note(&tag(TagType::Audio, b"\x91Opus"));
        assert!(!check.has_pending());
    }

    #[test]
    fn a_legacy_server_gets_a_warning_or_an_error_by_the_mode() {
        for (mode, refused) in [
            (EnhancedCodecCheck::Warn, false),
            (EnhancedCodecCheck::Error, true),
        ] {
            let mut check = CodecCheck::new(mode);
            check.note(&tag(TagType::Video, b"\x90av01"));
            let verdicts = check.judge(Some(None));
            assert_eq!(verdicts.len(), 1);
            assert_eq!(matches!(verdicts[0], Verdict::Refuse(_)), refused);
        }
        let mut off = CodecCheck::new(EnhancedCodecCheck::Off);
        off.note(&tag(TagType::Video, b"\x90av01"));
        assert!(off.judge(Some(None)).is_empty());
        let mut wildcard = CodecCheck::new(EnhancedCodecCheck::Error);
        wildcard.note(&tag(TagType::Video, b"\x96\x00vp09\x01"));
        assert!(wildcard.judge(server_listing(&["*"])).is_empty());
    }
}
