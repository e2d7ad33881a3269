//! The admission decision on the seed case and on OpenShift- and EKS-style clusters: verdicts,
//! missing flows, hints, patches (valid, sufficient, idempotent), DELETE, and `generate`.

use std::path::{Path, PathBuf};

use ignite_netpol::{
    ignite::{
        Compiled, Config, Decision, Environment, Mode, Operation, PolicyRequest, Verdict, decide,
        flows::FlowKind,
        generate,
        patch::{self, managed_rules},
    },
    policy::{Connection, Endpoint, Protocol, View},
    snapshot::ClusterSnapshot,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn seed(file: &str) -> PathBuf {
    path(&format!("examples/seed/{file}"))
}

fn policies(file: &Path) -> Vec<NetworkPolicy> {
    ClusterSnapshot::load_files(&[file])
        .expect("policy file must load")
        .network_policies
        .as_slice()
        .to_vec()
}

/// A cluster that can take policies in order, as the webhook would store them.
struct Cluster {
    snapshot: ClusterSnapshot,
    cfg: Compiled,
    env: Environment,
}

impl Cluster {
    fn new(files: &[PathBuf], config: Option<&str>) -> Self {
        let snapshot = ClusterSnapshot::load_files(files).expect("snapshot must load");
        let cfg = match config {
            Some(c) => Config::from_yaml(
                &std::fs::read_to_string(path(c)).expect("config readable"),
                c,
            )
            .expect("valid config"),
            None => Compiled::default(),
        };
        let env = Environment::build(&snapshot, &cfg).expect("model must build");
        Self { snapshot, cfg, env }
    }

    fn decide(&self, np: &NetworkPolicy, mode: Option<Mode>) -> Decision {
        let ns = np.metadata.namespace.clone().expect("namespace");
        let name = np.metadata.name.clone().expect("name");
        let operation = if self.snapshot.network_policies.get(&ns, &name).is_some() {
            Operation::Update
        } else {
            Operation::Create
        };
        decide(
            &self.env,
            &self.cfg,
            &PolicyRequest {
                operation,
                namespace: &ns,
                name: &name,
                object: Some(np),
                mode,
                validating: false,
            },
        )
        .expect("valid policy must be decided")
    }

    fn delete(&self, ns: &str, name: &str) -> Decision {
        decide(
            &self.env,
            &self.cfg,
            &PolicyRequest {
                operation: Operation::Delete,
                namespace: ns,
                name,
                object: None,
                mode: None,
                validating: false,
            },
        )
        .expect("delete must be decided")
    }

    fn store(&mut self, np: NetworkPolicy) {
        self.snapshot.network_policies.upsert(np);
        self.env = Environment::build(&self.snapshot, &self.cfg).expect("model must rebuild");
    }

    /// Judges each policy of `file` in order and stores what the webhook would store.
    fn apply(&mut self, file: &Path, mode: Option<Mode>) -> Vec<Decision> {
        let mut out = Vec::new();
        for np in policies(file) {
            let d = self.decide(&np, mode);
            match d.verdict {
                Verdict::Allowed | Verdict::Warned => self.store(np),
                Verdict::Patched => self.store(
                    patch::apply(
                        &np,
                        d.patch.as_ref().expect("a patched verdict has a patch"),
                    )
                    .expect("patch must apply"),
                ),
                Verdict::Denied => {}
            }
            out.push(d);
        }
        out
    }
}

fn kinds(d: &Decision) -> Vec<FlowKind> {
    let mut k: Vec<_> = d.missing.iter().map(|m| m.flow).collect();
    k.sort();
    k.dedup();
    k
}

fn has_hint(d: &Decision, needle: &str) -> bool {
    d.hints.iter().any(|h| h.contains(needle))
}

#[test]
fn seed_ingress_only_is_admitted_unchanged() {
    let mut c = Cluster::new(&[seed("cluster.yaml")], None);
    let ds = c.apply(&seed("ingress-only.yaml"), None);
    assert_eq!(ds.len(), 2);
    for d in &ds {
        assert_eq!(d.verdict, Verdict::Allowed, "{}: {:?}", d.name, d.missing);
        assert!(d.patch.is_none());
        assert!(d.missing.is_empty());
    }
    assert!(
        ds[0]
            .warnings
            .iter()
            .any(|w| w.contains("scaling beyond one node")),
        "ingress isolation blocks future peers: {:?}",
        ds[0].warnings
    );
}

#[test]
fn seed_deny_all_is_denied_for_dns_and_apiserver() {
    let c = Cluster::new(&[seed("cluster.yaml")], None);
    let d = c.decide(&policies(&seed("deny-all-traffic.yaml"))[0], None);
    assert_eq!(d.verdict, Verdict::Denied);
    assert_eq!(kinds(&d), vec![FlowKind::Dns, FlowKind::Apiserver]);
    let targets: Vec<_> = d
        .missing
        .iter()
        .map(|m| (m.target.as_str(), m.port, m.protocol))
        .collect();
    assert!(targets.contains(&("kube-system/coredns-5d78c9869d-abcde", 53, Protocol::Udp)));
    assert!(targets.contains(&("kube-system/coredns-5d78c9869d-abcde", 53, Protocol::Tcp)));
    assert!(targets.contains(&("192.168.49.2 (API server endpoint)", 6443, Protocol::Tcp)));
    assert!(targets.contains(&("10.96.0.1 (Service default/kubernetes)", 443, Protocol::Tcp)));
}

#[test]
fn seed_pair_is_denied_for_apiserver_only_with_the_not_a_pod_hint() {
    let mut c = Cluster::new(&[seed("cluster.yaml")], None);
    let first = c.apply(&seed("deny-all-traffic.yaml"), Some(Mode::Warn));
    assert_eq!(
        first[0].verdict,
        Verdict::Warned,
        "stored despite the cut, to judge the pair"
    );
    let d = c.decide(&policies(&seed("egress-attempt.yaml"))[0], None);
    assert_eq!(d.verdict, Verdict::Denied);
    assert_eq!(kinds(&d), vec![FlowKind::Apiserver]);
    assert!(has_hint(&d, "the API server is not a pod"), "{:?}", d.hints);
    assert!(
        has_hint(&d, "zone=kube-system matches no namespace"),
        "{:?}",
        d.hints
    );
    assert!(
        has_hint(
            &d,
            "ipBlock 172.21.70.49/32 is the IP of pod cache-ns/ignite-0"
        ),
        "{:?}",
        d.hints
    );
}

/// Hints explain a cut: a policy that cuts nothing is admitted without them, even when one of
/// its rules holds a classic mistake (a selector that matches no namespace, a pod's IP as an
/// ipBlock) that the denial above names.
#[test]
fn an_admitted_policy_carries_no_hints() {
    let c = Cluster::new(&[seed("cluster.yaml")], None);
    let np: NetworkPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "open-egress", "namespace": "cache-ns"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
            {},
            {"to": [{"namespaceSelector": {"matchLabels": {"zone": "kube-system"}}}]},
            {"to": [{"ipBlock": {"cidr": "172.21.70.49/32"}}]}
        ]}
    }))
    .expect("policy");
    let d = c.decide(&np, None);
    assert_eq!(d.verdict, Verdict::Allowed, "{:?}", d.missing);
    assert!(d.hints.is_empty(), "{:?}", d.hints);
}

#[test]
fn seed_dns_same_namespace_is_denied_for_dns_with_both_hints() {
    let mut c = Cluster::new(&[seed("cluster.yaml")], None);
    c.apply(&seed("deny-all-traffic.yaml"), Some(Mode::Warn));
    let d = c.decide(&policies(&seed("dns-same-namespace.yaml"))[0], None);
    assert_eq!(d.verdict, Verdict::Denied);
    assert!(kinds(&d).contains(&FlowKind::Dns));
    assert!(
        has_hint(
            &d,
            "without namespaceSelector selects pods in cache-ns only"
        ),
        "{:?}",
        d.hints
    );
    assert!(has_hint(&d, "UDP 53 but not TCP 53"), "{:?}", d.hints);
}

#[test]
fn seed_patch_mode_patches_each_and_the_result_passes_and_is_stable() {
    for (files, name) in [
        (
            vec!["deny-all-traffic.yaml"],
            "deny-all-traffic-in-cache-ns",
        ),
        (vec!["egress-attempt.yaml"], "netpol-cache-ns-egress"),
        (vec!["dns-same-namespace.yaml"], "allow-dns"),
        (
            vec!["deny-all-traffic.yaml", "egress-attempt.yaml"],
            "netpol-cache-ns-egress",
        ),
        (
            vec!["deny-all-traffic.yaml", "dns-same-namespace.yaml"],
            "allow-dns",
        ),
    ] {
        let mut c = Cluster::new(&[seed("cluster.yaml")], None);
        let (last, before) = files.split_last().expect("files");
        for f in before {
            // Already in place (e.g. applied before the webhook was installed).
            c.apply(&seed(f), Some(Mode::Warn));
        }
        let d = c
            .apply(&seed(last), Some(Mode::Patch))
            .pop()
            .expect("a decision");
        assert_eq!(
            (d.name.as_str(), d.verdict),
            (name, Verdict::Patched),
            "{files:?}: {:?}",
            d.unpatchable
        );
        let stored = c
            .snapshot
            .network_policies
            .get("cache-ns", name)
            .expect("patched policy stored")
            .clone();
        let recorded = managed_rules(&serde_json::to_value(&stored).expect("json"));
        assert!(
            !recorded.is_empty(),
            "{files:?}: the patch records its rules"
        );

        let again = c.decide(&stored, Some(Mode::Enforce));
        assert_eq!(
            again.verdict,
            Verdict::Allowed,
            "{files:?}: the patched set passes check: {:?}",
            again.missing
        );
        let repatch = c.decide(&stored, Some(Mode::Patch));
        assert_eq!(
            repatch.verdict,
            Verdict::Allowed,
            "{files:?}: patching again is a no-op"
        );
        assert!(repatch.patch.is_none());
    }
}

#[test]
fn patch_keeps_existing_rules_and_annotations() {
    let c = Cluster::new(&[seed("cluster.yaml")], None);
    let mut np = policies(&seed("egress-attempt.yaml")).remove(0);
    np.metadata.annotations = Some([("team".to_string(), "cache".to_string())].into());
    let d = c.decide(&np, Some(Mode::Patch));
    assert_eq!(d.verdict, Verdict::Patched);
    let patched = patch::apply(
        &np,
        d.patch.as_ref().expect("a patched verdict has a patch"),
    )
    .expect("patch applies");
    let before = np
        .spec
        .as_ref()
        .and_then(|s| s.egress.as_ref())
        .map_or(0, Vec::len);
    let after = patched
        .spec
        .as_ref()
        .and_then(|s| s.egress.as_ref())
        .expect("egress");
    assert_eq!(
        &after[..before],
        &np.spec
            .as_ref()
            .and_then(|s| s.egress.clone())
            .expect("egress")[..],
        "existing rules untouched"
    );
    assert_eq!(after.len(), before + 2, "one rule per API server port");
    let annotations = patched.metadata.annotations.expect("annotations");
    assert_eq!(annotations.get("team").map(String::as_str), Some("cache"));
    let recorded = managed_rules(
        &serde_json::to_value(&NetworkPolicy {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                annotations: Some(annotations),
                ..Default::default()
            },
            spec: None,
        })
        .expect("json"),
    );
    assert_eq!(
        recorded.iter().map(|r| r.index).collect::<Vec<_>>(),
        vec![before, before + 1]
    );
    assert!(recorded.iter().all(|r| r.flow == FlowKind::Apiserver));
}

#[test]
fn delete_of_the_only_dns_allowance_under_default_deny_is_denied() {
    let mut c = Cluster::new(&[seed("cluster.yaml")], None);
    let generated = generate::egress_policy(&c.env, &c.cfg, "cache-ns", "ignite-egress", false);
    c.store(generated);
    let ds = c.apply(&seed("deny-all-traffic.yaml"), None);
    assert_eq!(
        ds[0].verdict,
        Verdict::Allowed,
        "deny-all is fine next to the generated policy: {:?}",
        ds[0].missing
    );
    let d = c.delete("cache-ns", "ignite-egress");
    assert_eq!(d.verdict, Verdict::Denied);
    assert_eq!(d.operation, Operation::Delete);
    assert_eq!(kinds(&d), vec![FlowKind::Dns, FlowKind::Apiserver]);
    let patched = {
        let mut c2 = Cluster::new(&[seed("cluster.yaml")], None);
        c2.cfg = Compiled::default();
        c2.delete("cache-ns", "nothing-here")
    };
    assert_eq!(
        patched.verdict,
        Verdict::Allowed,
        "deleting an unknown policy changes nothing"
    );
    let unrelated = c.delete("cache-ns", "deny-all-traffic-in-cache-ns");
    assert_eq!(
        unrelated.verdict,
        Verdict::Allowed,
        "deleting the default-deny only opens things up"
    );
}

#[test]
fn generate_allows_what_ignite_needs_and_nothing_else() {
    let mut c = Cluster::new(&[seed("cluster.yaml")], None);
    let generated = generate::egress_policy(&c.env, &c.cfg, "cache-ns", "ignite-egress", false);
    let d = c.decide(&generated, None);
    assert_eq!(d.verdict, Verdict::Allowed);
    c.store(generated);
    let ds = c.apply(&seed("deny-all-traffic.yaml"), None);
    assert_eq!(ds[0].verdict, Verdict::Allowed, "{:?}", ds[0].missing);

    let cluster = &c.env.cluster;
    let view = View::new(cluster);
    let ignite = Endpoint::Pod(cluster.pod("cache-ns", "ignite-0").expect("ignite-0"));
    let coredns = Endpoint::Pod(
        cluster
            .pod("kube-system", "coredns-5d78c9869d-abcde")
            .expect("coredns"),
    );
    let some_pod = Endpoint::Pod(cluster.pod("apps", "some-pod-7c9d").expect("some-pod"));
    let ip = |s: &str| Endpoint::Ip(s.parse().expect("ip"));
    let cases = [
        ("DNS UDP", coredns, 53, Protocol::Udp, true),
        ("DNS TCP", coredns, 53, Protocol::Tcp, true),
        (
            "API server endpoint",
            ip("192.168.49.2"),
            6443,
            Protocol::Tcp,
            true,
        ),
        (
            "API server ClusterIP",
            ip("10.96.0.1"),
            443,
            Protocol::Tcp,
            true,
        ),
        ("internet", ip("8.8.8.8"), 443, Protocol::Tcp, false),
        (
            "API server on another port",
            ip("192.168.49.2"),
            22,
            Protocol::Tcp,
            false,
        ),
        ("CoreDNS metrics", coredns, 9153, Protocol::Tcp, false),
        ("another app", some_pod, 8080, Protocol::Tcp, false),
        ("DNS elsewhere", ip("1.1.1.1"), 53, Protocol::Udp, false),
    ];
    for (name, to, port, protocol, want) in cases {
        let v = view.evaluate(&Connection {
            from: ignite,
            to,
            port,
            protocol,
        });
        assert_eq!(v.allowed, want, "{name}: {v:?}");
    }
}

#[test]
fn openshift_dns_gets_its_real_port_5353() {
    let c = Cluster::new(
        &[path("tests/fixtures/openshift.yaml")],
        Some("tests/fixtures/openshift-config.yaml"),
    );
    assert_eq!(
        c.env.dns.ports,
        vec![(5353, Protocol::Udp), (5353, Protocol::Tcp)]
    );
    let d = c.decide(
        &policies(&path("tests/fixtures/default-deny-grid.yaml"))[0],
        Some(Mode::Patch),
    );
    assert_eq!(d.verdict, Verdict::Patched, "{:?}", d.unpatchable);
    let patch = serde_json::to_string(&d.patch).expect("json");
    assert!(
        patch.contains(r#"{"port":5353,"protocol":"UDP"}"#),
        "{patch}"
    );
    assert!(
        patch.contains(r#"{"port":5353,"protocol":"TCP"}"#),
        "{patch}"
    );
    assert!(
        !patch.contains(r#""port":53,"#),
        "no rule for the Service port 53: {patch}"
    );
    assert!(
        patch.contains("dns.operator.openshift.io/daemonset-dns"),
        "{patch}"
    );
    assert!(
        patch.contains(r#""kubernetes.io/metadata.name":"openshift-dns""#),
        "{patch}"
    );
    assert!(
        patch.contains("10.0.0.11/32") && patch.contains("10.0.0.12/32"),
        "both control-plane endpoints: {patch}"
    );

    let port_53: NetworkPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "dns-53", "namespace": "grid"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}
    }))
    .expect("policy");
    let d = c.decide(&port_53, None);
    assert!(kinds(&d).contains(&FlowKind::Dns));
    assert!(
        has_hint(&d, "the DNS pods listen on 5353/UDP, 5353/TCP"),
        "{:?}",
        d.hints
    );
}

#[test]
fn eks_api_server_gets_port_443_on_its_endpoints() {
    let c = Cluster::new(&[path("tests/fixtures/eks.yaml")], None);
    let d = c.decide(
        &policies(&path("tests/fixtures/default-deny-grid.yaml"))[0],
        None,
    );
    assert_eq!(d.verdict, Verdict::Denied);
    let api: Vec<_> = d
        .missing
        .iter()
        .filter(|m| m.flow == FlowKind::Apiserver)
        .map(|m| (m.target.clone(), m.port))
        .collect();
    assert_eq!(
        api,
        vec![
            ("172.16.101.20 (API server endpoint)".to_string(), 443),
            ("172.16.130.9 (API server endpoint)".to_string(), 443),
            ("10.100.0.1 (Service default/kubernetes)".to_string(), 443),
        ]
    );
    assert!(api.iter().all(|(_, p)| *p != 6443), "no 6443 on EKS");
}

/// Pods that policies can tell apart (here by ipBlock) must be judged apart, even though the
/// decision judges alike pods once: the classes must agree with judging every pair.
/// An environment of `items` (objects as `kubectl get -o json` lists them), default config.
fn env_of(items: Vec<serde_json::Value>) -> (Environment, Compiled) {
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_value(
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}),
            &ignite_netpol::snapshot::Location {
                origin: "t".into(),
                document: 1,
                item: None,
            },
        )
        .expect("snapshot");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model");
    (env, cfg)
}

/// The decision on creating `policy` (a NetworkPolicy as JSON) in `env`.
fn create(env: &Environment, cfg: &Compiled, policy: serde_json::Value) -> Decision {
    let policy: NetworkPolicy = serde_json::from_value(policy).expect("policy");
    let namespace = policy.metadata.namespace.clone().expect("namespace");
    let name = policy.metadata.name.clone().expect("name");
    decide(
        env,
        cfg,
        &PolicyRequest {
            operation: Operation::Create,
            namespace: &namespace,
            name: &name,
            object: Some(&policy),
            mode: None,
            validating: false,
        },
    )
    .expect("decided")
}

#[test]
fn alike_pods_are_grouped_without_losing_a_difference() {
    let mut items = vec![
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "grid"}}),
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
    ];
    for i in 0..6 {
        items.push(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("ignite-{i}"), "namespace": "grid",
                         "labels": {"app": "ignite", "statefulset.kubernetes.io/pod-name": format!("ignite-{i}")}},
            "spec": {"containers": [{"name": "ignite"}]},
            "status": {"podIP": format!("10.0.0.{i}")}
        }));
    }
    items.push(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "peers-but-one", "namespace": "grid"},
        "spec": {"podSelector": {"matchLabels": {"app": "ignite"}}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.0.3/32"]}}],
                              "ports": [{"port": 47500}, {"port": 47100}]}]}
    }));
    let (env, cfg) = env_of(items);
    let d = create(
        &env,
        &cfg,
        serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "noop", "namespace": "grid"}, "spec": {"podSelector": {"matchLabels": {"x": "y"}}}
        }),
    );
    let mut from_pods: Vec<String> = d
        .missing
        .iter()
        .filter(|m| m.flow == FlowKind::Peer)
        .map(|m| m.from.clone())
        .collect();
    from_pods.sort();
    from_pods.dedup();
    assert_eq!(
        from_pods,
        vec!["grid/ignite-3"],
        "only ignite-3 is cut off from its peers: {:?}",
        d.missing
    );

    // Brute force: every ordered pair of distinct pods on 47500.
    let view = View::new(&env.cluster);
    let pods: Vec<_> = env.cluster.pods_in("grid").collect();
    let mut blocked_from: Vec<String> = Vec::new();
    for a in &pods {
        for b in &pods {
            if a.name != b.name
                && !view
                    .evaluate(&Connection {
                        from: Endpoint::Pod(a),
                        to: Endpoint::Pod(b),
                        port: 47500,
                        protocol: Protocol::Tcp,
                    })
                    .allowed
            {
                blocked_from.push(format!("grid/{}", a.name));
            }
        }
    }
    blocked_from.dedup();
    assert_eq!(
        blocked_from, from_pods,
        "classes agree with judging every pair"
    );
}

/// A default-deny of both directions blocks a peer flow at both ends; the flow names the policy
/// once, as the audit record's `blocked_by` says which policies to look at.
#[test]
fn a_policy_blocking_both_ends_of_a_flow_is_named_once() {
    let mut items = vec![
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "grid"}}),
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
    ];
    for i in 0..2 {
        items.push(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("ignite-{i}"), "namespace": "grid", "labels": {"app": "ignite"}},
            "spec": {"containers": [{"name": "ignite"}]},
            "status": {"podIP": format!("10.0.0.{i}")}
        }));
    }
    let (env, cfg) = env_of(items);
    let d = create(
        &env,
        &cfg,
        serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "grid"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        }),
    );
    let peer: Vec<_> = d
        .missing
        .iter()
        .filter(|m| m.flow == FlowKind::Peer)
        .collect();
    assert!(!peer.is_empty(), "peers are cut: {:?}", d.missing);
    for m in peer {
        assert!(m.egress_blocked && m.ingress_blocked, "{m:?}");
        assert_eq!(m.blocked_by, vec!["grid/default-deny"], "{m:?}");
    }
}

/// The rotating body set `bench/webhook.sh` and `mix_kinds` measure (`bench/mix.rs`).
#[allow(dead_code)]
#[path = "../bench/mix.rs"]
mod mix;

/// The load benchmark's mix says which of its policies are admitted and which denied; its
/// figures are only read right if the reviews get those verdicts. (Its "generate's rules" once
/// lacked the API server's Service address, so a quarter of its admitted share was denied.)
#[test]
fn the_benchmark_mix_gets_the_verdicts_it_claims() {
    use ignite_netpol::admission::{self, ReviewOptions};
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_text(
            &std::fs::read_to_string(seed("cluster.yaml")).expect("seed cluster"),
            "seed",
        )
        .expect("seed cluster loads");
    snapshot
        .add_text(&mix::cluster().to_string(), "mix")
        .expect("mix cluster loads");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("environment");
    let mut seen = [0usize; 6];
    let mut verdicts = [0usize; 2];
    // Every review of the 1,000, and the split `bench/webhook.sh` measures apart (`mix::denied`).
    for i in 0..1000 {
        let kind = (i / 3) % 6;
        let body = serde_json::to_vec(&mix::review(i)).expect("encodes");
        let reviewed = admission::review(&env, &cfg, &body, ReviewOptions::default());
        let verdict = reviewed.decision.as_ref().map(|d| d.verdict);
        let expected = if mix::denied(i) {
            Verdict::Denied
        } else {
            Verdict::Allowed
        };
        assert_eq!(verdict, Some(expected), "review {i} (kind {kind})");
        verdicts[usize::from(mix::denied(i))] += 1;
        // CREATEs in the Ignite namespaces (every tenth review is elsewhere; 6..=9 are not
        // CREATEs): kinds 0-2 admitted, 3-5 denied.
        if i % 10 <= 5 {
            assert_eq!(mix::denied(i), kind >= 3, "review {i} (kind {kind})");
            seen[kind] += 1;
        }
    }
    // The mix is meant to be 56 % admitted, 44 % denied.
    assert_eq!(verdicts, [560, 440]);
    assert!(
        seen.iter().all(|&n| n > 0),
        "every kind was reviewed: {seen:?}"
    );
}
