//! `hangar task-exec` (hidden): one task attempt in a process of its own,
//! started by a server or worker for each attempt; see the engine's
//! `isolation` module for the protocol.

use std::sync::Arc;

use anyhow::{Context, Result};
use hangar_engine::isolation::{Isolation, Limits, StoreOpener, run_child};
use hangar_engine::{SqlStore, Store};
use hangar_sdk::ArtifactStore;

use crate::home::Home;

pub async fn run(home: &Home) -> Result<u8> {
    let artifacts = ArtifactStore::open(home.artifacts.clone()).context("cannot open the artifact store")?;
    // The parent has migrated the database: the child only connects, and
    // only when its operator needs the registry or an ownership record.
    let url = home.database_url.clone();
    let opener: StoreOpener = Arc::new(move || {
        let url = url.clone();
        Box::pin(async move {
            let store = SqlStore::connect(&url).await.map_err(|e| e.to_string())?;
            Ok(Arc::new(store) as Arc<dyn Store>)
        })
    });
    let code = run_child(Arc::new(crate::registry()?), opener, artifacts).await;
    Ok(u8::try_from(code).unwrap_or(1))
}

/// How a server or worker at `home` starts its attempts' processes: this
/// same program, with limits from `HANGAR_TASK_MEMORY` and `HANGAR_TASK_CPU_TIME`.
///
/// # Errors
/// When this program cannot be found or a limit does not parse.
pub fn isolation(home: &Home) -> Result<Isolation> {
    let program = std::env::current_exe().context("cannot find this program to start task processes")?;
    let memory_bytes = crate::commands::serve::bytes_var("HANGAR_TASK_MEMORY")?;
    let cpu_seconds = crate::home::duration_var("HANGAR_TASK_CPU_TIME")?.map(|d| d.as_secs().max(1));
    Ok(Isolation {
        program: program.into_os_string(),
        args: vec!["--home".into(), home.dir.clone().into_os_string(), "task-exec".into()],
        limits: Limits { memory_bytes, cpu_seconds },
    })
}
