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

/// Opens an input artifact for synchronous reading: the file itself on a
/// local store, a downloaded copy in the scratch folder on S3.
///
/// # Errors
/// When the artifact cannot be fetched or opened.
pub async fn open_input(ctx: &TaskContext, artifact: &ArtifactRef) -> Result<BufReader<File>, OperatorError> {
    let scratch = ctx.scratch_dir()?.to_path_buf();
    let path = ctx.artifacts().fetch_local(&artifact.key, &scratch).await?;
    let file = File::open(&path)
        .map_err(|e| OperatorError::external(format!("cannot open {} ({}): {e}", artifact.uri, path.display())))?;
    Ok(BufReader::with_capacity(1 << 20, file))
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
