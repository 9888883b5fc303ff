//! `hangar roots`: the local folders that ordinary accounts may read.

use anyhow::{Context, Result, ensure};
use hangar_engine::store::{DataRootRecord, DataRootStore};

use super::exit;
use crate::cli::RootsCommand;
use crate::home::Home;

/// Root names: what may follow `data://` up to the first `/`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub async fn run(command: Option<&RootsCommand>, home: &Home, json: bool) -> Result<u8> {
    let store = home.store().await?;
    match command {
        None | Some(RootsCommand::List) => {
            let roots = store.data_roots().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&roots)?);
            } else if roots.is_empty() {
                eprintln!(
                    "no data roots; declare one with `hangar roots add NAME PATH --role user`, read as data://NAME/..."
                );
            } else {
                println!("{:<20}  {:<6}  PATH", "ROOT", "ROLE");
                for root in &roots {
                    println!("{:<20}  {:<6}  {}", root.name, root.role, root.path);
                }
            }
            Ok(exit::OK)
        }
        Some(RootsCommand::Add { name, path, role }) => {
            ensure!(valid_name(name), "{name:?} is not a root name: use letters, digits, `-`, `_` and `.`");
            let folder = std::fs::canonicalize(path)
                .with_context(|| format!("cannot open {}; give an existing folder", path.display()))?;
            ensure!(folder.is_dir(), "{} is not a folder; a data root is a folder", folder.display());
            let record = DataRootRecord {
                name: name.clone(),
                path: folder.display().to_string(),
                role: role.clone(),
                created_at: chrono::Utc::now().timestamp_millis(),
            };
            store.put_data_root(&record).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                eprintln!("data root {name} → {} (readable by {role}s as data://{name}/...)", folder.display());
            }
            Ok(exit::OK)
        }
        Some(RootsCommand::Remove { name }) => {
            if store.delete_data_root(name).await? {
                eprintln!("data root {name} removed");
                Ok(exit::OK)
            } else {
                eprintln!("error: no data root named {name}; list them with `hangar roots`");
                Ok(exit::INVALID)
            }
        }
    }
}
