use super::*;
use std::sync::Mutex;

fn options(stream: &str, key: Option<&str>) -> ListenOptions {
    ListenOptions {
        host: "127.0.0.1".into(),
        port: 0,
        app: "live".into(),
        stream: stream.into(),
        stream_key: key.map(str::to_owned),
        role: ListenRole::Publishers,
        max_clients: 1,
        setup_timeout: Duration::from_secs(1),
        tls: None,
        max_outgoing_bytes: 1 << 20,
        max_incoming_bytes: 1 << 20,
        log_id: "test".into(),
        notify: Arc::new(|_| {}),
    }
}

#[test]
fn the_application_is_compared_without_query_or_trailing_slash() {
    assert!(app_matches("live", "live"));
    assert!(app_matches("live", "live/"));
    assert!(app_matches("live", "live?key=abc"));
    assert!(!app_matches("live", "other"));
    assert!(!app_matches("live", "Live"));
    assert!(app_matches("app/inst", "app/inst"));
}

#[test]
fn without_a_key_the_stream_name_must_match_and_its_query_is_ignored() {
    let o = options("cam", None);
    assert_eq!(check_stream(&o, Some("live"), "cam"), StreamCheck::Ok);
    assert_eq!(check_stream(&o, Some("live"), "cam?x=1"), StreamCheck::Ok);
    assert_eq!(
        check_stream(&o, Some("live"), "cam2"),
        StreamCheck::WrongStream
    );
    assert_eq!(check_stream(&o, Some("live"), ""), StreamCheck::WrongStream);
}

#[test]
fn a_key_is_presented_as_any_query_value_or_as_the_stream_name() {
    let o = options("cam", Some("s3cret"));
    assert_eq!(check_stream(&o, Some("live"), "cam"), StreamCheck::WrongKey);
    assert_eq!(
        check_stream(&o, Some("live"), "cam?key=s3cret"),
        StreamCheck::Ok
    );
    assert_eq!(
        check_stream(&o, Some("live"), "cam?a=1&token=s3cret"),
        StreamCheck::Ok
    );
    assert_eq!(
        check_stream(&o, Some("live?key=s3cret"), "cam"),
        StreamCheck::Ok
    );
    assert_eq!(check_stream(&o, Some("live"), "s3cret"), StreamCheck::Ok);
    assert_eq!(
        check_stream(&o, Some("live"), "cam?key=s3cre"),
        StreamCheck::WrongKey
    );
    assert_eq!(
        check_stream(&o, Some("live"), "cam?s3cret"),
        StreamCheck::WrongKey
    );
    assert_eq!(
        check_stream(&o, Some("live"), "other?key=s3cret"),
        StreamCheck::WrongStream
    );
}

#[test]
fn binding_a_port_in_use_fails_at_bind_with_the_address() {
    gst::init().unwrap();
    let first = Listener::bind(options("cam", None)).unwrap();
    let port = first.local_addr().port();
    let mut second = options("cam", None);
    second.port = port;
    match Listener::bind(second) {
        Err(ConnectionError::Bind { addr, .. }) => assert_eq!(addr, format!("127.0.0.1:{port}")),
        other => panic!(
            "expected a bind error, got {:?}",
            other.map(|l| l.local_addr())
        ),
    }
}

#[test]
fn unreadable_tls_files_fail_at_bind_naming_the_file() {
    gst::init().unwrap();
    let mut o = options("cam", None);
    o.tls = Some(ServerTlsOptions {
        certificate_file: "/nonexistent/cert.pem".into(),
        key_file: "/nonexistent/key.pem".into(),
    });
    match Listener::bind(o) {
        Err(ConnectionError::ServerTls(text)) => {
            assert!(text.contains("/nonexistent/cert.pem"), "{text}")
        }
        other => panic!(
            "expected a TLS error, got {:?}",
            other.map(|l| l.local_addr())
        ),
    }
}

#[test]
fn accept_times_out_and_returns_flushing_while_flushing() {
    gst::init().unwrap();
    let listener = Listener::bind(options("cam", None)).unwrap();
    assert!(
        listener
            .accept(Some(Duration::from_millis(20)))
            .unwrap()
            .is_none()
    );
    listener.set_flushing(true);
    assert!(matches!(
        listener.accept(None),
        Err(ConnectionError::Flushing)
    ));
    listener.set_flushing(false);
    assert!(listener.accept(Some(Duration::ZERO)).unwrap().is_none());
}

#[test]
fn beyond_the_pending_cap_the_oldest_client_in_setup_is_closed() {
    use std::io::Read;
    gst::init().unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let mut o = options("cam", None);
    o.setup_timeout = Duration::from_secs(30);
    o.notify = Arc::new(move |n| seen.lock().unwrap().push(n));
    let listener = Listener::bind(o).unwrap();
    let addr = listener.local_addr();
    // The unit-test cap is 8: the ninth idle client closes the first.
    let mut clients: Vec<std::net::TcpStream> = (0..9)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    clients[0]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        clients[0].read(&mut buf).unwrap(),
        0,
        "the oldest is closed"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while notices.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let notices = notices.lock().unwrap();
    assert!(
        matches!(&notices[..], [ClientNotice::Refused { reason, .. }] if reason.contains("too many")),
        "{notices:?}"
    );
    assert_eq!(listener.stats().refused, 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while listener.stats().pending != 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(listener.stats().pending, 8);
}
