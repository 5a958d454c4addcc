//! What both elements do alike in listener mode, at the element edge: the listener's options
//! from the shared settings, the `rtmp-client-*` element messages made from the listener's
//! [`ClientNotice`]s, and the client counters of the `stats` structure.
//!
//! Messages (all fields strings; `stream` and `application` with query values redacted):
//! - `rtmp-client-connected`: `address` ("ip:port"), `application`, `stream`;
//! - `rtmp-client-refused`: `address`, `reason`, and `application`/`stream` when the client got
//!   far enough to name them;
//! - `rtmp-client-disconnected`: `address`, `stream`, and `reason` when it did not leave cleanly.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;

use crate::connection::{
    ClientNotice, DEFAULT_MAX_INCOMING_BYTES, DEFAULT_MAX_OUTGOING_BYTES, ListenOptions,
    ListenRole, ListenerStats, ServerTlsOptions,
};
use crate::location::Settings;
use crate::protocol::redact::redact_query;

pub const CLIENT_CONNECTED: &str = "rtmp-client-connected";
pub const CLIENT_DISCONNECTED: &str = "rtmp-client-disconnected";
pub const CLIENT_REFUSED: &str = "rtmp-client-refused";

/// The fields both elements add to their `stats` in listener mode (all `u64`): accepted
/// connections alive now, accepted and refused since starting, and clients still setting up.
pub const LISTENER_STATS_FIELDS: &[&str] = &[
    "clients-current",
    "clients-accepted",
    "clients-refused",
    "clients-pending",
    "rtmpt-sessions",
];

/// The element message for a notice.
pub fn notice_structure(notice: &ClientNotice) -> gst::Structure {
    match notice {
        ClientNotice::Connected { addr, app, stream } => gst::Structure::builder(CLIENT_CONNECTED)
            .field("address", addr.to_string())
            .field("application", redact_query(app).as_ref())
            .field("stream", redact_query(stream).as_ref())
            .build(),
        ClientNotice::Refused {
            addr,
            app,
            stream,
            reason,
        } => gst::Structure::builder(CLIENT_REFUSED)
            .field("address", addr.to_string())
            .field_if_some(
                "application",
                app.as_deref().map(|a| redact_query(a).into_owned()),
            )
            .field_if_some(
                "stream",
                stream.as_deref().map(|s| redact_query(s).into_owned()),
            )
            .field("reason", reason.as_str())
            .build(),
        ClientNotice::Disconnected {
            addr,
            stream,
            reason,
        } => gst::Structure::builder(CLIENT_DISCONNECTED)
            .field("address", addr.to_string())
            .field("stream", redact_query(stream).as_ref())
            .field_if_some("reason", reason.as_deref())
            .build(),
    }
}

/// Adds [`LISTENER_STATS_FIELDS`] to a `stats` structure.
pub fn add_listener_stats(stats: &mut gst::StructureRef, listener: &ListenerStats) {
    stats.set("clients-current", listener.current);
    stats.set("clients-accepted", listener.accepted);
    stats.set("clients-refused", listener.refused);
    stats.set("clients-pending", listener.pending);
    stats.set("rtmpt-sessions", listener.tunnels);
}

/// A notify callback that posts each notice as an element message of `element` (held weakly:
/// the listener's threads must not keep the element alive).
pub fn poster(element: &gst::Element) -> Arc<dyn Fn(ClientNotice) + Send + Sync> {
    let weak = element.downgrade();
    Arc::new(move |notice: ClientNotice| {
        let Some(element) = weak.upgrade() else {
            return;
        };
        let message = gst::message::Element::builder(notice_structure(&notice))
            .src(&element)
            .build();
        let _ = element.post_message(message);
    })
}

/// Listener options from the properties both elements share; the caller adjusts
/// element-specific ones (`max_clients`, queue bounds, `log_id`).
///
/// The location's host and port are where to bind; its application and stream what a client
/// must ask for. A stream key goes in `stream-key`, not in the location's query (which would
/// otherwise be silently ignored), so a location with a query is refused.
pub fn listen_options(
    settings: &Settings,
    role: ListenRole,
    notify: Arc<dyn Fn(ClientNotice) + Send + Sync>,
) -> Result<ListenOptions, gst::ErrorMessage> {
    let settings_error = |text: String| gst::error_msg!(gst::ResourceError::Settings, ("{text}"));
    settings
        .validate()
        .map_err(|e| settings_error(format!("Invalid location: {e}")))?;
    let location = &settings.location;
    if location.stream.contains('?') {
        return Err(settings_error(
            "In listener mode the location's stream takes no query: set the key in the \
             stream-key property"
                .into(),
        ));
    }
    // rtmpt[s]:// listens as rtmp[s]:// does: every listener serves RTMPT on its port too.
    let tls = match location.scheme.is_tls() {
        false => None,
        true => match (&settings.tls_certificate_file, &settings.tls_key_file) {
            (Some(cert), Some(key)) if !cert.is_empty() && !key.is_empty() => {
                Some(ServerTlsOptions {
                    certificate_file: PathBuf::from(cert),
                    key_file: PathBuf::from(key),
                })
            }
            _ => {
                return Err(settings_error(
                    "Listening on rtmps:// needs both tls-certificate-file and tls-key-file".into(),
                ));
            }
        },
    };
    Ok(ListenOptions {
        host: location.host.clone(),
        port: location.port,
        app: location.application.clone(),
        stream: location.stream.clone(),
        stream_key: settings.stream_key.clone(),
        role,
        max_clients: 1,
        setup_timeout: Duration::from_secs(u64::from(settings.timeout.max(1))),
        tls,
        max_outgoing_bytes: DEFAULT_MAX_OUTGOING_BYTES,
        max_incoming_bytes: DEFAULT_MAX_INCOMING_BYTES,
        log_id: "rtmp".into(),
        notify,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> std::net::SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn messages_carry_address_and_redacted_names() {
        gst::init().unwrap();
        let s = notice_structure(&ClientNotice::Connected {
            addr: addr(),
            app: "live".into(),
            stream: "cam?key=SECRET".into(),
        });
        assert_eq!(s.name(), CLIENT_CONNECTED);
        assert_eq!(s.get::<&str>("address").unwrap(), "127.0.0.1:5000");
        assert_eq!(s.get::<&str>("application").unwrap(), "live");
        assert_eq!(s.get::<&str>("stream").unwrap(), "cam?key=<redacted>");

        let s = notice_structure(&ClientNotice::Refused {
            addr: addr(),
            app: Some("live".into()),
            stream: None,
            reason: "wrong stream".into(),
        });
        assert_eq!(s.name(), CLIENT_REFUSED);
        assert_eq!(s.get::<&str>("reason").unwrap(), "wrong stream");
        assert!(!s.has_field("stream"));

        let s = notice_structure(&ClientNotice::Disconnected {
            addr: addr(),
            stream: "cam".into(),
            reason: None,
        });
        assert_eq!(s.name(), CLIENT_DISCONNECTED);
        assert!(!s.has_field("reason"));
    }

    #[test]
    fn stats_fields_are_added() {
        gst::init().unwrap();
        let mut s = gst::Structure::new_empty("stats");
        add_listener_stats(
            &mut s,
            &ListenerStats {
                accepted: 3,
                refused: 2,
                current: 1,
                pending: 4,
                tunnels: 5,
            },
        );
        let names: Vec<&str> = s.fields().map(|f| f.as_str()).collect();
        assert_eq!(names, LISTENER_STATS_FIELDS);
        assert_eq!(s.get::<u64>("clients-refused").unwrap(), 2);
    }

    #[test]
    fn rtmps_listening_needs_both_files() {
        gst::init().unwrap();
        let mut settings = Settings::default();
        settings.location =
            crate::location::Location::parse("rtmps://0.0.0.0:1936/live/k").unwrap();
        let notify: Arc<dyn Fn(ClientNotice) + Send + Sync> = Arc::new(|_| {});
        let err = listen_options(&settings, ListenRole::Publishers, notify.clone()).unwrap_err();
        assert!(err.to_string().contains("tls-key-file"), "{err}");
        settings.tls_certificate_file = Some("c.pem".into());
        settings.tls_key_file = Some("k.pem".into());
        let options = listen_options(&settings, ListenRole::Publishers, notify).unwrap();
        assert_eq!((options.host.as_str(), options.port), ("0.0.0.0", 1936));
        assert_eq!(options.tls.unwrap().key_file, PathBuf::from("k.pem"));
    }
}
