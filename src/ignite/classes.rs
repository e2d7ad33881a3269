//! Pods that no policy can tell apart get the same answers, so they are judged once: two Ignite
//! pods are alike when they share a namespace, the labels that any relevant policy's selectors
//! look at, their container ports (for named ports) and their membership in every relevant
//! ipBlock — the cluster-wide policies' selectors and `networks` included. A StatefulSet of 100 Ignite pods is then one class, judged by two of its members.

use std::{collections::BTreeSet, net::IpAddr};

use super::flows::pod_name;
use crate::policy::{
    ContainerPort, IpBlock, Peer, PodInfo, View,
    tier::{Subject, TierPeer},
};

/// One Ignite pod standing for its class.
pub(super) struct Member<'a> {
    pub pod: &'a PodInfo,
    /// How many other pods its class holds.
    pub more: usize,
}

impl Member<'_> {
    /// How messages name it: `ns/pod`, or `ns/pod (+N like it)`. Rendered only for a flow that
    /// is cut.
    pub fn label(&self) -> String {
        if self.more == 0 {
            return pod_name(self.pod);
        }
        let (ns, name) = (&self.pod.namespace, &self.pod.name);
        let mut label = String::with_capacity(ns.len() + name.len() + 24);
        label.push_str(ns);
        label.push('/');
        label.push_str(name);
        use std::fmt::Write;
        let _ = write!(label, " (+{} like it)", self.more);
        label
    }
}

/// Groups pods that no relevant policy can tell apart; each class keeps up to two members.
pub(super) fn classes<'a>(
    view: &View<'_>,
    namespaces: &[&str],
    pods: &[&'a PodInfo],
) -> Vec<Vec<Member<'a>>> {
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    let mut blocks: Vec<&IpBlock> = Vec::new();
    let mut seen_ns: BTreeSet<&str> = BTreeSet::new();
    for ns in namespaces {
        if !seen_ns.insert(ns) {
            continue;
        }
        for policy in view.policies_in(ns) {
            keys.extend(policy.pod_selector.keys());
            for rule in policy.ingress.iter().chain(policy.egress.iter()).flatten() {
                for peer in &rule.peers {
                    match peer {
                        Peer::Pods { pods, .. } => keys.extend(pods.keys()),
                        Peer::Block(b) => blocks.push(b),
                    }
                }
            }
        }
    }
    let mut networks: Vec<IpBlock> = Vec::new();
    let cluster_wide = if view.has_tiers() {
        view.all_cluster_policies()
    } else {
        Vec::new()
    };
    for policy in cluster_wide {
        if let Subject::Pods { pods, .. } = &policy.subject {
            keys.extend(pods.keys());
        }
        for rule in policy.ingress.iter().chain(&policy.egress) {
            for peer in &rule.peers {
                match peer {
                    TierPeer::Pods { pods, .. } => keys.extend(pods.keys()),
                    TierPeer::Networks(nets) => {
                        networks.extend(nets.iter().map(|n| IpBlock::whole(*n)))
                    }
                    _ => {}
                }
            }
        }
    }
    blocks.extend(networks.iter());
    // Which blocks contain each pod: pods sorted by address, each block looked up as a range,
    // so thousands of blocks and pods cost O(blocks · log pods), not blocks × pods.
    let mut by_ip: Vec<(IpAddr, usize)> = pods
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.ips.iter().map(move |ip| (*ip, i)))
        .collect();
    by_ip.sort_unstable();
    blocks.sort_unstable();
    blocks.dedup();
    let mut membership: Vec<Vec<usize>> = vec![Vec::new(); pods.len()];
    for (b, block) in blocks.iter().enumerate() {
        let (first, last) = block.range();
        let lo = by_ip.partition_point(|(ip, _)| *ip < first);
        let hi = by_ip.partition_point(|(ip, _)| *ip <= last);
        for (ip, pod) in &by_ip[lo..hi] {
            if block.contains(ip) && membership[*pod].last() != Some(&b) {
                membership[*pod].push(b);
            }
        }
    }

    type Signature<'s> = (
        &'s str,
        Vec<(&'s str, &'s str)>,
        &'s [ContainerPort],
        Vec<usize>,
        bool,
    );
    // Grouped by sorting the signatures rather than hashing them (no SipHash on the request
    // path); the classes keep first-seen order.
    let mut signed: Vec<(Signature<'a>, usize)> = pods
        .iter()
        .zip(membership)
        .enumerate()
        .map(|(i, (&pod, member_of))| {
            let labels = pod
                .labels
                .iter()
                .filter(|(k, _)| keys.contains(k.as_str()))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let sig: Signature<'a> = (
                pod.namespace.as_str(),
                labels,
                pod.ports.as_slice(),
                member_of,
                pod.host_network,
            );
            (sig, i)
        })
        .collect();
    signed.sort_unstable();
    // Each run of equal signatures is a class; its indices ascend (the sort's tie-break), so
    // ordering the classes by their first index restores first-seen order.
    let mut groups: Vec<Vec<usize>> = signed
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| run.iter().map(|(_, i)| *i).collect())
        .collect();
    groups.sort_unstable_by_key(|g| g[0]);
    groups
        .into_iter()
        .map(|indices| {
            let more = indices.len() - 1;
            let two = indices.into_iter().take(2);
            two.map(|i| Member { pod: pods[i], more }).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::networking::v1::NetworkPolicy;

    use super::*;
    use crate::policy::Cluster;

    fn pod(name: &str, role: &str, zone: &str) -> PodInfo {
        PodInfo {
            namespace: "grid".into(),
            name: name.into(),
            labels: [("role", role), ("zone", zone)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ips: Vec::new(),
            host_network: false,
            ports: Vec::new(),
        }
    }

    #[test]
    fn alike_pods_share_a_class_in_first_seen_order() {
        // Only `role` is read by a selector, so `zone` cannot tell pods apart.
        let np: NetworkPolicy = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "grid"},
            "spec": {"podSelector": {"matchLabels": {"role": "node"}}, "policyTypes": ["Egress"]}
        }))
        .expect("policy");
        let cluster = Cluster::from_parts(&[], Vec::<PodInfo>::new(), &[np]).expect("cluster");
        let pods = [
            pod("b-0", "server", "z1"),
            pod("a-0", "node", "z1"),
            pod("a-1", "node", "z2"),
            pod("b-1", "server", "z2"),
            pod("c-0", "client", "z1"),
            pod("a-2", "node", "z3"),
        ];
        let refs: Vec<&PodInfo> = pods.iter().collect();
        let found = classes(&View::new(&cluster), &["grid"], &refs);
        let shape: Vec<Vec<String>> = found
            .iter()
            .map(|class| class.iter().map(Member::label).collect())
            .collect();
        assert_eq!(
            shape,
            [
                vec!["grid/b-0 (+1 like it)", "grid/b-1 (+1 like it)"],
                vec!["grid/a-0 (+2 like it)", "grid/a-1 (+2 like it)"],
                vec!["grid/c-0"],
            ]
        );
    }
}
