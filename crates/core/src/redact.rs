//! Redaction of credentials, applied before a record exists.

/// Headers whose values are credentials. Compared case-insensitively.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "helicone-auth",
    "cookie",
    "set-cookie",
];

/// Query parameters whose values are credentials.
pub const SECRET_QUERY_PARAMS: &[&str] = &["key", "api_key", "api-key"];

pub const REDACTED: &str = "[REDACTED]";

pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The value to store for a header: secrets keep their scheme (`Bearer`) and nothing else.
pub fn header_value(name: &str, value: &str) -> String {
    if !is_secret_header(name) {
        return value.to_owned();
    }
    if value == REDACTED || value.ends_with(&format!(" {REDACTED}")) {
        return value.to_owned();
    }
    match value.split_once(' ') {
        Some((scheme, _))
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic") =>
        {
            format!("{scheme} {REDACTED}")
        }
        _ => REDACTED.to_owned(),
    }
}

/// Redacts a whole header list.
pub fn headers<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(n, v)| (n.to_owned(), header_value(n, v)))
        .collect()
}

/// A path with query string, with secret query parameter values replaced.
pub fn path_and_query(pq: &str) -> String {
    let Some((path, query)) = pq.split_once('?') else {
        return pq.to_owned();
    };
    let mut out = String::with_capacity(pq.len());
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _))
                if SECRET_QUERY_PARAMS
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(k)) =>
            {
                out.push_str(k);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_keeps_scheme_only() {
        assert_eq!(
            header_value("Authorization", "Bearer sk-abc"),
            "Bearer [REDACTED]"
        );
        assert_eq!(header_value("x-api-key", "sk-ant-123"), "[REDACTED]");
        assert_eq!(
            header_value("Helicone-Auth", "Bearer sk-helicone"),
            "Bearer [REDACTED]"
        );
        assert_eq!(
            header_value("content-type", "application/json"),
            "application/json"
        );
    }

    #[test]
    fn every_secret_header_is_redacted() {
        for h in SECRET_HEADERS {
            let v = header_value(&h.to_uppercase(), "sk-secret-value");
            assert!(!v.contains("sk-secret"), "{h}");
        }
    }

    #[test]
    fn redaction_is_idempotent() {
        for v in [
            "Bearer sk-1",
            "sk-2",
            "Basic dXNlcjpwYXNz",
            "weird value here",
        ] {
            let once = header_value("authorization", v);
            assert_eq!(header_value("authorization", &once), once);
        }
        let once = path_and_query("/v1/models?key=abc&alt=sse");
        assert_eq!(path_and_query(&once), once);
    }

    #[test]
    fn query_keys_are_redacted() {
        assert_eq!(
            path_and_query("/v1beta/models/x:streamGenerateContent?alt=sse&key=AIza123"),
            "/v1beta/models/x:streamGenerateContent?alt=sse&key=[REDACTED]"
        );
        assert_eq!(
            path_and_query("/v1/chat/completions"),
            "/v1/chat/completions"
        );
    }
}
