//! Messages nginx-rtmp sent to a player of its `vod` application (`play DIR`), captured by
//! `tests/nginx_vod.rs` (`capture_nginx_vod`, an ignored test) with a bare client on loopback:
//! nginx/1.22.1 with libnginx-mod-rtmp 1.2.2 (Debian 12), `chunk_size 4096`.
//!
//! Recordings (tests/common/vod.rs, ffmpeg 5.1): `rec.flv` is 20 s of H.264 320x240 25 fps (a
//! keyframe every second, 2 B-frames) + AAC 44.1 kHz stereo with a `keyframes` index
//! (`-flvflags add_keyframe_index`); `rec.mp4` the same in MP4 (`+faststart`); `aac.flv` 5 s of
//! AAC only. The client connects to `vod`, sends createStream (nginx answers stream id 1), then
//! `play` (transaction 0, null, name, start) and SetBufferLength 1000 ms on stream 1; `seek`
//! and `pause` are sent as `seek 0 null ms` and `pause 0 null flag ms` on stream 1.
//!
//! Each capture holds the non-media messages (control, command, data) that arrived after the
//! command named in its comment, decoded from the chunk stream: `(type id, message stream id,
//! timestamp, payload hex)`. Audio and video messages are left out; their place and timestamps
//! are in the comments.
//!
//! What the captures show about nginx-rtmp 1.2.2 (see also the module source, ngx_rtmp_play_module.c,
//! ngx_rtmp_flv_module.c, ngx_rtmp_mp4_module.c):
//! - play: StreamBegin, onStatus Play.Start, StreamIsRecorded, `|RtmpSampleAccess` (true, true),
//!   `onMetaData` (for FLV the file's own script tag, an ECMA array with `duration` and the
//!   `keyframes` index; for MP4 an object nginx builds: width, height, displayWidth,
//!   displayHeight, duration, videocodecid, audiocodecid, audiosamplerate), then media. No
//!   Play.Reset, no onPlayStatus at the start. A missing file gets only onStatus
//!   `NetStream.Play.StreamNotFound` (level error).
//! - `getStreamLength` gets no answer at all; the duration is in onMetaData.
//! - seek: StreamEOF, onStatus Seek.Notify, StreamBegin, then media from the new position with
//!   absolute file timestamps (no onMetaData again). FLV goes to the first `keyframes` entry
//!   strictly after the position (5000 -> 6000; 0 or less restarts the file); MP4 to the keyframe
//!   at or after it (5000 -> 5000, 1500 -> 2000), audio from the position itself. `play` with a
//!   start position does the same.
//! - pause true: onStatus Pause.Notify and media stops (what was in flight still arrives).
//!   pause false: onStatus Unpause.Notify, and the position argument is ignored: FLV resumes at
//!   the keyframe after the last seek or play start (after a play from 0: the start of the
//!   file), MP4 where its reader had got to (up to the read-ahead beyond the pause position).
//!   A seek while paused (Seek.Notify etc. come at once, media only after the unpause) makes
//!   both resume at the seek position.
//! - end of file: StreamEOF, data `onPlayStatus` {code Play.Complete, level status, duration 0,
//!   bytes 0}, onStatus Play.Stop; the connection stays open. After a seek the three may
//!   come twice (a send timer from before the seek fires again at the end: always for FLV
//!   here, sometimes for MP4, then with a few audio messages between the two), so the first
//!   Play.Complete/Play.Stop is the end.
//! - all control messages have timestamp 0; commands and data are on stream 1 with timestamp 0.
//!
//! Read-ahead: playing `rec.flv` from 0 with SetBufferLength 1000 ms, after 5 s of wall clock
//! the newest media timestamp received was 2016 ms ahead of the time since the first media
//! message (224675 media payload bytes in those 5 s). nginx's flv module sends up to buffer
//! length + 1000 ms ahead (`NGX_RTMP_FLV_BUFLEN_ADDON`).
//!
//! With SetBufferLength 0 the lead was 1048 ms after 3 s.

use bytes::Bytes;

use super::chunk::RawMessage;

/// One message: (type id, message stream id, timestamp in ms, payload as hex).
pub type Captured = (u8, u32, u32, &'static str);

/// The message `c` as the chunk reader would have delivered it.
pub fn raw(c: &Captured) -> RawMessage {
    let (type_id, stream_id, timestamp, payload) = *c;
    let bytes = (0..payload.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&payload[i..i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>();
    RawMessage {
        type_id,
        timestamp,
        stream_id,
        payload: Bytes::from(bytes),
    }
}

/// After `getStreamLength` (transaction 3, null, "rec.flv") on stream 0, after createStream, 1 s.
///
/// Sequence: .
pub const GET_STREAM_LENGTH: &[Captured] = &[];

/// After `play` ("rec.flv", start -2) and SetBufferLength 1000 ms, 1 s.
///
/// Sequence: StreamBegin(1), NetStream.Play.Start, StreamIsRecorded(1), |RtmpSampleAccess, onMetaData, [77 video 0..3000, 129 audio 0..3006].
pub const PLAY_FLV: &[Captured] = &[
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
    // onStatus txn=0 {code: NetStream.Play.Start}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200144e657453747265616d2e506c61792e5374617274000b6465736372697074696f6e020015537461727420766964656f206f6e2064656d616e64000009",
    ),
    // UserControl StreamIsRecorded(1)
    (4, 0, 0, "000400000001"),
    // data "|RtmpSampleAccess" true true
    (18, 1, 0, "0200117c52746d7053616d706c6541636365737301010101"),
    // data "onMetaData" {duration, width, height, videodatarate, framerate, videocodecid, audiodatarate, audiosamplerate, audiosamplesize, stereo, audiocode
    (
        18,
        1,
        0,
        "02000a6f6e4d65746144617461080000001900086475726174696f6e004034147ae147ae1400057769647468004074000000000000000668656967687400406e000000000000000d766964656f64617461726174650040686a000000000000096672616d6572617465004039000000000000000c766964656f636f646563696400401c000000000000000d617564696f646174617261746500404f400000000000000f617564696f73616d706c65726174650040e5888000000000000f617564696f73616d706c6573697a65004030000000000000000673746572656f0101000c617564696f636f64656369640040240000000000000007656e636f64657202000d4c61766635392e32372e313030000866696c6573697a6500412553ca000000000008686173566964656f0101000c6861734b65796672616d657301010008686173417564696f0101000b6861734d657461646174610101000c63616e5365656b546f456e64010100086461746173697a650041254edc000000000009766964656f73697a6500411fe30c000000000009617564696f73697a65004105686000000000000d6c61737474696d657374616d70004033f5c28f5c28f600156c6173746b65796672616d6574696d657374616d7000403300000000000000146c6173746b65796672616d656c6f636174696f6e0041242f6c0000000000096b65796672616d657303000d66696c65706f736974696f6e730a000000140040900800000000000040d85280000000000040e9f580000000000040f4b300000000000040fcb2e000000000004102841000000000004106e3b80000000000410b3b000000000000410f9d38000000000041120f5800000000004114440c00000000004116798000000000004118bdc00000000000411b02440000000000411d40a80000000000411f837400000000004120dbc000000000004121f73a0000000000412316c800000000004124328200000000000574696d65730a00000014000000000000000000003ff000000000000000400000000000000000400800000000000000401000000000000000401400000000000000401800000000000000401c00000000000000402000000000000000402200000000000000402400000000000000402600000000000000402800000000000000402a00000000000000402c00000000000000402e000000000000004030000000000000004031000000000000004032000000000000004033000000000000000009000009",
    ),
];

/// After `seek` 5000 ms, 1 s after play, 500 ms.
///
/// Sequence: StreamEof(1), NetStream.Seek.Notify, StreamBegin(1), [63 video 6000..8480, 109 audio 6001..8509].
pub const SEEK_FLV: &[Captured] = &[
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // onStatus txn=0 {code: NetStream.Seek.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200154e657453747265616d2e5365656b2e4e6f74696679000b6465736372697074696f6e0200075365656b696e67000009",
    ),
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
];

/// After `pause` true 5500 ms, 500 ms after the seek, 1 s.
///
/// Sequence: NetStream.Pause.Notify.
pub const PAUSE_FLV: &[Captured] = &[
    // onStatus txn=0 {code: NetStream.Pause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200164e657453747265616d2e50617573652e4e6f74696679000b6465736372697074696f6e02001650617573656420766964656f206f6e2064656d616e64000009",
    ),
];

/// After `pause` false 5500 ms, 1 s after the pause, 500 ms.
///
/// Sequence: NetStream.Unpause.Notify, [63 video 7000..9480, 109 audio 7000..9507].
pub const UNPAUSE_FLV: &[Captured] = &[
    // onStatus txn=0 {code: NetStream.Unpause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200184e657453747265616d2e556e70617573652e4e6f74696679000b6465736372697074696f6e020018556e70617573656420766964656f206f6e2064656d616e64000009",
    ),
];

/// After `play` ("rec.flv", -2), 1.5 s, `pause` true 1500 ms, 500 ms, `pause` false 1500 ms, 500 ms.
///
/// Sequence: NetStream.Pause.Notify, NetStream.Unpause.Notify, [64 video 0..2480, 108 audio 0..2518].
pub const PAUSE_UNPAUSE_WITHOUT_SEEK_FLV: &[Captured] = &[
    // onStatus txn=0 {code: NetStream.Pause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200164e657453747265616d2e50617573652e4e6f74696679000b6465736372697074696f6e02001650617573656420766964656f206f6e2064656d616e64000009",
    ),
    // onStatus txn=0 {code: NetStream.Unpause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200184e657453747265616d2e556e70617573652e4e6f74696679000b6465736372697074696f6e020018556e70617573656420766964656f206f6e2064656d616e64000009",
    ),
];

/// After `play` ("rec.flv", -2), 1.5 s, `pause` true 1500 ms, 500 ms, `seek` 1500 ms, 500 ms, `pause` false 1500 ms, 500 ms.
///
/// Sequence: NetStream.Pause.Notify, StreamEof(1), NetStream.Seek.Notify, StreamBegin(1), NetStream.Unpause.Notify, [63 video 2000..4480, 109 audio 2007..4515].
pub const PAUSE_SEEK_UNPAUSE_FLV: &[Captured] = &[
    // onStatus txn=0 {code: NetStream.Pause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200164e657453747265616d2e50617573652e4e6f74696679000b6465736372697074696f6e02001650617573656420766964656f206f6e2064656d616e64000009",
    ),
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // onStatus txn=0 {code: NetStream.Seek.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200154e657453747265616d2e5365656b2e4e6f74696679000b6465736372697074696f6e0200075365656b696e67000009",
    ),
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
    // onStatus txn=0 {code: NetStream.Unpause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200184e657453747265616d2e556e70617573652e4e6f74696679000b6465736372697074696f6e020018556e70617573656420766964656f206f6e2064656d616e64000009",
    ),
];

/// After `play` ("rec.flv", -2), 1 s, then `seek` 18000 ms: until Play.Stop and 2 s more (the end of the 20 s file).
///
/// Sequence: StreamEof(1), NetStream.Seek.Notify, StreamBegin(1), [26 video 19000..19960, 47 audio 19004..20072], StreamEof(1), NetStream.Play.Complete, NetStream.Play.Stop, StreamEof(1), NetStream.Play.Complete, NetStream.Play.Stop.
pub const SEEK_TO_END_FLV: &[Captured] = &[
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // onStatus txn=0 {code: NetStream.Seek.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200154e657453747265616d2e5365656b2e4e6f74696679000b6465736372697074696f6e0200075365656b696e67000009",
    ),
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // data "onPlayStatus" {code: NetStream.Play.Complete}
    (
        18,
        1,
        0,
        "02000c6f6e506c6179537461747573030004636f64650200174e657453747265616d2e506c61792e436f6d706c65746500056c6576656c02000673746174757300086475726174696f6e00000000000000000000056279746573000000000000000000000009",
    ),
    // onStatus txn=0 {code: NetStream.Play.Stop}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200134e657453747265616d2e506c61792e53746f70000b6465736372697074696f6e02000753746f70706564000009",
    ),
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // data "onPlayStatus" {code: NetStream.Play.Complete}
    (
        18,
        1,
        0,
        "02000c6f6e506c6179537461747573030004636f64650200174e657453747265616d2e506c61792e436f6d706c65746500056c6576656c02000673746174757300086475726174696f6e00000000000000000000056279746573000000000000000000000009",
    ),
    // onStatus txn=0 {code: NetStream.Play.Stop}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200134e657453747265616d2e506c61792e53746f70000b6465736372697074696f6e02000753746f70706564000009",
    ),
];

/// After `play` ("rec.flv", start 15000) and SetBufferLength 1000 ms: until Play.Stop and 2 s more (the end of the file without a seek).
///
/// Sequence: StreamBegin(1), NetStream.Play.Start, StreamIsRecorded(1), |RtmpSampleAccess, onMetaData, [101 video 16000..19960, 176 audio 16009..20072], StreamEof(1), NetStream.Play.Complete, NetStream.Play.Stop.
pub const PLAY_FROM_15S_FLV: &[Captured] = &[
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
    // onStatus txn=0 {code: NetStream.Play.Start}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200144e657453747265616d2e506c61792e5374617274000b6465736372697074696f6e020015537461727420766964656f206f6e2064656d616e64000009",
    ),
    // UserControl StreamIsRecorded(1)
    (4, 0, 0, "000400000001"),
    // data "|RtmpSampleAccess" true true
    (18, 1, 0, "0200117c52746d7053616d706c6541636365737301010101"),
    // data "onMetaData" {duration, width, height, videodatarate, framerate, videocodecid, audiodatarate, audiosamplerate, audiosamplesize, stereo, audiocode
    (
        18,
        1,
        0,
        "02000a6f6e4d65746144617461080000001900086475726174696f6e004034147ae147ae1400057769647468004074000000000000000668656967687400406e000000000000000d766964656f64617461726174650040686a000000000000096672616d6572617465004039000000000000000c766964656f636f646563696400401c000000000000000d617564696f646174617261746500404f400000000000000f617564696f73616d706c65726174650040e5888000000000000f617564696f73616d706c6573697a65004030000000000000000673746572656f0101000c617564696f636f64656369640040240000000000000007656e636f64657202000d4c61766635392e32372e313030000866696c6573697a6500412553ca000000000008686173566964656f0101000c6861734b65796672616d657301010008686173417564696f0101000b6861734d657461646174610101000c63616e5365656b546f456e64010100086461746173697a650041254edc000000000009766964656f73697a6500411fe30c000000000009617564696f73697a65004105686000000000000d6c61737474696d657374616d70004033f5c28f5c28f600156c6173746b65796672616d6574696d657374616d7000403300000000000000146c6173746b65796672616d656c6f636174696f6e0041242f6c0000000000096b65796672616d657303000d66696c65706f736974696f6e730a000000140040900800000000000040d85280000000000040e9f580000000000040f4b300000000000040fcb2e000000000004102841000000000004106e3b80000000000410b3b000000000000410f9d38000000000041120f5800000000004114440c00000000004116798000000000004118bdc00000000000411b02440000000000411d40a80000000000411f837400000000004120dbc000000000004121f73a0000000000412316c800000000004124328200000000000574696d65730a00000014000000000000000000003ff000000000000000400000000000000000400800000000000000401000000000000000401400000000000000401800000000000000401c00000000000000402000000000000000402200000000000000402400000000000000402600000000000000402800000000000000402a00000000000000402c00000000000000402e000000000000004030000000000000004031000000000000004032000000000000004033000000000000000009000009",
    ),
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // data "onPlayStatus" {code: NetStream.Play.Complete}
    (
        18,
        1,
        0,
        "02000c6f6e506c6179537461747573030004636f64650200174e657453747265616d2e506c61792e436f6d706c65746500056c6576656c02000673746174757300086475726174696f6e00000000000000000000056279746573000000000000000000000009",
    ),
    // onStatus txn=0 {code: NetStream.Play.Stop}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200134e657453747265616d2e506c61792e53746f70000b6465736372697074696f6e02000753746f70706564000009",
    ),
];

/// After `play` ("mp4:rec.mp4", start -2) and SetBufferLength 1000 ms, 1 s.
///
/// Sequence: StreamBegin(1), NetStream.Play.Start, StreamIsRecorded(1), |RtmpSampleAccess, onMetaData, [76 video 0..2960, 131 audio 0..2995].
pub const PLAY_MP4: &[Captured] = &[
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
    // onStatus txn=0 {code: NetStream.Play.Start}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200144e657453747265616d2e506c61792e5374617274000b6465736372697074696f6e020015537461727420766964656f206f6e2064656d616e64000009",
    ),
    // UserControl StreamIsRecorded(1)
    (4, 0, 0, "000400000001"),
    // data "|RtmpSampleAccess" true true
    (18, 1, 0, "0200117c52746d7053616d706c6541636365737301010101"),
    // data "onMetaData" {width, height, displayWidth, displayHeight, duration, videocodecid, audiocodecid, audiosamplerate}
    (
        18,
        1,
        0,
        "02000a6f6e4d657461446174610300057769647468004074000000000000000668656967687400406e000000000000000c646973706c61795769647468004074000000000000000d646973706c617948656967687400406e00000000000000086475726174696f6e00403405e353f7ced9000c766964656f636f646563696400401c000000000000000c617564696f636f6465636964004024000000000000000f617564696f73616d706c65726174650040e5888000000000000009",
    ),
];

/// After `seek` 5000 ms, 1 s after play, 500 ms.
///
/// Sequence: [1 video 3000..3000], StreamEof(1), NetStream.Seek.Notify, StreamBegin(1), [63 video 5000..7480, 109 audio 4992..7500].
pub const SEEK_MP4: &[Captured] = &[
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // onStatus txn=0 {code: NetStream.Seek.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200154e657453747265616d2e5365656b2e4e6f74696679000b6465736372697074696f6e0200075365656b696e67000009",
    ),
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
];

/// After `pause` true 5500 ms, 500 ms after the seek, 1 s.
///
/// Sequence: NetStream.Pause.Notify.
pub const PAUSE_MP4: &[Captured] = &[
    // onStatus txn=0 {code: NetStream.Pause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200164e657453747265616d2e50617573652e4e6f74696679000b6465736372697074696f6e02001650617573656420766964656f206f6e2064656d616e64000009",
    ),
];

/// After `pause` false 5500 ms, 1 s after the pause, 500 ms.
///
/// Sequence: NetStream.Unpause.Notify, [13 video 7520..8000, 22 audio 7523..8010].
pub const UNPAUSE_MP4: &[Captured] = &[
    // onStatus txn=0 {code: NetStream.Unpause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200184e657453747265616d2e556e70617573652e4e6f74696679000b6465736372697074696f6e020018556e70617573656420766964656f206f6e2064656d616e64000009",
    ),
];

/// After `play` ("mp4:rec.mp4", -2), 1.5 s, `pause` true 1500 ms, 500 ms, `pause` false 1500 ms, 500 ms.
///
/// Sequence: NetStream.Pause.Notify, NetStream.Unpause.Notify, [13 video 3520..4000, 22 audio 3506..3993].
pub const PAUSE_UNPAUSE_WITHOUT_SEEK_MP4: &[Captured] = &[
    // onStatus txn=0 {code: NetStream.Pause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200164e657453747265616d2e50617573652e4e6f74696679000b6465736372697074696f6e02001650617573656420766964656f206f6e2064656d616e64000009",
    ),
    // onStatus txn=0 {code: NetStream.Unpause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200184e657453747265616d2e556e70617573652e4e6f74696679000b6465736372697074696f6e020018556e70617573656420766964656f206f6e2064656d616e64000009",
    ),
];

/// After `play` ("mp4:rec.mp4", -2), 1.5 s, `pause` true 1500 ms, 500 ms, `seek` 1500 ms, 500 ms, `pause` false 1500 ms, 500 ms.
///
/// Sequence: NetStream.Pause.Notify, StreamEof(1), NetStream.Seek.Notify, StreamBegin(1), NetStream.Unpause.Notify, [63 video 2000..4480, 109 audio 1996..4504].
pub const PAUSE_SEEK_UNPAUSE_MP4: &[Captured] = &[
    // onStatus txn=0 {code: NetStream.Pause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200164e657453747265616d2e50617573652e4e6f74696679000b6465736372697074696f6e02001650617573656420766964656f206f6e2064656d616e64000009",
    ),
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // onStatus txn=0 {code: NetStream.Seek.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200154e657453747265616d2e5365656b2e4e6f74696679000b6465736372697074696f6e0200075365656b696e67000009",
    ),
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
    // onStatus txn=0 {code: NetStream.Unpause.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200184e657453747265616d2e556e70617573652e4e6f74696679000b6465736372697074696f6e020018556e70617573656420766964656f206f6e2064656d616e64000009",
    ),
];

/// After `play` ("mp4:rec.mp4", -2), 1 s, then `seek` 18000 ms: until Play.Stop and 2 s more (the end of the 20 s file).
///
/// Sequence: [1 video 3000..3000], StreamEof(1), NetStream.Seek.Notify, StreamBegin(1), [50 video 18000..19960, 85 audio 17995..19945], StreamEof(1), NetStream.Play.Complete, NetStream.Play.Stop, [3 audio 19969..20015], StreamEof(1), NetStream.Play.Complete, NetStream.Play.Stop.
pub const SEEK_TO_END_MP4: &[Captured] = &[
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // onStatus txn=0 {code: NetStream.Seek.Notify}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200154e657453747265616d2e5365656b2e4e6f74696679000b6465736372697074696f6e0200075365656b696e67000009",
    ),
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // data "onPlayStatus" {code: NetStream.Play.Complete}
    (
        18,
        1,
        0,
        "02000c6f6e506c6179537461747573030004636f64650200174e657453747265616d2e506c61792e436f6d706c65746500056c6576656c02000673746174757300086475726174696f6e00000000000000000000056279746573000000000000000000000009",
    ),
    // onStatus txn=0 {code: NetStream.Play.Stop}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200134e657453747265616d2e506c61792e53746f70000b6465736372697074696f6e02000753746f70706564000009",
    ),
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // data "onPlayStatus" {code: NetStream.Play.Complete}
    (
        18,
        1,
        0,
        "02000c6f6e506c6179537461747573030004636f64650200174e657453747265616d2e506c61792e436f6d706c65746500056c6576656c02000673746174757300086475726174696f6e00000000000000000000056279746573000000000000000000000009",
    ),
    // onStatus txn=0 {code: NetStream.Play.Stop}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200134e657453747265616d2e506c61792e53746f70000b6465736372697074696f6e02000753746f70706564000009",
    ),
];

/// After `play` ("mp4:rec.mp4", start 15000) and SetBufferLength 1000 ms: until Play.Stop and 2 s more (the end of the file without a seek).
///
/// Sequence: StreamBegin(1), NetStream.Play.Start, StreamIsRecorded(1), |RtmpSampleAccess, onMetaData, [126 video 15000..19960, 216 audio 14976..19945], StreamEof(1), NetStream.Play.Complete, NetStream.Play.Stop.
pub const PLAY_FROM_15S_MP4: &[Captured] = &[
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
    // onStatus txn=0 {code: NetStream.Play.Start}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200144e657453747265616d2e506c61792e5374617274000b6465736372697074696f6e020015537461727420766964656f206f6e2064656d616e64000009",
    ),
    // UserControl StreamIsRecorded(1)
    (4, 0, 0, "000400000001"),
    // data "|RtmpSampleAccess" true true
    (18, 1, 0, "0200117c52746d7053616d706c6541636365737301010101"),
    // data "onMetaData" {width, height, displayWidth, displayHeight, duration, videocodecid, audiocodecid, audiosamplerate}
    (
        18,
        1,
        0,
        "02000a6f6e4d657461446174610300057769647468004074000000000000000668656967687400406e000000000000000c646973706c61795769647468004074000000000000000d646973706c617948656967687400406e00000000000000086475726174696f6e00403405e353f7ced9000c766964656f636f646563696400401c000000000000000c617564696f636f6465636964004024000000000000000f617564696f73616d706c65726174650040e5888000000000000009",
    ),
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // data "onPlayStatus" {code: NetStream.Play.Complete}
    (
        18,
        1,
        0,
        "02000c6f6e506c6179537461747573030004636f64650200174e657453747265616d2e506c61792e436f6d706c65746500056c6576656c02000673746174757300086475726174696f6e00000000000000000000056279746573000000000000000000000009",
    ),
    // onStatus txn=0 {code: NetStream.Play.Stop}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200134e657453747265616d2e506c61792e53746f70000b6465736372697074696f6e02000753746f70706564000009",
    ),
];

/// After `play` ("aac.flv", start -2) and SetBufferLength 1000 ms, until Play.Stop (the whole 5 s audio-only file).
///
/// Sequence: StreamBegin(1), NetStream.Play.Start, StreamIsRecorded(1), |RtmpSampleAccess, onMetaData, [218 audio 0..5015], StreamEof(1), NetStream.Play.Complete, NetStream.Play.Stop.
pub const PLAY_AAC_FLV: &[Captured] = &[
    // UserControl StreamBegin(1)
    (4, 0, 0, "000000000001"),
    // onStatus txn=0 {code: NetStream.Play.Start}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200144e657453747265616d2e506c61792e5374617274000b6465736372697074696f6e020015537461727420766964656f206f6e2064656d616e64000009",
    ),
    // UserControl StreamIsRecorded(1)
    (4, 0, 0, "000400000001"),
    // data "|RtmpSampleAccess" true true
    (18, 1, 0, "0200117c52746d7053616d706c6541636365737301010101"),
    // data "onMetaData" {duration, audiodatarate, audiosamplerate, audiosamplesize, stereo, audiocodecid, encoder, filesize, hasVideo, hasKeyframes, hasAudi
    (
        18,
        1,
        0,
        "02000a6f6e4d65746144617461080000001400086475726174696f6e004014178d4fdf3b64000d617564696f646174617261746500404f400000000000000f617564696f73616d706c65726174650040e5888000000000000f617564696f73616d706c6573697a65004030000000000000000673746572656f0101000c617564696f636f64656369640040240000000000000007656e636f64657202000d4c61766635392e32372e313030000866696c6573697a650040e5bd20000000000008686173566964656f0100000c6861734b65796672616d657301010008686173417564696f0101000b6861734d657461646174610101000c63616e5365656b546f456e64010100086461746173697a650040e58220000000000009766964656f73697a650000000000000000000009617564696f73697a650040e57dc000000000000d6c61737474696d657374616d7000000000000000000000156c6173746b65796672616d6574696d657374616d7000000000000000000000146c6173746b65796672616d656c6f636174696f6e00000000000000000000096b65796672616d657303000d66696c65706f736974696f6e730a00000000000574696d65730a00000000000009000009",
    ),
    // UserControl StreamEof(1)
    (4, 0, 0, "000100000001"),
    // data "onPlayStatus" {code: NetStream.Play.Complete}
    (
        18,
        1,
        0,
        "02000c6f6e506c6179537461747573030004636f64650200174e657453747265616d2e506c61792e436f6d706c65746500056c6576656c02000673746174757300086475726174696f6e00000000000000000000056279746573000000000000000000000009",
    ),
    // onStatus txn=0 {code: NetStream.Play.Stop}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200134e657453747265616d2e506c61792e53746f70000b6465736372697074696f6e02000753746f70706564000009",
    ),
];

/// After `play` ("missing.flv", start -2) and SetBufferLength 1000 ms, 1 s.
///
/// Sequence: NetStream.Play.StreamNotFound.
pub const PLAY_NOT_FOUND: &[Captured] = &[
    // onStatus txn=0 {code: NetStream.Play.StreamNotFound}
    (
        20,
        1,
        0,
        "0200086f6e537461747573000000000000000000050300056c6576656c0200056572726f720004636f646502001d4e657453747265616d2e506c61792e53747265616d4e6f74466f756e64000b6465736372697074696f6e020020566964656f206f6e2064656d616e642073747265616d206e6f7420666f756e64000009",
    ),
];

/// Every capture, by name.
pub const ALL: &[(&str, &[Captured])] = &[
    ("GET_STREAM_LENGTH", GET_STREAM_LENGTH),
    ("PLAY_FLV", PLAY_FLV),
    ("SEEK_FLV", SEEK_FLV),
    ("PAUSE_FLV", PAUSE_FLV),
    ("UNPAUSE_FLV", UNPAUSE_FLV),
    (
        "PAUSE_UNPAUSE_WITHOUT_SEEK_FLV",
        PAUSE_UNPAUSE_WITHOUT_SEEK_FLV,
    ),
    ("PAUSE_SEEK_UNPAUSE_FLV", PAUSE_SEEK_UNPAUSE_FLV),
    ("SEEK_TO_END_FLV", SEEK_TO_END_FLV),
    ("PLAY_FROM_15S_FLV", PLAY_FROM_15S_FLV),
    ("PLAY_MP4", PLAY_MP4),
    ("SEEK_MP4", SEEK_MP4),
    ("PAUSE_MP4", PAUSE_MP4),
    ("UNPAUSE_MP4", UNPAUSE_MP4),
    (
        "PAUSE_UNPAUSE_WITHOUT_SEEK_MP4",
        PAUSE_UNPAUSE_WITHOUT_SEEK_MP4,
    ),
    ("PAUSE_SEEK_UNPAUSE_MP4", PAUSE_SEEK_UNPAUSE_MP4),
    ("SEEK_TO_END_MP4", SEEK_TO_END_MP4),
    ("PLAY_FROM_15S_MP4", PLAY_FROM_15S_MP4),
    ("PLAY_AAC_FLV", PLAY_AAC_FLV),
    ("PLAY_NOT_FOUND", PLAY_NOT_FOUND),
];

#[test]
fn every_capture_decodes() {
    use super::message::Message;
    for (name, capture) in ALL {
        for (i, c) in capture.iter().enumerate() {
            let message = Message::parse(raw(c));
            assert!(
                matches!(message, Ok(ref m) if !matches!(m, Message::Other(_))),
                "{name}[{i}]: {message:?}"
            );
        }
    }
}
