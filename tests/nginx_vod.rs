//! nginx-rtmp's `vod` application (`play DIR`) with the recordings of `common::vod`, driven by a
//! bare RTMP client: the recordings carry what nginx needs (a `keyframes` index, so it seeks),
//! and, as an ignored test, a capture of what nginx sends for play, seek, pause and the end of a
//! file, written as the fixtures of `src/protocol/testdata_nginx_vod.rs`.
//!
//! Regenerate the fixtures with
//! `cargo test --test nginx_vod -- --ignored capture_nginx_vod --nocapture`; the file is written
//! to `target/tmp/testdata_nginx_vod.rs` (copy it to `src/protocol/`).

mod common;

use common::rtmp_client::{RawClient, Received};
use common::vod::VOD_KEYFRAME_INTERVAL_MS;
use common::*;
use gstrtmp::protocol::amf0::Amf0Value;
use gstrtmp::protocol::message::{Message, type_id};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn first_video_ts(messages: &[Received]) -> Option<u32> {
    messages
        .iter()
        .find(|m| m.raw.type_id == type_id::VIDEO)
        .map(|m| m.raw.timestamp)
}

fn codes(messages: &[Received]) -> Vec<String> {
    messages.iter().filter_map(Received::status_code).collect()
}

/// Connects to the vod app, creates a stream and plays `name` from `start` with a 1 s buffer.
fn play(nginx: &Nginx, name: &str, start: f64) -> (RawClient, u32) {
    let mut client = RawClient::connect(nginx.port, "vod");
    let stream_id = client.create_stream();
    client.play(stream_id, name, start, 1000);
    (client, stream_id)
}

#[test]
fn recordings_have_a_keyframe_index_and_are_cached() {
    let started = Instant::now();
    let flv = Recording::flv().cached();
    let index = flv_keyframe_index(&flv);
    let times: Vec<u32> = index.iter().map(|&(t, _)| t).collect();
    let expected: Vec<u32> = (0..20).map(|s| s * VOD_KEYFRAME_INTERVAL_MS).collect();
    assert_eq!(
        times, expected,
        "a keyframe every second, each in the index"
    );
    assert!(
        index.windows(2).all(|w| w[0].1 < w[1].1),
        "file positions increase: {index:?}"
    );

    let tmp = TempDir::new("vod");
    let again = Instant::now();
    let file = Recording::flv().install(tmp.path(), "a");
    assert!(
        again.elapsed() < Duration::from_millis(200),
        "the second use is a link to the cached file"
    );
    let p = probe(&file.path);
    let v = p.video().expect("video");
    assert_eq!(
        (v.codec_name.as_str(), v.width, v.height),
        ("h264", Some(320), Some(240))
    );
    assert_eq!(v.nb_read_frames, Some(500), "20 s at 25 fps");
    assert_eq!(p.audio().map(|a| a.codec_name.as_str()), Some("aac"));

    let mp4 = Recording::mp4().install(tmp.path(), "a");
    assert_eq!(mp4.stream_name, "mp4:a.mp4");
    let p = probe(&mp4.path);
    assert_eq!(p.video().and_then(|v| v.nb_read_frames), Some(500));
    assert_eq!(p.audio().map(|a| a.codec_name.as_str()), Some("aac"));

    for (rec, codec) in [(Recording::aac_flv(), "aac"), (Recording::mp3_flv(), "mp3")] {
        let p = probe(rec.cached());
        assert!(p.video().is_none());
        assert_eq!(p.audio().map(|a| a.codec_name.as_str()), Some(codec));
    }
    eprintln!(
        "recordings made (or found cached) in {:?}",
        started.elapsed()
    );
}

/// Seeks and checks where video resumes: nginx goes to the keyframe after the position, never
/// the one before (see `VodFile::seek_lands_at`).
fn check_seeks(recording: Recording) {
    let nginx = Nginx::start();
    let file = nginx.add_vod(&recording, "rec");
    let (mut client, stream_id) = play(&nginx, &file.stream_name, 0.0);
    let start = client.recv_until(5 * SECOND, |m| m.raw.type_id == type_id::VIDEO);
    assert_eq!(first_video_ts(&start), Some(0), "{:?}", codes(&start));
    for position in [7400, 3000, 12000] {
        client.seek(stream_id, f64::from(position));
        let notify = client.recv_until(5 * SECOND, |m| {
            m.status_code().as_deref() == Some("NetStream.Seek.Notify")
        });
        assert!(
            codes(&notify).iter().any(|c| c == "NetStream.Seek.Notify"),
            "{:?}",
            codes(&notify)
        );
        let media = client.recv_until(5 * SECOND, |m| m.raw.type_id == type_id::VIDEO);
        assert_eq!(
            first_video_ts(&media),
            Some(file.seek_lands_at(position)),
            "{recording:?} seek to {position}"
        );
    }
}

#[test]
fn nginx_seeks_in_the_flv_recording() {
    check_seeks(Recording::flv());
}

#[test]
fn nginx_seeks_in_the_mp4_recording() {
    check_seeks(Recording::mp4());
}

/// `NAME` of a captured window, what preceded it, and the messages.
struct Capture {
    name: &'static str,
    preceded_by: String,
    messages: Vec<Received>,
}

/// A one-line description of a message for the fixture comments.
fn describe(m: &Received) -> String {
    let text = match m.message() {
        Message::UserControl(e) => format!("UserControl {e:?}"),
        Message::Command {
            name,
            transaction_id,
            args,
            ..
        } => {
            format!("{name} txn={transaction_id} {}", args_summary(&args))
        }
        Message::Data { values, .. } => format!("data {}", args_summary(&values)),
        other => format!("{other:?}"),
    };
    text.chars().take(150).collect()
}

fn args_summary(values: &[Amf0Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            Amf0Value::String(s) => format!("{s:?}"),
            Amf0Value::Number(n) => format!("{n}"),
            Amf0Value::Boolean(b) => format!("{b}"),
            Amf0Value::Null => "null".into(),
            other => match other.get("code").and_then(Amf0Value::as_str) {
                Some(code) => format!("{{code: {code}}}"),
                None => {
                    let keys: Vec<&str> = other
                        .properties()
                        .map(|p| p.iter().map(|(k, _)| k.as_str()).collect())
                        .unwrap_or_default();
                    format!("{{{}}}", keys.join(", "))
                }
            },
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Media in a window: count and timestamp range per type.
fn media_summary(messages: &[Received]) -> String {
    let mut parts = Vec::new();
    for (t, kind) in [(type_id::VIDEO, "video"), (type_id::AUDIO, "audio")] {
        let ts: Vec<u32> = messages
            .iter()
            .filter(|m| m.raw.type_id == t)
            .map(|m| m.raw.timestamp)
            .collect();
        if let (Some(first), Some(last)) = (ts.first(), ts.iter().max()) {
            parts.push(format!("{} {kind} {first}..{last}", ts.len()));
        }
    }
    if parts.is_empty() {
        "no media".into()
    } else {
        parts.join(", ")
    }
}

/// Where the non-media messages sit among the media: a compact sequence like
/// `StreamBegin(1), NetStream.Play.Start, onMetaData, [77 video 0..3000, 129 audio 0..3006]`.
fn sequence(messages: &[Received]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<Received> = Vec::new();
    let flush = |run: &mut Vec<Received>, out: &mut Vec<String>| {
        if !run.is_empty() {
            out.push(format!("[{}]", media_summary(run)));
            run.clear();
        }
    };
    for m in messages {
        if m.is_media() {
            run.push(m.clone());
            continue;
        }
        flush(&mut run, &mut out);
        out.push(match (m.message(), m.status_code()) {
            (Message::UserControl(e), _) => format!("{e:?}"),
            (_, Some(code)) => code,
            _ => m
                .name()
                .unwrap_or_else(|| format!("type {}", m.raw.type_id)),
        });
    }
    flush(&mut run, &mut out);
    out.join(", ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn render(nginx_version: &str, captures: &[Capture], notes: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "//! Messages nginx-rtmp sent to a player of its `vod` application (`play DIR`), captured by
//! `tests/nginx_vod.rs` (`capture_nginx_vod`, an ignored test) with a bare client on loopback:
//! {nginx_version} with libnginx-mod-rtmp 1.2.2 (Debian 12), `chunk_size 4096`.
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
//! - end of file: StreamEOF, data `onPlayStatus` {{code Play.Complete, level status, duration 0,
//!   bytes 0}}, onStatus Play.Stop; the connection stays open. After a seek the three may
//!   come twice (a send timer from before the seek fires again at the end: always for FLV
//!   here, sometimes for MP4, then with a few audio messages between the two), so the first
//!   Play.Complete/Play.Stop is the end.
//! - all control messages have timestamp 0; commands and data are on stream 1 with timestamp 0.
//!
{notes}
use bytes::Bytes;

use super::chunk::RawMessage;

/// One message: (type id, message stream id, timestamp in ms, payload as hex).
pub type Captured = (u8, u32, u32, &'static str);

/// The message `c` as the chunk reader would have delivered it.
pub fn raw(c: &Captured) -> RawMessage {{
    let (type_id, stream_id, timestamp, payload) = *c;
    let bytes = (0..payload.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&payload[i..i + 2], 16).expect(\"hex\"))
        .collect::<Vec<u8>>();
    RawMessage {{
        type_id,
        timestamp,
        stream_id,
        payload: Bytes::from(bytes),
    }}
}}
"
    );
    for c in captures {
        let _ = writeln!(s, "/// After {}.", c.preceded_by);
        let _ = writeln!(s, "///");
        let _ = writeln!(s, "/// Sequence: {}.", sequence(&c.messages));
        let _ = writeln!(s, "pub const {}: &[Captured] = &[", c.name);
        for m in c.messages.iter().filter(|m| !m.is_media()) {
            let _ = writeln!(s, "    // {}", describe(m));
            let _ = writeln!(
                s,
                "    ({}, {}, {}, \"{}\"),",
                m.raw.type_id,
                m.raw.stream_id,
                m.raw.timestamp,
                hex(&m.raw.payload)
            );
        }
        let _ = writeln!(s, "];\n");
    }
    let names: Vec<&str> = captures.iter().map(|c| c.name).collect();
    let _ = writeln!(
        s,
        "/// Every capture, by name.
pub const ALL: &[(&str, &[Captured])] = &[{}];

#[test]
fn every_capture_decodes() {{
    use super::message::Message;
    for (name, capture) in ALL {{
        for (i, c) in capture.iter().enumerate() {{
            let message = Message::parse(raw(c));
            assert!(
                matches!(message, Ok(ref m) if !matches!(m, Message::Other(_))),
                \"{{name}}[{{i}}]: {{message:?}}\"
            );
        }}
    }}
}}",
        names
            .iter()
            .map(|n| format!("(\"{n}\", {n})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

/// The media timestamp lead over the wall clock once nginx is in its steady state: the largest
/// timestamp received minus the time since the first media message, at the end of `duration`.
fn read_ahead(nginx: &Nginx, name: &str, buffer_ms: u32, duration: Duration) -> (i64, u64) {
    let mut client = RawClient::connect(nginx.port, "vod");
    let stream_id = client.create_stream();
    client.play(stream_id, name, 0.0, buffer_ms);
    let mut first: Option<(Instant, u32)> = None;
    let mut max_ts = 0u32;
    let mut bytes = 0u64;
    let deadline = Instant::now() + duration;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(m) = client.recv(left) else { break };
        if m.is_media() {
            first.get_or_insert((m.at, m.raw.timestamp));
            max_ts = max_ts.max(m.raw.timestamp);
            bytes += m.raw.payload.len() as u64;
        }
    }
    let (t0, ts0) = first.expect("media arrived");
    let wall = Instant::now().duration_since(t0).as_millis() as i64;
    (i64::from(max_ts - ts0) - wall, bytes)
}

#[test]
#[ignore = "writes the fixtures of src/protocol/testdata_nginx_vod.rs; run by hand"]
fn capture_nginx_vod() {
    let version = run_with_timeout(std::process::Command::new("nginx").arg("-v"), 5 * SECOND);
    let nginx_version = version
        .stderr
        .trim()
        .trim_start_matches("nginx version: ")
        .to_owned();
    let nginx = Nginx::start();
    let flv = nginx.add_vod(&Recording::flv(), "rec");
    let mp4 = nginx.add_vod(&Recording::mp4(), "rec");
    let aac = nginx.add_vod(&Recording::aac_flv(), "aac");
    let mut captures = Vec::new();
    let mut notes = String::new();

    // getStreamLength before play, as FFmpeg's player sends it (transaction id, null, name).
    {
        let mut client = RawClient::connect(nginx.port, "vod");
        let _ = client.create_stream();
        client.command(
            0,
            "getStreamLength",
            Some(3.0),
            vec![Amf0Value::String(flv.stream_name.clone())],
        );
        let messages = client.recv_for(SECOND);
        captures.push(Capture {
            name: "GET_STREAM_LENGTH",
            preceded_by: format!(
                "`getStreamLength` (transaction 3, null, \"{}\") on stream 0, after createStream, 1 s",
                flv.stream_name
            ),
            messages,
        });
    }

    // Play, seek, pause and unpause on one connection; then, on a fresh one (a pause leaves
    // nginx's old send timer behind), a seek to near the end and the end of the file.
    for (file, tag) in [(&flv, "FLV"), (&mp4, "MP4")] {
        let name = &file.stream_name;
        let (mut client, sid) = play(&nginx, name, -2.0);
        captures.push(Capture {
            name: leak(format!("PLAY_{tag}")),
            preceded_by: format!("`play` (\"{name}\", start -2) and SetBufferLength 1000 ms, 1 s"),
            messages: client.recv_for(SECOND),
        });
        client.seek(sid, 5000.0);
        captures.push(Capture {
            name: leak(format!("SEEK_{tag}")),
            preceded_by: "`seek` 5000 ms, 1 s after play, 500 ms".into(),
            messages: client.recv_for(SECOND / 2),
        });
        client.pause(sid, true, 5500.0);
        captures.push(Capture {
            name: leak(format!("PAUSE_{tag}")),
            preceded_by: "`pause` true 5500 ms, 500 ms after the seek, 1 s".into(),
            messages: client.recv_for(SECOND),
        });
        client.pause(sid, false, 5500.0);
        captures.push(Capture {
            name: leak(format!("UNPAUSE_{tag}")),
            preceded_by: "`pause` false 5500 ms, 1 s after the pause, 500 ms".into(),
            messages: client.recv_for(SECOND / 2),
        });
        drop(client);

        // Pause and unpause without an earlier seek: where does nginx resume?
        let (mut client, sid) = play(&nginx, name, -2.0);
        let _ = client.recv_for(3 * SECOND / 2);
        client.pause(sid, true, 1500.0);
        let mut messages = client.recv_for(SECOND / 2);
        client.pause(sid, false, 1500.0);
        messages.extend(client.recv_for(SECOND / 2));
        captures.push(Capture {
            name: leak(format!("PAUSE_UNPAUSE_WITHOUT_SEEK_{tag}")),
            preceded_by: format!(
                "`play` (\"{name}\", -2), 1.5 s, `pause` true 1500 ms, 500 ms, `pause` false \
                 1500 ms, 500 ms"
            ),
            messages,
        });
        drop(client);

        // The same with a seek while paused, as a player that wants to resume where it paused.
        let (mut client, sid) = play(&nginx, name, -2.0);
        let _ = client.recv_for(3 * SECOND / 2);
        client.pause(sid, true, 1500.0);
        let mut messages = client.recv_for(SECOND / 2);
        client.seek(sid, 1500.0);
        messages.extend(client.recv_for(SECOND / 2));
        client.pause(sid, false, 1500.0);
        messages.extend(client.recv_for(SECOND / 2));
        captures.push(Capture {
            name: leak(format!("PAUSE_SEEK_UNPAUSE_{tag}")),
            preceded_by: format!(
                "`play` (\"{name}\", -2), 1.5 s, `pause` true 1500 ms, 500 ms, `seek` 1500 ms, \
                 500 ms, `pause` false 1500 ms, 500 ms"
            ),
            messages,
        });
        drop(client);

        let (mut client, sid) = play(&nginx, name, -2.0);
        let _ = client.recv_for(SECOND);
        client.seek(sid, 18000.0);
        let mut messages = client.recv_until(10 * SECOND, |m| {
            m.status_code().as_deref() == Some("NetStream.Play.Stop")
        });
        // Whatever follows Play.Stop, if anything.
        messages.extend(client.recv_for(2 * SECOND));
        captures.push(Capture {
            name: leak(format!("SEEK_TO_END_{tag}")),
            preceded_by: format!(
                "`play` (\"{name}\", -2), 1 s, then `seek` 18000 ms: until Play.Stop and 2 s more \
                 (the end of the 20 s file)"
            ),
            messages,
        });
        drop(client);

        let (mut client, _) = play(&nginx, name, 15000.0);
        let mut messages = client.recv_until(10 * SECOND, |m| {
            m.status_code().as_deref() == Some("NetStream.Play.Stop")
        });
        messages.extend(client.recv_for(2 * SECOND));
        captures.push(Capture {
            name: leak(format!("PLAY_FROM_15S_{tag}")),
            preceded_by: format!(
                "`play` (\"{name}\", start 15000) and SetBufferLength 1000 ms: until Play.Stop \
                 and 2 s more (the end of the file without a seek)"
            ),
            messages,
        });
    }

    {
        let (mut client, _) = play(&nginx, &aac.stream_name, -2.0);
        let mut messages = client.recv_until(10 * SECOND, |m| {
            m.status_code().as_deref() == Some("NetStream.Play.Stop")
        });
        messages.extend(client.recv_for(SECOND / 2));
        captures.push(Capture {
            name: "PLAY_AAC_FLV",
            preceded_by: format!(
                "`play` (\"{}\", start -2) and SetBufferLength 1000 ms, until Play.Stop (the whole 5 s audio-only file)",
                aac.stream_name
            ),
            messages,
        });
    }

    {
        let (mut client, _) = play(&nginx, "missing.flv", -2.0);
        captures.push(Capture {
            name: "PLAY_NOT_FOUND",
            preceded_by: "`play` (\"missing.flv\", start -2) and SetBufferLength 1000 ms, 1 s"
                .into(),
            messages: client.recv_for(SECOND),
        });
    }

    let (lead, bytes) = read_ahead(&nginx, &flv.stream_name, 1000, 5 * SECOND);
    let _ = writeln!(
        notes,
        "//! Read-ahead: playing `rec.flv` from 0 with SetBufferLength 1000 ms, after 5 s of wall clock
//! the newest media timestamp received was {lead} ms ahead of the time since the first media
//! message ({bytes} media payload bytes in those 5 s). nginx's flv module sends up to buffer
//! length + 1000 ms ahead (`NGX_RTMP_FLV_BUFLEN_ADDON`).
//!"
    );
    let (lead0, _) = read_ahead(&nginx, &flv.stream_name, 0, 3 * SECOND);
    let _ = writeln!(
        notes,
        "//! With SetBufferLength 0 the lead was {lead0} ms after 3 s.\n"
    );

    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("testdata_nginx_vod.rs");
    std::fs::write(&out, render(&nginx_version, &captures, &notes)).expect("write fixtures");
    for c in &captures {
        eprintln!("{}: {}\n", c.name, sequence(&c.messages));
    }
    eprintln!("read-ahead with 1000 ms buffer: {lead} ms; with 0: {lead0} ms");
    eprintln!("wrote {}", out.display());
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}
