//! The audit record: one line per review (or reconciler write), with stable snake_case field
//! names and typed verdict, operation and mode. It knows nothing of how decisions are made: the
//! admission layer fills it from a review's outcome.

use serde::Serialize;

use crate::json;

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

impl AuditRecord {
    /// Appends the record as one JSON object: byte for byte what `serde_json` writes for it
    /// (the same fields, in the same order, skipped where the derive skips them), written by
    /// hand. A denial's record is mostly its flows' text, which `serde_json` escapes byte by
    /// byte. Only a patch, which holds arbitrary JSON, goes through `serde_json`.
    pub fn write_line(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(br#"{"time":"#);
        json::string(out, &self.time);
        out.extend_from_slice(br#","path":"#);
        json::string(out, &self.path);
        out.extend_from_slice(br#","uid":"#);
        json::string(out, &self.uid);
        out.extend_from_slice(br#","operation":""#);
        out.extend_from_slice(self.operation.wire().as_bytes());
        out.extend_from_slice(if self.dry_run {
            br#"","dry_run":true,"user":{"#
        } else {
            br#"","dry_run":false,"user":{"#
        });
        if let Some(username) = &self.user.username {
            out.extend_from_slice(br#""username":"#);
            json::string(out, username);
            out.push(b',');
        }
        out.extend_from_slice(br#""groups":"#);
        json::strings(out, &self.user.groups);
        out.push(b'}');
        if let Some(kind) = &self.kind {
            out.extend_from_slice(br#","kind":"#);
            json::string(out, kind);
        }
        out.extend_from_slice(br#","namespace":"#);
        json::string(out, &self.namespace);
        out.extend_from_slice(br#","name":"#);
        json::string(out, &self.name);
        if let Some(mode) = self.mode {
            out.extend_from_slice(br#","mode":""#);
            out.extend_from_slice(mode.as_str().as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(br#","verdict":""#);
        out.extend_from_slice(self.verdict.as_str().as_bytes());
        out.extend_from_slice(br#"","missing":"#);
        flows(out, &self.missing);
        if !self.affected.is_empty() {
            out.extend_from_slice(br#","affected":"#);
            json::array(out, &self.affected, |out, a| {
                out.extend_from_slice(br#"{"namespace":"#);
                json::string(out, &a.namespace);
                out.extend_from_slice(br#","mode":""#);
                out.extend_from_slice(a.mode.as_str().as_bytes());
                out.extend_from_slice(br#"","cut":"#);
                flows(out, &a.cut);
                out.push(b'}');
            });
        }
        if !self.excess.is_empty() {
            out.extend_from_slice(br#","excess":"#);
            json::array(out, &self.excess, |out, e| {
                out.extend_from_slice(br#"{"kind":"#);
                json::string(out, &e.kind);
                out.extend_from_slice(br#","rule":"#);
                json::string(out, &e.rule);
                out.extend_from_slice(br#","opens":"#);
                json::strings(out, &e.opens);
                out.push(b'}');
            });
        }
        if !self.unverified.is_empty() {
            out.extend_from_slice(br#","unverified":"#);
            json::strings(out, &self.unverified);
        }
        if let Some(patch) = &self.patch {
            out.extend_from_slice(br#","patch":"#);
            serde_json::to_writer(&mut *out, patch)?;
        }
        out.extend_from_slice(br#","warnings":"#);
        json::strings(out, &self.warnings);
        if let Some(error) = &self.error {
            out.extend_from_slice(br#","error":"#);
            json::string(out, error);
        }
        out.extend_from_slice(br#","status":"#);
        json::number(out, self.status);
        out.extend_from_slice(br#","latency_us":"#);
        json::number(out, self.latency_us);
        out.push(b'}');
        Ok(())
    }
}

/// Appends flows as a JSON array.
fn flows(out: &mut Vec<u8>, flows: &[AuditFlow]) {
    json::array(out, flows, |out, f| {
        out.extend_from_slice(br#"{"flow":"#);
        json::string(out, &f.flow);
        out.extend_from_slice(br#","from":"#);
        json::string(out, &f.from);
        out.extend_from_slice(br#","target":"#);
        json::string(out, &f.target);
        out.extend_from_slice(br#","port":"#);
        json::number(out, f.port);
        out.extend_from_slice(br#","protocol":"#);
        json::string(out, &f.protocol);
        out.extend_from_slice(br#","reason":"#);
        json::string(out, &f.reason);
        out.extend_from_slice(br#","blocked_by":"#);
        json::strings(out, &f.blocked_by);
        if let Some(name) = &f.name {
            out.extend_from_slice(br#","name":"#);
            json::string(out, name);
        }
        out.push(b'}');
    });
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

    /// The spelling in the record (serde's: `UNKNOWN` in capitals like the rest).
    fn wire(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            known => known.as_str(),
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

impl AuditMode {
    /// The spelling used in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Patch => "patch",
            Self::Warn => "warn",
            Self::Off => "off",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Text rich in what JSON escapes, multi-byte UTF-8 included; `seed` varies it.
    fn text(seed: u64) -> String {
        let alphabet: Vec<char> = "ab \"\\\n\t\u{1}\u{1f}é—/:".chars().collect();
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..(seed % 23))
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                alphabet[(state >> 33) as usize % alphabet.len()]
            })
            .collect()
    }

    fn flow(seed: u64, name: bool) -> AuditFlow {
        AuditFlow {
            flow: text(seed),
            from: text(seed + 1),
            target: text(seed + 2),
            port: u16::try_from(seed * 4_099 % 65_536).unwrap_or(0),
            protocol: text(seed + 3),
            reason: text(seed + 4),
            blocked_by: (0..seed % 3).map(|i| text(seed + 5 + i)).collect(),
            name: name.then(|| text(seed + 9)),
        }
    }

    /// Every optional field absent, then present, in turn: the hand-written line is what serde
    /// writes for the same record.
    #[test]
    fn the_line_is_what_serde_json_writes_for_the_record() {
        let operations = [
            AuditOperation::Create,
            AuditOperation::Update,
            AuditOperation::Delete,
            AuditOperation::Connect,
            AuditOperation::Patch,
            AuditOperation::Unknown,
        ];
        let modes = [
            AuditMode::Enforce,
            AuditMode::Patch,
            AuditMode::Warn,
            AuditMode::Off,
        ];
        let verdicts = [
            AuditVerdict::Allowed,
            AuditVerdict::Denied,
            AuditVerdict::Patched,
            AuditVerdict::Warned,
            AuditVerdict::Invalid,
        ];
        let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
            {"op": "add", "path": "/spec/egress/-", "value": {"to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}]}},
            {"op": "test", "path": "/metadata/resourceVersion", "value": "4\"2"}
        ]))
        .expect("a JSON Patch");
        for seed in 0..64u64 {
            let on = |bit: u64| seed >> bit & 1 == 1;
            let record = AuditRecord {
                time: text(seed),
                path: text(seed + 1),
                uid: text(seed + 2),
                operation: operations[seed as usize % operations.len()],
                dry_run: on(0),
                user: AuditUser {
                    username: on(1).then(|| text(seed + 3)),
                    groups: (0..seed % 3).map(|i| text(seed + 4 + i)).collect(),
                },
                kind: on(2).then(|| text(seed + 7)),
                namespace: text(seed + 8),
                name: text(seed + 9),
                mode: on(3).then(|| modes[seed as usize % modes.len()]),
                verdict: verdicts[seed as usize % verdicts.len()],
                missing: (0..seed % 3).map(|i| flow(seed + i, on(4))).collect(),
                affected: (0..u64::from(on(5)) * (1 + seed % 2))
                    .map(|i| AuditImpact {
                        namespace: text(seed + i),
                        mode: modes[(seed + i) as usize % modes.len()],
                        cut: (0..1 + i).map(|j| flow(seed + j, !on(4))).collect(),
                    })
                    .collect(),
                excess: (0..u64::from(on(4)) * (1 + seed % 2))
                    .map(|i| AuditExcess {
                        kind: text(seed + i),
                        rule: text(seed + i + 1),
                        opens: (0..i + 1).map(|j| text(seed + j + 2)).collect(),
                    })
                    .collect(),
                unverified: (0..seed % 2).map(|i| text(seed + i)).collect(),
                patch: on(2).then(|| patch.clone()),
                warnings: (0..seed % 4).map(|i| text(seed + 11 + i)).collect(),
                error: on(1).then(|| text(seed + 12)),
                status: [200, 400, 403, 500][seed as usize % 4],
                latency_us: seed * seed * 7_919,
            };
            let mut line = Vec::new();
            record.write_line(&mut line).expect("writes");
            assert_eq!(
                String::from_utf8(line).expect("UTF-8"),
                serde_json::to_string(&record).expect("serde encodes a record"),
                "{record:?}"
            );
        }
        let reconciled = AuditRecord::reconciled("ns", "np", patch, 12);
        let mut line = Vec::new();
        reconciled.write_line(&mut line).expect("writes");
        assert_eq!(
            String::from_utf8(line).expect("UTF-8"),
            serde_json::to_string(&reconciled).expect("serde encodes a record")
        );
    }
}
