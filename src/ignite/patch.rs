//! The JSON Patch (RFC 6902) that appends the missing rules to the incoming policy and records
//! them in the `ignite-netpol.io/managed-rules` annotation, so they can be found and kept
//! current later. Operations are built as typed `json_patch` values and only then encoded.

use json_patch::{AddOperation, Patch, PatchOperation, ReplaceOperation, TestOperation};
use jsonptr::PointerBuf;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    config::Compiled,
    decision::{Operation, PolicyRequest},
    environment::Environment,
    flows::{self, FlowKind},
    rules::Additions,
};
use crate::policy::{Direction, PodInfo, Policy, PolicyChange, View};

/// The annotation that lists the rules ignite-netpol added to a policy.
pub const MANAGED_RULES_ANNOTATION: &str = "ignite-netpol.io/managed-rules";

/// One rule ignite-netpol manages: where it is and what flow it is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedRule {
    pub direction: Direction,
    pub index: usize,
    pub flow: FlowKind,
}

/// The rules recorded in a policy's annotation (none when absent or unreadable).
pub fn managed_rules(policy: &Value) -> Vec<ManagedRule> {
    policy
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MANAGED_RULES_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// The typed operations every patch of ours is made of, at a path given as unescaped tokens.
pub(super) fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

pub(super) fn replace(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Replace(ReplaceOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

pub(super) fn test(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Test(TestOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

/// The patch that appends `additions` to `policy` (a NetworkPolicy as JSON).
pub fn build(policy: &Value, additions: &Additions) -> Patch {
    let mut ops = Vec::new();
    let mut managed = managed_rules(policy);
    let mut append = |key: &str,
                      direction: Direction,
                      rules: Vec<(FlowKind, Value)>,
                      ops: &mut Vec<PatchOperation>| {
        if rules.is_empty() {
            return;
        }
        let existing = policy
            .pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(Vec::len);
        let start = existing.unwrap_or(0);
        for (i, (flow, _)) in rules.iter().enumerate() {
            managed.push(ManagedRule {
                direction,
                index: start + i,
                flow: *flow,
            });
        }
        match existing {
            Some(_) => ops.extend(rules.into_iter().map(|(_, r)| add(&["spec", key, "-"], r))),
            None => ops.push(add(
                &["spec", key],
                Value::Array(rules.into_iter().map(|(_, r)| r).collect()),
            )),
        }
    };
    let egress = additions
        .egress
        .iter()
        .map(|a| (a.flow, json(&*a.rule)))
        .collect();
    let ingress = additions
        .ingress
        .iter()
        .map(|a| (a.flow, json(&*a.rule)))
        .collect();
    append("egress", Direction::Egress, egress, &mut ops);
    append("ingress", Direction::Ingress, ingress, &mut ops);

    let recorded = Value::String(serde_json::to_string(&managed).unwrap_or_default());
    match policy.pointer("/metadata/annotations") {
        Some(Value::Object(_)) => ops.push(add(
            &["metadata", "annotations", MANAGED_RULES_ANNOTATION],
            recorded,
        )),
        _ => ops.push(add(
            &["metadata", "annotations"],
            serde_json::json!({ MANAGED_RULES_ANNOTATION: recorded }),
        )),
    }
    Patch(ops)
}

/// Applies a decision's patch to the policy it was computed for: what the API server stores.
pub fn apply(np: &NetworkPolicy, patch: &Patch) -> Result<NetworkPolicy, String> {
    let mut value = serde_json::to_value(np).map_err(|e| e.to_string())?;
    json_patch::patch(&mut value, patch).map_err(|e| format!("the patch does not apply: {e}"))?;
    serde_json::from_value(value)
        .map_err(|e| format!("the patched policy is not a NetworkPolicy: {e}"))
}

/// A rule as JSON; k8s-openapi types always serialise (string keys only).
fn json<T: Serialize>(rule: &T) -> Value {
    serde_json::to_value(rule).unwrap_or(Value::Null)
}

/// Whether `policy` can carry `additions`: it must select the Ignite pods and affect each
/// direction it would get rules for (adding rules never changes which pods a policy isolates).
pub(super) fn fits(policy: &Policy, ignite: &PodInfo, additions: &Additions) -> bool {
    policy.pod_selector.matches(&ignite.labels)
        && (additions.egress.is_empty() || policy.egress.is_some())
        && (additions.ingress.is_empty() || policy.ingress.is_some())
        && !additions.is_empty()
}

/// The patch that adds `additions` to the incoming policy — checked before it is returned: the
/// patched object must be a valid NetworkPolicy and make every required flow pass.
pub(super) fn for_request(
    env: &Environment,
    cfg: &Compiled,
    req: &PolicyRequest<'_>,
    additions: &Additions,
    fits_incoming: bool,
    judged: &[&PodInfo],
) -> Result<json_patch::Patch, String> {
    let Some(object) = req.object.filter(|_| req.operation != Operation::Delete) else {
        return Err("a deletion cannot be patched".into());
    };
    if additions.is_empty() {
        return Err("the missing flows are blocked by other pods' ingress policies, which this policy cannot fix".into());
    }
    if !fits_incoming {
        return Err(format!(
            "{} does not select the Ignite pods for the needed directions, so rules added to it would not apply",
            req.name
        ));
    }
    let original = serde_json::to_value(object).map_err(|e| e.to_string())?;
    let patch = build(&original, additions);
    let mut np = apply(object, &patch)?;
    np.metadata.namespace = Some(req.namespace.to_string());
    np.metadata.name.get_or_insert_with(|| req.name.to_string());
    let compiled =
        Policy::compile(&np).map_err(|e| format!("the patched policy is invalid: {e}"))?;
    let view = View::with_change(
        &env.cluster,
        PolicyChange {
            namespace: req.namespace,
            name: req.name,
            policy: Some(&compiled),
        },
    );
    let after = flows::check(&view, env, cfg, req.namespace, judged);
    if after.missing.is_empty() {
        Ok(patch)
    } else {
        let left: Vec<String> = after
            .missing
            .iter()
            .map(|m| format!("{} to {} {}/{}", m.flow, m.target, m.port, m.protocol))
            .collect();
        Err(format!(
            "even with the added rules, other policies still block: {}",
            left.join(", ")
        ))
    }
}
