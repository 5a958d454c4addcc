use super::testdata::{FFMPEG_CLIENT_STREAM, NGINX_SERVER_STREAM, hex};
use super::*;
use bytes::{Bytes, BytesMut};

/// A message whose payload is a pattern that depends on its length (so shifted bytes show up).
fn msg(type_id: u8, timestamp: u32, stream_id: u32, len: usize) -> RawMessage {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
    RawMessage {
        type_id,
        timestamp,
        stream_id,
        payload: Bytes::from(payload),
    }
}

fn write_one(w: &mut ChunkWriter, csid: u32, m: &RawMessage) -> Vec<u8> {
    let mut out = BytesMut::new();
    w.write(csid, m, &mut out);
    out.to_vec()
}

/// Reads every complete message; what is left stays in `input`.
fn read_all(r: &mut ChunkReader, input: &mut BytesMut) -> Vec<RawMessage> {
    let mut msgs = Vec::new();
    while let Some(m) = r.read(input).expect("valid chunk stream") {
        msgs.push(m);
    }
    msgs
}

fn read_bytes(bytes: &[u8]) -> Vec<RawMessage> {
    let mut input = BytesMut::from(bytes);
    let msgs = read_all(&mut ChunkReader::new(), &mut input);
    assert!(input.is_empty(), "{} bytes left over", input.len());
    msgs
}

/// Writes `msgs` (csid, message) with both writer paths, checks they agree, and returns the
/// bytes and the offsets at which chunks end.
fn write_both(chunk_size: u32, msgs: &[(u32, RawMessage)]) -> (Vec<u8>, Vec<usize>) {
    let (mut w1, mut w2) = (ChunkWriter::new(), ChunkWriter::new());
    w1.set_chunk_size(chunk_size);
    w2.set_chunk_size(chunk_size);
    let mut out = BytesMut::new();
    let mut headers = BytesMut::new();
    let mut parts = Vec::new();
    let mut boundaries = Vec::new();
    let mut offset = 0;
    for (csid, m) in msgs {
        w1.write(*csid, m, &mut out);
        let before = parts.len();
        w2.write_vectored(*csid, m, &mut headers, &mut parts);
        // Parts alternate header, payload; a chunk ends after its payload (or its header if empty).
        let mut iter = parts[before..].iter().peekable();
        while let Some(h) = iter.next() {
            offset += h.len();
            if m.payload.is_empty() {
                boundaries.push(offset);
                continue;
            }
            let p = iter.next().expect("payload part");
            offset += p.len();
            boundaries.push(offset);
        }
    }
    let vectored: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    assert_eq!(out.to_vec(), vectored, "write and write_vectored differ");
    assert_eq!(*boundaries.last().unwrap_or(&0), out.len());
    (out.to_vec(), boundaries)
}

// --- The specification's examples (RTMP 1.0, 5.3.2) ---

/// Example 1: four audio messages of 32 bytes, 20 ms apart, on one chunk stream:
/// type 0, then type 2 with the delta, then type 3 twice.
#[test]
fn spec_example_1_audio() {
    let msgs: Vec<_> = (0..4)
        .map(|i| (3, msg(8, 1000 + 20 * i, 12345, 32)))
        .collect();
    let (bytes, boundaries) = write_both(128, &msgs);
    let mut expected = hex("03 0003e8 000020 08 39300000");
    expected.extend_from_slice(&msgs[0].1.payload);
    expected.extend_from_slice(&hex("83 000014"));
    expected.extend_from_slice(&msgs[1].1.payload);
    expected.push(0xC3);
    expected.extend_from_slice(&msgs[2].1.payload);
    expected.push(0xC3);
    expected.extend_from_slice(&msgs[3].1.payload);
    assert_eq!(bytes, expected);
    assert_eq!(boundaries, [44, 80, 113, 146]);
    let read = read_bytes(&bytes);
    assert_eq!(read, msgs.into_iter().map(|(_, m)| m).collect::<Vec<_>>());
}

/// Example 2: a 307-byte video message at chunk size 128: a type-0 chunk and two type-3 chunks.
#[test]
fn spec_example_2_video() {
    let m = msg(9, 1000, 12346, 307);
    let (bytes, boundaries) = write_both(128, &[(4, m.clone())]);
    let mut expected = hex("04 0003e8 000133 09 3a300000");
    expected.extend_from_slice(&m.payload[..128]);
    expected.push(0xC4);
    expected.extend_from_slice(&m.payload[128..256]);
    expected.push(0xC4);
    expected.extend_from_slice(&m.payload[256..]);
    assert_eq!(bytes, expected);
    assert_eq!(boundaries, [140, 269, 321]);
    assert_eq!(read_bytes(&bytes), [m]);
}

// --- Header forms ---

#[test]
fn basic_header_widths() {
    for (csid, basic) in [
        (2, &[0x02][..]),
        (63, &[0x3F]),
        (64, &[0x00, 0x00]),
        (319, &[0x00, 0xFF]),
        (320, &[0x01, 0x00, 0x01]),
        (65599, &[0x01, 0xFF, 0xFF]),
    ] {
        let m = msg(9, 5, 1, 200);
        let bytes = write_one(&mut ChunkWriter::new(), csid, &m);
        assert_eq!(&bytes[..basic.len()], basic, "csid {csid}");
        // The continuation chunk's basic header has type 3 and the same id.
        let cont = basic.len() + 11 + 128;
        assert_eq!(bytes[cont], 0xC0 | basic[0], "csid {csid}");
        assert_eq!(
            &bytes[cont + 1..cont + basic.len()],
            &basic[1..],
            "csid {csid}"
        );
        assert_eq!(bytes.len(), 2 * basic.len() + 11 + 200);
        assert_eq!(read_bytes(&bytes), [m], "csid {csid}");
    }
}

#[test]
#[should_panic(expected = "out of range")]
fn writer_refuses_reserved_csid() {
    write_one(&mut ChunkWriter::new(), 1, &msg(8, 0, 1, 1));
}

/// Follows one chunk stream through every header type, checking the type chosen and the
/// header's length, then reads the whole sequence back.
#[test]
fn header_type_selection() {
    let steps: &[(RawMessage, u8, usize)] = &[
        (msg(9, 100, 1, 10), 0, 12), // first message on the chunk stream
        (msg(9, 140, 1, 10), 2, 4),  // delta now known explicitly, never type 3 after type 0
        (msg(9, 180, 1, 10), 3, 1),  // same delta, length and type
        (msg(9, 220, 1, 10), 3, 1),  //
        (msg(9, 230, 1, 10), 2, 4),  // delta changed
        (msg(9, 240, 1, 11), 1, 8),  // length changed
        (msg(8, 250, 1, 11), 1, 8),  // type changed
        (msg(8, 260, 1, 11), 3, 1),  // same as before again
        (msg(8, 260, 2, 11), 0, 12), // stream id changed
        (msg(8, 200, 2, 11), 0, 12), // timestamp went backwards
        (msg(8, 200, 2, 11), 2, 4),  // delta 0, explicit after type 0
        (msg(8, 200, 2, 11), 3, 1),  // delta 0 again
        (msg(8, 200, 2, 0), 1, 8),   // empty message
        (msg(8, 210, 2, 0), 2, 4),   //
        (msg(8, 220, 2, 0), 3, 1),   //
    ];
    let mut w = ChunkWriter::new();
    let mut all = Vec::new();
    for (i, (m, fmt, header_len)) in steps.iter().enumerate() {
        let bytes = write_one(&mut w, 5, m);
        assert_eq!(bytes[0], fmt << 6 | 5, "step {i}");
        assert_eq!(bytes.len(), header_len + m.payload.len(), "step {i}");
        all.extend_from_slice(&bytes);
    }
    let expected: Vec<_> = steps.iter().map(|(m, ..)| m.clone()).collect();
    assert_eq!(read_bytes(&all), expected);
}

#[test]
fn chunk_streams_are_independent() {
    let mut w = ChunkWriter::new();
    let a = write_one(&mut w, 4, &msg(9, 0, 1, 5));
    let b = write_one(&mut w, 5, &msg(9, 0, 1, 5));
    assert_eq!((a[0], b[0]), (0x04, 0x05)); // both type 0
}

// --- Extended timestamps ---

#[test]
fn extended_absolute_timestamp_repeated_on_continuation() {
    let m = msg(9, 0x0123_4567, 1, 130);
    let bytes = write_one(&mut ChunkWriter::new(), 6, &m);
    let mut expected = hex("06 ffffff 000082 09 01000000 01234567");
    expected.extend_from_slice(&m.payload[..128]);
    expected.extend_from_slice(&hex("c6 01234567"));
    expected.extend_from_slice(&m.payload[128..]);
    assert_eq!(bytes, expected);
    assert_eq!(read_bytes(&bytes), [m]);
}

#[test]
fn timestamp_ffffff_is_extended_and_fffffe_is_not() {
    let bytes = write_one(&mut ChunkWriter::new(), 3, &msg(8, 0xFF_FFFF, 1, 0));
    assert_eq!(bytes, hex("03 ffffff 000000 08 01000000 00ffffff"));
    let bytes = write_one(&mut ChunkWriter::new(), 3, &msg(8, 0xFF_FFFE, 1, 0));
    assert_eq!(bytes, hex("03 fffffe 000000 08 01000000"));
    assert_eq!(read_bytes(&bytes)[0].timestamp, 0xFF_FFFE);
}

/// Extended deltas: a type-1 header, then a type-3 first chunk repeating the extended delta,
/// with the continuation chunks of both repeating it too.
#[test]
fn extended_delta_on_type_1_and_type_3_first_chunks() {
    let delta = 0x0100_0000;
    let msgs = [
        (7, msg(9, 10, 1, 5)),
        (7, msg(9, 10 + delta, 1, 129)),
        (7, msg(9, 10 + 2 * delta, 1, 129)),
        (7, msg(9, 10 + 2 * delta + 33, 1, 129)),
    ];
    let (bytes, _) = write_both(128, &msgs);
    let p = |i: usize| msgs[i].1.payload.clone();
    let mut expected = hex("07 00000a 000005 09 01000000");
    expected.extend_from_slice(&p(0));
    expected.extend_from_slice(&hex("47 ffffff 000081 09 01000000"));
    expected.extend_from_slice(&p(1)[..128]);
    expected.extend_from_slice(&hex("c7 01000000"));
    expected.extend_from_slice(&p(1)[128..]);
    expected.extend_from_slice(&hex("c7 01000000"));
    expected.extend_from_slice(&p(2)[..128]);
    expected.extend_from_slice(&hex("c7 01000000"));
    expected.extend_from_slice(&p(2)[128..]);
    expected.extend_from_slice(&hex("87 000021"));
    expected.extend_from_slice(&p(3)[..128]);
    expected.push(0xC7);
    expected.extend_from_slice(&p(3)[128..]);
    assert_eq!(bytes, expected);
    let read = read_bytes(&bytes);
    assert_eq!(read, msgs.map(|(_, m)| m));
}

/// Servers that leave the extended timestamp off type-3 continuation chunks are understood too.
#[test]
fn reader_tolerates_missing_extended_timestamp_on_continuation() {
    let payload: Vec<u8> = (0..200).map(|i| i as u8).collect();
    let mut bytes = hex("06 ffffff 0000c8 09 01000000 01234567");
    bytes.extend_from_slice(&payload[..128]);
    bytes.push(0xC6); // no extended timestamp here
    bytes.extend_from_slice(&payload[128..]);
    let read = read_bytes(&bytes);
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].timestamp, 0x0123_4567);
    assert_eq!(&read[0].payload[..], &payload[..]);
}

/// With fewer than 4 bytes after a continuation header that match the extended timestamp so far,
/// the reader cannot tell field from payload yet and waits, consuming nothing.
#[test]
fn reader_waits_when_extended_timestamp_is_undecided() {
    let mut bytes = hex("06 ffffff 000081 09 01000000 01234567");
    bytes.extend_from_slice(&[0xAA; 128]);
    bytes.extend_from_slice(&hex("c6 0123"));
    let mut r = ChunkReader::new();
    let mut input = BytesMut::from(&bytes[..]);
    assert_eq!(r.read(&mut input), Ok(None));
    assert_eq!(
        input.len(),
        3,
        "the first chunk is consumed, the partial one is not"
    );
    input.extend_from_slice(&hex("4567 bb"));
    let m = r.read(&mut input).unwrap().unwrap();
    assert_eq!(m.payload.len(), 129);
    assert_eq!(m.payload[128], 0xBB);
    assert!(input.is_empty());
}

/// Type-3 first chunk after a type-0 chunk: the delta is the type-0 timestamp (spec 5.3.1.2.4).
#[test]
fn reader_type_3_after_type_0_uses_its_timestamp_as_delta() {
    let read = read_bytes(&hex("03 000064 000001 08 01000000 aa c3 bb"));
    assert_eq!(read.len(), 2);
    assert_eq!((read[0].timestamp, read[1].timestamp), (100, 200));
    assert_eq!(
        (read[1].type_id, read[1].stream_id, &read[1].payload[..]),
        (8, 1, &[0xBB][..])
    );
}

#[test]
fn reader_type_1_and_2_deltas_and_csid_forms() {
    // csid 64 (2-byte form) and 320 (3-byte form) with types 0, 1, 2, 3.
    let bytes = hex(concat!(
        "00 00 000010 000002 14 05000000 aaaa", // csid 64, type 0, ts 16
        "01 0001 000020 000001 09 07000000 bb", // csid 320, type 0, ts 32
        "40 00 000005 000001 08 cc",            // csid 64, type 1, +5, length 1, type 8
        "81 0001 000003 dd",                    // csid 320, type 2, +3
        "c0 00 ee",                             // csid 64, type 3, +5
    ));
    let read = read_bytes(&bytes);
    let summary: Vec<_> = read
        .iter()
        .map(|m| (m.type_id, m.timestamp, m.stream_id, m.payload.to_vec()))
        .collect();
    assert_eq!(
        summary,
        [
            (0x14, 16, 5, vec![0xAA, 0xAA]),
            (9, 32, 7, vec![0xBB]),
            (8, 21, 5, vec![0xCC]),
            (9, 35, 7, vec![0xDD]),
            (8, 26, 5, vec![0xEE]),
        ]
    );
}

// --- Timestamp wrap ---

#[test]
fn timestamp_wraps_forward_as_a_delta() {
    let msgs = [
        (4, msg(9, 0xFFFF_FFF0, 1, 3)),
        (4, msg(9, 0x10, 1, 4)),
        (4, msg(9, 0x40, 1, 4)),
    ];
    let (bytes, _) = write_both(128, &msgs);
    // Type 0 with the extended absolute timestamp, then type 1 with delta 0x20, then type 2.
    assert_eq!(
        &bytes[..16],
        &hex("04 ffffff 000003 09 01000000 fffffff0")[..]
    );
    assert_eq!(&bytes[19..27], &hex("44 000020 000004 09")[..]);
    assert_eq!(&bytes[31..35], &hex("84 000030")[..]);
    assert_eq!(read_bytes(&bytes), msgs.map(|(_, m)| m));
}

#[test]
fn reader_wraps_deltas() {
    let read = read_bytes(&hex("03 ffffff 000000 08 01000000 fffffffe 83 000005"));
    assert_eq!((read[0].timestamp, read[1].timestamp), (0xFFFF_FFFE, 3));
}

// --- Chunk sizes, abort, interleaving ---

#[test]
fn chunk_size_changes_between_messages() {
    let mut w = ChunkWriter::new();
    let mut r = ChunkReader::new();
    let mut input = BytesMut::new();
    let a = msg(9, 0, 1, 300);
    let b = msg(9, 40, 1, 300);
    w.write(6, &a, &mut input);
    w.set_chunk_size(100);
    w.write(6, &b, &mut input);
    assert_eq!(input.len(), 12 + 2 + 300 + 4 + 2 + 300);
    assert_eq!(r.read(&mut input), Ok(Some(a)));
    // The peer's Set Chunk Size would arrive here, before the next message.
    r.set_chunk_size(100).unwrap();
    assert_eq!(r.read(&mut input), Ok(Some(b)));
    assert_eq!(r.read(&mut input), Ok(None));
    assert_eq!((w.chunk_size(), r.chunk_size()), (100, 100));
}

#[test]
fn chunk_size_limits() {
    let mut r = ChunkReader::new();
    assert_eq!(r.chunk_size(), DEFAULT_CHUNK_SIZE);
    assert_eq!(r.set_chunk_size(0), Err(ChunkError::InvalidChunkSize(0)));
    assert_eq!(
        r.set_chunk_size(0x8000_0000),
        Err(ChunkError::InvalidChunkSize(0x8000_0000))
    );
    assert_eq!(r.chunk_size(), DEFAULT_CHUNK_SIZE);
    assert_eq!(r.set_chunk_size(MAX_CHUNK_SIZE), Ok(()));
    assert_eq!(r.set_chunk_size(1), Ok(()));
    let mut w = ChunkWriter::new();
    w.set_chunk_size(0);
    assert_eq!(w.chunk_size(), 1);
    w.set_chunk_size(u32::MAX);
    assert_eq!(w.chunk_size(), MAX_CHUNK_SIZE);
}

#[test]
fn abort_drops_the_partial_message() {
    let first = msg(9, 0, 1, 200);
    let bytes = write_one(&mut ChunkWriter::new(), 6, &first);
    let mut r = ChunkReader::new();
    let mut input = BytesMut::from(&bytes[..140]); // first chunk only
    assert_eq!(r.read(&mut input), Ok(None));
    assert!(input.is_empty());
    r.abort(6);
    r.abort(42); // unknown chunk stream: nothing to do
    // A new message on the same chunk stream with a type-3 header: same length, type and delta
    // (the type-0 timestamp, 0).
    input.extend_from_slice(&[0xC6]);
    input.extend_from_slice(&[0x55; 128]);
    assert_eq!(r.read(&mut input), Ok(None));
    input.extend_from_slice(&[0xC6]);
    input.extend_from_slice(&[0x66; 72]);
    let m = r.read(&mut input).unwrap().unwrap();
    assert_eq!((m.type_id, m.timestamp, m.payload.len()), (9, 0, 200));
    assert_eq!((m.payload[0], m.payload[199]), (0x55, 0x66));
}

#[test]
fn new_header_mid_message_starts_over() {
    let mut bytes = hex("06 000000 0000c8 09 01000000");
    bytes.extend_from_slice(&[0x11; 128]);
    bytes.extend_from_slice(&hex("06 000010 000002 08 01000000 2222"));
    let read = read_bytes(&bytes);
    assert_eq!(read.len(), 1);
    assert_eq!(
        (read[0].type_id, read[0].timestamp, &read[0].payload[..]),
        (8, 16, &[0x22, 0x22][..])
    );
}

/// Chunks of two messages on different chunk streams alternate on the wire.
#[test]
fn interleaved_chunk_streams() {
    let a = msg(9, 1000, 1, 300);
    let b = msg(8, 1001, 1, 200);
    let (wa, ba) = write_both(128, &[(6, a.clone())]);
    let (wb, bb) = write_both(128, &[(5, b.clone())]);
    let chunks = |bytes: &[u8], ends: &[usize]| {
        let mut start = 0;
        ends.iter()
            .map(|&end| {
                let c = bytes[start..end].to_vec();
                start = end;
                c
            })
            .collect::<Vec<_>>()
    };
    let (ca, cb) = (chunks(&wa, &ba), chunks(&wb, &bb));
    let wire = [&ca[0][..], &cb[0], &ca[1], &cb[1], &ca[2]].concat();
    assert_eq!(read_bytes(&wire), [b, a]);
}

// --- Incremental input ---

/// A stream exercising every header type, extended timestamps and several chunk streams.
fn mixed_stream() -> (Vec<u8>, Vec<usize>, Vec<RawMessage>) {
    let msgs = vec![
        (3, msg(20, 0, 0, 150)),
        (6, msg(9, 0x0100_0000, 1, 300)),
        (5, msg(8, 0x0100_0000, 1, 10)),
        (6, msg(9, 0x0100_0021, 1, 300)),
        (5, msg(8, 0x0100_0010, 1, 10)),
        (6, msg(9, 0x0100_0042, 1, 300)),
        (5, msg(8, 0x0100_0020, 1, 10)),
        (5, msg(8, 0x0100_0030, 1, 0)),
        (400, msg(18, 0x0200_0030, 1, 129)),
        (6, msg(9, 0x0100_0042, 1, 128)),
    ];
    let (bytes, ends) = write_both(128, &msgs);
    (bytes, ends, msgs.into_iter().map(|(_, m)| m).collect())
}

#[test]
fn split_input_at_every_byte_boundary() {
    let (bytes, _, expected) = mixed_stream();
    for split in 0..=bytes.len() {
        let mut r = ChunkReader::new();
        let mut input = BytesMut::from(&bytes[..split]);
        let mut read = read_all(&mut r, &mut input);
        input.extend_from_slice(&bytes[split..]);
        read.extend(read_all(&mut r, &mut input));
        assert!(input.is_empty());
        assert_eq!(read, expected, "split at {split}");
    }
}

/// Fed one byte at a time, the reader keeps nothing in the input but an incomplete header, and
/// reads the same messages.
#[test]
fn byte_at_a_time_leaves_at_most_a_partial_header() {
    let (bytes, _, expected) = mixed_stream();
    let mut r = ChunkReader::new();
    let mut input = BytesMut::new();
    let mut read = Vec::new();
    for &b in &bytes {
        input.extend_from_slice(&[b]);
        read.extend(read_all(&mut r, &mut input));
        assert!(input.len() < 18, "{} bytes left unread", input.len());
    }
    assert!(input.is_empty());
    assert_eq!(read, expected);
}

// --- Round trips ---

#[test]
fn round_trips_at_every_chunk_size() {
    for chunk_size in [1, 128, 4096, 65536] {
        let mut msgs = Vec::new();
        let mut ts = 0u32;
        for (i, len) in [0, 1, 127, 128, 129, 300_000, 129, 129, 0, 0]
            .into_iter()
            .enumerate()
        {
            ts = ts.wrapping_add([0, 33, 33, 40, 0x0100_0000][i % 5]);
            let csid = [3, 4, 5, 70, 400][i % 3 + (i % 2) * 2];
            msgs.push((csid, msg(9 - (i % 2) as u8, ts, 1, len)));
        }
        let (bytes, _) = write_both(chunk_size, &msgs);
        let mut r = ChunkReader::new();
        r.set_chunk_size(chunk_size).unwrap();
        let mut input = BytesMut::from(&bytes[..]);
        let read = read_all(&mut r, &mut input);
        assert!(input.is_empty());
        assert_eq!(
            read,
            msgs.into_iter().map(|(_, m)| m).collect::<Vec<_>>(),
            "chunk size {chunk_size}"
        );
    }
}

#[test]
fn reader_payload_is_zero_copy_for_long_single_chunk_messages() {
    let len = super::reader::SLICE_FROM;
    let mut w = ChunkWriter::new();
    w.set_chunk_size(len as u32);
    let bytes = write_one(&mut w, 4, &msg(9, 0, 1, len));
    let mut input = BytesMut::from(&bytes[..]);
    let base = input.as_ptr() as usize;
    let mut r = ChunkReader::new();
    r.set_chunk_size(len as u32).unwrap();
    let m = r.read(&mut input).unwrap().unwrap();
    assert_eq!(m.payload.as_ptr() as usize, base + 12);
}

#[test]
fn reader_copies_short_single_chunk_messages_out_of_the_input() {
    // A slice would keep the whole input buffer alive while the message is queued.
    let sent = msg(8, 0, 1, 100);
    let bytes = write_one(&mut ChunkWriter::new(), 4, &sent);
    let mut input = BytesMut::from(&bytes[..]);
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    let m = ChunkReader::new().read(&mut input).unwrap().unwrap();
    assert!(input.is_empty());
    assert!(!range.contains(&(m.payload.as_ptr() as usize)));
    assert_eq!(m, sent);
}

#[test]
fn write_vectored_does_not_copy_the_payload() {
    let m = msg(9, 0, 1, 300);
    let mut headers = BytesMut::from(&b"kept"[..]);
    let mut parts = Vec::new();
    ChunkWriter::new().write_vectored(6, &m, &mut headers, &mut parts);
    assert_eq!(
        &headers[..],
        b"kept",
        "earlier contents stay and are not sent"
    );
    let lens: Vec<_> = parts.iter().map(Bytes::len).collect();
    assert_eq!(lens, [12, 128, 1, 128, 1, 44]);
    let base = m.payload.as_ptr() as usize;
    for (i, off) in [(1, 0), (3, 128), (5, 256)] {
        assert_eq!(parts[i].as_ptr() as usize, base + off);
    }
}

// --- Limits and errors ---

#[test]
fn message_too_large_is_refused_from_its_header() {
    let mut r = ChunkReader::new();
    r.set_max_message_size(100);
    let mut input = BytesMut::from(&hex("04 000000 000065 09 01000000")[..]);
    assert_eq!(
        r.read(&mut input),
        Err(ChunkError::MessageTooLarge(101, 100))
    );
    // Exactly at the limit is fine.
    let mut r = ChunkReader::new();
    r.set_max_message_size(100);
    let bytes = write_one(&mut ChunkWriter::new(), 4, &msg(9, 0, 1, 100));
    assert_eq!(
        r.read(&mut BytesMut::from(&bytes[..]))
            .unwrap()
            .unwrap()
            .payload
            .len(),
        100
    );
}

#[test]
fn lowered_limit_applies_to_type_3_messages_too() {
    let mut r = ChunkReader::new();
    let mut input = BytesMut::from(&hex("04 000000 000002 09 01000000 aaaa")[..]);
    assert!(r.read(&mut input).unwrap().is_some());
    r.set_max_message_size(1);
    input.extend_from_slice(&hex("c4"));
    assert_eq!(r.read(&mut input), Err(ChunkError::MessageTooLarge(2, 1)));
}

#[test]
fn too_many_chunk_streams() {
    let mut r = ChunkReader::new();
    let mut w = ChunkWriter::new();
    let mut input = BytesMut::new();
    for csid in 2..66 {
        w.write(csid, &msg(9, 0, 1, 1), &mut input);
    }
    assert_eq!(read_all(&mut r, &mut input).len(), 64);
    w.write(66, &msg(9, 0, 1, 1), &mut input);
    assert_eq!(r.read(&mut input), Err(ChunkError::TooManyChunkStreams(64)));
    // Known chunk streams keep working.
    let mut input = BytesMut::new();
    w.write(65, &msg(9, 10, 1, 1), &mut input);
    assert!(r.read(&mut input).unwrap().is_some());
}

#[test]
fn continuation_without_previous_header() {
    for bytes in [
        "43 000000 000001 09 aa",
        "83 000000 aa",
        "c3 aa",
        "c0 05 aa",
    ] {
        let mut input = BytesMut::from(&hex(bytes)[..]);
        let csid = if bytes.starts_with("c0") { 69 } else { 3 };
        assert_eq!(
            ChunkReader::new().read(&mut input),
            Err(ChunkError::NoPreviousHeader(csid))
        );
    }
}

#[test]
fn incomplete_headers_are_left_alone() {
    let full = hex("01 ffff ffffff 000001 09 01000000 12345678 aa");
    let header_len = full.len() - 1;
    for len in 0..header_len {
        let mut input = BytesMut::from(&full[..len]);
        assert_eq!(ChunkReader::new().read(&mut input), Ok(None), "{len} bytes");
        assert_eq!(input.len(), len);
    }
    // A whole header is taken; the reader then waits for the payload.
    let mut r = ChunkReader::new();
    let mut input = BytesMut::from(&full[..header_len]);
    assert_eq!(r.read(&mut input), Ok(None));
    assert!(input.is_empty());
    input.extend_from_slice(&full[header_len..]);
    assert_eq!(r.read(&mut input).unwrap().unwrap().payload, hex("aa"));
    let read = read_bytes(&full);
    assert_eq!((read[0].timestamp, read[0].stream_id), (0x1234_5678, 1));
}

// --- Real captures ---

/// nginx-rtmp's side of a publish session; the Set Chunk Size (4096) must be applied for the
/// rest to parse. Message contents are checked in the message module's tests.
#[test]
fn capture_nginx_server_stream() {
    let mut r = ChunkReader::new();
    let mut input = BytesMut::from(&hex(NGINX_SERVER_STREAM)[..]);
    let mut summary = Vec::new();
    while let Some(m) = r.read(&mut input).unwrap() {
        if m.type_id == 1 {
            let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
            r.set_chunk_size(size).unwrap();
        }
        summary.push((m.type_id, m.timestamp, m.stream_id, m.payload.len()));
    }
    assert!(input.is_empty());
    assert_eq!(
        summary,
        [
            (5, 0, 0, 4),
            (6, 0, 0, 5),
            (1, 0, 0, 4),
            (20, 0, 0, 190),
            (20, 0, 0, 29),
            (20, 0, 1, 105),
            (20, 0, 1, 108)
        ]
    );
    assert_eq!(r.chunk_size(), 4096);
}

/// FFmpeg's side: header types 0-3, a connect split at chunk size 128, then 4096-byte chunks.
#[test]
fn capture_ffmpeg_client_stream() {
    let bytes = hex(FFMPEG_CLIENT_STREAM);
    let mut r = ChunkReader::new();
    let mut input = BytesMut::from(&bytes[..]);
    let mut msgs = Vec::new();
    while let Some(m) = r.read(&mut input).unwrap() {
        if m.type_id == 1 {
            let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
            r.set_chunk_size(size).unwrap();
        }
        msgs.push(m);
    }
    assert!(input.is_empty());
    assert_eq!(r.chunk_size(), 4096);
    let summary: Vec<_> = msgs
        .iter()
        .map(|m| (m.type_id, m.stream_id, m.payload.len()))
        .collect();
    let mut expected = vec![
        (20, 0, 140),
        (1, 0, 4),
        (20, 0, 33),
        (20, 0, 29),
        (20, 0, 25),
        (20, 1, 34),
        (18, 1, 200),
        (9, 1, 52),
    ];
    let frames = [
        2597, 356, 222, 350, 26, 209, 233, 237, 225, 257, 300, 526, 64, 33, 26, 468, 82, 32, 28,
        162,
    ];
    expected.extend(frames.iter().map(|&len| (9, 1, len)));
    expected.extend([(9, 1, 5), (20, 0, 31), (20, 0, 34)]);
    assert_eq!(summary, expected);
    // Video timestamps: 0 for the sequence header and first frame, then 100 ms steps.
    let video_ts: Vec<u32> = msgs
        .iter()
        .filter(|m| m.type_id == 9)
        .map(|m| m.timestamp)
        .collect();
    let mut expected_ts = vec![0];
    expected_ts.extend((0..20).map(|i| i * 100));
    expected_ts.push(1900);
    assert_eq!(video_ts, expected_ts);
    // The connect command was split at 128 bytes: the tcUrl straddles the continuation header.
    let connect = &msgs[0].payload;
    let url = b"rtmp://127.0.0.1:46361/live";
    assert!(connect.windows(url.len()).any(|w| w == url));
}

#[test]
fn half_sent_messages_on_many_streams_are_bounded_together() {
    // Limit 1000 per message, so 2000 half-received in all: three 900-byte messages each sent
    // 800 bytes at a time on their own chunk stream cannot all be held.
    let mut w = ChunkWriter::new();
    w.set_chunk_size(800);
    let mut wire = BytesMut::new();
    for csid in [4, 5, 6] {
        let mut out = BytesMut::new();
        w.write(csid, &msg(8, 0, 1, 900), &mut out);
        // Only the first chunk (header + 800 bytes) of each message.
        wire.extend_from_slice(&out[..12 + 800]);
    }
    let mut r = ChunkReader::new();
    r.set_chunk_size(800).unwrap();
    r.set_max_message_size(1000);
    let mut result = Ok(None);
    for _ in 0..3 {
        result = r.read(&mut wire);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ChunkError::TooMuchBuffered(2000)));
}
