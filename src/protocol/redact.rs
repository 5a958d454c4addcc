//! Secrets out of printed text. Stream keys and tokens travel in query strings
//! (`live/stream?key=...`, `app?token=...`), so whatever prints a stream name, application or URI
//! prints it through [`redact_query`].

use std::borrow::Cow;

/// What a redacted value prints as.
pub const REDACTED: &str = "<redacted>";

/// `name?key=abc&t=1` becomes `name?key=<redacted>&t=<redacted>`: parameter names stay (they
/// tell what was there), values go; a parameter without `=` may be a bare token and goes whole.
/// Text without `?` comes back as it is.
pub fn redact_query(s: &str) -> Cow<'_, str> {
    let Some((head, query)) = s.split_once('?') else {
        return Cow::Borrowed(s);
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) => format!("{name}={REDACTED}"),
            None if param.is_empty() => String::new(),
            None => REDACTED.to_owned(),
        })
        .collect();
    Cow::Owned(format!("{head}?{}", params.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted_names_kept() {
        assert_eq!(redact_query("stream"), "stream");
        assert_eq!(redact_query("stream?key=SECRET"), "stream?key=<redacted>");
        assert_eq!(
            redact_query("s?key=a=b&t=1&&bare"),
            "s?key=<redacted>&t=<redacted>&&<redacted>"
        );
        assert_eq!(redact_query("s?"), "s?");
        assert_eq!(redact_query("?TOKEN"), "?<redacted>");
        // A whole URI: authority and path stay, everything after the first `?` is redacted.
        assert_eq!(
            redact_query("rtmp://h:1935/app?tok=x/y?z=w"),
            "rtmp://h:1935/app?tok=<redacted>"
        );
    }
}
