use std::sync::Mutex;

use proptest::prelude::*;

use super::*;

/// Uploads and runs with fixed owners.
struct Owners;

#[async_trait]
impl Ownership for Owners {
    async fn upload_owner(&self, upload_id: &str) -> Result<Option<String>, String> {
        Ok(match upload_id {
            "upl_mine" => Some("alice".to_owned()),
            "upl_theirs" => Some("bob".to_owned()),
            _ => None,
        })
    }

    async fn run_owner(&self, run_id: &str) -> Result<Option<String>, String> {
        Ok(match run_id {
            "run_mine" => Some("alice".to_owned()),
            "run_cli" => None,
            _ => Some("bob".to_owned()),
        })
    }
}

const CANARY: &[u8] = b"CANARY-outside-every-root";

/// A root with files, symlinks in and out and a loop, beside a canary.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    canary: PathBuf,
    store: ArtifactStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub/deeper")).expect("mkdir");
    std::fs::write(root.join("a.txt"), "inside a").expect("write");
    std::fs::write(root.join("sub/b.txt"), "inside b").expect("write");
    std::fs::write(root.join("sub/deeper/c.txt"), "inside c").expect("write");
    let canary = dir.path().join("secret.txt");
    std::fs::write(&canary, CANARY).expect("write");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&canary, root.join("out_abs")).expect("symlink");
        std::os::unix::fs::symlink("../secret.txt", root.join("out_rel")).expect("symlink");
        std::os::unix::fs::symlink(dir.path(), root.join("out_dir")).expect("symlink");
        std::os::unix::fs::symlink("sub/b.txt", root.join("in_file")).expect("symlink");
        std::os::unix::fs::symlink("sub", root.join("in_dir")).expect("symlink");
        std::os::unix::fs::symlink(".", root.join("sub/loop")).expect("symlink");
    }
    let store = ArtifactStore::local(dir.path().join("store")).expect("store");
    Fixture { root, canary, store, _dir: dir }
}

fn confined(f: &Fixture) -> Access {
    Access::confined("alice", vec![DataRoot { name: "corpus".into(), path: f.root.clone() }], Arc::new(Owners))
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(future)
}

/// Everything readable through `input`: file contents, walking folders
/// (without following symlinked folders, as ingest does).
fn everything_read(input: &LocalInput) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let mut pending = vec![input.clone()];
    let mut budget = 200;
    while let Some(entry) = pending.pop() {
        budget -= 1;
        if budget == 0 {
            break;
        }
        let Ok(kind) = entry.stat() else { continue };
        if kind.is_file {
            if let Ok(bytes) = entry.read() {
                seen.push(bytes);
            }
        } else if kind.is_dir && !(kind.is_symlink && entry.relative != input.relative) {
            for name in entry.list().unwrap_or_default() {
                pending.push(entry.child(&name));
            }
        }
    }
    seen
}

#[test]
fn own_uploads_and_runs_resolve_to_store_keys() {
    let f = fixture();
    let access = confined(&f);
    let resolve = |p: &str| block_on(access.resolve(&InputPath::new(p), &f.store));
    assert!(matches!(resolve("uploads/upl_mine"), Ok(Resolved::Stored(k)) if k == "uploads/upl_mine"));
    assert!(matches!(resolve("uploads/upl_mine/a.pdf"), Ok(Resolved::Stored(k)) if k == "uploads/upl_mine/a.pdf"));
    assert!(matches!(resolve("runs/run_mine/ingest/a1/documents.jsonl"), Ok(Resolved::Stored(_))));
    let uri = f.store.uri("uploads/upl_mine");
    assert!(matches!(resolve(&uri), Ok(Resolved::Stored(k)) if k == "uploads/upl_mine"), "{uri}");
}

#[test]
fn others_data_and_every_spelling_of_it_are_refused() {
    let f = fixture();
    let access = confined(&f);
    let theirs_uri = f.store.uri("uploads/upl_theirs");
    let absolute = f.store.local_path("uploads/upl_theirs").expect("local").display().to_string();
    let canary = f.canary.display().to_string();
    let file_uri = format!("file://{canary}");
    for path in [
        "uploads/upl_theirs",
        "uploads//upl_theirs",
        "uploads/upl_mine/../upl_theirs",
        "uploads/./upl_theirs",
        "uploads/upl_mine/%2e%2e/upl_theirs",
        "uploads\\upl_theirs",
        "runs/run_theirs/ingest",
        "runs/run_cli/ingest",
        "runs",
        "runs/",
        "uploads",
        "examples/corpus",
        "../../etc/passwd",
        "/etc/passwd",
        "s3://bucket/uploads/upl_mine",
        theirs_uri.as_str(),
        absolute.as_str(),
        canary.as_str(),
        file_uri.as_str(),
        "",
    ] {
        let result = block_on(access.resolve(&InputPath::new(path), &f.store));
        let err = result.expect_err(path);
        let message = err.to_string();
        assert!(!message.contains(&*f.root.display().to_string()), "{path}: {message}");
    }
}

#[test]
fn data_roots_resolve_beneath_their_folder() {
    let f = fixture();
    let access = confined(&f);
    let Ok(Resolved::Local(root)) = block_on(access.resolve(&InputPath::new("data://corpus"), &f.store)) else {
        panic!("the root resolves")
    };
    let mut read: Vec<Vec<u8>> = everything_read(&root);
    read.sort();
    assert_eq!(read, vec![b"inside a".to_vec(), b"inside b".to_vec(), b"inside b".to_vec(), b"inside c".to_vec()]);
    let Ok(Resolved::Local(file)) = block_on(access.resolve(&InputPath::new("data://corpus/sub/b.txt"), &f.store))
    else {
        panic!("a file resolves")
    };
    assert_eq!(file.read().expect("read"), b"inside b");
    assert_eq!(file.shown(), "data://corpus/sub/b.txt");
    let unknown = block_on(access.resolve(&InputPath::new("data://other/x"), &f.store)).expect_err("unknown root");
    assert!(matches!(unknown, InputError::UnknownRoot { .. }), "{unknown}");
    let missing = block_on(access.resolve(&InputPath::new("data://corpus/nope.txt"), &f.store)).expect_err("missing");
    assert!(matches!(missing, InputError::Missing { .. }), "{missing}");
}

#[cfg(unix)]
#[test]
fn symlinks_leading_out_of_a_root_are_refused_without_naming_server_paths() {
    let f = fixture();
    let access = confined(&f);
    for path in ["data://corpus/out_abs", "data://corpus/out_rel", "data://corpus/out_dir/secret.txt"] {
        let err = block_on(access.resolve(&InputPath::new(path), &f.store)).expect_err(path);
        let message = err.to_string();
        assert!(!message.contains(&*f.canary.display().to_string()) && !message.contains("/tmp"), "{message}");
    }
    let Ok(Resolved::Local(inside)) = block_on(access.resolve(&InputPath::new("data://corpus/in_file"), &f.store))
    else {
        panic!("a symlink that stays inside resolves")
    };
    assert_eq!(inside.read().expect("read"), b"inside b");
}

#[test]
fn copying_a_root_copies_only_what_is_beneath_it() {
    let f = fixture();
    let access = confined(&f);
    let Ok(Resolved::Local(root)) = block_on(access.resolve(&InputPath::new("data://corpus"), &f.store)) else {
        panic!("the root resolves")
    };
    let target = tempfile::tempdir().expect("tempdir");
    // The root holds links leading out: those entries fail the copy, but
    // nothing of the canary is written first.
    let _ = root.copy_to(&target.path().join("copy"));
    let mut pending = vec![target.path().to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                assert_ne!(std::fs::read(&path).expect("read"), CANARY, "{}", path.display());
            }
        }
    }
}

#[test]
fn trusted_access_reads_local_paths_as_before() {
    let f = fixture();
    let access = Access::trusted(Vec::new());
    let path = f.canary.display().to_string();
    let Ok(Resolved::Local(file)) = block_on(access.resolve(&InputPath::new(&path), &f.store)) else {
        panic!("trusted runs read local files")
    };
    assert_eq!(file.read().expect("read"), CANARY);
    assert!(matches!(
        block_on(access.resolve(&InputPath::new("uploads/upl_theirs"), &f.store)),
        Ok(Resolved::Stored(_))
    ));
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just("sub".to_owned()),
        Just("deeper".to_owned()),
        Just("a.txt".to_owned()),
        Just("loop".to_owned()),
        Just("in_dir".to_owned()),
        Just("out_dir".to_owned()),
        Just("out_abs".to_owned()),
        Just("out_rel".to_owned()),
        Just("secret.txt".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("%2F".to_owned()),
        Just("..\\..".to_owned()),
        // Unicode look-alikes of `.`, `/` and `..`.
        Just("\u{2024}\u{2024}".to_owned()),
        Just("\u{ff0e}\u{ff0e}".to_owned()),
        Just("\u{2215}etc".to_owned()),
        Just("..\u{0000}".to_owned()),
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("/"), Just("//"), Just("/./")]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_spelling_of_a_data_path_reads_outside_its_root(
        parts in proptest::collection::vec((segment(), separator()), 0..6),
    ) {
        static FIXTURE: Mutex<Option<Fixture>> = Mutex::new(None);
        let mut guard = FIXTURE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let f = guard.get_or_insert_with(fixture);
        let access = confined(f);
        let sub: String = parts.iter().map(|(s, sep)| format!("{s}{sep}")).collect();
        let path = format!("data://corpus/{sub}");
        if let Ok(Resolved::Local(input)) = block_on(access.resolve(&InputPath::new(&path), &f.store)) {
            for bytes in everything_read(&input) {
                prop_assert_ne!(bytes, CANARY.to_vec(), "{} read the canary", path);
            }
        }
    }

    #[test]
    fn no_spelling_of_a_store_key_reaches_another_users_upload(
        parts in proptest::collection::vec((prop_oneof![segment(), Just("upl_theirs".to_owned()), Just("upl_mine".to_owned()), Just("uploads".to_owned())], separator()), 1..6),
        prefix in prop_oneof![Just(""), Just("/"), Just("file://"), Just("uploads/")],
    ) {
        let f = fixture();
        let access = confined(&f);
        let key: String = parts.iter().map(|(s, sep)| format!("{s}{sep}")).collect();
        let path = format!("{prefix}{key}");
        if let Ok(Resolved::Stored(key)) = block_on(access.resolve(&InputPath::new(&path), &f.store)) {
            let segments: Vec<&str> = key.split('/').collect();
            prop_assert!(
                segments.len() >= 2 && segments[0] == "uploads" && segments[1] == "upl_mine",
                "{} resolved to {}", path, key
            );
            prop_assert!(!segments.iter().any(|s| s.is_empty() || *s == "." || *s == ".."), "{} -> {}", path, key);
        }
    }
}
