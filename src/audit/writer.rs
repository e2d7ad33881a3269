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
        mpsc::{Receiver, RecvTimeoutError, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::{AuditCounters, AuditRecord, AuditSender};

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
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                Out::File {
                    file,
                    path: path.clone(),
                    size,
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
        if let Out::File { size, .. } = &self.out {
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
        let Out::File { file, path, size } = &mut self.out else {
            return Ok(());
        };
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
        if keep == 0 {
            std::fs::remove_file(&*path).ok();
        } else {
            std::fs::remove_file(numbered(keep)).ok();
            for n in (1..keep).rev() {
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

fn run(rx: Receiver<AuditRecord>, mut sink: Sink, config: &AuditConfig, counters: &AuditCounters) {
    let mut next_flush = Instant::now() + config.flush_every;
    let mut line = Vec::with_capacity(1024);
    loop {
        let wait = next_flush.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(record) => {
                line.clear();
                if serde_json::to_writer(&mut line, &record).is_err() {
                    counters.lost.fetch_add(1, Ordering::Relaxed);
                    counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                line.push(b'\n');
                sink.push(&line, config, counters);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_flush {
            sink.flush(counters);
            next_flush = Instant::now() + config.flush_every;
        }
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
mod tests {
    use super::*;
    use crate::audit::{AuditSink, AuditUser};

    fn record(uid: &str) -> AuditRecord {
        AuditRecord {
            time: crate::audit::now(),
            path: "/validate".into(),
            uid: uid.into(),
            operation: crate::audit::AuditOperation::Create,
            dry_run: false,
            user: AuditUser::default(),
            namespace: "ns".into(),
            name: "p".into(),
            mode: Some(crate::audit::AuditMode::Enforce),
            verdict: crate::audit::AuditVerdict::Allowed,
            missing: vec![],
            unverified: vec![],
            patch: None,
            warnings: vec![],
            error: None,
            status: 200,
            latency_us: 10,
        }
    }

    fn config(path: PathBuf, max_bytes: u64, keep: usize) -> AuditConfig {
        AuditConfig {
            destination: Destination::File(path),
            queue: 1000,
            max_bytes,
            keep,
            flush_every: Duration::from_secs(1),
        }
    }

    #[test]
    fn every_record_is_written_when_the_senders_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.log");
        let (tx, handle) = spawn(config(path.clone(), 1 << 30, 3)).expect("writer starts");
        for i in 0..500 {
            tx.record(record(&format!("uid-{i}")));
        }
        let counters = tx.counters().clone();
        drop(tx);
        handle.join().expect("writer ends cleanly");
        let text = std::fs::read_to_string(&path).expect("log written");
        let uids: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("JSON line")["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(uids.len(), 500);
        assert_eq!(uids[499], "uid-499", "in order");
        assert_eq!(counters.written.load(Ordering::Relaxed), 500);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.log");
        let (tx, handle) = spawn(config(path.clone(), 2_000, 2)).expect("writer starts");
        for i in 0..100 {
            tx.record(record(&format!("uid-{i}")));
        }
        drop(tx);
        handle.join().expect("writer ends cleanly");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert_eq!(names, vec!["audit.log", "audit.log.1", "audit.log.2"]);
        for name in &names {
            let len = std::fs::metadata(dir.path().join(name))
                .expect("file")
                .len();
            assert!(len <= 2_000, "{name} is {len} bytes");
        }
        let last = std::fs::read_to_string(&path).expect("current file");
        assert!(
            last.contains("uid-99"),
            "the newest record is in the current file"
        );
    }

    /// A file on a disk with `room` bytes left: a write that does not fit writes what fits and
    /// fails with "no space", as write(2) does.
    struct SmallDisk {
        data: Vec<u8>,
        room: usize,
    }

    impl Write for SmallDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let free = self.room.saturating_sub(self.data.len());
            if free == 0 {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            let n = buf.len().min(free);
            self.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Append for SmallDisk {
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.data.truncate(len as usize);
            Ok(())
        }
    }

    fn batch_of(lines: &[&str]) -> Batch {
        let mut batch = Batch::default();
        for line in lines {
            batch.push(format!("{line}\n").as_bytes());
        }
        batch
    }

    #[test]
    fn a_full_disk_keeps_whole_lines_and_counts_what_did_not_fit() {
        let mut disk = SmallDisk {
            data: b"old\n".to_vec(),
            room: 4 + 6 + 6 + 3,
        };
        let mut size = 4;
        let (landed, result) = append(
            &mut disk,
            &mut size,
            &batch_of(&["aaaaa", "bbbbb", "ccccc"]),
        );
        assert_eq!(landed, 2, "the two lines that fit land");
        assert!(result.is_err(), "the error is reported");
        assert_eq!(disk.data, b"old\naaaaa\nbbbbb\n", "no torn line is left");
        assert_eq!(size, 16);

        // Room again: writing resumes where it stopped.
        disk.room = 1 << 20;
        let (landed, result) = append(&mut disk, &mut size, &batch_of(&["ddddd"]));
        assert_eq!((landed, result.is_ok()), (1, true));
        assert_eq!(disk.data, b"old\naaaaa\nbbbbb\nddddd\n");
        assert_eq!(size, 22);
    }

    #[test]
    fn records_are_counted_as_written_only_once_on_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.log");
        let mut conf = config(path.clone(), 1 << 30, 3);
        conf.flush_every = Duration::from_secs(3600);
        let counters = AuditCounters::default();
        let mut sink = Sink::open(&conf).expect("sink");
        sink.push(b"{}\n", &conf, &counters);
        assert_eq!(
            counters.written.load(Ordering::Relaxed),
            0,
            "still in memory"
        );
        sink.flush(&counters);
        assert_eq!(counters.written.load(Ordering::Relaxed), 1);
        assert_eq!(std::fs::read(&path).expect("log"), b"{}\n");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn dev_full_loses_and_counts_every_record_without_blocking() {
        let conf = config(PathBuf::from("/dev/full"), 1 << 30, 0);
        let (tx, handle) = spawn(conf).expect("writer starts");
        for i in 0..300 {
            tx.record(record(&format!("uid-{i}")));
        }
        let counters = tx.counters().clone();
        drop(tx);
        handle.join().expect("writer ends cleanly");
        assert_eq!(counters.written.load(Ordering::Relaxed), 0);
        assert_eq!(counters.lost.load(Ordering::Relaxed), 300);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);
        assert!(counters.write_errors.load(Ordering::Relaxed) >= 1);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (tx, rx) = sync_channel(2);
        let sender = AuditSender {
            tx,
            counters: Arc::new(AuditCounters::default()),
        };
        for i in 0..5 {
            sender.record(record(&format!("uid-{i}")));
        }
        assert_eq!(sender.counters().dropped.load(Ordering::Relaxed), 3);
        assert_eq!(rx.try_iter().count(), 2);
    }
}
