use super::*;
use crate::audit::{AuditRecord, AuditSink, AuditUser};

fn record(uid: &str) -> AuditRecord {
    AuditRecord {
        time: crate::audit::now(),
        path: "/validate".into(),
        uid: uid.into(),
        operation: crate::audit::AuditOperation::Create,
        dry_run: false,
        user: AuditUser::default(),
        kind: None,
        namespace: "ns".into(),
        name: "p".into(),
        mode: Some(crate::audit::AuditMode::Enforce),
        verdict: crate::audit::AuditVerdict::Allowed,
        missing: vec![],
        affected: vec![],
        excess: vec![],
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

/// Rotation shifts the numbered files up to the first free slot and leaves those above it in
/// place: nothing is overwritten, and no rename is tried for an empty slot.
#[test]
fn rotation_shifts_files_up_to_the_first_free_slot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.log");
    let numbered = |n: usize| dir.path().join(format!("audit.log.{n}"));
    std::fs::write(&path, "current\n").expect("current");
    std::fs::write(numbered(1), "one\n").expect("one");
    std::fs::write(numbered(3), "three\n").expect("three");
    let mut sink = Sink::open(&config(path.clone(), 1 << 20, 5)).expect("sink");
    sink.rotate(5).expect("rotates");
    let read = |p: PathBuf| std::fs::read_to_string(p).ok();
    assert_eq!(
        read(path.clone()).as_deref(),
        Some(""),
        "a new current file"
    );
    assert_eq!(read(numbered(1)).as_deref(), Some("current\n"));
    assert_eq!(read(numbered(2)).as_deref(), Some("one\n"));
    assert_eq!(
        read(numbered(3)).as_deref(),
        Some("three\n"),
        "above the free slot: in place"
    );
    assert_eq!(read(numbered(4)), None);
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

/// A destination that is not a regular file — `/dev/null`, a FIFO a log shipper reads — is
/// written and never rotated: renaming `/dev/null` as root replaced the device with a file.
#[cfg(unix)]
#[test]
fn a_fifo_is_written_and_never_rotated() {
    use std::{io::Read, os::unix::fs::FileTypeExt};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.fifo");
    let c_path = std::ffi::CString::new(path.to_str().expect("UTF-8 path")).expect("no NUL");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    // The reader opens first in its thread; the writer's open completes once it has.
    let reader_path = path.clone();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::fs::File::open(reader_path)
            .expect("open the FIFO for reading")
            .read_to_string(&mut text)
            .expect("read the FIFO");
        text
    });
    // A size limit far below what is written: a regular file would rotate many times.
    let (tx, handle) = spawn(config(path.clone(), 500, 3)).expect("writer starts");
    for i in 0..200 {
        tx.record(record(&format!("uid-{i}")));
    }
    let counters = tx.counters().clone();
    drop(tx);
    handle.join().expect("writer ends cleanly");
    let text = reader.join().expect("reader ends");
    assert_eq!(text.lines().count(), 200, "every record reached the reader");
    assert_eq!(counters.written.load(Ordering::Relaxed), 200);
    let kind = std::fs::symlink_metadata(&path)
        .expect("the FIFO is still there")
        .file_type();
    assert!(kind.is_fifo(), "still a FIFO: {kind:?}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec!["audit.fifo"], "nothing rotated: {names:?}");
}
