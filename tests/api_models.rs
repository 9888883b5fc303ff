//! The model registry over the API: listing, versions side by side with
//! their metrics, promotion, rollback, and deletion refused while an alias
//! points at the version.

mod support;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use hangar_sdk::NewModelVersion;
use serde_json::json;
use support::api::Api;

fn version(bleu: f64) -> NewModelVersion {
    NewModelVersion {
        name: "airworthy".to_owned(),
        run_id: None,
        task_id: None,
        artifact_key: format!("models/airworthy/{bleu}"),
        artifact_digest: format!("blake3:{bleu}"),
        metrics: BTreeMap::from([("bleu".to_owned(), bleu), ("rougeL".to_owned(), bleu / 100.0)]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_compare_promote_roll_back_and_refuse_deleting_what_is_served() {
    let api = Api::new().await;
    // Models registered outside any account's run are the administrators' to change.
    let token = api.admin("ops@caac.example").await;
    let engineer = api.login_after_signup("engineer@caac.example").await;
    let store = api.state.store();
    for bleu in [10.0, 20.0, 30.0] {
        store.register_model_version(&version(bleu), 1).await.expect("register");
    }
    let refused = api
        .call(Method::PUT, "/api/v1/models/airworthy/aliases/production", Some(&engineer), Some(json!({"version": 1})))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert_eq!(api.get("/api/v1/models/airworthy/versions", &engineer).await.status, StatusCode::OK, "but may read it");

    let models = api.get("/api/v1/models", &token).await;
    assert_eq!(models.status, StatusCode::OK);
    assert_eq!(models.json()["models"][0]["name"], "airworthy");
    assert_eq!(models.json()["models"][0]["latest"], 3);

    let table = api.get("/api/v1/models/airworthy/versions", &token).await.json();
    assert_eq!(table["metrics"], json!(["bleu", "rougeL"]));
    let bleu: Vec<f64> = table["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["metrics"]["bleu"].as_f64().expect("bleu"))
        .collect();
    assert_eq!(bleu, [30.0, 20.0, 10.0], "newest first, metrics side by side");

    let alias = |version: u32| {
        api.call(
            Method::PUT,
            "/api/v1/models/airworthy/aliases/production",
            Some(&token),
            Some(json!({"version": version})),
        )
    };
    assert_eq!(alias(2).await.json()["previous"], json!(null));
    let promoted = alias(3).await.json();
    assert_eq!((promoted["version"].clone(), promoted["previous"].clone()), (json!(3), json!(2)));
    let missing = alias(9).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());

    let refused = api.call(Method::DELETE, "/api/v1/models/airworthy/versions/3", Some(&token), None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.text().contains("airworthy:production"), "{}", refused.text());

    let rolled =
        api.call(Method::POST, "/api/v1/models/airworthy/aliases/production/rollback", Some(&token), None).await;
    assert_eq!(rolled.status, StatusCode::OK, "{}", rolled.text());
    assert_eq!(rolled.json()["version"], 2);
    let detail = api.get("/api/v1/models/airworthy", &token).await.json();
    assert_eq!(detail["aliases"], json!({"production": 2}));

    let deleted = api.call(Method::DELETE, "/api/v1/models/airworthy/versions/3", Some(&token), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let unknown = api.get("/api/v1/models/nothing-here", &token).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.text().contains("GET /api/v1/models"), "{}", unknown.text());
}
