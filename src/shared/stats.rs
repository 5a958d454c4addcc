//! The `stats` property of both elements: rtmp2's connection fields plus messages and bytes per
//! kind (sent by rtmpsink, received by rtmpsrc) and the reconnections made.
//!
//! Each element keeps a [`MediaCounters`], counts each audio, video or data message with
//! [`MediaCounters::count`] (and each reconnection), and builds the property's value with
//! [`stats_structure`] from the connection's [`SessionStats`] (the live connection's, or the
//! last one's once it has gone, so the values survive a disconnect as rtmp2's do).

use crate::flv::TagType;
use crate::protocol::session::SessionStats;

/// The fields of the structure [`stats_structure`] builds, in order: rtmp2's eight (`u32` chunk
/// and window sizes, `u64` byte counts), then ours (all `u64`).
pub const STATS_FIELDS: &[&str] = &[
    "in-chunk-size",
    "out-chunk-size",
    "in-window-ack-size",
    "out-window-ack-size",
    "in-bytes-total",
    "out-bytes-total",
    "in-bytes-acked",
    "out-bytes-acked",
    "audio-messages",
    "audio-bytes",
    "video-messages",
    "video-bytes",
    "data-messages",
    "data-bytes",
    "reconnects",
];

/// Media messages and their payload bytes per kind, and reconnections, since the element started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    pub audio_messages: u64,
    pub audio_bytes: u64,
    pub video_messages: u64,
    pub video_bytes: u64,
    /// Data (AMF script) messages: onMetaData, onTextData, ...
    pub data_messages: u64,
    pub data_bytes: u64,
    /// Connections re-established after a drop (or moved at a server's request).
    pub reconnects: u64,
}

impl MediaCounters {
    /// Counts one message of `kind` with a payload of `bytes`.
    pub fn count(&mut self, kind: TagType, bytes: u64) {
        let (messages, total) = match kind {
            TagType::Audio => (&mut self.audio_messages, &mut self.audio_bytes),
            TagType::Video => (&mut self.video_messages, &mut self.video_bytes),
            TagType::Script => (&mut self.data_messages, &mut self.data_bytes),
        };
        *messages += 1;
        *total += bytes;
    }
}

/// The `stats` structure (`GstRtmpConnectionStats`, as rtmp2 names it) with [`STATS_FIELDS`].
pub fn stats_structure(session: &SessionStats, counters: &MediaCounters) -> gst::Structure {
    connection_stats(session)
        .field("audio-messages", counters.audio_messages)
        .field("audio-bytes", counters.audio_bytes)
        .field("video-messages", counters.video_messages)
        .field("video-bytes", counters.video_bytes)
        .field("data-messages", counters.data_messages)
        .field("data-bytes", counters.data_bytes)
        .field("reconnects", counters.reconnects)
        .build()
}

/// rtmp2's `GstRtmpConnectionStats` fields, which both elements' stats start with.
fn connection_stats(session: &SessionStats) -> gst::structure::Builder {
    gst::Structure::builder("GstRtmpConnectionStats")
        .field("in-chunk-size", session.in_chunk_size)
        .field("out-chunk-size", session.out_chunk_size)
        .field("in-window-ack-size", session.in_window_ack_size)
        .field("out-window-ack-size", session.out_window_ack_size)
        .field("in-bytes-total", session.in_bytes_total)
        .field("out-bytes-total", session.out_bytes_total)
        .field("in-bytes-acked", session.in_bytes_acked)
        .field("out-bytes-acked", session.out_bytes_acked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structure_has_every_field_in_order_with_its_value() {
        gst::init().unwrap();
        let mut counters = MediaCounters::default();
        counters.count(TagType::Video, 1000);
        counters.count(TagType::Video, 500);
        counters.count(TagType::Audio, 20);
        counters.count(TagType::Script, 300);
        counters.reconnects = 2;
        let session = SessionStats {
            out_chunk_size: 4096,
            out_bytes_total: 2000,
            ..SessionStats::default()
        };
        let s = stats_structure(&session, &counters);
        assert_eq!(s.name(), "GstRtmpConnectionStats");
        let names: Vec<&str> = s.fields().map(|f| f.as_str()).collect();
        assert_eq!(names, STATS_FIELDS);
        assert_eq!(s.get::<u32>("out-chunk-size").unwrap(), 4096);
        assert_eq!(s.get::<u64>("out-bytes-total").unwrap(), 2000);
        let get = |name: &str| s.get::<u64>(name).unwrap();
        assert_eq!((get("video-messages"), get("video-bytes")), (2, 1500));
        assert_eq!((get("audio-messages"), get("audio-bytes")), (1, 20));
        assert_eq!((get("data-messages"), get("data-bytes")), (1, 300));
        assert_eq!(get("reconnects"), 2);
    }
}
