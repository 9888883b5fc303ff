//! `hangar migrate`: bring the database schema up to this version of Hangar.

use anyhow::{Context, Result};
use hangar_engine::SqlStore;

use super::exit;
use crate::home::Home;

pub async fn run(home: &Home, json: bool) -> Result<u8> {
    let store = SqlStore::connect(&home.database_url).await?;
    let (before, _) = store.schema_version().await?;
    store.migrate().await.context("migration failed; the database is left at its last complete version")?;
    home.accounts(&store)
        .migrate()
        .await
        .context("migrating the account tables failed; the database is left at its last complete version")?;
    let (after, expected) = store.schema_version().await?;
    let backend = hangar_engine::Store::backend(&store).as_str();
    if json {
        println!(
            "{}",
            serde_json::json!({ "backend": backend, "from_version": before, "version": after, "expected": expected })
        );
    } else if before == after {
        eprintln!("{backend} schema already at version {after}; nothing to do");
    } else {
        eprintln!("{backend} schema migrated from version {before} to {after}");
    }
    Ok(exit::OK)
}
