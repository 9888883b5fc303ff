//! Backups of one deployment: a consistent snapshot of the database and a
//! copy of every file of the artifact store, described by a manifest of
//! keys, digests and sizes.
//!
//! A destination (a folder or `s3://…`) holds any number of snapshots:
//!
//! ```text
//! DEST/snapshots/<id>/manifest.json
//! DEST/snapshots/<id>/database.sqlite   (or database.sql from pg_dump)
//! DEST/artifacts/<key>                  (shared by every snapshot)
//! ```
//!
//! Consistency: the database is snapshotted first, the artifacts copied
//! after. Artifacts are written under fresh keys and committed before the
//! database records them, and nothing rewrites a committed key, so every
//! artifact the snapshot references is already in the store when the copy
//! starts. Files committed after the snapshot are copied too; nothing in
//! the snapshot points at them.

pub mod artifacts;
pub mod database;
pub mod manifest;

pub use manifest::{DatabaseEntry, FileEntry, Manifest};
