//! Files and folders that an operator's config names (`ingest`'s `path`,
//! `dataset`'s `tokenizer_file`, …): an [`InputPath`] holds what the user
//! wrote and can be read only through [`Access::resolve`], the one place
//! that decides what a run may read.
//!
//! A run of the machine's owner (a CLI run, or one by an administrator,
//! who can run shell commands anyway) is *trusted*: it reads any local path
//! or store key, as before. A run of an ordinary account is *confined* to
//! its own uploads (`uploads/ID/…`), the outputs of its own runs
//! (`runs/RUN/…`) and the data roots an administrator declared for it
//! (`data://NAME/sub/path`), which are opened beneath the root with a
//! capability handle: no `..`, no absolute path, no symlink that leads out.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::OperatorError;
use crate::store::ArtifactStore;

/// The scheme of data roots: `data://NAME/sub/path`.
pub const DATA_SCHEME: &str = "data://";

/// A file or folder named in an operator's config, as the user wrote it.
/// There is deliberately no way to turn it into a `Path`: resolve it with
/// [`Access::resolve`] (or `TaskContext::resolve_input`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct InputPath(String);

impl InputPath {
    pub fn new(written: impl Into<String>) -> Self {
        Self(written.into())
    }

    /// What the user wrote: for messages and fingerprints, never for opening.
    pub fn as_written(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InputPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for InputPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an input path was refused or could not be opened. Messages name the
/// path as written, never what it resolved to on the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error(
        "{path:?} is not readable by this run: {reason}; an account's runs read its uploads (uploads/ID), \
         its runs' outputs (runs/RUN/...) and the data roots an administrator declared (data://NAME/...)"
    )]
    Refused { path: String, reason: String },
    #[error(
        "{path:?} names data root {root:?}, which is not declared for you; list yours with GET /api/v1/roots or ask an administrator (`hangar roots add`)"
    )]
    UnknownRoot { path: String, root: String },
    #[error("{path:?} does not exist; check the name, or list what you can read (uploads, runs, data roots)")]
    Missing { path: String },
    #[error("cannot read {path:?}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("cannot check who owns {path:?}: {reason}; try again")]
    Lookup { path: String, reason: String },
}

impl From<InputError> for OperatorError {
    fn from(err: InputError) -> Self {
        match err {
            InputError::Lookup { .. } => OperatorError::external(err.to_string()),
            other => OperatorError::user(other.to_string()),
        }
    }
}

/// Who owns what in the artifact store; the engine answers from its
/// database. `Ok(None)`: no such thing, or nobody's.
#[async_trait]
pub trait Ownership: Send + Sync {
    async fn upload_owner(&self, upload_id: &str) -> Result<Option<String>, String>;
    async fn run_owner(&self, run_id: &str) -> Result<Option<String>, String>;
}

/// A declared data root: a local folder that runs may read as `data://NAME/…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRoot {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Clone)]
enum Scope {
    Trusted,
    Confined { owner: String, ownership: Arc<dyn Ownership> },
}

/// What one run may read besides its input artifacts.
#[derive(Clone)]
pub struct Access {
    scope: Scope,
    roots: Arc<BTreeMap<String, PathBuf>>,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Scope::Trusted => f.debug_struct("Access").field("trusted", &true).finish_non_exhaustive(),
            Scope::Confined { owner, .. } => f.debug_struct("Access").field("owner", owner).finish_non_exhaustive(),
        }
    }
}

impl Default for Access {
    /// Trusted, with no data roots: operators run outside the engine.
    fn default() -> Self {
        Self::trusted(Vec::new())
    }
}

impl Access {
    /// The machine owner's access: any path, plus the data roots.
    pub fn trusted(roots: Vec<DataRoot>) -> Self {
        Self { scope: Scope::Trusted, roots: Arc::new(roots.into_iter().map(|r| (r.name, r.path)).collect()) }
    }

    /// An ordinary account's access: its own uploads and runs, and `roots`.
    pub fn confined(owner: &str, roots: Vec<DataRoot>, ownership: Arc<dyn Ownership>) -> Self {
        Self {
            scope: Scope::Confined { owner: owner.to_owned(), ownership },
            roots: Arc::new(roots.into_iter().map(|r| (r.name, r.path)).collect()),
        }
    }

    pub fn is_trusted(&self) -> bool {
        matches!(self.scope, Scope::Trusted)
    }

    /// The data roots this access may read.
    pub fn roots(&self) -> Vec<DataRoot> {
        self.roots.iter().map(|(name, path)| DataRoot { name: name.clone(), path: path.clone() }).collect()
    }

    /// The confined account, if any.
    pub fn owner(&self) -> Option<&str> {
        match &self.scope {
            Scope::Trusted => None,
            Scope::Confined { owner, .. } => Some(owner),
        }
    }

    /// Where `path` leads, if this run may read it. Store keys are checked
    /// for ownership but not for existence; local paths must exist.
    ///
    /// # Errors
    /// Refused, unknown root, missing, or an ownership look-up failure.
    pub async fn resolve(&self, path: &InputPath, store: &ArtifactStore) -> Result<Resolved, InputError> {
        let written = path.as_written();
        if let Some(rest) = written.strip_prefix(DATA_SCHEME) {
            return self.resolve_root(written, rest).map(Resolved::Local);
        }
        match &self.scope {
            Scope::Trusted => Ok(resolve_trusted(written, store)),
            Scope::Confined { owner, ownership } => {
                let key = store.key_of_uri(written).unwrap_or_else(|| written.to_owned());
                check_clean_key(written, &key)?;
                let key = key.trim_end_matches('/').to_owned();
                let mut parts = key.split('/');
                let (kind, id) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                let found = match kind {
                    "uploads" if !id.is_empty() => ownership.upload_owner(id).await,
                    "runs" if !id.is_empty() => ownership.run_owner(id).await,
                    _ => {
                        return Err(refused(written, "it is neither an upload, a run's output nor a data root"));
                    }
                }
                .map_err(|reason| InputError::Lookup { path: written.to_owned(), reason })?;
                match found {
                    Some(found) if &found == owner => Ok(Resolved::Stored(key)),
                    // Someone else's and nonexistent read the same, so that
                    // refusals do not reveal what others have.
                    _ => Err(refused(written, &format!("no {} of yours is called {id}", singular(kind)))),
                }
            }
        }
    }

    fn resolve_root(&self, written: &str, rest: &str) -> Result<LocalInput, InputError> {
        let (root, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let base = self
            .roots
            .get(root)
            .ok_or_else(|| InputError::UnknownRoot { path: written.to_owned(), root: root.to_owned() })?;
        let relative = clean_relative(written, sub)?;
        let dir = Dir::open_ambient_dir(base, ambient_authority()).map_err(|e| InputError::Unreadable {
            path: format!("{DATA_SCHEME}{root}"),
            reason: format!("the data root cannot be opened ({}); tell an administrator", e.kind()),
        })?;
        let input = LocalInput { dir: Some(Arc::new(dir)), relative, shown: written.trim_end_matches('/').to_owned() };
        input.stat().map_err(|e| input.error(&e))?;
        Ok(input)
    }
}

fn singular(kind: &str) -> &'static str {
    if kind == "runs" { "run" } else { "upload" }
}

fn refused(written: &str, reason: &str) -> InputError {
    InputError::Refused { path: written.to_owned(), reason: reason.to_owned() }
}

/// The trusted reading of a path: a local file or folder when one exists
/// there, else a key or URI of the artifact store (as before confinement).
fn resolve_trusted(written: &str, store: &ArtifactStore) -> Resolved {
    let in_store = written.starts_with("s3://") || store.key_of_uri(written).is_some();
    let local = Path::new(written.strip_prefix("file://").unwrap_or(written));
    if !in_store && local.exists() {
        return Resolved::Local(LocalInput { dir: None, relative: local.to_path_buf(), shown: written.to_owned() });
    }
    Resolved::Stored(store.key_of_uri(written).unwrap_or_else(|| written.to_owned()).trim_end_matches('/').to_owned())
}

/// A store key an ordinary account may name: plain segments only, so that
/// no spelling (`uploads//ID`, `uploads/MINE/../ID`, `%2e%2e`, `\`) can
/// reach past the owner check.
fn check_clean_key(written: &str, key: &str) -> Result<(), InputError> {
    let key = key.strip_suffix('/').unwrap_or(key);
    if key.is_empty() {
        return Err(refused(written, "it is empty"));
    }
    if key.starts_with('/') || (written.contains("://") && key == written) {
        return Err(refused(written, "absolute paths and URIs are for the machine's owner"));
    }
    for segment in key.split('/') {
        segment_ok(segment).map_err(|why| refused(written, why))?;
    }
    Ok(())
}

/// One path segment as ordinary accounts may write it.
fn segment_ok(segment: &str) -> Result<(), &'static str> {
    match segment {
        "" => Err("it has an empty segment (`//`)"),
        "." | ".." => Err("`.` and `..` are not allowed"),
        _ if segment.contains('\\') => Err("`\\` is not allowed"),
        _ if segment.contains('%') => Err("percent-encoding is not allowed; write the name itself"),
        _ if segment.chars().any(char::is_control) => Err("control characters are not allowed"),
        _ => Ok(()),
    }
}

/// The part of a `data://` path below its root, as a relative path.
fn clean_relative(written: &str, sub: &str) -> Result<PathBuf, InputError> {
    let sub = sub.trim_end_matches('/');
    let mut relative = PathBuf::new();
    if sub.is_empty() {
        return Ok(PathBuf::from("."));
    }
    for segment in sub.split('/') {
        segment_ok(segment).map_err(|why| refused(written, why))?;
        relative.push(segment);
    }
    Ok(relative)
}

/// What an input path resolved to.
#[derive(Debug)]
pub enum Resolved {
    /// A file or folder on this machine.
    Local(LocalInput),
    /// A key (file or folder prefix) in the artifact store.
    Stored(String),
}

/// What a local entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryKind {
    pub is_dir: bool,
    pub is_file: bool,
    /// Whether the entry itself is a symbolic link (followed for the rest).
    pub is_symlink: bool,
    pub len: u64,
}

/// A local file or folder a run may read: beneath a data root's capability
/// handle, or (trusted runs only) anywhere.
#[derive(Clone)]
pub struct LocalInput {
    dir: Option<Arc<Dir>>,
    relative: PathBuf,
    shown: String,
}

impl fmt::Debug for LocalInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalInput").field("shown", &self.shown).finish_non_exhaustive()
    }
}

impl LocalInput {
    /// The path itself, for trusted runs only (code that reads paths).
    pub(crate) fn trusted_path(&self) -> &Path {
        &self.relative
    }

    /// How messages name it: the path as written, extended by child names.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The last component's name.
    pub fn file_name(&self) -> String {
        self.shown.rsplit('/').next().unwrap_or(&self.shown).to_owned()
    }

    /// The entry named `name` inside this folder.
    pub fn child(&self, name: &std::ffi::OsStr) -> Self {
        Self {
            dir: self.dir.clone(),
            relative: self.relative.join(name),
            shown: format!("{}/{}", self.shown.trim_end_matches('/'), name.to_string_lossy()),
        }
    }

    /// What the entry is, following a final symlink (which must stay beneath the root).
    ///
    /// # Errors
    /// When it cannot be reached.
    pub fn stat(&self) -> std::io::Result<EntryKind> {
        match &self.dir {
            Some(dir) => {
                let link = dir.symlink_metadata(&self.relative)?;
                let meta = if link.is_symlink() { dir.metadata(&self.relative)? } else { link.clone() };
                Ok(EntryKind {
                    is_dir: meta.is_dir(),
                    is_file: meta.is_file(),
                    is_symlink: link.is_symlink(),
                    len: meta.len(),
                })
            }
            None => {
                let link = std::fs::symlink_metadata(&self.relative)?;
                let meta = if link.is_symlink() { std::fs::metadata(&self.relative)? } else { link.clone() };
                Ok(EntryKind {
                    is_dir: meta.is_dir(),
                    is_file: meta.is_file(),
                    is_symlink: link.is_symlink(),
                    len: meta.len(),
                })
            }
        }
    }

    /// The names in this folder, unsorted.
    ///
    /// # Errors
    /// When it cannot be listed.
    pub fn list(&self) -> std::io::Result<Vec<OsString>> {
        match &self.dir {
            Some(dir) => dir.read_dir(&self.relative)?.map(|entry| entry.map(|e| e.file_name())).collect(),
            None => std::fs::read_dir(&self.relative)?.map(|entry| entry.map(|e| e.file_name())).collect(),
        }
    }

    /// Opens the file for reading.
    ///
    /// # Errors
    /// When it cannot be opened.
    pub fn open(&self) -> std::io::Result<std::fs::File> {
        match &self.dir {
            Some(dir) => dir.open(&self.relative).map(cap_std::fs::File::into_std),
            None => std::fs::File::open(&self.relative),
        }
    }

    /// The whole file.
    ///
    /// # Errors
    /// When it cannot be read.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open()?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// The error to show for an I/O failure on this entry: its kind, and the
    /// path as written (never the server's path).
    pub fn error(&self, err: &std::io::Error) -> InputError {
        match err.kind() {
            std::io::ErrorKind::NotFound => InputError::Missing { path: self.shown.clone() },
            kind => InputError::Unreadable { path: self.shown.clone(), reason: describe(kind) },
        }
    }

    /// Copies the file or folder to `target` (folders entry by entry,
    /// without following symlinked folders), so that code which reads
    /// paths can read it.
    ///
    /// # Errors
    /// When something cannot be read or written.
    pub fn copy_to(&self, target: &Path) -> Result<(), InputError> {
        let write_error = |e: std::io::Error| InputError::Unreadable {
            path: self.shown.clone(),
            reason: format!("cannot copy it to the task's scratch folder ({})", e.kind()),
        };
        // An explicit stack: a deep tree must not deepen ours.
        let mut pending = vec![(self.clone(), target.to_path_buf())];
        while let Some((entry, into)) = pending.pop() {
            let kind = entry.stat().map_err(|e| entry.error(&e))?;
            if kind.is_dir {
                if kind.is_symlink && entry.relative != self.relative {
                    continue;
                }
                std::fs::create_dir_all(&into).map_err(write_error)?;
                for name in entry.list().map_err(|e| entry.error(&e))? {
                    pending.push((entry.child(&name), into.join(&name)));
                }
            } else if kind.is_file {
                let mut source = entry.open().map_err(|e| entry.error(&e))?;
                let mut sink = std::fs::File::create(&into).map_err(write_error)?;
                std::io::copy(&mut source, &mut sink).map_err(|e| entry.error(&e))?;
            }
        }
        Ok(())
    }
}

/// An I/O error kind in words that say nothing of the server's layout.
fn describe(kind: std::io::ErrorKind) -> String {
    match kind {
        std::io::ErrorKind::PermissionDenied => {
            "permission denied, or it leads outside its data root through `..` or a symlink".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
