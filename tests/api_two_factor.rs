//! Two-factor sign-in over HTTP: enrolment with a QR code and a first code,
//! sign-in asking for the code after the password (API login and console
//! session), no code accepted twice, recovery codes single-use, an
//! administrator's reset, and roles that must enrol before anything else.

mod support;

use axum::http::{Method, StatusCode};
use hangar_accounts::totp::code_at;
use serde_json::{Value, json};
use support::api::{Api, PASSWORD};

fn now_s() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970")
}

async fn login(api: &Api, email: &str, code: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    let reply = api.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
    (reply.status, serde_json::from_slice(&reply.body).unwrap_or(Value::Null))
}

/// Enrols the account; returns the secret, the time its first code was
/// made, and the recovery codes.
async fn enrol(api: &Api, token: &str) -> (String, u64, Vec<String>) {
    let started = api.call(Method::POST, "/api/v1/account/two-factor", Some(token), None).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text());
    let started = started.json();
    let secret = started["secret"].as_str().expect("secret").to_owned();
    assert!(started["otpauth_uri"].as_str().is_some_and(|u| u.starts_with("otpauth://totp/Hangar:")), "{started}");
    assert!(started["qr_svg"].as_str().is_some_and(|s| s.contains("<svg")), "a QR code drawn as SVG");
    // Not on until confirmed: sign-in still takes the password alone.
    let wrong = api
        .call(Method::POST, "/api/v1/account/two-factor/confirm", Some(token), Some(json!({"code": "000000"})))
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.text());
    let t0 = now_s();
    let code = code_at(&secret, t0).expect("code");
    let confirmed =
        api.call(Method::POST, "/api/v1/account/two-factor/confirm", Some(token), Some(json!({"code": code}))).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text());
    let codes: Vec<String> = confirmed.json()["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, t0, codes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_asks_for_a_fresh_code_and_recovery_codes_work_once() {
    // Many refusals in a row on purpose: the back-off is tested on its own below.
    let api = Api::with_config(|config| config.login_failures_allowed = 50).await;
    let token = api.login_after_signup("li.wei@caac.example").await;
    let (secret, t0, recovery) = enrol(&api, &token).await;
    let status = api.get("/api/v1/account/two-factor", &token).await.json();
    assert_eq!(status["enabled"], true);
    assert_eq!(status["recovery_codes_left"], 10);

    // The password alone no longer signs in, nor does a wrong code.
    let (code, body) = login(&api, "li.wei@caac.example", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "two_factor_required", "{body}");
    assert_eq!(login(&api, "li.wei@caac.example", Some("123456")).await.0, StatusCode::UNAUTHORIZED);
    // The console's session sign-in asks too.
    let session = api
        .call(
            Method::POST,
            "/api/v1/auth/session",
            None,
            Some(json!({"email": "li.wei@caac.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(session.status, StatusCode::UNAUTHORIZED, "{}", session.text());

    // The code that confirmed the enrolment is spent: a replay is refused.
    let first = code_at(&secret, t0).expect("code");
    assert_eq!(login(&api, "li.wei@caac.example", Some(&first)).await.0, StatusCode::UNAUTHORIZED, "replayed");
    // The next step's code signs in (within the ±1 step window), once.
    let next = code_at(&secret, t0 + 30).expect("code");
    let (code, body) = login(&api, "li.wei@caac.example", Some(&next)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
    assert_eq!(login(&api, "li.wei@caac.example", Some(&next)).await.0, StatusCode::UNAUTHORIZED, "replayed");
    // Two steps ahead is outside the window.
    let far = code_at(&secret, t0 + 120).expect("code");
    assert_eq!(login(&api, "li.wei@caac.example", Some(&far)).await.0, StatusCode::UNAUTHORIZED);

    // A recovery code works once, however it is typed.
    let spaced = format!(" {} ", recovery[0].to_uppercase());
    assert_eq!(login(&api, "li.wei@caac.example", Some(&spaced)).await.0, StatusCode::OK);
    assert_eq!(login(&api, "li.wei@caac.example", Some(&recovery[0])).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&api, "li.wei@caac.example", Some(&recovery[1])).await.0, StatusCode::OK);
    assert_eq!(api.get("/api/v1/account/two-factor", &token).await.json()["recovery_codes_left"], 8);
    // Enrolling again needs turning it off first.
    assert_eq!(
        api.call(Method::POST, "/api/v1/account/two-factor", Some(&token), None).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_resets_it_and_a_required_role_is_sent_to_enrolment() {
    let api = Api::new().await;
    let admin = api.admin("root@hangar.example").await;
    let token = api.login_after_signup("li.wei@caac.example").await;
    let id = api.get("/api/v1/users/me", &token).await.json()["id"].as_str().expect("id").to_owned();
    enrol(&api, &token).await;
    assert_eq!(login(&api, "li.wei@caac.example", None).await.0, StatusCode::UNAUTHORIZED);

    // Only administrators reset it, in person (not through a key), and not their own; then the
    // password alone signs in again.
    let path = format!("/api/v1/users/{id}/two-factor");
    assert_eq!(api.call(Method::DELETE, &path, Some(&token), None).await.status, StatusCode::FORBIDDEN);
    let admin_key = api
        .call(Method::POST, "/api/v1/keys", Some(&admin), Some(json!({"name": "ops", "scopes": ["users:manage"]})))
        .await
        .json()["key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert_eq!(api.call(Method::DELETE, &path, Some(&admin_key), None).await.status, StatusCode::FORBIDDEN);
    let admin_id = api.get("/api/v1/users/me", &admin).await.json()["id"].as_str().expect("id").to_owned();
    let own = api.call(Method::DELETE, &format!("/api/v1/users/{admin_id}/two-factor"), Some(&admin), None).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.text());
    // Tokens carry whole seconds: the reset comes in a later one than the account's session.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(api.call(Method::DELETE, &path, Some(&admin), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/users/me", &token).await.status,
        StatusCode::UNAUTHORIZED,
        "the reset ends its sessions"
    );
    let (code, body) = login(&api, "li.wei@caac.example", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().expect("token").to_owned();
    let reset = api.get("/api/v1/audit?action=two_factor.reset", &admin).await.json();
    assert_eq!(reset["entries"].as_array().map(Vec::len), Some(1), "{reset}");
    assert_eq!(reset["entries"][0]["target"], json!(id));

    // Require it of the user role: the account is sent to enrolment.
    let set = api
        .call(Method::PUT, "/api/v1/settings/two-factor", Some(&admin), Some(json!({"required_roles": ["user"]})))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    let refused = api.get("/api/v1/runs", &token).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"]["code"], "two_factor_enrolment_required", "{}", refused.text());
    assert_eq!(api.get("/api/v1/account/two-factor", &token).await.json()["required"], true);
    // Administrators, not required here, go on.
    assert_eq!(api.get("/api/v1/runs", &admin).await.status, StatusCode::OK);
    enrol(&api, &token).await;
    assert_eq!(api.get("/api/v1/runs", &token).await.status, StatusCode::OK);
    // While required, it cannot be turned off by the account itself.
    let off =
        api.call(Method::DELETE, "/api/v1/account/two-factor", Some(&token), Some(json!({"code": "000000"}))).await;
    assert_eq!(off.status, StatusCode::FORBIDDEN, "{}", off.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_ends_password_only_sign_ins_and_code_guessing_is_throttled() {
    let api = Api::with_config(|config| config.login_failures_allowed = 3).await;
    let first = api.sign_up("li.wei@caac.example").await;
    let elsewhere = first["access_token"].as_str().expect("token").to_owned();
    let refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    // Tokens carry whole seconds: the enrolling session is a later one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let token = api.login("li.wei@caac.example").await["access_token"].as_str().expect("token").to_owned();
    enrol(&api, &token).await;
    // The sign-ins made with the password alone elsewhere end: their refresh
    // token and their access token; the session that enrolled goes on.
    let refreshed = api.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED, "{}", refreshed.text());
    let ended = api.get("/api/v1/users/me", &elsewhere).await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED, "{}", ended.text());
    assert_eq!(api.get("/api/v1/users/me", &token).await.status, StatusCode::OK);

    // With the right password, wrong codes still count, and the password
    // step does not reset the count: guessing stops at the limit.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(login(&api, "li.wei@caac.example", Some("000000")).await.0);
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}
