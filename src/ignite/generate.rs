//! `generate`: the most restrictive egress NetworkPolicy that lets a namespace's Ignite pods
//! work — DNS, the API server and peers, nothing else — to apply next to a default-deny.

use k8s_openapi::{
    api::networking::v1::{NetworkPolicy, NetworkPolicySpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use super::{config::Compiled, flows::FlowKind, patch, rules, targets::Environment};
use crate::policy::Direction;

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
    for r in rules::dns_rules(env) {
        push(FlowKind::Dns, r);
    }
    if cfg.config.profile.needs_api_server() {
        for r in rules::api_server_rules(env) {
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
