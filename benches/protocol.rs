//! Throughput of the protocol core against rml_rtmp (the other Rust RTMP library) and against a
//! plain memcpy of the same bytes, which is the floor any serialiser or parser has to pay for.
//!
//! Every group reports bytes per second (criterion's `Throughput::Bytes`) of the same input for
//! each implementation, so ratios can be read straight off the table:
//! - `chunk_write`: one message per iteration on a long-lived writer (types 1/2/3 headers after
//!   the first, as in a real stream), for 1 KB, 30 KB and 300 KB payloads at chunk sizes 128,
//!   4096 and 65536. Ours twice: `write` (copies into one buffer) and `write_vectored` (headers
//!   only, payload slices shared), rml_rtmp's `ChunkSerializer::serialize`, and memcpy.
//! - `chunk_read`: the same wire bytes (written by our writer) fed in 64 KiB reads, as the I/O
//!   thread does, to our `ChunkReader` and rml_rtmp's `ChunkDeserializer`; memcpy of the bytes.
//! - `amf0`: encode/decode of a connect command and an onMetaData body.
//! - `flv`: `FlvTagReader` over an FLV stream (filesrc-sized 4 KiB blocks, and one buffer per
//!   tag as flvmux pushes), and building video tag headers. rml_rtmp has no FLV code.
//!
//! Run times are kept short (small samples) so the whole run takes a few minutes on 2 cores:
//! `cargo bench --bench protocol`; one group: `cargo bench --bench protocol -- chunk_read`.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use gstrtmp::flv::tag::{FLV_HEADER, write_tag};
use gstrtmp::flv::{FlvTagReader, TagType, video_frame_header};
use gstrtmp::protocol::amf0::{self, Amf0Value};
use gstrtmp::protocol::chunk::{ChunkReader, ChunkWriter, RawMessage};

use rml_rtmp::chunk_io::{ChunkDeserializer, ChunkSerializer};
use rml_rtmp::messages::MessagePayload;
use rml_rtmp::rml_amf0::{self, Amf0Value as RmlValue};
use rml_rtmp::time::RtmpTimestamp;

const MESSAGE_SIZES: [usize; 3] = [1024, 30 * 1024, 300 * 1024];
const CHUNK_SIZES: [u32; 3] = [128, 4096, 65536];
const VIDEO_TYPE: u8 = 9;
const VIDEO_CSID: u32 = 6;
/// Frame interval in milliseconds: consecutive messages get a constant delta (type-3 headers).
const FRAME_MS: u32 = 33;
/// How much the I/O thread reads per system call.
const READ_SIZE: usize = 64 * 1024;

/// Bytes that look like media (not all zeros, so nothing gets special-cased).
fn payload(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn size_label(len: usize) -> String {
    format!("{}KB", len / 1024)
}

fn video(timestamp: u32, payload: Bytes) -> RawMessage {
    RawMessage {
        type_id: VIDEO_TYPE,
        timestamp,
        stream_id: 1,
        payload,
    }
}

fn rml_video(timestamp: u32, data: Bytes) -> MessagePayload {
    MessagePayload {
        timestamp: RtmpTimestamp::new(timestamp),
        type_id: VIDEO_TYPE,
        message_stream_id: 1,
        data,
    }
}

fn rml_serializer(chunk_size: u32) -> ChunkSerializer {
    let mut serializer = ChunkSerializer::new();
    // The returned Set Chunk Size packet would go to the peer; here it is not needed.
    let _ = serializer
        .set_max_chunk_size(chunk_size, RtmpTimestamp::new(0))
        .expect("valid chunk size");
    serializer
}

fn chunk_write(c: &mut Criterion) {
    for &chunk_size in &CHUNK_SIZES {
        let mut group = c.benchmark_group(format!("chunk_write/cs{chunk_size}"));
        for &len in &MESSAGE_SIZES {
            let data = payload(len);
            group.throughput(Throughput::Bytes(len as u64));
            let label = size_label(len);

            group.bench_function(BenchmarkId::new("memcpy", &label), |b| {
                let mut out: Vec<u8> = Vec::with_capacity(len);
                b.iter(|| {
                    out.clear();
                    out.extend_from_slice(black_box(&data));
                    black_box(&out);
                })
            });

            group.bench_function(BenchmarkId::new("ours_write", &label), |b| {
                let mut writer = ChunkWriter::new();
                writer.set_chunk_size(chunk_size);
                let mut out = BytesMut::with_capacity(2 * len);
                let mut ts = 0u32;
                b.iter(|| {
                    out.clear();
                    ts = ts.wrapping_add(FRAME_MS);
                    writer.write(VIDEO_CSID, &video(ts, data.clone()), &mut out);
                    black_box(&out);
                })
            });

            group.bench_function(BenchmarkId::new("ours_write_vectored", &label), |b| {
                let mut writer = ChunkWriter::new();
                writer.set_chunk_size(chunk_size);
                let mut headers = BytesMut::with_capacity(4096);
                let mut parts = Vec::new();
                let mut ts = 0u32;
                b.iter(|| {
                    parts.clear();
                    ts = ts.wrapping_add(FRAME_MS);
                    writer.write_vectored(
                        VIDEO_CSID,
                        &video(ts, data.clone()),
                        &mut headers,
                        &mut parts,
                    );
                    // As the session does: lets `headers` reuse its allocation once sent.
                    headers.reserve(1024);
                    black_box(&parts);
                })
            });

            group.bench_function(BenchmarkId::new("rml_rtmp", &label), |b| {
                let mut serializer = rml_serializer(chunk_size);
                let mut ts = 0u32;
                b.iter(|| {
                    ts = ts.wrapping_add(FRAME_MS);
                    let packet = serializer
                        .serialize(&rml_video(ts, data.clone()), false, false)
                        .expect("serializes");
                    black_box(packet);
                })
            });
        }
        group.finish();
    }
}

/// A stream of `count` video messages of `len` bytes as our writer sends them, after a Set Chunk
/// Size the reader has already applied.
fn wire_stream(len: usize, count: usize, chunk_size: u32) -> Bytes {
    let data = payload(len);
    let mut writer = ChunkWriter::new();
    writer.set_chunk_size(chunk_size);
    let mut out = BytesMut::new();
    for i in 0..count {
        writer.write(
            VIDEO_CSID,
            &video(i as u32 * FRAME_MS, data.clone()),
            &mut out,
        );
    }
    out.freeze()
}

fn read_ours(wire: &Bytes, chunk_size: u32) -> usize {
    let mut reader = ChunkReader::new();
    reader.set_chunk_size(chunk_size).expect("valid chunk size");
    let mut input = BytesMut::with_capacity(READ_SIZE);
    let mut messages = 0;
    for piece in wire.chunks(READ_SIZE) {
        input.extend_from_slice(piece);
        while let Some(msg) = reader.read(&mut input).expect("valid stream") {
            black_box(&msg);
            messages += 1;
        }
    }
    messages
}

fn read_rml(wire: &Bytes, chunk_size: u32) -> usize {
    let mut reader = ChunkDeserializer::new();
    reader
        .set_max_chunk_size(chunk_size as usize)
        .expect("valid chunk size");
    let mut messages = 0;
    for piece in wire.chunks(READ_SIZE) {
        let mut next: &[u8] = piece;
        while let Some(msg) = reader.get_next_message(next).expect("valid stream") {
            black_box(&msg);
            messages += 1;
            next = &[];
        }
    }
    messages
}

fn chunk_read(c: &mut Criterion) {
    for &chunk_size in &CHUNK_SIZES {
        let mut group = c.benchmark_group(format!("chunk_read/cs{chunk_size}"));
        for &len in &MESSAGE_SIZES {
            // About 1 MiB of messages per iteration, at least 4.
            let count = (1024 * 1024 / len).max(4);
            let wire = wire_stream(len, count, chunk_size);
            // Both readers must see every message, or the comparison means nothing.
            assert_eq!(read_ours(&wire, chunk_size), count);
            assert_eq!(read_rml(&wire, chunk_size), count);
            group.throughput(Throughput::Bytes(wire.len() as u64));
            let label = size_label(len);

            group.bench_function(BenchmarkId::new("memcpy", &label), |b| {
                let mut out: Vec<u8> = Vec::with_capacity(wire.len());
                b.iter(|| {
                    out.clear();
                    out.extend_from_slice(black_box(&wire));
                    black_box(&out);
                })
            });
            group.bench_function(BenchmarkId::new("ours", &label), |b| {
                b.iter(|| read_ours(black_box(&wire), chunk_size))
            });
            group.bench_function(BenchmarkId::new("rml_rtmp", &label), |b| {
                b.iter(|| read_rml(black_box(&wire), chunk_size))
            });
        }
        group.finish();
    }
}

fn s(v: &str) -> Amf0Value {
    Amf0Value::String(v.to_owned())
}

/// What rtmpsink sends as `connect`, with a player's capability fields as well.
fn connect_values() -> Vec<Amf0Value> {
    vec![
        s("connect"),
        Amf0Value::Number(1.0),
        Amf0Value::Object(vec![
            ("app".into(), s("live")),
            ("type".into(), s("nonprivate")),
            ("flashVer".into(), s("FMLE/3.0 (compatible; FMSc/1.0)")),
            ("swfUrl".into(), s("rtmp://127.0.0.1:1935/live")),
            ("tcUrl".into(), s("rtmp://127.0.0.1:1935/live")),
            ("fpad".into(), Amf0Value::Boolean(false)),
            ("capabilities".into(), Amf0Value::Number(15.0)),
            ("audioCodecs".into(), Amf0Value::Number(4071.0)),
            ("videoCodecs".into(), Amf0Value::Number(252.0)),
            ("videoFunction".into(), Amf0Value::Number(1.0)),
        ]),
    ]
}

/// onMetaData as ffmpeg writes it for a 720p H.264 + AAC stream.
fn metadata_values() -> Vec<Amf0Value> {
    let n = Amf0Value::Number;
    vec![
        s("onMetaData"),
        Amf0Value::EcmaArray(vec![
            ("duration".into(), n(60.0)),
            ("width".into(), n(1280.0)),
            ("height".into(), n(720.0)),
            ("videodatarate".into(), n(7812.5)),
            ("framerate".into(), n(30.0)),
            ("videocodecid".into(), n(7.0)),
            ("audiodatarate".into(), n(125.0)),
            ("audiosamplerate".into(), n(48000.0)),
            ("audiosamplesize".into(), n(16.0)),
            ("stereo".into(), Amf0Value::Boolean(true)),
            ("audiocodecid".into(), n(10.0)),
            ("encoder".into(), s("Lavf61.7.100")),
            ("filesize".into(), n(61_000_000.0)),
        ]),
    ]
}

/// The same values for rml_amf0, which has no ECMA array: it is encoded as an Object there.
fn to_rml(value: &Amf0Value) -> RmlValue {
    match value {
        Amf0Value::Number(v) => RmlValue::Number(*v),
        Amf0Value::Boolean(v) => RmlValue::Boolean(*v),
        Amf0Value::String(v) => RmlValue::Utf8String(v.clone()),
        Amf0Value::Object(props) | Amf0Value::EcmaArray(props) => {
            RmlValue::Object(props.iter().map(|(k, v)| (k.clone(), to_rml(v))).collect())
        }
        Amf0Value::Null => RmlValue::Null,
        other => panic!("no rml_amf0 equivalent for {other:?}"),
    }
}

fn amf(c: &mut Criterion) {
    for (name, values) in [
        ("connect", connect_values()),
        ("onMetaData", metadata_values()),
    ] {
        let mut encoded = Vec::new();
        amf0::encode_all(&values, &mut encoded);
        let rml_values: Vec<RmlValue> = values.iter().map(to_rml).collect();
        let mut group = c.benchmark_group(format!("amf0/{name}"));
        group.throughput(Throughput::Bytes(encoded.len() as u64));

        group.bench_function("memcpy", |b| {
            b.iter(|| black_box(black_box(&encoded[..]).to_vec()))
        });
        group.bench_function("encode/ours", |b| {
            b.iter(|| {
                let mut out = Vec::new();
                amf0::encode_all(black_box(&values), &mut out);
                out
            })
        });
        group.bench_function("encode/rml_rtmp", |b| {
            b.iter(|| rml_amf0::serialize(black_box(&rml_values)).expect("encodes"))
        });
        group.bench_function("decode/ours", |b| {
            b.iter(|| amf0::decode_all(black_box(&encoded)).expect("decodes"))
        });
        group.bench_function("decode/rml_rtmp", |b| {
            b.iter(|| rml_amf0::deserialize(&mut black_box(&encoded[..])).expect("decodes"))
        });
        group.finish();
    }
}

/// Two seconds of a 720p 8 Mbit/s stream at 30 fps with AAC at 48 kHz, as FLV: a 120 KB
/// keyframe, then 30 KB P-frames, and 400-byte audio frames every 21.3 ms, in timestamp order.
fn flv_stream() -> (Bytes, Vec<usize>) {
    let mut out = BytesMut::new();
    out.extend_from_slice(&FLV_HEADER);
    let mut ends = vec![out.len()];
    let (mut video_ms, mut audio_ms) = (0.0f64, 0.0f64);
    let (mut frames, mut audio) = (0usize, 0usize);
    while frames < 60 {
        let (tag_type, ts, body) = if video_ms <= audio_ms {
            let len = if frames % 60 == 0 { 120_000 } else { 30_000 };
            let mut body = video_frame_header(frames % 60 == 0, 66).to_vec();
            body.extend_from_slice(&payload(len));
            frames += 1;
            video_ms += 1000.0 / 30.0;
            (TagType::Video, video_ms - 1000.0 / 30.0, body)
        } else {
            let mut body = vec![0xAF, 0x01];
            body.extend_from_slice(&payload(400));
            audio += 1;
            audio_ms += 1_024_000.0 / 48_000.0;
            (TagType::Audio, audio_ms - 1_024_000.0 / 48_000.0, body)
        };
        write_tag(&mut out, tag_type, ts as u32, &body).expect("tag fits");
        ends.push(out.len());
    }
    assert!(audio > 90);
    (out.freeze(), ends)
}

fn read_tags(pieces: &[Bytes]) -> usize {
    let mut reader = FlvTagReader::new();
    let mut tags = 0;
    for piece in pieces {
        reader.push(piece.clone());
        while let Some(tag) = reader.next_tag().expect("valid FLV") {
            black_box(&tag);
            tags += 1;
        }
    }
    tags
}

fn flv(c: &mut Criterion) {
    let (stream, ends) = flv_stream();
    let tag_count = ends.len() - 1;
    let blocks: Vec<Bytes> = (0..stream.len())
        .step_by(4096)
        .map(|start| stream.slice(start..(start + 4096).min(stream.len())))
        .collect();
    let per_tag: Vec<Bytes> = std::iter::once(0)
        .chain(ends.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| stream.slice(w[0]..w[1]))
        .collect();
    assert_eq!(read_tags(&blocks), tag_count);
    assert_eq!(read_tags(&per_tag), tag_count);

    let mut group = c.benchmark_group("flv/tag_reader");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("memcpy", |b| {
        let mut out: Vec<u8> = Vec::with_capacity(stream.len());
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&stream));
            black_box(&out);
        })
    });
    group.bench_function("ours/4KiB_blocks", |b| {
        b.iter(|| read_tags(black_box(&blocks)))
    });
    group.bench_function("ours/per_tag", |b| {
        b.iter(|| read_tags(black_box(&per_tag)))
    });
    group.finish();

    // What the muxer does per video frame before the payload: the 5-byte AVC header and the
    // 11-byte tag header. Counted in frames per second.
    let mut group = c.benchmark_group("flv/video_header");
    const FRAMES: u64 = 1000;
    group.throughput(Throughput::Elements(FRAMES));
    group.bench_function("ours", |b| {
        let mut out = BytesMut::with_capacity(16 * FRAMES as usize);
        b.iter(|| {
            out.clear();
            for i in 0..FRAMES as u32 {
                let prefix = video_frame_header(i % 60 == 0, black_box(66));
                let size = (30_000u32 + 5).to_be_bytes();
                let ts = (i * FRAME_MS).to_be_bytes();
                out.extend_from_slice(&[
                    TagType::Video as u8,
                    size[1],
                    size[2],
                    size[3],
                    ts[1],
                    ts[2],
                    ts[3],
                    ts[0],
                    0,
                    0,
                    0,
                ]);
                out.extend_from_slice(&prefix);
            }
            black_box(&out);
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
}

criterion_group! {
    name = benches;
    config = config();
    targets = chunk_write, chunk_read, amf, flv
}
criterion_main!(benches);
