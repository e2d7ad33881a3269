//! What the policies let Ignite do beyond what it needs: the other bound of "most restrictive".
//!
//! For each Ignite pod (one per class), the engine judges the pod's **egress** to a set of probe
//! destinations on a set of probe ports — every pod of the cluster, an unlabelled stand-in pod
//! in every namespace (a rule that matches it opens the whole namespace, today's pods and
//! tomorrow's), every node address, addresses drawn from every `ipBlock` and `networks` entry
//! the rules name, and two internet addresses (`8.8.8.8`, `2001:4860:4860::8888`). Ports are the
//! ones the rules name, the destination pod's container ports, and a few that a
//! command-and-control channel would use (53, 80, 443, 4444). Every connection the egress side
//! allows that is not a required flow is **excess**, credited to the rule that allowed it (the
//! NetworkPolicy rule, the Admin- or Baseline-tier Accept, or no egress isolation at all), and
//! findings are grouped per rule with what it opens and what the rule is needed for. What opens
//! every destination (no egress isolation, a rule without `to` on numbered ports) is one
//! opening, [`ANY_ADDRESS`] on its ports: only its required flows are probed.
//!
//! Only the egress side is judged: the audit asks for the most restrictive *egress*, and a
//! destination's own ingress policy is not Ignite's to rely on. Ingress is reported apart, as
//! [`Exposure`]: which namespaces, nodes and addresses reach Ignite's client and peer ports.
//!
//! The probes are a finite sample: an `ipBlock` that opens a range is found through the
//! addresses drawn from it, not proven address by address. Pure.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use serde::Serialize;

use super::{
    classes::{Member, classes},
    config::{Compiled, FlowDirection},
    decision,
    environment::Environment,
    flows::{FlowKind, pod_name},
    scope,
};
use crate::policy::{
    Cluster, Connection, Direction, Endpoint, IpBlock, Labels, Layer, NAMESPACE_NAME_LABEL,
    NamespaceInfo, NamespaceScope, Peer, PodInfo, Policy, PolicyRef, PortMatch, Protocol, Rule,
    Selector, View, peer_matches, rule_admits, rule_allows, rule_allows_port, tier::TierPeer,
};

/// The internet, as probed: well-known public resolvers, reached by any rule that opens the
/// public address space.
pub const INTERNET_PROBES: [&str; 2] = ["8.8.8.8", "2001:4860:4860::8888"];

/// [`INTERNET_PROBES`] as addresses.
const INTERNET_PROBE_ADDRESSES: [IpAddr; 2] = [
    IpAddr::V4(std::net::Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V6(std::net::Ipv6Addr::new(
        0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888,
    )),
];

/// Ports probed on every destination besides the ones the rules and pods name: DNS, web, and a
/// classic back-door port.
const PROBE_PORTS: [(u16, Protocol); 6] = [
    (53, Protocol::Udp),
    (53, Protocol::Tcp),
    (80, Protocol::Tcp),
    (443, Protocol::Tcp),
    (4444, Protocol::Tcp),
    (4444, Protocol::Udp),
];

/// Beyond this many egress rules over the Ignite pods, excess is not analysed: every probe is
/// judged against every rule, and a policy at the API's size limit (20,000 rules) would hold a
/// review for minutes. Such a set is not least privilege anyway; it is said, never skipped
/// silently.
pub const MAX_RULES: usize = 256;

/// At most this many ports and addresses are drawn from the rules.
const MAX_DRAWN: usize = 64;

/// Ignite's client-facing ports: thin clients, JDBC/ODBC and memcached, REST.
pub const CLIENT_PORTS: [(u16, &str); 3] =
    [(10800, "thin clients"), (11211, "JDBC"), (8080, "REST")];

/// What kind of excess a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// No egress policy isolates the pod: every destination is open.
    NotIsolated,
    /// A rule without `to`: any address on its ports.
    AnyDestination,
    /// An `ipBlock` (or a tier's `networks`) wider than the addresses Ignite needs.
    WideIpBlock,
    /// Selectors that open pods Ignite does not need.
    WideSelector,
    /// Needed destinations, on more ports than needed.
    ExtraPorts,
    /// An Admin- or Baseline-tier Accept that opens what Ignite does not need.
    TierAccept,
}

impl FindingKind {
    /// The name it is serialised under (`wide-ip-block`), for the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Self::NotIsolated => "not-isolated",
            Self::AnyDestination => "any-destination",
            Self::WideIpBlock => "wide-ip-block",
            Self::WideSelector => "wide-selector",
            Self::ExtraPorts => "extra-ports",
            Self::TierAccept => "tier-accept",
        }
    }

    /// In words, for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotIsolated => "no egress isolation",
            Self::AnyDestination => "any destination",
            Self::WideIpBlock => "ipBlock wider than needed",
            Self::WideSelector => "selector wider than needed",
            Self::ExtraPorts => "more ports than needed",
            Self::TierAccept => "cluster-wide Accept",
        }
    }
}

/// One destination group a rule opens, with the ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Opening {
    /// What is reached: `the internet (8.8.8.8)`, `every pod of namespace kube-system`,
    /// `pod kube-system/coredns-…`, `node address 192.168.49.2`, `address 10.0.0.1`.
    pub to: String,
    /// `53/UDP`, `443/TCP`, …
    pub ports: Vec<String>,
    /// The destination lies outside the cluster's private address space.
    pub internet: bool,
}

/// One rule (or the lack of one) that opens more than Ignite needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// `cache-ns/allow egress[1]`, `ClusterNetworkPolicy/x egress[0] (Admin tier)`, or
    /// `no egress policy selects the pod`.
    pub rule: String,
    /// The NetworkPolicy (`namespace/name`), when a NetworkPolicy rule is the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub direction: Direction,
    /// The index of the rule in the policy's egress list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The Ignite pods it concerns.
    pub from: Vec<String>,
    pub opens: Vec<Opening>,
    /// The required flows this rule allows today (`dns 53/UDP to kube-system/coredns-…`); empty
    /// when Ignite needs nothing it opens.
    pub needed_for: Vec<String>,
    /// What to do instead, in words.
    pub instead: String,
}

impl Finding {
    /// What it opens in one line: `53/TCP,53/UDP to any address (the internet); …`, the ports
    /// of each destination joined by `port_sep`.
    pub fn opens_text(&self, port_sep: &str) -> String {
        let opens: Vec<String> = self
            .opens
            .iter()
            .map(|o| format!("{} to {}", o.ports.join(port_sep), o.to))
            .collect();
        opens.join("; ")
    }

    /// Whether it opens a path to the internet.
    pub fn reaches_internet(&self) -> bool {
        self.opens.iter().any(|o| o.internet)
    }

    /// A warning of at most 120 characters.
    pub fn warning(&self) -> String {
        let first = self.opens.first();
        let what = first.map_or_else(String::new, |o| {
            let mut ports = o
                .ports
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(",");
            if o.ports.len() > 3 {
                ports.push_str(",…");
            }
            format!("{ports} to {}", o.to)
        });
        let more = self.opens.len().saturating_sub(1);
        let tail = if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        };
        decision::short(&format!("excess egress: {} opens {what}{tail}", self.rule))
    }
}

/// Who may reach one of Ignite's ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exposure {
    pub port: u16,
    pub protocol: Protocol,
    /// `thin clients`, `discovery`, …
    pub purpose: String,
    /// Whether it is a peer (discovery/communication) port.
    pub peer: bool,
    /// Namespaces with a pod that may connect (an unlabelled stand-in counts: `ns (any pod)`).
    pub from_namespaces: Vec<String>,
    /// Addresses outside the cluster may connect.
    pub from_internet: bool,
    /// Node addresses may connect.
    pub from_nodes: bool,
}

/// One namespace's excess: egress findings and ingress exposure.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Excess {
    pub egress: Vec<Finding>,
    pub ingress: Vec<Exposure>,
    /// Why egress was not analysed (too many rules), when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_analysed: Option<String>,
}

/// Egress too large to analyse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "excess egress not analysed: {rules} egress rules select the Ignite pods (more than {MAX_RULES})"
)]
pub struct TooLarge {
    pub rules: usize,
}

/// A probe destination.
#[derive(Clone, Copy)]
enum Dest<'a> {
    Pod(&'a PodInfo, usize),
    /// The unlabelled stand-in of a namespace.
    AnyPod(&'a PodInfo),
    Ip(IpAddr, IpClass),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum IpClass {
    Internet,
    Node,
    Other,
}

/// Who allowed an excess connection.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Opener {
    Rule { policy: String, index: usize },
    Tier { short: String, tier: String },
    Unisolated,
}

/// An [`Opener`] while probing: a rule by its policy, named once the probing is done.
enum OpenerKey<'a> {
    Rule(&'a Policy, usize),
    Tier { short: String, tier: String },
    Unisolated,
}

impl PartialEq for OpenerKey<'_> {
    /// A rule is told by its policy's identity: one policy per name in a view.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Rule(a, i), Self::Rule(b, j)) => std::ptr::eq(*a, *b) && i == j,
            (Self::Tier { short: a, tier: t }, Self::Tier { short: b, tier: u }) => {
                a == b && t == u
            }
            (Self::Unisolated, Self::Unisolated) => true,
            _ => false,
        }
    }
}

impl OpenerKey<'_> {
    fn named(self) -> Opener {
        match self {
            Self::Rule(policy, index) => Opener::Rule {
                policy: PolicyRef(policy).to_name(),
                index,
            },
            Self::Tier { short, tier } => Opener::Tier { short, tier },
            Self::Unisolated => Opener::Unisolated,
        }
    }
}

/// How an Ignite class's egress is judged on each probe.
enum Judge<'a> {
    /// Through [`View::evaluate`], as every query is: the reference, and the way when
    /// cluster-wide tiers take part.
    Reference,
    /// Not isolated for egress (or on the host's network): every probe is open.
    Open,
    /// The egress rules of the policies that isolate the pod, in order: a probe is open by
    /// every rule whose peers and ports match it, and denied when none does.
    Rules(Vec<(&'a Policy, usize, &'a Rule)>),
}

/// What one opener lets through, by destination and class indexes.
#[derive(Default)]
struct Opened {
    /// The excess (destination, port, protocol) it opens, in probing order: by destination,
    /// then port, for each Ignite class in turn.
    groups: Vec<(usize, u16, Protocol)>,
    /// The Ignite classes it concerns.
    from: BTreeSet<usize>,
    /// The required flows it carries: (kind, port, protocol, destination).
    needed: BTreeSet<(FlowKind, u16, Protocol, usize)>,
    /// The destinations it carries a required flow to.
    needed_dests: BTreeSet<usize>,
    excess: bool,
    /// It opens every destination ([`opens_anywhere`]): said as one opening, so its excess
    /// destinations are not collected.
    summarised: bool,
}

/// [`Opened`] in words.
struct Named<'a> {
    /// The NetworkPolicy rule, when a rule is the opener.
    rule: Option<&'a Rule>,
    /// Group label -> (internet, ports; sorted once named).
    groups: BTreeMap<String, (bool, Vec<(u16, Protocol)>)>,
    from: BTreeSet<String>,
    /// The required flows it carries, in words.
    needed: BTreeSet<String>,
    /// The group labels of the destinations it carries a required flow to.
    needed_dests: BTreeSet<String>,
    /// Said as one opening to any address ([`Opened::summarised`]).
    summarised: bool,
}

/// The required flows of one Ignite pod, as (destination, port, protocol) facts.
struct Needs<'a> {
    env: &'a Environment,
    cfg: &'a Compiled,
    namespace: &'a str,
}

impl Needs<'_> {
    fn kind(&self, to: &Dest<'_>, port: u16, protocol: Protocol) -> Option<FlowKind> {
        let env = self.env;
        match to {
            Dest::Pod(pod, _) => {
                let dns = pod.namespace == env.dns.namespace
                    && env.dns.pods.contains(&pod.name)
                    && env.dns.ports.contains(&(port, protocol));
                if dns {
                    return Some(FlowKind::Dns);
                }
                // A hostNetwork kube-apiserver (kubeadm's static pod) has the control plane's
                // address: reaching it on the endpoint's port is the API server flow.
                if let Some(kind) = pod
                    .ips
                    .iter()
                    .find_map(|ip| self.ip_kind(ip, port, protocol))
                {
                    return Some(kind);
                }
                if pod.namespace == self.namespace
                    && scope::is_ignite(self.cfg, pod)
                    && protocol == Protocol::Tcp
                    && self.peer_port(port)
                {
                    return Some(FlowKind::Peer);
                }
                let extra = self.cfg.extra_flows.iter().any(|(flow, selector)| {
                    flow.direction == FlowDirection::Egress
                        && flow.namespace == pod.namespace
                        && flow.port == port
                        && flow.protocol == protocol
                        && selector.matches(&pod.labels)
                });
                extra.then_some(FlowKind::Extra)
            }
            Dest::AnyPod(_) => None,
            Dest::Ip(ip, _) => self.ip_kind(ip, port, protocol),
        }
    }

    /// The required flow a connection to an address is, when it is one.
    fn ip_kind(&self, ip: &IpAddr, port: u16, protocol: Protocol) -> Option<FlowKind> {
        let env = self.env;
        if env.dns.addresses.contains(ip) && env.dns.service_ports.contains(&(port, protocol)) {
            return Some(FlowKind::Dns);
        }
        let api = self.cfg.config.profile.needs_api_server()
            && protocol == Protocol::Tcp
            && (env.api_server.endpoints.contains(&(*ip, port))
                || env.api_server.cluster_ip == Some((*ip, port)));
        api.then_some(FlowKind::Apiserver)
    }

    fn peer_port(&self, port: u16) -> bool {
        let range = self.cfg.config.peers.port_range.max(1);
        self.cfg
            .config
            .peer_ports()
            .iter()
            .any(|&base| port >= base && u32::from(port) < u32::from(base) + u32::from(range))
    }
}

/// A pod without labels or ports in `namespace`: what a new pod there would be.
pub fn unlabelled_pod(namespace: &str) -> PodInfo {
    PodInfo {
        namespace: namespace.to_string(),
        name: "*".into(),
        labels: Default::default(),
        ips: Vec::new(),
        host_network: false,
        ports: Vec::new(),
    }
}

/// Whether an address is outside every private, shared, loopback and link-local range.
pub fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

fn port_text(port: u16, protocol: Protocol) -> String {
    format!("{port}/{protocol}")
}

/// The egress findings and ingress exposure of `namespace`'s Ignite pods (a stand-in when none
/// runs) under `view`.
pub fn analyse(view: &View<'_>, env: &Environment, cfg: &Compiled, namespace: &str) -> Excess {
    let stand_in = decision::stand_in(cfg, namespace);
    let mut ignite = scope::ignite_pods(view.cluster, cfg, namespace);
    if ignite.is_empty() {
        ignite.push(&stand_in);
    }
    analyse_pods(view, env, cfg, namespace, &ignite)
}

/// [`analyse`] for Ignite pods the caller has found already.
pub fn analyse_pods(
    view: &View<'_>,
    env: &Environment,
    cfg: &Compiled,
    namespace: &str,
    ignite: &[&PodInfo],
) -> Excess {
    let (egress, not_analysed) = match egress(view, env, cfg, namespace, ignite) {
        Ok(found) => (found, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Excess {
        egress,
        ingress: ingress(view, cfg, ignite),
        not_analysed,
    }
}

/// The egress findings alone (what admission warns about).
pub fn egress(
    view: &View<'_>,
    env: &Environment,
    cfg: &Compiled,
    namespace: &str,
    ignite: &[&PodInfo],
) -> Result<Vec<Finding>, TooLarge> {
    egress_probing(view, env, cfg, namespace, ignite, true)
}

/// [`egress`] probing every destination of the cluster, whether a rule can reach it or not,
/// each probe judged by [`View::evaluate`]: the reference the pruned, rule-by-rule probing is
/// tested against. Costs what the cluster holds.
#[doc(hidden)]
pub fn egress_exhaustive(
    view: &View<'_>,
    env: &Environment,
    cfg: &Compiled,
    namespace: &str,
    ignite: &[&PodInfo],
) -> Result<Vec<Finding>, TooLarge> {
    egress_probing(view, env, cfg, namespace, ignite, false)
}

fn egress_probing(
    view: &View<'_>,
    env: &Environment,
    cfg: &Compiled,
    namespace: &str,
    ignite: &[&PodInfo],
    prune: bool,
) -> Result<Vec<Finding>, TooLarge> {
    let cluster = view.cluster;
    // The policies selecting each Ignite pod, looked up once.
    let selecting: Vec<Vec<&Policy>> = ignite.iter().map(|pod| view.selecting(pod)).collect();
    let selecting_of = |pod: &PodInfo| -> Vec<&Policy> {
        match ignite.iter().position(|p| std::ptr::eq(*p, pod)) {
            Some(i) => selecting[i].clone(),
            None => view.selecting(pod),
        }
    };
    let rules: usize = selecting
        .iter()
        .map(|policies| {
            policies
                .iter()
                .map(|p| p.egress.as_ref().map_or(0, Vec::len))
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    if rules > MAX_RULES {
        return Err(TooLarge { rules });
    }
    let needs = Needs {
        env,
        cfg,
        namespace,
    };
    // An opener that lets the pod reach every destination — no egress isolation, or a rule
    // without `to` on numbered ports — is one finding, "any address", not a list of every
    // namespace, pod and address of the cluster. Not with cluster-wide tiers, whose Denies can
    // take some destinations back.
    let summarise = !view.has_tiers();
    // What the rules can open at all; a destination outside it is denied on every port. The
    // openers of every destination are left out of it: only their required flows are probed.
    let reach = if prune {
        Reach::of(view, ignite, &selecting).map(|mut r| {
            if r.anywhere {
                r.add_needed(cluster, env, cfg, namespace);
            }
            r
        })
    } else {
        None
    };
    // Stand-ins: one unlabelled pod per namespace a rule could open.
    let stand_ins: Vec<PodInfo> = match &reach {
        None => cluster
            .namespaces()
            .map(|ns| unlabelled_pod(&ns.name))
            .collect(),
        Some(r) => r.stand_ins.iter().map(|ns| unlabelled_pod(ns)).collect(),
    };
    // Destination pods, one per class as the Ignite namespace's policies see them. A class is
    // reached whole or not at all (its members share what the peers look at), so classing
    // only the reachable pods gives the same classes.
    let dest_pods: Vec<&PodInfo> = match &reach {
        None => cluster.pods().collect(),
        Some(r) => r.pods.iter().map(|&i| cluster.pod_at(i)).collect(),
    };
    let pod_classes = classes(view, &[namespace], &dest_pods);
    // Addresses and ports the rules name.
    let mut addresses: BTreeSet<IpAddr> = BTreeSet::new();
    let mut ports: BTreeSet<(u16, Protocol)> = PROBE_PORTS.into_iter().collect();
    ports.extend(env.dns.ports.iter().copied());
    ports.extend(env.dns.service_ports.iter().copied());
    ports.extend(
        env.api_server
            .endpoints
            .iter()
            .map(|&(_, p)| (p, Protocol::Tcp)),
    );
    ports.extend(
        env.api_server
            .cluster_ip
            .iter()
            .map(|&(_, p)| (p, Protocol::Tcp)),
    );
    for p in cfg.config.peer_ports() {
        ports.insert((p, Protocol::Tcp));
    }
    addresses.extend(INTERNET_PROBE_ADDRESSES);
    match &reach {
        None => addresses.extend(cluster.nodes().flat_map(|n| n.addresses.iter().copied())),
        Some(r) => {
            for b in &r.blocks {
                let (first, last) = b.range();
                addresses.extend(
                    cluster
                        .node_ips_between(first, last)
                        .iter()
                        .filter(|ip| b.contains(ip)),
                );
            }
        }
    }
    addresses.extend(env.dns.addresses.iter().copied());
    addresses.extend(env.api_server.endpoints.iter().map(|&(ip, _)| ip));
    addresses.extend(env.api_server.cluster_ip.iter().map(|&(ip, _)| ip));
    let (mut drawn_ports, mut drawn_addresses) = (0, 0);
    for policies in &selecting {
        for policy in policies {
            for rule in policy.egress.iter().flatten() {
                for p in &rule.ports {
                    if let PortMatch::Range { start, end } = p.port
                        && drawn_ports < MAX_DRAWN
                    {
                        drawn_ports += 1;
                        ports.insert((start, p.protocol));
                        ports.insert((end, p.protocol));
                    }
                }
                for peer in &rule.peers {
                    if let Peer::Block(b) = peer
                        && drawn_addresses < MAX_DRAWN
                    {
                        drawn_addresses += 1;
                        let (first, last) = b.range();
                        for ip in [first, last, next(first)] {
                            if b.contains(&ip) {
                                addresses.insert(ip);
                            }
                        }
                    }
                }
            }
        }
    }
    if view.has_tiers() {
        for policy in view.all_cluster_policies() {
            for rule in &policy.egress {
                for peer in &rule.peers {
                    if let TierPeer::Networks(nets) = peer {
                        for n in nets.iter().take(MAX_DRAWN) {
                            addresses.insert(n.network());
                            addresses.insert(next(n.network()));
                        }
                    }
                }
            }
        }
    }

    let mut dests: Vec<Dest<'_>> = Vec::new();
    for class in &pod_classes {
        dests.push(Dest::Pod(class[0].pod, class[0].more));
    }
    dests.extend(stand_ins.iter().map(Dest::AnyPod));
    for ip in addresses {
        if cluster.is_pod_ip(&ip) {
            continue; // the pod stands for its address
        }
        if let Some(r) = &reach
            && !r.blocks.iter().any(|b| b.contains(&ip))
            && !r.needed_ips.contains(&ip)
        {
            continue; // no rule opens it
        }
        let class = if cluster.is_node_ip(&ip) {
            IpClass::Node
        } else if is_public(&ip) {
            IpClass::Internet
        } else {
            IpClass::Other
        };
        dests.push(Dest::Ip(ip, class));
    }

    // Only the policies that select them (and the cluster-wide ones) judge their egress.
    let ignite_classes = classes(view, &[namespace], ignite);
    let from_labels: Vec<String> = ignite_classes.iter().map(|c| c[0].label()).collect();
    // Per destination: the ports probed on it, when its pod names ports the others do not.
    let ports: Vec<(u16, Protocol)> = ports.into_iter().collect();
    let probes: Vec<Option<Vec<(u16, Protocol)>>> = dests
        .iter()
        .map(|dest| match dest {
            Dest::Pod(p, _) | Dest::AnyPod(p)
                if p.ports
                    .iter()
                    .any(|cp| ports.binary_search(&(cp.port, cp.protocol)).is_err()) =>
            {
                let mut probe = ports.clone();
                probe.extend(p.ports.iter().map(|cp| (cp.port, cp.protocol)));
                probe.sort_unstable();
                probe.dedup();
                Some(probe)
            }
            _ => None,
        })
        .collect();
    let mut found: Vec<(OpenerKey<'_>, Opened)> = Vec::new();
    let mut openers: Vec<OpenerKey<'_>> = Vec::new();
    let mut peer_ok: Vec<bool> = Vec::new();
    for (c, class) in ignite_classes.iter().enumerate() {
        let from = &class[0];
        // Judged the reference way (every probe through `View::evaluate`) for the exhaustive
        // analysis and when cluster-wide tiers take part; else from the egress rules of the
        // policies that isolate the pod, found once for the class.
        let selecting = selecting_of(from.pod);
        let judge = if !prune || view.has_tiers() {
            Judge::Reference
        } else if egress_open(from.pod, &selecting) {
            Judge::Open
        } else {
            Judge::Rules(
                selecting
                    .iter()
                    .flat_map(|&policy| {
                        let rules = policy.egress.iter().flatten().enumerate();
                        rules.map(move |(index, rule)| (policy, index, rule))
                    })
                    .collect(),
            )
        };
        // What opens every destination opens excess by definition (the internet on its
        // ports), whatever the probes below find.
        if summarise {
            for key in anywhere_openers(from.pod, &selecting) {
                let entry = opened(&mut found, key, true);
                entry.excess = true;
                entry.from.insert(c);
            }
        }
        for (d, dest) in dests.iter().enumerate() {
            let (to, dst_ports) = match dest {
                Dest::Pod(p, _) | Dest::AnyPod(p) => (Endpoint::Pod(p), p.ports.as_slice()),
                Dest::Ip(ip, _) => (Endpoint::Ip(*ip), &[][..]),
            };
            if let Dest::Pod(p, _) = dest
                && std::ptr::eq(*p, from.pod)
                && !scope::is_ignite(cfg, p)
            {
                continue;
            }
            if let Judge::Rules(rules) = &judge {
                // Whether a rule's peers match the destination does not depend on the port.
                peer_ok.clear();
                peer_ok.extend(
                    rules
                        .iter()
                        .map(|(policy, _, rule)| rule_admits(cluster, policy, rule, &to)),
                );
                if !peer_ok.contains(&true) {
                    continue; // denied on every port
                }
            }
            for &(port, protocol) in probes[d].as_deref().unwrap_or(&ports) {
                openers.clear();
                match &judge {
                    Judge::Open => openers.push(OpenerKey::Unisolated),
                    Judge::Rules(rules) => openers.extend(
                        rules
                            .iter()
                            .zip(&peer_ok)
                            .filter(|((_, _, rule), ok)| {
                                **ok && rule_allows_port(rule, port, protocol, Some(dst_ports))
                            })
                            .map(|(&(policy, index, _), _)| OpenerKey::Rule(policy, index)),
                    ),
                    Judge::Reference => {
                        let verdict = view.evaluate(&Connection {
                            from: Endpoint::Pod(from.pod),
                            to,
                            port,
                            protocol,
                        });
                        let side = &verdict.egress;
                        if !side.allows() {
                            continue;
                        }
                        match (side.decided_by, &side.tier_rule) {
                            (Layer::Admin | Layer::Baseline, Some(rule)) => {
                                openers.push(OpenerKey::Tier {
                                    short: rule.short(),
                                    tier: rule.policy.tier.to_string(),
                                })
                            }
                            // Every rule that admits it, not only the first: each is a finding
                            // of its own.
                            (Layer::NetworkPolicy, _) => {
                                for policy in &side.isolated_by {
                                    let rules = policy.0.egress.iter().flatten().enumerate();
                                    openers.extend(
                                        rules
                                            .filter(|(_, rule)| {
                                                rule_allows(
                                                    cluster,
                                                    policy.0,
                                                    rule,
                                                    &to,
                                                    port,
                                                    protocol,
                                                    Some(dst_ports),
                                                )
                                            })
                                            .map(|(index, _)| OpenerKey::Rule(policy.0, index)),
                                    )
                                }
                            }
                            _ => openers.push(OpenerKey::Unisolated),
                        }
                    }
                }
                if openers.is_empty() {
                    continue;
                }
                // What the probe is for Ignite, asked only of a probe something opens.
                let needed = needs.kind(dest, port, protocol);
                for opener in openers.drain(..) {
                    let entry = opened(&mut found, opener, summarise);
                    if let Some(kind) = needed {
                        entry.needed.insert((kind, port, protocol, d));
                        entry.needed_dests.insert(d);
                        continue;
                    }
                    entry.excess = true;
                    entry.from.insert(c);
                    if !entry.summarised {
                        entry.groups.push((d, port, protocol));
                    }
                }
            }
        }
    }
    // Named once, at the end and only where a finding shows them: destinations by their
    // group, pods by their class.
    let mut groups: Vec<Option<(String, bool)>> = vec![None; dests.len()];
    let mut group_of = |d: usize| -> (String, bool) {
        groups[d]
            .get_or_insert_with(|| group(&dests[d], &needs))
            .clone()
    };
    let found: BTreeMap<Opener, Named<'_>> = found
        .into_iter()
        .filter(|(_, opened)| opened.excess)
        .map(|(key, opened)| {
            let summarised = opened.summarised;
            let rule = match key {
                OpenerKey::Rule(policy, index) => policy.egress.as_ref().and_then(|r| r.get(index)),
                _ => None,
            };
            let mut named = Named {
                rule,
                from: opened
                    .from
                    .iter()
                    .map(|&c| from_labels[c].clone())
                    .collect(),
                needed: opened
                    .needed
                    .iter()
                    .map(|&(kind, port, protocol, d)| {
                        format!(
                            "{kind} {} to {}",
                            port_text(port, protocol),
                            dest_name(&dests[d])
                        )
                    })
                    .collect(),
                needed_dests: opened.needed_dests.iter().map(|&d| group_of(d).0).collect(),
                groups: BTreeMap::new(),
                summarised,
            };
            // Runs of one destination (a destination recurs once per Ignite class; each
            // group's ports are sorted and deduplicated when named).
            for run in opened.groups.chunk_by(|a, b| a.0 == b.0) {
                let (label, internet) = group_of(run[0].0);
                let slot = named.groups.entry(label).or_default();
                slot.0 |= internet;
                slot.1
                    .extend(run.iter().map(|&(_, port, protocol)| (port, protocol)));
            }
            (key.named(), named)
        })
        .collect();

    let mut out = Vec::new();
    // Each port in words once: a wide rule opens the same few ports to every destination.
    let mut texts: BTreeMap<(u16, Protocol), String> = BTreeMap::new();
    for (opener, opened) in found {
        let Named {
            rule,
            groups,
            from,
            needed,
            needed_dests,
            summarised,
        } = opened;
        // Every destination it opens is one Ignite needs: the excess is only in the ports.
        let only_ports = groups.keys().all(|to| needed_dests.contains(to));
        let mut opens: Vec<Opening> = groups
            .into_iter()
            .map(|(to, (internet, mut ports))| {
                ports.sort_unstable();
                ports.dedup();
                Opening {
                    to,
                    ports: ports
                        .into_iter()
                        .map(|(p, proto)| {
                            texts
                                .entry((p, proto))
                                .or_insert_with(|| port_text(p, proto))
                                .clone()
                        })
                        .collect(),
                    internet,
                }
            })
            .collect();
        if summarised {
            opens = vec![Opening {
                to: ANY_ADDRESS.to_string(),
                ports: summary_ports(rule),
                internet: true,
            }];
        }
        // The worst first: the internet, whole namespaces, then single pods and addresses.
        opens.sort_by(|a, b| {
            let key = |o: &Opening| (!o.internet, !o.to.starts_with("every pod"));
            key(a).cmp(&key(b)).then_with(|| a.to.cmp(&b.to))
        });
        let needed_for: Vec<String> = needed.into_iter().collect();
        let (kind, rule, policy, index) = match &opener {
            Opener::Unisolated => (
                FindingKind::NotIsolated,
                "no egress policy selects the pod".to_string(),
                None,
                None,
            ),
            Opener::Tier { short, tier } => (
                FindingKind::TierAccept,
                format!("{short} ({tier} tier)"),
                None,
                None,
            ),
            Opener::Rule { policy, index } => {
                let kind = rule_kind(rule, &opens, only_ports);
                (
                    kind,
                    format!("{policy} egress[{index}]"),
                    Some(policy.clone()),
                    Some(*index),
                )
            }
        };
        let instead = instead(kind, &needed_for);
        out.push(Finding {
            kind,
            rule,
            policy,
            direction: Direction::Egress,
            index,
            from: from.into_iter().collect(),
            opens,
            needed_for,
            instead,
        });
    }
    Ok(out)
}

/// What an opener of every destination opens, in words.
pub const ANY_ADDRESS: &str =
    "any address (the internet, every node, every pod of every namespace)";

/// Whether an egress rule opens every destination on its ports: no `to`, and no named port
/// (a named port opens only the pods that declare it, which probing finds).
fn opens_anywhere(rule: &Rule) -> bool {
    rule.peers.is_empty()
        && rule
            .ports
            .iter()
            .all(|p| !matches!(p.port, PortMatch::Named(_)))
}

/// Whether NetworkPolicies leave `pod`'s egress open, given the policies selecting it: on the
/// host's network, or no policy isolates its egress.
fn egress_open(pod: &PodInfo, selecting: &[&Policy]) -> bool {
    pod.host_network || !selecting.iter().any(|p| p.egress.is_some())
}

/// The openers of every destination for an Ignite pod without cluster-wide tiers, given the
/// policies selecting it: the lack of egress isolation, or the rules of the policies isolating
/// it that [`opens_anywhere`].
fn anywhere_openers<'a>(pod: &PodInfo, selecting: &[&'a Policy]) -> Vec<OpenerKey<'a>> {
    if egress_open(pod, selecting) {
        return vec![OpenerKey::Unisolated];
    }
    selecting
        .iter()
        .flat_map(|&policy| {
            let rules = policy.egress.iter().flatten().enumerate();
            rules
                .filter(|(_, rule)| opens_anywhere(rule))
                .map(move |(index, _)| OpenerKey::Rule(policy, index))
        })
        .collect()
}

/// The entry of `key` in `found`, added when it is new.
fn opened<'f, 'a>(
    found: &'f mut Vec<(OpenerKey<'a>, Opened)>,
    key: OpenerKey<'a>,
    summarise: bool,
) -> &'f mut Opened {
    let at = match found.iter().position(|(k, _)| *k == key) {
        Some(at) => at,
        None => {
            let summarised = summarise
                && match &key {
                    OpenerKey::Unisolated => true,
                    OpenerKey::Rule(policy, index) => policy
                        .egress
                        .as_ref()
                        .and_then(|r| r.get(*index))
                        .is_some_and(opens_anywhere),
                    OpenerKey::Tier { .. } => false,
                };
            found.push((
                key,
                Opened {
                    summarised,
                    ..Opened::default()
                },
            ));
            found.len() - 1
        }
    };
    &mut found[at].1
}

/// The ports of an opener of every destination: the rule's, `every port` without a rule or
/// with a rule that lists none.
fn summary_ports(rule: Option<&Rule>) -> Vec<String> {
    let Some(rule) = rule.filter(|r| !r.ports.is_empty()) else {
        return vec!["every port".to_string()];
    };
    let mut ports: Vec<(u16, u16, Protocol)> = rule
        .ports
        .iter()
        .filter_map(|p| match p.port {
            PortMatch::Range { start, end } => Some((start, end, p.protocol)),
            PortMatch::Any => Some((1, u16::MAX, p.protocol)),
            PortMatch::Named(_) => None,
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
        .into_iter()
        .map(|(start, end, protocol)| {
            if start == end {
                port_text(start, protocol)
            } else {
                format!("{start}-{end}/{protocol}")
            }
        })
        .collect()
}

/// What the egress rules over the Ignite pods can open, found through the cluster's indexes so
/// that a review costs what its rules reach, not what the cluster holds.
struct Reach<'c> {
    /// Indexes of the pods some peer matches, sorted.
    pods: Vec<usize>,
    /// Namespaces whose unlabelled stand-in some peer matches.
    stand_ins: BTreeSet<&'c str>,
    /// The `ipBlock`s of the rules.
    blocks: Vec<&'c IpBlock>,
    /// Some Ignite pod is open to every destination ([`opens_anywhere`], no isolation): the
    /// destinations of its required flows are probed too ([`Reach::add_needed`]).
    anywhere: bool,
    /// The addresses of the required flows, probed whatever the rules' blocks.
    needed_ips: Vec<IpAddr>,
}

impl<'c> Reach<'c> {
    /// `None` when everything may be open: a rule without `to` that names a port (the pods
    /// declaring it are found by probing them all), or cluster-wide policies (whose Accepts and
    /// Passes are judged on every destination). A pod not isolated for egress and a rule
    /// without `to` on numbered ports open every destination and are said so
    /// ([`opens_anywhere`]): they only set [`Reach::anywhere`].
    fn of(view: &View<'c>, ignite: &[&PodInfo], selecting: &[Vec<&'c Policy>]) -> Option<Self> {
        if view.has_tiers() {
            return None;
        }
        let cluster = view.cluster;
        let mut reach = Reach {
            pods: Vec::new(),
            stand_ins: BTreeSet::new(),
            blocks: Vec::new(),
            anywhere: false,
            needed_ips: Vec::new(),
        };
        let unlabelled = Labels::new();
        for (pod, selecting) in ignite.iter().zip(selecting) {
            if egress_open(pod, selecting) {
                reach.anywhere = true;
                continue;
            }
            for &policy in selecting {
                for rule in policy.egress.iter().flatten() {
                    if opens_anywhere(rule) {
                        reach.anywhere = true;
                        continue;
                    }
                    if rule.peers.is_empty() {
                        return None;
                    }
                    for peer in &rule.peers {
                        match peer {
                            Peer::Block(b) => {
                                let (first, last) = b.range();
                                reach.pods.extend(cluster.pods_between(first, last));
                                reach.blocks.push(b);
                            }
                            Peer::Pods { namespaces, pods } => {
                                reach.add_pods(cluster, policy, peer, namespaces, pods, &unlabelled)
                            }
                        }
                    }
                }
            }
        }
        reach.pods.sort_unstable();
        reach.pods.dedup();
        reach.blocks.sort_unstable();
        reach.blocks.dedup();
        Some(reach)
    }

    /// Adds the destinations of the Ignite pods' required flows: every pod of the namespaces
    /// that hold one (so that their classes are whole, as probing the whole cluster would find
    /// them) and the addresses of DNS and the API server.
    fn add_needed(
        &mut self,
        cluster: &'c Cluster,
        env: &Environment,
        cfg: &Compiled,
        namespace: &str,
    ) {
        let mut namespaces: BTreeSet<&str> =
            BTreeSet::from([namespace, env.dns.namespace.as_str()]);
        let ips = env
            .dns
            .addresses
            .iter()
            .copied()
            .chain(env.api_server.endpoints.iter().map(|&(ip, _)| ip))
            .chain(env.api_server.cluster_ip.iter().map(|&(ip, _)| ip));
        for ip in ips {
            namespaces.extend(
                cluster
                    .pods_between(ip, ip)
                    .map(|i| cluster.pod_at(i).namespace.as_str()),
            );
            self.needed_ips.push(ip);
        }
        namespaces.extend(
            cfg.extra_flows
                .iter()
                .filter(|(flow, _)| flow.direction == FlowDirection::Egress)
                .map(|(flow, _)| flow.namespace.as_str()),
        );
        for ns in namespaces {
            self.pods.extend(cluster.pod_indexes_in(ns));
        }
        self.pods.sort_unstable();
        self.pods.dedup();
    }

    /// Adds what a pod peer of `policy` reaches: the pods it matches, found through the label
    /// index when its selector has an anchor, and the stand-ins of the namespaces in its scope
    /// when it matches an unlabelled pod.
    fn add_pods(
        &mut self,
        cluster: &'c Cluster,
        policy: &'c Policy,
        peer: &Peer,
        namespaces: &NamespaceScope,
        pods: &Selector,
        unlabelled: &Labels,
    ) {
        let in_scope = |ns: &NamespaceInfo| match namespaces {
            NamespaceScope::Own => ns.name == policy.namespace,
            NamespaceScope::Matching(sel) => sel.is_everything() || sel.matches(&ns.labels),
        };
        let matches =
            |i: &usize| peer_matches(cluster, policy, peer, &Endpoint::Pod(cluster.pod_at(*i)));
        // The one namespace the peer can range over, when there is one: the policy's own
        // without a namespace selector, or the one a namespace selector names
        // (`kubernetes.io/metadata.name`, which the API server sets to the name).
        let only = match namespaces {
            NamespaceScope::Own => Some(policy.namespace.as_str()),
            NamespaceScope::Matching(sel) => sel
                .match_labels()
                .find(|(k, _)| *k == NAMESPACE_NAME_LABEL)
                .map(|(_, name)| name),
        };
        let scoped = || -> Vec<&'c NamespaceInfo> {
            match only {
                Some(name) => cluster
                    .namespace(name)
                    .filter(|n| in_scope(n))
                    .into_iter()
                    .collect(),
                None => cluster.namespaces().filter(|n| in_scope(n)).collect(),
            }
        };
        match pods.anchor() {
            // Across namespaces, the pods carrying the selector's labels are the candidates;
            // within one namespace, its pods are, however many pods elsewhere carry them.
            Some(pairs) if only.is_none() => {
                for (k, v) in pairs {
                    self.pods
                        .extend(cluster.pods_labelled(k, v).filter(matches));
                }
            }
            _ => {
                for ns in scoped() {
                    self.pods
                        .extend(cluster.pod_indexes_in(&ns.name).filter(matches));
                }
            }
        }
        if pods.matches(unlabelled) {
            self.stand_ins
                .extend(scoped().into_iter().map(|n| n.name.as_str()));
        }
    }
}

fn next(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(u32::from(v4).saturating_add(1).into()),
        IpAddr::V6(v6) => IpAddr::V6(u128::from(v6).saturating_add(1).into()),
    }
}

fn dest_name(dest: &Dest<'_>) -> String {
    match dest {
        Dest::Pod(p, 0) => pod_name(p),
        Dest::Pod(p, more) => format!("{} (+{more} like it)", pod_name(p)),
        Dest::AnyPod(p) => format!("every pod of namespace {}", p.namespace),
        Dest::Ip(ip, _) => ip.to_string(),
    }
}

/// How an excess destination is grouped and named, and whether it is on the internet.
fn group(dest: &Dest<'_>, needs: &Needs<'_>) -> (String, bool) {
    match dest {
        Dest::Pod(p, more) => {
            let what = if scope::is_ignite(needs.cfg, p) && p.namespace == needs.namespace {
                "Ignite pod"
            } else {
                "pod"
            };
            let name = if *more > 0 {
                format!("{what} {} (+{more} like it)", pod_name(p))
            } else {
                format!("{what} {}", pod_name(p))
            };
            (name, false)
        }
        Dest::AnyPod(p) => (format!("every pod of namespace {}", p.namespace), false),
        Dest::Ip(_, IpClass::Internet) => ("any address (the internet)".to_string(), true),
        Dest::Ip(ip, IpClass::Node) => (format!("node address {ip}"), false),
        Dest::Ip(ip, IpClass::Other) => (format!("address {ip}"), false),
    }
}

/// The kind of a NetworkPolicy rule's excess, from its shape and what it opens.
fn rule_kind(rule: Option<&Rule>, opens: &[Opening], only_ports: bool) -> FindingKind {
    let Some(rule) = rule else {
        return FindingKind::WideSelector;
    };
    if rule.peers.is_empty() {
        return FindingKind::AnyDestination;
    }
    if only_ports {
        return FindingKind::ExtraPorts;
    }
    let blocks = rule.peers.iter().any(|p| matches!(p, Peer::Block(_)));
    let addresses = opens
        .iter()
        .any(|o| o.internet || o.to.starts_with("address") || o.to.starts_with("node"));
    if blocks && (addresses || rule.peers.iter().all(|p| matches!(p, Peer::Block(_)))) {
        FindingKind::WideIpBlock
    } else {
        FindingKind::WideSelector
    }
}

fn instead(kind: FindingKind, needed_for: &[String]) -> String {
    let needs: BTreeSet<&str> = needed_for
        .iter()
        .filter_map(|n| n.split(' ').next())
        .collect();
    let needs: Vec<&str> = needs.into_iter().collect();
    match (kind, needs.is_empty()) {
        (FindingKind::NotIsolated, _) => {
            "isolate the Ignite pods' egress: a default-deny plus the rules `ignite-netpol generate` writes".into()
        }
        (FindingKind::TierAccept, _) => {
            "narrow the cluster-wide rule's subject or peers; NetworkPolicies cannot take back an Admin Accept".into()
        }
        (_, true) => "remove the rule: Ignite needs nothing it opens".into(),
        (FindingKind::ExtraPorts, false) => {
            // `dns 53/UDP to …` -> `53/UDP`
            let ports: BTreeSet<&str> = needed_for
                .iter()
                .filter_map(|n| n.split(' ').nth(1))
                .collect();
            let ports: Vec<&str> = ports.into_iter().collect();
            format!(
                "keep its destinations and list only the ports Ignite needs there: {}",
                ports.join(", ")
            )
        }
        (_, false) => format!(
            "replace it with the {} rule(s) `ignite-netpol generate` writes: they name the exact pods, addresses and ports",
            needs.join(", ")
        ),
    }
}

/// Who may reach the Ignite pods' client and peer ports.
pub fn ingress(view: &View<'_>, cfg: &Compiled, ignite: &[&PodInfo]) -> Vec<Exposure> {
    let cluster = view.cluster;
    let mut ports: Vec<(u16, String, bool)> = CLIENT_PORTS
        .iter()
        .map(|&(p, what)| (p, what.to_string(), false))
        .collect();
    for (i, p) in cfg.config.peer_ports().into_iter().enumerate() {
        let what = if i == 0 { "discovery" } else { "communication" };
        ports.push((p, what.to_string(), true));
    }
    let namespaces: Vec<&str> = cluster.namespaces().map(|n| n.name.as_str()).collect();
    let ignite_classes = classes(view, &namespaces, ignite);
    let internet: Vec<IpAddr> = INTERNET_PROBES
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let nodes: Vec<IpAddr> = cluster
        .nodes()
        .flat_map(|n| n.addresses.iter().copied())
        .collect();
    let mut out = Vec::new();
    for (port, purpose, peer) in ports {
        let mut exposure = Exposure {
            port,
            protocol: Protocol::Tcp,
            purpose,
            peer,
            from_namespaces: Vec::new(),
            from_internet: false,
            from_nodes: false,
        };
        let allows = |from: Endpoint<'_>, to: &Member<'_>| {
            view.evaluate(&Connection {
                from,
                to: Endpoint::Pod(to.pod),
                port,
                protocol: Protocol::Tcp,
            })
            .ingress
            .allows()
        };
        for class in &ignite_classes {
            let to = &class[0];
            for ns in &namespaces {
                let any = PodInfo {
                    namespace: ns.to_string(),
                    name: "*".into(),
                    labels: Default::default(),
                    ips: Vec::new(),
                    host_network: false,
                    ports: Vec::new(),
                };
                let label = if allows(Endpoint::Pod(&any), to) {
                    Some(format!("{ns} (any pod)"))
                } else {
                    cluster
                        .pods_in(ns)
                        .find(|p| !std::ptr::eq(*p, to.pod) && allows(Endpoint::Pod(p), to))
                        .map(|p| format!("{ns} (pod {})", p.name))
                };
                if let Some(label) = label
                    && !exposure.from_namespaces.contains(&label)
                {
                    exposure.from_namespaces.push(label);
                }
            }
            exposure.from_internet |= internet.iter().any(|ip| allows(Endpoint::Ip(*ip), to));
            exposure.from_nodes |= nodes.iter().any(|ip| allows(Endpoint::Ip(*ip), to));
        }
        out.push(exposure);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_kind_is_named_as_it_is_serialised() {
        use FindingKind::*;
        let all = [
            NotIsolated,
            AnyDestination,
            WideIpBlock,
            WideSelector,
            ExtraPorts,
            TierAccept,
        ];
        for kind in all {
            assert_eq!(
                serde_json::to_value(kind).expect("serialises"),
                kind.name(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn the_internet_probes_are_the_addresses_named() {
        let named: Vec<IpAddr> = INTERNET_PROBES
            .iter()
            .map(|a| a.parse().expect("an address"))
            .collect();
        assert_eq!(named, INTERNET_PROBE_ADDRESSES);
        assert!(INTERNET_PROBE_ADDRESSES.iter().all(is_public));
    }

    #[test]
    fn public_addresses_are_told_from_private_ones() {
        for ip in ["8.8.8.8", "52.1.2.3", "2001:4860:4860::8888"] {
            assert!(is_public(&ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "10.1.2.3",
            "172.21.0.10",
            "192.168.49.2",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(!is_public(&ip.parse().expect("ip")), "{ip}");
        }
    }
}
