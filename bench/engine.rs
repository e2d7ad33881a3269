//! Engine benchmarks (`make bench`): one `eval` query with its explanation in a namespace with
//! 1,000 NetworkPolicies and 500 pods, and loading a 10,000-object snapshot.
//!
//! The synthetic namespace looks like a busy real one: 50 apps of 10 pods each, every app
//! selected by 20 policies (so a pod is isolated by 20 policies plus two namespace-wide
//! defaults), rules mixing namespace+pod selectors, ipBlocks with `except`, named and numeric
//! ports and `endPort` ranges.

use std::{fmt::Write, hint::black_box, sync::LazyLock};

/// The allocator the binary uses, so figures match what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ignite_netpol::{
    ignite::{Compiled, Environment, Operation, PolicyRequest, Verdict, decide, generate},
    policy::{Cluster, Connection, Endpoint, Protocol, View},
    snapshot::ClusterSnapshot,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;

/// The rotating body set of `bench/webhook.sh`, built in process.
#[allow(dead_code)]
#[path = "mix.rs"]
mod mix;

/// The big clusters of the scale benchmarks.
#[path = "scale.rs"]
mod scale;

const APPS: usize = 50;

fn main() {
    divan::main();
}

fn namespace(out: &mut String, name: &str) {
    writeln!(out, "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{team: t-{name}}}}}").ok();
}

fn pod(out: &mut String, ns: &str, i: usize) {
    let app = i % APPS;
    writeln!(
        out,
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: pod-{i}, namespace: {ns}, labels: {{app: app-{app}, tier: t{}, pod-template-hash: h{i}}}}}\n\
         spec:\n  containers:\n  - name: main\n    ports:\n    - {{name: http, containerPort: 8080}}\n    - {{name: grpc, containerPort: 9090}}\n    - {{name: dns, containerPort: 53, protocol: UDP}}\n\
         status:\n  podIP: 10.{}.{}.{}\n  podIPs: [{{ip: 10.{}.{}.{}}}]",
        app % 3,
        i / 65536 % 256, i / 256 % 256, i % 256,
        i / 65536 % 256, i / 256 % 256, i % 256,
    )
    .ok();
}

fn policy(out: &mut String, ns: &str, i: usize) {
    let app = i % APPS;
    let peer_app = (i * 7 + 3) % APPS;
    writeln!(
        out,
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: np-{i}, namespace: {ns}}}\n\
         spec:\n  podSelector: {{matchLabels: {{app: app-{app}}}}}\n  policyTypes: [Ingress, Egress]\n\
         \x20 ingress:\n\
         \x20 - from: [{{namespaceSelector: {{matchLabels: {{team: t-other-{i}}}}}, podSelector: {{matchLabels: {{app: app-{peer_app}}}}}}}]\n\
         \x20   ports: [{{port: http}}, {{port: 9000, endPort: 9010}}]\n\
         \x20 - from: [{{podSelector: {{matchExpressions: [{{key: tier, operator: In, values: [t9, t{}]}}]}}}}]\n\
         \x20   ports: [{{port: {}, protocol: TCP}}]\n\
         \x20 egress:\n\
         \x20 - to: [{{ipBlock: {{cidr: 172.{}.0.0/16, except: [172.{}.1.0/24]}}}}]\n\
         \x20   ports: [{{port: 443}}]\n\
         \x20 - to: [{{podSelector: {{matchLabels: {{app: app-{peer_app}}}}}}}]\n\
         \x20   ports: [{{port: grpc}}, {{port: {}, protocol: UDP}}]",
        (i % 7) + 3,
        20000 + i,
        i % 200, i % 200,
        30000 + i,
    )
    .ok();
}

/// A cluster with one namespace of `pods` pods and `policies` policies plus two defaults.
fn busy_namespace(pods: usize, policies: usize) -> String {
    let mut out = String::new();
    namespace(&mut out, "busy");
    for i in 0..pods {
        pod(&mut out, "busy", i);
    }
    for i in 0..policies {
        policy(&mut out, "busy", i);
    }
    out.push_str("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: default-deny, namespace: busy}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n");
    out.push_str("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-dns, namespace: busy}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}], ports: [{port: 53, protocol: UDP}, {port: 53}]}]\n");
    out
}

static BUSY: LazyLock<Cluster> = LazyLock::new(|| {
    let mut s = ClusterSnapshot::default();
    s.add_text(&busy_namespace(500, 1_000), "busy.yaml")
        .expect("generated snapshot must load");
    let c = s.cluster().expect("generated snapshot must build");
    assert_eq!(c.policy_count(), 1_002);
    c
});

fn conn<'a>(
    c: &'a Cluster,
    from: usize,
    to: Endpoint<'a>,
    port: u16,
    protocol: Protocol,
) -> Connection<'a> {
    let from = c.pod("busy", &format!("pod-{from}")).expect("pod exists");
    Connection {
        from: Endpoint::Pod(from),
        to,
        port,
        protocol,
    }
}

/// Pod to pod, allowed on both sides, each after scanning the selecting policies' rules.
#[divan::bench]
fn query_pod_to_pod_allowed(bencher: divan::Bencher) {
    let c = &*BUSY;
    let view = View::new(c);
    // pod-3 is app-3; np-3 (app-3) allows egress to app-24 on "grpc"; pod-24 is app-24, and
    // np-24 allows ingress from tier t{24%7+3} = t6 pods; pod-3's tier is t0... so use port
    // 20024 from tier-matching pods: find a pair the engine allows.
    let to = c.pod("busy", "pod-24").expect("pod exists");
    let q = conn(c, 3, Endpoint::Pod(to), 9090, Protocol::Tcp);
    let v = view.evaluate(&q);
    assert!(v.egress.allows(), "benchmark query must pass egress: {v:?}");
    bencher.bench(|| view.evaluate(black_box(&q)));
}

/// Pod to an address nothing allows: every rule of every isolating policy is tried.
#[divan::bench]
fn query_pod_to_ip_denied(bencher: divan::Bencher) {
    let c = &*BUSY;
    let view = View::new(c);
    let q = conn(
        c,
        7,
        Endpoint::Ip("8.8.8.8".parse().expect("address")),
        443,
        Protocol::Tcp,
    );
    assert!(!view.evaluate(&q).allowed, "benchmark query must be denied");
    bencher.bench(|| view.evaluate(black_box(&q)));
}

/// Pod to pod, denied on the destination's ingress after scanning its rules.
#[divan::bench]
fn query_pod_to_pod_denied(bencher: divan::Bencher) {
    let c = &*BUSY;
    let view = View::new(c);
    let to = c.pod("busy", "pod-11").expect("pod exists");
    let q = conn(c, 5, Endpoint::Pod(to), 8080, Protocol::Tcp);
    assert!(!view.evaluate(&q).allowed, "benchmark query must be denied");
    bencher.bench(|| view.evaluate(black_box(&q)));
}

/// 10,000 objects (100 namespaces, 6,000 pods, 3,900 policies) as a multi-document YAML stream.
fn ten_thousand_objects() -> String {
    let mut text = String::new();
    for n in 0..100 {
        let ns = format!("ns-{n}");
        namespace(&mut text, &ns);
        for i in 0..60 {
            pod(&mut text, &ns, n * 60 + i);
        }
        for i in 0..39 {
            policy(&mut text, &ns, n * 39 + i);
        }
    }
    text
}

/// The same objects as one block-style `v1 List`, as `kubectl get -o yaml` prints them.
fn as_v1_list(stream: &str) -> String {
    let mut list = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for doc in stream.split("---\n").filter(|d| !d.is_empty()) {
        for (j, line) in doc.lines().enumerate() {
            list.push_str(if j == 0 { "- " } else { "  " });
            list.push_str(line);
            list.push('\n');
        }
    }
    list.push_str("metadata:\n  resourceVersion: \"\"\n");
    list
}

/// The same objects as a JSON `v1 List`, as `kubectl get -o json` prints them.
fn as_json_list(stream: &str) -> String {
    let mut s = ClusterSnapshot::default();
    s.add_text(stream, "10k.yaml")
        .expect("generated snapshot must load");
    let mut items: Vec<serde_json::Value> = Vec::new();
    let mut push = |v: serde_json::Result<serde_json::Value>| items.push(v.expect("serialises"));
    s.namespaces
        .as_slice()
        .iter()
        .for_each(|o| push(serde_json::to_value(o)));
    s.pods
        .as_slice()
        .iter()
        .for_each(|o| push(serde_json::to_value(o)));
    s.network_policies
        .as_slice()
        .iter()
        .for_each(|o| push(serde_json::to_value(o)));
    serde_json::to_string(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
        .expect("serialises")
}

fn bench_load(bencher: divan::Bencher, text: &str) {
    let mut check = ClusterSnapshot::default();
    check
        .add_text(text, "10k")
        .expect("generated snapshot must load");
    assert_eq!(check.object_count(), 10_000);
    bencher
        .counter(divan::counter::BytesCount::of_str(text))
        .bench(|| {
            let mut s = ClusterSnapshot::default();
            s.add_text(black_box(text), "10k").expect("loads");
            s.cluster().expect("builds")
        });
}

/// Loading (parse, type, validate) and indexing 10,000 objects: a multi-document YAML stream.
#[divan::bench(sample_count = 10)]
fn load_10k_objects_yaml_stream(bencher: divan::Bencher) {
    bench_load(bencher, &ten_thousand_objects());
}

/// ... as one block-style `v1 List`.
#[divan::bench(sample_count = 10)]
fn load_10k_objects_yaml_list(bencher: divan::Bencher) {
    bench_load(bencher, &as_v1_list(&ten_thousand_objects()));
}

/// ... as a JSON `v1 List`.
#[divan::bench(sample_count = 10)]
fn load_10k_objects_json_list(bencher: divan::Bencher) {
    bench_load(bencher, &as_json_list(&ten_thousand_objects()));
}

/// A namespace with 100 Ignite pods (a StatefulSet: each has its own pod-name label), 400 other
/// pods, 1,000 other policies, a default-deny and the generated Ignite egress policy; CoreDNS and
/// the API server as in the seed case.
static IGNITE_NS: LazyLock<(ClusterSnapshot, Compiled, Environment)> = LazyLock::new(|| {
    let mut text = busy_namespace(400, 1_000).replace("busy", "grid");
    for i in 0..100 {
        writeln!(
            text,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: ignite-{i}, namespace: grid, labels: {{app: ignite, statefulset.kubernetes.io/pod-name: ignite-{i}}}}}\n\
             spec: {{containers: [{{name: ignite, ports: [{{name: discovery, containerPort: 47500}}, {{name: communication, containerPort: 47100}}]}}]}}\n\
             status: {{podIP: 10.9.{}.{}}}",
            i / 256, i % 256
        )
        .ok();
    }
    text.push_str("---\n");
    text.push_str(include_str!("../examples/seed/cluster.yaml"));
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_text(&text, "ignite-ns.yaml")
        .expect("generated snapshot must load");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model must build");
    let generated = generate::egress_policy(&env, &cfg, "grid", "ignite-egress", true);
    snapshot.network_policies.upsert(generated);
    let env = Environment::build(&snapshot, &cfg).expect("model must build");
    (snapshot, cfg, env)
});

/// One admission decision (CREATE of a policy selecting the Ignite pods) in that namespace:
/// every required flow of every Ignite pod judged, with hints.
#[divan::bench]
fn decision_1000_policies_100_ignite_pods(bencher: divan::Bencher) {
    let (_, cfg, env) = &*IGNITE_NS;
    assert_eq!(
        env.cluster.policies_in("grid").map(|p| p.all().len()),
        Some(1_003)
    );
    let incoming: NetworkPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "ignite-extra", "namespace": "grid"},
        "spec": {"podSelector": {"matchLabels": {"app": "ignite"}}, "policyTypes": ["Egress"],
                 "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "t-grid"}}}], "ports": [{"port": 10800}]}]}
    }))
    .expect("incoming policy");
    let request = PolicyRequest {
        operation: Operation::Create,
        namespace: "grid",
        name: "ignite-extra",
        object: Some(&incoming),
        mode: None,
        validating: false,
    };
    let d = decide(env, cfg, &request).expect("decided");
    assert_eq!(d.verdict, Verdict::Allowed, "{:?}", d.missing);
    assert_eq!(d.ignite_pods.len(), 100);
    bencher.bench(|| decide(env, cfg, black_box(&request)));
}

/// The seed cluster's model with the default configuration.
fn seed() -> (Compiled, Environment) {
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_text(include_str!("../examples/seed/cluster.yaml"), "seed")
        .expect("seed loads");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model");
    (cfg, env)
}

/// One whole review of the ~3 KB NetworkPolicy CREATE of `bench/review-3k.json` on the seed
/// cluster: parse, decide, build and encode the answer — the webhook's work per request minus
/// TLS and HTTP.
#[divan::bench]
fn review_3k_seed(bencher: divan::Bencher) {
    let (cfg, env) = seed();
    let body = include_bytes!("review-3k.json");
    bencher.bench(|| {
        let reviewed =
            ignite_netpol::admission::review(&env, &cfg, black_box(body), Default::default());
        ignite_netpol::admission::to_bytes(&reviewed.answer)
    });
}

/// The seed cluster and the filler of the scale benchmarks: `pods` pods in namespaces of 50, 15
/// policies a namespace up to 10,000 pods and 10 above.
fn scale_snapshot(pods: usize) -> ClusterSnapshot {
    let namespaces = pods / scale::PODS_PER_NAMESPACE;
    let policies = if pods <= 10_000 { 15 } else { 10 };
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_text(include_str!("../examples/seed/cluster.yaml"), "seed")
        .expect("seed loads");
    snapshot
        .add_value(
            scale::filler(namespaces, policies),
            &ignite_netpol::snapshot::Location {
                origin: "scale".into(),
                document: 1,
                item: None,
            },
        )
        .expect("filler loads");
    snapshot
}

/// `review_3k_seed` in a big cluster: 10,000 pods and 3,000 NetworkPolicies (200 namespaces
/// × 50 pods, 15 policies each), and 150,000 pods and 30,000 policies (3,000 namespaces × 50
/// pods, 10 each), both with 50 more Ignite namespaces. Kubernetes' scalability envelope is
/// 150,000 pods; a review should cost the same in both.
#[divan::bench(args = [10_000, 150_000], sample_count = 200)]
fn review_3k_scale(bencher: divan::Bencher, pods: usize) {
    let snapshot = scale_snapshot(pods);
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model");
    assert!(env.cluster.pod_count() >= pods, "cluster size");
    let body = include_bytes!("review-3k.json");
    let reviewed = ignite_netpol::admission::review(&env, &cfg, body, Default::default());
    assert!(reviewed.answer.allowed, "the benchmark review is admitted");
    bencher.bench(|| {
        let reviewed =
            ignite_netpol::admission::review(&env, &cfg, black_box(body), Default::default());
        ignite_netpol::admission::to_bytes(&reviewed.answer)
    });
}

type PodInfos = Vec<std::sync::Arc<ignite_netpol::policy::PodInfo>>;

/// The cluster of `review_3k_scale` and its pods in the engine's form, shared by pointer as the
/// live view's store holds them.
fn rebuild_inputs(pods: usize) -> (ClusterSnapshot, PodInfos) {
    let snapshot = scale_snapshot(pods);
    let infos: PodInfos = snapshot
        .pods
        .as_slice()
        .iter()
        .map(|p| std::sync::Arc::new(ignite_netpol::policy::PodInfo::from_pod(p).expect("pod")))
        .collect();
    assert!(infos.len() >= pods, "cluster size");
    (snapshot, infos)
}

/// The model with every NetworkPolicy compiled.
fn compiled_model(snapshot: &ClusterSnapshot, infos: &PodInfos) -> Cluster {
    Cluster::from_parts(
        snapshot.namespaces.as_slice(),
        infos.iter().cloned(),
        snapshot.network_policies.as_slice(),
    )
    .expect("model")
}

/// The environment of a rebuilt model: the targets resolved from the snapshot's Services and
/// EndpointSlices, as `Stores::environment` does.
fn with_targets(cluster: Cluster, snapshot: &ClusterSnapshot, cfg: &Compiled) -> Environment {
    let objects = ignite_netpol::ignite::targets::Objects {
        services: snapshot.services.as_slice(),
        endpoint_slices: snapshot.endpoint_slices.as_slice(),
    };
    Environment::new(cluster, objects, cfg)
}

/// What the live view does after every burst of changes (issue 15): the engine's model rebuilt
/// from the stores — pods already in the engine's form and shared by pointer, every
/// NetworkPolicy compiled again, the indexes sorted — and the targets resolved, at 10,000 and
/// 150,000 pods (the clusters of `review_3k_scale`). Its time is the CPU a burst costs.
#[divan::bench(args = [10_000, 150_000], sample_count = 10)]
fn view_rebuild_scale(bencher: divan::Bencher, pods: usize) {
    let (snapshot, infos) = rebuild_inputs(pods);
    let cfg = Compiled::default();
    bencher.bench(|| with_targets(compiled_model(&snapshot, &infos), &snapshot, &cfg));
}

/// `view_rebuild_scale` for a burst in which no NetworkPolicy changed (rollouts, pods coming
/// and going): the compiled policies are taken from the view before, as the live view does.
#[divan::bench(args = [10_000, 150_000], sample_count = 10)]
fn view_rebuild_pods_changed_scale(bencher: divan::Bencher, pods: usize) {
    let (snapshot, infos) = rebuild_inputs(pods);
    let cfg = Compiled::default();
    let before = compiled_model(&snapshot, &infos);
    bencher.bench(|| {
        let cluster = Cluster::from_parts_compiled(
            snapshot.namespaces.as_slice(),
            infos.iter().cloned(),
            before.compiled_policies(),
        );
        with_targets(cluster, &snapshot, &cfg)
    });
}

/// What the live view does after a burst of a rollout: 100 pods replaced (new addresses), as
/// 200 pod updates a second bring in one `settle` of 0.5 s, applied to the view before's pods
/// ([`ignite_netpol::policy::PodSet::changed`]) with its namespaces and compiled policies, and
/// the targets resolved. Its time is the CPU a burst costs the live view since pods are derived by change.
#[divan::bench(args = [10_000, 150_000], sample_count = 50)]
fn view_rebuild_rollout_scale(bencher: divan::Bencher, pods: usize) {
    use ignite_netpol::policy::{PodChange, PodInfo};
    let (snapshot, infos) = rebuild_inputs(pods);
    let cfg = Compiled::default();
    let before = compiled_model(&snapshot, &infos);
    let step = infos.len() / 100;
    let changes: Vec<PodChange> = (0..100)
        .map(|i| {
            let old = &infos[i * step];
            let pod = PodInfo {
                ips: vec![std::net::IpAddr::from([
                    10,
                    250,
                    (i / 250) as u8,
                    (i % 250) as u8,
                ])],
                ..PodInfo::clone(old)
            };
            PodChange {
                namespace: old.namespace.clone(),
                name: old.name.clone(),
                pod: Some(std::sync::Arc::new(pod)),
            }
        })
        .collect();
    bencher.bench(|| {
        let pods = before.pod_set().changed(changes.iter().cloned());
        let cluster = Cluster::from_pod_set_compiled(
            before.namespace_set(),
            pods,
            before.compiled_policies(),
        );
        with_targets(cluster, &snapshot, &cfg)
    });
}

/// `review_3k_seed` over `bench/mix.rs`'s 1,000 distinct reviews in turn (20 Ignite
/// namespaces, CREATE/UPDATE/DELETE, about half denied with the full explanation): the figure
/// per review the rotating load of `bench/webhook.sh` should show.
#[divan::bench]
fn review_mix_1000(bencher: divan::Bencher) {
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_text(include_str!("../examples/seed/cluster.yaml"), "seed")
        .expect("seed loads");
    snapshot
        .add_text(&mix::cluster().to_string(), "mix")
        .expect("mix cluster loads");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model");
    let bodies: Vec<Vec<u8>> = (0..1000)
        .map(|i| serde_json::to_vec(&mix::review(i)).expect("encodes"))
        .collect();
    let mut next = 0;
    bencher.bench_local(|| {
        next = (next + 1) % bodies.len();
        let reviewed = ignite_netpol::admission::review(
            &env,
            &cfg,
            black_box(&bodies[next]),
            Default::default(),
        );
        ignite_netpol::admission::to_bytes(&reviewed.answer)
    });
}

/// An audit sink that encodes each record as the writer thread does and keeps nothing.
#[derive(Debug, Default)]
struct EncodeOnly;

impl ignite_netpol::audit::AuditSink for EncodeOnly {
    fn record(&self, record: ignite_netpol::audit::AuditRecord) {
        let mut line = serde_json::to_vec(&record).expect("record encodes");
        line.push(b'\n');
        black_box(line);
    }
}

/// The same review through the webhook's router in process (no socket, no TLS): body read with
/// its limits, review, answer, metrics, span and an audit record encoded — what `serve` adds to
/// `review_3k_seed` short of the connection.
#[divan::bench]
fn router_3k_seed(bencher: divan::Bencher) {
    use ignite_netpol::server::{Answering, AppState, Limits, Metrics, OnUnsynced, router};
    use tower::ServiceExt;
    let (cfg, env) = seed();
    let answering = Answering {
        limits: Limits {
            max_body: 1 << 20,
            request_timeout: std::time::Duration::from_secs(5),
        },
        on_unsynced: OnUnsynced::Deny,
        ready: true,
    };
    let metrics = Metrics::new(std::sync::Arc::new(Default::default()));
    let state = std::sync::Arc::new(AppState::new(
        env,
        cfg,
        metrics,
        answering,
        std::sync::Arc::new(EncodeOnly),
    ));
    let app = router(state);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let body = axum::body::Bytes::from_static(include_bytes!("review-3k.json"));
    bencher.bench(|| {
        let request = axum::http::Request::post("/validate")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.clone()))
            .expect("request");
        runtime.block_on(async {
            let response = app.clone().oneshot(request).await.expect("answers");
            assert!(response.status().is_success());
            axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .expect("body")
        })
    });
}
