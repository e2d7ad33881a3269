//! The flows Ignite needs, and which of them a policy set cuts.
//!
//! For each Ignite pod: DNS (UDP and TCP to every DNS pod on its real port, and to extra DNS
//! addresses), the API server (every endpoint on its real port, and the ClusterIP on 443), peers
//! (to every other Ignite pod on each peer port, checked on both the sender's egress and the
//! receiver's ingress) and configured extra flows.
//!
//! Alike pods are judged once, by a member of their class (see `classes.rs`).

use std::{
    fmt::{self, Write},
    net::IpAddr,
};

use serde::Serialize;

use super::{
    classes::{Member, classes},
    config::FlowDirection,
    config::{Compiled, ServiceRef},
    environment::Environment,
};
use crate::policy::{
    Connection, Endpoint, Layer, PodInfo, PolicyRef, Protocol, SideStatus, Verdict, View,
};

/// What a required flow is for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FlowKind {
    Dns,
    Apiserver,
    Peer,
    Extra,
}

impl fmt::Display for FlowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dns => "dns",
            Self::Apiserver => "apiserver",
            Self::Peer => "peer",
            Self::Extra => "extra",
        })
    }
}

/// A required flow that the policies do not allow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MissingFlow {
    pub flow: FlowKind,
    /// The source, e.g. `cache-ns/ignite-0` or `cache-ns/ignite-0 (+99 like it)`.
    pub from: String,
    /// The destination, e.g. `kube-system/coredns-…` or `192.168.49.2 (API server endpoint)`.
    pub target: String,
    #[serde(skip)]
    pub target_ip: Option<IpAddr>,
    pub port: u16,
    pub protocol: Protocol,
    /// Which side blocks it and why.
    pub reason: String,
    /// The policies that isolate the blocking sides (`namespace/name`), each named once.
    pub blocked_by: Vec<String>,
    /// The source's egress blocks it.
    #[serde(skip)]
    pub egress_blocked: bool,
    /// The destination's ingress blocks it.
    #[serde(skip)]
    pub ingress_blocked: bool,
    /// For `extra` flows, the configured name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Admin-tier rule that denies the flow: Admin-tier rules come before every
    /// NetworkPolicy, so no NetworkPolicy can re-open the flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_denied_by: Option<AdminDenial>,
}

/// An Admin-tier rule that denies a required flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdminDenial {
    /// In full: `ClusterNetworkPolicy x (Admin tier, priority 10) egress[0] "name": Deny`.
    pub rule: String,
    /// For a warning: `ClusterNetworkPolicy/x egress[0]`.
    pub short: String,
}

impl MissingFlow {
    /// Whether a NetworkPolicy rule can restore the flow (no Admin-tier rule denies it).
    pub fn fixable(&self) -> bool {
        self.admin_denied_by.is_none()
    }
}

/// The flows a policy set cuts.
#[derive(Clone, Debug, Default)]
pub struct FlowReport {
    /// Required flows that are cut.
    pub missing: Vec<MissingFlow>,
    /// Peer flows that are cut while fewer than two Ignite pods run: scaling out will fail.
    pub peer_warnings: Vec<MissingFlow>,
    /// How many connections were evaluated.
    pub evaluated: usize,
}

/// Judges every required flow of `ignite` (the Ignite pods of `namespace`, or one stand-in when
/// none runs yet) under `view`.
pub fn check(
    view: &View<'_>,
    env: &Environment,
    cfg: &Compiled,
    namespace: &str,
    ignite: &[&PodInfo],
) -> FlowReport {
    let mut judge = Judge {
        view,
        report: FlowReport::default(),
    };
    each_required(view, env, cfg, namespace, ignite, |from, required| {
        judge.flow(from, required)
    });
    judge.report
}

/// Calls `visit` with every required flow of `ignite` (one member per class, two for peers
/// within a class): the one enumeration that `check` judges and the report lists.
pub(super) fn each_required<'a>(
    view: &View<'a>,
    env: &'a Environment,
    cfg: &'a Compiled,
    namespace: &str,
    ignite: &[&'a PodInfo],
    mut visit: impl FnMut(&Member<'_>, Required<'_>),
) {
    let mut relevant: Vec<&str> = vec![namespace, env.dns.namespace.as_str()];
    relevant.extend(cfg.extra_flows.iter().map(|(f, _)| f.namespace.as_str()));
    let classes = classes(view, &relevant, ignite);

    let config = &cfg.config;
    for class in &classes {
        let from = &class[0];
        for dns in env.dns_pods() {
            for &(port, protocol) in &env.dns.ports {
                visit(from, Required::to_pod(FlowKind::Dns, dns, port, protocol));
            }
        }
        for &ip in &env.dns.addresses {
            for &(port, protocol) in &env.dns.service_ports {
                visit(
                    from,
                    Required::to_ip(FlowKind::Dns, ip, Named::Dns(ip), port, protocol),
                );
            }
        }
        if config.profile.needs_api_server() {
            for &(ip, port) in &env.api_server.endpoints {
                let target = Named::ApiEndpoint(ip);
                visit(
                    from,
                    Required::to_ip(FlowKind::Apiserver, ip, target, port, Protocol::Tcp),
                );
            }
            if let Some((ip, port)) = env.api_server.cluster_ip {
                let target = Named::ApiService(ip, &config.api_server.service);
                visit(
                    from,
                    Required::to_ip(FlowKind::Apiserver, ip, target, port, Protocol::Tcp),
                );
            }
        }
        for (flow, selector) in &cfg.extra_flows {
            let others = view
                .cluster
                .pods_in(&flow.namespace)
                .filter(|p| selector.matches(&p.labels));
            for other in others {
                match flow.direction {
                    FlowDirection::Egress => {
                        let mut required =
                            Required::to_pod(FlowKind::Extra, other, flow.port, flow.protocol);
                        required.name = Some(&flow.name);
                        visit(from, required);
                    }
                    FlowDirection::Ingress => {
                        let them = Member {
                            pod: other,
                            more: 0,
                        };
                        let mut required =
                            Required::to_pod(FlowKind::Extra, from.pod, flow.port, flow.protocol);
                        required.target = Named::Member(from);
                        required.name = Some(&flow.name);
                        visit(&them, required);
                    }
                }
            }
        }
    }

    // Peers: every ordered pair of classes, and two members within a class. With fewer than two
    // Ignite pods, a pod talking to one like itself stands for the next node: a warning only.
    let required = ignite.len() >= 2;
    let mut ports: Vec<u16> = Vec::new();
    for base in config.peer_ports() {
        ports.push(base);
        if config.peers.port_range > 1 {
            ports.push(base + (config.peers.port_range - 1));
        }
    }
    for (i, a) in classes.iter().enumerate() {
        for (j, b) in classes.iter().enumerate() {
            let (from, to) = match (i == j, required) {
                (true, true) if a.len() >= 2 => (&a[0], &a[1]),
                (true, true) => continue,
                (true, false) => (&a[0], &a[0]),
                (false, _) => (&a[0], &b[0]),
            };
            for &port in &ports {
                let mut flow = Required::to_pod(FlowKind::Peer, to.pod, port, Protocol::Tcp);
                flow.target = if required {
                    Named::Member(to)
                } else {
                    Named::LikeOf(to.pod)
                };
                flow.warn_only = !required;
                visit(from, flow);
            }
        }
    }
}

/// One required connection from a member of a class.
pub(super) struct Required<'a> {
    pub kind: FlowKind,
    /// For `extra` flows, the configured name.
    pub name: Option<&'a str>,
    pub to: Endpoint<'a>,
    /// How the destination is named in messages.
    pub target: Named<'a>,
    pub port: u16,
    pub protocol: Protocol,
    /// Cut, it only stops scaling out (fewer than two Ignite pods run).
    pub warn_only: bool,
}

impl<'a> Required<'a> {
    fn to_pod(kind: FlowKind, pod: &'a PodInfo, port: u16, protocol: Protocol) -> Self {
        Self {
            kind,
            name: None,
            to: Endpoint::Pod(pod),
            target: Named::Pod(pod),
            port,
            protocol,
            warn_only: false,
        }
    }

    fn to_ip(kind: FlowKind, ip: IpAddr, target: Named<'a>, port: u16, protocol: Protocol) -> Self {
        Self {
            kind,
            name: None,
            to: Endpoint::Ip(ip),
            target,
            port,
            protocol,
            warn_only: false,
        }
    }
}

/// How a destination is named in messages; rendered only for a flow that is cut, since most
/// flows judged are allowed.
pub(super) enum Named<'a> {
    Pod(&'a PodInfo),
    Member(&'a Member<'a>),
    Dns(IpAddr),
    ApiEndpoint(IpAddr),
    ApiService(IpAddr, &'a ServiceRef),
    /// The stand-in for the next node while fewer than two Ignite pods run.
    LikeOf(&'a PodInfo),
}

impl Named<'_> {
    pub fn render(&self) -> String {
        match self {
            Self::Pod(p) => pod_name(p),
            Self::Member(m) => m.label(),
            Self::Dns(ip) => format!("{ip} (DNS address)"),
            Self::ApiEndpoint(ip) => format!("{ip} (API server endpoint)"),
            Self::ApiService(ip, service) => format!("{ip} (Service {service})"),
            Self::LikeOf(p) => format!("another Ignite pod like {}", pod_name(p)),
        }
    }
}

/// Evaluates required connections under a view, collecting the cut ones.
struct Judge<'v, 'a> {
    view: &'v View<'a>,
    report: FlowReport,
}

impl Judge<'_, '_> {
    fn flow(&mut self, from: &Member<'_>, required: Required<'_>) {
        self.report.evaluated += 1;
        let verdict = self.view.evaluate(&Connection {
            from: Endpoint::Pod(from.pod),
            to: required.to,
            port: required.port,
            protocol: required.protocol,
        });
        if verdict.allowed {
            return;
        }
        let mut blocked_by = Vec::new();
        let mut admin_denied_by = None;
        for side in [&verdict.egress, &verdict.ingress] {
            if side.allows() {
                continue;
            }
            if side.decided_by == Layer::Admin
                && let Some(rule) = &side.tier_rule
            {
                admin_denied_by.get_or_insert_with(|| AdminDenial {
                    rule: rule.to_string(),
                    short: rule.short(),
                });
            }
            // A policy that isolates both ends (a namespace's default-deny for egress and
            // ingress) is named once.
            let mut name = |n: String| {
                if !blocked_by.contains(&n) {
                    blocked_by.push(n);
                }
            };
            match &side.tier_rule {
                Some(rule) => name(format!("{}/{}", rule.policy.kind, rule.policy.name)),
                None => side
                    .isolated_by
                    .iter()
                    .map(PolicyRef::to_name)
                    .for_each(name),
            }
        }
        let flow = MissingFlow {
            flow: required.kind,
            from: from.label(),
            target_ip: match required.to {
                Endpoint::Ip(ip) => Some(ip),
                Endpoint::Pod(_) => None,
            },
            target: required.target.render(),
            port: required.port,
            protocol: required.protocol,
            reason: reason(&verdict, from.pod, required.to),
            blocked_by,
            egress_blocked: !verdict.egress.allows(),
            ingress_blocked: !verdict.ingress.allows(),
            name: required.name.map(str::to_string),
            admin_denied_by,
        };
        if required.warn_only {
            self.report.peer_warnings.push(flow);
        } else {
            self.report.missing.push(flow);
        }
    }
}

pub(super) fn pod_name(p: &PodInfo) -> String {
    [p.namespace.as_str(), "/", p.name.as_str()].concat()
}

/// Why a connection is cut, from its verdict, e.g. `egress of ns/a is isolated by ns/p and no
/// rule allows it`; both sides, joined by `; `, when both deny.
fn reason(v: &Verdict, from: &PodInfo, to: Endpoint<'_>) -> String {
    // Room for one side's reason, the usual case, without growing.
    let mut out = String::with_capacity(128);
    let sides = [
        (&v.egress, "egress", Endpoint::Pod(from)),
        (&v.ingress, "ingress", to),
    ];
    for (side, dir, who) in sides {
        if side.status != SideStatus::Denied {
            continue;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(dir);
        out.push_str(" of ");
        match who {
            Endpoint::Pod(p) => {
                out.push_str(&p.namespace);
                out.push('/');
                out.push_str(&p.name);
            }
            Endpoint::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
        }
        if let Some(rule) = &side.tier_rule {
            let _ = write!(out, " is denied by {rule}");
        } else {
            out.push_str(" is isolated by ");
            for (i, policy) in side.isolated_by.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                policy.push_to(&mut out);
            }
            out.push_str(" and no rule allows it");
        }
        // Never a silent no-match: a rule that names domains may accept it first.
        for rule in &side.not_evaluated {
            let _ = write!(
                out,
                " (unless the destination is one of the domainNames of {rule}, which are not resolved here)"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::networking::v1::NetworkPolicy;

    use super::*;
    use crate::policy::{Policy, PolicyRef, Side};

    fn policy(name: &str) -> Policy {
        let np: NetworkPolicy = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "grid"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        }))
        .expect("policy");
        Policy::compile(&np).expect("compiles")
    }

    fn pod(name: &str) -> PodInfo {
        PodInfo {
            namespace: "grid".into(),
            name: name.into(),
            labels: Default::default(),
            ips: Vec::new(),
            host_network: false,
            ports: Vec::new(),
        }
    }

    fn side<'a>(status: SideStatus, by: &[&'a Policy]) -> Side<'a> {
        Side {
            isolated_by: by.iter().map(|p| PolicyRef(p)).collect(),
            ..Side::unjudged(status)
        }
    }

    #[test]
    fn reason_names_each_denying_side_and_its_policies() {
        let (deny, lock) = (policy("deny-all"), policy("lockdown"));
        let (a, b) = (pod("a"), pod("b"));
        let both = Verdict {
            allowed: false,
            egress: side(SideStatus::Denied, &[&deny, &lock]),
            ingress: side(SideStatus::Denied, &[&deny]),
        };
        assert_eq!(
            reason(&both, &a, Endpoint::Pod(&b)),
            "egress of grid/a is isolated by grid/deny-all, grid/lockdown and no rule allows it; \
             ingress of grid/b is isolated by grid/deny-all and no rule allows it"
        );
        let egress_only = Verdict {
            allowed: false,
            egress: side(SideStatus::Denied, &[&lock]),
            ingress: side(SideStatus::External, &[]),
        };
        let ip = "10.96.0.1".parse().expect("address");
        assert_eq!(
            reason(&egress_only, &a, Endpoint::Ip(ip)),
            "egress of grid/a is isolated by grid/lockdown and no rule allows it"
        );
        let ingress_only = Verdict {
            allowed: false,
            egress: side(SideStatus::Allowed, &[&lock]),
            ingress: side(SideStatus::Denied, &[&deny]),
        };
        assert_eq!(
            reason(&ingress_only, &a, Endpoint::Pod(&b)),
            "ingress of grid/b is isolated by grid/deny-all and no rule allows it"
        );
    }
}
