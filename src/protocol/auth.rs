//! Connect-time authentication as RTMP servers implement it: Adobe's challenge/response
//! (`authmod=adobe`, FMS/Wowza/nginx setups), Limelight's digest (`authmod=llnw`), and the
//! `secureToken` challenge (XXTEA) some CDNs add to the connect answer.
//!
//! The exchange spans connections: the first connect is refused with a description naming the
//! scheme (`code=403 need auth; authmod=adobe`), the client connects again with
//! `?authmod=adobe&user=NAME` on the application and tcUrl, is refused again with a challenge
//! (`?reason=needauth&user=..&salt=..&challenge=..&opaque=..`), and connects a third time with
//! its response. The computations follow FFmpeg's rtmpproto.c and GStreamer's rtmp2, which
//! servers accept.

use base64::Engine;
use md5::{Digest, Md5};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMod {
    /// Never answer an authentication request.
    None,
    /// Use whatever scheme the server asks for.
    #[default]
    Auto,
    Adobe,
    Llnw,
}

impl AuthMod {
    fn name(self) -> Option<&'static str> {
        match self {
            AuthMod::Adobe => Some("adobe"),
            AuthMod::Llnw => Some("llnw"),
            AuthMod::None | AuthMod::Auto => None,
        }
    }
}

/// Where the client is in the exchange, carried from one connection to the next.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct AuthState {
    pub mode: AuthMod,
    /// Query appended to the application and tcUrl of the next connect (empty at first).
    pub params: String,
    /// A response has been sent: another refusal means the credentials are wrong.
    pub responded: bool,
}

/// The parameters carry the response: keep them out of debug output.
impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.mode_name())
    }
}

impl AuthState {
    /// For logs: the scheme and step, never the parameters (they carry the response).
    pub fn mode_name(&self) -> String {
        let step = if self.responded {
            "response"
        } else {
            "request"
        };
        format!("{:?} {step}", self.mode)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Connect again with these parameters appended to the application and tcUrl.
    Retry(AuthState),
    /// Give up: why, in words for the user.
    Failed(String),
}

/// Decides what to do after the server refused `connect` with `description`.
/// `random` makes the client challenge/cnonce (8 hex digits).
pub fn after_rejection(
    description: &str,
    state: &AuthState,
    user: Option<&str>,
    password: Option<&str>,
    app: &str,
    random: u32,
) -> AuthStep {
    if state.mode == AuthMod::None {
        return AuthStep::Failed(description.to_owned());
    }
    if description.contains("?reason=authfailed") {
        return AuthStep::Failed("authentication failed: wrong user name or password".into());
    }
    if description.contains("?reason=nosuchuser") {
        return AuthStep::Failed("authentication failed: no such user".into());
    }
    if state.responded {
        return AuthStep::Failed(format!("authentication failed: {description}"));
    }
    let needs_auth = description.contains("code=403 need auth");
    let challenge = description.find("?reason=needauth");
    if !needs_auth && challenge.is_none() {
        return AuthStep::Failed(description.to_owned());
    }
    let (Some(user), Some(password)) = (user, password) else {
        return AuthStep::Failed(format!(
            "the server requires authentication (set user name and password): {description}"
        ));
    };
    let mode = match state.mode {
        AuthMod::Auto if description.contains("authmod=adobe") => AuthMod::Adobe,
        AuthMod::Auto if description.contains("authmod=llnw") => AuthMod::Llnw,
        AuthMod::Auto => {
            return AuthStep::Failed(format!("unknown authentication scheme: {description}"));
        }
        other => other,
    };
    let Some(name) = mode.name() else {
        return AuthStep::Failed(description.to_owned());
    };
    let user_escaped = escape(user);
    let Some(start) = challenge else {
        return AuthStep::Retry(AuthState {
            mode,
            params: format!("?authmod={name}&user={user_escaped}"),
            responded: false,
        });
    };
    let query = &description[start + 1..];
    let field = |key: &str| {
        query
            .split(['&', ' ', '"'])
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
    };
    let client_random = format!("{random:08x}");
    let params = match mode {
        AuthMod::Adobe => {
            let salt = field("salt").unwrap_or_default();
            let opaque = field("opaque");
            let challenge = field("challenge");
            let response = adobe_response(user, password, salt, opaque, challenge, &client_random);
            let mut params = format!(
                "?authmod=adobe&user={user_escaped}&challenge={client_random}&response={response}"
            );
            if let Some(opaque) = opaque {
                params.push_str(&format!("&opaque={opaque}"));
            }
            params
        }
        _ => {
            let nonce = field("nonce").unwrap_or_default();
            let response = llnw_response(user, password, app, nonce, &client_random);
            format!(
                "?authmod=llnw&user={user_escaped}&nonce={nonce}&cnonce={client_random}&nc=00000001&response={response}"
            )
        }
    };
    AuthStep::Retry(AuthState {
        mode,
        params,
        responded: true,
    })
}

/// Adobe: base64(md5(base64(md5(user salt password)) (opaque | challenge) client_challenge)).
pub fn adobe_response(
    user: &str,
    password: &str,
    salt: &str,
    opaque: Option<&str>,
    challenge: Option<&str>,
    client_challenge: &str,
) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let first = b64.encode(Md5::digest(format!("{user}{salt}{password}")));
    let mut second = Md5::new();
    second.update(first.as_bytes());
    if let Some(opaque) = opaque {
        second.update(opaque.as_bytes());
    } else if let Some(challenge) = challenge {
        second.update(challenge.as_bytes());
    }
    second.update(client_challenge.as_bytes());
    b64.encode(second.finalize())
}

/// Limelight: an HTTP-digest-like response with realm "live" and method "publish".
pub fn llnw_response(user: &str, password: &str, app: &str, nonce: &str, cnonce: &str) -> String {
    let hex = |data: String| {
        Md5::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let ha1 = hex(format!("{user}:live:{password}"));
    // An application without an instance is the default instance.
    let instance = if app.contains('/') { "" } else { "/_definst_" };
    let ha2 = hex(format!("publish:/{app}{instance}"));
    hex(format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"))
}

/// Query-string escaping of a user name (RFC 3986 unreserved characters pass).
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes a `secureToken` challenge (hex of XXTEA-encrypted text) with the first 16 bytes of
/// `key`, as librtmp does; `None` when it is not hex of whole 32-bit words.
pub fn decode_secure_token(key: &str, token_hex: &str) -> Option<String> {
    const DELTA: u32 = 0x9E37_79B9;
    let mut k = [0u32; 4];
    for (i, byte) in key.bytes().take(16).enumerate() {
        k[i / 4] |= u32::from(byte) << ((i % 4) * 8);
    }
    let bytes: Vec<u8> = (0..token_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token_hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    if bytes.len() < 8 || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut v: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = v.len();
    let mx = |z: u32, y: u32, sum: u32, p: usize, e: u32| {
        (((z >> 5) ^ (y << 2)).wrapping_add((y >> 3) ^ (z << 4)))
            ^ ((sum ^ y).wrapping_add(k[(p & 3) ^ e as usize] ^ z))
    };
    let rounds = 6 + 52 / n as u32;
    let mut sum = rounds.wrapping_mul(DELTA);
    let mut y = v[0];
    while sum != 0 {
        let e = (sum >> 2) & 3;
        for p in (1..n).rev() {
            let z = v[p - 1];
            v[p] = v[p].wrapping_sub(mx(z, y, sum, p, e));
            y = v[p];
        }
        let z = v[n - 1];
        v[0] = v[0].wrapping_sub(mx(z, y, sum, 0, e));
        y = v[0];
        sum = sum.wrapping_sub(DELTA);
    }
    let plain: Vec<u8> = v.iter().flat_map(|w| w.to_le_bytes()).collect();
    let end = plain.iter().position(|&b| b == 0).unwrap_or(plain.len());
    Some(String::from_utf8_lossy(&plain[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed independently with Python's hashlib/base64 from FFmpeg's formulas.
    #[test]
    fn adobe_response_matches_ffmpegs_formula() {
        assert_eq!(
            adobe_response(
                "alice",
                "secret",
                "SALT123",
                Some("OPQ"),
                Some("CHAL"),
                "0a1b2c3d"
            ),
            "KhWd65oE8X+FJGt0tfW5cw=="
        );
        assert_eq!(
            adobe_response("alice", "secret", "SALT123", None, Some("CHAL"), "0a1b2c3d"),
            "9hbi/r3+bZCnEL8G3D0vqQ=="
        );
    }

    #[test]
    fn llnw_response_matches_ffmpegs_formula() {
        assert_eq!(
            llnw_response("alice", "secret", "live", "NONCE9", "0a1b2c3d"),
            "be035b3ae2521b2f48f712694aeb3990"
        );
    }

    #[test]
    fn secure_token_decodes_librtmp_xxtea() {
        // "token123" encrypted with key "0123456789abcdef" by an independent XXTEA encoder.
        assert_eq!(
            decode_secure_token("0123456789abcdef", "56e602a1617f961a").as_deref(),
            Some("token123")
        );
        assert_eq!(decode_secure_token("k", "zz"), None);
        assert_eq!(decode_secure_token("k", "abc"), None);
        assert_eq!(decode_secure_token("k", ""), None);
    }

    fn start(mode: AuthMod) -> AuthState {
        AuthState {
            mode,
            ..Default::default()
        }
    }

    #[test]
    fn the_adobe_exchange_takes_two_retries() {
        let first = "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ";
        let AuthStep::Retry(state) = after_rejection(
            first,
            &start(AuthMod::Auto),
            Some("al ice"),
            Some("pw"),
            "live",
            1,
        ) else {
            panic!("no retry")
        };
        assert_eq!(state.params, "?authmod=adobe&user=al%20ice");
        assert_eq!(state.mode, AuthMod::Adobe);

        let second = "[ AccessManager.Reject ] : [ authmod=adobe ] : \
                      ?reason=needauth&user=al ice&salt=SALT123&challenge=CHAL&opaque=OPQ";
        let AuthStep::Retry(state) = after_rejection(
            second,
            &state,
            Some("alice"),
            Some("secret"),
            "live",
            0x0a1b2c3d,
        ) else {
            panic!("no response")
        };
        assert_eq!(
            state.params,
            "?authmod=adobe&user=alice&challenge=0a1b2c3d&response=KhWd65oE8X+FJGt0tfW5cw==&opaque=OPQ"
        );
        assert!(state.responded);

        let third = "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed";
        assert!(matches!(
            after_rejection(third, &state, Some("alice"), Some("secret"), "live", 0),
            AuthStep::Failed(reason) if reason.contains("wrong user name or password")
        ));
    }

    #[test]
    fn llnw_challenge_is_answered() {
        let state = AuthState {
            mode: AuthMod::Llnw,
            params: "?authmod=llnw&user=alice".into(),
            responded: false,
        };
        let desc = "[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=needauth&nonce=NONCE9";
        let AuthStep::Retry(next) = after_rejection(
            desc,
            &state,
            Some("alice"),
            Some("secret"),
            "live",
            0x0a1b2c3d,
        ) else {
            panic!("no response")
        };
        assert_eq!(
            next.params,
            "?authmod=llnw&user=alice&nonce=NONCE9&cnonce=0a1b2c3d&nc=00000001&response=be035b3ae2521b2f48f712694aeb3990"
        );
    }

    #[test]
    fn refusals_without_credentials_or_scheme_fail_clearly() {
        let desc = "[ code=403 need auth; authmod=adobe ]";
        assert!(matches!(
            after_rejection(desc, &start(AuthMod::Auto), None, None, "live", 0),
            AuthStep::Failed(r) if r.contains("set user name and password")
        ));
        assert!(matches!(
            after_rejection(desc, &start(AuthMod::None), Some("a"), Some("b"), "live", 0),
            AuthStep::Failed(_)
        ));
        assert!(matches!(
            after_rejection("Connection rejected", &start(AuthMod::Auto), Some("a"), Some("b"), "live", 0),
            AuthStep::Failed(r) if r == "Connection rejected"
        ));
    }
}
