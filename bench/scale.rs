//! A big cluster for the scale benchmarks: the seed cluster (whose `cache-ns` the reviews are
//! about) plus `namespaces` namespaces of 50 pods each with `policies` NetworkPolicies each —
//! pods and policies shaped like the ones real workloads carry (Deployment labels, two
//! container ports, ingress from a team's namespaces, egress to an address range) — and 50
//! more Ignite namespaces of three Ignite pods each.

use serde_json::{Value, json};

/// Pods per filler namespace.
pub const PODS_PER_NAMESPACE: usize = 50;

/// Ignite namespaces besides the seed's `cache-ns`.
pub const IGNITE_NAMESPACES: usize = 50;

fn namespace(name: &str, team: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, "team": format!("t{}", team % 20)}}})
}

fn pod(ns: &str, i: usize, n: usize) -> Value {
    let ip = format!("10.{}.{}.{}", 64 + n / 65536, n / 256 % 256, n % 256);
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": format!("app-{}-{i}", i % 10), "namespace": ns,
               "labels": {"app": format!("app-{}", i % 10), "pod-template-hash": format!("h{}", n % 977)}},
           "spec": {"containers": [{"name": "main",
               "ports": [{"name": "http", "containerPort": 8080}, {"name": "grpc", "containerPort": 9090}]}]},
           "status": {"podIP": ip, "podIPs": [{"ip": ip}]}})
}

fn policy(ns: &str, i: usize) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": format!("np-{i}"), "namespace": ns},
           "spec": {"podSelector": {"matchLabels": {"app": format!("app-{}", i % 10)}}, "policyTypes": ["Ingress", "Egress"],
               "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": format!("t{}", i % 20)}},
                                      "podSelector": {"matchLabels": {"app": format!("app-{}", (i * 7) % 10)}}}],
                            "ports": [{"port": "http"}, {"port": 9000, "endPort": 9010}]}],
               "egress": [{"to": [{"ipBlock": {"cidr": format!("192.168.{}.0/24", i % 200)}}], "ports": [{"port": 443}]}]}})
}

fn ignite_pod(ns: &str, i: usize, n: usize) -> Value {
    let ip = format!("10.100.{}.{}", n / 256 % 256, n % 256);
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": format!("ignite-{i}"), "namespace": ns, "labels": {"app": "ignite"}},
           "spec": {"containers": [{"name": "ignite", "ports": [
               {"name": "discovery", "containerPort": 47500}, {"name": "communication", "containerPort": 47100},
               {"name": "thin-clients", "containerPort": 10800}]}]},
           "status": {"podIP": ip, "podIPs": [{"ip": ip}]}})
}

/// The filler objects: `namespaces` × 50 pods, `policies` per namespace, and the Ignite
/// namespaces, as one `v1 List`.
pub fn filler(namespaces: usize, policies: usize) -> Value {
    let mut items = Vec::with_capacity(namespaces * (1 + PODS_PER_NAMESPACE + policies));
    let mut n = 0;
    for k in 0..namespaces {
        let ns = format!("team-{k}");
        items.push(namespace(&ns, k));
        for i in 0..PODS_PER_NAMESPACE {
            items.push(pod(&ns, i, n));
            n += 1;
        }
        for i in 0..policies {
            items.push(policy(&ns, i));
        }
    }
    let mut m = 0;
    for k in 0..IGNITE_NAMESPACES {
        let ns = format!("grid-{k}");
        items.push(namespace(&ns, k));
        for i in 0..3 {
            items.push(ignite_pod(&ns, i, m));
            m += 1;
        }
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}
