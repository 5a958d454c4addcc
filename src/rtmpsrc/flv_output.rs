//! The `src` request pad: the played stream as one FLV byte stream (`video/x-flv`), for the
//! `rtmpsrc ! flvdemux` pipelines written for the librtmp element this one replaces, and for
//! recording a stream as it is. Exclusive with the elementary `video`/`audio` pads.
//!
//! Like rtmp2src, the first buffer is the FLV header, then one buffer per tag (audio, video,
//! script data) stamped with the tag's own timestamp; flvdemux does the rest. The payloads are
//! the RTMP message bodies, not copied.

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::amf0::{self, Amf0Value};
use crate::protocol::session::{MediaKind, SessionEvent};

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;

/// "FLV", version 1, audio and video present (not known yet: flvdemux copes with either
/// missing), header size 9, then the first PreviousTagSize (0).
pub fn header() -> gst::Buffer {
    let header: [u8; 13] = [b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0];
    gst::Buffer::from_slice(header)
}

/// One FLV tag: its 11-byte header, the body as it came, and the PreviousTagSize after it.
pub fn tag(tag_type: u8, timestamp: u32, body: Bytes) -> gst::Buffer {
    let size = body.len() as u32 & 0x00FF_FFFF;
    let mut head = BytesMut::with_capacity(11);
    head.put_u8(tag_type);
    head.put_uint(u64::from(size), 3);
    // 24 low bits, then the high 8 ("TimestampExtended").
    head.put_uint(u64::from(timestamp & 0x00FF_FFFF), 3);
    head.put_u8((timestamp >> 24) as u8);
    head.put_uint(0, 3);
    let trailer = (11 + size).to_be_bytes();
    let mut buffer = gst::Buffer::new();
    {
        let buffer = buffer.get_mut().expect("a new buffer is writable");
        buffer.append_memory(gst::Memory::from_slice(head.freeze()));
        if !body.is_empty() {
            buffer.append_memory(gst::Memory::from_slice(body));
        }
        buffer.append_memory(gst::Memory::from_slice(trailer));
        let ts = gst::ClockTime::from_mseconds(u64::from(timestamp));
        buffer.set_dts(ts);
        buffer.set_pts(ts);
    }
    buffer
}

/// The FLV tag for an event that carries one: media and data messages (`@setDataFrame`
/// unwrapped, as in a file).
pub fn tag_of(event: &SessionEvent) -> Option<gst::Buffer> {
    match event {
        SessionEvent::Media {
            kind,
            timestamp,
            payload,
        } => {
            let tag_type = match kind {
                MediaKind::Audio => TAG_AUDIO,
                MediaKind::Video => TAG_VIDEO,
            };
            Some(tag(tag_type, *timestamp, payload.clone()))
        }
        SessionEvent::Data { timestamp, values } => {
            let values = match values.first().and_then(Amf0Value::as_str) {
                Some("@setDataFrame") => values.get(1..).unwrap_or_default(),
                Some("|RtmpSampleAccess") => return None,
                _ => values,
            };
            if values.is_empty() {
                return None;
            }
            let mut body = BytesMut::new();
            amf0::encode_all(values, &mut body);
            Some(tag(TAG_SCRIPT, *timestamp, body.freeze()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(buffer: &gst::Buffer) -> Vec<u8> {
        buffer.map_readable().unwrap().to_vec()
    }

    #[test]
    fn tags_are_laid_out_as_in_an_flv_file() {
        gst::init().unwrap();
        assert_eq!(
            bytes_of(&header()),
            b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"
        );
        let body = Bytes::from_static(&[0x17, 1, 0, 0, 0, 0xAA]);
        let buffer = tag(TAG_VIDEO, 0x0123_4567, body.clone());
        // The body is the message's memory, not a copy (checked before mapping the whole
        // buffer, which merges its memories).
        assert_eq!(buffer.n_memory(), 3);
        let map = buffer.peek_memory(1).map_readable().unwrap();
        assert_eq!(map.as_ptr(), body.as_ptr());
        drop(map);
        let mut expected = vec![9, 0, 0, 6, 0x23, 0x45, 0x67, 0x01, 0, 0, 0];
        expected.extend_from_slice(&body);
        expected.extend_from_slice(&17u32.to_be_bytes());
        assert_eq!(bytes_of(&buffer), expected);
        assert_eq!(
            buffer.pts(),
            Some(gst::ClockTime::from_mseconds(0x0123_4567))
        );
    }

    #[test]
    fn data_messages_become_script_tags_without_set_data_frame() {
        gst::init().unwrap();
        let values = vec![
            Amf0Value::String("@setDataFrame".into()),
            Amf0Value::String("onMetaData".into()),
            Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(320.0))]),
        ];
        let buffer = tag_of(&SessionEvent::Data {
            timestamp: 0,
            values: values.clone(),
        })
        .unwrap();
        let bytes = bytes_of(&buffer);
        assert_eq!(bytes[0], TAG_SCRIPT);
        let mut expected = BytesMut::new();
        amf0::encode_all(&values[1..], &mut expected);
        assert_eq!(&bytes[11..bytes.len() - 4], &expected[..]);
        let access = SessionEvent::Data {
            timestamp: 0,
            values: vec![Amf0Value::String("|RtmpSampleAccess".into())],
        };
        assert!(tag_of(&access).is_none());
        assert!(tag_of(&SessionEvent::StreamBegin).is_none());
    }
}
