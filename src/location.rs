//! The connection settings shared by `rtmpsink` and `rtmpsrc`, as GObject properties (the
//! `location` URI itself is parsed in [`crate::uri`]).
//!
//! Follows GStreamer's rtmp2 location handler (`GstRtmpLocationHandler`) by property name and
//! meaning: a `location` URI that is split into `host`, `port`, `application` and `stream`, plus
//! credentials and connection options. Each element keeps a `Mutex<Settings>`, installs
//! [`properties()`] next to its own, and forwards those names to [`Settings::set_property`] and
//! [`Settings::property`].
//!
//! Secrets: the password is never returned by a property (`password` reads as NULL, `location` is
//! formatted without it) and never printed by `Debug`, so it cannot leak into logs or
//! `gst-inspect`/`gst-launch -v` output. Query values (stream keys, tokens) are kept in the
//! `location` read back, which must round-trip, but logs and error messages print a location
//! through [`Location::to_redacted_uri`] (or [`Location::redacted_stream`]), which hide them.

use std::fmt;

use gst::glib;
use gst::prelude::*;

use crate::protocol::amf0::Amf0Value;
use crate::protocol::command::{ExtraArgsError, parse_extra_connect_args};

pub use crate::uri::{
    DEFAULT_APPLICATION, DEFAULT_HOST, DEFAULT_LOCATION, DEFAULT_PORT, DEFAULT_RTMPS_PORT,
    DEFAULT_STREAM, Location, LocationError, Scheme, uri_protocols,
};
pub const DEFAULT_TIMEOUT: u32 = 5;
pub const DEFAULT_FLASH_VERSION: Option<&str> = None;
pub const DEFAULT_ASYNC_CONNECT: bool = true;
pub const DEFAULT_EXTRA_CONNECT_ARGS: Option<&str> = None;

/// Connection settings both elements share, behind each element's `Mutex<Settings>`.
#[derive(Clone, PartialEq)]
pub struct Settings {
    pub location: Location,
    /// Connect and handshake timeout in seconds.
    pub timeout: u32,
    /// `flashVer` for the connect command; `None` leaves the field out.
    pub flash_version: Option<String>,
    /// Connect when starting rather than on the first buffer.
    pub async_connect: bool,
    /// librtmp-style `conn=TYPE:VALUE` arguments appended to the connect command.
    pub extra_connect_args: Option<String>,
    /// Which authentication scheme to answer with.
    pub authmod: Authmod,
    /// Key for the `secureToken` challenge (never shown).
    pub secure_token: Option<String>,
    /// Certificate problems that fail an `rtmps://` connection.
    pub tls_validation_flags: TlsValidationFlags,
    /// Extra trusted CA certificates (PEM) for `rtmps://`.
    pub tls_ca_file: Option<String>,
    /// Dial a server (caller) or accept clients on the location's address (listener).
    pub mode: Mode,
    /// Listener: a key a client must present besides the stream name (never shown).
    pub stream_key: Option<String>,
    /// Listener with `rtmps://`: PEM certificate chain to present.
    pub tls_certificate_file: Option<String>,
    /// Listener with `rtmps://`: PEM private key of that certificate.
    pub tls_key_file: Option<String>,
    /// `rtmpt://`: the HTTP proxy (`http://host:port`); unset: `http_proxy` from the environment.
    pub proxy: Option<String>,
    /// User name and password for the proxy (souphttpsrc's `proxy-id`/`proxy-pw`; never shown).
    pub proxy_id: Option<String>,
    pub proxy_pw: Option<String>,
    /// Why the last `location` that was set did not parse; cleared by the next good one.
    location_error: Option<LocationError>,
    /// Why the last `extra-connect-args` that was set was refused; cleared by the next good one.
    extra_args_error: Option<ExtraArgsError>,
}

/// Secrets (password, secure token) stay out of debug output.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("location", &self.location)
            .field("timeout", &self.timeout)
            .field("flash_version", &self.flash_version)
            .field("async_connect", &self.async_connect)
            .field("authmod", &self.authmod)
            .field(
                "secure_token",
                &self.secure_token.as_ref().map(|_| "<redacted>"),
            )
            .field("mode", &self.mode)
            .field(
                "stream_key",
                &self.stream_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Which side of the connection the element is, with srtsrc/srtsink's names (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstRtmpMode")]
pub enum Mode {
    #[default]
    #[enum_value(name = "Connect to the server in location", nick = "caller")]
    Caller = 0,
    #[enum_value(
        name = "Listen on the address in location and accept clients",
        nick = "listener"
    )]
    Listener = 1,
}

/// rtmp2's `GstRtmpAuthmod`, by value and nick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstRsRtmpAuthmod")]
pub enum Authmod {
    #[enum_value(name = "Never authenticate", nick = "none")]
    None = 0,
    #[default]
    #[enum_value(name = "Authenticate as the server asks", nick = "auto")]
    Auto = 1,
    #[enum_value(name = "Adobe authentication", nick = "adobe")]
    Adobe = 2,
    #[enum_value(name = "Limelight authentication", nick = "llnw")]
    Llnw = 3,
}

impl Authmod {
    pub fn to_protocol(self) -> crate::protocol::auth::AuthMod {
        use crate::protocol::auth::AuthMod;
        match self {
            Authmod::None => AuthMod::None,
            Authmod::Auto => AuthMod::Auto,
            Authmod::Adobe => AuthMod::Adobe,
            Authmod::Llnw => AuthMod::Llnw,
        }
    }
}

/// GIO's `GTlsCertificateFlags` by value and nick, as rtmp2's `tls-validation-flags` takes them:
/// each set flag makes that certificate problem an error.
#[glib::flags(name = "GstRsRtmpTlsValidationFlags")]
pub enum TlsValidationFlags {
    #[flags_value(
        name = "The signing certificate authority is not known",
        nick = "unknown-ca"
    )]
    UNKNOWN_CA = 1 << 0,
    #[flags_value(
        name = "The certificate does not match the expected identity",
        nick = "bad-identity"
    )]
    BAD_IDENTITY = 1 << 1,
    #[flags_value(
        name = "The certificate's activation time is in the future",
        nick = "not-activated"
    )]
    NOT_ACTIVATED = 1 << 2,
    #[flags_value(name = "The certificate has expired", nick = "expired")]
    EXPIRED = 1 << 3,
    #[flags_value(name = "The certificate has been revoked", nick = "revoked")]
    REVOKED = 1 << 4,
    #[flags_value(name = "The certificate's algorithm is insecure", nick = "insecure")]
    INSECURE = 1 << 5,
    #[flags_value(
        name = "Some other error occurred validating the certificate",
        nick = "generic-error"
    )]
    GENERIC_ERROR = 1 << 6,
}

impl TlsValidationFlags {
    pub const VALIDATE_ALL: TlsValidationFlags = TlsValidationFlags::all();

    pub fn to_validation(self) -> crate::connection::TlsValidation {
        crate::connection::TlsValidation {
            unknown_ca: self.contains(Self::UNKNOWN_CA),
            bad_identity: self.contains(Self::BAD_IDENTITY),
            not_activated: self.contains(Self::NOT_ACTIVATED),
            expired: self.contains(Self::EXPIRED),
            revoked: self.contains(Self::REVOKED),
            insecure: self.contains(Self::INSECURE),
            generic_error: self.contains(Self::GENERIC_ERROR),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: Location::default(),
            timeout: DEFAULT_TIMEOUT,
            flash_version: DEFAULT_FLASH_VERSION.map(str::to_owned),
            async_connect: DEFAULT_ASYNC_CONNECT,
            extra_connect_args: DEFAULT_EXTRA_CONNECT_ARGS.map(str::to_owned),
            tls_validation_flags: TlsValidationFlags::VALIDATE_ALL,
            tls_ca_file: None,
            mode: Mode::default(),
            stream_key: None,
            tls_certificate_file: None,
            tls_key_file: None,
            proxy: None,
            proxy_id: None,
            proxy_pw: None,
            authmod: Authmod::default(),
            secure_token: None,
            location_error: None,
            extra_args_error: None,
        }
    }
}

/// Names of the properties in [`properties()`], in that order.
pub const SHARED_PROPERTIES: &[&str] = &[
    "location",
    "scheme",
    "host",
    "port",
    "application",
    "stream",
    "username",
    "password",
    "timeout",
    "flash-version",
    "async-connect",
    "extra-connect-args",
    "tls-validation-flags",
    "authmod",
    "secure-token",
    "tls-ca-file",
    "mode",
    "stream-key",
    "tls-certificate-file",
    "tls-key-file",
    "proxy",
    "proxy-id",
    "proxy-pw",
];

fn string_pspec(name: &str, nick: &str, blurb: &str, default: Option<&str>) -> glib::ParamSpec {
    glib::ParamSpecString::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_ready()
        .build()
}

/// The ParamSpecs of the shared properties, to append to each element's own. Nicks and blurbs
/// are rtmp2's.
pub fn properties() -> Vec<glib::ParamSpec> {
    vec![
        string_pspec(
            "location",
            "Location",
            "Location of RTMP stream to access",
            Some(DEFAULT_LOCATION),
        ),
        // rtmp2's: the scheme part of `location`. Changing it keeps the port (as in rtmp2), so
        // set `port` too when moving between the default ports 1935 and 443.
        glib::ParamSpecEnum::builder::<Scheme>("scheme")
            .nick("Scheme")
            .blurb("RTMP connection scheme (the scheme of location; the port stays as set)")
            .default_value(Scheme::default())
            .mutable_ready()
            .build(),
        string_pspec("host", "Host", "RTMP server host name", Some(DEFAULT_HOST)),
        glib::ParamSpecInt::builder("port")
            .nick("Port")
            .blurb("RTMP server port")
            .minimum(1)
            .maximum(65535)
            .default_value(i32::from(DEFAULT_PORT))
            .mutable_ready()
            .build(),
        string_pspec(
            "application",
            "Application",
            "RTMP application path",
            Some(DEFAULT_APPLICATION),
        ),
        string_pspec("stream", "Stream", "RTMP stream path", Some(DEFAULT_STREAM)),
        string_pspec(
            "username",
            "User name",
            "RTMP authorization user name",
            None,
        ),
        // Readable for rtmp2 compatibility, but reading always returns NULL.
        string_pspec(
            "password",
            "Password",
            "RTMP authorization password (reads return NULL)",
            None,
        ),
        // 0 would mean no time at all: the minimum is 1 s.
        glib::ParamSpecUInt::builder("timeout")
            .nick("Timeout")
            .blurb("RTMP timeout in seconds")
            .minimum(1)
            .default_value(DEFAULT_TIMEOUT)
            .mutable_ready()
            .build(),
        string_pspec(
            "flash-version",
            "Flash version",
            "Flash version reported to the server",
            DEFAULT_FLASH_VERSION,
        ),
        glib::ParamSpecBoolean::builder("async-connect")
            .nick("Async connect")
            .blurb("Connect when going to PAUSED; otherwise rtmpsink connects with the first buffer and rtmpsrc when going to PLAYING")
            .default_value(DEFAULT_ASYNC_CONNECT)
            .mutable_ready()
            .build(),
        string_pspec(
            "extra-connect-args",
            "Extra connect arguments",
            "Extra arguments appended to the connect command, librtmp style: \
             conn=B:1 conn=N:1.5 conn=S:text conn=Z: (boolean, number, string, null)",
            DEFAULT_EXTRA_CONNECT_ARGS,
        ),
        glib::ParamSpecFlags::builder::<TlsValidationFlags>("tls-validation-flags")
            .nick("TLS validation flags")
            .blurb("TLS certificate validation flags used to validate the server certificate")
            .default_value(TlsValidationFlags::VALIDATE_ALL)
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder::<Authmod>("authmod")
            .nick("Authentication mode")
            .blurb("Authentication mode to use")
            .default_value(Authmod::default())
            .mutable_ready()
            .build(),
        // Readable for rtmp2 compatibility, but reading always returns NULL.
        string_pspec(
            "secure-token",
            "Secure token",
            "Secure token used for authentication (reads return NULL)",
            None,
        ),
        string_pspec(
            "tls-ca-file",
            "TLS CA file",
            "PEM file of certificate authorities to trust for rtmps:// besides the system store",
            None,
        ),
        glib::ParamSpecEnum::builder::<Mode>("mode")
            .nick("Mode")
            .blurb(
                "caller: connect to the server in location; listener: listen on the host and \
                 port of location and accept clients asking for its application and stream",
            )
            .default_value(Mode::default())
            .mutable_ready()
            .build(),
        // Readable for symmetry with password, but reading always returns NULL.
        string_pspec(
            "stream-key",
            "Stream key",
            "Listener: a client must also present this key, as a query value of its stream \
             or application (name?key=KEY) or as the stream name itself (reads return NULL)",
            None,
        ),
        string_pspec(
            "tls-certificate-file",
            "TLS certificate file",
            "Listener with rtmps://: PEM file with the certificate chain to present",
            None,
        ),
        string_pspec(
            "tls-key-file",
            "TLS key file",
            "Listener with rtmps://: PEM file with the private key of the certificate",
            None,
        ),
        // souphttpsrc's names and meaning.
        string_pspec(
            "proxy",
            "Proxy",
            "rtmpt://: HTTP proxy server URI (http://host:port); unset: the http_proxy \
             environment variable (no_proxy respected)",
            None,
        ),
        string_pspec(
            "proxy-id",
            "proxy-id",
            "HTTP proxy URI user id for authentication",
            None,
        ),
        string_pspec(
            "proxy-pw",
            "proxy-pw",
            "HTTP proxy URI user password for authentication (reads return NULL)",
            None,
        ),
    ]
}

/// Whether `name` is one of the properties of [`properties()`], for elements that route by name.
pub fn is_shared_property(name: &str) -> bool {
    SHARED_PROPERTIES.contains(&name)
}

fn type_error(pspec: &glib::ParamSpec, e: impl fmt::Display) -> glib::Error {
    glib::Error::new(
        gst::LibraryError::Settings,
        &format!("property '{}': {e}", pspec.name()),
    )
}

impl Settings {
    /// Sets one of the shared properties.
    ///
    /// A `location` that does not parse leaves the settings unchanged, is remembered for
    /// [`Settings::validate`], and returns a `gst::URIError::BadUri` error that a URI handler's
    /// `set_uri` can return as is. Setting a single part (`host`, `stream`, ...) updates the
    /// location in place; a NULL string sets that part to empty (user name: no user name).
    /// `extra-connect-args` that do not parse (or are too long to send) are refused the same
    /// way, remembered for [`Settings::extra_args`].
    pub fn set_property(
        &mut self,
        value: &glib::Value,
        pspec: &glib::ParamSpec,
    ) -> Result<(), glib::Error> {
        let string = || {
            value
                .get::<Option<String>>()
                .map_err(|e| type_error(pspec, e))
        };
        let loc = &mut self.location;
        match pspec.name() {
            "location" => {
                let uri = string()?.unwrap_or_default();
                match Location::parse(&uri) {
                    Ok(parsed) => {
                        *loc = parsed;
                        self.location_error = None;
                    }
                    Err(e) => {
                        // The URI may carry a password: keep it out of the message.
                        let msg = format!("Invalid RTMP location: {e}");
                        self.location_error = Some(e);
                        return Err(glib::Error::new(gst::URIError::BadUri, &msg));
                    }
                }
            }
            "scheme" => loc.scheme = value.get().map_err(|e| type_error(pspec, e))?,
            "host" => loc.host = string()?.unwrap_or_default(),
            "port" => {
                let port = value.get::<i32>().map_err(|e| type_error(pspec, e))?;
                loc.port = u16::try_from(port)
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| type_error(pspec, LocationError::BadPort))?;
            }
            "application" => loc.application = string()?.unwrap_or_default(),
            "stream" => loc.stream = string()?.unwrap_or_default(),
            "username" => loc.username = string()?,
            "password" => loc.password = string()?,
            "timeout" => self.timeout = value.get().map_err(|e| type_error(pspec, e))?,
            "flash-version" => self.flash_version = string()?,
            "async-connect" => {
                self.async_connect = value.get().map_err(|e| type_error(pspec, e))?
            }
            "extra-connect-args" => {
                // Refused as a bad location is: the settings stay, and starting fails.
                let spec = string()?;
                match spec.as_deref().map(parse_extra_connect_args).transpose() {
                    Ok(_) => {
                        self.extra_connect_args = spec;
                        self.extra_args_error = None;
                    }
                    Err(e) => {
                        let err = type_error(pspec, &e);
                        self.extra_args_error = Some(e);
                        return Err(err);
                    }
                }
            }
            "tls-validation-flags" => {
                self.tls_validation_flags = value.get().map_err(|e| type_error(pspec, e))?;
            }
            "tls-ca-file" => self.tls_ca_file = string()?,
            "authmod" => self.authmod = value.get().map_err(|e| type_error(pspec, e))?,
            "secure-token" => self.secure_token = string()?,
            "mode" => self.mode = value.get().map_err(|e| type_error(pspec, e))?,
            "stream-key" => self.stream_key = string()?.filter(|k| !k.is_empty()),
            "tls-certificate-file" => self.tls_certificate_file = string()?,
            "tls-key-file" => self.tls_key_file = string()?,
            "proxy" => self.proxy = string()?.filter(|p| !p.is_empty()),
            "proxy-id" => self.proxy_id = string()?,
            "proxy-pw" => self.proxy_pw = string()?,
            other => return Err(type_error(pspec, format!("'{other}' is not handled here"))),
        }
        Ok(())
    }

    /// Reads one of the shared properties. `password` always reads as NULL and `location` is
    /// formatted without the password. A name not in [`properties()`] gets the spec's default.
    pub fn property(&self, pspec: &glib::ParamSpec) -> glib::Value {
        let loc = &self.location;
        match pspec.name() {
            "location" => loc.to_uri().to_value(),
            "scheme" => loc.scheme.to_value(),
            "host" => loc.host.to_value(),
            "port" => i32::from(loc.port).to_value(),
            "application" => loc.application.to_value(),
            "stream" => loc.stream.to_value(),
            "username" => loc.username.to_value(),
            "password" => None::<String>.to_value(),
            "timeout" => self.timeout.to_value(),
            "flash-version" => self.flash_version.to_value(),
            "async-connect" => self.async_connect.to_value(),
            "extra-connect-args" => self.extra_connect_args.to_value(),
            "tls-validation-flags" => self.tls_validation_flags.to_value(),
            "tls-ca-file" => self.tls_ca_file.to_value(),
            "authmod" => self.authmod.to_value(),
            "secure-token" => None::<String>.to_value(),
            "mode" => self.mode.to_value(),
            "stream-key" => None::<String>.to_value(),
            "tls-certificate-file" => self.tls_certificate_file.to_value(),
            "tls-key-file" => self.tls_key_file.to_value(),
            "proxy" => self.proxy.to_value(),
            "proxy-id" => self.proxy_id.to_value(),
            "proxy-pw" => None::<String>.to_value(),
            _ => pspec.default_value().clone(),
        }
    }

    /// Checks the settings before connecting: the last `location` set must have parsed, and the
    /// parts must still form a usable location.
    pub fn validate(&self) -> Result<(), LocationError> {
        match &self.location_error {
            Some(e) => Err(e.clone()),
            None => self.location.validate(),
        }
    }

    /// The parsed `extra-connect-args`, empty when unset; the error if the last value set was
    /// refused.
    pub fn extra_args(&self) -> Result<Vec<Amf0Value>, ExtraArgsError> {
        if let Some(e) = &self.extra_args_error {
            return Err(e.clone());
        }
        match &self.extra_connect_args {
            Some(spec) => parse_extra_connect_args(spec),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests;
