//! The account store on SQLite and PostgreSQL with the same SQL: its
//! migrations apply once beside anyone else's, the audit log refuses
//! updates and is pruned only by age, keys are found only by their secret,
//! and a second factor is spent once.

use hangar_accounts::{Accounts, AuditFilter, NewAudit, NewKey, Outcome, UserRecord, totp};

const NOW: i64 = 1_780_000_000_000;

struct Database {
    accounts: Accounts,
    drop: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Database {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("accounts.db").display());
    let accounts = Accounts::connect(&url).await.expect("sqlite");
    Database { accounts, drop: None, _dir: Some(dir) }
}

async fn postgres() -> Database {
    let admin = std::env::var("HANGAR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {admin} ({e}); start it (scripts/test.sh does) or set HANGAR_TEST_POSTGRES_URL")
    });
    let name = format!("hangar_accounts_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let accounts = Accounts::connect(&format!("{base}/{name}")).await.expect("postgres");
    Database { accounts, drop: Some((admin, name)), _dir: None }
}

impl Database {
    async fn finish(self) {
        if let Some((admin, name)) = self.drop {
            drop(self.accounts);
            if let Ok(mut conn) = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
            }
        }
    }
}

fn user(id: &str) -> UserRecord {
    UserRecord {
        id: id.to_owned(),
        email: format!("{id}@caac.example"),
        password_hash: "x".to_owned(),
        role: "user".to_owned(),
        name: None,
        organization: None,
        position: None,
        disabled: false,
        created_at: NOW,
        updated_at: NOW,
        sessions_valid_after: 0,
    }
}

fn row(at: i64, action: &str) -> NewAudit {
    NewAudit {
        at,
        actor: "usr_a".to_owned(),
        actor_email: Some("usr_a@caac.example".to_owned()),
        key_id: None,
        action: action.to_owned(),
        target: Some("run_1".to_owned()),
        outcome: Outcome::Allowed,
        reason: None,
        address: Some("127.0.0.1".to_owned()),
        request_id: Some("req-1".to_owned()),
    }
}

async fn everything(db: &Database) {
    let accounts = &db.accounts;
    accounts.migrate().await.expect("migrate");
    accounts.migrate().await.expect("migrating again is a no-op");
    accounts.check_schema().await.expect("schema up to date");
    assert!(accounts.create_user(&user("usr_a")).await.expect("create"));
    assert!(!accounts.create_user(&user("usr_a")).await.expect("create"), "the e-mail is taken");

    // Keys: found by the secret only, while live.
    let key = NewKey {
        user_id: "usr_a".into(),
        name: "ci".into(),
        scopes: vec!["runs:read".into()],
        expires_at: Some(NOW + 1000),
        now: NOW,
    };
    let (record, secret) = accounts.create_key(&key).await.expect("key");
    assert_eq!(accounts.use_key(&secret, NOW).await.expect("use").map(|k| k.id), Some(record.id.clone()));
    assert!(accounts.use_key(&secret, NOW + 1000).await.expect("use").is_none(), "expired");
    assert!(accounts.use_key(&record.prefix, NOW).await.expect("use").is_none(), "the prefix is not the key");
    assert_eq!(accounts.keys_of("usr_a").await.expect("keys")[0].last_used_at, Some(NOW));
    assert!(accounts.revoke_key(&record.id, NOW).await.expect("revoke"));
    assert!(!accounts.revoke_key(&record.id, NOW).await.expect("revoke"), "once");
    assert!(accounts.use_key(&secret, NOW).await.expect("use").is_none(), "revoked");

    // A second factor: confirmed by a code, then each step and recovery code once.
    let enrolment =
        accounts.begin_enrolment("usr_a", "usr_a@caac.example", NOW).await.expect("enrol").expect("started");
    let code = totp::code_at(&enrolment.secret, (NOW / 1000) as u64).expect("code");
    let recovery = accounts.confirm_enrolment("usr_a", &code, NOW).await.expect("confirm").expect("confirmed");
    assert!(accounts.has_two_factor("usr_a").await.expect("read"));
    assert!(!accounts.verify_second_factor("usr_a", &code, NOW).await.expect("verify"), "replay");
    let next = totp::code_at(&enrolment.secret, (NOW / 1000) as u64 + 30).expect("code");
    assert!(accounts.verify_second_factor("usr_a", &next, NOW + 30_000).await.expect("verify"));
    assert!(accounts.verify_second_factor("usr_a", &recovery[3], NOW).await.expect("verify"));
    assert!(!accounts.verify_second_factor("usr_a", &recovery[3], NOW).await.expect("verify"), "spent");
    assert!(accounts.begin_enrolment("usr_a", "usr_a@caac.example", NOW).await.expect("enrol").is_none());
    assert!(accounts.remove_two_factor("usr_a").await.expect("remove"));
    accounts.set_two_factor_roles(&["admin".to_owned()], NOW).await.expect("require");
    assert_eq!(accounts.two_factor_roles().await.expect("roles"), ["admin"]);

    // The audit log: appended, filtered, never updated, pruned by age.
    for (at, action) in [(NOW - 3000, "run.start"), (NOW - 2000, "run.cancel"), (NOW - 1000, "key.create")] {
        accounts.record(&row(at, action)).await.expect("record");
    }
    let runs = accounts
        .audit(&AuditFilter { action: Some("run.".into()), limit: 10, ..AuditFilter::default() })
        .await
        .expect("read");
    assert_eq!(runs.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["run.cancel", "run.start"]);
    let recent = accounts
        .audit(&AuditFilter { since: Some(NOW - 2000), limit: 10, ..AuditFilter::default() })
        .await
        .expect("read");
    assert_eq!(recent.len(), 2);
    let by_email = accounts
        .audit(&AuditFilter { actor: Some("USR_A@caac.example".into()), limit: 10, ..AuditFilter::default() })
        .await
        .expect("read");
    assert_eq!(by_email.len(), 3);
    let update = sqlx::query("UPDATE audit_log SET outcome = 'refused'").execute(accounts_pool(accounts)).await;
    assert!(update.is_err(), "the database refuses to change audit rows");
    assert_eq!(accounts.prune_audit(NOW - 1500).await.expect("prune"), 2);
    let left = accounts.audit(&AuditFilter { limit: 10, ..AuditFilter::default() }).await.expect("read");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].outcome, "allowed");
    assert_eq!(left[0].request_id.as_deref(), Some("req-1"));
}

/// Webhooks: an event is queued once however often it is noticed, a claim
/// is taken by one server, only the claim's holder records the outcome,
/// and pruning keeps what is still pending.
async fn webhooks(db: &Database) {
    use hangar_accounts::{AttemptOutcome, NewDelivery};
    let accounts = &db.accounts;
    let (hook, secret) = accounts
        .create_webhook("usr_a", "ops", "https://hooks.example.org/h", &["run.failed".to_owned()], NOW)
        .await
        .expect("create webhook");
    assert!(secret.starts_with("whsec_"));
    assert_eq!(accounts.webhooks_of("usr_a").await.expect("list"), [hook.clone()]);
    let event = |key: &str| NewDelivery {
        webhook_id: hook.id.clone(),
        event_key: key.to_owned(),
        event: "run.failed".to_owned(),
        run_id: Some("run-1".to_owned()),
        task_id: None,
        body: "{}".to_owned(),
        now: NOW,
    };
    assert!(accounts.enqueue_delivery(&event("run:1:failed")).await.expect("queue"));
    assert!(
        !accounts.enqueue_delivery(&event("run:1:failed")).await.expect("queue again"),
        "noticed twice, queued once"
    );
    assert!(accounts.enqueue_delivery(&event("run:2:failed")).await.expect("queue"));

    let claimed = accounts.claim_deliveries(NOW, NOW + 30_000, 10).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].secret, secret);
    assert!(!format!("{:?}", claimed[0]).contains(&secret), "the secret stays out of Debug");
    assert!(accounts.claim_deliveries(NOW + 1, NOW + 30_001, 10).await.expect("claim").is_empty(), "already claimed");

    // The first claim expires and another server takes it: the first one's late outcome is not written.
    let retaken = accounts.claim_deliveries(NOW + 40_000, NOW + 70_000, 1).await.expect("retake");
    assert_eq!(retaken.len(), 1);
    let stale = claimed.iter().find(|c| c.delivery.id == retaken[0].delivery.id).expect("same delivery");
    let late = AttemptOutcome::Delivered { status: 200 };
    assert!(
        !accounts.record_attempt(stale, &late, NOW + 41_000).await.expect("record"),
        "a stale claim writes nothing"
    );
    let retry = AttemptOutcome::Retry { status: Some(500), error: "500".into(), next_at: NOW + 50_000 };
    assert!(accounts.record_attempt(&retaken[0], &retry, NOW + 41_000).await.expect("record"));
    let other = claimed.iter().find(|c| c.delivery.id != retaken[0].delivery.id).expect("the other");
    assert!(
        accounts.record_attempt(other, &AttemptOutcome::Delivered { status: 204 }, NOW + 2_000).await.expect("record")
    );

    let log = accounts.deliveries(&hook.id, 10).await.expect("log");
    let by_status = |status: &str| log.iter().filter(|d| d.status == status).count();
    assert_eq!((by_status("pending"), by_status("delivered")), (1, 1), "{log:?}");
    let pending = log.iter().find(|d| d.status == "pending").expect("pending");
    assert_eq!((pending.attempts, pending.last_status, pending.next_attempt_at), (1, Some(500), NOW + 50_000));

    // Pruning removes the finished one and keeps the pending one.
    assert_eq!(accounts.prune_deliveries(NOW + 1).await.expect("prune"), 1);
    assert_eq!(accounts.deliveries(&hook.id, 10).await.expect("log").len(), 1);
    accounts
        .set_webhook_hosts(&["hooks.example.org".to_owned(), "hooks.example.org".to_owned()], NOW)
        .await
        .expect("hosts");
    assert_eq!(accounts.webhook_hosts().await.expect("hosts"), ["hooks.example.org"]);
    assert!(accounts.delete_webhook(&hook.id).await.expect("delete"));
    assert!(accounts.webhooks_of("usr_a").await.expect("list").is_empty());
}

fn accounts_pool(accounts: &Accounts) -> &sqlx::AnyPool {
    accounts.pool()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    let db = sqlite().await;
    everything(&db).await;
    webhooks(&db).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let db = postgres().await;
    everything(&db).await;
    webhooks(&db).await;
    db.finish().await;
}
