//! Hints for the classic mistakes behind a cut-off Ignite, found in the rules of the policies
//! that select the Ignite pods:
//!
//! - a lone `podSelector` aimed at the DNS pods (it means the policy's own namespace);
//! - a `namespaceSelector` that matches no namespace (`zone: kube-system`);
//! - a selector aimed at the API server (it is no pod: only `ipBlock` reaches it);
//! - UDP 53 without TCP 53; port 53 where the DNS pods listen on another port (5353);
//! - an `ipBlock` of a pod IP (pod IPs change); a named port toward addresses.

use std::fmt::Write;

use super::{
    environment::Environment,
    flows::{FlowKind, MissingFlow},
};
use crate::policy::{NamespaceScope, Peer, PodInfo, PortMatch, Protocol, View};

/// Label values that say "the API server" (kubeadm's static pod is `component=kube-apiserver`,
/// OpenShift's `app=openshift-kube-apiserver`).
const API_SERVER_LABEL_VALUES: [&str; 3] =
    ["kube-apiserver", "apiserver", "openshift-kube-apiserver"];

/// Finds the hints for `ignite` (one Ignite pod, or its stand-in) given what is missing.
pub fn find(
    view: &View<'_>,
    env: &Environment,
    ignite: &PodInfo,
    missing: &[MissingFlow],
) -> Vec<String> {
    let cut = |kind: FlowKind| missing.iter().any(|m| m.flow == kind);
    let cut_proto = |kind: FlowKind, proto: Protocol| {
        missing
            .iter()
            .any(|m| m.flow == kind && m.protocol == proto)
    };
    let mut hints: Vec<String> = Vec::new();
    let mut push = |h: String| {
        if !hints.contains(&h) {
            hints.push(h);
        }
    };
    let dns_pods: Vec<&PodInfo> = env.dns_pods().collect();
    let dns_listens_on_53 = env.dns.ports.iter().any(|(p, _)| *p == 53);
    let api_ports: Vec<u16> = env
        .api_server
        .endpoints
        .iter()
        .chain(env.api_server.cluster_ip.iter())
        .map(|(_, p)| *p)
        .collect();
    // A rule is aimed at the API server when its ports are the API server's, or its selectors
    // name API-server labels, or it opens every port of kube-system/default; never the canonical
    // DNS rule (port 53 to kube-system).
    let aims_at_api = |rule: &crate::policy::Rule, names: &[&crate::policy::Selector]| {
        let api_port = rule.ports.iter().any(|p| {
            matches!(p.port, PortMatch::Range { start, end } if api_ports.iter().any(|a| (start..=end).contains(a)))
        });
        let api_labels = names.iter().any(|sel| {
            sel.match_labels()
                .any(|(_, v)| API_SERVER_LABEL_VALUES.contains(&v))
        });
        let system_all_ports = rule.ports.is_empty()
            && names.iter().any(|sel| {
                sel.match_labels()
                    .any(|(_, v)| v == "kube-system" || v == "default")
            });
        cut(FlowKind::Apiserver) && (api_port || api_labels || system_all_ports)
    };
    const API_HINT: &str = "a selector cannot match the API server — it is no pod (a hostNetwork static pod or outside the cluster): allow its addresses with ipBlock";

    for policy in view.selecting(ignite) {
        let Some(rules) = policy.egress.as_ref() else {
            continue;
        };
        for (i, rule) in rules.iter().enumerate() {
            let at = At {
                policy,
                rule: i,
                peer: None,
            };
            for (j, peer) in rule.peers.iter().enumerate() {
                let at = At {
                    peer: Some(j),
                    ..at
                };
                match peer {
                    Peer::Pods {
                        namespaces: NamespaceScope::Own,
                        pods,
                    } => {
                        if aims_at_api(rule, &[pods]) {
                            push(format!("{at}: {API_HINT}"));
                        }
                        let aims_at_dns = cut(FlowKind::Dns)
                            && policy.namespace != env.dns.namespace
                            && !pods.is_everything()
                            && dns_pods.iter().any(|d| pods.matches(&d.labels));
                        if aims_at_dns {
                            push(format!(
                                "{at}: podSelector {pods} without namespaceSelector selects pods in {} only, but the DNS pods run in {}: \
                                 add namespaceSelector kubernetes.io/metadata.name={} to the same entry",
                                policy.namespace, env.dns.namespace, env.dns.namespace
                            ));
                        }
                    }
                    Peer::Pods {
                        namespaces: NamespaceScope::Matching(sel),
                        pods,
                    } => {
                        if !sel.is_everything()
                            && !view.cluster.namespaces().any(|ns| sel.matches(&ns.labels))
                        {
                            let mut h =
                                format!("{at}: namespaceSelector {sel} matches no namespace");
                            if let Some(name) = sel
                                .match_labels()
                                .find_map(|(_, v)| view.cluster.namespace(v))
                                .map(|n| n.name.clone())
                            {
                                let _ = write!(
                                    h,
                                    "; to select namespace {name} use kubernetes.io/metadata.name={name}"
                                );
                            } else {
                                h.push_str(
                                    "; every namespace carries kubernetes.io/metadata.name=<name>",
                                );
                            }
                            push(h);
                        }
                        if aims_at_api(rule, &[sel, pods]) {
                            push(format!("{at}: {API_HINT}"));
                        }
                    }
                    Peer::Block(block) => {
                        if let Some(ip) = block.single_address()
                            && let Some(pod) = view
                                .cluster
                                .pods_between(ip, ip)
                                .map(|i| view.cluster.pod_at(i))
                                .find(|p| !p.host_network)
                        {
                            push(format!(
                                "{at}: ipBlock {} is the IP of pod {}/{}; pod IPs change when pods restart: select the pod with podSelector",
                                block.cidr(),
                                pod.namespace,
                                pod.name
                            ));
                        }
                    }
                }
            }
            let only_blocks =
                !rule.peers.is_empty() && rule.peers.iter().all(|p| matches!(p, Peer::Block(_)));
            for (k, p) in rule.ports.iter().enumerate() {
                if let PortMatch::Named(name) = &p.port
                    && only_blocks
                {
                    push(format!(
                        "{at}.ports[{k}]: named port {name:?} never matches an ipBlock destination (only pods declare port names): use the number"
                    ));
                }
            }
            let has = |n: u16, proto: Protocol| {
                rule.ports.iter().any(|p| p.protocol == proto && matches!(p.port, PortMatch::Range { start, end } if (start..=end).contains(&n)))
            };
            if cut_proto(FlowKind::Dns, Protocol::Tcp)
                && has(53, Protocol::Udp)
                && !has(53, Protocol::Tcp)
            {
                push(format!(
                    "{at}: allows DNS over UDP 53 but not TCP 53; DNS falls back to TCP for large answers: allow both"
                ));
            }
            if cut(FlowKind::Dns)
                && !dns_listens_on_53
                && (has(53, Protocol::Udp) || has(53, Protocol::Tcp))
            {
                let real: Vec<String> = env
                    .dns
                    .ports
                    .iter()
                    .map(|(p, proto)| format!("{p}/{proto}"))
                    .collect();
                push(format!(
                    "{at}: allows port 53, but the DNS pods listen on {} behind Service port 53; policies see the port after DNAT",
                    real.join(", ")
                ));
            }
        }
    }
    if cut(FlowKind::Apiserver) {
        // Only what is still blocked: a hint never asks for what the policies already allow.
        let mut targets: Vec<String> = Vec::new();
        for m in missing.iter().filter(|m| m.flow == FlowKind::Apiserver) {
            if let Some(ip) = m.target_ip {
                let t = if ip.is_ipv6() {
                    format!("[{ip}]:{}", m.port)
                } else {
                    format!("{ip}:{}", m.port)
                };
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        let mut h = String::from(
            "the API server is not a pod, so no podSelector or namespaceSelector matches it; ",
        );
        let _ = write!(
            h,
            "after Service DNAT packets go to its endpoints: allow {} with ipBlock /32 rules",
            if targets.is_empty() {
                "its addresses".to_string()
            } else {
                targets.join(" and ")
            }
        );
        push(h);
    }
    hints
}

/// Where a hint points, `ns/policy egress[i]` or `ns/policy egress[i].to[j]`: written only into
/// the hints found, not for every rule looked at.
#[derive(Clone, Copy)]
struct At<'a> {
    policy: &'a crate::policy::Policy,
    rule: usize,
    peer: Option<usize>,
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.policy;
        write!(f, "{}/{} egress[{}]", p.namespace, p.name, self.rule)?;
        if let Some(j) = self.peer {
            write!(f, ".to[{j}]")?;
        }
        Ok(())
    }
}
