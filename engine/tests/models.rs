//! The model registry on SQLite and PostgreSQL: versions number themselves
//! (also when two registrations race), aliases move and roll back, a
//! version an alias points at cannot be deleted, metrics merge, and
//! operators reach it through the SDK's narrower interface.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::Fixture;
use hangar_engine::RunStore;
use hangar_engine::store::{Deletion, ModelStore, RegistryOf, Rollback, Store};
use hangar_sdk::{ModelRef, ModelRegistry, NewModelVersion, RegistryError};

fn version(name: &str, digest: &str) -> NewModelVersion {
    NewModelVersion {
        name: name.to_owned(),
        run_id: Some("run-1".to_owned()),
        task_id: Some("deploy".to_owned()),
        artifact_key: format!("runs/run-1/train/a1/model/{digest}"),
        artifact_digest: format!("blake3:{digest}"),
        metrics: BTreeMap::from([("validation_perplexity".to_owned(), 12.5)]),
    }
}

async fn versions_number_themselves_and_aliases_move_and_roll_back(fixture: &Fixture) {
    let store = &fixture.store;
    let one = store.register_model_version(&version("airworthy", "a"), 1_000).await.expect("v1");
    let two = store.register_model_version(&version("airworthy", "b"), 2_000).await.expect("v2");
    let other = store.register_model_version(&version("other", "c"), 3_000).await.expect("other v1");
    assert_eq!((one.version, two.version, other.version), (1, 2, 1));

    assert_eq!(store.set_model_alias("airworthy", "production", 1, 4_000).await.expect("alias"), None);
    assert_eq!(store.set_model_alias("airworthy", "production", 2, 5_000).await.expect("promote"), Some(1));
    let production = ModelRef::parse("airworthy:production").expect("ref");
    assert_eq!(store.resolve_model(&production).await.expect("resolve").map(|v| v.version), Some(2));
    let latest = store.resolve_model(&ModelRef::parse("airworthy").expect("ref")).await.expect("latest");
    assert_eq!(latest.map(|v| (v.version, v.aliases)), Some((2, vec!["production".to_owned()])));

    assert_eq!(store.rollback_model_alias("airworthy", "production", 6_000).await.expect("rollback"), Rollback::To(1));
    assert_eq!(store.resolve_model(&production).await.expect("resolve").map(|v| v.version), Some(1));
    assert_eq!(
        store.rollback_model_alias("airworthy", "staging", 6_500).await.expect("no alias"),
        Rollback::NothingToRollBack
    );

    let models = store.list_models().await.expect("list");
    assert_eq!(
        models.iter().map(|m| (m.name.as_str(), m.versions, m.latest)).collect::<Vec<_>>(),
        [("airworthy", 2, 2), ("other", 1, 1)]
    );
    assert_eq!(models[0].aliases, BTreeMap::from([("production".to_owned(), 1)]));
    let versions = store.model_versions("airworthy").await.expect("versions");
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1], "newest first");
    assert_eq!(versions[1].aliases, ["production"]);
}

async fn a_version_an_alias_points_at_is_not_deleted(fixture: &Fixture) {
    let store = &fixture.store;
    store.register_model_version(&version("m", "a"), 1).await.expect("v1");
    store.register_model_version(&version("m", "b"), 2).await.expect("v2");
    store.set_model_alias("m", "staging", 2, 3).await.expect("alias");
    assert_eq!(store.delete_model_version("m", 2).await.expect("refused"), Deletion::Aliased(vec!["staging".into()]));
    assert_eq!(store.delete_model_version("m", 1).await.expect("delete"), Deletion::Deleted);
    assert_eq!(store.delete_model_version("m", 1).await.expect("again"), Deletion::Missing);
    assert!(store.delete_model_alias("m", "staging").await.expect("unalias"));
    assert_eq!(store.delete_model_version("m", 2).await.expect("delete"), Deletion::Deleted);
    assert!(store.list_models().await.expect("list").is_empty(), "a model without versions is not listed");
    // A deleted number is never given again: `m@2` keeps meaning one model.
    assert_eq!(store.register_model_version(&version("m", "c"), 4).await.expect("v").version, 3);
}

async fn racing_registrations_get_distinct_numbers(fixture: &Fixture) {
    // Connections are opened first and the registrations released together,
    // so that they meet in the database rather than one after another.
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..12 {
        stores.push(fixture.another().await);
    }
    let start = Arc::new(tokio::sync::Barrier::new(stores.len()));
    let mut handles = Vec::new();
    for (i, store) in stores.into_iter().enumerate() {
        let start = start.clone();
        handles.push(tokio::spawn(async move {
            start.wait().await;
            store.register_model_version(&version("raced", &i.to_string()), i as i64).await.expect("register").version
        }));
    }
    let mut numbers = Vec::new();
    for handle in handles {
        numbers.push(handle.await.expect("join"));
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=12).collect::<Vec<u32>>());
}

async fn operators_see_the_registry_through_the_sdk(fixture: &Fixture) {
    let registry = RegistryOf::trusted(fixture.store.clone());
    let v = registry.register(version("sdk", "a")).await.expect("register");
    let refused = registry.register(version("bad name", "a")).await.expect_err("bad name");
    assert!(matches!(refused, RegistryError::Refused(_)), "{refused}");
    registry.record_metrics("sdk", v.version, &BTreeMap::from([("bleu".to_owned(), 31.5)])).await.expect("metrics");
    let missing = registry.set_alias("sdk", "production", 9).await.expect_err("no such version");
    assert!(matches!(missing, RegistryError::NotFound(_)), "{missing}");
    assert_eq!(registry.set_alias("sdk", "production", v.version).await.expect("alias"), None);
    let found = registry.resolve(&ModelRef::parse("sdk:production").expect("ref")).await.expect("resolve");
    let found = found.expect("aliased version");
    assert_eq!(found.metrics, BTreeMap::from([("bleu".to_owned(), 31.5), ("validation_perplexity".to_owned(), 12.5)]));
}

async fn a_task_registers_and_promotes_through_its_context(fixture: &Fixture) {
    let dir = tempfile::tempdir().expect("dir");
    let h = common::Harness::with_store(fixture.store.clone(), dir);
    let yaml = "name: promote\ntasks:\n  one: { uses: promote, with: { name: m } }\n  two: { uses: promote, with: { name: m }, needs: [one] }\n";
    let (_, status) = tokio::time::timeout(std::time::Duration::from_secs(30), h.run(yaml, 2)).await.expect("in time");
    assert_eq!(status, hangar_engine::RunStatus::Succeeded);
    let production =
        fixture.store.resolve_model(&ModelRef::parse("m:production").expect("ref")).await.expect("resolve");
    assert_eq!(production.map(|v| v.version), Some(2));
}

async fn only_a_models_owner_changes_it(fixture: &Fixture) {
    let store = &fixture.store;
    let run = |id: &str, owner: &str| hangar_engine::store::NewRun {
        id: id.to_owned(),
        pipeline: "p".to_owned(),
        spec_path: "p.yaml".to_owned(),
        spec_text: "name: p".to_owned(),
        spec_hash: "blake3:00".to_owned(),
        params: serde_json::json!({}),
        seed: 1,
        owner: Some(owner.to_owned()),
        created_at: 1,
        max_active_runs: None,
    };
    store.create_run(&run("alices-run", "alice"), &[]).await.expect("run");
    store.create_run(&run("bobs-run", "bob"), &[]).await.expect("run");
    let alice = RegistryOf::confined(store.clone(), "alice");
    let bob = RegistryOf::confined(store.clone(), "bob");
    let by = |run: &str| NewModelVersion { run_id: Some(run.to_owned()), ..version("hers", "a") };
    let first = alice.register(by("alices-run")).await.expect("alice names a new model");
    assert_eq!(store.model_owner("hers").await.expect("owner"), Some(Some("alice".to_owned())));
    alice.set_alias("hers", "production", first.version).await.expect("her alias");
    for refused in [
        bob.register(by("bobs-run")).await.map(|_| ()),
        bob.set_alias("hers", "production", first.version).await.map(|_| ()),
        bob.record_metrics("hers", first.version, &BTreeMap::from([("bleu".to_owned(), 0.0)])).await,
    ] {
        assert!(
            matches!(refused, Err(RegistryError::Refused(ref why)) if why.contains("another account")),
            "{refused:?}"
        );
    }
    // Everyone reads it; the trusted change it.
    assert!(bob.resolve(&ModelRef::parse("hers:production").expect("ref")).await.expect("read").is_some());
    RegistryOf::trusted(store.clone()).set_alias("hers", "staging", first.version).await.expect("trusted");
}

on_both!(
    only_a_models_owner_changes_it,
    a_task_registers_and_promotes_through_its_context,
    versions_number_themselves_and_aliases_move_and_roll_back,
    a_version_an_alias_points_at_is_not_deleted,
    racing_registrations_get_distinct_numbers,
    operators_see_the_registry_through_the_sdk,
);
