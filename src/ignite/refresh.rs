//! Keeping managed rules current: when the API server's or DNS's addresses move, the rules the
//! patch wrote (listed in the `ignite-netpol.io/managed-rules` annotation) go stale. Pure.
//!
//! A rule is rewritten only when it differs from what the cluster needs now, and in place: every
//! other rule keeps its content and position, and the annotation is rewritten only when a rule
//! moved. A healthy policy gets no patch at all — a GitOps tool must never see drift from us.

use std::collections::BTreeMap;

use json_patch::Patch;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::Value;

use super::{
    config::Compiled,
    environment::Environment,
    flows::FlowKind,
    patch::{self, MANAGED_RULES_ANNOTATION, ManagedRule, managed_rules},
    rules,
};
use crate::policy::Direction;

/// The rules a managed flow kind needs now, as JSON.
fn desired(kind: FlowKind, direction: Direction, env: &Environment, cfg: &Compiled) -> Vec<Value> {
    fn json<T: serde::Serialize>(rules: &[T]) -> Vec<Value> {
        // k8s-openapi rule types always serialise: string keys only.
        rules
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect()
    }
    match (kind, direction) {
        (FlowKind::Dns, Direction::Egress) => json(&rules::dns_rules(&env.dns)),
        (FlowKind::Apiserver, Direction::Egress) => json(&rules::api_server_rules(&env.api_server)),
        (FlowKind::Peer, Direction::Egress) => json(&[rules::peer_egress_rule(cfg)]),
        (FlowKind::Peer, Direction::Ingress) => json(&[rules::peer_ingress_rule(cfg)]),
        _ => Vec::new(),
    }
}

/// The patch that brings a policy's managed rules up to date with the cluster — `None` when they
/// are current. It starts with a `test` of the resourceVersion, so a policy someone edited
/// meanwhile is never clobbered.
pub fn refresh_managed(np: &NetworkPolicy, env: &Environment, cfg: &Compiled) -> Option<Patch> {
    let policy = serde_json::to_value(np).ok()?;
    let managed = managed_rules(&policy);
    if managed.is_empty() {
        return None;
    }
    let resource_version = np.metadata.resource_version.clone()?;
    let mut ops = vec![patch::test(
        &["metadata", "resourceVersion"],
        Value::String(resource_version),
    )];
    let mut recorded: Vec<ManagedRule> = Vec::new();
    for (direction, key) in [
        (Direction::Egress, "egress"),
        (Direction::Ingress, "ingress"),
    ] {
        let current: Vec<Value> = policy
            .pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Which managed kind sits at each index (entries past the end are forgotten).
        let kind_at: BTreeMap<usize, FlowKind> = managed
            .iter()
            .filter(|m| m.direction == direction && m.index < current.len())
            .map(|m| (m.index, m.flow))
            .collect();
        let mut wanted: BTreeMap<FlowKind, Vec<Value>> = BTreeMap::new();
        for kind in kind_at.values() {
            wanted
                .entry(*kind)
                .or_insert_with(|| desired(*kind, direction, env, cfg));
        }
        let stale = |kind: FlowKind| {
            let now: Vec<&Value> = kind_at
                .iter()
                .filter(|(_, k)| **k == kind)
                .map(|(i, _)| &current[*i])
                .collect();
            wanted.get(&kind).is_none_or(|want| {
                now.len() != want.len() || now.iter().zip(want).any(|(a, b)| *a != b)
            })
        };
        let mut rebuilt: Vec<Value> = Vec::with_capacity(current.len());
        let mut written: Vec<FlowKind> = Vec::new();
        for (i, rule) in current.iter().enumerate() {
            match kind_at.get(&i) {
                None => rebuilt.push(rule.clone()),
                Some(&kind) if !stale(kind) => {
                    recorded.push(ManagedRule {
                        direction,
                        index: rebuilt.len(),
                        flow: kind,
                    });
                    rebuilt.push(rule.clone());
                }
                // A stale kind's current rules are written where its first one stood.
                Some(&kind) if !written.contains(&kind) => {
                    written.push(kind);
                    for want in wanted.get(&kind).into_iter().flatten() {
                        recorded.push(ManagedRule {
                            direction,
                            index: rebuilt.len(),
                            flow: kind,
                        });
                        rebuilt.push(want.clone());
                    }
                }
                Some(_) => {}
            }
        }
        if rebuilt != current {
            ops.push(patch::replace(&["spec", key], Value::Array(rebuilt)));
        }
    }
    let mut before = managed.clone();
    let key = |m: &ManagedRule| (m.direction == Direction::Ingress, m.index);
    before.sort_by_key(key);
    recorded.sort_by_key(key);
    if recorded != before {
        let annotation = Value::String(serde_json::to_string(&recorded).unwrap_or_default());
        ops.push(patch::replace(
            &["metadata", "annotations", MANAGED_RULES_ANNOTATION],
            annotation,
        ));
    }
    (ops.len() > 1).then_some(Patch(ops))
}
