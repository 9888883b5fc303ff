//! Synchronous JSONL input and output for data operators: the heavy loops
//! run on a blocking thread with plain `std::io`, while the artifact store
//! stays async underneath.

use std::fs::File;
use std::io::{BufRead, BufReader};

use hangar_sdk::{ArtifactKind, ArtifactRef, ArtifactWriter, OperatorError, TaskContext};
use serde::Serialize;
use tokio::runtime::Handle;

/// Bytes buffered before one write to the artifact store.
const SINK_CHUNK: usize = 4 << 20;

/// A documents or records input read line by line, whatever its shards.
pub type InputReader = BufReader<Shards>;

/// Opens an input artifact for synchronous reading: the file itself on a
/// local store, a downloaded copy in the scratch folder on S3. A folder of
/// JSONL shards (a sharded documents artifact, or the collection of a mapped
/// task's outputs) reads as one stream, shard after shard, in manifest order.
///
/// # Errors
/// When the artifact (or one shard) cannot be fetched or opened.
pub async fn open_input(ctx: &TaskContext, artifact: &ArtifactRef) -> Result<InputReader, OperatorError> {
    let scratch = ctx.scratch_dir()?.to_path_buf();
    let mut paths = std::collections::VecDeque::new();
    for shard in hangar_sdk::artifact_files(ctx.artifacts(), artifact).await? {
        paths.push_back((ctx.artifacts().fetch_local(&shard.key, &scratch).await?, shard.uri));
    }
    Ok(BufReader::with_capacity(1 << 20, Shards { paths, current: None, ended_line: true }))
}

/// Files read one after the other, each opened when the one before is used
/// up (a collection may have thousands); a shard whose last line has no
/// newline still ends that line, so it never runs into the next shard's first.
pub struct Shards {
    paths: std::collections::VecDeque<(std::path::PathBuf, String)>,
    current: Option<File>,
    ended_line: bool,
}

impl std::io::Read for Shards {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.current.is_none() {
                let Some((path, uri)) = self.paths.pop_front() else {
                    return Ok(0);
                };
                let file = File::open(&path).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot open {uri} ({}): {e}", path.display()))
                })?;
                self.current = Some(file);
            }
            let n = self.current.as_mut().map_or(Ok(0), |file| file.read(buf))?;
            if n > 0 {
                self.ended_line = buf[n - 1] == b'\n';
                return Ok(n);
            }
            self.current = None;
            if !self.ended_line {
                self.ended_line = true;
                buf[0] = b'\n';
                return Ok(1);
            }
        }
    }
}

/// Calls `each` with every line (without its newline) and its 1-based number.
///
/// # Errors
/// The first error of `each`, or a read error.
pub fn for_each_line(
    mut reader: impl BufRead,
    mut each: impl FnMut(&[u8], u64) -> Result<(), OperatorError>,
) -> Result<u64, OperatorError> {
    let mut line = Vec::with_capacity(64 * 1024);
    let mut number = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| OperatorError::external(format!("reading the input failed at line {}: {e}", number + 1)))?;
        if read == 0 {
            return Ok(number);
        }
        number += 1;
        let mut end = line.len();
        while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
            end -= 1;
        }
        if end == 0 {
            continue;
        }
        each(&line[..end], number)?;
    }
}

/// Where JSONL lines go: an artifact (in operators) or a plain file (in
/// benchmarks and tools), through the same code.
pub trait LineSink {
    /// Appends a line that is already JSON.
    ///
    /// # Errors
    /// When writing fails.
    fn push_raw(&mut self, line: &[u8]) -> Result<(), OperatorError>;

    /// Appends one record as a JSON line.
    ///
    /// # Errors
    /// When the record cannot be serialized or written.
    fn push_record<T: Serialize>(&mut self, record: &T) -> Result<(), OperatorError> {
        let line = serde_json::to_vec(record)
            .map_err(|e| OperatorError::internal(format!("cannot serialize a record: {e}")))?;
        self.push_raw(&line)
    }
}

impl LineSink for JsonlSink {
    fn push_raw(&mut self, line: &[u8]) -> Result<(), OperatorError> {
        JsonlSink::push_raw(self, line)
    }

    fn push_record<T: Serialize>(&mut self, record: &T) -> Result<(), OperatorError> {
        self.push(record)
    }
}

/// JSONL into a local file.
pub struct FileSink {
    writer: std::io::BufWriter<File>,
}

impl FileSink {
    /// Creates (truncates) `path`.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &std::path::Path) -> Result<Self, OperatorError> {
        let file = File::create(path)
            .map_err(|e| OperatorError::external(format!("cannot create {}: {e}", path.display())))?;
        Ok(Self { writer: std::io::BufWriter::with_capacity(1 << 20, file) })
    }

    /// Flushes the file.
    ///
    /// # Errors
    /// When the flush fails.
    pub fn finish(mut self) -> Result<(), OperatorError> {
        use std::io::Write;
        self.writer.flush().map_err(|e| OperatorError::external(format!("cannot write: {e}")))
    }
}

impl LineSink for FileSink {
    fn push_raw(&mut self, line: &[u8]) -> Result<(), OperatorError> {
        use std::io::Write;
        self.writer
            .write_all(line)
            .and_then(|()| self.writer.write_all(b"\n"))
            .map_err(|e| OperatorError::external(format!("cannot write: {e}")))
    }
}

/// A JSONL output written from a blocking thread.
pub struct JsonlSink {
    writer: Option<ArtifactWriter>,
    handle: Handle,
    buffer: Vec<u8>,
    records: u64,
}

impl JsonlSink {
    /// Starts `file_name` under the task's output prefix. Call from async
    /// code; then move the sink to the blocking thread.
    ///
    /// # Errors
    /// When the artifact store refuses the write.
    pub async fn create(ctx: &TaskContext, file_name: &str) -> Result<Self, OperatorError> {
        Ok(Self {
            writer: Some(ctx.create_output(file_name).await?),
            handle: Handle::current(),
            buffer: Vec::with_capacity(SINK_CHUNK + 64 * 1024),
            records: 0,
        })
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Appends one record as a JSON line.
    ///
    /// # Errors
    /// When the record cannot be serialized or written.
    pub fn push<T: Serialize>(&mut self, record: &T) -> Result<(), OperatorError> {
        serde_json::to_writer(&mut self.buffer, record)
            .map_err(|e| OperatorError::internal(format!("cannot serialize a record: {e}")))?;
        self.buffer.push(b'\n');
        self.records += 1;
        self.maybe_flush()
    }

    /// Appends a line that is already JSON.
    ///
    /// # Errors
    /// When writing fails.
    pub fn push_raw(&mut self, line: &[u8]) -> Result<(), OperatorError> {
        self.buffer.extend_from_slice(line);
        self.buffer.push(b'\n');
        self.records += 1;
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> Result<(), OperatorError> {
        if self.buffer.len() >= SINK_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OperatorError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let chunk = std::mem::take(&mut self.buffer);
        self.handle.block_on(writer.write(&chunk))?;
        self.buffer = chunk;
        self.buffer.clear();
        Ok(())
    }

    /// Writes what is buffered and commits the artifact.
    ///
    /// # Errors
    /// When the last write or the commit fails.
    pub fn finish(mut self, kind: ArtifactKind) -> Result<ArtifactRef, OperatorError> {
        self.flush()?;
        let writer = self.writer.take().ok_or_else(|| OperatorError::internal("output already finished"))?;
        Ok(self.handle.block_on(writer.finish(kind))?)
    }
}

/// A documents output: one JSONL file, or with `shard_bytes` a folder of
/// JSONL shards of about that size each, with a manifest; what a later
/// task's `map:` fans out over.
// One sink per task: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum DocumentSink {
    Single(JsonlSink),
    Sharded(ShardedSink),
}

impl DocumentSink {
    /// Starts the output `name` (`documents` → `documents.jsonl`, or the
    /// folder `documents/` of `part-NNNNN.jsonl` shards).
    ///
    /// # Errors
    /// When the artifact store refuses the write.
    pub async fn create(ctx: &TaskContext, name: &str, shard_bytes: Option<u64>) -> Result<Self, OperatorError> {
        Ok(match shard_bytes {
            None => DocumentSink::Single(JsonlSink::create(ctx, &format!("{name}.jsonl")).await?),
            Some(limit) => DocumentSink::Sharded(ShardedSink::create(ctx, name, limit).await?),
        })
    }

    pub fn records(&self) -> u64 {
        match self {
            DocumentSink::Single(sink) => sink.records(),
            DocumentSink::Sharded(sink) => sink.records,
        }
    }

    /// Commits the output (from the blocking thread).
    ///
    /// # Errors
    /// When the last write or the commit fails.
    pub fn finish(self) -> Result<ArtifactRef, OperatorError> {
        match self {
            DocumentSink::Single(sink) => sink.finish(ArtifactKind::Documents),
            DocumentSink::Sharded(sink) => sink.finish(),
        }
    }
}

impl LineSink for DocumentSink {
    fn push_raw(&mut self, line: &[u8]) -> Result<(), OperatorError> {
        match self {
            DocumentSink::Single(sink) => sink.push_raw(line),
            DocumentSink::Sharded(sink) => sink.push_raw(line),
        }
    }
}

/// JSONL shards of about `limit` bytes in a folder artifact.
pub struct ShardedSink {
    dir: hangar_sdk::ArtifactDirWriter,
    current: Option<ArtifactWriter>,
    handle: Handle,
    buffer: Vec<u8>,
    limit: u64,
    shards: usize,
    records: u64,
}

impl ShardedSink {
    async fn create(ctx: &TaskContext, name: &str, limit: u64) -> Result<Self, OperatorError> {
        Ok(Self {
            dir: ctx.output_dir(name, ArtifactKind::Documents),
            current: None,
            handle: Handle::current(),
            buffer: Vec::with_capacity(SINK_CHUNK + 64 * 1024),
            limit: limit.max(1),
            shards: 0,
            records: 0,
        })
    }

    fn push_raw(&mut self, line: &[u8]) -> Result<(), OperatorError> {
        if self.current.is_none() {
            let name = format!("part-{:05}.jsonl", self.shards);
            self.current = Some(self.handle.block_on(self.dir.file(&name))?);
            self.shards += 1;
        }
        self.buffer.extend_from_slice(line);
        self.buffer.push(b'\n');
        self.records += 1;
        let written = self.current.as_ref().map_or(0, ArtifactWriter::size);
        if written + self.buffer.len() as u64 >= self.limit {
            self.close_shard()?;
        } else if self.buffer.len() >= SINK_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OperatorError> {
        if let Some(writer) = self.current.as_mut()
            && !self.buffer.is_empty()
        {
            self.handle.block_on(writer.write(&self.buffer))?;
            self.buffer.clear();
        }
        Ok(())
    }

    fn close_shard(&mut self) -> Result<(), OperatorError> {
        self.flush()?;
        if let Some(writer) = self.current.take() {
            self.handle.block_on(self.dir.add(writer))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<ArtifactRef, OperatorError> {
        self.close_shard()?;
        let mut artifact = self.handle.block_on(self.dir.finish())?;
        artifact.values.insert("shards".to_owned(), serde_json::Value::from(self.shards));
        Ok(artifact)
    }
}

/// Runs `work` on a blocking thread, turning a panic into an internal error.
///
/// # Errors
/// What `work` returns, or an internal error when it panicked.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, OperatorError> + Send + 'static,
) -> Result<T, OperatorError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| OperatorError::internal(format!("the worker thread failed: {e}")))?
}
