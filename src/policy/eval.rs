//! Is a connection allowed? Evaluation with an explanation.
//!
//! A connection from A to B on port/protocol is allowed when A's egress **and** B's ingress allow
//! it. A side is judged only when it is a pod (a bare address has no policies) and not
//! host-networked (NetworkPolicy does not apply to hostNetwork pods). A pod is isolated in a
//! direction once any policy that selects it affects that direction; it is then allowed exactly
//! what the union of those policies' rules allows. The verdict says which policies isolate each
//! side and which rule (policy + index) allowed the connection.
//!
//! Around NetworkPolicy sit the cluster-wide tiers ([`super::tier`]): an Admin-tier rule that
//! matches decides before any NetworkPolicy is read, and a Baseline-tier rule decides for a pod
//! that no NetworkPolicy isolates. The verdict names the deciding tier and rule.
//!
//! Evaluation runs over a [`View`]: the cluster as loaded, optionally with one policy replaced,
//! added or deleted, so an admission decision can ask "what if" without copying the cluster.

use std::{fmt, net::IpAddr};

use serde::Serialize;

use super::{
    Cluster, Direction, NamespaceScope, Peer, PodInfo, Policy, Protocol, Rule,
    tier::{Action, ClusterPolicy, Kind, Match, PeerEnd, Tier, TierRule},
};

/// One end of a connection.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint<'a> {
    Pod(&'a PodInfo),
    Ip(IpAddr),
}

impl Endpoint<'_> {
    fn pod(&self) -> Option<&PodInfo> {
        match self {
            Endpoint::Pod(p) => Some(p),
            Endpoint::Ip(_) => None,
        }
    }
}

/// A policy, named `namespace/name` when shown: a reference, so judging a connection formats
/// nothing until someone reads the verdict.
#[derive(Clone, Copy, Debug)]
pub struct PolicyRef<'a>(pub &'a Policy);

impl PolicyRef<'_> {
    fn key(&self) -> (&str, &str) {
        (&self.0.namespace, &self.0.name)
    }

    /// Appends `namespace/name` to `out` (what `Display` shows, without the formatter).
    pub fn push_to(&self, out: &mut String) {
        out.push_str(&self.0.namespace);
        out.push('/');
        out.push_str(&self.0.name);
    }

    /// `namespace/name`.
    pub fn to_name(&self) -> String {
        let mut out = String::with_capacity(self.0.namespace.len() + 1 + self.0.name.len());
        self.push_to(&mut out);
        out
    }
}

impl PartialEq for PolicyRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for PolicyRef<'_> {}

impl fmt::Display for PolicyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.namespace, self.0.name)
    }
}

impl Serialize for PolicyRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One rule of a policy: `namespace/name`, direction and index in that direction's list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleRef<'a> {
    pub policy: PolicyRef<'a>,
    pub direction: Direction,
    pub rule: usize,
}

impl fmt::Display for RuleRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}[{}]", self.policy, self.direction, self.rule)
    }
}

/// One rule of a cluster policy: the policy, direction and index in that direction's list.
#[derive(Clone, Copy, Debug)]
pub struct TierRuleRef<'a> {
    pub policy: &'a ClusterPolicy,
    pub direction: Direction,
    pub rule: usize,
}

impl<'a> TierRuleRef<'a> {
    /// `Kind/name direction[index]`, e.g. `ClusterNetworkPolicy/deny-egress egress[0]`.
    pub fn short(&self) -> String {
        format!(
            "{}/{} {}[{}]",
            self.policy.kind, self.policy.name, self.direction, self.rule
        )
    }

    /// The rule itself.
    pub fn rule(&self) -> &'a TierRule {
        &self.policy.rules(self.direction)[self.rule]
    }
}

impl PartialEq for TierRuleRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        (
            self.policy.kind,
            &self.policy.name,
            self.direction,
            self.rule,
        ) == (
            other.policy.kind,
            &other.policy.name,
            other.direction,
            other.rule,
        )
    }
}

impl Eq for TierRuleRef<'_> {}

impl fmt::Display for TierRuleRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.policy;
        write!(
            f,
            "{} {} ({} tier, priority {}) {}[{}]",
            p.kind, p.name, p.tier, p.priority, self.direction, self.rule
        )?;
        let rule = self.rule();
        if let Some(name) = &rule.name {
            write!(f, " {name:?}")?;
        }
        write!(f, ": {}", rule.action)
    }
}

impl Serialize for TierRuleRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let rule = self.rule();
        let mut st = s.serialize_struct("TierRuleRef", 8)?;
        st.serialize_field("kind", &self.policy.kind)?;
        st.serialize_field("policy", &self.policy.name)?;
        st.serialize_field("tier", &self.policy.tier)?;
        st.serialize_field("priority", &self.policy.priority)?;
        st.serialize_field("direction", &self.direction)?;
        st.serialize_field("rule", &self.rule)?;
        st.serialize_field("name", &rule.name)?;
        st.serialize_field("action", &rule.action)?;
        st.end()
    }
}

/// Which layer of policy decided one side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// No policy applies to this end (an address, or a host-network pod).
    None,
    /// An Admin-tier rule (Accept or Deny).
    Admin,
    /// The NetworkPolicies that isolate the pod.
    NetworkPolicy,
    /// A Baseline-tier rule (Accept or Deny).
    Baseline,
    /// Nothing decided: allowed by default.
    Default,
}

/// How one side of a connection judged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SideStatus {
    /// This end is an address, not a pod: no policy applies.
    External,
    /// This end is a hostNetwork pod: NetworkPolicy does not apply to it.
    HostNetwork,
    /// No policy selecting this pod affects this direction.
    NotIsolated,
    /// Isolated, and a rule allows the connection.
    Allowed,
    /// Isolated, and no rule allows the connection.
    Denied,
}

/// One side's verdict with its reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side<'a> {
    pub status: SideStatus,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub isolated_by: Vec<PolicyRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_by: Option<RuleRef<'a>>,
    /// The layer whose decision stands.
    pub decided_by: Layer,
    /// The Admin- or Baseline-tier rule that decided (Accept or Deny).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier_rule: Option<TierRuleRef<'a>>,
    /// The `Pass` rule that handed the connection on to the next tier (one per tier at most: an
    /// Admin `Pass` goes on to NetworkPolicy, a Baseline `Pass` to the default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passed_by: Vec<TierRuleRef<'a>>,
    /// Rules passed over because they match by `domainNames`, which are not resolved here: if
    /// the destination is one of those names, such a rule decides instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_evaluated: Vec<TierRuleRef<'a>>,
}

impl Side<'_> {
    /// Whether this side lets the connection through.
    pub fn allows(&self) -> bool {
        self.status != SideStatus::Denied
    }

    /// A side no policy judged (`status` says why).
    pub fn unjudged(status: SideStatus) -> Self {
        Self {
            status,
            isolated_by: Vec::new(),
            allowed_by: None,
            decided_by: match status {
                SideStatus::External | SideStatus::HostNetwork => Layer::None,
                _ => Layer::Default,
            },
            tier_rule: None,
            passed_by: Vec::new(),
            not_evaluated: Vec::new(),
        }
    }

    /// Whether a cluster-wide rule, not a NetworkPolicy, decided this side.
    pub fn decided_by_tier(&self) -> bool {
        matches!(self.decided_by, Layer::Admin | Layer::Baseline)
    }
}

/// The verdict on one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict<'a> {
    pub allowed: bool,
    /// The source's egress.
    pub egress: Side<'a>,
    /// The destination's ingress.
    pub ingress: Side<'a>,
}

/// A connection to judge.
#[derive(Clone, Copy, Debug)]
pub struct Connection<'a> {
    pub from: Endpoint<'a>,
    pub to: Endpoint<'a>,
    pub port: u16,
    pub protocol: Protocol,
}

/// A change to one policy, for "what if" evaluation.
#[derive(Clone, Copy, Debug)]
pub struct PolicyChange<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// The policy after the change; `None` for a deletion.
    pub policy: Option<&'a Policy>,
}

/// A change to one cluster-wide policy (ClusterNetworkPolicy, AdminNetworkPolicy or
/// BaselineAdminNetworkPolicy), for "what if" evaluation.
#[derive(Clone, Copy, Debug)]
pub struct ClusterPolicyChange<'a> {
    pub kind: Kind,
    pub name: &'a str,
    /// The policy after the change; `None` for a deletion.
    pub policy: Option<&'a ClusterPolicy>,
}

/// The cluster, optionally with one policy changed.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub cluster: &'a Cluster,
    pub change: Option<PolicyChange<'a>>,
    pub tier_change: Option<ClusterPolicyChange<'a>>,
}

impl<'a> View<'a> {
    /// The cluster as loaded.
    pub fn new(cluster: &'a Cluster) -> Self {
        Self {
            cluster,
            change: None,
            tier_change: None,
        }
    }

    /// The cluster with one cluster-wide policy changed.
    pub fn with_cluster_policy_change(
        cluster: &'a Cluster,
        change: ClusterPolicyChange<'a>,
    ) -> Self {
        Self {
            cluster,
            change: None,
            tier_change: Some(change),
        }
    }

    /// The cluster policies of a tier in evaluation order, after the change.
    pub fn cluster_policies(&self, tier: Tier) -> Vec<&'a ClusterPolicy> {
        let cluster: &'a Cluster = self.cluster;
        let mut out: Vec<&'a ClusterPolicy> = cluster.cluster_policies(tier).collect();
        if let Some(change) = self.tier_change {
            out.retain(|p| (p.kind, p.name.as_str()) != (change.kind, change.name));
            if let Some(p) = change.policy.filter(|p| p.tier == tier) {
                let at = out.partition_point(|q| q.order_key() < p.order_key());
                out.insert(at, p);
            }
        }
        out
    }

    /// Every cluster policy after the change, Admin tier first.
    pub fn all_cluster_policies(&self) -> Vec<&'a ClusterPolicy> {
        let mut out = self.cluster_policies(Tier::Admin);
        out.extend(self.cluster_policies(Tier::Baseline));
        out
    }

    /// The cluster with `change` applied.
    pub fn with_change(cluster: &'a Cluster, change: PolicyChange<'a>) -> Self {
        Self {
            cluster,
            change: Some(change),
            tier_change: None,
        }
    }

    /// The policies that select `pod`, in order, after the change.
    pub fn selecting(&self, pod: &PodInfo) -> Vec<&'a Policy> {
        let mut out = self
            .cluster
            .policies_in(&pod.namespace)
            .map(|ns| ns.selecting(&pod.labels))
            .unwrap_or_default();
        if let Some(change) = self.change.filter(|c| c.namespace == pod.namespace) {
            out.retain(|p| p.name != change.name);
            out.extend(
                change
                    .policy
                    .filter(|p| p.pod_selector.matches(&pod.labels)),
            );
        }
        out
    }

    /// Every policy of a namespace, in order, after the change.
    pub fn policies_in(&self, namespace: &str) -> Vec<&'a Policy> {
        let mut out: Vec<&'a Policy> = self
            .cluster
            .policies_in(namespace)
            .map(|ns| ns.all().iter().collect())
            .unwrap_or_default();
        if let Some(change) = self.change.filter(|c| c.namespace == namespace) {
            out.retain(|p| p.name != change.name);
            out.extend(change.policy);
        }
        out
    }

    /// Judges a connection.
    pub fn evaluate(&self, conn: &Connection<'_>) -> Verdict<'a> {
        let egress = match conn.from {
            Endpoint::Ip(_) => Side::unjudged(SideStatus::External),
            Endpoint::Pod(src) => self.judge(src, Direction::Egress, &conn.to, conn),
        };
        let ingress = match conn.to {
            Endpoint::Ip(_) => Side::unjudged(SideStatus::External),
            Endpoint::Pod(dst) => self.judge(dst, Direction::Ingress, &conn.from, conn),
        };
        Verdict {
            allowed: egress.allows() && ingress.allows(),
            egress,
            ingress,
        }
    }

    /// Judges one side: `subject`'s policies in `direction` towards `peer`.
    fn judge(
        &self,
        subject: &PodInfo,
        direction: Direction,
        peer: &Endpoint<'_>,
        conn: &Connection<'_>,
    ) -> Side<'a> {
        if subject.host_network {
            return Side::unjudged(SideStatus::HostNetwork);
        }
        let dst_ports = conn.to.pod().map(|p| p.ports.as_slice());
        let mut side = Side::unjudged(SideStatus::NotIsolated);
        // Most clusters have no cluster-wide policy: then the tiers cost one branch.
        let tiers = self.has_tiers();
        if tiers && self.tier(Tier::Admin, subject, direction, peer, conn, &mut side) {
            return side;
        }
        for policy in self.selecting(subject) {
            let Some(rules) = policy.rules(direction) else {
                continue;
            };
            side.isolated_by.push(PolicyRef(policy));
            if side.allowed_by.is_some() {
                continue;
            }
            let hit = rules.iter().position(|rule| {
                rule_allows(
                    self.cluster,
                    policy,
                    rule,
                    peer,
                    conn.port,
                    conn.protocol,
                    dst_ports,
                )
            });
            if let Some(rule) = hit {
                side.allowed_by = Some(RuleRef {
                    policy: PolicyRef(policy),
                    direction,
                    rule,
                });
            }
        }
        if !side.isolated_by.is_empty() {
            side.decided_by = Layer::NetworkPolicy;
            side.status = if side.allowed_by.is_some() {
                SideStatus::Allowed
            } else {
                SideStatus::Denied
            };
            return side;
        }
        if tiers {
            self.tier(Tier::Baseline, subject, direction, peer, conn, &mut side);
        }
        side
    }

    /// Whether any cluster-wide policy exists after the change.
    pub fn has_tiers(&self) -> bool {
        !self.cluster.all_cluster_policies().is_empty()
            || self.tier_change.is_some_and(|c| c.policy.is_some())
    }

    /// Runs one cluster-wide tier for `subject`; true when a rule decided (Accept or Deny),
    /// recorded in `side`. A `Pass` ends the tier undecided.
    fn tier(
        &self,
        tier: Tier,
        subject: &PodInfo,
        direction: Direction,
        peer: &Endpoint<'_>,
        conn: &Connection<'_>,
        side: &mut Side<'a>,
    ) -> bool {
        let cluster: &'a Cluster = self.cluster;
        let end = match *peer {
            Endpoint::Pod(p) => PeerEnd::Pod(p),
            Endpoint::Ip(ip) => PeerEnd::Ip(ip),
        };
        let dst_ports = conn.to.pod().map(|p| p.ports.as_slice());
        let changed;
        let policies: &mut dyn Iterator<Item = &'a ClusterPolicy> = match self.tier_change {
            None => &mut cluster.cluster_policies(tier),
            Some(_) => {
                changed = self.cluster_policies(tier);
                &mut changed.iter().copied()
            }
        };
        for policy in policies {
            let rules = policy.rules(direction);
            if rules.is_empty() || !policy.selects(cluster, subject) {
                continue;
            }
            for (i, rule) in rules.iter().enumerate() {
                let at = TierRuleRef {
                    policy,
                    direction,
                    rule: i,
                };
                match rule.matches(cluster, &end, conn.port, conn.protocol, dst_ports) {
                    Match::No => {}
                    Match::NotEvaluated => side.not_evaluated.push(at),
                    Match::Yes => match rule.action {
                        Action::Pass => {
                            side.passed_by.push(at);
                            return false;
                        }
                        Action::Accept | Action::Deny => {
                            side.tier_rule = Some(at);
                            side.decided_by = match tier {
                                Tier::Admin => Layer::Admin,
                                Tier::Baseline => Layer::Baseline,
                            };
                            side.status = if rule.action == Action::Accept {
                                SideStatus::Allowed
                            } else {
                                SideStatus::Denied
                            };
                            return true;
                        }
                    },
                }
            }
        }
        false
    }
}

/// Whether `rule` of `policy` admits `peer` on `port`/`protocol`.
pub fn rule_allows(
    cluster: &Cluster,
    policy: &Policy,
    rule: &Rule,
    peer: &Endpoint<'_>,
    port: u16,
    protocol: Protocol,
    dst_ports: Option<&[crate::policy::ContainerPort]>,
) -> bool {
    rule_allows_port(rule, port, protocol, dst_ports) && rule_admits(cluster, policy, rule, peer)
}

/// Whether `rule`'s ports admit `port`/`protocol` (no ports: every one). The half of
/// [`rule_allows`] that does not depend on the peer.
pub fn rule_allows_port(
    rule: &Rule,
    port: u16,
    protocol: Protocol,
    dst_ports: Option<&[crate::policy::ContainerPort]>,
) -> bool {
    rule.ports.is_empty()
        || rule
            .ports
            .iter()
            .any(|p| p.matches(port, protocol, dst_ports))
}

/// Whether `rule` of `policy` admits `peer` on some port (no peers: every one). The half of
/// [`rule_allows`] that does not depend on the port.
pub fn rule_admits(cluster: &Cluster, policy: &Policy, rule: &Rule, peer: &Endpoint<'_>) -> bool {
    rule.peers.is_empty()
        || rule
            .peers
            .iter()
            .any(|p| peer_matches(cluster, policy, p, peer))
}

/// Whether a `from`/`to` entry of `policy` matches an endpoint.
pub fn peer_matches(
    cluster: &Cluster,
    policy: &Policy,
    peer: &Peer,
    endpoint: &Endpoint<'_>,
) -> bool {
    match (peer, endpoint) {
        (Peer::Block(block), Endpoint::Ip(ip)) => block.contains(ip),
        (Peer::Block(block), Endpoint::Pod(pod)) => pod.ips.iter().any(|ip| block.contains(ip)),
        (Peer::Pods { .. }, Endpoint::Ip(_)) => false,
        (Peer::Pods { namespaces, pods }, Endpoint::Pod(pod)) => {
            if pod.host_network || !pods.matches(&pod.labels) {
                return false;
            }
            match namespaces {
                NamespaceScope::Own => pod.namespace == policy.namespace,
                NamespaceScope::Matching(sel) => {
                    sel.is_everything()
                        || cluster
                            .namespace(&pod.namespace)
                            .is_some_and(|ns| sel.matches(&ns.labels))
                }
            }
        }
    }
}
