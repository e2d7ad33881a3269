//! The cluster-wide view: which in-scope namespaces have Ignite pods cut off (for `scan`, the
//! reconciler's report and its gauge). Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    config::{Compiled, Mode},
    environment::Environment,
    flows::{self, FlowKind, MissingFlow},
    scope,
};
use crate::policy::View;

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
    /// Excess egress findings (filled by [`count_excess`]; the reconciler does not pay for them).
    pub excess: usize,
    /// Why excess was not analysed, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excess_not_analysed: Option<String>,
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
        let turned_off = scope::turned_off(&env.cluster, cfg, ns, None);
        if turned_off || (ignite.is_empty() && unmatched.is_empty()) {
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
            excess: 0,
            excess_not_analysed: None,
        });
    }
    out
}

/// Counts the excess egress findings of each namespace that runs Ignite pods.
pub fn count_excess(env: &Environment, cfg: &Compiled, reports: &mut [NamespaceReport]) {
    let view = View::new(&env.cluster);
    for r in reports.iter_mut().filter(|r| r.ignite_pods > 0) {
        let ignite = scope::ignite_pods(&env.cluster, cfg, &r.namespace);
        match super::excess::egress(&view, env, cfg, &r.namespace, &ignite) {
            Ok(found) => r.excess = found.len(),
            Err(e) => r.excess_not_analysed = Some(e.to_string()),
        }
    }
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
