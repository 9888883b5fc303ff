//! `hangar pools`: named slot limits shared by every worker.

use anyhow::{Result, ensure};
use hangar_engine::PoolStore;
use hangar_engine::store::GLOBAL_POOL;

use super::exit;
use crate::cli::PoolsCommand;
use crate::home::Home;

pub async fn run(command: Option<&PoolsCommand>, home: &Home, json: bool) -> Result<u8> {
    let store = home.store().await?;
    match command {
        None | Some(PoolsCommand::List) => {
            let pools = store.pools().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pools)?);
            } else if pools.is_empty() {
                eprintln!("no pools; create one with `hangar pools set NAME SLOTS` and use it with `pool: NAME`");
            } else {
                println!("{:<20}  {:>5}  {:>7}", "POOL", "SLOTS", "RUNNING");
                for pool in &pools {
                    let name = if pool.name == GLOBAL_POOL { "* (all tasks)" } else { pool.name.as_str() };
                    println!("{name:<20}  {:>5}  {:>7}", pool.slots, pool.running);
                }
            }
            Ok(exit::OK)
        }
        Some(PoolsCommand::Set { name, slots }) => {
            ensure!(!name.trim().is_empty(), "a pool needs a name");
            store.set_pool(name, *slots).await?;
            eprintln!("pool {name}: {slots} slot(s)");
            Ok(exit::OK)
        }
        Some(PoolsCommand::Delete { name }) => {
            if store.delete_pool(name).await? {
                eprintln!("pool {name} deleted");
                Ok(exit::OK)
            } else {
                eprintln!("error: no pool named {name}; list them with `hangar pools`");
                Ok(exit::INVALID)
            }
        }
    }
}
