//! The rules that give Ignite back what it needs — exactly those flows, nothing more:
//!
//! - DNS: to the DNS pods, selected by `kubernetes.io/metadata.name` of their namespace **and**
//!   their Service's selector, on the ports they answer DNS on (the target of Service port 53),
//!   UDP and TCP — never the Service's other ports (metrics); extra DNS addresses by `/32`
//!   (`/128`) ipBlocks on port 53.
//! - API server: `/32` (`/128`) ipBlocks of every endpoint on its real port, and of the
//!   ClusterIP on the Service port.
//! - Peers: to (and, for ingress, from) pods with the Ignite labels on the peer ports.
//! - Extra flows: the configured namespace and pods on the configured port.

use std::{collections::BTreeMap, net::IpAddr, sync::Arc};

use k8s_openapi::{
    api::networking::v1::{
        IPBlock, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
        NetworkPolicyPort,
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

use super::{
    config::{Compiled, FlowDirection},
    environment::Environment,
    flows::{FlowKind, MissingFlow},
    targets::{ApiServerTargets, DnsTargets},
};
use crate::policy::{NAMESPACE_NAME_LABEL, Protocol};

/// Rules to add to a policy, each with the flow it is for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Additions {
    pub egress: Vec<Added<NetworkPolicyEgressRule>>,
    pub ingress: Vec<Added<NetworkPolicyIngressRule>>,
}

/// A rule to add, the flow it is for, and — for the rules drawn from [`Prepared`] — its YAML as
/// a denial prints it. Shared, not copied: a denial names the same few rules as every other
/// denial on the same view.
#[derive(Clone, Debug, PartialEq)]
pub struct Added<R> {
    pub flow: FlowKind,
    pub rule: Arc<R>,
    /// The rule as one item of a block sequence indented by two spaces (`  - ports:…`), ending
    /// with a newline.
    pub yaml: Option<Arc<str>>,
}

impl<R> Added<R> {
    /// A rule made for one decision (printed when it is explained).
    fn new(flow: FlowKind, rule: R) -> Self {
        Self {
            flow,
            rule: Arc::new(rule),
            yaml: None,
        }
    }

    /// A rule made once per view, printed once.
    fn printed(flow: FlowKind, rule: R) -> Self
    where
        R: serde::Serialize,
    {
        let yaml = super::message::rule_yaml(&rule);
        Self {
            flow,
            rule: Arc::new(rule),
            yaml: Some(yaml.into()),
        }
    }
}

/// The rules a fix draws from that follow from the view and the configuration alone — DNS, the
/// API server, the peers — built and printed once when the [`Environment`] is, with the
/// configuration it is built with.
#[derive(Clone, Debug)]
pub struct Prepared {
    dns: Vec<Added<NetworkPolicyEgressRule>>,
    api_server: Vec<Added<NetworkPolicyEgressRule>>,
    peer_egress: Added<NetworkPolicyEgressRule>,
    peer_ingress: Added<NetworkPolicyIngressRule>,
}

impl Prepared {
    /// The rules for the resolved targets and `cfg`'s peers.
    pub fn new(dns: &DnsTargets, api_server: &ApiServerTargets, cfg: &Compiled) -> Self {
        Self {
            dns: dns_rules(dns)
                .into_iter()
                .map(|r| Added::printed(FlowKind::Dns, r))
                .collect(),
            api_server: api_server_rules(api_server)
                .into_iter()
                .map(|r| Added::printed(FlowKind::Apiserver, r))
                .collect(),
            peer_egress: Added::printed(FlowKind::Peer, peer_egress_rule(cfg)),
            peer_ingress: Added::printed(FlowKind::Peer, peer_ingress_rule(cfg)),
        }
    }
}

impl Additions {
    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.egress.is_empty() && self.ingress.is_empty()
    }
}

fn port(n: u16, protocol: Protocol, end: Option<u16>) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(n))),
        end_port: end.map(i32::from),
        protocol: Some(protocol.as_str().to_string()),
    }
}

fn host_block(ip: IpAddr) -> NetworkPolicyPeer {
    let prefix = if ip.is_ipv4() { 32 } else { 128 };
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: format!("{ip}/{prefix}"),
            except: None,
        }),
        ..Default::default()
    }
}

fn labels(map: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(map.clone()),
        match_expressions: None,
    }
}

fn namespace_named(ns: &str) -> LabelSelector {
    labels(&BTreeMap::from([(
        NAMESPACE_NAME_LABEL.to_string(),
        ns.to_string(),
    )]))
}

/// The labels that name Ignite pods in written rules: the first configured selector.
pub fn ignite_selector(cfg: &Compiled) -> LabelSelector {
    cfg.config.ignite_pods[0].clone()
}

/// The peer ports as rule ports (with `endPort` when a port range is configured).
fn peer_ports(cfg: &Compiled) -> Vec<NetworkPolicyPort> {
    let range = cfg.config.peers.port_range;
    cfg.config
        .peer_ports()
        .into_iter()
        .map(|p| port(p, Protocol::Tcp, (range > 1).then(|| p + (range - 1))))
        .collect()
}

/// The DNS rules: the DNS pods on the ports they answer DNS on, plus extra addresses on port 53.
/// Nothing for DNS pods the view does not show: a selector guessed from nothing could open more
/// than DNS.
pub fn dns_rules(dns: &DnsTargets) -> Vec<NetworkPolicyEgressRule> {
    let mut rules = Vec::new();
    if dns.service.is_some() && !dns.pod_labels.is_empty() && !dns.ports.is_empty() {
        rules.push(NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(namespace_named(&dns.namespace)),
                pod_selector: Some(labels(&dns.pod_labels)),
                ip_block: None,
            }]),
            ports: Some(
                dns.ports
                    .iter()
                    .map(|&(p, proto)| port(p, proto, None))
                    .collect(),
            ),
        });
    }
    if !dns.addresses.is_empty() && !dns.service_ports.is_empty() {
        rules.push(NetworkPolicyEgressRule {
            to: Some(dns.addresses.iter().map(|ip| host_block(*ip)).collect()),
            ports: Some(
                dns.service_ports
                    .iter()
                    .map(|&(p, proto)| port(p, proto, None))
                    .collect(),
            ),
        });
    }
    rules
}

/// The API server rules: one per port, each listing the addresses reached on it.
pub fn api_server_rules(api_server: &ApiServerTargets) -> Vec<NetworkPolicyEgressRule> {
    let mut by_port: BTreeMap<u16, Vec<IpAddr>> = BTreeMap::new();
    for &(ip, p) in api_server
        .endpoints
        .iter()
        .chain(api_server.cluster_ip.iter())
    {
        let ips = by_port.entry(p).or_default();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    by_port
        .into_iter()
        .map(|(p, ips)| NetworkPolicyEgressRule {
            to: Some(ips.into_iter().map(host_block).collect()),
            ports: Some(vec![port(p, Protocol::Tcp, None)]),
        })
        .collect()
}

/// The other Ignite pods of the policy's namespace.
fn ignite_peers(cfg: &Compiled) -> Option<Vec<NetworkPolicyPeer>> {
    Some(vec![NetworkPolicyPeer {
        pod_selector: Some(ignite_selector(cfg)),
        ..Default::default()
    }])
}

/// Egress to the other Ignite pods on the peer ports.
pub fn peer_egress_rule(cfg: &Compiled) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: ignite_peers(cfg),
        ports: Some(peer_ports(cfg)),
    }
}

/// Ingress from the other Ignite pods on the peer ports.
pub fn peer_ingress_rule(cfg: &Compiled) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: ignite_peers(cfg),
        ports: Some(peer_ports(cfg)),
    }
}

/// The rules that fix `missing`, for a policy that selects the Ignite pods. Flows blocked only
/// at another pod's ingress (e.g. a DNS pod's) cannot be fixed there and get no rule. DNS, API
/// server and peer rules come from `env.prepared`, made with the configuration `env` was built
/// with (`cfg`, as everywhere a decision is made).
pub fn for_missing(missing: &[MissingFlow], env: &Environment, cfg: &Compiled) -> Additions {
    let mut add = Additions::default();
    let prepared = &env.prepared;
    let egress = |kind: FlowKind| missing.iter().any(|m| m.flow == kind && m.egress_blocked);
    if egress(FlowKind::Dns) {
        add.egress.extend(prepared.dns.iter().cloned());
    }
    if egress(FlowKind::Apiserver) {
        add.egress.extend(prepared.api_server.iter().cloned());
    }
    if egress(FlowKind::Peer) {
        add.egress.push(prepared.peer_egress.clone());
    }
    if missing
        .iter()
        .any(|m| m.flow == FlowKind::Peer && m.ingress_blocked)
    {
        add.ingress.push(prepared.peer_ingress.clone());
    }
    for (flow, _) in &cfg.extra_flows {
        let cut = missing
            .iter()
            .filter(|m| m.flow == FlowKind::Extra && m.name.as_deref() == Some(flow.name.as_str()));
        let peer = NetworkPolicyPeer {
            namespace_selector: Some(namespace_named(&flow.namespace)),
            pod_selector: flow.pod_selector.clone(),
            ip_block: None,
        };
        let ports = Some(vec![port(flow.port, flow.protocol, None)]);
        match flow.direction {
            FlowDirection::Egress if cut.clone().any(|m| m.egress_blocked) => {
                add.egress.push(Added::new(
                    FlowKind::Extra,
                    NetworkPolicyEgressRule {
                        to: Some(vec![peer]),
                        ports,
                    },
                ));
            }
            FlowDirection::Ingress if cut.clone().any(|m| m.ingress_blocked) => {
                add.ingress.push(Added::new(
                    FlowKind::Extra,
                    NetworkPolicyIngressRule {
                        from: Some(vec![peer]),
                        ports,
                    },
                ));
            }
            _ => {}
        }
    }
    add
}

/// The rules that give Ignite of `ignite_namespace` back what a policy of *another* namespace
/// cuts (`cut`: flows whose blocked side is that policy's pods): ingress from the Ignite pods
/// where the other namespace's pods stopped accepting them (DNS pods, the target of an egress
/// `extraFlows` entry), egress to them where its pods stopped reaching them (the clients of an
/// ingress `extraFlows` entry) — on the ports of the cut flows only.
pub fn for_foreign(cut: &[MissingFlow], ignite_namespace: &str, cfg: &Compiled) -> Additions {
    let ignite = || {
        Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(namespace_named(ignite_namespace)),
            pod_selector: Some(ignite_selector(cfg)),
            ip_block: None,
        }])
    };
    let ports = |pick: &dyn Fn(&MissingFlow) -> bool| {
        let mut seen: Vec<(u16, Protocol)> = Vec::new();
        for m in cut.iter().filter(|m| pick(m)) {
            if !seen.contains(&(m.port, m.protocol)) {
                seen.push((m.port, m.protocol));
            }
        }
        seen
    };
    let mut add = Additions::default();
    let inbound = ports(&|m| m.ingress_blocked);
    if let Some(first) = cut.iter().find(|m| m.ingress_blocked) {
        add.ingress.push(Added::new(
            first.flow,
            NetworkPolicyIngressRule {
                from: ignite(),
                ports: Some(inbound.iter().map(|&(n, p)| port(n, p, None)).collect()),
            },
        ));
    }
    let outbound = ports(&|m| m.egress_blocked);
    if let Some(first) = cut.iter().find(|m| m.egress_blocked) {
        add.egress.push(Added::new(
            first.flow,
            NetworkPolicyEgressRule {
                to: ignite(),
                ports: Some(outbound.iter().map(|&(n, p)| port(n, p, None)).collect()),
            },
        ));
    }
    add
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ClusterSnapshot;

    /// The rules prepared with the view are the ones built from it, and their YAML, as a denial
    /// prints it, reads back as the same rules.
    #[test]
    fn prepared_rules_are_the_built_ones_and_read_back_from_their_yaml() {
        let mut snapshot = ClusterSnapshot::default();
        snapshot
            .add_text(include_str!("../../examples/seed/cluster.yaml"), "seed")
            .expect("the seed loads");
        let cfg = Compiled::default();
        let env = Environment::build(&snapshot, &cfg).expect("the seed builds");
        let p = &env.prepared;
        let rules = |v: &[&Added<NetworkPolicyEgressRule>]| -> Vec<NetworkPolicyEgressRule> {
            v.iter().map(|a| (*a.rule).clone()).collect()
        };
        let dns: Vec<_> = p.dns.iter().collect();
        let api: Vec<_> = p.api_server.iter().collect();
        assert_eq!(rules(&dns), dns_rules(&env.dns));
        assert_eq!(dns.len(), 1, "the seed's DNS pods, no extra addresses");
        assert_eq!(rules(&api), api_server_rules(&env.api_server));
        assert_eq!(api.len(), 2, "6443 to the endpoint, 443 to the ClusterIP");
        let peer = &p.peer_egress;
        assert_eq!(*peer.rule, peer_egress_rule(&cfg));
        let peer_in = &p.peer_ingress;
        assert_eq!(*peer_in.rule, peer_ingress_rule(&cfg));

        let all: Vec<_> = dns.iter().chain(&api).copied().chain([peer]).collect();
        let text: String = all
            .iter()
            .map(|a| a.yaml.as_deref().expect("printed"))
            .collect();
        let read: Vec<NetworkPolicyEgressRule> =
            serde_saphyr::from_str(&text).expect("the printed rules are YAML");
        assert_eq!(read, rules(&all), "{text}");
        let read: Vec<NetworkPolicyIngressRule> =
            serde_saphyr::from_str(peer_in.yaml.as_deref().expect("printed")).expect("YAML");
        assert_eq!(read, vec![peer_ingress_rule(&cfg)]);
        assert!(text.starts_with("  - ports:\n"), "{text}");
    }
}
