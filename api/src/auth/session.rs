//! Browser sessions: the same signed token as `Authorization: Bearer`,
//! carried in an HttpOnly cookie that page scripts cannot read, and a CSRF
//! token bound to it that every state-changing request must repeat in a
//! header (double submit: another site can make the browser send the
//! cookie, but cannot read the CSRF token to send with it).

use axum::http::{HeaderMap, Method, header};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hangar_session";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token from the request's `Cookie` headers, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of the cookie `wanted` in the request's `Cookie` headers, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, wanted: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` value that starts a session of `max_age_s` seconds.
pub fn set_cookie(token: &str, max_age_s: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}")
}

/// `Set-Cookie` value that ends the session.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

/// Methods that change nothing, which need no CSRF token.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_session_cookie_is_found_among_others_and_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark; lang=zh"));
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; hangar_session=abc.def.ghi ; b=2"));
        assert_eq!(cookie_token(&headers), Some("abc.def.ghi"));
        let mut empty = HeaderMap::new();
        empty.append(header::COOKIE, HeaderValue::from_static("hangar_session=; x=1"));
        assert_eq!(cookie_token(&empty), None);
        assert_eq!(cookie_token(&HeaderMap::new()), None);
    }

    #[test]
    fn the_cookie_is_http_only_same_site_and_secure_when_asked() {
        let cookie = set_cookie("t", 60, true);
        for part in ["hangar_session=t", "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=60", "Secure"] {
            assert!(cookie.contains(part), "{cookie} lacks {part}");
        }
        assert!(!set_cookie("t", 60, false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
