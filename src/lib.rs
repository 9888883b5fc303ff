//! The `hangar` binary's library: the one place that wires the engine, the
//! operators and (later) the API together.

pub mod backup;
pub mod cli;
pub mod commands;
pub mod display;
pub mod home;
pub mod owners;
pub mod summary;

use anyhow::Result;
use hangar_sdk::Registry;

/// Every operator this build of Hangar offers.
///
/// # Errors
/// When two operators claim the same name (a wiring bug).
pub fn registry() -> Result<Registry> {
    let mut registry = Registry::new();
    hangar_operators::register(&mut registry)?;
    hangar_train::register(&mut registry)?;
    hangar_import::register(&mut registry)?;
    Ok(registry)
}
