//! The cluster-scoped tiers around NetworkPolicy: ClusterNetworkPolicy (Admin and Baseline
//! tiers, `policy.networking.k8s.io/v1alpha2`) and AdminNetworkPolicy /
//! BaselineAdminNetworkPolicy (`v1alpha1`), compiled into one model.
//!
//! A connection is judged on each side (egress at the source, ingress at the destination) in
//! this order:
//! 1. **Admin tier**: the policies whose subject selects the pod, by priority (lower first), each
//!    rule in the order written. The first rule that matches decides: `Accept` (v1alpha1
//!    `Allow`) and `Deny` are final; `Pass` skips the rest of the tier.
//! 2. **NetworkPolicy**: if any NetworkPolicy isolates the pod in this direction, they decide.
//! 3. **Baseline tier**: as the Admin tier (`Pass` goes on to the default).
//! 4. **Default**: allowed.
//!
//! Host-network pods are never subjects, nor matched by `namespaces`/`pods` peers (only by
//! `networks` and `nodes`, through their addresses). `domainNames` peers are read but not
//! evaluated: this tool resolves no names, so a rule that would need it is reported as such.
//! A peer with none of the known fields (a newer CRD) fails closed: an `Accept` rule matches
//! nothing by it, a `Deny` or `Pass` rule becomes "all traffic".

pub mod api;

use std::{fmt, net::IpAddr};

use ipnet::IpNet;
use serde::Serialize;

use super::{
    Cluster, ContainerPort, Direction, FieldError, PodInfo, Protocol, Selector, Sub,
    ipblock::parse_cidr, port::port_number, port::validate_port_name,
};

/// The most rules a direction may hold, and the most peers, protocols or CIDRs a rule may hold
/// (the CRDs' `maxItems`).
const MAX_ITEMS: usize = 25;

/// A cluster-wide tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Tier {
    /// Before any NetworkPolicy.
    Admin,
    /// For pods no NetworkPolicy isolates.
    Baseline,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Admin => "Admin",
            Self::Baseline => "Baseline",
        })
    }
}

/// What a rule does with the traffic it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    /// `Accept` (v1alpha1 `Allow`): allowed, no later rule of any tier is read.
    Accept,
    /// Dropped, no later rule of any tier is read.
    Deny,
    /// The rest of this tier is skipped.
    Pass,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accept => "Accept",
            Self::Deny => "Deny",
            Self::Pass => "Pass",
        })
    }
}

/// Which API object a cluster policy came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    ClusterNetworkPolicy,
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
}

impl Kind {
    /// The three kinds.
    pub const ALL: [Kind; 3] = [
        Self::ClusterNetworkPolicy,
        Self::AdminNetworkPolicy,
        Self::BaselineAdminNetworkPolicy,
    ];

    /// The kind's name, as in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterNetworkPolicy => "ClusterNetworkPolicy",
            Self::AdminNetworkPolicy => "AdminNetworkPolicy",
            Self::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compiled ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPolicy {
    pub kind: Kind,
    pub name: String,
    pub tier: Tier,
    /// Lower goes first. A BaselineAdminNetworkPolicy has none and goes after every
    /// ClusterNetworkPolicy of the Baseline tier ([`BANP_PRIORITY`]).
    pub priority: u32,
    pub subject: Subject,
    pub ingress: Vec<TierRule>,
    pub egress: Vec<TierRule>,
}

/// The priority a BaselineAdminNetworkPolicy is ordered by: after every priority a
/// ClusterNetworkPolicy may have (0-1000).
pub const BANP_PRIORITY: u32 = 1001;

/// The pods a cluster policy applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// Every pod of the matching namespaces.
    Namespaces(Selector),
    /// The matching pods of the matching namespaces.
    Pods {
        namespaces: Selector,
        pods: Selector,
    },
}

/// One rule of a cluster policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierRule {
    pub name: Option<String>,
    pub action: Action,
    pub peers: Vec<TierPeer>,
    /// Empty means every port and protocol.
    pub ports: Vec<TierPort>,
}

/// One entry of a rule's `from` / `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierPeer {
    /// Every (non-host-network) pod of the matching namespaces.
    Namespaces(Selector),
    /// The matching (non-host-network) pods of the matching namespaces.
    Pods {
        namespaces: Selector,
        pods: Selector,
    },
    /// The addresses of the matching Nodes.
    Nodes(Selector),
    /// Addresses in these CIDRs, in or outside the cluster.
    Networks(Vec<IpNet>),
    /// Names this tool does not resolve.
    DomainNames(Vec<String>),
    /// None of the fields known here: written for a newer CRD.
    Unknown,
}

/// One entry of a rule's `protocols` (v1alpha2) or `ports` (v1alpha1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierPort {
    /// `start..=end` of one protocol.
    Range {
        protocol: Protocol,
        start: u16,
        end: u16,
    },
    /// A named container port of the destination pod, of whatever protocol it declares.
    Named(String),
}

/// Whether a rule matches a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    Yes,
    No,
    /// Only a `domainNames` peer could match, and names are not resolved here.
    NotEvaluated,
}

impl ClusterPolicy {
    /// Compiles a ClusterNetworkPolicy; errors name the offending field.
    pub fn compile_cnp(obj: &api::ClusterNetworkPolicy) -> Result<Self, FieldError> {
        let name = object_name(&obj.metadata)?;
        let spec = obj
            .spec
            .as_ref()
            .ok_or_else(|| FieldError::new("spec", "must be set"))?;
        let tier = match spec.tier.as_deref() {
            Some("Admin") => Tier::Admin,
            Some("Baseline") => Tier::Baseline,
            Some(other) => {
                return Err(FieldError::new(
                    "spec.tier",
                    format!("unknown tier {other:?} (expected Admin or Baseline)"),
                ));
            }
            None => return Err(FieldError::new("spec.tier", "must be set")),
        };
        let priority = priority(spec.priority)?;
        Self::compile_spec(Kind::ClusterNetworkPolicy, name, tier, priority, spec)
    }

    /// Compiles an AdminNetworkPolicy (Admin tier).
    pub fn compile_anp(obj: &api::AdminNetworkPolicy) -> Result<Self, FieldError> {
        let name = object_name(&obj.metadata)?;
        let spec = obj
            .spec
            .as_ref()
            .ok_or_else(|| FieldError::new("spec", "must be set"))?;
        let priority = priority(spec.priority)?;
        Self::compile_spec(Kind::AdminNetworkPolicy, name, Tier::Admin, priority, spec)
    }

    /// Compiles a BaselineAdminNetworkPolicy (Baseline tier; the API admits only `default`).
    pub fn compile_banp(obj: &api::BaselineAdminNetworkPolicy) -> Result<Self, FieldError> {
        let name = object_name(&obj.metadata)?;
        if name != "default" {
            return Err(FieldError::new(
                "metadata.name",
                format!("{name:?}: a BaselineAdminNetworkPolicy must be named \"default\""),
            ));
        }
        let spec = obj
            .spec
            .as_ref()
            .ok_or_else(|| FieldError::new("spec", "must be set"))?;
        Self::compile_spec(
            Kind::BaselineAdminNetworkPolicy,
            name,
            Tier::Baseline,
            BANP_PRIORITY,
            spec,
        )
    }

    fn compile_spec(
        kind: Kind,
        name: &str,
        tier: Tier,
        priority: u32,
        spec: &api::Spec,
    ) -> Result<Self, FieldError> {
        let subject = match spec.subject.as_ref() {
            None => return Err(FieldError::new("spec.subject", "must be set")),
            Some(api::Subject {
                namespaces: Some(ns),
                pods: None,
            }) => Subject::Namespaces(Selector::compile(ns, &"spec.subject.namespaces")?),
            Some(api::Subject {
                namespaces: None,
                pods: Some(pods),
            }) => {
                let (namespaces, pods) = namespaced_pod(pods, &"spec.subject.pods")?;
                Subject::Pods { namespaces, pods }
            }
            Some(_) => {
                return Err(FieldError::new(
                    "spec.subject",
                    "must set exactly one of namespaces and pods",
                ));
            }
        };
        let ingress = rules(kind, spec.ingress.as_deref(), Direction::Ingress)?;
        let egress = rules(kind, spec.egress.as_deref(), Direction::Egress)?;
        Ok(Self {
            kind,
            name: name.to_string(),
            tier,
            priority,
            subject,
            ingress,
            egress,
        })
    }

    /// The rules of one direction (empty: the policy does not affect it).
    pub fn rules(&self, direction: Direction) -> &[TierRule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// Whether the policy applies to `pod` (never to a host-network pod).
    pub fn selects(&self, cluster: &Cluster, pod: &PodInfo) -> bool {
        if pod.host_network {
            return false;
        }
        match &self.subject {
            Subject::Namespaces(ns) => namespace_matches(cluster, ns, &pod.namespace),
            Subject::Pods { namespaces, pods } => {
                pods.matches(&pod.labels) && namespace_matches(cluster, namespaces, &pod.namespace)
            }
        }
    }

    /// How policies of one tier are ordered: priority, then kind and name, so that the order
    /// is the same on every run (the API leaves ties to the implementation).
    pub fn order_key(&self) -> (Tier, u32, Kind, &str) {
        (self.tier, self.priority, self.kind, &self.name)
    }
}

impl TierRule {
    /// Whether this rule matches traffic with `peer` (the other end) on `port`/`protocol`;
    /// `dst_ports` are the destination's container ports when it is a pod.
    pub fn matches(
        &self,
        cluster: &Cluster,
        peer: &PeerEnd<'_>,
        port: u16,
        protocol: Protocol,
        dst_ports: Option<&[ContainerPort]>,
    ) -> Match {
        if self.action != Action::Accept && self.peers.contains(&TierPeer::Unknown) {
            return Match::Yes;
        }
        let port_ok = self.ports.is_empty()
            || self
                .ports
                .iter()
                .any(|p| p.matches(port, protocol, dst_ports));
        if !port_ok {
            return Match::No;
        }
        let mut result = Match::No;
        for p in &self.peers {
            match p.matches(cluster, peer) {
                Match::Yes => return Match::Yes,
                Match::NotEvaluated => result = Match::NotEvaluated,
                Match::No => {}
            }
        }
        result
    }
}

/// The other end of a connection, as a cluster policy peer sees it.
#[derive(Clone, Copy, Debug)]
pub enum PeerEnd<'a> {
    Pod(&'a PodInfo),
    Ip(IpAddr),
}

impl PeerEnd<'_> {
    fn ips(&self) -> &[IpAddr] {
        match self {
            PeerEnd::Pod(p) => &p.ips,
            PeerEnd::Ip(ip) => std::slice::from_ref(ip),
        }
    }
}

impl TierPeer {
    fn matches(&self, cluster: &Cluster, end: &PeerEnd<'_>) -> Match {
        let hit = match (self, end) {
            (TierPeer::Namespaces(ns), PeerEnd::Pod(p)) => {
                !p.host_network && namespace_matches(cluster, ns, &p.namespace)
            }
            (TierPeer::Pods { namespaces, pods }, PeerEnd::Pod(p)) => {
                !p.host_network
                    && pods.matches(&p.labels)
                    && namespace_matches(cluster, namespaces, &p.namespace)
            }
            (TierPeer::Namespaces(_) | TierPeer::Pods { .. }, PeerEnd::Ip(_)) => false,
            (TierPeer::Networks(nets), end) => end
                .ips()
                .iter()
                .any(|ip| nets.iter().any(|n| n.contains(ip))),
            (TierPeer::Nodes(sel), end) => cluster
                .nodes()
                .filter(|n| sel.matches(&n.labels))
                .any(|n| end.ips().iter().any(|ip| n.addresses.contains(ip))),
            (TierPeer::DomainNames(_), _) => return Match::NotEvaluated,
            (TierPeer::Unknown, _) => false,
        };
        if hit { Match::Yes } else { Match::No }
    }
}

impl TierPort {
    fn matches(&self, port: u16, protocol: Protocol, dst_ports: Option<&[ContainerPort]>) -> bool {
        match self {
            TierPort::Range {
                protocol: p,
                start,
                end,
            } => *p == protocol && (*start..=*end).contains(&port),
            TierPort::Named(name) => dst_ports.into_iter().flatten().any(|cp| {
                cp.name.as_deref() == Some(name.as_str())
                    && cp.protocol == protocol
                    && cp.port == port
            }),
        }
    }
}

impl fmt::Display for TierPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TierPort::Range {
                protocol,
                start,
                end,
            } if start == end => write!(f, "{start}/{protocol}"),
            TierPort::Range {
                protocol,
                start,
                end,
            } => write!(f, "{start}-{end}/{protocol}"),
            TierPort::Named(name) => write!(f, "named port {name}"),
        }
    }
}

fn namespace_matches(cluster: &Cluster, sel: &Selector, namespace: &str) -> bool {
    sel.is_everything()
        || cluster
            .namespace(namespace)
            .is_some_and(|ns| sel.matches(&ns.labels))
}

fn object_name(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<&str, FieldError> {
    meta.name
        .as_deref()
        .ok_or_else(|| FieldError::new("metadata.name", "must be set"))
}

fn priority(raw: Option<i64>) -> Result<u32, FieldError> {
    match raw {
        None => Err(FieldError::new("spec.priority", "must be set")),
        Some(p) => u32::try_from(p)
            .ok()
            .filter(|p| *p <= 1000)
            .ok_or_else(|| FieldError::new("spec.priority", format!("{p} is not in 0-1000"))),
    }
}

fn namespaced_pod(
    raw: &api::NamespacedPod,
    field: &dyn fmt::Display,
) -> Result<(Selector, Selector), FieldError> {
    let namespaces = Selector::compile_opt(
        raw.namespace_selector.as_ref(),
        &Sub::new(field, "namespaceSelector", None),
    )?;
    let pods = match raw.pod_selector.as_ref() {
        Some(s) => Selector::compile(s, &Sub::new(field, "podSelector", None))?,
        None => {
            return Err(FieldError::new(
                format!("{field}.podSelector"),
                "must be set",
            ));
        }
    };
    Ok((namespaces, pods))
}

fn max_items(len: usize, field: &dyn fmt::Display) -> Result<(), FieldError> {
    if len > MAX_ITEMS {
        return Err(FieldError::new(
            field.to_string(),
            format!("{len} items; at most {MAX_ITEMS} are allowed"),
        ));
    }
    Ok(())
}

fn rules(
    kind: Kind,
    raw: Option<&[api::Rule]>,
    direction: Direction,
) -> Result<Vec<TierRule>, FieldError> {
    let list = match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    };
    let raw = raw.unwrap_or_default();
    max_items(raw.len(), &Sub::new(&"spec", list, None))?;
    raw.iter()
        .enumerate()
        .map(|(i, r)| rule(kind, r, direction, &Sub::new(&"spec", list, Some(i))))
        .collect()
}

fn rule(
    kind: Kind,
    raw: &api::Rule,
    direction: Direction,
    field: &dyn fmt::Display,
) -> Result<TierRule, FieldError> {
    let v1alpha1 = kind != Kind::ClusterNetworkPolicy;
    let action = match raw.action.as_deref() {
        Some("Accept") if !v1alpha1 => Action::Accept,
        Some("Allow") if v1alpha1 => Action::Accept,
        Some("Deny") => Action::Deny,
        Some("Pass") if kind != Kind::BaselineAdminNetworkPolicy => Action::Pass,
        Some(other) => {
            let expected = match kind {
                Kind::ClusterNetworkPolicy => "Accept, Deny or Pass",
                Kind::AdminNetworkPolicy => "Allow, Deny or Pass",
                Kind::BaselineAdminNetworkPolicy => "Allow or Deny",
            };
            return Err(FieldError::new(
                format!("{field}.action"),
                format!("unknown action {other:?} for a {kind} (expected {expected})"),
            ));
        }
        None => return Err(FieldError::new(format!("{field}.action"), "must be set")),
    };
    if let Some(name) = &raw.name
        && name.len() > 100
    {
        return Err(FieldError::new(
            format!("{field}.name"),
            "may be at most 100 characters",
        ));
    }
    let (key, wrong) = match direction {
        Direction::Ingress => ("from", raw.to.is_some()),
        Direction::Egress => ("to", raw.from.is_some()),
    };
    if wrong {
        let other = if key == "from" { "to" } else { "from" };
        return Err(FieldError::new(
            format!("{field}.{other}"),
            format!("a {direction} rule has {key:?}, not {other:?}"),
        ));
    }
    let peers_raw = match direction {
        Direction::Ingress => raw.from.as_deref(),
        Direction::Egress => raw.to.as_deref(),
    };
    let peers_raw = match peers_raw {
        Some(p) if !p.is_empty() => p,
        _ => {
            return Err(FieldError::new(
                format!("{field}.{key}"),
                "must list at least one peer",
            ));
        }
    };
    max_items(peers_raw.len(), &Sub::new(field, key, None))?;
    let peers = peers_raw
        .iter()
        .enumerate()
        .map(|(i, p)| peer(p, direction, action, &Sub::new(field, key, Some(i))))
        .collect::<Result<Vec<_>, _>>()?;
    let ports = if v1alpha1 {
        if raw.protocols.is_some() {
            return Err(FieldError::new(
                format!("{field}.protocols"),
                format!("a {kind} (v1alpha1) has \"ports\", not \"protocols\""),
            ));
        }
        let list = raw.ports.as_deref().unwrap_or_default();
        max_items(list.len(), &Sub::new(field, "ports", None))?;
        list.iter()
            .enumerate()
            .map(|(i, p)| admin_port(p, &Sub::new(field, "ports", Some(i))))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        if raw.ports.is_some() {
            return Err(FieldError::new(
                format!("{field}.ports"),
                "a ClusterNetworkPolicy (v1alpha2) has \"protocols\", not \"ports\"",
            ));
        }
        let list = raw.protocols.as_deref().unwrap_or_default();
        if raw.protocols.is_some() && list.is_empty() {
            return Err(FieldError::new(
                format!("{field}.protocols"),
                "must list at least one protocol when set",
            ));
        }
        max_items(list.len(), &Sub::new(field, "protocols", None))?;
        list.iter()
            .enumerate()
            .map(|(i, p)| protocol_match(p, &Sub::new(field, "protocols", Some(i))))
            .collect::<Result<Vec<_>, _>>()?
    };
    let named = ports.iter().any(|p| matches!(p, TierPort::Named(_)));
    let addressed = peers.iter().any(|p| {
        matches!(
            p,
            TierPeer::Networks(_) | TierPeer::Nodes(_) | TierPeer::DomainNames(_)
        )
    });
    if named && addressed {
        return Err(FieldError::new(
            field.to_string(),
            "a networks, nodes or domainNames peer cannot be combined with a named port: they have no named ports",
        ));
    }
    Ok(TierRule {
        name: raw.name.clone(),
        action,
        peers,
        ports,
    })
}

fn peer(
    raw: &api::Peer,
    direction: Direction,
    action: Action,
    field: &dyn fmt::Display,
) -> Result<TierPeer, FieldError> {
    let set = [
        raw.namespaces.is_some(),
        raw.pods.is_some(),
        raw.nodes.is_some(),
        raw.networks.is_some(),
        raw.domain_names.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if set > 1 {
        return Err(FieldError::new(
            field.to_string(),
            "must set exactly one of namespaces, pods, nodes, networks and domainNames",
        ));
    }
    if direction == Direction::Ingress
        && (raw.nodes.is_some() || raw.networks.is_some() || raw.domain_names.is_some())
    {
        return Err(FieldError::new(
            field.to_string(),
            "an ingress peer is namespaces or pods",
        ));
    }
    if let Some(ns) = &raw.namespaces {
        return Ok(TierPeer::Namespaces(Selector::compile(
            ns,
            &Sub::new(field, "namespaces", None),
        )?));
    }
    if let Some(pods) = &raw.pods {
        let (namespaces, pods) = namespaced_pod(pods, &Sub::new(field, "pods", None))?;
        return Ok(TierPeer::Pods { namespaces, pods });
    }
    if let Some(nodes) = &raw.nodes {
        return Ok(TierPeer::Nodes(Selector::compile(
            nodes,
            &Sub::new(field, "nodes", None),
        )?));
    }
    if let Some(networks) = &raw.networks {
        let list = Sub::new(field, "networks", None);
        if networks.is_empty() {
            return Err(FieldError::new(
                list.to_string(),
                "must list at least one CIDR",
            ));
        }
        max_items(networks.len(), &list)?;
        return networks
            .iter()
            .enumerate()
            .map(|(i, text)| parse_cidr(text, &Sub::new(field, "networks", Some(i))))
            .collect::<Result<Vec<_>, _>>()
            .map(TierPeer::Networks);
    }
    if let Some(names) = &raw.domain_names {
        let list = Sub::new(field, "domainNames", None);
        if action != Action::Accept {
            return Err(FieldError::new(
                list.to_string(),
                "domainNames may only be used in Accept rules",
            ));
        }
        if names.is_empty() {
            return Err(FieldError::new(
                list.to_string(),
                "must list at least one name",
            ));
        }
        max_items(names.len(), &list)?;
        return Ok(TierPeer::DomainNames(names.clone()));
    }
    Ok(TierPeer::Unknown)
}

fn protocol_match(
    raw: &api::ProtocolMatch,
    field: &dyn fmt::Display,
) -> Result<TierPort, FieldError> {
    let entries = [
        (Protocol::Tcp, "tcp", raw.tcp.as_ref()),
        (Protocol::Udp, "udp", raw.udp.as_ref()),
        (Protocol::Sctp, "sctp", raw.sctp.as_ref()),
    ];
    let set = entries.iter().filter(|(_, _, p)| p.is_some()).count()
        + usize::from(raw.destination_named_port.is_some());
    if set != 1 {
        return Err(FieldError::new(
            field.to_string(),
            "must set exactly one of tcp, udp, sctp and destinationNamedPort",
        ));
    }
    if let Some(name) = &raw.destination_named_port {
        return named_port(name, &Sub::new(field, "destinationNamedPort", None));
    }
    let Some((protocol, key, Some(p))) = entries.into_iter().find(|(_, _, p)| p.is_some()) else {
        return Err(FieldError::new(field.to_string(), "must set a protocol"));
    };
    let field = Sub::new(field, key, None);
    let Some(dst) = &p.destination_port else {
        return Err(FieldError::new(
            format!("{field}.destinationPort"),
            "must be set",
        ));
    };
    let field = Sub::new(&field, "destinationPort", None);
    match (dst.number, &dst.range) {
        (Some(n), None) => {
            let port = port_number(n, &Sub::new(&field, "number", None))?;
            Ok(TierPort::Range {
                protocol,
                start: port,
                end: port,
            })
        }
        (None, Some(range)) => {
            let (start, end) = port_range(range, &Sub::new(&field, "range", None))?;
            Ok(TierPort::Range {
                protocol,
                start,
                end,
            })
        }
        _ => Err(FieldError::new(
            field.to_string(),
            "must set exactly one of number and range",
        )),
    }
}

fn admin_port(raw: &api::AdminPort, field: &dyn fmt::Display) -> Result<TierPort, FieldError> {
    match (&raw.port_number, &raw.named_port, &raw.port_range) {
        (Some(n), None, None) => {
            let field = Sub::new(field, "portNumber", None);
            let protocol = Protocol::parse_field(
                Some(n.protocol.as_deref().unwrap_or("TCP")),
                &Sub::new(&field, "protocol", None),
            )?;
            let port = match n.port {
                Some(p) => port_number(p, &Sub::new(&field, "port", None))?,
                None => return Err(FieldError::new(format!("{field}.port"), "must be set")),
            };
            Ok(TierPort::Range {
                protocol,
                start: port,
                end: port,
            })
        }
        (None, Some(name), None) => named_port(name, &Sub::new(field, "namedPort", None)),
        (None, None, Some(range)) => {
            let field = Sub::new(field, "portRange", None);
            let protocol = Protocol::parse_field(
                Some(range.protocol.as_deref().unwrap_or("TCP")),
                &Sub::new(&field, "protocol", None),
            )?;
            let (start, end) = port_range(range, &field)?;
            Ok(TierPort::Range {
                protocol,
                start,
                end,
            })
        }
        _ => Err(FieldError::new(
            field.to_string(),
            "must set exactly one of portNumber, namedPort and portRange",
        )),
    }
}

fn named_port(name: &str, field: &dyn fmt::Display) -> Result<TierPort, FieldError> {
    validate_port_name(name).map_err(|why| {
        FieldError::new(
            field.to_string(),
            format!("{name:?} is not a valid port name: {why}"),
        )
    })?;
    Ok(TierPort::Named(name.to_string()))
}

fn port_range(range: &api::PortRange, field: &dyn fmt::Display) -> Result<(u16, u16), FieldError> {
    let get = |v: Option<i64>, key: &str| match v {
        Some(n) => port_number(n, &Sub::new(field, key, None)),
        None => Err(FieldError::new(format!("{field}.{key}"), "must be set")),
    };
    let (start, end) = (get(range.start, "start")?, get(range.end, "end")?);
    if start >= end {
        return Err(FieldError::new(
            format!("{field}.end"),
            format!("{end} must be greater than start {start}"),
        ));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::policy::Cluster;

    fn cnp(spec: Value) -> Result<ClusterPolicy, FieldError> {
        let obj: api::ClusterNetworkPolicy =
            serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec}))
                .expect("test object must deserialize");
        ClusterPolicy::compile_cnp(&obj)
    }

    fn admin(spec: Value) -> Value {
        let mut s = json!({"tier": "Admin", "priority": 5, "subject": {"namespaces": {}}});
        if let (Some(base), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
            base.extend(extra.clone());
        }
        s
    }

    #[test]
    fn errors_name_the_field_as_the_crd_schema_would() {
        let cases = [
            (
                json!({"priority": 1, "subject": {"namespaces": {}}}),
                "spec.tier",
            ),
            (admin(json!({"tier": "Platform"})), "spec.tier"),
            (admin(json!({"priority": 1001})), "spec.priority"),
            (admin(json!({"subject": {}})), "spec.subject"),
            (
                admin(json!({"subject": {"pods": {"namespaceSelector": {}}}})),
                "spec.subject.pods.podSelector",
            ),
            (
                admin(json!({"egress": [{"action": "Allow", "to": [{"namespaces": {}}]}]})),
                "spec.egress[0].action",
            ),
            (
                admin(json!({"egress": [{"action": "Deny"}]})),
                "spec.egress[0].to",
            ),
            (
                admin(
                    json!({"egress": [{"action": "Deny", "to": [{"namespaces": {}, "nodes": {}}]}]}),
                ),
                "spec.egress[0].to[0]",
            ),
            (
                admin(
                    json!({"ingress": [{"action": "Deny", "from": [{"networks": ["10.0.0.0/8"]}]}]}),
                ),
                "spec.ingress[0].from[0]",
            ),
            (
                admin(
                    json!({"egress": [{"action": "Deny", "to": [{"networks": ["10.0.0.300/8"]}]}]}),
                ),
                "spec.egress[0].to[0].networks[0]",
            ),
            (
                admin(
                    json!({"egress": [{"action": "Deny", "to": [{"domainNames": ["example.com"]}]}]}),
                ),
                "spec.egress[0].to[0].domainNames",
            ),
            (
                admin(
                    json!({"egress": [{"action": "Accept", "to": [{"namespaces": {}}],
                    "protocols": [{"tcp": {"destinationPort": {"range": {"start": 90, "end": 80}}}}]}]}),
                ),
                "spec.egress[0].protocols[0].tcp.destinationPort.range.end",
            ),
            (
                admin(
                    json!({"egress": [{"action": "Accept", "to": [{"namespaces": {}}],
                    "protocols": [{"tcp": {"destinationPort": {"number": 0}}}]}]}),
                ),
                "spec.egress[0].protocols[0].tcp.destinationPort.number",
            ),
            (
                admin(
                    json!({"egress": [{"action": "Accept", "to": [{"namespaces": {}}],
                    "protocols": [{"tcp": {"destinationPort": {"number": 80}}, "udp": {"destinationPort": {"number": 53}}}]}]}),
                ),
                "spec.egress[0].protocols[0]",
            ),
            (
                admin(
                    json!({"egress": [{"action": "Accept", "to": [{"networks": ["10.0.0.0/8"]}],
                    "protocols": [{"destinationNamedPort": "web"}]}]}),
                ),
                "spec.egress[0]",
            ),
            (
                admin(
                    json!({"egress": [{"action": "Accept", "to": [{"namespaces": {}}],
                    "ports": [{"portNumber": {"port": 80}}]}]}),
                ),
                "spec.egress[0].ports",
            ),
        ];
        for (spec, field) in cases {
            let err = cnp(spec.clone()).expect_err("must be rejected");
            assert_eq!(err.field, field, "{spec}: {err}");
        }
    }

    #[test]
    fn v1alpha1_kinds_compile_to_the_same_model() {
        let anp: api::AdminNetworkPolicy = serde_json::from_value(json!({
            "metadata": {"name": "a"},
            "spec": {"priority": 7, "subject": {"namespaces": {}},
                     "egress": [{"action": "Allow", "to": [{"namespaces": {}}],
                                 "ports": [{"portNumber": {"protocol": "UDP", "port": 53}},
                                           {"portRange": {"start": 6443, "end": 6444}},
                                           {"namedPort": "dns-tcp"}]}]}
        }))
        .expect("deserializes");
        let a = ClusterPolicy::compile_anp(&anp).expect("compiles");
        assert_eq!(
            (a.kind, a.tier, a.priority),
            (Kind::AdminNetworkPolicy, Tier::Admin, 7)
        );
        assert_eq!(a.egress[0].action, Action::Accept);
        assert_eq!(
            a.egress[0].ports,
            vec![
                TierPort::Range {
                    protocol: Protocol::Udp,
                    start: 53,
                    end: 53
                },
                TierPort::Range {
                    protocol: Protocol::Tcp,
                    start: 6443,
                    end: 6444
                },
                TierPort::Named("dns-tcp".into()),
            ]
        );

        let banp = |name: &str, action: &str| -> Result<ClusterPolicy, FieldError> {
            let obj: api::BaselineAdminNetworkPolicy = serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"subject": {"namespaces": {}},
                         "ingress": [{"action": action, "from": [{"namespaces": {}}]}]}
            }))
            .expect("deserializes");
            ClusterPolicy::compile_banp(&obj)
        };
        let b = banp("default", "Deny").expect("compiles");
        assert_eq!((b.tier, b.priority), (Tier::Baseline, BANP_PRIORITY));
        assert_eq!(
            banp("other", "Deny").expect_err("singleton").field,
            "metadata.name"
        );
        assert_eq!(
            banp("default", "Pass")
                .expect_err("no Pass in a BANP")
                .field,
            "spec.ingress[0].action"
        );
    }

    fn end(cluster: &Cluster, ns: &str, name: &str) -> PodInfo {
        cluster.pod(ns, name).cloned().expect("pod")
    }

    #[test]
    fn an_unknown_peer_fails_closed_and_domain_names_are_not_evaluated() {
        let mut snapshot = crate::snapshot::ClusterSnapshot::default();
        snapshot
            .add_text(
                "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nstatus: {podIP: 10.0.0.1}\n",
                "t.yaml",
            )
            .expect("loads");
        let cluster = snapshot.cluster().expect("model");
        let pod = end(&cluster, "x", "a");
        let rule = |action: &str, peer: Value| -> TierRule {
            let p = cnp(admin(json!({"egress": [{"action": action, "to": [peer],
                "protocols": [{"tcp": {"destinationPort": {"number": 443}}}]}]})))
            .expect("compiles");
            p.egress[0].clone()
        };
        let to = PeerEnd::Ip("1.2.3.4".parse().expect("ip"));
        let newer = json!({"serviceAccounts": {"name": "x"}});
        assert_eq!(
            rule("Accept", newer.clone()).matches(&cluster, &to, 443, Protocol::Tcp, None),
            Match::No
        );
        // "Deny all": the rule's ports do not narrow it either.
        assert_eq!(
            rule("Deny", newer.clone()).matches(&cluster, &to, 80, Protocol::Udp, None),
            Match::Yes
        );
        assert_eq!(
            rule("Pass", newer).matches(&cluster, &to, 80, Protocol::Udp, None),
            Match::Yes
        );
        let named = rule("Accept", json!({"domainNames": ["*.example.com"]}));
        assert_eq!(
            named.matches(&cluster, &to, 443, Protocol::Tcp, None),
            Match::NotEvaluated
        );
        assert_eq!(
            named.matches(&cluster, &to, 80, Protocol::Tcp, None),
            Match::No
        );
        assert_eq!(
            named.matches(&cluster, &PeerEnd::Pod(&pod), 443, Protocol::Tcp, None),
            Match::NotEvaluated
        );
    }
}
