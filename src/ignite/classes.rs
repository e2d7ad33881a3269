//! Pods that no policy can tell apart get the same answers, so they are judged once: two Ignite
//! pods are alike when they share a namespace, the labels that any relevant policy's selectors
//! look at, their container ports (for named ports) and their membership in every relevant
//! ipBlock. A StatefulSet of 100 Ignite pods is then one class, judged by two of its members.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
};

use super::flows::pod_name;
use crate::policy::{ContainerPort, IpBlock, Peer, PodInfo, View};

/// One Ignite pod standing for its class.
pub(super) struct Member<'a> {
    pub pod: &'a PodInfo,
    pub label: String,
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
    let mut order: Vec<Signature<'a>> = Vec::new();
    let mut groups: HashMap<Signature<'a>, Vec<&'a PodInfo>> = HashMap::new();
    for (&pod, member_of) in pods.iter().zip(membership) {
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
        let group = groups.entry(sig.clone()).or_default();
        if group.is_empty() {
            order.push(sig);
        }
        group.push(pod);
    }
    order
        .into_iter()
        .filter_map(|sig| groups.remove(&sig))
        .map(|members| {
            let more = members.len() - 1;
            members
                .iter()
                .take(2)
                .map(|p| Member {
                    pod: p,
                    label: if more == 0 {
                        pod_name(p)
                    } else {
                        format!("{} (+{more} like it)", pod_name(p))
                    },
                })
                .collect()
        })
        .collect()
}
