//! The audit record: one line per review (or reconciler write), with stable snake_case field
//! names and typed verdict, operation and mode. It knows nothing of how decisions are made: the
//! admission layer fills it from a review's outcome.

use serde::Serialize;

/// One review, as the security team reads it.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC.
    pub time: String,
    /// `/validate` or `/mutate` (or `reconcile` for the reconciler's own changes).
    pub path: String,
    pub uid: String,
    pub operation: AuditOperation,
    pub dry_run: bool,
    pub user: AuditUser,
    /// The kind written, when it is not a NetworkPolicy (a cluster-wide policy: then
    /// `namespace` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub namespace: String,
    pub name: String,
    /// The namespace's mode, when a decision was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AuditMode>,
    pub verdict: AuditVerdict,
    pub missing: Vec<AuditFlow>,
    /// Other Ignite namespaces the change cuts off, with the flows it cuts there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<AuditImpact>,
    /// What the Ignite pods' egress allows beyond their flows after the change, per rule.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excess: Vec<AuditExcess>,
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

impl AuditRecord {
    /// The reconciler's rewrite of a policy's managed rules.
    pub fn reconciled(
        namespace: &str,
        name: &str,
        patch: json_patch::Patch,
        latency_us: u64,
    ) -> Self {
        Self {
            time: super::now(),
            path: "reconcile".into(),
            uid: String::new(),
            operation: AuditOperation::Patch,
            dry_run: false,
            user: AuditUser {
                username: Some("ignite-netpol".into()),
                groups: Vec::new(),
            },
            kind: None,
            namespace: namespace.to_string(),
            name: name.to_string(),
            mode: None,
            verdict: AuditVerdict::Patched,
            missing: Vec::new(),
            affected: Vec::new(),
            excess: Vec::new(),
            unverified: Vec::new(),
            patch: Some(patch),
            warnings: Vec::new(),
            error: None,
            status: 200,
            latency_us,
        }
    }
}

/// What was asked (the AdmissionReview's operation, or the reconciler's `PATCH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuditOperation {
    Create,
    Update,
    Delete,
    Connect,
    Patch,
    /// The request could not be read that far.
    Unknown,
}

impl AuditOperation {
    /// The spelling used in the record and the metrics' `operation` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Patch => "PATCH",
            Self::Unknown => "unknown",
        }
    }
}

/// The namespace's mode as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditMode {
    Enforce,
    Patch,
    Warn,
    Off,
}

/// The outcome as recorded: a decision's verdict, or `invalid` for a request that could not be
/// decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditVerdict {
    Allowed,
    Denied,
    Patched,
    Warned,
    Invalid,
}

impl AuditVerdict {
    /// The spelling used in the record and the metrics' `verdict` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Patched => "patched",
            Self::Warned => "warned",
            Self::Invalid => "invalid",
        }
    }
}

/// A required flow that was cut, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditFlow {
    /// `dns`, `apiserver`, `peer` or `extra`.
    pub flow: String,
    pub from: String,
    pub target: String,
    pub port: u16,
    pub protocol: String,
    pub reason: String,
    pub blocked_by: Vec<String>,
    /// For `extra` flows, the configured name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An Ignite namespace a change cuts off, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditImpact {
    pub namespace: String,
    pub mode: AuditMode,
    pub cut: Vec<AuditFlow>,
}

/// Who made the request.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub groups: Vec<String>,
}

/// One excess finding: the rule and what it opens beyond Ignite's flows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditExcess {
    /// `any-destination`, `wide-ip-block`, `wide-selector`, `extra-ports`, `not-isolated`,
    /// `tier-accept`.
    pub kind: String,
    /// `namespace/policy egress[index]`, or what stands for it.
    pub rule: String,
    /// `53/UDP,53/TCP to any address (the internet, …)`, one per destination group.
    pub opens: Vec<String>,
}
