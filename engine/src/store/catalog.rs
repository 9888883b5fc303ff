//! What the server keeps besides runs: stored pipelines, uploads,
//! schedules, and the counts behind its metrics. The engine stores these
//! without interpreting roles or permissions; the API gives them meaning.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;
use super::records::{NewRun, NewTask, RunFilter};

/// A stored pipeline, with its current version.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineRecord {
    pub name: String,
    pub owner: String,
    pub current_hash: String,
    #[serde(skip)]
    pub spec_text: String,
    pub versions: u32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One version of a stored pipeline, named by the hash of its text.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineVersion {
    pub hash: String,
    pub spec_text: String,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// The owner of pipelines run from the command line by the machine's
/// owner: no account, so administrators (who see everything) find them.
pub const SYSTEM_OWNER: &str = "system";

/// A pipeline text to store.
#[derive(Debug, Clone)]
pub struct NewPipelineVersion {
    pub name: String,
    pub owner: String,
    pub hash: String,
    pub spec_text: String,
    pub now: i64,
}

/// What storing a pipeline did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedPipeline {
    Created,
    /// A text not seen before became the current version.
    NewVersion,
    /// An earlier text became current again, or it already was.
    Existing,
    /// Another account owns a pipeline of that name.
    Taken {
        owner: String,
    },
}

/// One upload: one or more files under one artifact-store folder.
#[derive(Debug, Clone, Serialize)]
pub struct UploadRecord {
    pub id: String,
    pub owner: String,
    /// The first file's name, for display.
    pub file_name: String,
    /// The first file's sniffed type.
    pub content_type: String,
    /// Bytes of all files.
    pub size: u64,
    /// `blake3:` of the files' digests in order.
    pub digest: String,
    /// The folder in the artifact store; usable as `ingest`'s `path`.
    pub artifact_key: String,
    pub files: Vec<UploadedFile>,
    pub created_at: i64,
}

/// A file of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UploadedFile {
    /// Sanitized name; the file's key is `{artifact_key}/{name}`.
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub digest: String,
}

/// A cron schedule of a stored pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleRecord {
    pub id: String,
    pub pipeline: String,
    pub owner: String,
    /// Five fields (minute first) or six (second first).
    pub cron: String,
    /// IANA name, e.g. `Asia/Shanghai`.
    pub timezone: String,
    /// Fire every time missed while no scheduler ran, not only the latest.
    pub catchup: bool,
    pub max_active_runs: Option<u32>,
    pub params: serde_json::Value,
    /// `spec` (the pipeline's `schedule:` block) or `api`.
    pub source: String,
    /// False while paused: nothing fires.
    pub enabled: bool,
    pub created_at: i64,
    /// The logical time of the latest fire, ms.
    pub last_fire: Option<i64>,
    /// When it was last resumed, ms: times up to then are never fired.
    pub resumed_at: Option<i64>,
}

impl ScheduleRecord {
    /// Due times after this one are the next to fire.
    pub fn fired_up_to(&self) -> i64 {
        self.last_fire.unwrap_or(self.created_at).max(self.resumed_at.unwrap_or(i64::MIN))
    }
}

/// A due time to record, with the run it starts (none when the pipeline
/// could not be planned; `error` says why).
#[derive(Debug, Clone)]
pub struct Fire<'a> {
    pub schedule_id: &'a str,
    pub logical_time: i64,
    pub run: Option<(&'a NewRun, &'a [NewTask])>,
    pub error: Option<&'a str>,
    pub now: i64,
}

/// A recorded fire.
#[derive(Debug, Clone, Serialize)]
pub struct FireRecord {
    pub logical_time: i64,
    pub run_id: Option<String>,
    pub error: Option<String>,
    pub fired_at: i64,
}

/// A finished task, for duration metrics.
#[derive(Debug, Clone)]
pub struct FinishedTask {
    pub operator: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: i64,
}

/// Stored pipelines and their versions.
#[async_trait]
pub trait PipelineStore: Send + Sync {
    async fn save_pipeline(&self, version: &NewPipelineVersion) -> Result<SavedPipeline, StoreError>;
    /// All pipelines, or those of one owner, by name.
    async fn pipelines(&self, owner: Option<&str>) -> Result<Vec<PipelineRecord>, StoreError>;
    async fn pipeline(&self, name: &str) -> Result<Option<PipelineRecord>, StoreError>;
    /// Newest first.
    async fn pipeline_versions(&self, name: &str) -> Result<Vec<PipelineVersion>, StoreError>;
    /// Deletes a pipeline, its versions and schedules (runs stay); false when unknown.
    async fn delete_pipeline(&self, name: &str) -> Result<bool, StoreError>;
    /// How many runs match, for pagination.
    async fn count_runs(&self, filter: &RunFilter) -> Result<u64, StoreError>;
}

/// Uploaded files.
#[async_trait]
pub trait UploadStore: Send + Sync {
    async fn add_upload(&self, upload: &UploadRecord) -> Result<(), StoreError>;
    async fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError>;
    /// Newest first; all of them or one owner's.
    async fn uploads(&self, owner: Option<&str>, limit: i64) -> Result<Vec<UploadRecord>, StoreError>;
}

/// Cron schedules and their fires.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Creates or replaces a schedule by id, keeping its fire history and
    /// whether it is paused.
    async fn put_schedule(&self, schedule: &ScheduleRecord) -> Result<(), StoreError>;
    /// Pauses (`enabled` false) or resumes a schedule; resuming a paused
    /// one at `now` skips what it missed meanwhile. False when unknown.
    async fn set_schedule_enabled(&self, id: &str, enabled: bool, now: i64) -> Result<bool, StoreError>;
    async fn schedule(&self, id: &str) -> Result<Option<ScheduleRecord>, StoreError>;
    /// Enabled and disabled, all or one owner's, by pipeline.
    async fn schedules(&self, owner: Option<&str>) -> Result<Vec<ScheduleRecord>, StoreError>;
    /// False when unknown.
    async fn delete_schedule(&self, id: &str) -> Result<bool, StoreError>;
    /// Records a due time and creates its run, in one transaction; false
    /// (and nothing written) when that time was already fired, by this
    /// process or another.
    async fn fire(&self, fire: &Fire<'_>) -> Result<bool, StoreError>;
    /// The latest fires of a schedule, newest first.
    async fn fires(&self, schedule_id: &str, limit: i64) -> Result<Vec<FireRecord>, StoreError>;
}

/// Counts for metrics and readiness.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// A trivial query: the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Runs by status and tasks by status.
    async fn status_counts(&self) -> Result<(Vec<(String, u64)>, Vec<(String, u64)>), StoreError>;
    /// Tasks that finished after `after` (ms), oldest first, at most `limit`.
    async fn finished_tasks(&self, after: i64, limit: i64) -> Result<Vec<FinishedTask>, StoreError>;
}

/// A local folder an administrator declared readable as `data://NAME/…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataRootRecord {
    pub name: String,
    /// The folder on the server: shown to administrators only.
    pub path: String,
    /// The least role that may read it: `user` (everyone) or `admin`.
    pub role: String,
    pub created_at: i64,
}

/// Declared data roots.
#[async_trait]
pub trait DataRootStore: Send + Sync {
    /// Declares a root, or changes the folder and role of one by name.
    async fn put_data_root(&self, root: &DataRootRecord) -> Result<(), StoreError>;
    /// By name.
    async fn data_roots(&self) -> Result<Vec<DataRootRecord>, StoreError>;
    /// By name, as read at most a second ago by this store object (what it
    /// declared or removed itself it sees at once): for checks made on every
    /// attempt. A running attempt keeps the access it started with until
    /// its next lease renewal anyway, so a root removed by another process
    /// reaching new attempts a second late stays within that.
    async fn recent_data_roots(&self) -> Result<Vec<DataRootRecord>, StoreError> {
        self.data_roots().await
    }
    /// False when unknown.
    async fn delete_data_root(&self, name: &str) -> Result<bool, StoreError>;
}
