//! The engine's own cases, for what the conformance corpus lacks: IPv6 ipBlocks, `endPort`
//! ranges, named ports with the wrong protocol, `except` edges, hostNetwork pods, and "what if"
//! views with a policy changed.

use ignite_netpol::{
    policy::{Cluster, Connection, Endpoint, Policy, PolicyChange, Protocol, SideStatus, View},
    snapshot::ClusterSnapshot,
};

fn cluster() -> Cluster {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dual-stack.yaml"
    );
    ClusterSnapshot::load_files(&[path])
        .expect("fixture must load")
        .cluster()
        .expect("fixture must build")
}

fn pod<'a>(c: &'a Cluster, ns: &str, name: &str) -> Endpoint<'a> {
    Endpoint::Pod(c.pod(ns, name).expect("fixture pod must exist"))
}

fn ip(s: &str) -> Endpoint<'static> {
    Endpoint::Ip(s.parse().expect("test address must parse"))
}

#[test]
fn own_cases() {
    let c = cluster();
    let view = View::new(&c);
    let a = || pod(&c, "grid", "node-a");
    let cases: Vec<(&str, Endpoint, Endpoint, u16, Protocol, bool)> = vec![
        (
            "IPv6 ipBlock",
            a(),
            ip("fd00:ffff::1"),
            6443,
            Protocol::Tcp,
            true,
        ),
        (
            "IPv6 except, exact address",
            a(),
            ip("fd00:ffff::bad"),
            6443,
            Protocol::Tcp,
            false,
        ),
        (
            "IPv6 outside the block",
            a(),
            ip("fd00:fffe::1"),
            6443,
            Protocol::Tcp,
            false,
        ),
        (
            "IPv6 block, wrong port",
            a(),
            ip("fd00:ffff::1"),
            443,
            Protocol::Tcp,
            false,
        ),
        (
            "IPv4 address never in an IPv6 block",
            a(),
            ip("10.0.0.1"),
            6443,
            Protocol::Tcp,
            false,
        ),
        (
            "endPort: start of range, pod b declares 47501",
            a(),
            pod(&c, "grid", "node-b"),
            47501,
            Protocol::Tcp,
            true,
        ),
        (
            "endPort: past the range",
            a(),
            pod(&c, "grid", "node-b"),
            47510,
            Protocol::Tcp,
            false,
        ),
        (
            "named port, UDP on the UDP name",
            a(),
            pod(&c, "kube-system", "dns-1"),
            53,
            Protocol::Udp,
            true,
        ),
        (
            "named port, TCP on a name that is UDP",
            a(),
            pod(&c, "kube-system", "dns-1"),
            53,
            Protocol::Tcp,
            false,
        ),
        (
            "named port never matches a bare address",
            a(),
            ip("10.1.9.9"),
            53,
            Protocol::Udp,
            false,
        ),
        (
            "except lower edge",
            a(),
            ip("172.20.5.0"),
            443,
            Protocol::Tcp,
            false,
        ),
        (
            "except upper edge",
            a(),
            ip("172.20.5.255"),
            443,
            Protocol::Tcp,
            false,
        ),
        (
            "just below except",
            a(),
            ip("172.20.4.255"),
            443,
            Protocol::Tcp,
            true,
        ),
        (
            "just above except",
            a(),
            ip("172.20.6.0"),
            443,
            Protocol::Tcp,
            true,
        ),
        (
            "CIDR with host bits: network start",
            a(),
            ip("172.20.0.0"),
            443,
            Protocol::Tcp,
            true,
        ),
        (
            "outside the /16",
            a(),
            ip("172.21.0.1"),
            443,
            Protocol::Tcp,
            false,
        ),
        (
            "hostNetwork pod reached by ipBlock on its named port",
            a(),
            pod(&c, "kube-system", "agent"),
            9100,
            Protocol::Tcp,
            true,
        ),
        (
            "ingress by named port to an IPv6-only pod",
            pod(&c, "grid", "node-a"),
            pod(&c, "grid", "node-b"),
            47501,
            Protocol::Tcp,
            true,
        ),
        (
            "ingress named port does not cover another port",
            pod(&c, "kube-system", "dns-1"),
            pod(&c, "grid", "node-b"),
            47500,
            Protocol::Tcp,
            false,
        ),
        (
            "hostNetwork source is not subject to policies",
            pod(&c, "kube-system", "agent"),
            ip("8.8.8.8"),
            443,
            Protocol::Tcp,
            true,
        ),
    ];
    for (name, from, to, port, protocol, want) in cases {
        let v = view.evaluate(&Connection {
            from,
            to,
            port,
            protocol,
        });
        assert_eq!(v.allowed, want, "case {name:?}: {v:?}");
    }
}

#[test]
fn explanation_names_isolating_policies_and_the_allowing_rule() {
    let c = cluster();
    let v = View::new(&c).evaluate(&Connection {
        from: pod(&c, "grid", "node-a"),
        to: pod(&c, "grid", "node-b"),
        port: 47501,
        protocol: Protocol::Tcp,
    });
    assert!(v.allowed);
    let rule = v
        .egress
        .allowed_by
        .as_ref()
        .expect("egress must name its rule");
    assert_eq!(rule.to_string(), "grid/egress-lockdown egress[1]");
    assert_eq!(
        v.egress.isolated_by.len(),
        1,
        "only egress-lockdown isolates egress"
    );
    let rule = v
        .ingress
        .allowed_by
        .as_ref()
        .expect("ingress must name its rule");
    assert_eq!(rule.to_string(), "grid/peers-in ingress[0]");

    let denied = View::new(&c).evaluate(&Connection {
        from: pod(&c, "grid", "node-a"),
        to: ip("8.8.8.8"),
        port: 443,
        protocol: Protocol::Tcp,
    });
    assert!(!denied.allowed);
    assert_eq!(denied.egress.status, SideStatus::Denied);
    assert_eq!(denied.egress.allowed_by, None);
    assert_eq!(denied.ingress.status, SideStatus::External);
}

#[test]
fn views_answer_what_if_without_touching_the_cluster() {
    let c = cluster();
    let to_google = |view: &View| {
        view.evaluate(&Connection {
            from: pod(&c, "grid", "node-a"),
            to: ip("8.8.8.8"),
            port: 443,
            protocol: Protocol::Tcp,
        })
        .allowed
    };
    assert!(!to_google(&View::new(&c)), "egress-lockdown denies it");

    let deleted = View::with_change(
        &c,
        PolicyChange {
            namespace: "grid",
            name: "egress-lockdown",
            policy: None,
        },
    );
    assert!(
        to_google(&deleted),
        "without egress-lockdown, egress is not isolated"
    );

    let np = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "egress-lockdown", "namespace": "grid"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "8.8.8.0/24"}}]}]}
    }))
    .expect("replacement must deserialize");
    let replacement = Policy::compile(&np).expect("replacement must compile");
    let replaced = View::with_change(
        &c,
        PolicyChange {
            namespace: "grid",
            name: "egress-lockdown",
            policy: Some(&replacement),
        },
    );
    assert!(to_google(&replaced), "the replacement allows 8.8.8.0/24");
    assert!(
        !to_google(&View::new(&c)),
        "the cluster itself is unchanged"
    );
}
