//! The audit log: one typed JSON record per review, written off the request path.
//!
//! Handlers hand records to a bounded queue and never wait: a full queue drops the record and
//! counts it. A dedicated writer thread appends JSON lines to a file (rotated by size, keeping N
//! old files) or to stdout, writes at least every second, and — once every sender is gone, as
//! at shutdown — drains the queue and writes it out before it ends, so no record of an answered
//! review is lost while the disk has room. Write errors (a full disk) never reach admission: the
//! records that do not fit are counted as lost and logged, and writing resumes once there is room.

mod writer;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
    mpsc::{SyncSender, TrySendError},
};

use serde::Serialize;

use crate::ignite::flows::MissingFlow;

pub use writer::{AuditConfig, Destination, spawn};

/// One review, as the security team reads it.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC.
    pub time: String,
    /// `/validate` or `/mutate` (or `reconcile` for the reconciler's own changes).
    pub path: String,
    pub uid: String,
    pub operation: String,
    pub dry_run: bool,
    pub user: AuditUser,
    pub namespace: String,
    pub name: String,
    /// The namespace's mode, when a decision was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `allowed`, `denied`, `patched`, `warned` — or `invalid` for a request that could not be
    /// decided.
    pub verdict: String,
    pub missing: Vec<MissingFlow>,
    /// Targets the cluster view lacked, so their flows could not be checked (with the key to set).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<json_patch::Patch>,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The HTTP status sent.
    pub status: u16,
    /// From receiving the request to having the answer, in microseconds.
    pub latency_us: u64,
}

/// Who made the request.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub groups: Vec<String>,
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

impl AuditSender {
    /// Queues a record without waiting; a full queue drops it and counts the drop.
    pub fn record(&self, record: AuditRecord) {
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

    /// The counters shared with the writer.
    pub fn counters(&self) -> &Arc<AuditCounters> {
        &self.counters
    }
}

/// The current time as RFC 3339 (UTC).
pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}
