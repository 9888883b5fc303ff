//! Copying artifact files between the store and a backup, with digests.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use hangar_sdk::ArtifactStore;
use tokio::io::AsyncBufReadExt;

use super::manifest::{FileEntry, artifact_copy};

/// What one pass over the artifacts did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub bytes: u64,
    /// Files copied in this pass.
    pub copied_files: u64,
    pub copied_bytes: u64,
    /// Files an earlier snapshot in the destination already holds.
    pub reused_files: u64,
}

/// Copies every file of `source` into `dest` under `artifacts/`, except
/// those an earlier snapshot (`previous`) already copied: same key, size
/// and modification time, copy present. Artifacts are not rewritten; the
/// few pointer files that are (a training run's `latest.json`) change their
/// time, so they are copied again.
pub async fn back_up(
    source: &ArtifactStore,
    dest: &ArtifactStore,
    previous: &[FileEntry],
) -> Result<(Vec<FileEntry>, CopyStats)> {
    let earlier: HashMap<&str, &FileEntry> = previous.iter().map(|f| (f.key.as_str(), f)).collect();
    let files =
        source.list_files("").await.with_context(|| format!("cannot list the artifact store {}", source.uri("")))?;
    let mut entries = Vec::with_capacity(files.len());
    let mut stats = CopyStats::default();
    for file in files {
        stats.files += 1;
        stats.bytes += file.size;
        if let Some(known) = earlier
            .get(file.key.as_str())
            .filter(|f| f.size == file.size && f.modified.is_some() && f.modified == file.modified_ms)
            && dest.exists(&artifact_copy(&file.key)).await?
        {
            stats.reused_files += 1;
            entries.push((*known).clone());
            continue;
        }
        let (digest, copied) = copy(source, &file.key, dest, &artifact_copy(&file.key), None).await?;
        stats.copied_files += 1;
        stats.copied_bytes += copied;
        entries.push(FileEntry { key: file.key, digest, size: copied, modified: file.modified_ms });
    }
    Ok((entries, stats))
}

/// Copies every file a snapshot lists from the backup into `target`,
/// refusing any whose content does not match its digest and size: a
/// mismatched file never becomes visible in the target.
pub async fn restore(backup: &ArtifactStore, target: &ArtifactStore, files: &[FileEntry]) -> Result<CopyStats> {
    let mut stats = CopyStats::default();
    for file in files {
        let copied = copy(backup, &artifact_copy(&file.key), target, &file.key, Some(file)).await?.1;
        stats.files += 1;
        stats.bytes += copied;
        stats.copied_files += 1;
        stats.copied_bytes += copied;
    }
    Ok(stats)
}

/// Checks every file a snapshot lists against its digest without writing anything.
pub async fn verify(backup: &ArtifactStore, files: &[FileEntry]) -> Result<u64> {
    let mut bytes = 0;
    for file in files {
        let key = artifact_copy(&file.key);
        let mut reader = backup.buf_reader(&key).await.with_context(|| missing(backup, &key))?;
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        loop {
            let chunk = reader.fill_buf().await.with_context(|| format!("cannot read {}", backup.uri(&key)))?;
            if chunk.is_empty() {
                break;
            }
            hasher.update(chunk);
            size += chunk.len() as u64;
            let n = chunk.len();
            reader.consume(n);
        }
        check(backup, &key, file, &format!("blake3:{}", hasher.finalize().to_hex()), size)?;
        bytes += size;
    }
    Ok(bytes)
}

/// Streams `from_key` of `from` to `to_key` of `to`; returns the digest and
/// size. With `expected`, the copy is committed only if both match.
pub async fn copy(
    from: &ArtifactStore,
    from_key: &str,
    to: &ArtifactStore,
    to_key: &str,
    expected: Option<&FileEntry>,
) -> Result<(String, u64)> {
    let mut reader = from.buf_reader(from_key).await.with_context(|| missing(from, from_key))?;
    let mut writer = to.writer(to_key).await.with_context(|| format!("cannot write {}", to.uri(to_key)))?;
    loop {
        let chunk = match reader.fill_buf().await {
            Ok(chunk) => chunk,
            Err(e) => {
                writer.abort().await;
                return Err(e).with_context(|| format!("cannot read {}", from.uri(from_key)));
            }
        };
        if chunk.is_empty() {
            break;
        }
        if let Err(e) = writer.write(chunk).await {
            writer.abort().await;
            return Err(e).with_context(|| format!("cannot write {}", to.uri(to_key)));
        }
        let n = chunk.len();
        reader.consume(n);
    }
    let (digest, size) = (writer.digest(), writer.size());
    if let Some(expected) = expected
        && let Err(e) = check(from, from_key, expected, &digest, size)
    {
        writer.abort().await;
        return Err(e);
    }
    writer.finish(hangar_sdk::ArtifactKind::File).await.with_context(|| format!("cannot write {}", to.uri(to_key)))?;
    Ok((digest, size))
}

fn check(store: &ArtifactStore, key: &str, expected: &FileEntry, digest: &str, size: u64) -> Result<()> {
    if digest != expected.digest || size != expected.size {
        bail!(
            "{} does not match the backup's manifest (it has {size} bytes with digest {digest}, the manifest says \
             {} bytes with {}): the backup is damaged; restore an earlier snapshot (`hangar restore --list`)",
            store.uri(key),
            expected.size,
            expected.digest
        );
    }
    Ok(())
}

fn missing(store: &ArtifactStore, key: &str) -> String {
    format!("cannot read {}; the backup or store is missing a file it should have", store.uri(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_sdk::ArtifactKind;

    #[tokio::test]
    async fn a_second_backup_copies_only_new_files_and_a_damaged_copy_is_refused() {
        let (src_dir, dest_dir, target_dir) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let source = ArtifactStore::local(src_dir.path()).unwrap();
        let dest = ArtifactStore::local(dest_dir.path()).unwrap();
        source.put("runs/r1/a.jsonl", ArtifactKind::Documents, b"first").await.unwrap();
        source.put("models/m/1/weights", ArtifactKind::File, &vec![7u8; 3 << 20]).await.unwrap();

        let (first, stats) = back_up(&source, &dest, &[]).await.unwrap();
        assert_eq!((stats.files, stats.copied_files, stats.reused_files), (2, 2, 0));
        assert_eq!(first[1].key, "runs/r1/a.jsonl");
        assert_eq!(first[1].digest, format!("blake3:{}", blake3::hash(b"first").to_hex()));

        source.put("runs/r2/b.jsonl", ArtifactKind::Documents, b"second").await.unwrap();
        let (second, stats) = back_up(&source, &dest, &first).await.unwrap();
        assert_eq!((stats.files, stats.copied_files, stats.reused_files), (3, 1, 2));
        assert_eq!(stats.copied_bytes, 6);

        // A pointer file rewritten in place at the same size is copied again.
        source.put("runs/r1/latest.json", ArtifactKind::File, b"{\"step\":1}").await.unwrap();
        let (with_pointer, _) = back_up(&source, &dest, &second).await.unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        source.put("runs/r1/latest.json", ArtifactKind::File, b"{\"step\":2}").await.unwrap();
        let (rewritten, stats) = back_up(&source, &dest, &with_pointer).await.unwrap();
        assert_eq!(stats.copied_files, 1, "only the rewritten pointer");
        let pointer = rewritten.iter().find(|f| f.key == "runs/r1/latest.json").unwrap();
        assert_eq!(pointer.digest, format!("blake3:{}", blake3::hash(b"{\"step\":2}").to_hex()));
        let second: Vec<FileEntry> = second.clone();

        let target = ArtifactStore::local(target_dir.path()).unwrap();
        restore(&dest, &target, &second).await.unwrap();
        assert_eq!(target.read("runs/r2/b.jsonl").await.unwrap(), b"second");
        assert_eq!(verify(&dest, &second).await.unwrap(), (3 << 20) + 11);
        assert_eq!(verify(&dest, &rewritten).await.unwrap(), (3 << 20) + 11 + 10);

        // One flipped byte in the backup: verify and restore both refuse, and
        // the damaged file does not appear in the target.
        std::fs::write(dest_dir.path().join("artifacts/runs/r1/a.jsonl"), b"fIrst").unwrap();
        let fresh_dir = tempfile::tempdir().unwrap();
        let fresh = ArtifactStore::local(fresh_dir.path()).unwrap();
        let refused = restore(&dest, &fresh, &second).await.unwrap_err().to_string();
        assert!(refused.contains("artifacts/runs/r1/a.jsonl does not match the backup's manifest"), "{refused}");
        assert!(!fresh.exists("runs/r1/a.jsonl").await.unwrap());
        assert!(verify(&dest, &second).await.is_err());
    }
}
