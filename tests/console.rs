//! The web console over HTTP: signing in with the form, the runs page with
//! per-user visibility and filters, both languages, signing out only with
//! the session's CSRF token, the pipeline editor and run form, schedules
//! added and deleted from a pipeline's page, model versions and aliases
//! deleted from a model's page, accounts and the administrators' page. `console_browser.rs` drives the same pages in
//! Chromium.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use support::api::{Api, PASSWORD, Reply};

const NOOP: &str = "name: console-hello\ntasks:\n  hello:\n    uses: noop\n";

async fn form(api: &Api, path: &str, cookie: Option<&str>, fields: &str) -> Reply {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    api.send(request.body(Body::from(fields.to_owned())).expect("request")).await
}

async fn page(api: &Api, path: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    api.send(request.body(Body::empty()).expect("request")).await
}

fn location(reply: &Reply) -> String {
    reply.headers.get(header::LOCATION).map(|v| v.to_str().expect("ascii").to_owned()).unwrap_or_default()
}

/// Signs in through the form; the `hangar_session=…` pair.
async fn sign_in(api: &Api, email: &str) -> String {
    api.sign_up(email).await;
    let email = email.replace('@', "%40");
    let reply =
        form(api, "/login", None, &format!("email={email}&password={}&next=%2Fruns", PASSWORD.replace(' ', "+"))).await;
    assert!(reply.status.is_redirection(), "{} {}", reply.status, reply.text());
    assert_eq!(location(&reply), "/runs");
    let cookie = reply.headers.get(header::SET_COOKIE).expect("cookie").to_str().expect("ascii");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    cookie.split(';').next().expect("pair").to_owned()
}

#[tokio::test]
async fn pages_send_strangers_to_the_sign_in_form_and_wrong_passwords_back() {
    let api = Api::new().await;
    assert_eq!(location(&page(&api, "/", None).await), "/login");
    let runs = page(&api, "/runs?status=failed", None).await;
    assert!(runs.status.is_redirection());
    assert_eq!(location(&runs), "/login?next=/runs%3Fstatus%3Dfailed");

    let login = page(&api, "/login?next=/runs", None).await;
    assert_eq!(login.status, StatusCode::OK);
    let html = login.text();
    for needle in
        [r#"<label for="email">"#, r#"id="email""#, r#"<label for="password">"#, r#"name="next" value="/runs""#]
    {
        assert!(html.contains(needle), "the form lacks {needle}: {html}");
    }

    api.sign_up("mei@caac.example.cn").await;
    let wrong = form(&api, "/login", None, "email=mei%40caac.example.cn&password=nope&next=%2Fruns").await;
    assert!(wrong.status.is_redirection());
    assert!(location(&wrong).starts_with("/login?failed=1"), "{}", location(&wrong));
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    let again = page(&api, &location(&wrong), None).await.text();
    assert!(again.contains("role=\"alert\""), "the form says the sign-in failed");

    // Only local paths are followed after signing in.
    let fields =
        format!("email=mei%40caac.example.cn&password={}&next=https%3A%2F%2Fevil.example", PASSWORD.replace(' ', "+"));
    assert_eq!(location(&form(&api, "/login", None, &fields).await), "/");
}

#[tokio::test]
async fn the_runs_page_shows_only_the_readers_runs_in_their_language() {
    let api = Api::new().await;
    let alice = sign_in(&api, "alice@caac.example.cn").await;
    let bob = sign_in(&api, "bob@caac.example.cn").await;
    let token = api.login("alice@caac.example.cn").await["access_token"].as_str().expect("token").to_owned();
    assert_eq!(api.put_pipeline(&token, NOOP).await.status, StatusCode::CREATED);
    let run = api.call(Method::POST, "/api/v1/pipelines/console-hello/runs", Some(&token), None).await.json();
    let run_id = run["run_id"].as_str().expect("run").to_owned();
    api.events(&run_id, &token).await;

    let mine = page(&api, "/runs", Some(&alice)).await;
    assert_eq!(mine.status, StatusCode::OK);
    let html = mine.text();
    assert!(html.contains(&run_id), "alice sees her run");
    assert!(html.contains("status succeeded"), "with its status: {html}");
    assert!(html.contains(r#"name="csrf-token""#), "scripts get the CSRF token");

    let filtered = page(&api, "/runs?status=failed", Some(&alice)).await.text();
    assert!(!filtered.contains(&run_id), "the status filter applies");

    let theirs = page(&api, "/runs", Some(&bob)).await.text();
    assert!(!theirs.contains(&run_id), "bob does not see alice's run");
    assert!(theirs.contains("No runs yet."));

    let chinese = page(&api, "/runs", Some(&format!("{alice}; hangar_lang=zh"))).await.text();
    assert!(chinese.contains(r#"lang="zh-CN""#) && chinese.contains("流水线"), "{chinese}");
    let switched = page(&api, "/lang?to=zh&next=/runs", Some(&alice)).await;
    assert_eq!(location(&switched), "/runs");
    assert!(switched.headers[header::SET_COOKIE].to_str().expect("ascii").starts_with("hangar_lang=zh"));

    // The run's page: the DAG coloured by status, the timeline, the tasks;
    // its own content policy (own script and stylesheet only).
    let shown = page(&api, &format!("/runs/{run_id}"), Some(&alice)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text());
    let html = shown.text();
    assert!(html.contains(r#"class="node status-succeeded" data-task="hello""#), "{html}");
    assert!(html.contains(r#"<svg class="gantt""#) && html.contains("bar status-succeeded"), "{html}");
    assert!(html.contains(r#"<pre data-log="hello""#), "a log pane per task");
    assert!(
        html.contains(r##"<a href="#log-hello" aria-label="hello (noop): succeeded" data-operator="noop">"##),
        "each box is a link to its log, named for screen readers: {html}"
    );
    let policy = shown.headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
    assert!(policy.contains("script-src 'self'") && policy.contains("default-src 'none'"), "{policy}");
    let live = page(&api, &format!("/runs/{run_id}/live"), Some(&alice)).await;
    assert_eq!(live.json()["status"], "succeeded");
    assert!(live.json()["tasks"].as_str().expect("tasks").contains("data-task=\"hello\""));
    let script = page(&api, "/assets/console.js", None).await;
    assert!(script.headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/javascript"));
    assert!(script.text().contains("EventSource"));

    // Another user's run reads as missing, page and fragments alike.
    assert_eq!(page(&api, &format!("/runs/{run_id}"), Some(&bob)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(page(&api, &format!("/runs/{run_id}/live"), Some(&bob)).await.status, StatusCode::NOT_FOUND);

    let bad = page(&api, "/runs?status=sideways", Some(&alice)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "an unknown status is refused with the reason");
}

#[tokio::test]
async fn signing_out_needs_the_sessions_csrf_token() {
    let api = Api::new().await;
    let cookie = sign_in(&api, "mei@caac.example.cn").await;
    let html = page(&api, "/runs", Some(&cookie)).await.text();
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("the sign-out form carries the token") + marker.len();
    let csrf = &html[start..start + 64];

    let forged = form(&api, "/logout", Some(&cookie), &format!("csrf={}", "0".repeat(64))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "another site cannot sign people out");
    let out = form(&api, "/logout", Some(&cookie), &format!("csrf={csrf}")).await;
    assert!(out.status.is_redirection());
    assert_eq!(location(&out), "/login");
    assert!(out.headers[header::SET_COOKIE].to_str().expect("ascii").contains("Max-Age=0"));
}

/// The session's CSRF token, as pages give it to scripts.
fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf-token" content=""#;
    let start = html.find(marker).expect("the page carries the CSRF token") + marker.len();
    html[start..start + 64].to_owned()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_are_checked_in_the_editor_and_run_from_their_form() {
    let api = Api::new().await;
    let alice = sign_in(&api, "alice.p@caac.example").await;
    let bob = sign_in(&api, "bob.p@caac.example").await;
    let csrf = csrf_of(&page(&api, "/pipelines/new", Some(&alice)).await.text());

    let broken = "name: console-hello\ntasks:\n  hello:\n    uses: noop\n    with: { colour: blue }\n";
    let checked =
        form(&api, "/pipelines/save", Some(&alice), &format!("csrf={csrf}&action=save&yaml={}", encode(broken))).await;
    assert_eq!(checked.status, StatusCode::UNPROCESSABLE_ENTITY, "an invalid pipeline is not stored");
    let html = checked.text();
    let line = html.find("with: { colour: blue }").expect("the YAML is shown");
    let note = html.find(r#"class="diagnostic""#).expect("with its problem");
    assert!(note > line, "the problem sits under its line");
    let diagnostic = &html[note..html[note..].find("</div>").map_or(html.len(), |end| note + end)];
    assert!(diagnostic.contains("colour") && diagnostic.contains("tasks.hello.with"), "{diagnostic}");
    assert_eq!(page(&api, "/pipelines/console-hello", Some(&alice)).await.status, StatusCode::NOT_FOUND);

    let valid =
        form(&api, "/pipelines/save", Some(&alice), &format!("csrf={csrf}&action=check&yaml={}", encode(NOOP))).await;
    assert_eq!(valid.status, StatusCode::OK);
    assert!(valid.text().contains("The pipeline is valid."));
    let forged = form(
        &api,
        "/pipelines/save",
        Some(&alice),
        &format!("csrf={}&action=save&yaml={}", "0".repeat(64), encode(NOOP)),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "a form from another site stores nothing");
    let saved =
        form(&api, "/pipelines/save", Some(&alice), &format!("csrf={csrf}&action=save&yaml={}", encode(NOOP))).await;
    assert!(saved.status.is_redirection(), "{} {}", saved.status, saved.text());
    assert_eq!(location(&saved), "/pipelines/console-hello");

    let listed = page(&api, "/pipelines", Some(&alice)).await.text();
    assert!(listed.contains(r#"href="/pipelines/console-hello""#), "{listed}");
    let shown = page(&api, "/pipelines/console-hello", Some(&alice)).await.text();
    assert!(
        shown.contains(r#"data-task="hello""#) && shown.contains(r#"action="/pipelines/console-hello/run""#),
        "{shown}"
    );
    assert_eq!(page(&api, "/pipelines/console-hello", Some(&bob)).await.status, StatusCode::NOT_FOUND);
    let bob_csrf = csrf_of(&page(&api, "/pipelines", Some(&bob)).await.text());
    let theirs = form(&api, "/pipelines/console-hello/run", Some(&bob), &format!("csrf={bob_csrf}")).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "bob cannot run alice's pipeline");

    let started = form(&api, "/pipelines/console-hello/run", Some(&alice), &format!("csrf={csrf}")).await;
    assert!(started.status.is_redirection(), "{} {}", started.status, started.text());
    let run_page = location(&started);
    assert!(run_page.starts_with("/runs/") && run_page.len() > "/runs/".len(), "{run_page}");
    assert_eq!(page(&api, &run_page, Some(&alice)).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_added_with_typed_params_refused_with_the_reason_and_deleted_from_the_pipeline_page() {
    const LIMITED: &str = "name: console-nightly\nparams:\n  limit: { type: integer, default: 8 }\n\
        tasks:\n  hello:\n    uses: noop\n";
    let api = Api::new().await;
    let alice = sign_in(&api, "alice.s@caac.example").await;
    let bob = sign_in(&api, "bob.s@caac.example").await;
    let token = api.login("alice.s@caac.example").await["access_token"].as_str().expect("token").to_owned();
    assert_eq!(api.put_pipeline(&token, LIMITED).await.status, StatusCode::CREATED);
    let shown = page(&api, "/pipelines/console-nightly", Some(&alice)).await.text();
    assert!(shown.contains(r#"action="/pipelines/console-nightly/schedules""#), "an add form: {shown}");
    assert!(shown.contains(r#"id="schedule-param-limit" type="number""#), "with the typed params: {shown}");
    let csrf = csrf_of(&shown);

    // A bad cron is refused with the parser's reason, the form kept as sent.
    let refused = form(
        &api,
        "/pipelines/console-nightly/schedules",
        Some(&alice),
        &format!("csrf={csrf}&cron=61+2+*+*+*&timezone=Asia%2FShanghai&max_active_runs=2&p.limit=3"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text();
    assert!(
        html.contains(r#"<details class="add-schedule" open>"#) && html.contains(r#"class="error" role="alert""#),
        "{html}"
    );
    for kept in [r#"value="61 2 * * *""#, r#"value="Asia/Shanghai""#, r#"name="max_active_runs" value="2""#] {
        assert!(html.contains(kept), "the form keeps {kept}: {html}");
    }
    assert!(html.contains(r#"name="p.limit" value="3""#), "and the params: {html}");
    assert!(
        api.call(Method::GET, "/api/v1/schedules", Some(&token), None).await.json()["schedules"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );

    let forged = form(
        &api,
        "/pipelines/console-nightly/schedules",
        Some(&alice),
        &format!("csrf={}&cron=30+2+*+*+*", "0".repeat(64)),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "a form from another site schedules nothing");
    let bob_csrf = csrf_of(&page(&api, "/pipelines", Some(&bob)).await.text());
    let theirs =
        form(&api, "/pipelines/console-nightly/schedules", Some(&bob), &format!("csrf={bob_csrf}&cron=30+2+*+*+*"))
            .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "bob cannot schedule alice's pipeline");

    let added = form(
        &api,
        "/pipelines/console-nightly/schedules",
        Some(&alice),
        &format!("csrf={csrf}&cron=30+2+*+*+*&timezone=Asia%2FShanghai&max_active_runs=1&catchup=true&p.limit=3"),
    )
    .await;
    assert!(added.status.is_redirection(), "{} {}", added.status, added.text());
    assert_eq!(location(&added), "/pipelines/console-nightly#schedule");
    let listed = api.call(Method::GET, "/api/v1/schedules", Some(&token), None).await.json();
    let schedule = &listed["schedules"][0];
    assert_eq!(
        (&schedule["cron"], &schedule["timezone"], &schedule["catchup"], &schedule["params"]),
        (
            &serde_json::json!("30 2 * * *"),
            &serde_json::json!("Asia/Shanghai"),
            &serde_json::json!(true),
            &serde_json::json!({"limit": 3})
        ),
        "the integer param arrives as a number"
    );
    let id = schedule["id"].as_str().expect("id").to_owned();
    let shown = page(&api, "/pipelines/console-nightly", Some(&alice)).await.text();
    assert!(shown.contains("<code>30 2 * * *</code>"), "{shown}");
    assert!(shown.contains("Next scheduled") && shown.contains("<time data-ms="), "with its next times: {shown}");
    // The API pauses and resumes too; a body that is not a change says what to send.
    let path = format!("/api/v1/schedules/{id}");
    let wrong = api.call(Method::PATCH, &path, Some(&token), Some(serde_json::json!({"enabled": "no"}))).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().contains(r#"{\"enabled\": false}"#), "{}", wrong.text());
    let paused = api.call(Method::PATCH, &path, Some(&token), Some(serde_json::json!({"enabled": false}))).await;
    assert_eq!(
        (paused.json()["enabled"].clone(), paused.json()["next_fire_times"].clone()),
        (serde_json::json!(false), serde_json::json!([]))
    );
    let resumed = api.call(Method::PATCH, &path, Some(&token), Some(serde_json::json!({"enabled": true}))).await;
    assert_eq!(resumed.json()["next_fire_times"].as_array().map(Vec::len), Some(3), "{}", resumed.text());

    // Paused from the page: no next times, a Resume button; resumed, they are back.
    let toggle = format!("/pipelines/console-nightly/schedules/{id}/enabled");
    assert!(shown.contains(&format!(r#"action="{toggle}""#)) && shown.contains(r#"name="enabled" value="false""#));
    assert_eq!(
        form(&api, &toggle, Some(&bob), &format!("csrf={bob_csrf}&enabled=false")).await.status,
        StatusCode::NOT_FOUND
    );
    let paused = form(&api, &toggle, Some(&alice), &format!("csrf={csrf}&enabled=false")).await;
    assert!(paused.status.is_redirection(), "{} {}", paused.status, paused.text());
    let shown = page(&api, "/pipelines/console-nightly", Some(&alice)).await.text();
    assert!(shown.contains(">paused<") && shown.contains(r#"name="enabled" value="true""#), "{shown}");
    assert!(!shown.contains("Next scheduled"), "a paused schedule has no next time: {shown}");
    let listed = page(&api, "/pipelines", Some(&alice)).await.text();
    assert_eq!(listed.matches("<time").count(), 1, "the pipelines list shows when it was updated, no next time");
    form(&api, &toggle, Some(&alice), &format!("csrf={csrf}&enabled=true")).await;
    let shown = page(&api, "/pipelines/console-nightly", Some(&alice)).await.text();
    assert!(shown.contains("Next scheduled") && !shown.contains(">paused<"), "{shown}");

    let delete = format!("/pipelines/console-nightly/schedules/{id}/delete");
    assert!(shown.contains(&format!(r#"action="{delete}""#)), "{shown}");

    assert_eq!(form(&api, &delete, Some(&bob), &format!("csrf={bob_csrf}")).await.status, StatusCode::NOT_FOUND);
    let deleted = form(&api, &delete, Some(&alice), &format!("csrf={csrf}")).await;
    assert!(deleted.status.is_redirection(), "{} {}", deleted.status, deleted.text());
    let listed = api.call(Method::GET, "/api/v1/schedules", Some(&token), None).await.json();
    assert!(listed["schedules"].as_array().is_some_and(Vec::is_empty), "{listed}");
    assert!(page(&api, "/pipelines/console-nightly", Some(&alice)).await.text().contains("Not scheduled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_versions_and_aliases_are_deleted_from_the_model_page_but_not_what_an_alias_serves() {
    let api = Api::new().await;
    // Models registered outside any account's run are the administrators' to change.
    api.admin("ops.m@caac.example").await;
    let ops = sign_in(&api, "ops.m@caac.example").await;
    let store = api.state.store();
    for digest in ["a", "b"] {
        let version = hangar_sdk::NewModelVersion {
            name: "airworthy".to_owned(),
            run_id: None,
            task_id: None,
            artifact_key: format!("models/airworthy/{digest}"),
            artifact_digest: format!("blake3:{digest}"),
            metrics: std::collections::BTreeMap::from([("bleu".to_owned(), 20.0)]),
        };
        store.register_model_version(&version, 1).await.expect("register");
    }
    store.set_model_alias("airworthy", "staging", 2, 2).await.expect("alias");
    let html = page(&api, "/models/airworthy", Some(&ops)).await.text();
    let csrf = csrf_of(&html);
    assert!(html.contains(r#"action="/models/airworthy/versions/1/delete""#), "{html}");
    assert!(!html.contains(r#"action="/models/airworthy/versions/2/delete""#), "what staging serves has no button");
    assert!(html.contains(r#"data-confirm="This cannot be undone. Delete airworthy@1?""#), "the page asks first");

    let forged =
        form(&api, "/models/airworthy/versions/1/delete", Some(&ops), &format!("csrf={}", "0".repeat(64))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "a form from another site deletes nothing");
    // Sent anyway (an old page), the store's refusal comes back with what to do.
    let refused = form(&api, "/models/airworthy/versions/2/delete", Some(&ops), &format!("csrf={csrf}")).await;
    assert!(location(&refused).starts_with("/models/airworthy?failed="), "{}", location(&refused));
    let said = page(&api, &location(&refused), Some(&ops)).await.text();
    assert!(said.contains("airworthy:staging") && said.contains("role=\"alert\""), "{said}");

    let deleted = form(&api, "/models/airworthy/versions/1/delete", Some(&ops), &format!("csrf={csrf}")).await;
    assert!(location(&deleted).starts_with("/models/airworthy?done="), "{}", location(&deleted));
    let versions = store.model_versions("airworthy").await.expect("versions");
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2]);

    let removed = form(&api, "/models/airworthy/aliases/staging/delete", Some(&ops), &format!("csrf={csrf}")).await;
    assert!(location(&removed).starts_with("/models/airworthy?done="), "{}", location(&removed));
    let html = page(&api, "/models/airworthy", Some(&ops)).await.text();
    assert!(html.contains(r#"action="/models/airworthy/versions/2/delete""#), "unaliased, it can go: {html}");
    let again = form(&api, "/models/airworthy/aliases/staging/delete", Some(&ops), &format!("csrf={csrf}")).await;
    assert!(location(&again).starts_with("/models/airworthy?failed="), "a missing alias is said to be missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_register_edit_their_profile_and_only_administrators_manage_them() {
    let api = Api::new().await;
    let weak = form(&api, "/register", None, "email=new%40caac.example&password=short").await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.text().contains("12"), "the page says what the policy wants");
    let made = form(
        &api,
        "/register",
        None,
        &format!("email=new%40caac.example&password={}&name=Chen", PASSWORD.replace(' ', "+")),
    )
    .await;
    assert!(made.status.is_redirection(), "{} {}", made.status, made.text());
    let cookie = made.headers[header::SET_COOKIE].to_str().expect("ascii").split(';').next().expect("pair").to_owned();
    let profile = page(&api, "/account", Some(&cookie)).await.text();
    assert!(profile.contains("new@caac.example") && profile.contains(r#"value="Chen""#), "{profile}");
    let csrf = csrf_of(&profile);
    let saved =
        form(&api, "/account", Some(&cookie), &format!("csrf={csrf}&name=Chen+Li&organization=CAAC&position=")).await;
    assert_eq!(location(&saved), "/account?saved=1");
    assert!(page(&api, "/account", Some(&cookie)).await.text().contains(r#"value="CAAC""#));

    let refused = page(&api, "/admin/users", Some(&cookie)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "users are refused the administrators' page");
    assert!(!refused.text().contains("admin/users/usr_"), "and see no account");
    api.admin("root.c@caac.example").await;
    let root = sign_in(&api, "root.c@caac.example").await;
    let users = page(&api, "/admin/users", Some(&root)).await;
    assert_eq!(users.status, StatusCode::OK);
    let html = users.text();
    let start =
        html.find(r#"action="/admin/users/usr_"#).expect("a form per account") + r#"action="/admin/users/"#.len();
    let first = &html[start..start + html[start..].find('"').expect("end")];
    let root_csrf = csrf_of(&html);
    let changed =
        form(&api, &format!("/admin/users/{first}"), Some(&root), &format!("csrf={root_csrf}&role=admin")).await;
    assert_eq!(location(&changed), "/admin/users");
    assert!(page(&api, "/admin/users", Some(&root)).await.text().matches(r#"value="admin" selected"#).count() >= 2);
    // The promoted account's open session has the new role at once.
    let promoted = first == csrf_account(&api, &cookie).await;
    let plain = sign_in(&api, "plain.c@caac.example").await;
    let plain_csrf = csrf_of(&page(&api, "/account", Some(&plain)).await.text());
    let forged =
        form(&api, &format!("/admin/users/{first}"), Some(&plain), &format!("csrf={plain_csrf}&role=user")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "a user cannot change anyone's role");
    assert_eq!(
        page(&api, "/admin/users", Some(&cookie)).await.status == StatusCode::OK,
        promoted,
        "the administrators' page follows the session's current role"
    );
}

/// The account id behind a session cookie.
async fn csrf_account(api: &Api, cookie: &str) -> String {
    let reply = api
        .send(
            axum::http::Request::get("/api/v1/users/me")
                .header(header::COOKIE, cookie)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    reply.json()["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn empty_sections_say_so_and_missing_things_are_404_pages() {
    let api = Api::new().await;
    let cookie = sign_in(&api, "quiet@caac.example").await;
    for (path, says) in [
        ("/data", "No uploads yet."),
        ("/training", "No training tasks"),
        ("/evaluations", "No evaluate tasks"),
        ("/models", "No registered models yet"),
        ("/pipelines", "No pipelines yet."),
    ] {
        let reply = page(&api, path, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(reply.text().contains(says), "{path}: {}", reply.text());
    }
    assert_eq!(page(&api, "/models/nothing", Some(&cookie)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(page(&api, "/runs/run_x/tasks/a/view/documents", Some(&cookie)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(page(&api, "/runs/run_x/tasks/a/training", Some(&cookie)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(page(&api, "/runs/run_x/tasks/a/report", Some(&cookie)).await.status, StatusCode::NOT_FOUND);
    let compare = page(&api, "/evaluations/compare?a=x&b=y", Some(&cookie)).await;
    assert_eq!(compare.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_task_shows_each_attempt_and_why_it_failed() {
    let api = Api::new().await;
    let cookie = sign_in(&api, "retry@caac.example").await;
    let token = api.login("retry@caac.example").await["access_token"].as_str().expect("token").to_owned();
    let slow = "name: console-slow\ntasks:\n  slow:\n    uses: noop\n    with: { wait: 10s }\n    timeout: 200ms\n    retries: 1\n    retry_backoff: 50ms\n";
    assert_eq!(api.put_pipeline(&token, slow).await.status, StatusCode::CREATED);
    let created = api.call(Method::POST, "/api/v1/pipelines/console-slow/runs", Some(&token), None).await;
    let run_id = created.json()["run_id"].as_str().expect("run id").to_owned();
    let events = api.events(&run_id, &token).await;
    assert_eq!(events.last().map(|(_, d)| d["status"].clone()), Some(serde_json::json!("failed")), "{events:?}");
    let html = page(&api, &format!("/runs/{run_id}"), Some(&cookie)).await.text();
    let start = html.find(r#"<details class="attempts">"#).expect("the attempts are listed");
    let attempts = &html[start..start + html[start..].find("</details>").expect("closed")];
    assert_eq!(attempts.matches("<li>").count(), 2, "{attempts}");
    assert_eq!(attempts.matches("timed out after 200ms").count(), 2, "each attempt says why: {attempts}");
}

#[tokio::test]
async fn administrators_allow_webhook_hosts_and_accounts_make_webhooks_on_their_page() {
    let api = Api::new().await;
    api.admin("root.w@caac.example").await;
    let root = sign_in(&api, "root.w@caac.example").await;
    let alice = sign_in(&api, "alice.w@caac.example").await;
    let alice_csrf = csrf_of(&page(&api, "/account/webhooks", Some(&alice)).await.text());
    let fields = |csrf: &str| {
        format!("csrf={csrf}&name=ops&url={}&event=run.failed&event=task.failed", encode("https://hooks.example.org/h"))
    };

    // Before an administrator allows the host, the form says why it was refused.
    let refused = form(&api, "/account/webhooks", Some(&alice), &fields(&alice_csrf)).await.text();
    assert!(refused.contains("role=\"alert\"") && refused.contains("hooks.example.org"), "{refused}");
    assert!(!refused.contains("new-webhook-secret"));

    // Only administrators see the hosts form, and set it.
    assert!(!page(&api, "/admin/users", Some(&alice)).await.text().contains("webhook-hosts"));
    let users = page(&api, "/admin/users", Some(&root)).await.text();
    assert!(users.contains(r#"id="webhook-hosts""#), "{users}");
    let root_csrf = csrf_of(&users);
    let theirs =
        form(&api, "/admin/webhook-hosts", Some(&alice), &format!("csrf={alice_csrf}&hosts=evil.example")).await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
    let set = form(
        &api,
        "/admin/webhook-hosts",
        Some(&root),
        &format!("csrf={root_csrf}&hosts=hooks.example.org%2C+Other.example"),
    )
    .await;
    assert!(set.status.is_redirection(), "{}", set.text());
    assert_eq!(api.state.accounts.webhook_hosts().await.unwrap(), ["hooks.example.org", "other.example"]);

    let made = form(&api, "/account/webhooks", Some(&alice), &fields(&alice_csrf)).await.text();
    assert!(made.contains("new-webhook-secret") && made.contains("whsec_"), "the secret is shown once: {made}");
    let again = page(&api, "/account/webhooks", Some(&alice)).await.text();
    assert!(again.contains("https://hooks.example.org/h") && !again.contains("whsec_"), "{again}");
    assert!(again.contains("run.failed") && again.contains("task.failed"));
}
