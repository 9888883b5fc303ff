//! The tasks of the reader's recent runs that a section lists (data
//! outputs, training tasks, evaluation reports).

use hangar_engine::store::{RunFilter, RunRecord, TaskRecord};

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::state::AppState;

/// How many of the newest runs a section looks through.
const RECENT_RUNS: i64 = 25;

/// `(run, task)` for each task of the reader's newest runs that `wanted` keeps, newest run first.
pub async fn tasks(
    state: &AppState,
    user: &CurrentUser,
    wanted: impl Fn(&TaskRecord) -> bool,
) -> ApiResult<Vec<(RunRecord, TaskRecord)>> {
    let filter = RunFilter { owner: user.owner_filter(), limit: RECENT_RUNS, ..RunFilter::default() };
    let mut found = Vec::new();
    for run in state.store().runs(&filter).await? {
        for task in state.store().tasks(&run.id).await? {
            if wanted(&task) {
                found.push((run.clone(), task));
            }
        }
    }
    Ok(found)
}
