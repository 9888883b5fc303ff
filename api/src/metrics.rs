//! Prometheus metrics. Request latencies are measured in this process; run
//! and task counts, task durations and queue depth are read from the
//! database at scrape time, so every server reports the whole deployment,
//! whichever process ran the work.

use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route template (`/api/v1/runs/{id}`), never the raw path.
    pub route: String,
    pub status: u16,
}

/// Labels of a model's generations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ModelLabels {
    /// `name@version`.
    pub model: String,
}

/// Labels of a task duration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TaskLabels {
    pub operator: String,
    pub status: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn request_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn rate_histogram() -> Histogram {
    // 1 .. ~65k tokens/s
    Histogram::new(exponential_buckets(1.0, 2.0, 17))
}

fn task_histogram() -> Histogram {
    // 10 ms .. ~2.3 days
    Histogram::new(exponential_buckets(0.01, 4.0, 13))
}

/// Counts read from the database at the latest scrape.
#[derive(Debug, Default)]
struct Snapshot {
    runs: Vec<(String, u64)>,
    tasks: Vec<(String, u64)>,
    queue_depth: u64,
    workers_alive: u64,
    schedules_overdue: u64,
    /// Free and total bytes of the filesystem under a local artifact store.
    artifact_disk: Option<(u64, u64)>,
}

#[derive(Debug)]
struct DatabaseCounts(Arc<Mutex<Snapshot>>);

impl Collector for DatabaseCounts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, help, counts) in [
            ("hangar_runs", "Runs by status, in the whole deployment.", &snapshot.runs),
            ("hangar_tasks", "Task runs by status, in the whole deployment.", &snapshot.tasks),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (status, count) in counts {
                let labels = [("status", status.as_str())];
                ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
            }
        }
        let gauge = encoder.encode_descriptor(
            "hangar_queue_depth",
            "Tasks queued and waiting for a worker.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(snapshot.queue_depth).unwrap_or(i64::MAX)).encode(gauge)?;
        let mut gauges = vec![
            (
                "hangar_workers_alive",
                "Worker processes that said they are alive within a lease.",
                snapshot.workers_alive,
            ),
            (
                "hangar_schedules_overdue",
                "Enabled schedules with a time due more than five minutes ago and not fired: the scheduler is not firing.",
                snapshot.schedules_overdue,
            ),
        ];
        if let Some((free, total)) = snapshot.artifact_disk {
            gauges.push(("hangar_artifact_store_free_bytes", "Free bytes on the local artifact store's disk.", free));
            gauges.push((
                "hangar_artifact_store_size_bytes",
                "Size in bytes of the local artifact store's disk.",
                total,
            ));
        }
        for (name, help, value) in gauges {
            let gauge = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(gauge)?;
        }
        Ok(())
    }
}

/// The server's metrics registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: HistogramFamily<HttpLabels>,
    tasks: HistogramFamily<TaskLabels>,
    inference: HistogramFamily<ModelLabels>,
    first_token: HistogramFamily<ModelLabels>,
    tokens_per_second: HistogramFamily<ModelLabels>,
    generated: Family<ModelLabels, prometheus_client::metrics::counter::Counter>,
    snapshot: Arc<Mutex<Snapshot>>,
    /// `finished_at` of the latest task already observed.
    observed_until: tokio::sync::Mutex<i64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Records a finished generation of `model`.
    pub fn observe_generation(&self, model: &str, done: &hangar_sdk::InferenceDone) {
        let labels = ModelLabels { model: model.to_owned() };
        self.inference.get_or_create(&labels).observe(done.total_s);
        if let Some(first) = done.first_token_s {
            self.first_token.get_or_create(&labels).observe(first);
        }
        if done.total_s > 0.0 {
            self.tokens_per_second.get_or_create(&labels).observe(done.completion_tokens as f64 / done.total_s);
        }
        self.generated.get_or_create(&labels).inc_by(done.completion_tokens as u64);
    }

    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http: HistogramFamily<HttpLabels> = Family::new_with_constructor(request_histogram);
        let tasks: HistogramFamily<TaskLabels> = Family::new_with_constructor(task_histogram);
        registry.register("http_request_duration_seconds", "HTTP request latency by route.", http.clone());
        registry.register("hangar_task_duration_seconds", "Task run time by operator.", tasks.clone());
        let inference: HistogramFamily<ModelLabels> = Family::new_with_constructor(request_histogram);
        let first_token: HistogramFamily<ModelLabels> = Family::new_with_constructor(request_histogram);
        let tokens_per_second: HistogramFamily<ModelLabels> = Family::new_with_constructor(rate_histogram);
        let generated = Family::<ModelLabels, prometheus_client::metrics::counter::Counter>::default();
        registry.register(
            "model_inference_latency_seconds",
            "Generation time per request, by model.",
            inference.clone(),
        );
        registry.register(
            "model_inference_first_token_seconds",
            "Time to the first generated text, by model.",
            first_token.clone(),
        );
        registry.register(
            "model_inference_tokens_per_second",
            "Generated tokens per second of each request, by model.",
            tokens_per_second.clone(),
        );
        registry.register("model_inference_tokens", "Tokens generated, by model.", generated.clone());
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        registry.register_collector(Box::new(DatabaseCounts(snapshot.clone())));
        Self {
            registry,
            http,
            tasks,
            inference,
            first_token,
            tokens_per_second,
            generated,
            snapshot,
            observed_until: tokio::sync::Mutex::new(0),
        }
    }

    pub fn observe_request(&self, labels: HttpLabels, seconds: f64) {
        self.http.get_or_create(&labels).observe(seconds);
    }

    /// Reads the database's counts and the tasks finished since the last
    /// scrape, then renders the text exposition format.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn render(&self, engine: &hangar_engine::Engine) -> Result<String, crate::error::ApiError> {
        let store = engine.store().as_ref();
        let (runs, tasks) = store.status_counts().await?;
        let queue_depth = store.queue_depth().await?;
        let now = hangar_engine::clock::now_ms();
        let lease = i64::try_from(engine.settings().lease.as_millis()).unwrap_or(i64::MAX / 4);
        let workers_alive = store.workers_alive(now - lease).await?;
        let schedules_overdue = overdue(&store.schedules(None).await?, now);
        let artifact_disk = match engine.artifacts().location() {
            hangar_sdk::StoreLocation::Local { root } => disk_space(root),
            hangar_sdk::StoreLocation::S3(_) => None,
        };
        {
            let mut until = self.observed_until.lock().await;
            loop {
                let finished = store.finished_tasks(*until, 5000).await?;
                for task in &finished {
                    let seconds = (task.finished_at - task.started_at).max(0) as f64 / 1000.0;
                    let labels = TaskLabels { operator: task.operator.clone(), status: task.status.clone() };
                    self.tasks.get_or_create(&labels).observe(seconds);
                    *until = (*until).max(task.finished_at);
                }
                if finished.len() < 5000 {
                    break;
                }
            }
        }
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) =
            Snapshot { runs, tasks, queue_depth, workers_alive, schedules_overdue, artifact_disk };
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| crate::error::ApiError::internal("could not encode the metrics", &e))?;
        Ok(text)
    }
}

/// How late a due time may be before the scheduler counts as not firing.
const OVERDUE_MS: i64 = 5 * 60 * 1000;

/// Enabled schedules whose next time after their last fire is more than
/// five minutes past.
fn overdue(schedules: &[hangar_engine::store::catalog::ScheduleRecord], now: i64) -> u64 {
    schedules
        .iter()
        .filter(|s| s.enabled)
        .filter_map(|s| {
            let cron = hangar_engine::cron::CronSchedule::parse(&s.cron, &s.timezone).ok()?;
            cron.next_after(s.fired_up_to()).filter(|due| *due < now - OVERDUE_MS)
        })
        .count() as u64
}

/// Free and total bytes of the filesystem holding `root`.
fn disk_space(root: &std::path::Path) -> Option<(u64, u64)> {
    let stats = nix::sys::statvfs::statvfs(root).ok()?;
    let block = stats.fragment_size();
    Some((stats.blocks_available().saturating_mul(block), stats.blocks().saturating_mul(block)))
}
