//! Hangar's built-in operators. Each is a typed config plus an
//! implementation of the SDK's `Operator` trait; [`register`] adds them all
//! to a registry, explicitly.

pub mod clean;
pub mod dataset;
pub mod dedup;
pub mod deploy;
pub mod document;
pub mod fault;
pub mod filter;
pub mod hashing;
pub mod ingest;
pub mod io;
pub mod lang;
pub mod noop;
pub mod shell;

use hangar_sdk::{DuplicateOperator, Registry};

/// Adds every operator of this crate to `registry`.
///
/// # Errors
/// When one of them is already registered.
pub fn register(registry: &mut Registry) -> Result<(), DuplicateOperator> {
    registry.register(shell::Shell)?;
    registry.register(noop::Noop)?;
    registry.register(fault::Fault)?;
    registry.register(ingest::Ingest)?;
    registry.register(clean::Clean)?;
    registry.register(filter::Filter)?;
    registry.register(dedup::Dedup)?;
    registry.register(dedup::DedupSignatures)?;
    registry.register(dedup::DedupClusters)?;
    registry.register(dedup::DedupApply)?;
    registry.register(dataset::Dataset)?;
    registry.register(dataset::tokenizer::TrainTokenizer)?;
    registry.register(dataset::merge::DatasetMerge)?;
    registry.register(deploy::Deploy)?;
    Ok(())
}
