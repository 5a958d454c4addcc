//! RTMP locations: `rtmp[t][s]://[user[:password]@]host[:port]/app[/instance]/stream[?query]`
//! parsed into its parts and printed back (with the password left out, and with query values
//! hidden for logs). Pure: what connection/ needs of a location, below the element settings.

use std::fmt;

use gst::glib;

use crate::protocol::redact::redact_query;

pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_PORT: u16 = 1935;
pub const DEFAULT_RTMPS_PORT: u16 = 443;
/// RTMPT is HTTP: port 80, and 443 for RTMPTS (HTTPS).
pub const DEFAULT_RTMPT_PORT: u16 = 80;
pub const DEFAULT_APPLICATION: &str = "live";
pub const DEFAULT_STREAM: &str = "myStream";
pub const DEFAULT_LOCATION: &str = "rtmp://localhost/live/myStream";

/// Plain TCP (`rtmp`) or TLS (`rtmps`), rtmp2's `GstRtmpScheme` by value and nick, for the
/// `scheme` property; and RTMP tunnelled in HTTP (`rtmpt`) or HTTPS (`rtmpts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstRsRtmpScheme")]
pub enum Scheme {
    #[default]
    #[enum_value(name = "RTMP over TCP", nick = "rtmp")]
    Rtmp = 0,
    #[enum_value(name = "RTMP over TLS", nick = "rtmps")]
    Rtmps = 1,
    #[enum_value(name = "RTMP tunnelled over HTTP", nick = "rtmpt")]
    Rtmpt = 2,
    #[enum_value(name = "RTMP tunnelled over HTTPS", nick = "rtmpts")]
    Rtmpts = 3,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Rtmp => "rtmp",
            Scheme::Rtmps => "rtmps",
            Scheme::Rtmpt => "rtmpt",
            Scheme::Rtmpts => "rtmpts",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Rtmp => DEFAULT_PORT,
            Scheme::Rtmps | Scheme::Rtmpts => DEFAULT_RTMPS_PORT,
            Scheme::Rtmpt => DEFAULT_RTMPT_PORT,
        }
    }

    /// TLS under it: `rtmps`, and `rtmpts` (HTTPS).
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Rtmps | Scheme::Rtmpts)
    }

    /// RTMP carried in HTTP requests.
    pub fn is_tunnel(self) -> bool {
        matches!(self, Scheme::Rtmpt | Scheme::Rtmpts)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// Carries the reason only, never the URI, which may hold a password.
    #[error("malformed RTMP URI ({0}): expected rtmp://host/application/stream")]
    Malformed(String),
    #[error("unsupported URI scheme '{0}' (expected rtmp, rtmps, rtmpt or rtmpts)")]
    UnsupportedScheme(String),
    #[error("URI has no host name")]
    NoHost,
    #[error("URI has no application: expected rtmp://host/application/stream")]
    NoApplication,
    #[error("URI has no stream name: expected rtmp://host/application/stream")]
    NoStream,
    #[error("URI has an invalid port (must be 1..65535)")]
    BadPort,
}

/// An RTMP server address and stream, as rtmp2 splits it.
///
/// `host` is stored without brackets (`::1` for an IPv6 address) so it can be handed to the
/// resolver as is; the URI forms add the brackets back.
#[derive(Clone, PartialEq, Eq)]
pub struct Location {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Everything between the first `/` of the path and the last one, e.g. `app/instance`.
    pub application: String,
    /// The part after the last `/`, with the query string kept (`name?token=abc`), as stream keys are.
    pub stream: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Default for Location {
    fn default() -> Self {
        Location {
            scheme: Scheme::Rtmp,
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            application: DEFAULT_APPLICATION.to_owned(),
            stream: DEFAULT_STREAM.to_owned(),
            username: None,
            password: None,
        }
    }
}

/// Prints as `<redacted>` in place of a secret.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("application", &redact_query(&self.application))
            .field("stream", &redact_query(&self.stream))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .finish()
    }
}

impl Location {
    /// Parses `rtmp[t][s]://[user[:password]@]host[:port]/application/stream[?query]`.
    ///
    /// Scheme, userinfo, host and port are parsed by the `url` crate; userinfo is percent-decoded.
    /// The path is taken verbatim (not percent-decoded or normalised), as rtmp2 and ffmpeg do,
    /// because servers compare application and stream names byte for byte. Unlike rtmp2, a `/`
    /// inside the query string does not move the application/stream split.
    pub fn parse(uri: &str) -> Result<Location, LocationError> {
        let sep = uri
            .find("://")
            .ok_or_else(|| LocationError::Malformed("no scheme".to_owned()))?;
        // Check the scheme first so that e.g. http://host gets the clearest error.
        let scheme = match uri[..sep].to_ascii_lowercase().as_str() {
            "rtmp" => Scheme::Rtmp,
            "rtmps" => Scheme::Rtmps,
            "rtmpt" => Scheme::Rtmpt,
            "rtmpts" => Scheme::Rtmpts,
            other => return Err(LocationError::UnsupportedScheme(other.to_owned())),
        };

        let rest = &uri[sep + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        if authority.is_empty() {
            return Err(LocationError::NoHost);
        }

        let url =
            url::Url::parse(&format!("{}://{authority}", scheme.as_str())).map_err(
                |e| match e {
                    url::ParseError::InvalidPort => LocationError::BadPort,
                    url::ParseError::EmptyHost => LocationError::NoHost,
                    e => LocationError::Malformed(e.to_string()),
                },
            )?;
        let host = match url.host() {
            None => return Err(LocationError::NoHost),
            Some(url::Host::Domain("")) => return Err(LocationError::NoHost),
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
        };
        let port = match url.port() {
            Some(0) => return Err(LocationError::BadPort),
            Some(p) => p,
            None => scheme.default_port(),
        };
        let username = Some(url.username())
            .filter(|u| !u.is_empty())
            .map(percent_decode);
        let password = url.password().map(percent_decode);

        let path_and_query = path_and_query
            .strip_prefix('/')
            .ok_or(LocationError::NoApplication)?;
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let (application, stream) = match path.rsplit_once('/') {
            Some((app, stream)) => (app, stream),
            None if path.is_empty() => return Err(LocationError::NoApplication),
            None => return Err(LocationError::NoStream),
        };
        if application.is_empty() {
            return Err(LocationError::NoApplication);
        }
        if stream.is_empty() {
            return Err(LocationError::NoStream);
        }
        let stream = match query {
            Some(query) => format!("{stream}?{query}"),
            None => stream.to_owned(),
        };

        Ok(Location {
            scheme,
            host,
            port,
            application: application.to_owned(),
            stream,
            username,
            password,
        })
    }

    /// The location as a URI: `scheme://[username@]host[:port]/application/stream`.
    ///
    /// The password is never included, so reading the `location` property back (or logging it)
    /// cannot reveal it. The port is left out when it is the scheme's default.
    pub fn to_uri(&self) -> String {
        let user = match &self.username {
            Some(u) => format!("{}@", percent_encode_userinfo(u)),
            None => String::new(),
        };
        format!(
            "{}://{user}{}/{}",
            self.scheme.as_str(),
            self.authority(),
            self.path()
        )
    }

    /// The location to print in logs and error messages: [`to_uri`](Self::to_uri) with the
    /// values of query strings (stream keys, tokens) redacted; the stream name stays.
    pub fn to_redacted_uri(&self) -> String {
        let user = match &self.username {
            Some(u) => format!("{}@", percent_encode_userinfo(u)),
            None => String::new(),
        };
        format!(
            "{}://{user}{}/{}/{}",
            self.scheme.as_str(),
            self.authority(),
            redact_query(&self.application),
            redact_query(&self.stream)
        )
    }

    /// The stream name to print: its query values redacted (`name?key=<redacted>`).
    pub fn redacted_stream(&self) -> std::borrow::Cow<'_, str> {
        redact_query(&self.stream)
    }

    /// The application to print, as [`redacted_stream`](Self::redacted_stream).
    pub fn redacted_application(&self) -> std::borrow::Cow<'_, str> {
        redact_query(&self.application)
    }

    /// The `tcUrl` of the connect command: `scheme://host[:port]/application`, without
    /// credentials or stream (the port only when it is not the scheme's default).
    pub fn tc_url(&self) -> String {
        format!(
            "{}://{}/{}",
            self.scheme.as_str(),
            self.authority(),
            self.application
        )
    }

    /// `application/stream`, as it appears in the URI.
    fn path(&self) -> String {
        format!("{}/{}", self.application, self.stream)
    }

    /// `host[:port]`, with brackets around an IPv6 address.
    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Checks that the parts set one by one still make a usable location.
    pub fn validate(&self) -> Result<(), LocationError> {
        if self.host.is_empty() {
            Err(LocationError::NoHost)
        } else if self.port == 0 {
            Err(LocationError::BadPort)
        } else if self.application.is_empty() {
            Err(LocationError::NoApplication)
        } else if self.stream.is_empty() {
            Err(LocationError::NoStream)
        } else {
            Ok(())
        }
    }
}

/// Percent-decodes `%XX` sequences; invalid sequences stay as they are, non-UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str) -> String {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if let (b'%', [hi, lo, after @ ..]) = (first, tail)
            && let (Some(hi), Some(lo)) = (hex(*hi), hex(*lo))
        {
            out.push(hi << 4 | lo);
            rest = after;
        } else {
            out.push(first);
            rest = tail;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes everything but RFC 3986 unreserved characters and sub-delims, so a user name with
/// `@`, `:` or `/` survives a round trip through [`Location::to_uri`] and [`Location::parse`].
fn percent_encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URI schemes the elements' URI handlers accept.
pub fn uri_protocols() -> &'static [&'static str] {
    &["rtmp", "rtmps", "rtmpt", "rtmpts"]
}
