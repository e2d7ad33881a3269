//! What a change outside an Ignite namespace does to Ignite.
//!
//! Ignite's required flows cross namespaces: a NetworkPolicy in the DNS namespace that isolates
//! the DNS pods' ingress cuts every lookup; one in the namespace of an `extraFlows` peer cuts
//! that flow; a ClusterNetworkPolicy (or AdminNetworkPolicy / BaselineAdminNetworkPolicy) can cut
//! anything anywhere. Such a change is judged for every Ignite namespace (one that runs Ignite
//! pods and is not turned off) by the flows it cuts **that work now**: an Ignite namespace
//! already cut off for other reasons does not make an unrelated write fail. Pure.

use serde::Serialize;

use super::{
    config::{Compiled, Mode},
    environment::Environment,
    flows::{self, MissingFlow},
    scope,
};
use crate::policy::View;

/// One Ignite namespace a change cuts off.
#[derive(Clone, Debug, Serialize)]
pub struct Impact {
    pub namespace: String,
    /// The namespace's mode: it decides the verdict.
    pub mode: Mode,
    /// The Ignite pods judged (`namespace/name`).
    pub ignite_pods: Vec<String>,
    /// Required flows that work now and would not after the change.
    pub cut: Vec<MissingFlow>,
}

/// Whether a NetworkPolicy in `namespace` can touch the required flows of Ignite pods in other
/// namespaces: it is the DNS namespace or the namespace of an `extraFlows` peer. (The API server
/// is reached by address and its endpoints are not pods a NetworkPolicy isolates.)
pub fn reaches_other_namespaces(env: &Environment, cfg: &Compiled, namespace: &str) -> bool {
    env.dns.namespace == namespace
        || cfg
            .extra_flows
            .iter()
            .any(|(f, _)| f.namespace == namespace)
}

/// Judges `after` (the cluster with the change) for every Ignite namespace but `except`, sorted
/// by name; only namespaces the change cuts something from are returned. `requested` overrides
/// the namespaces' modes, as for the change's own namespace.
pub fn impacts(
    env: &Environment,
    cfg: &Compiled,
    after: &View<'_>,
    except: Option<&str>,
    requested: Option<Mode>,
) -> Vec<Impact> {
    let before = View::new(&env.cluster);
    let mut names: Vec<&str> = env
        .cluster
        .namespaces()
        .map(|n| n.name.as_str())
        .filter(|n| Some(*n) != except)
        .collect();
    names.sort_unstable();
    let mut out = Vec::new();
    for ns in names {
        let ignite = scope::ignite_pods(&env.cluster, cfg, ns);
        if ignite.is_empty() {
            continue;
        }
        let (mode, _) = scope::namespace_mode(&env.cluster, cfg, ns, requested, true);
        if mode == Mode::Off {
            continue;
        }
        let now = flows::check(after, env, cfg, ns, &ignite);
        if now.missing.is_empty() {
            continue;
        }
        let was = flows::check(&before, env, cfg, ns, &ignite);
        let cut: Vec<MissingFlow> = now
            .missing
            .into_iter()
            .filter(|m| !was.missing.iter().any(|w| same_flow(w, m)))
            .collect();
        if cut.is_empty() {
            continue;
        }
        out.push(Impact {
            namespace: ns.to_string(),
            mode,
            ignite_pods: ignite
                .iter()
                .map(|p| [p.namespace.as_str(), "/", p.name.as_str()].concat())
                .collect(),
            cut,
        });
    }
    out
}

/// The same required flow in two judgements: kind, target, port and protocol (the source is a
/// class's first member, which may differ when the change splits a class).
fn same_flow(a: &MissingFlow, b: &MissingFlow) -> bool {
    (a.flow, &a.target, a.port, a.protocol, &a.name)
        == (b.flow, &b.target, b.port, b.protocol, &b.name)
}
