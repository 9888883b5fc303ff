//! Which destinations webhooks may have: http(s) URLs whose host and port
//! an administrator allowed, so an account cannot make the server call
//! other services of its network.

use url::Url;

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an absolute http(s) URL, or with credentials in it.
    Malformed(String),
    /// The host and port are not on the allow-list (`host:port` as written).
    HostNotAllowed(String),
}

/// An allow-list entry as kept: lower case, no trailing dot; `host` or
/// `host:port` (`[v6]:port` for IPv6). A bare host allows only the
/// scheme's own port (80 for http, 443 for https).
pub fn normalise(entry: &str) -> String {
    entry.trim().to_ascii_lowercase().replace(".:", ":").trim_end_matches('.').to_owned()
}

/// Whether an entry reads as a host, optionally with a port.
pub fn valid_entry(entry: &str) -> bool {
    let (host, port) = split(entry);
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
    };
    host_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// `host` and the port text of an entry.
fn split(entry: &str) -> (&str, Option<&str>) {
    if entry.starts_with('[') {
        return match entry.split_once("]:") {
            Some((host, port)) => (&entry[..host.len() + 1], Some(port)),
            None => (entry, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (entry, None),
    }
}

/// Checks a webhook URL against the allowed entries; returns its `host:port`.
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
    let default_port = if parsed.scheme() == "https" { 443 } else { 80 };
    let port = parsed.port().unwrap_or(default_port);
    let allowed_here = allowed.iter().map(|a| normalise(a)).any(|entry| match split(&entry) {
        (h, None) => h == host && port == default_port,
        (h, Some(p)) => h == host && p.parse::<u16>().is_ok_and(|p| p == port),
    });
    if !allowed_here {
        return Err(Refusal::HostNotAllowed(format!("{host}:{port}")));
    }
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_hosts_and_ports_over_http_pass() {
        let allowed = vec!["hooks.example.com".to_owned(), "127.0.0.1:9000".to_owned(), "[::1]:8080".to_owned()];
        assert_eq!(check("https://Hooks.Example.com./x?y=1", &allowed), Ok("hooks.example.com:443".to_owned()));
        assert_eq!(check("http://127.0.0.1:9000/hook", &allowed), Ok("127.0.0.1:9000".to_owned()));
        assert_eq!(check("http://[::1]:8080/hook", &allowed), Ok("[::1]:8080".to_owned()));
        let refused = |url: &str| matches!(check(url, &allowed), Err(Refusal::HostNotAllowed(_)));
        // Another port of an allowed host: another service.
        assert!(refused("https://hooks.example.com:2375/containers"));
        assert!(check("http://hooks.example.com/", &allowed).is_ok(), "a bare host allows its scheme's port");
        assert!(refused("http://hooks.example.com:443/"), "and only that one");
        assert!(refused("http://127.0.0.1:5432/"));
        assert!(refused("http://127.0.0.1/"));
        assert!(refused("http://169.254.169.254/latest/meta-data"));
        assert!(refused("http://localhost:9000/"));
        assert!(refused("http://[::1]:9000/"));
        assert!(matches!(check("file:///etc/passwd", &allowed), Err(Refusal::Malformed(_))));
        assert!(matches!(check("https://user:pw@hooks.example.com/", &allowed), Err(Refusal::Malformed(_))));
        assert!(matches!(check("hooks.example.com/x", &allowed), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn entries_are_hosts_with_optional_ports() {
        for entry in ["hooks.example.com", "127.0.0.1:9000", "[::1]:8080", "[::1]", "a-b.example"] {
            assert!(valid_entry(&normalise(entry)), "{entry}");
        }
        for entry in ["", "http://x", "x/y", "x:0", "x:99999", "x:port", "[nope]:1", "a b"] {
            assert!(!valid_entry(&normalise(entry)), "{entry}");
        }
        assert_eq!(normalise(" Hooks.Example.COM. "), "hooks.example.com");
        assert_eq!(normalise("Hooks.Example.com.:8443"), "hooks.example.com:8443");
    }
}
