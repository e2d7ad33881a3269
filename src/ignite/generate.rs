//! `generate`: the most restrictive egress NetworkPolicy that lets a namespace's Ignite pods
//! work — DNS, the API server and peers, nothing else — to apply next to a default-deny. Where
//! the namespace's current policies isolate the Ignite pods' ingress without admitting their
//! peers, the policy admits the peers too, and says so.

use k8s_openapi::{
    api::networking::v1::{NetworkPolicy, NetworkPolicySpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use super::{
    config::Compiled,
    decision,
    environment::Environment,
    flows::{self, FlowKind},
    patch, rules, scope,
};
use crate::policy::{Direction, View};

/// A generated policy and what the reader should know about it.
#[derive(Debug)]
pub struct Generated {
    pub policy: NetworkPolicy,
    pub notes: Vec<String>,
}

/// What `namespace` needs given its current policies; an error when the cluster view lacks a
/// target (rules written without it would cut Ignite off).
pub fn for_namespace(
    env: &Environment,
    cfg: &Compiled,
    namespace: &str,
    name: &str,
    with_ingress: bool,
) -> Result<Generated, String> {
    if !env.gaps.is_empty() {
        let gaps: Vec<String> = env.gaps.iter().map(ToString::to_string).collect();
        return Err(format!(
            "cannot write the rules Ignite needs: {}",
            gaps.join("; ")
        ));
    }
    let stand_in = decision::stand_in(cfg, namespace);
    let mut judged = scope::ignite_pods(&env.cluster, cfg, namespace);
    if judged.is_empty() {
        judged.push(&stand_in);
    }
    let report = flows::check(&View::new(&env.cluster), env, cfg, namespace, &judged);
    let mut isolating: Vec<String> = report
        .missing
        .iter()
        .chain(&report.peer_warnings)
        .filter(|m| m.flow == FlowKind::Peer && m.ingress_blocked)
        .flat_map(|m| m.blocked_by.iter().cloned())
        .collect();
    isolating.sort();
    isolating.dedup();
    let mut notes = env.notes.clone();
    let peer_ingress = report
        .missing
        .iter()
        .chain(&report.peer_warnings)
        .any(|m| m.flow == FlowKind::Peer && m.ingress_blocked);
    if peer_ingress && !with_ingress {
        let ports: Vec<String> = cfg
            .config
            .peer_ports()
            .iter()
            .map(|p| format!("{p}/TCP"))
            .collect();
        notes.push(format!(
            "ingress of the Ignite pods is isolated by {} and does not admit their peers: this policy admits them on {} too",
            isolating.join(", "),
            ports.join(", ")
        ));
    }
    Ok(Generated {
        policy: egress_policy(env, cfg, namespace, name, with_ingress || peer_ingress),
        notes,
    })
}

/// Builds the policy; `with_ingress` also isolates ingress and admits only the peers.
pub fn egress_policy(
    env: &Environment,
    cfg: &Compiled,
    namespace: &str,
    name: &str,
    with_ingress: bool,
) -> NetworkPolicy {
    let mut egress = Vec::new();
    let mut managed = Vec::new();
    let mut push = |flow: FlowKind, rule| {
        managed.push(patch::ManagedRule {
            direction: Direction::Egress,
            index: egress.len(),
            flow,
        });
        egress.push(rule);
    };
    for r in rules::dns_rules(&env.dns) {
        push(FlowKind::Dns, r);
    }
    if cfg.config.profile.needs_api_server() {
        for r in rules::api_server_rules(&env.api_server) {
            push(FlowKind::Apiserver, r);
        }
    }
    push(FlowKind::Peer, rules::peer_egress_rule(cfg));
    let mut types = vec!["Egress".to_string()];
    let ingress = with_ingress.then(|| {
        managed.push(patch::ManagedRule {
            direction: Direction::Ingress,
            index: 0,
            flow: FlowKind::Peer,
        });
        types.insert(0, "Ingress".to_string());
        vec![rules::peer_ingress_rule(cfg)]
    });
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            annotations: Some(
                [(
                    patch::MANAGED_RULES_ANNOTATION.to_string(),
                    serde_json::to_string(&managed).unwrap_or_default(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(rules::ignite_selector(cfg)),
            policy_types: Some(types),
            egress: Some(egress),
            ingress,
        }),
    }
}

/// The policy as a manifest to apply: `apiVersion`, `kind`, `metadata`, `spec`, in that order.
pub fn manifest(policy: &NetworkPolicy) -> Result<serde_json::Value, serde_json::Error> {
    let mut value = serde_json::to_value(policy)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("apiVersion".into(), "networking.k8s.io/v1".into());
        map.insert("kind".into(), "NetworkPolicy".into());
        let ordered: serde_json::Map<String, serde_json::Value> =
            ["apiVersion", "kind", "metadata", "spec"]
                .iter()
                .filter_map(|k| map.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect();
        value = serde_json::Value::Object(ordered);
    }
    Ok(value)
}
