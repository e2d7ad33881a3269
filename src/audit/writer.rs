//! The writer thread behind the audit queue: JSON lines, size-based rotation, periodic flush.

use std::{
    fs::{File, OpenOptions},
    io::{self, BufWriter, Write},
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
    /// Longest time a written record waits in the buffer.
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
    Stdout(BufWriter<io::Stdout>),
    File {
        writer: BufWriter<File>,
        path: PathBuf,
        size: u64,
    },
}

struct Sink {
    out: Out,
}

impl Sink {
    fn open(config: &AuditConfig) -> io::Result<Self> {
        let out = match &config.destination {
            Destination::Stdout => Out::Stdout(BufWriter::new(io::stdout())),
            Destination::File(path) => {
                let file = open_append(path)?;
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                Out::File {
                    writer: BufWriter::new(file),
                    path: path.clone(),
                    size,
                }
            }
        };
        Ok(Self { out })
    }

    fn write_line(&mut self, line: &[u8], config: &AuditConfig) -> io::Result<()> {
        if let Out::File { size, .. } = &self.out
            && *size > 0
            && *size + line.len() as u64 > config.max_bytes
        {
            self.rotate(config.keep)?;
        }
        match &mut self.out {
            Out::Stdout(w) => w.write_all(line),
            Out::File { writer, size, .. } => {
                writer.write_all(line)?;
                *size += line.len() as u64;
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Out::Stdout(w) => w.flush(),
            Out::File { writer, .. } => writer.flush(),
        }
    }

    fn rotate(&mut self, keep: usize) -> io::Result<()> {
        let Out::File { writer, path, size } = &mut self.out else {
            return Ok(());
        };
        writer.flush()?;
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
        *writer = BufWriter::new(open_append(path)?);
        *size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn run(rx: Receiver<AuditRecord>, mut sink: Sink, config: &AuditConfig, counters: &AuditCounters) {
    let mut next_flush = Instant::now() + config.flush_every;
    let mut dirty = false;
    let mut line = Vec::with_capacity(1024);
    loop {
        let wait = next_flush.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(record) => {
                line.clear();
                if serde_json::to_writer(&mut line, &record).is_err() {
                    counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                line.push(b'\n');
                match sink.write_line(&line, config) {
                    Ok(()) => {
                        counters.written.fetch_add(1, Ordering::Relaxed);
                        dirty = true;
                    }
                    Err(e) => write_error(counters, &e),
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_flush {
            if dirty && let Err(e) = sink.flush() {
                write_error(counters, &e);
            }
            dirty = false;
            next_flush = Instant::now() + config.flush_every;
        }
    }
    if let Err(e) = sink.flush() {
        write_error(counters, &e);
    }
}

fn write_error(counters: &AuditCounters, e: &io::Error) {
    let n = counters.write_errors.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        tracing::error!(error = %e, errors = n, "Cannot write the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditUser;

    fn record(uid: &str) -> AuditRecord {
        AuditRecord {
            time: crate::audit::now(),
            path: "/validate".into(),
            uid: uid.into(),
            operation: "CREATE".into(),
            dry_run: false,
            user: AuditUser::default(),
            namespace: "ns".into(),
            name: "p".into(),
            mode: Some("enforce".into()),
            verdict: "allowed".into(),
            missing: vec![],
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
