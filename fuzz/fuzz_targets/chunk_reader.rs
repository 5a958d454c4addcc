//! The chunk reader on arbitrary bytes, fed whole and in many splits, with chunk-size changes
//! from Set Chunk Size messages and from a schedule, and aborts from Abort messages.
//!
//! Invariants: the outcome (messages, error, bytes left unread) does not depend on how the
//! input is split; no message exceeds the configured limit; the heap the reader holds stays
//! proportional to the bytes it was actually given (plus the fixed allowance for messages
//! allocated at their declared length), whatever lengths the headers declare.
//!
//! Input: 4 control bytes (max message size, scheduled chunk-size change), then the stream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::{peak_bytes, reset_peak, split_plans};
use gstrtmp::protocol::chunk::{AHEAD_ALLOWANCE, ChunkError, ChunkReader, MAX_MESSAGE_LENGTH};

/// What one message looked like, without keeping its payload alive.
#[derive(Debug, PartialEq, Clone, Copy)]
struct Summary {
    type_id: u8,
    timestamp: u32,
    stream_id: u32,
    len: usize,
    hash: u64,
}

#[derive(Debug, PartialEq)]
struct Outcome {
    messages: Vec<Summary>,
    error: Option<ChunkError>,
    /// Bytes taken from the input: where an error was found, or all but an incomplete header.
    consumed: usize,
}

struct Config {
    max_message: u32,
    /// After this many messages the chunk size changes to `new_chunk_size`.
    change_after: usize,
    new_chunk_size: u32,
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn be32(p: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(p.get(..4)?.try_into().ok()?))
}

fn run(stream: &[u8], plan: &[usize], config: &Config) -> Outcome {
    let mut reader = ChunkReader::new();
    reader.set_max_message_size(config.max_message);
    // Every message consumes at least one byte, so this never grows while measuring.
    let mut messages = Vec::with_capacity(stream.len() + 1);
    let mut input = BytesMut::new();
    let mut offset = 0;
    let baseline = reset_peak();
    for &piece in plan {
        input.extend_from_slice(&stream[offset..offset + piece]);
        offset += piece;
        loop {
            match reader.read(&mut input) {
                Ok(Some(msg)) => {
                    assert!(msg.payload.len() <= config.max_message as usize);
                    messages.push(Summary {
                        type_id: msg.type_id,
                        timestamp: msg.timestamp,
                        stream_id: msg.stream_id,
                        len: msg.payload.len(),
                        hash: fnv(&msg.payload),
                    });
                    // What a session does with control messages.
                    match msg.type_id {
                        1 => {
                            if let Some(size) = be32(&msg.payload) {
                                let ok = reader.set_chunk_size(size).is_ok();
                                assert_eq!(ok, (1..=0x7FFF_FFFF).contains(&size));
                                if ok {
                                    assert_eq!(reader.chunk_size(), size);
                                }
                            }
                        }
                        2 => {
                            if let Some(csid) = be32(&msg.payload) {
                                reader.abort(csid);
                            }
                        }
                        _ => {}
                    }
                    if messages.len() == config.change_after {
                        reader.set_chunk_size(config.new_chunk_size).unwrap();
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        messages,
                        error: Some(error),
                        consumed: offset - input.len(),
                    };
                }
            }
        }
        // The input buffer and the reader's partial messages: each at most about twice what
        // was received (buffer growth doubles), plus the fixed per-stream state and what may be
        // allocated ahead of the data.
        let held = peak_bytes().saturating_sub(baseline);
        assert!(
            held <= 64 * 1024 + AHEAD_ALLOWANCE + 6 * offset,
            "reader holds {held} bytes after receiving {offset}"
        );
    }
    Outcome {
        messages,
        error: None,
        consumed: offset - input.len(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((ctrl, stream)) = data.split_first_chunk::<4>() else {
        return;
    };
    let max_message = match ctrl[0] & 3 {
        0 | 1 => MAX_MESSAGE_LENGTH,
        2 => u32::from(ctrl[1]) * 64,
        _ => u32::from(ctrl[1]),
    };
    let new_chunk_size = match ctrl[3] >> 6 {
        0 => u32::from(ctrl[3] & 0x3f) + 1,
        1 => 128,
        2 => 1 << (ctrl[3] % 31),
        _ => 0x7FFF_FFFF,
    };
    let config = Config {
        max_message,
        change_after: usize::from(ctrl[2] & 0x0f) + 1,
        new_chunk_size,
    };
    let seed = u64::from(u32::from_le_bytes(*ctrl));
    let mut reference = None;
    for plan in split_plans(stream.len(), seed) {
        let outcome = run(stream, &plan, &config);
        match &reference {
            None => reference = Some(outcome),
            Some(r) => assert_eq!(r, &outcome, "split {plan:?} differs"),
        }
    }
});
