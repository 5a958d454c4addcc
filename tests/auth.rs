//! Authentication: Adobe and Limelight challenge/response and secureToken against a scripted
//! server that checks the answers with its own arithmetic, and stream keys in the query string
//! against nginx-rtmp's on_publish check (a tiny HTTP service in the test).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::Nginx;
use common::pipeline::run;
use common::rtmp_server::{Conn, ScriptedServer, info};
use gstrtmp::protocol::amf0::Amf0Value;
use md5::{Digest, Md5};

const VIDEO: &str = "videotestsrc num-buffers=10 ! video/x-raw,width=160,height=120,framerate=25/1 \
     ! x264enc speed-preset=ultrafast ! h264parse";

fn app_of(args_object: &Amf0Value) -> String {
    args_object
        .get("app")
        .and_then(Amf0Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn query_field<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// Reads the connect command; returns (transaction, app with its query).
fn read_connect(c: &mut Conn) -> Option<(f64, String)> {
    c.handshake()?;
    loop {
        if let gstrtmp::protocol::message::Message::Command {
            name,
            transaction_id,
            command_object,
            ..
        } = c.read_message()?
            && name == "connect"
        {
            return Some((transaction_id, app_of(&command_object)));
        }
    }
}

fn reject(c: &mut Conn, txn: f64, description: &str) {
    let mut object = info("error", "NetConnection.Connect.Rejected");
    if let Amf0Value::Object(fields) = &mut object {
        fields.retain(|(k, _)| k != "description");
        fields.push(("description".into(), Amf0Value::String(description.into())));
    }
    c.command("_error", txn, 0, vec![object]);
}

/// The server side of Adobe authentication, with its own computation of the expected answer.
fn adobe_server(log: Arc<Mutex<Vec<String>>>) -> ScriptedServer {
    ScriptedServer::start(move |mut c: Conn| {
        let Some((txn, app)) = read_connect(&mut c) else {
            return;
        };
        log.lock().unwrap().push(app.clone());
        let Some((_, query)) = app.split_once('?') else {
            reject(
                &mut c,
                txn,
                "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ",
            );
            return;
        };
        if query_field(query, "response").is_none() {
            reject(
                &mut c,
                txn,
                "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=alice&salt=pepper&challenge=ch4l&opaque=0p4que",
            );
            return;
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let first = b64.encode(Md5::digest("alicepepperopen sesame"));
        let client_challenge = query_field(query, "challenge").unwrap_or_default();
        let expected = b64.encode(Md5::digest(format!("{first}0p4que{client_challenge}")));
        if query_field(query, "response") != Some(expected.as_str())
            || query_field(query, "opaque") != Some("0p4que")
        {
            reject(
                &mut c,
                txn,
                "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed",
            );
            return;
        }
        c.command(
            "_result",
            txn,
            0,
            vec![info("status", "NetConnection.Connect.Success")],
        );
        if c.accept_create_stream()
            && c.expect_command("publish").is_some()
            && c.status(1, "status", "NetStream.Publish.Start")
        {
            c.drain();
        }
    })
}

#[test]
fn adobe_challenge_response_gets_in() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = adobe_server(log.clone());
    let outcome = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location=rtmp://alice:open%20sesame@127.0.0.1:{}/live/x timeout=3 sync=false",
            server.port
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
    let apps = log.lock().unwrap().clone();
    assert_eq!(apps.len(), 3, "{apps:?}");
    assert_eq!(apps[0], "live");
    assert_eq!(apps[1], "live?authmod=adobe&user=alice");
    assert!(apps[2].starts_with("live?authmod=adobe&user=alice&challenge="));
}

#[test]
fn a_wrong_password_is_a_clear_authorization_error() {
    let server = adobe_server(Arc::default());
    let outcome = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location=rtmp://alice:wrong@127.0.0.1:{}/live/x timeout=3",
            server.port
        ),
        Duration::from_secs(30),
    );
    let (err, _) = outcome.error.as_ref().expect("error");
    assert!(err.matches(gst::ResourceError::NotAuthorized), "{err:?}");
    assert!(
        err.message().contains("wrong user name or password"),
        "{err:?}"
    );
    assert!(!outcome.error_text().contains("wrong@"));
}

#[test]
fn no_credentials_says_so() {
    let server = adobe_server(Arc::default());
    let outcome = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location=rtmp://127.0.0.1:{}/live/x timeout=3",
            server.port
        ),
        Duration::from_secs(30),
    );
    assert!(
        outcome.error_text().contains("set user name and password"),
        "{}",
        outcome.error_text()
    );
}

#[test]
fn limelight_digest_gets_in() {
    let server = ScriptedServer::start(|mut c: Conn| {
        let Some((txn, app)) = read_connect(&mut c) else {
            return;
        };
        let Some((_, query)) = app.split_once('?') else {
            reject(
                &mut c,
                txn,
                "[ AccessManager.Reject ] : [ code=403 need auth; authmod=llnw ] : ",
            );
            return;
        };
        let Some(response) = query_field(query, "response") else {
            reject(
                &mut c,
                txn,
                "[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=needauth&nonce=n0nce",
            );
            return;
        };
        let hex = |s: String| {
            Md5::digest(s)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let ha1 = hex("bob:live:pw".to_string());
        let ha2 = hex("publish:/live/_definst_".to_string());
        let cnonce = query_field(query, "cnonce").unwrap_or_default();
        let expected = hex(format!("{ha1}:n0nce:00000001:{cnonce}:auth:{ha2}"));
        if response != expected {
            reject(&mut c, txn, "?reason=authfailed");
            return;
        }
        c.command(
            "_result",
            txn,
            0,
            vec![info("status", "NetConnection.Connect.Success")],
        );
        if c.accept_create_stream() && c.expect_command("publish").is_some() {
            c.status(1, "status", "NetStream.Publish.Start");
            c.drain();
        }
    });
    let outcome = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location=rtmp://bob:pw@127.0.0.1:{}/live/x timeout=3 sync=false authmod=llnw",
            server.port
        ),
        Duration::from_secs(30),
    );
    outcome.assert_eos();
}

#[test]
fn secure_token_challenge_is_answered() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    let server = ScriptedServer::start(move |mut c: Conn| {
        let Some((txn, _)) = read_connect(&mut c) else {
            return;
        };
        let mut object = info("status", "NetConnection.Connect.Success");
        if let Amf0Value::Object(fields) = &mut object {
            // "token123" under key "0123456789abcdef" (see the protocol unit test).
            fields.push((
                "secureToken".into(),
                Amf0Value::String("56e602a1617f961a".into()),
            ));
        }
        c.command("_result", txn, 0, vec![object]);
        if let Some((_, args)) = c.expect_command("secureTokenResponse") {
            let _ = tx.lock().unwrap().send(args);
        }
        c.drain();
    });
    let _ = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location=rtmp://127.0.0.1:{}/live/x timeout=2 secure-token=0123456789abcdef",
            server.port
        ),
        Duration::from_secs(10),
    );
    let args = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("secureTokenResponse");
    assert_eq!(args, vec![Amf0Value::String("token123".into())]);
}

/// A one-request-per-connection HTTP service that answers nginx's on_publish: 200 when the
/// form names the stream key `token=good`, 403 otherwise.
fn publish_checker() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let form = String::from_utf8_lossy(&body);
            let allowed = form.split('&').any(|kv| kv == "token=good");
            let status = if allowed { "200 OK" } else { "403 Forbidden" };
            let _ = reader.get_mut().write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    port
}

#[test]
fn stream_keys_in_the_query_reach_nginx_on_publish() {
    let checker = publish_checker();
    let nginx = Nginx::start_with(&format!(
        "application keyed {{ live on; on_publish http://127.0.0.1:{checker}/publish; }}"
    ));
    let good = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location={} sync=false",
            nginx.url("keyed/cam?token=good")
        ),
        Duration::from_secs(30),
    );
    good.assert_eos();
    let bad = run(
        &format!(
            "{VIDEO} ! rtmpsink name=s location={} sync=false reconnect-attempts=0",
            nginx.url("keyed/cam?token=bad")
        ),
        Duration::from_secs(30),
    );
    assert!(bad.error.is_some() && !bad.eos, "a wrong key was accepted");
}
