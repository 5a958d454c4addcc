use bytes::Bytes;

use super::server::{close_reply, error_reply};
use super::*;

fn concat(parts: [Bytes; 2]) -> Vec<u8> {
    let mut out = parts[0].to_vec();
    out.extend_from_slice(&parts[1]);
    out
}

fn client() -> TunnelClient {
    TunnelClient::new(TunnelClientConfig::direct("127.0.0.1", 8080))
}

const OPEN_REPLY: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-fcs\r\nContent-Length: 9\r\n\r\nab12cd34\n";

#[test]
fn client_opens_with_one_byte_post() {
    let mut c = client();
    let request = concat(c.poll_request(0).unwrap());
    let text = String::from_utf8_lossy(&request);
    assert!(text.starts_with("POST /open/1 HTTP/1.1\r\n"), "{text}");
    assert!(text.contains("\r\nHost: 127.0.0.1:8080\r\n"));
    assert!(text.contains("\r\nContent-Type: application/x-fcs\r\n"));
    assert!(text.contains("\r\nConnection: Keep-Alive\r\n"));
    assert!(
        text.ends_with("\r\nContent-Length: 1\r\n\r\n\0"),
        "{text:?}"
    );
    // One request in flight: nothing more until the reply.
    c.queue(b"C0C1");
    assert!(c.poll_request(0).is_none());
    c.handle_input(OPEN_REPLY, 0).unwrap();
    assert_eq!(c.session_id(), Some("ab12cd34"));
    let send = concat(c.poll_request(0).unwrap());
    let text = String::from_utf8_lossy(&send);
    assert!(
        text.starts_with("POST /send/ab12cd34/0 HTTP/1.1\r\n"),
        "{text}"
    );
    assert!(text.ends_with("Content-Length: 4\r\n\r\nC0C1"), "{text:?}");
}

#[test]
fn client_batches_what_is_queued_during_a_request() {
    let mut c = client();
    c.poll_request(0).unwrap();
    c.handle_input(OPEN_REPLY, 0).unwrap();
    c.queue(b"one");
    let first = c.poll_request(0).unwrap();
    assert_eq!(&first[1][..], b"one");
    c.queue(b"two");
    c.queue(b"three");
    assert!(c.poll_request(0).is_none(), "a request is in flight");
    // The reply arrives in pieces: polling byte 1 and 3 RTMP bytes.
    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\x01S0S";
    for byte in reply.iter() {
        c.handle_input(std::slice::from_ref(byte), 5).unwrap();
    }
    assert_eq!(&c.take_received()[..], b"S0S");
    let second = c.poll_request(5).unwrap();
    assert!(String::from_utf8_lossy(&second[0]).starts_with("POST /send/ab12cd34/1 "));
    assert_eq!(&second[1][..], b"twothree");
}

#[test]
fn client_idles_at_once_after_data_and_waits_after_an_empty_reply() {
    let mut c = client();
    c.poll_request(0).unwrap();
    c.handle_input(OPEN_REPLY, 0).unwrap();
    let idle = c.poll_request(0).unwrap();
    assert!(String::from_utf8_lossy(&idle[0]).starts_with("POST /idle/ab12cd34/0 "));
    assert_eq!(&idle[1][..], b"\0");
    c.handle_input(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\x01hi", 100)
        .unwrap();
    assert_eq!(c.next_poll_at(), Some(0), "data came: poll again at once");
    c.poll_request(100).unwrap();
    // Empty reply with polling byte 9: wait 90 ms.
    c.handle_input(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n\x09", 200)
        .unwrap();
    assert_eq!(c.next_poll_at(), Some(290));
    assert!(c.poll_request(289).is_none());
    // Data to send does not wait for the interval.
    c.queue(b"x");
    assert!(c.poll_request(250).is_some());
}

#[test]
fn idle_delay_is_bounded() {
    assert_eq!(client::idle_delay(0), client::MIN_IDLE_DELAY_MS);
    assert_eq!(client::idle_delay(1), 10);
    assert_eq!(client::idle_delay(33), 330);
    assert_eq!(client::idle_delay(255), client::MAX_IDLE_DELAY_MS);
}

#[test]
fn client_errors_on_404_and_other_statuses() {
    let mut c = client();
    c.poll_request(0).unwrap();
    c.handle_input(OPEN_REPLY, 0).unwrap();
    c.poll_request(0).unwrap();
    assert_eq!(
        c.handle_input(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0),
        Err(TunnelError::SessionGone)
    );
    let mut c = client();
    c.poll_request(0).unwrap();
    assert_eq!(
        c.handle_input(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", 0),
        Err(TunnelError::Status(503))
    );
    let mut c = client();
    c.poll_request(0).unwrap();
    assert!(matches!(
        c.handle_input(b"SSH-2.0-OpenSSH\r\n\r\n", 0),
        Err(TunnelError::Malformed(_))
    ));
    let mut c = client();
    assert_eq!(c.handle_input(b"x", 0), Err(TunnelError::Unsolicited));
}

#[test]
fn client_closes_after_sending_what_is_queued() {
    let mut c = client();
    c.poll_request(0).unwrap();
    c.handle_input(OPEN_REPLY, 0).unwrap();
    c.queue(b"bye");
    c.close();
    let send = c.poll_request(0).unwrap();
    assert_eq!(&send[1][..], b"bye");
    c.handle_input(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n\x01", 0)
        .unwrap();
    let close = c.poll_request(0).unwrap();
    assert!(String::from_utf8_lossy(&close[0]).starts_with("POST /close/ab12cd34/1 "));
    c.handle_input(&close_reply(true), 0).unwrap();
    assert!(c.is_closed());
    assert!(c.poll_request(1000).is_none());
}

#[test]
fn client_through_a_proxy_uses_absolute_targets() {
    let mut config = TunnelClientConfig::direct("::1", 80);
    config.target_prefix = "http://[::1]:80".into();
    config.proxy_authorization = Some("Basic dTpw".into());
    let mut c = TunnelClient::new(config);
    let text = String::from_utf8(concat(c.poll_request(0).unwrap())).unwrap();
    assert!(
        text.starts_with("POST http://[::1]:80/open/1 HTTP/1.1\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nHost: [::1]:80\r\n"));
    assert!(text.contains("\r\nProxy-Authorization: Basic dTpw\r\n"));
}

fn reader() -> RequestReader {
    RequestReader::new(ServerLimits::default())
}

#[test]
fn server_parses_ffmpeg_requests() {
    // As FFmpeg 5.1's http.c writes them (headers in its order).
    let open = b"POST /open/1 HTTP/1.1\r\nTransfer-Encoding: identity\r\n";
    let mut r = reader();
    r.feed(open);
    r.feed(b"\r\n");
    assert_eq!(
        r.next_request(),
        Err(HttpError::new(501, "chunked requests are not supported"))
    );
    let mut r = reader();
    r.feed(
        b"POST /open/1 HTTP/1.1\r\nUser-Agent: Shockwave Flash\r\nAccept: */*\r\n\
          Connection: keep-alive\r\nHost: 127.0.0.1:1935\r\nIcy-MetaData: 1\r\n\
          Content-Type: application/x-fcs\r\nContent-Length: 1\r\n\r\n\0\
          POST /send/0123abcd/0 HTTP/1.1\r\nContent-Length: 3\r\n\r\nab",
    );
    let request = r.next_request().unwrap().unwrap();
    assert_eq!(request.command, Command::Open);
    assert_eq!(&request.body[..], b"\0");
    assert!(request.keep_alive);
    assert_eq!(r.next_request(), Ok(None), "body not complete");
    r.feed(b"c");
    let request = r.next_request().unwrap().unwrap();
    assert_eq!(
        request.command,
        Command::Send {
            session: "0123abcd".into(),
            seq: 0
        }
    );
    assert_eq!(&request.body[..], b"abc");
    assert_eq!(r.buffered(), 0);
}

#[test]
fn server_parses_librtmp_idle_and_close() {
    let mut r = reader();
    r.feed(
        b"POST /idle/abc/7 HTTP/1.1\r\nHost: h:80\r\nAccept: */*\r\nUser-Agent: Shockwave Flash\r\n\
          Connection: Keep-Alive\r\nCache-Control: no-cache\r\nContent-type: application/x-fcs\r\n\
          Content-length: 1\r\n\r\n\0POST /close/abc/8 HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    );
    let idle = r.next_request().unwrap().unwrap();
    assert_eq!(
        idle.command,
        Command::Idle {
            session: "abc".into(),
            seq: 7
        }
    );
    let close = r.next_request().unwrap().unwrap();
    assert_eq!(close.command.session(), Some("abc"));
    assert!(!close.keep_alive, "HTTP/1.0 without keep-alive");
}

#[test]
fn server_refuses_malformed_requests_with_a_status() {
    let cases: &[(&[u8], u16)] = &[
        (b"GET /open/1 HTTP/1.1\r\n\r\n", 405),
        (b"POST /open/1 HTTP/1.1\r\n\r\n", 411),
        (b"POST /open/1 HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (
            b"POST /open/1 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        (
            b"POST /open/1 HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
            413,
        ),
        (
            b"POST /fcs/ident2 HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
            404,
        ),
        (
            b"POST /send/a/b/c HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
            404,
        ),
        (
            b"POST /send/a%20b/1 HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
            404,
        ),
        (
            b"POST /send/abc/-1 HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
            400,
        ),
        (b"POST /idle HTTP/1.1\r\nContent-Length: 1\r\n\r\n", 404),
        (b"\x03\x00\x00\x00\x00\r\n\r\n", 400),
        (b"POST  HTTP/1.1\r\n\r\n", 400),
    ];
    for (bytes, status) in cases {
        let mut r = reader();
        r.feed(bytes);
        let error = r.next_request().unwrap_err();
        assert_eq!(
            error.status,
            *status,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        let reply = String::from_utf8(error_reply(error).to_vec()).unwrap();
        assert!(reply.starts_with(&format!("HTTP/1.1 {status} ")), "{reply}");
        assert!(reply.contains("Connection: close"));
    }
    let mut r = reader();
    r.feed(b"POST /open/1 HTTP/1.1\r\n");
    r.feed(&vec![b'a'; 9000]);
    assert_eq!(r.next_request().unwrap_err().status, 431);
    let mut r = reader();
    let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
    r.feed(format!("POST /open/1 HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert_eq!(r.next_request().unwrap_err().status, 431);
}

#[test]
fn server_reader_room_bounds_what_is_read() {
    let mut r = reader();
    assert_eq!(r.room(), 8 * 1024 + 1);
    r.feed(b"POST /send/abc/1 HTTP/1.1\r\nContent-Length: 10\r\n\r\n");
    assert_eq!(r.next_request(), Ok(None));
    assert_eq!(r.room(), 10, "the body and no more");
    r.feed(b"0123456789");
    assert_eq!(r.room(), 0);
    assert!(r.next_request().unwrap().is_some());
}

#[test]
fn absolute_targets_from_a_proxy_are_routed_by_path() {
    let mut r = reader();
    r.feed(b"POST http://example.com:8080/idle/abc/3?x=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        r.next_request().unwrap().unwrap().command,
        Command::Idle {
            session: "abc".into(),
            seq: 3
        }
    );
}

#[test]
fn sessions_open_reply_and_expire() {
    let limits = ServerLimits {
        max_sessions: 2,
        max_to_client: 8,
        max_reply_body: 5,
        idle_timeout_ms: 1000,
        ..ServerLimits::default()
    };
    let mut table = SessionTable::new(limits);
    let (id, reply) = table.open(0, &[0xab; 16], "first", true).unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let reply = String::from_utf8(reply.to_vec()).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(reply.contains("Content-Type: application/x-fcs\r\n"));
    assert!(reply.contains("Content-Length: 33\r\n"));
    assert!(reply.ends_with(&format!("\r\n\r\n{id}\n")));
    assert_eq!(
        table
            .open(0, &[0xab; 16], "again", true)
            .unwrap_err()
            .status,
        503
    );
    table.open(0, &[1; 16], "second", true).unwrap();
    assert_eq!(
        table.open(0, &[2; 16], "third", true).unwrap_err().status,
        503
    );

    let entry = table.get_mut(&id).unwrap();
    assert_eq!(entry.push_to_client(b"0123456789"), 8, "bounded");
    assert_eq!(entry.room_to_client(), 0);
    let [head, body] = entry.reply(true);
    assert!(String::from_utf8_lossy(&head).contains("Content-Length: 6\r\n"));
    assert_eq!(head.last(), Some(&1), "polling byte");
    assert_eq!(&body[..], b"01234");
    let [_, body] = entry.reply(true);
    assert_eq!(&body[..], b"567");
    entry.touch(600);
    let expired = table.expire(1200);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].1.data, "second");
    assert_eq!(table.next_expiry(), Some(1600));
    assert!(table.get_mut(&id).is_some());
}

#[test]
fn polling_byte_grows_as_replies_stay_empty() {
    let mut table = SessionTable::new(ServerLimits::default());
    let (id, _) = table.open(0, &[7; 16], (), true).unwrap();
    let entry = table.get_mut(&id).unwrap();
    let bytes: Vec<u8> = (0..70)
        .map(|_| *entry.reply(true)[0].last().unwrap())
        .collect();
    assert_eq!(&bytes[..10], &[1; 10]);
    assert_eq!(bytes[10], 3);
    assert_eq!(bytes[20], 5);
    assert_eq!(bytes[30], 9);
    assert_eq!(bytes[40], 17);
    assert_eq!(bytes[50], 33);
    assert_eq!(bytes[69], 33);
    entry.push_to_client(b"x");
    assert_eq!(*entry.reply(true)[0].last().unwrap(), 1);
    assert_eq!(*entry.reply(true)[0].last().unwrap(), 1);
}

/// Our client against our server's codec, bytes passed by hand.
#[test]
fn client_and_server_round_trip() {
    let mut c = client();
    let mut r = reader();
    let mut table = SessionTable::new(ServerLimits::default());
    c.queue(b"C0C1");
    r.feed(&concat(c.poll_request(0).unwrap()));
    let open = r.next_request().unwrap().unwrap();
    assert_eq!(open.command, Command::Open);
    let (id, reply) = table.open(0, &[9; 16], Vec::<u8>::new(), true).unwrap();
    c.handle_input(&reply, 0).unwrap();
    assert_eq!(c.session_id(), Some(id.as_str()));
    let mut to_server = Vec::new();
    for round in 0..4u64 {
        if round == 2 {
            c.queue(b"C2");
        }
        let Some(request) = c.poll_request(round * 100) else {
            continue;
        };
        r.feed(&concat(request));
        let request = r.next_request().unwrap().unwrap();
        let session = table.get_mut(request.command.session().unwrap()).unwrap();
        if let Command::Send { .. } = request.command {
            to_server.extend_from_slice(&request.body);
        }
        if round == 0 {
            session.push_to_client(b"S0S1S2");
        }
        let reply = concat(session.reply(request.keep_alive));
        c.handle_input(&reply, round * 100).unwrap();
    }
    assert_eq!(to_server, b"C0C1C2");
    assert_eq!(&c.take_received()[..], b"S0S1S2");
}
