use super::*;
use crate::uri::percent_decode;

fn parse(uri: &str) -> Location {
    Location::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
}

#[test]
fn parses_plain_location_with_default_port() {
    let loc = parse("rtmp://example.com/live/myStream");
    assert_eq!(loc.scheme, Scheme::Rtmp);
    assert_eq!(loc.host, "example.com");
    assert_eq!(loc.port, 1935);
    assert_eq!(loc.application, "live");
    assert_eq!(loc.stream, "myStream");
    assert_eq!(loc.username, None);
    assert_eq!(loc.password, None);
}

#[test]
fn application_is_everything_up_to_the_last_slash() {
    let loc = parse("rtmp://h/app/inst/stream");
    assert_eq!(loc.application, "app/inst");
    assert_eq!(loc.stream, "stream");
}

#[test]
fn query_stays_on_the_stream_name() {
    let loc = parse("rtmp://h/live/name?token=abc");
    assert_eq!(loc.application, "live");
    assert_eq!(loc.stream, "name?token=abc");
    // A '/' inside the query (base64 tokens) does not move the split.
    let loc = parse("rtmp://h/app/inst/key?sig=a/b+c==");
    assert_eq!(loc.application, "app/inst");
    assert_eq!(loc.stream, "key?sig=a/b+c==");
}

#[test]
fn path_is_kept_verbatim() {
    let loc = parse("rtmp://h/live/a%20b");
    assert_eq!(loc.stream, "a%20b");
    assert_eq!(loc.to_uri(), "rtmp://h/live/a%20b");
}

#[test]
fn userinfo_is_percent_decoded() {
    let loc = parse("rtmp://us%40er:p%3Ass%2Fw%25rd@h:1936/live/s");
    assert_eq!(loc.username.as_deref(), Some("us@er"));
    assert_eq!(loc.password.as_deref(), Some("p:ss/w%rd"));
    assert_eq!(loc.port, 1936);
    let loc = parse("rtmp://user@h/live/s");
    assert_eq!(loc.username.as_deref(), Some("user"));
    assert_eq!(loc.password, None);
}

#[test]
fn percent_decode_leaves_invalid_sequences() {
    assert_eq!(percent_decode("a%zzb%4"), "a%zzb%4");
    assert_eq!(percent_decode("%41%42%"), "AB%");
    assert_eq!(percent_decode("%C3%A9"), "é");
    assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    assert_eq!(percent_decode("%+1%-1%4g"), "%+1%-1%4g");
    assert_eq!(percent_decode("%7e%7E"), "~~");
}

#[test]
fn rtmps_defaults_to_port_443() {
    let loc = parse("rtmps://live-api-s.facebook.com/rtmp/KEY");
    assert_eq!(loc.scheme, Scheme::Rtmps);
    assert_eq!(loc.port, 443);
    assert_eq!(loc.tc_url(), "rtmps://live-api-s.facebook.com/rtmp");
    let loc = parse("RTMPS://h:1935/app/s");
    assert_eq!(loc.scheme, Scheme::Rtmps);
    assert_eq!(loc.port, 1935);
}

#[test]
fn rtmpt_defaults_to_http_ports() {
    let loc = parse("rtmpt://h/live/x");
    assert_eq!(loc.scheme, Scheme::Rtmpt);
    assert_eq!(loc.port, 80);
    assert!(loc.scheme.is_tunnel() && !loc.scheme.is_tls());
    assert_eq!(loc.tc_url(), "rtmpt://h/live");
    assert_eq!(loc.to_uri(), "rtmpt://h/live/x");
    let loc = parse("RTMPTS://h/live/x");
    assert_eq!(loc.scheme, Scheme::Rtmpts);
    assert_eq!(loc.port, 443);
    assert!(loc.scheme.is_tunnel() && loc.scheme.is_tls());
    let loc = parse("rtmpt://[::1]:8080/live/x?k=v");
    assert_eq!(loc.port, 8080);
    assert_eq!(loc.to_uri(), "rtmpt://[::1]:8080/live/x?k=v");
}

#[test]
fn ipv6_host() {
    let loc = parse("rtmp://[::1]:1936/live/x");
    assert_eq!(loc.host, "::1");
    assert_eq!(loc.port, 1936);
    assert_eq!(loc.application, "live");
    assert_eq!(loc.stream, "x");
    assert_eq!(loc.tc_url(), "rtmp://[::1]:1936/live");
    assert_eq!(loc.to_uri(), "rtmp://[::1]:1936/live/x");
}

#[test]
fn ipv4_host() {
    let loc = parse("rtmp://127.0.0.1:19350/live/x");
    assert_eq!(loc.host, "127.0.0.1");
    assert_eq!(loc.port, 19350);
}

#[test]
fn errors() {
    let err = |uri: &str| Location::parse(uri).unwrap_err();
    assert_eq!(
        err("http://h/live/x"),
        LocationError::UnsupportedScheme("http".into())
    );
    assert_eq!(
        err("rtmpe://h/live/x"),
        LocationError::UnsupportedScheme("rtmpe".into())
    );
    assert!(matches!(err("h/live/x"), LocationError::Malformed(_)));
    assert_eq!(err("rtmp:///live/x"), LocationError::NoHost);
    assert_eq!(err("rtmp://user:pw@/live/x"), LocationError::NoHost);
    assert_eq!(err("rtmp://h"), LocationError::NoApplication);
    assert_eq!(err("rtmp://h/"), LocationError::NoApplication);
    assert_eq!(err("rtmp://h?x=1"), LocationError::NoApplication);
    assert_eq!(err("rtmp://h//stream"), LocationError::NoApplication);
    assert_eq!(err("rtmp://h/live"), LocationError::NoStream);
    assert_eq!(err("rtmp://h/live/"), LocationError::NoStream);
    assert_eq!(err("rtmp://h/live?key=1"), LocationError::NoStream);
    assert_eq!(err("rtmp://h/live/?key=1"), LocationError::NoStream);
    assert_eq!(err("rtmp://h:0/live/x"), LocationError::BadPort);
    assert_eq!(err("rtmp://h:65536/live/x"), LocationError::BadPort);
    assert_eq!(err("rtmp://h:port/live/x"), LocationError::BadPort);
}

#[test]
fn error_messages_do_not_contain_the_uri() {
    let e = Location::parse("rtmp://u:secret@h:99999/live/x").unwrap_err();
    assert!(!e.to_string().contains("secret"), "{e}");
    let e = Location::parse("rtmp://u:secret@[::1/live/x").unwrap_err();
    assert!(matches!(e, LocationError::Malformed(_)));
    assert!(!e.to_string().contains("secret"), "{e}");
}

#[test]
fn to_uri_never_contains_the_password() {
    let loc = parse("rtmp://alice:s3cr3t@h/live/x?k=1");
    let uri = loc.to_uri();
    assert_eq!(uri, "rtmp://alice@h/live/x?k=1");
    assert!(!uri.contains("s3cr3t"));
    // Password without user name.
    let loc = parse("rtmp://:s3cr3t@h/live/x");
    assert_eq!(loc.username, None);
    assert_eq!(loc.password.as_deref(), Some("s3cr3t"));
    assert_eq!(loc.to_uri(), "rtmp://h/live/x");
}

#[test]
fn to_uri_round_trips_without_password() {
    for uri in [
        "rtmp://localhost/live/myStream",
        "rtmps://h/app/inst/key?token=abc",
        "rtmp://h:1936/live/x",
        "rtmps://h:1935/live/x",
        "rtmp://h:443/live/x",
        "rtmp://us%40er%3A@h/live/x",
        "rtmp://[2001:db8::1]/live/x",
    ] {
        let loc = parse(uri);
        assert_eq!(loc.to_uri(), uri);
        assert_eq!(parse(&loc.to_uri()), loc);
    }
    let loc = parse("rtmp://us%40er%3A@h/live/x");
    assert_eq!(loc.username.as_deref(), Some("us@er:"));
}

#[test]
fn debug_redacts_the_password() {
    let loc = parse("rtmp://alice:s3cr3t@h/live/x");
    let dbg = format!("{loc:?}");
    assert!(!dbg.contains("s3cr3t"), "{dbg}");
    assert!(dbg.contains("<redacted>"), "{dbg}");
    assert!(dbg.contains("alice"), "{dbg}");
    let settings = Settings {
        location: loc,
        ..Settings::default()
    };
    let dbg = format!("{settings:?}");
    assert!(!dbg.contains("s3cr3t"), "{dbg}");
    assert!(!format!("{:?}", Location::default()).contains("<redacted>"));
}

#[test]
fn printed_forms_redact_query_values() {
    let mut loc = parse("rtmp://alice:pw@h:1936/app/stream?key=SECRET123&x");
    assert_eq!(
        loc.to_redacted_uri(),
        "rtmp://alice@h:1936/app/stream?key=<redacted>&<redacted>"
    );
    assert_eq!(loc.redacted_stream(), "stream?key=<redacted>&<redacted>");
    // A `/` in a token stays in the query; an application (set on its own) may carry one too.
    let slashed = parse("rtmp://h/app/s?key=ab/SECRET123");
    assert_eq!(slashed.to_redacted_uri(), "rtmp://h/app/s?key=<redacted>");
    loc.application = "app?tok=APPSECRET".into();
    assert_eq!(loc.redacted_application(), "app?tok=<redacted>");
    assert!(!loc.to_redacted_uri().contains("APPSECRET"));
    // Without a query the printed form is the URI.
    let plain = parse("rtmp://h/live/x");
    assert_eq!(plain.to_redacted_uri(), plain.to_uri());
    // Debug output, the settings' and the session configuration's too.
    let mut settings = Settings {
        location: loc.clone(),
        extra_connect_args: Some("conn=S:TOKEN456".into()),
        secure_token: Some("SECURE789".into()),
        ..Settings::default()
    };
    let options = crate::shared::connect::connect_options(
        &settings,
        crate::protocol::session::SessionMode::Publish {
            stream: loc.stream.clone(),
            publish_type: "live".into(),
        },
    )
    .unwrap();
    for dbg in [
        format!("{loc:?}"),
        format!("{settings:?}"),
        format!("{options:?}"),
    ] {
        for secret in ["SECRET123", "APPSECRET", "TOKEN456", "SECURE789", "pw"] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
        assert!(dbg.contains("stream?key=<redacted>"), "{dbg}");
    }
    // The location property still reads back whole (without the password): it must round-trip.
    set(&mut settings, "location", "rtmp://h/live/s?key=SECRET123").unwrap();
    assert_eq!(
        get::<String>(&settings, "location"),
        "rtmp://h/live/s?key=SECRET123"
    );
}

#[test]
fn tc_url_forms() {
    assert_eq!(parse("rtmp://h/live/x").tc_url(), "rtmp://h/live");
    assert_eq!(parse("rtmp://h:1935/live/x").tc_url(), "rtmp://h/live");
    assert_eq!(parse("rtmp://h:1936/live/x").tc_url(), "rtmp://h:1936/live");
    assert_eq!(parse("rtmps://h:443/a/b/c").tc_url(), "rtmps://h/a/b");
    assert_eq!(
        parse("rtmp://u:p@h/live/x?k=v").tc_url(),
        "rtmp://h/live",
        "no credentials, stream or query"
    );
}

#[test]
fn defaults_match_rtmp2() {
    let loc = Location::default();
    assert_eq!(loc.to_uri(), DEFAULT_LOCATION);
    assert_eq!(parse(DEFAULT_LOCATION), loc);
    let s = Settings::default();
    assert_eq!(s.timeout, 5);
    assert_eq!(s.flash_version, None);
    assert!(s.async_connect);
    assert_eq!(s.extra_connect_args, None);
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(uri_protocols(), &["rtmp", "rtmps", "rtmpt", "rtmpts"]);
}

fn pspec(name: &str) -> glib::ParamSpec {
    properties()
        .into_iter()
        .find(|p| p.name() == name)
        .unwrap_or_else(|| panic!("no property {name}"))
}

fn set(s: &mut Settings, name: &str, value: impl ToValue) -> Result<(), glib::Error> {
    s.set_property(&value.to_value(), &pspec(name))
}

fn get<T: for<'a> glib::value::FromValue<'a> + 'static>(s: &Settings, name: &str) -> T {
    s.property(&pspec(name)).get::<T>().unwrap()
}

#[test]
fn property_list_and_defaults() {
    gst::init().unwrap();
    let props = properties();
    let names: Vec<&str> = props.iter().map(|p| p.name()).collect();
    assert_eq!(names, SHARED_PROPERTIES);
    // Reading a fresh Settings gives each ParamSpec's default.
    let s = Settings::default();
    for p in &props {
        assert!(is_shared_property(p.name()));
        assert!(
            p.flags().contains(glib::ParamFlags::READWRITE),
            "{}",
            p.name()
        );
        assert!(
            p.flags().contains(gst::PARAM_FLAG_MUTABLE_READY),
            "{}",
            p.name()
        );
        let v = s.property(p);
        assert_eq!(v.type_(), p.value_type(), "{}", p.name());
        assert_eq!(
            v.serialize().ok(),
            p.default_value().serialize().ok(),
            "{}",
            p.name()
        );
    }
    assert!(!is_shared_property("chunk-size"));
    let port = pspec("port");
    let port = port.downcast_ref::<glib::ParamSpecInt>().unwrap();
    assert_eq!((port.minimum(), port.maximum()), (1, 65535));
}

#[test]
fn location_property_round_trip() {
    gst::init().unwrap();
    let mut s = Settings::default();
    set(
        &mut s,
        "location",
        "rtmps://bob:hunter2@h:8443/app/inst/key?t=1",
    )
    .unwrap();
    assert_eq!(
        get::<String>(&s, "location"),
        "rtmps://bob@h:8443/app/inst/key?t=1"
    );
    assert_eq!(get::<String>(&s, "host"), "h");
    assert_eq!(get::<i32>(&s, "port"), 8443);
    assert_eq!(get::<String>(&s, "application"), "app/inst");
    assert_eq!(get::<String>(&s, "stream"), "key?t=1");
    assert_eq!(
        get::<Option<String>>(&s, "username").as_deref(),
        Some("bob")
    );
    // The password is stored but never read back.
    assert_eq!(s.location.password.as_deref(), Some("hunter2"));
    assert_eq!(get::<Option<String>>(&s, "password"), None);

    // A new location replaces credentials too.
    set(&mut s, "location", "rtmp://h2/live/x").unwrap();
    assert_eq!(s.location.username, None);
    assert_eq!(s.location.password, None);
    assert_eq!(s.location.port, 1935);
}

#[test]
fn bad_location_is_a_bad_uri_error_and_keeps_settings() {
    gst::init().unwrap();
    let mut s = Settings::default();
    set(&mut s, "location", "rtmp://h/live/x").unwrap();
    let before = s.location.clone();
    let err = set(&mut s, "location", "http://u:topsecret@h/live/x").unwrap_err();
    assert_eq!(err.kind::<gst::URIError>(), Some(gst::URIError::BadUri));
    assert!(!err.message().contains("topsecret"), "{}", err.message());
    assert_eq!(s.location, before);
    assert_eq!(
        s.validate(),
        Err(LocationError::UnsupportedScheme("http".into()))
    );
    assert!(set(&mut s, "location", None::<String>).is_err());
    // The next good location clears the error.
    set(&mut s, "location", "rtmp://h/live/y").unwrap();
    assert_eq!(s.validate(), Ok(()));
}

#[test]
fn part_properties_update_the_location() {
    gst::init().unwrap();
    let mut s = Settings::default();
    set(&mut s, "host", "::1").unwrap();
    set(&mut s, "port", 1936i32).unwrap();
    set(&mut s, "application", "app/inst").unwrap();
    set(&mut s, "stream", "key?x=1").unwrap();
    set(&mut s, "username", "u").unwrap();
    set(&mut s, "password", "pw").unwrap();
    assert_eq!(
        get::<String>(&s, "location"),
        "rtmp://u@[::1]:1936/app/inst/key?x=1"
    );
    assert_eq!(get::<String>(&s, "host"), "::1");
    assert_eq!(get::<i32>(&s, "port"), 1936);
    assert_eq!(get::<String>(&s, "application"), "app/inst");
    assert_eq!(get::<String>(&s, "stream"), "key?x=1");
    assert_eq!(get::<Option<String>>(&s, "username").as_deref(), Some("u"));
    assert_eq!(get::<Option<String>>(&s, "password"), None);
    assert_eq!(s.location.password.as_deref(), Some("pw"));
    assert_eq!(s.location.tc_url(), "rtmp://[::1]:1936/app/inst");
    assert_eq!(s.validate(), Ok(()));

    set(&mut s, "username", None::<String>).unwrap();
    assert_eq!(get::<Option<String>>(&s, "username"), None);
    set(&mut s, "stream", None::<String>).unwrap();
    assert_eq!(s.validate(), Err(LocationError::NoStream));
    // Out of range or wrongly typed values are refused without a panic.
    assert!(set(&mut s, "port", 0i32).is_err());
    assert!(set(&mut s, "port", 70000i32).is_err());
    assert!(set(&mut s, "port", "1935").is_err());
    assert_eq!(s.location.port, 1936);
}

#[test]
fn option_properties_round_trip() {
    gst::init().unwrap();
    let mut s = Settings::default();
    set(&mut s, "timeout", 30u32).unwrap();
    assert_eq!(get::<u32>(&s, "timeout"), 30);
    set(&mut s, "flash-version", "FMLE/3.0 (compatible; FMSc/1.0)").unwrap();
    assert_eq!(
        get::<Option<String>>(&s, "flash-version").as_deref(),
        Some("FMLE/3.0 (compatible; FMSc/1.0)")
    );
    set(&mut s, "flash-version", None::<String>).unwrap();
    assert_eq!(get::<Option<String>>(&s, "flash-version"), None);
    set(&mut s, "async-connect", false).unwrap();
    assert!(!get::<bool>(&s, "async-connect"));
    set(&mut s, "extra-connect-args", "conn=B:1 conn=S:x").unwrap();
    assert_eq!(
        get::<Option<String>>(&s, "extra-connect-args").as_deref(),
        Some("conn=B:1 conn=S:x")
    );
    assert!(set(&mut s, "timeout", -1i32).is_err());
    assert_eq!(s.timeout, 30);
}

#[test]
fn unknown_property_is_an_error_not_a_panic() {
    gst::init().unwrap();
    let mut s = Settings::default();
    let other = glib::ParamSpecUInt::builder("chunk-size")
        .default_value(4096)
        .build();
    assert!(s.set_property(&7u32.to_value(), &other).is_err());
    assert_eq!(s.property(&other).get::<u32>().unwrap(), 4096);
}

#[test]
fn extra_args_delegate_to_the_command_parser() {
    let mut s = Settings::default();
    assert_eq!(s.extra_args(), Ok(vec![]));
    s.extra_connect_args = Some("conn=B:1 conn=N:1.5 conn=S:abc conn=Z:".into());
    assert_eq!(
        s.extra_args(),
        Ok(vec![
            Amf0Value::Boolean(true),
            Amf0Value::Number(1.5),
            Amf0Value::String("abc".into()),
            Amf0Value::Null,
        ])
    );
    s.extra_connect_args = Some("conn=O:1".into());
    assert!(s.extra_args().is_err());
}

#[test]
fn bad_or_huge_extra_connect_args_are_refused_and_fail_later() {
    use crate::protocol::command::{ExtraArgsError, MAX_EXTRA_CONNECT_ARGS_LEN};
    let mut s = Settings::default();
    set(&mut s, "extra-connect-args", "conn=S:ok").unwrap();
    let huge = format!("conn=S:{}", "x".repeat(20 * 1024 * 1024));
    let err = set(&mut s, "extra-connect-args", &huge).unwrap_err();
    assert!(err.message().contains("longer than"), "{}", err.message());
    // Refused: the old value stays, and connecting fails with the reason.
    assert_eq!(
        get::<Option<String>>(&s, "extra-connect-args").as_deref(),
        Some("conn=S:ok")
    );
    assert_eq!(s.extra_args(), Err(ExtraArgsError::TooLong(huge.len())));
    assert!(huge.len() > MAX_EXTRA_CONNECT_ARGS_LEN);
    let err = set(&mut s, "extra-connect-args", "conn=O:1").unwrap_err();
    assert!(err.message().contains("type must be"), "{}", err.message());
    // A good value (or none) clears the error.
    set(&mut s, "extra-connect-args", None::<&str>).unwrap();
    assert_eq!(s.extra_args(), Ok(vec![]));
}

#[test]
fn scheme_is_the_scheme_part_of_location_and_timeout_is_at_least_one_second() {
    gst::init().unwrap();
    let mut s = Settings::default();
    s.set_property(&"rtmps://h/app/key".to_value(), &pspec("location"))
        .unwrap();
    assert_eq!(get::<Scheme>(&s, "scheme"), Scheme::Rtmps);
    assert_eq!(get::<i32>(&s, "port"), 443);
    s.set_property(&Scheme::Rtmp.to_value(), &pspec("scheme"))
        .unwrap();
    // The port stays as set, as in rtmp2: now not the scheme's default, so it shows.
    assert_eq!(get::<String>(&s, "location"), "rtmp://h:443/app/key");
    s.set_property(&1935i32.to_value(), &pspec("port")).unwrap();
    assert_eq!(get::<String>(&s, "location"), "rtmp://h/app/key");
    // By nick, as gst-launch sets it.
    let value = glib::Value::deserialize("rtmps", Scheme::static_type()).unwrap();
    s.set_property(&value, &pspec("scheme")).unwrap();
    assert_eq!(s.location.scheme, Scheme::Rtmps);

    let timeout = pspec("timeout");
    let timeout = timeout.downcast_ref::<glib::ParamSpecUInt>().unwrap();
    assert_eq!((timeout.minimum(), timeout.default_value()), (1, 5));
}
