//! The audit log: one typed JSON record per review, written off the request path.
//!
//! Handlers hand records to a bounded queue and never wait: a full queue drops the record and
//! counts it. A dedicated writer thread appends JSON lines to a file (rotated by size, keeping N
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
    tx: SyncSender<AuditRecord>,
    counters: Arc<AuditCounters>,
}

impl AuditSink for AuditSender {
    /// Queues a record without waiting; a full queue drops it and counts the drop.
    fn record(&self, record: AuditRecord) {
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(r)) | Err(TrySendError::Disconnected(r)) => {
                let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(uid = %r.uid, dropped, "Audit queue full: record dropped");
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

/// The current time as RFC 3339 (UTC).
pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}
