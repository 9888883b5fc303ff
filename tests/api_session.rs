//! Browser sessions: signing in sets an HttpOnly cookie that works in place
//! of a bearer token; anything that changes state with the cookie needs the
//! session's CSRF token in a header; signing out clears the cookie.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use support::api::{Api, PASSWORD, Reply};

const NOOP: &str = "name: cookie-hello\ntasks:\n  hello:\n    uses: noop\n";

async fn start_session(api: &Api, email: &str, password: &str) -> Reply {
    api.call(Method::POST, "/api/v1/auth/session", None, Some(json!({"email": email, "password": password}))).await
}

/// `name=value` of the reply's session cookie.
fn session_pair(reply: &Reply) -> String {
    let cookie = reply.headers.get(header::SET_COOKIE).expect("a Set-Cookie header").to_str().expect("ascii");
    cookie.split(';').next().expect("pair").to_owned()
}

async fn with_cookie(api: &Api, method: Method, path: &str, cookie: &str, csrf: Option<&str>, body: &str) -> Reply {
    let mut request =
        Request::builder().method(method).uri(path).header(header::COOKIE, format!("theme=dark; {cookie}"));
    if let Some(csrf) = csrf {
        request = request.header("X-CSRF-Token", csrf);
    }
    if !body.is_empty() {
        request = request.header(header::CONTENT_TYPE, "application/yaml");
    }
    api.send(request.body(Body::from(body.to_owned())).expect("request")).await
}

#[tokio::test]
async fn a_cookie_session_reads_freely_and_writes_only_with_its_csrf_token() {
    let api = Api::new().await;
    api.sign_up("mei@caac.example.cn").await;

    let wrong = start_session(&api, "mei@caac.example.cn", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none(), "no cookie for wrong credentials");

    let started = start_session(&api, "mei@caac.example.cn", PASSWORD).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text());
    let set_cookie = started.headers.get(header::SET_COOKIE).expect("cookie").to_str().expect("ascii").to_owned();
    for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(part), "{set_cookie} lacks {part}");
    }
    let session: Value = started.json();
    let csrf = session["csrf_token"].as_str().expect("csrf").to_owned();
    assert_eq!(session["email"], "mei@caac.example.cn");
    let cookie = session_pair(&started);

    // Reading needs only the cookie.
    let me = with_cookie(&api, Method::GET, "/api/v1/users/me", &cookie, None, "").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(me.json()["email"], "mei@caac.example.cn");
    let current = with_cookie(&api, Method::GET, "/api/v1/auth/session", &cookie, None, "").await;
    assert_eq!(current.json()["csrf_token"], csrf.as_str(), "the page can fetch the same CSRF token again");

    // Writing needs the CSRF token as well: none, a wrong one, then the right one.
    let missing = with_cookie(&api, Method::POST, "/api/v1/pipelines", &cookie, None, NOOP).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.text());
    assert!(missing.text().contains("X-CSRF-Token"), "the error says what to send: {}", missing.text());
    let forged = "0".repeat(64);
    let wrong = with_cookie(&api, Method::POST, "/api/v1/pipelines", &cookie, Some(&forged), NOOP).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let garbage = with_cookie(&api, Method::POST, "/api/v1/pipelines", &cookie, Some("not hex"), NOOP).await;
    assert_eq!(garbage.status, StatusCode::FORBIDDEN);
    let saved = with_cookie(&api, Method::POST, "/api/v1/pipelines", &cookie, Some(&csrf), NOOP).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text());

    // Another session's CSRF token does not fit this one.
    api.sign_up("li@caac.example.cn").await;
    let other = start_session(&api, "li@caac.example.cn", PASSWORD).await.json();
    let other_csrf = other["csrf_token"].as_str().expect("csrf");
    assert_ne!(other_csrf, csrf);
    let crossed =
        with_cookie(&api, Method::DELETE, "/api/v1/pipelines/cookie-hello", &cookie, Some(other_csrf), "").await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);

    // A bearer token needs no CSRF token (scripts are not browsers).
    let token = api.login("mei@caac.example.cn").await["access_token"].as_str().expect("token").to_owned();
    let deleted = api.call(Method::DELETE, "/api/v1/pipelines/cookie-hello", Some(&token), None).await;
    assert!(deleted.status.is_success(), "{}", deleted.text());

    // Signing out clears the cookie.
    let ended = api.call(Method::DELETE, "/api/v1/auth/session", None, None).await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    let cleared = ended.headers.get(header::SET_COOKIE).expect("cookie").to_str().expect("ascii");
    assert!(cleared.starts_with("hangar_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn a_tampered_or_foreign_cookie_is_refused() {
    let api = Api::new().await;
    api.sign_up("mei@caac.example.cn").await;
    let started = start_session(&api, "mei@caac.example.cn", PASSWORD).await;
    let cookie = session_pair(&started);
    let tampered = format!("{}x", cookie);
    let reply = with_cookie(&api, Method::GET, "/api/v1/users/me", &tampered, None, "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let none = api.call(Method::GET, "/api/v1/auth/session", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(none.text().contains("sign in"), "{}", none.text());
}
