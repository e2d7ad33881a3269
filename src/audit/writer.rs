//! The writer thread behind the audit queue: JSON lines, size-based rotation, periodic flush.
//!
//! Records are batched in memory and appended with one write per batch. A record counts as
//! written only once the write that carries it succeeded. When a write fails (a full disk), the
//! file is cut back to its last whole line, the batch is retried line by line so every record
//! that still fits lands, and the rest are counted as lost. Writing resumes by itself once there
//! is room again.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::Ordering,
        mpsc::{Receiver, TryRecvError, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::{AuditCounters, AuditSender};

/// A batch is written once it holds this many bytes (or at the flush interval).
const BATCH_BYTES: usize = 64 * 1024;

/// Where records go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// How the audit log is written.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    pub destination: Destination,
    /// Records the queue holds before new ones are dropped.
    pub queue: usize,
    /// Rotate the file when it would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept (`audit.log.1` … `audit.log.N`).
    pub keep: usize,
    /// Longest time a record waits in memory before it is written.
    pub flush_every: Duration,
}

/// Starts the writer; it ends once every sender is dropped and the queue is drained and flushed.
pub fn spawn(config: AuditConfig) -> io::Result<(AuditSender, JoinHandle<()>)> {
    let counters = Arc::new(AuditCounters::default());
    let (tx, rx) = sync_channel(config.queue.max(1));
    let sink = Sink::open(&config)?;
    let thread_counters = counters.clone();
    let handle = std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || run(rx, sink, &config, &thread_counters))?;
    Ok((AuditSender { tx, counters }, handle))
}

enum Out {
    Stdout(io::Stdout),
    File {
        file: File,
        path: PathBuf,
        /// Bytes of whole lines in the file.
        size: u64,
        /// A regular file, rotated by size; anything else (a device, a FIFO) is only written.
        rotates: bool,
    },
}

/// Records not yet written: their bytes and where each line ends.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    fn push(&mut self, line: &[u8]) {
        self.bytes.extend_from_slice(line);
        self.ends.push(self.bytes.len());
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let line = &self.bytes[start..end];
            start = end;
            line
        })
    }
}

struct Sink {
    out: Out,
    batch: Batch,
    /// The last write failed: the next success is reported.
    failing: bool,
}

impl Sink {
    fn open(config: &AuditConfig) -> io::Result<Self> {
        let out = match &config.destination {
            Destination::Stdout => Out::Stdout(io::stdout()),
            Destination::File(path) => {
                let file = open_append(path)?;
                let meta = file.metadata()?;
                if !meta.is_file() {
                    // `/dev/null`, a FIFO a shipper reads: renaming it would replace a device
                    // (as root, `/dev/null` itself) with a plain file.
                    tracing::info!(path = %path.display(), "The audit log is not a regular file: it is not rotated");
                }
                Out::File {
                    file,
                    path: path.clone(),
                    size: meta.len(),
                    rotates: meta.is_file(),
                }
            }
        };
        Ok(Self {
            out,
            batch: Batch::default(),
            failing: false,
        })
    }

    /// Adds a line, writing the batch first when the line would take the file past its size.
    fn push(&mut self, line: &[u8], config: &AuditConfig, counters: &AuditCounters) {
        if let Out::File {
            size,
            rotates: true,
            ..
        } = &self.out
        {
            let after = *size + (self.batch.bytes.len() + line.len()) as u64;
            if after > config.max_bytes && (*size > 0 || !self.batch.bytes.is_empty()) {
                self.flush(counters);
                if let Err(e) = self.rotate(config.keep) {
                    write_error(counters, &e);
                }
            }
        }
        self.batch.push(line);
        if self.batch.bytes.len() >= BATCH_BYTES {
            self.flush(counters);
        }
    }

    /// Writes the batch; counts each record as written or lost. Never leaves a partial line.
    fn flush(&mut self, counters: &AuditCounters) {
        if self.batch.ends.is_empty() {
            return;
        }
        let records = self.batch.ends.len() as u64;
        let (landed, result) = match &mut self.out {
            Out::Stdout(out) => {
                let mut out = out.lock();
                match out.write_all(&self.batch.bytes).and_then(|()| out.flush()) {
                    Ok(()) => (records, Ok(())),
                    Err(e) => (0, Err(e)),
                }
            }
            Out::File { file, size, .. } => append(file, size, &self.batch),
        };
        self.batch.clear();
        counters.written.fetch_add(landed, Ordering::Relaxed);
        match result {
            Ok(()) => {
                if std::mem::take(&mut self.failing) {
                    tracing::warn!(
                        lost = counters.lost.load(Ordering::Relaxed),
                        "Audit log writable again"
                    );
                }
            }
            Err(e) => {
                counters.lost.fetch_add(records - landed, Ordering::Relaxed);
                write_error(counters, &e);
                self.failing = true;
            }
        }
    }

    fn rotate(&mut self, keep: usize) -> io::Result<()> {
        let Out::File {
            file,
            path,
            size,
            rotates: true,
        } = &mut self.out
        else {
            return Ok(());
        };
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
        if keep == 0 {
            std::fs::remove_file(&*path).ok();
        } else {
            std::fs::remove_file(numbered(keep)).ok();
            // Shift the numbered files up to the first free slot, and only those: with a large
            // --audit-keep most slots are empty, and a rename tried on each (a thousand failed
            // syscalls per rotation) kept the writer busy on a core a connection thread needs.
            let free = (1..keep).find(|&n| !numbered(n).exists()).unwrap_or(keep);
            for n in (1..free).rev() {
                std::fs::rename(numbered(n), numbered(n + 1)).ok();
            }
            std::fs::rename(&*path, numbered(1))?;
        }
        *file = open_append(path)?;
        *size = 0;
        Ok(())
    }
}

/// A file the log appends to and can cut back to its last whole line.
trait Append: Write {
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl Append for File {
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

/// Appends a batch to a file holding `size` bytes of whole lines, and returns how many of its
/// lines landed. On an error the torn tail is cut off and the lines are retried one by one, so
/// every line that still fits is written and the file ends with a whole line.
fn append(file: &mut impl Append, size: &mut u64, batch: &Batch) -> (u64, io::Result<()>) {
    let Err(error) = file.write_all(&batch.bytes) else {
        *size += batch.bytes.len() as u64;
        return (batch.ends.len() as u64, Ok(()));
    };
    let _ = file.truncate(*size);
    let mut landed = 0;
    for line in batch.lines() {
        if file.write_all(line).is_err() {
            let _ = file.truncate(*size);
            break;
        }
        *size += line.len() as u64;
        landed += 1;
    }
    (landed, Err(error))
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// How often the writer takes what has been queued. Handlers never wake it: a send only puts
/// the record in the queue (a wake-up per record cost the request path more than the record
/// itself), and the writer drains the queue on its own clock, so a record waits at most this
/// long, plus the flush interval, before it is written.
const POLL: Duration = Duration::from_millis(10);

fn run(rx: Receiver<Vec<u8>>, mut sink: Sink, config: &AuditConfig, counters: &AuditCounters) {
    let mut next_flush = Instant::now() + config.flush_every;
    loop {
        let closed = loop {
            match rx.try_recv() {
                Ok(line) => sink.push(&line, config, counters),
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
        };
        if closed {
            break;
        }
        if Instant::now() >= next_flush {
            sink.flush(counters);
            next_flush = Instant::now() + config.flush_every;
        }
        let until_flush = next_flush.saturating_duration_since(Instant::now());
        std::thread::sleep(POLL.min(until_flush).max(Duration::from_millis(1)));
    }
    sink.flush(counters);
}

fn write_error(counters: &AuditCounters, e: &io::Error) {
    let n = counters.write_errors.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        tracing::error!(
            error = %e,
            errors = n,
            lost = counters.lost.load(Ordering::Relaxed),
            "Cannot write the audit log; records are being lost"
        );
    }
}

#[cfg(test)]
mod tests;
