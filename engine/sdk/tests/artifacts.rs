//! One artifact store suite, run against the local filesystem and against a
//! real S3 server on loopback (scripts/test.sh starts `s3s-fs`). The S3
//! location comes from `HANGAR_TEST_S3` (default `s3://hangar-test`) with
//! `AWS_ENDPOINT_URL` (default `http://127.0.0.1:8014`) and the usual AWS
//! credential variables; each test works under a fresh prefix. A missing
//! server fails the tests.

use hangar_sdk::{ArtifactKind, ArtifactStore, S3Settings, StoreLocation, read_manifest};
use tokio::io::AsyncReadExt;

fn local() -> (ArtifactStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    (ArtifactStore::local(dir.path()).expect("local store"), dir)
}

fn s3() -> ArtifactStore {
    let var = |name: &str, default: &str| std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or(default.into());
    let location = var("HANGAR_TEST_S3", "s3://hangar-test");
    let rest = location.strip_prefix("s3://").expect("HANGAR_TEST_S3 must be s3://BUCKET[/PREFIX]");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let unique = format!("{}/t-{}-{}", prefix.trim_matches('/'), std::process::id(), nonce());
    let settings = S3Settings {
        bucket: bucket.to_owned(),
        prefix: unique.trim_matches('/').to_owned(),
        endpoint: Some(var("AWS_ENDPOINT_URL", "http://127.0.0.1:8014")),
        region: var("AWS_REGION", "us-east-1"),
        access_key_id: Some(var("AWS_ACCESS_KEY_ID", "hangar")),
        secret_access_key: Some(var("AWS_SECRET_ACCESS_KEY", "hangar-secret")),
    };
    ArtifactStore::open(StoreLocation::S3(settings)).expect("s3 store")
}

fn nonce() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (time as u64) ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn local() {
                    let (store, _dir) = super::local();
                    super::$name(&store).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn s3() {
                    let store = super::s3();
                    store.check().await.unwrap_or_else(|e| panic!(
                        "the S3 server is not reachable ({e}); start it (scripts/test.sh does) or set AWS_ENDPOINT_URL"
                    ));
                    super::$name(&store).await;
                    store.delete_prefix("").await.ok();
                }
            }
        )*
    };
}

on_both!(
    put_and_read_round_trip,
    a_file_is_invisible_until_finished,
    an_aborted_write_leaves_nothing,
    folders_have_manifests_and_digests,
    large_artifacts_stream_in_parts,
    listing_is_recursive_and_sorted,
    uris_name_keys_inside_the_store,
    fetch_local_gives_a_real_file,
    missing_keys_are_reported,
);

async fn put_and_read_round_trip(store: &ArtifactStore) {
    let artifact = store.put("runs/r1/t/a1/out.jsonl", ArtifactKind::Documents, b"{\"id\":1}\n").await.expect("put");
    assert_eq!(artifact.size, 9);
    assert_eq!(artifact.digest, format!("blake3:{}", blake3::hash(b"{\"id\":1}\n").to_hex()));
    assert_eq!(store.read("runs/r1/t/a1/out.jsonl").await.expect("read"), b"{\"id\":1}\n");
    assert_eq!(store.size("runs/r1/t/a1/out.jsonl").await.expect("size"), 9);
    assert!(store.artifact_exists(&artifact).await.expect("exists"));
    store.delete(&artifact.key).await.expect("delete");
    assert!(!store.artifact_exists(&artifact).await.expect("exists"));
}

async fn a_file_is_invisible_until_finished(store: &ArtifactStore) {
    let mut writer = store.writer("runs/r1/t/a1/data.bin").await.expect("writer");
    writer.write(&[7u8; 1000]).await.expect("write");
    assert!(!store.exists("runs/r1/t/a1/data.bin").await.expect("exists"), "not visible while written");
    assert!(
        store.list("runs").await.expect("list").is_empty(),
        "nothing visible at all: {:?}",
        store.list("runs").await
    );
    writer.finish(ArtifactKind::File).await.expect("finish");
    assert_eq!(store.list("runs").await.expect("list"), [("runs/r1/t/a1/data.bin".to_owned(), 1000)]);
}

async fn an_aborted_write_leaves_nothing(store: &ArtifactStore) {
    let mut writer = store.writer("runs/r1/t/a1/half.bin").await.expect("writer");
    writer.write(&vec![1u8; 9 << 20]).await.expect("write a part");
    writer.abort().await;
    assert!(!store.exists("runs/r1/t/a1/half.bin").await.expect("exists"));
    assert!(store.list("runs").await.expect("list").is_empty());
}

async fn folders_have_manifests_and_digests(store: &ArtifactStore) {
    let mut folder = store.dir_writer("runs/r1/train/a1/model", ArtifactKind::Model);
    folder.put("config.json", b"{\"d_model\":64}").await.expect("put");
    folder.put("weights/model.bin", &[3u8; 4096]).await.expect("put");
    let model = folder.finish().await.expect("finish");
    assert!(model.dir);
    assert_eq!(model.size, 14 + 4096);
    assert!(model.uri.ends_with("runs/r1/train/a1/model/"), "{}", model.uri);
    let manifest = read_manifest(store, &model).await.expect("manifest");
    let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["config.json", "weights/model.bin"]);
    assert!(store.artifact_exists(&model).await.expect("exists"));
    store.delete(&format!("{}/MANIFEST.json", model.key)).await.expect("delete manifest");
    assert!(!store.artifact_exists(&model).await.expect("exists"), "no manifest: an unfinished folder");
}

async fn large_artifacts_stream_in_parts(store: &ArtifactStore) {
    // 40 MiB in 256 KiB writes: several 8 MiB parts, never one buffer.
    let piece: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut writer = store.writer("runs/r1/train/a1/checkpoint.bin").await.expect("writer");
    let mut expected = blake3::Hasher::new();
    for _ in 0..160 {
        writer.write(&piece).await.expect("write");
        expected.update(&piece);
    }
    assert!(!store.exists("runs/r1/train/a1/checkpoint.bin").await.expect("exists"));
    let artifact = writer.finish(ArtifactKind::File).await.expect("finish");
    assert_eq!(artifact.size, 40 << 20);
    assert_eq!(artifact.digest, format!("blake3:{}", expected.finalize().to_hex()));
    let mut reader = store.buf_reader(&artifact.key).await.expect("reader");
    let mut read_back = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
        read_back.update(&buf[..n]);
    }
    assert_eq!(total, 40 << 20);
    assert_eq!(format!("blake3:{}", read_back.finalize().to_hex()), artifact.digest);
}

async fn listing_is_recursive_and_sorted(store: &ArtifactStore) {
    for key in ["docs/b/2.txt", "docs/a.txt", "docs/b/1.txt", "other/x.txt"] {
        store.put(key, ArtifactKind::File, key.as_bytes()).await.expect("put");
    }
    let listed = store.list("docs").await.expect("list");
    let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["docs/a.txt", "docs/b/1.txt", "docs/b/2.txt"]);
    assert_eq!(listed[0].1, 10);
    store.delete_prefix("docs").await.expect("delete prefix");
    assert!(store.list("docs").await.expect("list").is_empty());
    assert_eq!(store.list("other").await.expect("list").len(), 1);
}

async fn uris_name_keys_inside_the_store(store: &ArtifactStore) {
    let artifact = store.put("runs/r9/x.txt", ArtifactKind::File, b"x").await.expect("put");
    assert_eq!(store.key_of_uri(&artifact.uri).as_deref(), Some("runs/r9/x.txt"));
    assert_eq!(store.uri("runs/r9/x.txt"), artifact.uri);
    assert_eq!(store.key_of_uri("s3://elsewhere/runs/r9/x.txt"), None);
}

async fn fetch_local_gives_a_real_file(store: &ArtifactStore) {
    store.put("tok/tokenizer.json", ArtifactKind::File, b"{\"model\":{}}").await.expect("put");
    let scratch = tempfile::tempdir().expect("scratch");
    let path = store.fetch_local("tok/tokenizer.json", scratch.path()).await.expect("fetch");
    assert_eq!(std::fs::read(&path).expect("read local"), b"{\"model\":{}}");
}

async fn missing_keys_are_reported(store: &ArtifactStore) {
    assert!(!store.exists("nope/never.txt").await.expect("exists"));
    let err = store.read("nope/never.txt").await.expect_err("missing");
    assert!(err.to_string().contains("nope/never.txt"), "the error names the key: {err}");
    assert!(store.list("nope").await.expect("list").is_empty());
}
