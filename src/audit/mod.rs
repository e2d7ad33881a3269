//! The audit log: one typed JSON record per review, written off the request path.
//!
//! Handlers encode a record as its JSON line where it was built, and hand the line to a bounded
//! queue without waiting: a full queue drops it and counts it. (Encoded by the thread that
//! built it, a record crosses to the writer as one buffer, not as the dozens of small strings a
//! denial's flows hold: those are freed where they were allocated, and no other core reads
//! them.) A dedicated writer thread appends JSON lines to a file (rotated by size, keeping N
//! old files) or to stdout, writes at least every second, and — once every sender is gone, as
//! at shutdown — drains the queue and writes it out before it ends, so no record of an answered
//! review is lost while the disk has room. Write errors (a full disk) never reach admission: the
//! records that do not fit are counted as lost and logged, and writing resumes once there is room.

mod record;
mod writer;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
    mpsc::{SyncSender, TrySendError},
};

pub use record::{
    AuditExcess, AuditFlow, AuditImpact, AuditMode, AuditOperation, AuditRecord, AuditUser,
    AuditVerdict,
};
pub use writer::{AuditConfig, Destination, spawn};

/// Where records go: the server's queue (closed at shutdown), or a test's list.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Queues a record without waiting.
    fn record(&self, record: AuditRecord);
}

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct AuditCounters {
    /// Records on disk (or stdout).
    pub written: AtomicU64,
    /// Records dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Records that could not be written (a full disk, an I/O error).
    pub lost: AtomicU64,
    /// Failed writes, rotations and flushes.
    pub write_errors: AtomicU64,
}

/// The handle handlers record through. Cloning is cheap; the writer ends when every clone is
/// dropped.
#[derive(Clone, Debug)]
pub struct AuditSender {
    tx: SyncSender<Vec<u8>>,
    counters: Arc<AuditCounters>,
}

impl AuditSink for AuditSender {
    /// Encodes a record as its line and queues it without waiting; a full queue drops it and
    /// counts the drop, a record that cannot be encoded is counted lost.
    fn record(&self, record: AuditRecord) {
        let mut line = Vec::with_capacity(line_capacity(&record));
        if let Err(error) = record.write_line(&mut line) {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            let n = self.counters.write_errors.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::error!(uid = %record.uid, %error, "Cannot encode an audit record");
            }
            return;
        }
        line.push(b'\n');
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(uid = %record.uid, dropped, "Audit queue full: record dropped");
                }
            }
        }
    }
}

impl AuditSender {
    /// The counters shared with the writer.
    pub fn counters(&self) -> &Arc<AuditCounters> {
        &self.counters
    }
}

/// Room for a record's line, so that it is written without growing: an admission's is about
/// 400 bytes; a denial's 1.5–2.2 KB, most of it its flows (about 300 bytes each) and warnings.
fn line_capacity(record: &AuditRecord) -> usize {
    let items = record.missing.len()
        + record.excess.len()
        + record
            .affected
            .iter()
            .map(|a| 1 + a.cut.len())
            .sum::<usize>();
    let warnings: usize = record.warnings.iter().map(|w| w.len() + 3).sum();
    512 + 384 * items + warnings + record.error.as_ref().map_or(0, String::len)
}

/// The current time as RFC 3339 (UTC).
pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}
