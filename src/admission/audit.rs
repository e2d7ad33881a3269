//! The audit record of a review, built from its outcome: who asked what, the decision's verdict,
//! mode and missing flows, and what was sent.

use super::Reviewed;
use crate::{
    audit::{AuditFlow, AuditMode, AuditOperation, AuditRecord, AuditUser, AuditVerdict, now},
    ignite::{Mode, Verdict, flows::MissingFlow},
};

impl From<Mode> for AuditMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Enforce => Self::Enforce,
            Mode::Patch => Self::Patch,
            Mode::Warn => Self::Warn,
            Mode::Off => Self::Off,
        }
    }
}

impl From<Verdict> for AuditVerdict {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Allowed => Self::Allowed,
            Verdict::Denied => Self::Denied,
            Verdict::Patched => Self::Patched,
            Verdict::Warned => Self::Warned,
        }
    }
}

impl From<&MissingFlow> for AuditFlow {
    fn from(m: &MissingFlow) -> Self {
        Self {
            flow: m.flow.to_string(),
            from: m.from.clone(),
            target: m.target.clone(),
            port: m.port,
            protocol: m.protocol.to_string(),
            reason: m.reason.clone(),
            blocked_by: m.blocked_by.clone(),
            name: m.name.clone(),
        }
    }
}

/// What was sent for a request, for its audit record.
#[derive(Debug)]
pub struct Sent {
    /// The HTTP status.
    pub status: u16,
    /// Why the request could not be decided, when it could not.
    pub error: Option<String>,
    /// The uid, when it was read without a full review (an unsynced answer).
    pub uid: Option<String>,
    pub latency_us: u64,
}

/// The record of one answered request on `path`.
pub fn record(path: &str, reviewed: Option<&Reviewed>, sent: Sent) -> AuditRecord {
    let decision = reviewed.and_then(|r| r.decision.as_ref());
    let info = reviewed.and_then(|r| r.request.as_ref());
    AuditRecord {
        time: now(),
        path: path.to_string(),
        uid: info.map(|i| i.uid.clone()).or(sent.uid).unwrap_or_default(),
        operation: info.map_or(AuditOperation::Unknown, |i| i.operation),
        dry_run: info.is_some_and(|i| i.dry_run),
        user: AuditUser {
            username: info.and_then(|i| i.username.clone()),
            groups: info.map(|i| i.groups.clone()).unwrap_or_default(),
        },
        namespace: info.map(|i| i.namespace.clone()).unwrap_or_default(),
        name: decision
            .map(|d| d.name.clone())
            .or_else(|| info.map(|i| i.name.clone()))
            .unwrap_or_default(),
        mode: decision.map(|d| d.mode.into()),
        verdict: decision.map_or(AuditVerdict::Invalid, |d| d.verdict.into()),
        missing: decision
            .map(|d| d.missing.iter().map(AuditFlow::from).collect())
            .unwrap_or_default(),
        unverified: decision.map(|d| d.unverified.clone()).unwrap_or_default(),
        patch: decision.and_then(|d| d.patch.clone()),
        warnings: decision.map(|d| d.warnings.clone()).unwrap_or_default(),
        error: sent.error,
        status: sent.status,
        latency_us: sent.latency_us,
    }
}
