//! Artifacts as local folders: used in place on the local store, copied
//! into the task's scratch space from anywhere else.

use std::path::{Path, PathBuf};

use hangar_sdk::{ArtifactStore, ModelRef, OperatorError, RegistryError, TaskContext};

/// The store key of a model input that may be an upstream artifact or a
/// registered model (`NAME`, `NAME@V`, `NAME:ALIAS`) written in the config.
pub(crate) async fn model_key(ctx: &TaskContext, port: &str, written: &str) -> Result<String, OperatorError> {
    if let Some(artifact) = ctx.optional_input(port) {
        return Ok(artifact.key.clone());
    }
    let reference = ModelRef::parse(written).map_err(|e| OperatorError::user(format!("`{port}`: {e}")))?;
    match ctx.models()?.resolve(&reference).await {
        Ok(Some(version)) => {
            ctx.info(format!("{port}: {reference} is {}@{}", version.name, version.version));
            Ok(version.artifact_key)
        }
        Ok(None) => Err(OperatorError::user(format!(
            "`{port}`: no registered model {reference}; import one with `hangar models import FILE --name NAME`"
        ))),
        Err(e @ RegistryError::Backend(_)) => Err(OperatorError::external(e.to_string())),
        Err(e) => Err(OperatorError::user(e.to_string())),
    }
}

/// Downloads a folder artifact (or uses it in place on the local store).
pub(crate) async fn fetch_folder(store: &ArtifactStore, key: &str, into: &Path) -> Result<PathBuf, OperatorError> {
    fetch_parts(store, key, &[""], into).await
}

/// Downloads the dataset's shard and chat files.
pub(crate) async fn fetch_dataset(store: &ArtifactStore, key: &str, into: &Path) -> Result<PathBuf, OperatorError> {
    fetch_parts(store, key, &["shards", "sft"], into).await
}

/// The files under `key/part` for each part (`""`: all of them) in a local
/// folder: the artifact itself on the local store, a copy under `into` elsewhere.
async fn fetch_parts(store: &ArtifactStore, key: &str, parts: &[&str], into: &Path) -> Result<PathBuf, OperatorError> {
    let key = key.trim_end_matches('/');
    if let Some(local) = store.local_path(key)
        && local.is_dir()
    {
        return Ok(local);
    }
    for part in parts {
        let prefix = if part.is_empty() { key.to_owned() } else { format!("{key}/{part}") };
        for (file, _) in store.list(&prefix).await? {
            let relative = file.strip_prefix(&format!("{key}/")).unwrap_or(&file);
            let target = into.join(relative);
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| OperatorError::external(format!("cannot write {}: {e}", parent.display())))?;
            }
            let bytes = store.read(&file).await?;
            // A base model's weights are hundreds of MiB: written off the async threads.
            tokio::fs::write(&target, bytes)
                .await
                .map_err(|e| OperatorError::external(format!("cannot write {}: {e}", target.display())))?;
        }
    }
    Ok(into.to_path_buf())
}
