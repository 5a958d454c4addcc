//! The HTTP proxy an `rtmpt://` or `rtmpts://` connection goes through: the `proxy` property
//! (with `proxy-id`/`proxy-pw`), else `http_proxy` (`https_proxy` for rtmpts) from the
//! environment unless `no_proxy` names the host, as souphttpsrc and curl read them. rtmpt's
//! requests go to the proxy with absolute targets; rtmpts asks it for a CONNECT tunnel.

use crate::connection::HttpProxy;
use crate::location::Settings;
use crate::uri::{Scheme, percent_decode};

/// The proxy for the settings' location; `env` reads an environment variable.
pub fn tunnel_proxy(
    settings: &Settings,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<HttpProxy>, String> {
    let location = &settings.location;
    let explicit = settings.proxy.as_deref().filter(|p| !p.trim().is_empty());
    // rtmpts:// goes through the proxy in a CONNECT tunnel, so it reads https_proxy.
    let variables = match location.scheme {
        Scheme::Rtmp | Scheme::Rtmps => return Ok(None),
        Scheme::Rtmpt => ["http_proxy", "HTTP_PROXY"],
        Scheme::Rtmpts => ["https_proxy", "HTTPS_PROXY"],
    };
    let uri = match explicit {
        Some(uri) => uri.to_owned(),
        None => {
            let Some(uri) = variables
                .iter()
                .find_map(|name| env(name))
                .filter(|p| !p.trim().is_empty())
            else {
                return Ok(None);
            };
            let no_proxy = env("no_proxy")
                .or_else(|| env("NO_PROXY"))
                .unwrap_or_default();
            if bypasses(&no_proxy, &location.host) {
                return Ok(None);
            }
            uri
        }
    };
    let mut proxy = parse_proxy(&uri)?;
    if settings.proxy_id.is_some() {
        proxy.user = settings.proxy_id.clone();
        proxy.password = settings.proxy_pw.clone();
    }
    Ok(Some(proxy))
}

/// `http://[user[:password]@]host[:port]` (port 80 by default), or `host:port`.
pub fn parse_proxy(uri: &str) -> Result<HttpProxy, String> {
    let uri = uri.trim();
    let with_scheme = match uri.contains("://") {
        true => uri.to_owned(),
        false => format!("http://{uri}"),
    };
    // The URI may carry a password: keep it out of the messages.
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("invalid proxy URI: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "proxy URI scheme '{}' is not supported (expected http)",
            url.scheme()
        ));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        _ => return Err("the proxy URI has no host".into()),
    };
    Ok(HttpProxy {
        host,
        port: url.port().unwrap_or(80),
        user: Some(url.username())
            .filter(|u| !u.is_empty())
            .map(percent_decode),
        password: url.password().map(percent_decode),
    })
}

/// Whether `no_proxy` (comma-separated names, `.domain` suffixes, or `*`) names `host`.
fn bypasses(no_proxy: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(|entry| entry.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry == "*" || host == entry || host.ends_with(&format!(".{entry}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Location;

    fn settings(location: &str) -> Settings {
        let mut settings = Settings::default();
        settings.location = Location::parse(location).unwrap();
        settings
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_property_wins_and_credentials_come_from_proxy_id() {
        let mut s = settings("rtmpt://media.example.com/live/x");
        assert_eq!(tunnel_proxy(&s, no_env), Ok(None));
        s.proxy = Some("http://u%40x:p@proxy.local:3128".into());
        let proxy = tunnel_proxy(&s, |_| Some("http://other:1".into()))
            .unwrap()
            .unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("proxy.local", 3128));
        assert_eq!(proxy.user.as_deref(), Some("u@x"));
        assert_eq!(proxy.password.as_deref(), Some("p"));
        s.proxy_id = Some("id".into());
        s.proxy_pw = Some("pw".into());
        let proxy = tunnel_proxy(&s, no_env).unwrap().unwrap();
        assert_eq!(proxy.user.as_deref(), Some("id"));
        assert_eq!(proxy.password.as_deref(), Some("pw"));
        // Only rtmpt:// is proxied.
        let mut plain = settings("rtmp://media.example.com/live/x");
        plain.proxy = s.proxy.clone();
        assert_eq!(tunnel_proxy(&plain, no_env), Ok(None));
        let mut tls = settings("rtmpts://media.example.com/live/x");
        tls.proxy = s.proxy.clone();
        assert_eq!(tunnel_proxy(&tls, no_env).unwrap().unwrap().port, 3128);
        let https = |name: &str| (name == "https_proxy").then(|| "http://p:443".to_owned());
        let tls = settings("rtmpts://media.example.com/live/x");
        assert_eq!(tunnel_proxy(&tls, https).unwrap().unwrap().port, 443);
        assert_eq!(tunnel_proxy(&settings("rtmpt://h/live/x"), https), Ok(None));
    }

    #[test]
    fn http_proxy_from_the_environment_unless_no_proxy_names_the_host() {
        let s = settings("rtmpt://cdn.example.com/live/x");
        let env = |no_proxy: &'static str| {
            move |name: &str| match name {
                "http_proxy" => Some("proxy.local:8080".to_owned()),
                "no_proxy" => Some(no_proxy.to_owned()),
                _ => None,
            }
        };
        let proxy = tunnel_proxy(&s, env("")).unwrap().unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("proxy.local", 8080));
        assert_eq!(proxy.user, None);
        assert_eq!(tunnel_proxy(&s, env("localhost, .example.com")), Ok(None));
        assert_eq!(tunnel_proxy(&s, env("*")), Ok(None));
        assert!(tunnel_proxy(&s, env("ample.com")).unwrap().is_some());
        let upper = |name: &str| (name == "HTTP_PROXY").then(|| "http://p:1".to_owned());
        assert_eq!(tunnel_proxy(&s, upper).unwrap().unwrap().port, 1);
    }

    #[test]
    fn proxy_uris() {
        assert_eq!(parse_proxy("http://[::1]").unwrap().host, "::1");
        assert_eq!(parse_proxy("http://[::1]").unwrap().port, 80);
        assert!(
            parse_proxy("socks5://p:1080")
                .unwrap_err()
                .contains("socks5")
        );
        let err = parse_proxy("http://user:secret@").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }
}
