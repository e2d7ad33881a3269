//! The cluster-wide view: which in-scope namespaces have Ignite pods cut off (for `scan`, the
//! reconciler's report and its gauge), and which managed rules went stale because the API
//! server's or DNS's addresses moved (for the reconciler's updates). Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    config::{Compiled, Mode},
    flows::{self, FlowKind, MissingFlow},
    patch::{MANAGED_RULES_ANNOTATION, ManagedRule, managed_rules},
    rules, scope,
    targets::Environment,
};
use crate::policy::{Direction, View};

/// One namespace's state.
#[derive(Clone, Debug, Serialize)]
pub struct NamespaceReport {
    pub namespace: String,
    pub mode: Mode,
    pub ignite_pods: usize,
    pub missing: Vec<MissingFlow>,
    /// Flows that only block scaling out (fewer than two Ignite pods).
    pub peer_warnings: usize,
    /// Pods that listen on an Ignite peer port but match no `ignitePods` selector.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched_pods: Vec<String>,
}

impl NamespaceReport {
    /// Whether a required flow is cut.
    pub fn broken(&self) -> bool {
        !self.missing.is_empty()
    }

    /// The policies that block the missing flows.
    pub fn offending_policies(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .missing
            .iter()
            .flat_map(|m| m.blocked_by.iter().cloned())
            .collect();
        p.sort();
        p.dedup();
        p
    }
}

/// Judges every in-scope namespace that runs Ignite pods, sorted by name; a namespace whose only
/// Ignite-like pods miss the `ignitePods` selector is listed too, with them named.
pub fn scan(env: &Environment, cfg: &Compiled) -> Vec<NamespaceReport> {
    let view = View::new(&env.cluster);
    let mut names: Vec<&str> = env.cluster.namespaces().map(|n| n.name.as_str()).collect();
    names.sort_unstable();
    let mut out = Vec::new();
    for ns in names {
        let ignite = scope::ignite_pods(&env.cluster, cfg, ns);
        let (mode, _) = scope::namespace_mode(&env.cluster, cfg, ns, None, !ignite.is_empty());
        let unmatched: Vec<String> = scope::suspect_pods(&env.cluster, cfg, ns)
            .iter()
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect();
        let labelled_off = mode == Mode::Off
            && env
                .cluster
                .namespace(ns)
                .is_some_and(|n| n.labels.contains_key(&cfg.config.mode_label));
        if labelled_off || (ignite.is_empty() && unmatched.is_empty()) {
            continue;
        }
        let report = if ignite.is_empty() {
            flows::FlowReport::default()
        } else {
            flows::check(&view, env, cfg, ns, &ignite)
        };
        out.push(NamespaceReport {
            namespace: ns.to_string(),
            mode,
            ignite_pods: ignite.len(),
            missing: report.missing,
            peer_warnings: report.peer_warnings.len(),
            unmatched_pods: unmatched,
        });
    }
    out
}

/// Namespaces cut off, per missing flow kind (for the gauge).
pub fn cut_off_by_flow(reports: &[NamespaceReport]) -> BTreeMap<FlowKind, usize> {
    let mut counts = BTreeMap::new();
    for r in reports {
        let mut kinds: Vec<FlowKind> = r.missing.iter().map(|m| m.flow).collect();
        kinds.sort();
        kinds.dedup();
        for k in kinds {
            *counts.entry(k).or_default() += 1;
        }
    }
    counts
}

/// The current rules for a managed flow kind.
fn desired(kind: FlowKind, direction: Direction, env: &Environment, cfg: &Compiled) -> Vec<Value> {
    let to_json = |v: serde_json::Result<Value>| v.unwrap_or(Value::Null);
    match (kind, direction) {
        (FlowKind::Dns, Direction::Egress) => rules::dns_rules(env)
            .iter()
            .map(|r| to_json(serde_json::to_value(r)))
            .collect(),
        (FlowKind::Apiserver, Direction::Egress) => rules::api_server_rules(env)
            .iter()
            .map(|r| to_json(serde_json::to_value(r)))
            .collect(),
        (FlowKind::Peer, Direction::Egress) => {
            vec![to_json(serde_json::to_value(rules::peer_egress_rule(cfg)))]
        }
        (FlowKind::Peer, Direction::Ingress) => {
            vec![to_json(serde_json::to_value(rules::peer_ingress_rule(cfg)))]
        }
        _ => Vec::new(),
    }
}

/// The patch that brings a policy's managed rules up to date with the cluster — `None` when they
/// are current. Only rules listed in the `ignite-netpol.io/managed-rules` annotation are touched;
/// every other rule keeps its content and order. The patch starts with a `test` of the
/// resourceVersion, so a policy someone edited meanwhile is never clobbered.
pub fn refresh_managed(
    np: &NetworkPolicy,
    env: &Environment,
    cfg: &Compiled,
) -> Option<json_patch::Patch> {
    let policy = serde_json::to_value(np).ok()?;
    let managed = managed_rules(&policy);
    if managed.is_empty() {
        return None;
    }
    let resource_version = np.metadata.resource_version.clone()?;
    let mut ops =
        vec![json!({"op": "test", "path": "/metadata/resourceVersion", "value": resource_version})];
    let mut new_managed: Vec<ManagedRule> = Vec::new();
    let mut changed = false;
    for (direction, key) in [
        (Direction::Egress, "egress"),
        (Direction::Ingress, "ingress"),
    ] {
        let current: Vec<Value> = policy
            .pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mine: Vec<&ManagedRule> = managed
            .iter()
            .filter(|m| m.direction == direction)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut kinds: Vec<FlowKind> = mine.iter().map(|m| m.flow).collect();
        kinds.dedup();
        let kept: Vec<Value> = current
            .iter()
            .enumerate()
            .filter(|(i, _)| !mine.iter().any(|m| m.index == *i))
            .map(|(_, r)| r.clone())
            .collect();
        let mut rebuilt = kept;
        for kind in kinds {
            for rule in desired(kind, direction, env, cfg) {
                new_managed.push(ManagedRule {
                    direction,
                    index: rebuilt.len(),
                    flow: kind,
                });
                rebuilt.push(rule);
            }
        }
        if rebuilt != current {
            changed = true;
            ops.push(json!({"op": "replace", "path": format!("/spec/{key}"), "value": rebuilt}));
        }
    }
    if !changed {
        return None;
    }
    let annotation = format!(
        "/metadata/annotations/{}",
        MANAGED_RULES_ANNOTATION
            .replace('~', "~0")
            .replace('/', "~1")
    );
    ops.push(json!({"op": "replace", "path": annotation, "value": serde_json::to_string(&new_managed).unwrap_or_default()}));
    serde_json::from_value(Value::Array(ops)).ok()
}
