//! The live view at scale, against the project's fake API server (by hand, through
//! `bench/scale.sh`; the figures go in README.md, "The live view at scale").
//!
//!     scale_live BIN [PODS] [POLICIES] [CHURN_SECONDS]
//!
//! Fills the fake API server with the seed cluster plus `bench/scale.rs`'s filler — PODS pods
//! (50 per namespace, with the metadata, spec and status real pods carry: owner references,
//! managedFields, env, resources, conditions), POLICIES NetworkPolicies spread over those
//! namespaces, and 50 Ignite namespaces of three pods — and starts `BIN serve --cluster live
//! --reconcile report` against it. Then measures, client-side over TLS:
//!
//! - ready: from the start of the process until `/readyz` answers 200;
//! - resident set once ready, after each churn phase, and its high-water mark;
//! - reviews: an allowed CREATE (`bench/review-3k.json`, cache-ns) every 25 ms, median and p99,
//!   idle and under churn;
//! - freshness: the API server's endpoint moves, and how long until a review reflects it (a
//!   deny-all beside the generated egress policy flips from allowed to denied, and back — idle,
//!   a second apart; under churn, in its midst);
//! - churn: 200 pod updates/s in the filler namespaces for CHURN_SECONDS, first status-only
//!   updates (what kubelets write all day), then rollouts (pods replaced: new IP, new
//!   `pod-template-hash`); the webhook's CPU over each phase.
//!
//! Prints one Markdown table row per figure.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "scale.rs"]
mod scale;

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{Client, fake_api::FakeApi};
use serde_json::{Value, json};

/// Pod updates per second during churn.
const CHURN_RATE: usize = 200;
/// One review every this long while measuring latency.
const REVIEW_EVERY: Duration = Duration::from_millis(25);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(bin) = args.get(1).cloned() else {
        eprintln!("usage: scale_live BIN [PODS] [POLICIES] [CHURN_SECONDS]");
        std::process::exit(2);
    };
    let number = |i: usize, default: usize| -> usize {
        args.get(i).map_or(default, |a| {
            a.parse().unwrap_or_else(|_| {
                eprintln!("not a number: {a}");
                std::process::exit(2)
            })
        })
    };
    let pods = number(2, 150_000);
    let policies = number(3, pods / 5);
    let churn = Duration::from_secs(number(4, 30) as u64);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Two workers, so that serving the fake API server's streams delays the reviewing
        // client less.
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(bin, pods, policies, churn));
}

/// Adds what real pods carry beyond what the engine reads, so that decoding and stripping
/// are paid for as in a cluster.
fn realistic(mut pod: Value, n: usize) -> Value {
    let name = pod["metadata"]["name"].clone();
    let meta = &mut pod["metadata"];
    meta["uid"] = json!(format!("5f0d6c1e-7b1a-4c61-9a55-{n:012}"));
    meta["creationTimestamp"] = json!("2026-11-26T10:00:00Z");
    meta["generateName"] = json!(format!("{}-", name.as_str().unwrap_or_default()));
    meta["annotations"] = json!({"kubectl.kubernetes.io/restartedAt": "2026-11-26T10:00:00Z",
        "checksum/config": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"});
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-abc",
        "uid": "5f0d6c1e-7b1a-4c61-9a55-2c0b2a8a9f10", "controller": true, "blockOwnerDeletion": true}]);
    meta["managedFields"] = json!([
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2026-11-26T10:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
            "f:ownerReferences": {".": {}, "k:{\"uid\":\"5f0d6c1e-7b1a-4c61-9a55-2c0b2a8a9f10\"}": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"main\"}": {".": {}, "f:env": {}, "f:image": {}, "f:name": {}, "f:ports": {}, "f:resources": {}}}}}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-11-26T10:00:05Z", "subresource": "status",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}}}
    ]);
    let spec = &mut pod["spec"];
    spec["containers"][0]["image"] = json!("registry.example.com/team/app:1.2.3");
    spec["containers"][0]["env"] = json!(
        (0..10)
            .map(|e| json!({"name": format!("ENV_{e}"), "value": "some configuration value"}))
            .collect::<Vec<_>>()
    );
    spec["containers"][0]["resources"] =
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}});
    spec["containers"][0]["volumeMounts"] = json!([{"name": "config", "mountPath": "/etc/app"},
        {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]);
    spec["volumes"] = json!([{"name": "config", "configMap": {"name": "app-config"}},
        {"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}]);
    spec["serviceAccountName"] = json!("app");
    spec["nodeName"] = json!(format!("node-{}", n % 3000));
    spec["tolerations"] = json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]);
    let status = &mut pod["status"];
    status["phase"] = json!("Running");
    status["hostIP"] = json!(format!("192.168.{}.{}", n / 256 % 12, n % 250 + 1));
    status["startTime"] = json!("2026-11-26T10:00:01Z");
    status["conditions"] = conditions(0);
    status["containerStatuses"] = json!([{"name": "main", "ready": true, "restartCount": 0, "started": true,
        "image": "registry.example.com/team/app:1.2.3", "imageID": "registry.example.com/team/app@sha256:0f1e2d3c",
        "containerID": format!("containerd://{n:064x}"), "state": {"running": {"startedAt": "2026-11-26T10:00:03Z"}}}]);
    pod
}

fn conditions(tick: usize) -> Value {
    let at = format!("2026-11-26T10:{:02}:{:02}Z", tick / 60 % 60, tick % 60);
    json!([{"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": at},
           {"type": "Initialized", "status": "True", "lastTransitionTime": at},
           {"type": "Ready", "status": "True", "lastTransitionTime": at},
           {"type": "ContainersReady", "status": "True", "lastTransitionTime": at},
           {"type": "PodScheduled", "status": "True", "lastTransitionTime": at}])
}

fn seed_items() -> Vec<Value> {
    let list: Value = serde_saphyr::from_str(&common::seed_text()).expect("seed YAML");
    list["items"].as_array().cloned().unwrap_or_default()
}

/// `VmRSS` and `VmHWM` of `pid`, in MB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds (user + system) `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

struct Webhook {
    child: Child,
    client: Client,
    admin: String,
}

impl Webhook {
    /// Whether `review` is allowed, and how long the answer took.
    async fn review(&mut self, review: &str) -> (bool, Duration) {
        let start = Instant::now();
        let (status, _, body) = self.client.post("/validate", review).await;
        let took = start.elapsed();
        assert_eq!(status, 200, "the webhook answers every review");
        let answer: Value = serde_json::from_slice(&body).expect("an AdmissionReview");
        (answer["response"]["allowed"] == true, took)
    }

    async fn metric(&self, series: &str) -> f64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut tcp) = tokio::net::TcpStream::connect(&self.admin).await else {
            return 0.0;
        };
        let _ = tcp
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .await;
        let mut text = String::new();
        let _ = tcp.read_to_string(&mut text).await;
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

/// Median and p99 of `samples`, in ms.
fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.5), at(0.99))
}

/// Reviews every [`REVIEW_EVERY`] for `during`; all must be allowed.
async fn latencies(hook: &mut Webhook, review: &str, during: Duration) -> Vec<Duration> {
    let mut out = Vec::new();
    let end = Instant::now() + during;
    let mut tick = tokio::time::interval(REVIEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < end {
        tick.tick().await;
        let (allowed, took) = hook.review(review).await;
        assert!(allowed, "the allowed CREATE must stay allowed");
        out.push(took);
    }
    out
}

/// Moves the API server's endpoint to `ip` and reviews until the answer to `review` is
/// `allowed`; how long that took.
async fn freshness(
    hook: &mut Webhook,
    fake: &FakeApi,
    review: &str,
    ip: &str,
    allowed: bool,
) -> Duration {
    let start = Instant::now();
    fake.apply(common::moved_slice(ip));
    loop {
        if hook.review(review).await.0 == allowed {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the move was never reflected"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Applies [`CHURN_RATE`] pod updates per second until `stop`, to the filler pods in turn.
fn churn(
    fake: FakeApi,
    pods: Arc<Vec<Value>>,
    rollout: bool,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let due = start + Duration::from_secs_f64(n as f64 / CHURN_RATE as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let mut pod = pods[n * 7919 % pods.len()].clone();
            if rollout {
                // The ReplicaSet's pod replaced: a new hash label and a new address.
                let generation = n / pods.len() + 1;
                pod["metadata"]["labels"]["pod-template-hash"] = json!(format!("r{generation}"));
                let ip = format!("10.{}.{}.{}", 200 + generation % 50, n / 256 % 256, n % 256);
                pod["status"]["podIP"] = json!(ip);
                pod["status"]["podIPs"] = json!([{"ip": ip}]);
            } else {
                pod["status"]["conditions"] = conditions(n + 1);
                pod["status"]["containerStatuses"][0]["restartCount"] = json!(n / pods.len() + 1);
            }
            fake.apply(pod);
            count.fetch_add(1, Ordering::Relaxed);
            n += 1;
        }
    })
}

struct Phase {
    name: &'static str,
    median: f64,
    p99: f64,
    cpu: f64,
    rss: u64,
    rate: f64,
    fresh: Duration,
}

async fn run(bin: String, pods: usize, policies: usize, churn_for: Duration) {
    let namespaces = pods.div_ceil(scale::PODS_PER_NAMESPACE);
    let per_namespace = policies.div_ceil(namespaces.max(1));
    eprintln!(
        "filling the fake API server: {namespaces} namespaces × {} pods, {per_namespace} policies each",
        scale::PODS_PER_NAMESPACE
    );
    let fake = FakeApi::start().await;
    for item in seed_items() {
        fake.apply(item);
    }
    let mut filler_pods = Vec::new();
    let filler = scale::filler(namespaces, per_namespace);
    for (n, item) in filler["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if item["kind"] == "Pod" {
            let pod = realistic(item, n);
            if pod["metadata"]["namespace"]
                .as_str()
                .is_some_and(|ns| ns.starts_with("team-"))
            {
                filler_pods.push(pod.clone());
            }
            fake.apply(pod);
        } else {
            fake.apply(item);
        }
    }
    // cache-ns runs the generated egress policy: a deny-all beside it is allowed while it
    // still reaches the API server's endpoint.
    fake.apply(common::generated_policy());
    let deny_all = common::seed_policies("deny-all-traffic.yaml").remove(0);
    let deny_review = common::review("fresh", "CREATE", deny_all);
    let create =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/review-3k.json"))
            .expect("bench/review-3k.json");

    let dir = tempfile::tempdir().expect("temp dir");
    let issued = common::write_certs(dir.path());
    let kubeconfig = common::write_kubeconfig(dir.path(), fake.addr);
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .args(["serve", "--cluster", "live", "--reconcile", "report"])
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--log-format", "json", "--log", "info", "--audit-log"])
        .arg(dir.path().join("audit.log"))
        .arg("--tls-cert")
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the webhook starts");
    let lines = common::LogLines::follow(child.stderr.take().expect("stderr"));
    let serving = lines.wait_for("Serving", Duration::from_secs(60));
    let addr: std::net::SocketAddr = serving["listen"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the webhook's address");
    let admin = serving["admin"].as_str().expect("admin").to_string();
    let client = Client::http1(addr, &issued.ca_cert).await;
    let mut hook = Webhook {
        child,
        client,
        admin,
    };
    // `lines` stays alive to the end: its thread keeps reading, so the pipe never fills.
    loop {
        if hook.metric("ignite_netpol_reconcile_runs_total").await >= 1.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = started.elapsed();
    let pid = hook.child.id();
    let (ready_rss, _) = memory(pid);

    let mut idle = latencies(&mut hook, &create, Duration::from_secs(10)).await;
    let (idle_median, idle_p99) = percentiles(&mut idle);
    let away = freshness(&mut hook, &fake, &deny_review, "192.168.49.7", false).await;
    // Idle means quiet: the move back comes after a pause longer than the settle, as the first
    // did (two moves within the settle are a burst, built once it has settled).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let back = freshness(&mut hook, &fake, &deny_review, "192.168.49.2", true).await;
    let idle_fresh = away.max(back);

    let filler_pods = Arc::new(filler_pods);
    let mut phases = Vec::new();
    for (name, rollout) in [("status updates", false), ("rollouts", true)] {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let cpu0 = cpu_seconds(pid);
        let t0 = Instant::now();
        let churner = churn(
            fake.clone(),
            filler_pods.clone(),
            rollout,
            stop.clone(),
            count.clone(),
        );
        let half = churn_for / 2;
        let mut samples = latencies(&mut hook, &create, half).await;
        let fresh = freshness(&mut hook, &fake, &deny_review, "192.168.49.7", false).await;
        let fresh_back = freshness(&mut hook, &fake, &deny_review, "192.168.49.2", true).await;
        samples.extend(latencies(&mut hook, &create, churn_for - half).await);
        stop.store(true, Ordering::Relaxed);
        let _ = churner.join();
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = (cpu_seconds(pid) - cpu0) / elapsed;
        let (median, p99) = percentiles(&mut samples);
        phases.push(Phase {
            name,
            median,
            p99,
            cpu,
            rss: memory(pid).0,
            rate: count.load(Ordering::Relaxed) as f64 / elapsed,
            fresh: fresh.max(fresh_back),
        });
    }
    let (_, high_water) = memory(pid);
    let views = hook.metric("ignite_netpol_cluster_views_total").await;
    let runs = hook.metric("ignite_netpol_reconcile_runs_total").await;
    let skipped = hook.metric("ignite_netpol_reconcile_skipped_total").await;
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = hook.child.wait();
    drop(lines);

    println!(
        "| figure | {pods} pods / {} policies |",
        namespaces * per_namespace
    );
    println!("|---|---|");
    println!(
        "| ready (lists done, first view built and judged) | {:.1} s |",
        ready.as_secs_f64()
    );
    println!("| resident set once ready | {ready_rss} MB |");
    println!(
        "| review (allowed CREATE) idle: median / p99 | {idle_median:.2} / {idle_p99:.2} ms |"
    );
    println!(
        "| freshness idle (endpoint moves → a review reflects it) | {:.2} s |",
        idle_fresh.as_secs_f64()
    );
    for p in &phases {
        println!(
            "| under {:.0} pod {}/s: review median / p99 | {:.2} / {:.2} ms |",
            p.rate, p.name, p.median, p.p99
        );
        println!(
            "| under {}: freshness | {:.2} s |",
            p.name,
            p.fresh.as_secs_f64()
        );
        println!("| under {}: webhook CPU | {:.2} cores |", p.name, p.cpu);
        println!("| after {}: resident set | {} MB |", p.name, p.rss);
    }
    println!("| resident set high-water | {high_water} MB |");
    println!("| views built / judged / skipped by the reconciler | {views} / {runs} / {skipped} |");
}
