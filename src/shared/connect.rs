//! The element edge of `connection/`: its options from the elements' settings, and its
//! errors as GStreamer errors (made once, here, for both elements).

use std::path::PathBuf;
use std::time::Duration;

use crate::connection::TunnelOptions;
use crate::connection::{
    ConnectOptions, ConnectionError, DEFAULT_MAX_INCOMING_BYTES, DEFAULT_MAX_OUTGOING_BYTES,
    TlsOptions,
};
use crate::location::Settings;
use crate::protocol::session::{ClientConfig, SessionMode, StopCommands};

/// Whether the element publishes or plays, for naming errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Publish,
    Play,
}

/// The GStreamer error message for a connection failure, naming the cause.
pub fn error_message(err: &ConnectionError, direction: Direction) -> gst::ErrorMessage {
    let text = err.to_string();
    gst::error_msg!(resource_error(err, direction), ("{text}"))
}

/// The GStreamer error code for a connection failure (for elements that word the message
/// themselves).
pub fn resource_error(err: &ConnectionError, direction: Direction) -> gst::ResourceError {
    use crate::protocol::session::SessionError as S;
    let open = match direction {
        Direction::Publish => gst::ResourceError::OpenWrite,
        Direction::Play => gst::ResourceError::OpenRead,
    };
    let transfer = match direction {
        Direction::Publish => gst::ResourceError::Write,
        Direction::Play => gst::ResourceError::Read,
    };
    match err {
        ConnectionError::Resolve { .. } => gst::ResourceError::NotFound,
        ConnectionError::Refused(_)
        | ConnectionError::Connect { .. }
        | ConnectionError::Timeout(_)
        | ConnectionError::ClosedDuringSetup(_)
        | ConnectionError::Tls(_) => open,
        ConnectionError::Session(session) => match session.as_ref() {
            S::PublishBadName(_) => gst::ResourceError::Busy,
            S::PublishDenied(_) | S::ConnectRejected { .. } | S::NotAuthorized { .. } => {
                gst::ResourceError::NotAuthorized
            }
            S::StreamNotFound(_) => gst::ResourceError::NotFound,
            S::Handshake(_) | S::CreateStreamFailed(_) | S::StreamFailed { .. } => open,
            _ => transfer,
        },
        ConnectionError::Io(_)
        | ConnectionError::Closed
        | ConnectionError::Stalled(_)
        | ConnectionError::Flushing
        | ConnectionError::Client(_) => transfer,
        ConnectionError::Bind { .. } => open,
        ConnectionError::ServerTls(_) => gst::ResourceError::Settings,
        ConnectionError::Internal(_) => gst::ResourceError::Failed,
    }
}

/// Connection options from the properties both elements share; the caller adjusts
/// element-specific ones.
pub fn connect_options(
    settings: &Settings,
    mode: SessionMode,
) -> Result<ConnectOptions, gst::ErrorMessage> {
    settings
        .validate()
        .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("Invalid location: {e}")))?;
    let extra = settings.extra_args().map_err(|e| {
        gst::error_msg!(
            gst::ResourceError::Settings,
            ("Invalid extra-connect-args: {e}")
        )
    })?;
    let location = &settings.location;
    let mut session = ClientConfig::new(&location.application, &location.tc_url(), mode);
    session.flash_ver = settings.flash_version.clone();
    session.extra_connect_args = extra;
    session.user = location.username.clone();
    session.password = location.password.clone();
    session.auth.mode = settings.authmod.to_protocol();
    session.secure_token = settings.secure_token.clone();
    let tls = location.scheme.is_tls().then(|| TlsOptions {
        validation: settings.tls_validation_flags.to_validation(),
        ca_file: settings.tls_ca_file.as_ref().map(PathBuf::from),
    });
    let proxy = super::proxy::tunnel_proxy(settings, |name| std::env::var(name).ok())
        .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("Invalid proxy: {e}")))?;
    let tunnel = location
        .scheme
        .is_tunnel()
        .then_some(TunnelOptions { proxy });
    Ok(ConnectOptions {
        tls,
        tunnel,
        host: location.host.clone(),
        port: location.port,
        timeout: Duration::from_secs(u64::from(settings.timeout.max(1))),
        session,
        stop_commands: StopCommands::default(),
        max_outgoing_bytes: DEFAULT_MAX_OUTGOING_BYTES,
        max_incoming_bytes: DEFAULT_MAX_INCOMING_BYTES,
        send_low_watermark: None,
        in_flight_budget: None,
        log_id: "rtmp".into(),
    })
}
