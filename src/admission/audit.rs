//! The audit record of a review, built from its outcome: who asked what, the decision's verdict,
//! mode and missing flows, and what was sent.

use super::Reviewed;
use crate::{
    audit::{
        AuditExcess, AuditFlow, AuditImpact, AuditMode, AuditOperation, AuditRecord, AuditUser,
        AuditVerdict, now,
    },
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

/// Moved, not copied: the decision is consumed by its record.
impl From<MissingFlow> for AuditFlow {
    fn from(m: MissingFlow) -> Self {
        Self {
            flow: m.flow.to_string(),
            from: m.from,
            target: m.target,
            port: m.port,
            protocol: m.protocol.to_string(),
            reason: m.reason,
            blocked_by: m.blocked_by,
            name: m.name,
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

/// The record of one answered request on `path`, taking what it records from the outcome.
pub fn record(path: &str, reviewed: Option<Reviewed>, sent: Sent) -> AuditRecord {
    let (info, decision) = reviewed.map_or((None, None), |r| (r.request, r.decision));
    let mut record = AuditRecord {
        time: now(),
        path: path.to_string(),
        uid: sent.uid.unwrap_or_default(),
        operation: AuditOperation::Unknown,
        dry_run: false,
        user: AuditUser {
            username: None,
            groups: Vec::new(),
        },
        kind: None,
        namespace: String::new(),
        name: String::new(),
        mode: None,
        verdict: AuditVerdict::Invalid,
        missing: Vec::new(),
        affected: Vec::new(),
        excess: Vec::new(),
        unverified: Vec::new(),
        patch: None,
        warnings: Vec::new(),
        error: sent.error,
        status: sent.status,
        latency_us: sent.latency_us,
    };
    if let Some(i) = info {
        record.uid = i.uid;
        record.operation = i.operation;
        record.dry_run = i.dry_run;
        record.user = AuditUser {
            username: i.username,
            groups: i.groups,
        };
        record.namespace = i.namespace;
        record.name = i.name;
    }
    if let Some(d) = decision {
        record.missing = d.missing.into_iter().map(AuditFlow::from).collect();
        record.affected = d
            .affected
            .into_iter()
            .map(|i| AuditImpact {
                namespace: i.namespace,
                mode: i.mode.into(),
                cut: i.cut.into_iter().map(AuditFlow::from).collect(),
            })
            .collect();
        record.excess = d
            .excess
            .into_iter()
            .map(|f| AuditExcess {
                kind: f.kind.name().to_string(),
                rule: f.rule,
                opens: f
                    .opens
                    .into_iter()
                    .map(|o| format!("{} to {}", o.ports.join(","), o.to))
                    .collect(),
            })
            .collect();
        record.kind = (d.kind != "NetworkPolicy").then(|| d.kind.to_string());
        record.name = d.name;
        record.mode = Some(d.mode.into());
        record.verdict = d.verdict.into();
        record.unverified = d.unverified;
        record.patch = d.patch;
        record.warnings = d.warnings;
    }
    record
}
