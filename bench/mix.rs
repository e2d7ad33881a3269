//! The rotating body set of `bench/webhook.sh`: distinct AdmissionReviews for the load
//! generator to post in turn, so no cache (of a body, a namespace's model, a policy's
//! compilation) is measured on one request repeated.
//!
//! `cargo run --example mix -- OUT_DIR [COUNT]` writes
//! - `OUT_DIR/cluster.json`: a v1 List added to the seed cluster with `--cluster`: 20 Ignite
//!   namespaces (`ignite-00` … `ignite-19`, two Ignite pods and the headless discovery Service
//!   each, as the Ignite Kubernetes docs deploy it) and 5 namespaces without Ignite;
//! - `OUT_DIR/reviews.jsonl`: COUNT (default 1,000) reviews, one per line, each with its own
//!   uid, user, namespace, name and labels, cycling through CREATE/UPDATE/DELETE and through
//!   policies that are admitted (the rules Ignite needs, ingress only, egress open, other
//!   pods) and denied (deny-all, the seed's egress attempt, DNS by a lone podSelector), with
//!   `managedFields` and `last-applied-configuration` as the API server sends them;
//! - `OUT_DIR/allowed.jsonl` and `OUT_DIR/denied.jsonl`: the same reviews split by the verdict
//!   each gets (`denied`), to measure the two apart.
//!
//! Deterministic: the same COUNT gives the same files.

use std::{io::Write, path::PathBuf};

use serde_json::{Value, json};

const IGNITE_NAMESPACES: usize = 20;
const OTHER_NAMESPACES: usize = 5;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: mix OUT_DIR [COUNT]"))?,
    );
    let count: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(1000);
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("cluster.json"), serde_json::to_vec(&cluster())?)?;
    let file = |name: &str| -> std::io::Result<_> {
        Ok(std::io::BufWriter::new(std::fs::File::create(
            out.join(name),
        )?))
    };
    let (mut reviews, mut allowed, mut refused) = (
        file("reviews.jsonl")?,
        file("allowed.jsonl")?,
        file("denied.jsonl")?,
    );
    for i in 0..count {
        let mut line = serde_json::to_vec(&review(i))?;
        line.push(b'\n');
        reviews.write_all(&line)?;
        if denied(i) {
            refused.write_all(&line)?;
        } else {
            allowed.write_all(&line)?;
        }
    }
    for mut f in [reviews, allowed, refused] {
        f.flush()?;
    }
    eprintln!("wrote {count} reviews to {}", out.display());
    Ok(())
}

fn ignite_ns(i: usize) -> String {
    format!("ignite-{:02}", i % IGNITE_NAMESPACES)
}

pub fn cluster() -> Value {
    let mut items = Vec::new();
    for n in 0..IGNITE_NAMESPACES {
        let ns = ignite_ns(n);
        items.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": ns, "labels": {"kubernetes.io/metadata.name": ns, "zone": format!("zone-{}", n % 4)}}}));
        for p in 0..2 {
            items.push(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("ignite-{p}"), "namespace": ns, "labels": {"app": "ignite"}},
                "spec": {"containers": [{"name": "ignite", "image": "apacheignite/ignite:2.16.0", "ports": [
                    {"name": "discovery", "containerPort": 47500, "protocol": "TCP"},
                    {"name": "communication", "containerPort": 47100, "protocol": "TCP"},
                    {"name": "thin-clients", "containerPort": 10800, "protocol": "TCP"},
                    {"name": "rest", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "jdbc", "containerPort": 11211, "protocol": "TCP"}]}]},
                "status": {"podIP": format!("172.22.{n}.{}", 10 + p), "podIPs": [{"ip": format!("172.22.{n}.{}", 10 + p)}]}}));
        }
        items.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "ignite", "namespace": ns},
            "spec": {"clusterIP": "None", "selector": {"app": "ignite"}, "ports": [
                {"name": "discovery", "port": 47500, "protocol": "TCP"},
                {"name": "communication", "port": 47100, "protocol": "TCP"}]}}));
    }
    for n in 0..OTHER_NAMESPACES {
        let ns = format!("team-{n}");
        items.push(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        );
        items.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": ns, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {"podIP": format!("172.23.{n}.10"), "podIPs": [{"ip": format!("172.23.{n}.10")}]}}));
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// The policy specs posted, by kind; the first three are admitted (in enforce mode), the
/// rest denied.
fn spec(kind: usize, ns: &str) -> Value {
    let ignite = json!({"matchLabels": {"app": "ignite"}});
    let peers = json!([{"protocol": "TCP", "port": 47500}, {"protocol": "TCP", "port": 47100}]);
    match kind {
        // What `generate` writes: DNS, the API server at its Service address and after DNAT at
        // its endpoint, the peers.
        0 => json!({"podSelector": ignite, "policyTypes": ["Egress"], "egress": [
            {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                     "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
             "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            {"to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 443}]},
            {"to": [{"ipBlock": {"cidr": "192.168.49.2/32"}}], "ports": [{"protocol": "TCP", "port": 6443}]},
            {"to": [{"podSelector": ignite}], "ports": peers}]}),
        // Ingress only, from the peers and a client namespace.
        1 => json!({"podSelector": ignite, "policyTypes": ["Ingress"], "ingress": [
            {"from": [{"podSelector": ignite}], "ports": peers},
            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-0"}}}],
             "ports": [{"protocol": "TCP", "port": 10800}]}]}),
        // Egress isolated but open to everything.
        2 => json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}),
        // Default deny, both directions.
        3 => json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        // The seed's attempt: DNS to anywhere, a zone label kube-system does not carry.
        4 => json!({"podSelector": ignite, "policyTypes": ["Egress"], "egress": [
            {"ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}]},
            {"to": [{"namespaceSelector": {"matchLabels": {"zone": "kube-system"}}}]},
            {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                     "podSelector": ignite}]}]}),
        // DNS by a podSelector alone: it means this namespace.
        _ => json!({"podSelector": ignite, "policyTypes": ["Egress"], "egress": [
            {"to": [{"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
             "ports": [{"protocol": "UDP", "port": 53}]}]}),
    }
}

fn policy(i: usize, kind: usize, ns: &str, name: &str, generation: usize) -> Value {
    let spec = spec(kind, ns);
    let labels = json!({"app.kubernetes.io/part-of": format!("cache-{}", i % 7), "team": format!("team-{}", i % 5)});
    let applied = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": {}}, "spec": spec});
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("5f0d6c1e-7b1a-4c61-9a55-{i:012x}"),
            "resourceVersion": format!("{}", 100_000 + i), "generation": generation,
            "creationTimestamp": "2026-11-30T09:14:07Z", "labels": labels,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied.to_string()},
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                "apiVersion": "networking.k8s.io/v1", "time": "2026-11-30T09:14:07Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                    "f:labels": {".": {}, "f:app.kubernetes.io/part-of": {}, "f:team": {}}},
                    "f:spec": {"f:egress": {}, "f:ingress": {}, "f:podSelector": {}, "f:policyTypes": {}}}}]},
        "spec": spec})
}

/// Whether review `i` is denied: kinds 3–5 (the new object's, for an UPDATE) in an Ignite
/// namespace; every tenth review, a DELETE elsewhere, is admitted.
pub fn denied(i: usize) -> bool {
    i % 10 != 9 && (i / 3) % 6 >= 3
}

pub fn review(i: usize) -> Value {
    // One review in ten is in a namespace without Ignite.
    let ns = if i % 10 == 9 {
        format!("team-{}", i % OTHER_NAMESPACES)
    } else {
        ignite_ns(i)
    };
    let name = format!("np-{:04}", i);
    let kind = (i / 3) % 6;
    let (operation, object, old) = match i % 10 {
        0..=5 => ("CREATE", policy(i, kind, &ns, &name, 1), Value::Null),
        6..=8 => (
            "UPDATE",
            policy(i, kind, &ns, &name, 2),
            policy(i, (kind + 1) % 6, &ns, &name, 1),
        ),
        _ => ("DELETE", Value::Null, policy(i, kind, &ns, &name, 1)),
    };
    let users = [
        ("alice@example.com", "platform-team"),
        ("bob@example.com", "cache-team"),
        (
            "system:serviceaccount:argocd:argocd-application-controller",
            "system:serviceaccounts",
        ),
        ("carol@example.com", "security"),
    ];
    let (user, group) = users[i % users.len()];
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": format!("0c9a8d74-9cb7-44dd-b98e-{i:012x}"),
        "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "NetworkPolicy"},
        "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "networkpolicies"},
        "requestKind": {"group": "networking.k8s.io", "version": "v1", "kind": "NetworkPolicy"},
        "requestResource": {"group": "networking.k8s.io", "version": "v1", "resource": "networkpolicies"},
        "name": name, "namespace": ns, "operation": operation,
        "userInfo": {"username": user, "uid": format!("u-{}", i % 4), "groups": [group, "system:authenticated"]},
        "object": object, "oldObject": old, "dryRun": i % 50 == 7,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": format!("{}Options", operation_kind(operation)),
                    "fieldManager": "kubectl-client-side-apply"}}})
}

fn operation_kind(op: &str) -> &'static str {
    match op {
        "CREATE" => "Create",
        "UPDATE" => "Update",
        _ => "Delete",
    }
}
