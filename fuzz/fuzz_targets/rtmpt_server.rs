//! The RTMPT server side against arbitrary HTTP bytes from one connection, fed in many splits,
//! each request routed to a session table as the listener's gateway does.
//!
//! Invariants: the requests parsed, and the error that ends the connection, do not depend on
//! the splits; bytes are fed only while `room()` allows and the reader never holds more than
//! a head and a body (bounded memory); every body is within the limit; an error carries a
//! 4xx/5xx status and its reply is a well-formed HTTP head; replies to routed requests are
//! `200` with a Content-Length equal to their body, the body at most a polling byte and
//! `max_reply_body`; bytes buffered for a client never pass `max_to_client`.
//!
//! Input: 8 bytes of split seed, then the connection's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

use gst_plugin_rtmp_fuzz::split_plans;
use gstrtmp::protocol::rtmpt::server::{SessionTable, error_reply};
use gstrtmp::protocol::rtmpt::{Command, HttpError, Request, RequestReader, ServerLimits};

const LIMITS: ServerLimits = ServerLimits {
    max_head: 1024,
    max_request_body: 4096,
    max_reply_body: 512,
    max_to_client: 2048,
    max_sessions: 4,
    idle_timeout_ms: 1000,
};

/// Feeds `data` in pieces of `plan`, as the listener would read it; returns the requests and
/// the error that ended the connection.
fn run(data: &[u8], plan: &[usize]) -> (Vec<Request>, Option<HttpError>) {
    let mut reader = RequestReader::new(LIMITS);
    let mut requests = Vec::new();
    let mut offset = 0;
    let mut pieces = plan.iter().copied();
    let mut piece_left = 0;
    loop {
        match reader.next_request() {
            Ok(Some(request)) => {
                assert!(request.body.len() <= LIMITS.max_request_body);
                requests.push(request);
                continue;
            }
            Ok(None) => {}
            Err(error) => {
                assert!((400..600).contains(&error.status), "{error:?}");
                return (requests, Some(error));
            }
        }
        assert!(reader.buffered() <= LIMITS.max_head + 1 + LIMITS.max_request_body);
        if offset == data.len() {
            return (requests, None);
        }
        if piece_left == 0 {
            piece_left = pieces.next().unwrap_or(data.len() - offset).max(1);
        }
        let n = piece_left.min(reader.room()).min(data.len() - offset);
        assert!(n > 0, "the reader must take bytes while it has no request");
        reader.feed(&data[offset..offset + n]);
        offset += n;
        piece_left -= n;
    }
}

fn content_length(head: &[u8]) -> usize {
    let text = std::str::from_utf8(head).expect("reply head is text");
    assert!(text.starts_with("HTTP/1.1 "), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .expect("a number")
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 8 {
        return;
    }
    let seed = u64::from_le_bytes(input[..8].try_into().unwrap());
    let data = &input[8..];
    let expected = run(data, &[data.len()]);
    for plan in split_plans(data.len(), seed) {
        assert_eq!(run(data, &plan), expected, "split {plan:?}");
    }
    let (requests, error) = expected;
    if let Some(error) = error {
        let reply = error_reply(error);
        let end = reply.len();
        assert_eq!(content_length(&reply[..end]), 0);
    }
    let mut table = SessionTable::new(LIMITS);
    let mut ids = Vec::new();
    for (i, request) in requests.into_iter().enumerate() {
        match &request.command {
            Command::Open => {
                let random = [i as u8; 16];
                match table.open(i as u64, &random, (), request.keep_alive) {
                    Ok((id, reply)) => {
                        let head_end = reply.len() - id.len() - 1;
                        assert_eq!(content_length(&reply[..head_end]), id.len() + 1);
                        ids.push(id);
                    }
                    Err(error) => assert_eq!(error.status, 503),
                }
            }
            command => {
                // Route the fuzzed id, or (to reach the replies) a real one picked by the body.
                let id = match (ids.is_empty(), request.body.first()) {
                    (false, Some(&b)) if b & 1 == 1 => ids[b as usize % ids.len()].clone(),
                    _ => command.session().unwrap_or_default().to_owned(),
                };
                let Some(session) = table.get_mut(&id) else {
                    continue;
                };
                session.push_to_client(&request.body);
                assert!(LIMITS.max_to_client - session.room_to_client() <= LIMITS.max_to_client);
                let [head, body] = session.reply(request.keep_alive);
                let length = content_length(&head[..head.len() - 1]);
                assert_eq!(length, body.len() + 1);
                assert!(body.len() <= LIMITS.max_reply_body);
            }
        }
    }
    table.expire(u64::MAX);
    assert!(table.is_empty());
});
