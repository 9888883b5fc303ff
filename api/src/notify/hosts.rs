//! Which destinations webhooks may have: http(s) URLs whose host an
//! administrator allowed, so an account cannot make the server call its
//! own network's addresses.

use url::Url;

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an absolute http(s) URL, or with credentials in it.
    Malformed(String),
    /// The host is not on the allow-list.
    HostNotAllowed(String),
}

/// A host as the allow-list keeps it: lower case, no trailing dot.
pub fn normalise(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Checks a webhook URL against the allowed hosts; returns its host.
pub fn check(url: &str, allowed: &[String]) -> Result<String, Refusal> {
    let parsed = Url::parse(url.trim()).map_err(|e| {
        Refusal::Malformed(format!("{url:?} is not a URL ({e}); write it like https://hooks.example.com/hangar"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Refusal::Malformed(format!("{url:?} is not an http:// or https:// URL")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refusal::Malformed(
            "put no user name or password in a webhook URL; events are signed instead".to_owned(),
        ));
    }
    let host = normalise(parsed.host_str().unwrap_or_default());
    if host.is_empty() {
        return Err(Refusal::Malformed(format!("{url:?} names no host")));
    }
    if !allowed.iter().any(|a| normalise(a) == host) {
        return Err(Refusal::HostNotAllowed(host));
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_hosts_over_http_pass() {
        let allowed = vec!["hooks.example.com".to_owned(), "127.0.0.1".to_owned()];
        assert_eq!(check("https://Hooks.Example.com./x?y=1", &allowed), Ok("hooks.example.com".to_owned()));
        assert_eq!(check("http://127.0.0.1:9000/hook", &allowed), Ok("127.0.0.1".to_owned()));
        assert_eq!(
            check("http://169.254.169.254/latest/meta-data", &allowed),
            Err(Refusal::HostNotAllowed("169.254.169.254".to_owned()))
        );
        assert_eq!(check("http://localhost:5432/", &allowed), Err(Refusal::HostNotAllowed("localhost".to_owned())));
        assert!(matches!(check("file:///etc/passwd", &allowed), Err(Refusal::Malformed(_))));
        assert!(matches!(check("https://user:pw@hooks.example.com/", &allowed), Err(Refusal::Malformed(_))));
        assert!(matches!(check("hooks.example.com/x", &allowed), Err(Refusal::Malformed(_))));
    }
}
