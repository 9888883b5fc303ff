//! The task queue: coordinator steps, claims with leases, labels and pool
//! slots, completion fenced by the attempt number, lease expiry, caching.

use std::collections::BTreeMap;

use async_trait::async_trait;
use hangar_sdk::TaskOutputs;
use sqlx::Any;
use sqlx::any::AnyRow;

use super::SqlStore;
use super::rows::*;
use crate::status::TaskStatus;
use crate::store::records::*;
use crate::store::{Backend, Change, GLOBAL_POOL, NextClaim, Recorded, StoreError, TaskQueue};

/// Queued candidates looked at per claim: enough to skip past tasks whose
/// pool is full without another round trip.
const CANDIDATES: i64 = 8;

/// Tasks queued by one statement (five parameters each).
const QUEUE_BATCH: usize = 200;

type Transaction<'a> = sqlx::Transaction<'a, Any>;

/// What a claim returns of each task it claimed, beside its run and id.
const CLAIM_RETURNED: &str = "operator, attempt, max_attempts, retry_backoff_ms, timeout_ms, seed, config, inputs, \
     cache, resources, (SELECT owner FROM runs WHERE runs.id = task_runs.run_id) AS owner";

/// A claimed task from a claim's row.
fn claimed_task(
    row: &AnyRow,
    run_id: String,
    task_id: String,
    attempt: u32,
    worker: &str,
) -> Result<ClaimedTask, StoreError> {
    let key = format!("{run_id}/{task_id}");
    Ok(ClaimedTask {
        operator: get(row, "operator")?,
        max_attempts: as_u32(get(row, "max_attempts")?),
        retry_backoff_ms: get(row, "retry_backoff_ms")?,
        timeout_ms: get(row, "timeout_ms")?,
        config: parse_json(get(row, "config")?, "task config", &key)?.unwrap_or_default(),
        inputs: parse_json(get(row, "inputs")?, "task inputs", &key)?.unwrap_or_else(BTreeMap::new),
        seed: get::<i64>(row, "seed")? as u64,
        cache: get::<i64>(row, "cache")? != 0,
        resources: parse_json(get(row, "resources")?, "task resources", &key)?.unwrap_or_default(),
        owner: get(row, "owner")?,
        lease: TaskLease { run_id, task_id, attempt, worker: worker.to_owned() },
    })
}

impl SqlStore {
    /// The free slots of `pool`, or `None` when it has no limit; locks the
    /// pool's row for the rest of the transaction so concurrent claimers
    /// count one after the other.
    async fn pool_room(
        &self,
        tx: &mut Transaction<'_>,
        pool: &str,
        default_slots: i64,
    ) -> Result<Option<i64>, StoreError> {
        if pool != GLOBAL_POOL {
            sqlx::query("INSERT INTO pools (name, slots) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(pool)
                .bind(default_slots)
                .execute(&mut **tx)
                .await
                .map_err(StoreError::query("create pool"))?;
        }
        let row = sqlx::query(&format!("SELECT slots FROM pools WHERE name = $1{}", self.backend.for_update()))
            .bind(pool)
            .fetch_optional(&mut **tx)
            .await
            .map_err(StoreError::query("read pool"))?;
        let Some(row) = row else { return Ok(None) };
        let slots: i64 = get(&row, "slots")?;
        // A mapped task's own row is `running` while its instances run: only
        // the instances take slots.
        let running = if pool == GLOBAL_POOL {
            sqlx::query("SELECT COUNT(*) AS n FROM task_runs WHERE status = 'running' AND map_size IS NULL")
        } else {
            sqlx::query(
                "SELECT COUNT(*) AS n FROM task_runs WHERE status = 'running' AND map_size IS NULL AND pool = $1",
            )
            .bind(pool)
        }
        .fetch_one(&mut **tx)
        .await
        .map_err(StoreError::query("count pool"))?;
        Ok(Some(slots - get::<i64>(&running, "n")?))
    }

    /// Starts a new attempt of one queued task and returns what the worker
    /// needs. On PostgreSQL the attempt's row is written by the same
    /// statement (one round trip); SQLite, in process, takes a second.
    fn claim_statement(&self) -> String {
        const RETURNED: &str = CLAIM_RETURNED;
        let update = format!(
            "UPDATE task_runs SET status = 'running', attempt = attempt + 1, started_at = $1, lease_owner = $2, \
               lease_expires_at = $3, progress = NULL \
             WHERE run_id = $4 AND task_id = $5 AND status = 'queued' RETURNING run_id, task_id, {RETURNED}"
        );
        match self.backend {
            Backend::Sqlite => update,
            Backend::Postgres => format!(
                "WITH claimed AS ({update}), \
                   recorded AS (INSERT INTO task_attempts (run_id, task_id, attempt, status, worker, started_at) \
                     SELECT run_id, task_id, attempt, 'running', $2, $1 FROM claimed) \
                 SELECT * FROM claimed"
            ),
        }
    }

    /// The common table expressions of PostgreSQL's one-statement claim
    /// (`picked`, `free`, `claimed`, `started`), its six parameters numbered
    /// from `$first` in [`bind_claim`]'s order.
    fn claim_ctes(&self, first: usize) -> String {
        let p = |i: usize| format!("${}", first + i);
        format!(
            "picked AS (\
               SELECT t.run_id, t.task_id, t.pool FROM task_runs t \
               WHERE t.status = 'queued' AND t.available_at <= {now} AND {labels} \
                 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = t.run_id AND r.cancel_requested = 1) \
               ORDER BY t.available_at, t.position LIMIT {max} FOR UPDATE OF t SKIP LOCKED), \
             free AS (SELECT NOT EXISTS (SELECT 1 FROM pools WHERE name = {global}) \
               AND NOT EXISTS (SELECT 1 FROM picked WHERE pool IS NOT NULL) AS ok), \
             claimed AS (UPDATE task_runs SET status = 'running', attempt = attempt + 1, started_at = {now}, \
                 lease_owner = {worker}, lease_expires_at = {until}, progress = NULL \
               FROM picked, free WHERE free.ok AND task_runs.run_id = picked.run_id \
                 AND task_runs.task_id = picked.task_id AND task_runs.status = 'queued' \
               RETURNING task_runs.run_id, task_runs.task_id, {CLAIM_RETURNED}), \
             started AS (INSERT INTO task_attempts (run_id, task_id, attempt, status, worker, started_at) \
               SELECT run_id, task_id, attempt, 'running', {worker}, {now} FROM claimed)",
            now = p(0),
            labels = self.backend.labels_match("t.runs_on", &p(1)),
            max = p(2),
            global = p(3),
            worker = p(4),
            until = p(5),
        )
    }

    /// PostgreSQL's usual claim in one statement (no transaction around it):
    /// the first `max` claimable tasks, when none of them is in a pool and
    /// there is no global pool. `None` when pools must be counted: the
    /// caller claims in a transaction instead.
    async fn claim_in_one_statement(
        &self,
        claims: &sqlx::AnyPool,
        worker: &str,
        labels: &[String],
        now: i64,
        lease_until: i64,
        max: usize,
    ) -> Result<Option<Vec<ClaimedTask>>, StoreError> {
        let sql = format!(
            "WITH {} SELECT claimed.*, (SELECT COUNT(*) FROM picked) AS picked, (SELECT ok FROM free) AS fits \
             FROM (SELECT 1) AS one LEFT JOIN claimed ON TRUE",
            self.claim_ctes(1)
        );
        let labels = json_text(&labels);
        let rows = bind_claim(sqlx::query(&sql), now, &labels, max, worker, lease_until)
            .fetch_all(claims)
            .await
            .map_err(StoreError::query("claim tasks"))?;
        claimed_in(&rows, worker)
    }

    /// Ends running attempts found in `rows` as lost. A lost attempt is the
    /// platform's failure, not the task's: it is queued again without
    /// counting against `retries` while `max_lost_attempts` allows, then
    /// against `retries`, and fails only when both are spent.
    async fn expire(&self, tx: &mut Transaction<'_>, rows: &[AnyRow], why: &str, now: i64) -> Result<u64, StoreError> {
        let mut expired = 0;
        for row in rows {
            let run_id: String = get(row, "run_id")?;
            let task_id: String = get(row, "task_id")?;
            let attempt: i64 = get(row, "attempt")?;
            let max_attempts: i64 = get(row, "max_attempts")?;
            let lost: i64 = get(row, "lost_attempts")?;
            let max_lost: i64 = get(row, "max_lost_attempts")?;
            let owner: Option<String> = get(row, "lease_owner")?;
            let free = lost < max_lost;
            let retry = free || attempt < max_attempts;
            let error = format!(
                "{why}: worker {} during attempt {attempt}; {}",
                owner.as_deref().unwrap_or("?"),
                if free {
                    format!("run again (lost attempt {} of {max_lost}, not counted against retries)", lost + 1)
                } else if retry {
                    format!("run again as a retry ({max_lost} lost attempts already re-run)")
                } else {
                    "no attempts left; raise `max_lost_attempts` or `retries`, or check the workers".to_owned()
                }
            );
            sqlx::query(
                "UPDATE task_runs SET status = $1, error = $2, available_at = $3, finished_at = $4, acked = $5, \
                   lease_owner = NULL, lease_expires_at = NULL, lost_attempts = lost_attempts + 1, \
                   max_attempts = max_attempts + $9 \
                 WHERE run_id = $6 AND task_id = $7 AND attempt = $8 AND status = 'running'",
            )
            .bind(if retry { "queued" } else { "failed" })
            .bind(error.as_str())
            .bind(now)
            .bind(if retry { None } else { Some(now) })
            .bind(if retry { 1_i64 } else { 0 })
            .bind(run_id.as_str())
            .bind(task_id.as_str())
            .bind(attempt)
            .bind(i64::from(free))
            .execute(&mut **tx)
            .await
            .map_err(StoreError::query("requeue lost task"))?;
            sqlx::query(
                "UPDATE task_attempts SET status = 'lost', finished_at = $1, error = $2 \
                 WHERE run_id = $3 AND task_id = $4 AND attempt = $5",
            )
            .bind(now)
            .bind(error.as_str())
            .bind(run_id.as_str())
            .bind(task_id.as_str())
            .bind(attempt)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::query("record lost attempt"))?;
            expired += 1;
        }
        Ok(expired)
    }
}

#[async_trait]
impl TaskQueue for SqlStore {
    async fn unacked(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM task_runs WHERE run_id = $1 AND acked = 0 ORDER BY position"
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("read finished tasks"))?;
        rows.iter().map(task_from_row).collect()
    }

    async fn advance(&self, run_id: &str, step: &Advance, now: i64) -> Result<(), StoreError> {
        if step.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let queued = advance_in(&mut tx, run_id, step, now).await?;
        if queued {
            self.announce(&mut tx, &Change::Queued).await?;
        }
        tx.commit().await.map_err(StoreError::query("commit step"))
    }

    async fn take_ended_among(&self, run_ids: &[String]) -> Result<Vec<TaskRecord>, StoreError> {
        let mut tasks = Vec::new();
        for chunk in run_ids.chunks(INSERT_BATCH) {
            // Reading and acknowledging in one statement spares a look the
            // transaction that acknowledged what it read.
            let sql = format!(
                "UPDATE task_runs SET acked = 1 WHERE acked = 0 AND run_id IN ({}) RETURNING {TASK_COLUMNS}",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            let rows = query.fetch_all(&self.pool).await.map_err(StoreError::query("take finished tasks"))?;
            for row in &rows {
                tasks.push(task_from_row(row)?);
            }
        }
        tasks.sort_by(|a, b| (a.run_id.as_str(), a.position).cmp(&(b.run_id.as_str(), b.position)));
        Ok(tasks)
    }

    async fn advance_all(&self, steps: &[(String, Advance)], now: i64) -> Result<(), StoreError> {
        let mut busy = steps.iter().filter(|(_, step)| !step.is_empty());
        let Some((run_id, step)) = busy.next() else { return Ok(()) };
        // The usual step (one run's tasks readied) is one statement with its
        // announcement on PostgreSQL: no transaction around it.
        if self.backend == Backend::Postgres
            && busy.next().is_none()
            && step.acked.is_empty()
            && step.settle.is_empty()
            && step.queue.len() <= QUEUE_BATCH
        {
            let (channel, payload) = super::notification(&Change::Queued);
            let (update, last) = queue_statement(step.queue.len());
            let sql = format!("WITH queued AS ({update}) SELECT pg_notify(${}, ${})", last + 1, last + 2);
            bind_queue(sqlx::query(&sql), run_id, &step.queue, now)
                .bind(channel)
                .bind(payload)
                .execute(&self.pool)
                .await
                .map_err(StoreError::query("queue tasks"))?;
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut queued = false;
        for (run_id, step) in steps.iter().filter(|(_, step)| !step.is_empty()) {
            queued |= advance_in(&mut tx, run_id, step, now).await?;
        }
        if queued {
            self.announce(&mut tx, &Change::Queued).await?;
        }
        tx.commit().await.map_err(StoreError::query("commit steps"))
    }

    async fn expand(&self, run_id: &str, task_id: &str, instances: &[NewTask], now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        super::runs::insert_tasks(&mut tx, run_id, instances, true).await?;
        sqlx::query(
            "UPDATE task_runs SET status = 'running', map_size = $1, started_at = COALESCE(started_at, $2), error = NULL \
             WHERE run_id = $3 AND task_id = $4 AND status IN ('pending', 'running')",
        )
        .bind(instances.len() as i64)
        .bind(now)
        .bind(run_id)
        .bind(task_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("start mapped task"))?;
        tx.commit().await.map_err(StoreError::query("commit mapped task"))
    }

    async fn claim_tasks(
        &self,
        worker: &str,
        labels: &[String],
        now: i64,
        lease_until: i64,
        max: usize,
    ) -> Result<Vec<ClaimedTask>, StoreError> {
        let max = max.max(1);
        if let Some(claims) = &self.claims
            && let Some(claimed) = self.claim_in_one_statement(claims, worker, labels, now, lease_until, max).await?
        {
            return Ok(claimed);
        }
        let mut tx = match &self.claims {
            Some(claims) => claims.begin().await.map_err(StoreError::query("begin claim"))?,
            None => self.begin_write().await?,
        };
        // The global pool's slots come with the candidates: when there is no
        // global pool (the usual case) the claim needs no round trip for it.
        let candidates = sqlx::query(&format!(
            "SELECT t.run_id, t.task_id, t.pool, (SELECT slots FROM pools WHERE name = $4) AS global_slots \
             FROM task_runs t \
             WHERE t.status = 'queued' AND t.available_at <= $1 AND {} \
               AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = t.run_id AND r.cancel_requested = 1) \
             ORDER BY t.available_at, t.position LIMIT $3{}",
            self.backend.labels_match("t.runs_on", "$2"),
            self.backend.skip_locked()
        ))
        .bind(now)
        .bind(json_text(&labels))
        .bind(CANDIDATES.max(2 * max as i64))
        .bind(GLOBAL_POOL)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query("find claimable tasks"))?;
        let mut claimed = Vec::new();
        if candidates.is_empty() {
            tx.commit().await.map_err(StoreError::query("commit claim"))?;
            return Ok(claimed);
        }
        // Free slots, counted once per pool and then kept here as claims
        // take them: the pool rows stay locked until the commit.
        let global_slots: Option<i64> = get(&candidates[0], "global_slots")?;
        let mut global_room =
            if global_slots.is_some() { self.pool_room(&mut tx, GLOBAL_POOL, 0).await? } else { None };
        let mut pool_rooms: BTreeMap<String, Option<i64>> = BTreeMap::new();
        let claim = self.claim_statement();
        for candidate in &candidates {
            if claimed.len() >= max || global_room.is_some_and(|room| room <= 0) {
                break;
            }
            let pool: Option<String> = get(candidate, "pool")?;
            if let Some(pool) = &pool {
                let room = match pool_rooms.get(pool) {
                    Some(room) => *room,
                    None => {
                        let room = self.pool_room(&mut tx, pool, 1).await?;
                        pool_rooms.insert(pool.clone(), room);
                        room
                    }
                };
                if room.is_some_and(|room| room <= 0) {
                    continue;
                }
            }
            let run_id: String = get(candidate, "run_id")?;
            let task_id: String = get(candidate, "task_id")?;
            let row = sqlx::query(&claim)
                .bind(now)
                .bind(worker)
                .bind(lease_until)
                .bind(run_id.as_str())
                .bind(task_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::query("claim task"))?;
            let Some(row) = row else { continue };
            if let Some(room) = global_room.as_mut() {
                *room -= 1;
            }
            if let Some(Some(room)) = pool.as_ref().and_then(|pool| pool_rooms.get_mut(pool)) {
                *room -= 1;
            }
            let attempt = as_u32(get(&row, "attempt")?);
            if self.backend == Backend::Sqlite {
                sqlx::query(
                    "INSERT INTO task_attempts (run_id, task_id, attempt, status, worker, started_at) \
                     VALUES ($1, $2, $3, 'running', $4, $5)",
                )
                .bind(run_id.as_str())
                .bind(task_id.as_str())
                .bind(i64::from(attempt))
                .bind(worker)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("record attempt"))?;
            }
            claimed.push(claimed_task(&row, run_id, task_id, attempt, worker)?);
        }
        tx.commit().await.map_err(StoreError::query("commit claim"))?;
        Ok(claimed)
    }

    async fn renew_lease(&self, lease: &TaskLease, until: i64) -> Result<LeaseState, StoreError> {
        let result = sqlx::query(
            "UPDATE task_runs SET lease_expires_at = $1 \
             WHERE run_id = $2 AND task_id = $3 AND attempt = $4 AND lease_owner = $5 AND status = 'running'",
        )
        .bind(until)
        .bind(lease.run_id.as_str())
        .bind(lease.task_id.as_str())
        .bind(i64::from(lease.attempt))
        .bind(lease.worker.as_str())
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("renew lease"))?;
        if result.rows_affected() == 0 {
            return Ok(LeaseState::Lost);
        }
        let row = sqlx::query("SELECT cancel_requested FROM runs WHERE id = $1")
            .bind(lease.run_id.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("read run"))?;
        Ok(LeaseState::Held { cancel_requested: get::<i64>(&row, "cancel_requested")? != 0 })
    }

    async fn complete_all_for(
        &self,
        completions: &[(TaskLease, Completion)],
        coordinator: Option<&str>,
        now: i64,
    ) -> Result<Vec<Recorded>, StoreError> {
        // On PostgreSQL one completion is one statement, its announcement
        // included: alone, it needs no transaction around it.
        if self.backend == Backend::Postgres && completions.len() == 1 {
            let (lease, completion) = &completions[0];
            let row = completion_statement(lease, completion, coordinator, now)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("complete task"))?;
            return Ok(vec![recorded_of(&row)?]);
        }
        let mut tx = self.begin_write().await?;
        let mut recorded = Vec::with_capacity(completions.len());
        for (lease, completion) in completions {
            let done = match self.backend {
                // Identical announcements in one transaction are sent once.
                Backend::Postgres => {
                    let row = completion_statement(lease, completion, coordinator, now)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(StoreError::query("complete task"))?;
                    recorded_of(&row)?
                }
                Backend::Sqlite => complete_in(&mut tx, lease, completion, coordinator, now).await?,
            };
            recorded.push(done);
        }
        tx.commit().await.map_err(StoreError::query("commit completion"))?;
        Ok(recorded)
    }

    async fn complete_and_claim(
        &self,
        completions: &[(TaskLease, Completion)],
        coordinator: Option<&str>,
        next: &NextClaim<'_>,
        now: i64,
    ) -> Result<(Vec<Recorded>, Vec<ClaimedTask>), StoreError> {
        let (recorded, claimed) = match (&self.claims, completions) {
            // A lone completion and the claim that follows it: one statement.
            (Some(claims), [one]) if next.max > 0 => {
                match complete_and_claim_in_one_statement(self, claims, one, coordinator, next, now).await {
                    Ok(rows) => {
                        let (recorded, claimed) = joint_rows(&rows, &one.0, next.worker)?;
                        (vec![recorded], claimed)
                    }
                    // The database refused the statement, which wrote nothing:
                    // the completion alone, as without a claim.
                    Err(err) => {
                        tracing::warn!(error = %err, "Could not complete a task and claim the next at once; completing it alone.");
                        (self.complete_all_for(completions, coordinator, now).await?, Some(Vec::new()))
                    }
                }
            }
            _ => (self.complete_all_for(completions, coordinator, now).await?, None),
        };
        let claimed = match claimed {
            Some(claimed) => claimed,
            None => crate::store::claim_after_completion(self, next, now).await,
        };
        Ok((recorded, claimed))
    }

    async fn reap_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&format!(
            "SELECT run_id, task_id, attempt, max_attempts, lost_attempts, max_lost_attempts, lease_owner FROM task_runs \
             WHERE status = 'running' AND lease_expires_at < $1{}",
            self.backend.skip_locked()
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query("find expired leases"))?;
        let reaped = self.expire(&mut tx, &rows, "lease expired (killed or cut off)", now).await?;
        if reaped > 0 {
            self.announce(&mut tx, &Change::Queued).await?;
            self.announce(&mut tx, &Change::Finished).await?;
        }
        tx.commit().await.map_err(StoreError::query("commit reap"))?;
        Ok(reaped)
    }

    async fn release_leases_of(&self, owner_prefix: &str, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&format!(
            "SELECT run_id, task_id, attempt, max_attempts, lost_attempts, max_lost_attempts, lease_owner FROM task_runs \
             WHERE status = 'running' AND lease_owner LIKE $1 ESCAPE '\\'{}",
            self.backend.skip_locked()
        ))
        .bind(format!("{}%", owner_prefix.replace('%', "\\%").replace('_', "\\_")))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query("find leases of a dead process"))?;
        let released = self.expire(&mut tx, &rows, "interrupted: the process running it stopped", now).await?;
        if released > 0 {
            self.announce(&mut tx, &Change::Queued).await?;
            self.announce(&mut tx, &Change::Finished).await?;
        }
        tx.commit().await.map_err(StoreError::query("commit release"))?;
        Ok(released)
    }

    async fn find_cached(&self, cache_key: &str) -> Result<Option<TaskOutputs>, StoreError> {
        let row = sqlx::query(
            "SELECT outputs FROM task_runs WHERE cache_key = $1 AND status IN ('succeeded', 'cached') \
               AND outputs IS NOT NULL ORDER BY finished_at DESC LIMIT 1",
        )
        .bind(cache_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("look up the cache"))?;
        match row {
            Some(row) => parse_json(get(&row, "outputs")?, "cached outputs", cache_key),
            None => Ok(None),
        }
    }

    async fn queue_depth(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM task_runs WHERE status = 'queued'")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("count the queue"))?;
        Ok(get::<i64>(&row, "n")?.max(0) as u64)
    }
}

/// The statement that queues `count` pending tasks of one run, and the
/// number of its last placeholder ([`bind_queue`] binds them).
fn queue_statement(count: usize) -> (String, usize) {
    let rows: Vec<String> = (0..count).map(|i| format!("({})", placeholders(5 * i + 1, 5))).collect();
    let last = 5 * count + 1;
    let sql = format!(
        "UPDATE task_runs SET status = 'queued', config = v.column2, inputs = v.column3, cache_key = v.column4, \
           queued_at = v.column5, available_at = v.column5, error = NULL \
         FROM (VALUES {}) AS v \
         WHERE task_runs.run_id = ${last} AND task_runs.task_id = v.column1 AND task_runs.status = 'pending'",
        rows.join(", "),
    );
    (sql, last)
}

fn bind_queue<'q>(mut query: AnyQuery<'q>, run_id: &'q str, tasks: &'q [QueueTask], now: i64) -> AnyQuery<'q> {
    for task in tasks {
        query = query
            .bind(task.task_id.as_str())
            .bind(json_text(&task.config))
            .bind(json_text(&task.inputs))
            .bind(task.cache_key.clone())
            .bind(now);
    }
    query.bind(run_id)
}

/// One run's coordinator step inside the caller's transaction; returns
/// whether it queued tasks (for the caller to announce once).
async fn advance_in(
    tx: &mut sqlx::Transaction<'static, Any>,
    run_id: &str,
    step: &Advance,
    now: i64,
) -> Result<bool, StoreError> {
    for chunk in step.acked.chunks(INSERT_BATCH) {
        let sql = format!(
            "UPDATE task_runs SET acked = 1 WHERE run_id = $1 AND task_id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(run_id);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        query.execute(&mut **tx).await.map_err(StoreError::query("ack tasks"))?;
    }
    // Many tasks per statement: a step that readies a thousand tasks is a
    // few round trips, not a thousand.
    for chunk in step.queue.chunks(QUEUE_BATCH) {
        let (sql, _) = queue_statement(chunk.len());
        bind_queue(sqlx::query(&sql), run_id, chunk, now)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::query("queue tasks"))?;
    }
    for settle in &step.settle {
        sqlx::query(
            "UPDATE task_runs SET status = $1, error = $2, outputs = $3, finished_at = $4, \
                   acked = CASE WHEN status = 'queued' THEN 0 ELSE 1 END \
                 WHERE run_id = $5 AND task_id = $6 AND \
                   (status IN ('pending', 'queued') OR (status = 'running' AND map_size IS NOT NULL))",
        )
        .bind(settle.status.as_str())
        .bind(settle.error.clone())
        .bind(settle.outputs.as_ref().map(json_text))
        .bind(now)
        .bind(run_id)
        .bind(settle.task_id.as_str())
        .execute(&mut **tx)
        .await
        .map_err(StoreError::query("settle task"))?;
    }
    Ok(!step.queue.is_empty())
}

/// What an attempt's completion writes: the task's new status, outputs,
/// error and timestamps, and the attempt's own status.
struct Written {
    status: TaskStatus,
    outputs: Option<String>,
    error: Option<String>,
    finished_at: Option<i64>,
    available_at: Option<i64>,
    acked: i64,
    cache_key: Option<String>,
    attempt_status: &'static str,
    change: Change,
}

fn written(lease: &TaskLease, completion: &Completion, now: i64) -> Written {
    let ended = |status, outputs: Option<&TaskOutputs>, error: Option<&String>, cache_key, attempt_status| Written {
        status,
        outputs: outputs.map(json_text),
        error: error.cloned(),
        finished_at: Some(now),
        available_at: None,
        acked: 0,
        cache_key,
        attempt_status,
        change: Change::RunChanged(lease.run_id.clone()),
    };
    match completion {
        Completion::Succeeded { outputs, cache_key } => {
            ended(TaskStatus::Succeeded, Some(outputs), None, cache_key.clone(), "succeeded")
        }
        Completion::Cached { outputs, cache_key } => {
            ended(TaskStatus::Cached, Some(outputs), None, Some(cache_key.clone()), "cached")
        }
        Completion::Failed { error } => ended(TaskStatus::Failed, None, Some(error), None, "failed"),
        Completion::Cancelled { error } => ended(TaskStatus::Cancelled, None, Some(error), None, "cancelled"),
        Completion::Retry { error, available_at } => Written {
            available_at: Some(*available_at),
            finished_at: None,
            acked: 1,
            change: Change::Queued,
            ..ended(TaskStatus::Queued, None, Some(error), None, "failed")
        },
    }
}

/// The task's side of a completion, fenced by the attempt: `$1`–`$11` as
/// [`bind_task_completion`] binds them (each first used in that order, as
/// SQLite numbers them). An ended task (`$6` = 0) whose run is held by
/// coordinator `$7` is marked acknowledged at once and returned
/// as `taken`: that coordinator hears of it in memory.
macro_rules! complete_task_sql {
    () => {
        "UPDATE task_runs SET status = $1, outputs = COALESCE($2, outputs), error = $3, finished_at = $4, \
           available_at = COALESCE($5, available_at), lease_owner = NULL, lease_expires_at = NULL, \
           acked = CASE WHEN $6 = 1 OR (SELECT coordinator FROM runs WHERE runs.id = task_runs.run_id) = $7 \
             THEN 1 ELSE 0 END, \
           cache_key = COALESCE($8, cache_key) \
         WHERE run_id = $9 AND task_id = $10 AND attempt = $11 AND status = 'running' \
         RETURNING run_id, CASE WHEN $6 = 0 AND acked = 1 THEN 1 ELSE 0 END AS taken"
    };
}

/// The attempt's side of a PostgreSQL completion, after the `done` CTE:
/// `$12` its status, `$13` when it ended.
macro_rules! record_attempt_cte {
    () => {
        "recorded AS (UPDATE task_attempts SET status = $12, finished_at = $13, error = $3 \
           WHERE run_id = $9 AND task_id = $10 AND attempt = $11 AND EXISTS (SELECT 1 FROM done))"
    };
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds [`SqlStore::claim_ctes`]' six parameters.
fn bind_claim<'q>(
    query: AnyQuery<'q>,
    now: i64,
    labels: &'q str,
    max: usize,
    worker: &'q str,
    lease_until: i64,
) -> AnyQuery<'q> {
    query.bind(now).bind(labels).bind(max as i64).bind(GLOBAL_POOL).bind(worker).bind(lease_until)
}

/// The tasks a one-statement claim's rows hold; `None` when it claimed
/// none because pools must be counted.
fn claimed_in(rows: &[AnyRow], worker: &str) -> Result<Option<Vec<ClaimedTask>>, StoreError> {
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(run_id) = get::<Option<String>>(row, "run_id")? else {
            // Nothing claimed: nothing claimable, or pools to count.
            let picked: i64 = get(row, "picked")?;
            let fits: bool = get(row, "fits")?;
            return Ok(if picked > 0 && !fits { None } else { Some(Vec::new()) });
        };
        let task_id: String = get(row, "task_id")?;
        let attempt = as_u32(get(row, "attempt")?);
        match claimed_task(row, run_id.clone(), task_id.clone(), attempt, worker) {
            Ok(task) => claimed.push(task),
            // Claimed but unreadable: the others still run; this one's lease
            // expires and the reaper records the attempt as lost.
            Err(err) => {
                tracing::error!(run = %run_id, task = %task_id, error = %err, "A claimed task could not be read.")
            }
        }
    }
    Ok(Some(claimed))
}

fn bind_task_completion<'q>(
    query: AnyQuery<'q>,
    lease: &'q TaskLease,
    w: &Written,
    coordinator: Option<&'q str>,
) -> AnyQuery<'q> {
    query
        .bind(w.status.as_str())
        .bind(w.outputs.clone())
        .bind(w.error.clone())
        .bind(w.finished_at)
        .bind(w.available_at)
        .bind(w.acked)
        .bind(coordinator)
        .bind(w.cache_key.clone())
        .bind(lease.run_id.as_str())
        .bind(lease.task_id.as_str())
        .bind(i64::from(lease.attempt))
}

/// What a completion's row (`n` tasks written, `taken` of them) says.
fn recorded_of(row: &AnyRow) -> Result<Recorded, StoreError> {
    Ok(match (get::<i64>(row, "n")? > 0, get::<i64>(row, "taken")? > 0) {
        (false, _) => Recorded::Stale,
        (true, false) => Recorded::Written,
        (true, true) => Recorded::Taken,
    })
}

/// One attempt's completion as one PostgreSQL statement: the task, its
/// attempt and the announcement (none when the coordinator took it); `n`
/// is 0 (nothing written) when a newer attempt owns the task.
fn completion_statement<'q>(
    lease: &'q TaskLease,
    completion: &Completion,
    coordinator: Option<&'q str>,
    now: i64,
) -> AnyQuery<'q> {
    let w = written(lease, completion, now);
    let (channel, payload) = super::notification(&w.change);
    let query = sqlx::query(concat!(
        "WITH done AS (",
        complete_task_sql!(),
        "), ",
        record_attempt_cte!(),
        " SELECT COUNT(*) AS n, COALESCE(MAX(done.taken), 0) AS taken FROM done \
           LEFT JOIN LATERAL (SELECT pg_notify($14, $15) WHERE done.taken = 0) AS told ON TRUE"
    ));
    bind_task_completion(query, lease, &w, coordinator)
        .bind(w.attempt_status)
        .bind(now)
        .bind(channel)
        .bind(payload.to_owned())
}

/// One attempt's completion inside the caller's transaction; nothing
/// written when a newer attempt owns the task.
async fn complete_in(
    tx: &mut sqlx::Transaction<'static, Any>,
    lease: &TaskLease,
    completion: &Completion,
    coordinator: Option<&str>,
    now: i64,
) -> Result<Recorded, StoreError> {
    let w = written(lease, completion, now);
    let row = bind_task_completion(sqlx::query(complete_task_sql!()), lease, &w, coordinator)
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::query("complete task"))?;
    // None: a stale attempt; the lease expired and a newer attempt owns the task.
    let Some(row) = row else { return Ok(Recorded::Stale) };
    let taken = get::<i64>(&row, "taken")? > 0;
    sqlx::query(
        "UPDATE task_attempts SET status = $1, finished_at = $2, error = $3 \
         WHERE run_id = $4 AND task_id = $5 AND attempt = $6",
    )
    .bind(w.attempt_status)
    .bind(now)
    .bind(w.error)
    .bind(lease.run_id.as_str())
    .bind(lease.task_id.as_str())
    .bind(i64::from(lease.attempt))
    .execute(&mut **tx)
    .await
    .map_err(StoreError::query("complete attempt"))?;
    Ok(if taken { Recorded::Taken } else { Recorded::Written })
}

/// PostgreSQL's completion of one attempt and claim of up to `next.max`
/// tasks in one statement (no transaction around it), and its rows: every
/// row carries the completion's `n` and `taken`, the claim's columns are
/// empty when nothing was claimed (see [`claimed_in`]).
async fn complete_and_claim_in_one_statement(
    store: &SqlStore,
    claims: &sqlx::AnyPool,
    (lease, completion): &(TaskLease, Completion),
    coordinator: Option<&str>,
    next: &NextClaim<'_>,
    now: i64,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let w = written(lease, completion, now);
    let (channel, payload) = super::notification(&w.change);
    let sql = format!(
        "WITH done AS ({}), {}, {} \
         SELECT claimed.*, (SELECT COUNT(*) FROM picked) AS picked, (SELECT ok FROM free) AS fits, \
           (SELECT COUNT(*) FROM done) AS n, (SELECT COALESCE(MAX(taken), 0) FROM done) AS taken, \
           (SELECT COUNT(pg_notify($14, $15)) FROM done WHERE taken = 0) AS told \
         FROM (SELECT 1) AS one LEFT JOIN claimed ON TRUE",
        complete_task_sql!(),
        record_attempt_cte!(),
        store.claim_ctes(16)
    );
    let labels = json_text(&next.labels);
    let query = bind_task_completion(sqlx::query(&sql), lease, &w, coordinator)
        .bind(w.attempt_status)
        .bind(now)
        .bind(channel)
        .bind(payload.to_owned());
    bind_claim(query, now, &labels, next.max, next.worker, next.lease_until).fetch_all(claims).await
}

/// What a committed joint completion and claim wrote, from its rows (never
/// written again): the claimed tasks that cannot be read fail the claim,
/// not the completion; their leases expire.
fn joint_rows(
    rows: &[AnyRow],
    lease: &TaskLease,
    worker: &str,
) -> Result<(Recorded, Option<Vec<ClaimedTask>>), StoreError> {
    let first = rows.first().ok_or_else(|| StoreError::Corrupt {
        what: "completion",
        key: format!("{}/{}", lease.run_id, lease.task_id),
        reason: "the statement returned no row".to_owned(),
    })?;
    let claimed = claimed_in(rows, worker).unwrap_or_else(|err| {
        tracing::error!(error = %err, "The tasks claimed with a completion could not be read; their leases will expire.");
        Some(Vec::new())
    });
    Ok((recorded_of(first)?, claimed))
}
