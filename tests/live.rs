//! The live cluster view against a fake API server: sync then a review; an endpoint move
//! rewritten under `update` and reported under `report`; an update conflict that re-reads and
//! keeps someone's edit; a watch that drops and resumes; unsynced answers.

mod common;
mod fake_api {
    pub use super::common::fake_api::*;
}

use std::time::Duration;

use common::{Client, TestServer, generated_policy, moved_slice, review, seed_policies, seed_text};
use fake_api::FakeApi;
use ignite_netpol::cluster::reconcile::ReconcileMode;
use serde_json::{Value, json};

/// Waits (polling) until `cond` holds, failing after 20 s with `what`.
async fn until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn seed_items() -> Vec<Value> {
    let list: Value = serde_saphyr::from_str(&seed_text()).expect("seed YAML");
    list["items"].as_array().expect("items").clone()
}

async fn fake_with_seed(with_policies: bool) -> FakeApi {
    let fake = FakeApi::start().await;
    for item in seed_items() {
        fake.apply(item);
    }
    if with_policies {
        fake.apply(generated_policy());
        fake.apply(seed_policies("deny-all-traffic.yaml").remove(0));
    }
    fake
}

async fn ready(server: &TestServer) {
    until("the view to sync", || async {
        server.admin_get("/readyz").await.0 == 200
    })
    .await;
}

fn policy_text(fake: &FakeApi) -> String {
    fake.get("NetworkPolicy", "cache-ns", "ignite-egress")
        .expect("policy")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_move_is_rewritten_under_update() {
    let fake = fake_with_seed(true).await;
    let server = TestServer::start_live(fake.client(), ReconcileMode::Update).await;
    ready(&server).await;

    // Synced, a review is decided on the live view: DNS and the API server are allowed by the
    // generated policy, so another default-deny is admitted.
    let mut deny2 = seed_policies("deny-all-traffic.yaml").remove(0);
    deny2["metadata"]["name"] = json!("deny-2");
    let mut client = Client::http1(server.addr, &server.ca).await;
    let (_, _, body) = client
        .post("/validate", &review("live-1", "CREATE", deny2.clone()))
        .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("json")["response"]["allowed"],
        true
    );
    assert!(policy_text(&fake).contains("192.168.49.2/32"));

    fake.apply(moved_slice("192.168.49.7"));
    until("the managed ipBlock to be rewritten", || async {
        policy_text(&fake).contains("192.168.49.7/32")
    })
    .await;
    let text = policy_text(&fake);
    assert!(
        !text.contains("192.168.49.2/32"),
        "the stale address is gone: {text}"
    );
    assert!(text.contains("10.96.0.1/32"), "the ClusterIP rule stays");

    // The namespace passes again: the same default-deny is admitted on the new view.
    until("the namespace to pass again", || {
        let body = review("live-2", "CREATE", deny2.clone());
        let addr = server.addr;
        let ca = server.ca.clone();
        async move {
            let (_, _, answer) = Client::http1(addr, &ca)
                .await
                .post("/validate", &body)
                .await;
            serde_json::from_slice::<Value>(&answer).expect("json")["response"]["allowed"] == true
        }
    })
    .await;
    until("the gauge to clear", || async {
        server
            .metric("ignite_netpol_namespaces_cut_off{flow=\"apiserver\"}")
            .await
            == 0.0
    })
    .await;
    let patches = fake
        .requests()
        .iter()
        .filter(|(m, p)| m == "PATCH" && p.ends_with("/ignite-egress"))
        .count();
    assert_eq!(patches, 1, "one rewrite");
    let audit = server.stop().await;
    let reconciled: Vec<&Value> = audit.iter().filter(|r| r["path"] == "reconcile").collect();
    assert_eq!(
        reconciled.len(),
        1,
        "one audit record for the rewrite: {audit:?}"
    );
    assert_eq!(reconciled[0]["name"], "ignite-egress");
    assert_eq!(reconciled[0]["verdict"], "patched");
}

/// The generated policy with a user's rule in the middle of its egress rules (the annotation
/// shifted to match), as a policy someone edited after ignite-netpol wrote it.
fn edited_generated_policy() -> Value {
    let mut np = generated_policy();
    let rules = np["spec"]["egress"].as_array_mut().expect("egress");
    rules.insert(
        1,
        json!({"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 5432, "protocol": "TCP"}]}),
    );
    let annotation = "ignite-netpol.io/managed-rules";
    let mut managed: Vec<Value> = serde_json::from_str(
        np["metadata"]["annotations"][annotation]
            .as_str()
            .expect("annotation"),
    )
    .expect("managed rules");
    for m in &mut managed {
        if m["direction"] == "egress" && m["index"].as_u64() >= Some(1) {
            m["index"] = json!(m["index"].as_u64().unwrap_or_default() + 1);
        }
    }
    np["metadata"]["annotations"][annotation] =
        json!(serde_json::to_string(&managed).expect("annotation"));
    np
}

/// Waits for `n` more reconcile rounds, each brought by an unrelated change.
async fn rounds(server: &TestServer, fake: &FakeApi, n: usize) {
    for i in 0..n {
        let runs = server.metric("ignite_netpol_reconcile_runs_total").await;
        fake.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("unrelated-{i}")}}));
        until("another reconcile", || async {
            server.metric("ignite_netpol_reconcile_runs_total").await > runs
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_policy_is_never_written_under_update() {
    let fake = fake_with_seed(false).await;
    fake.apply(edited_generated_policy());
    fake.apply(seed_policies("deny-all-traffic.yaml").remove(0));
    let server = TestServer::start_live(fake.client(), ReconcileMode::Update).await;
    ready(&server).await;
    rounds(&server, &fake, 4).await;
    let writes: Vec<(String, String)> = fake
        .requests()
        .into_iter()
        .filter(|(m, _)| m == "PATCH" || m == "PUT")
        .collect();
    assert!(
        writes.is_empty(),
        "a GitOps tool would see drift: {writes:?}"
    );
    assert!(
        fake.events().is_empty(),
        "nothing is cut off: {:?}",
        fake.events()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_is_not_followed_by_a_cut_off_event() {
    let fake = fake_with_seed(false).await;
    fake.apply(edited_generated_policy());
    fake.apply(seed_policies("deny-all-traffic.yaml").remove(0));
    let server = TestServer::start_live(fake.client(), ReconcileMode::Update).await;
    ready(&server).await;
    fake.apply(moved_slice("192.168.49.7"));
    until("the managed ipBlock to be rewritten", || async {
        policy_text(&fake).contains("192.168.49.7/32")
    })
    .await;
    rounds(&server, &fake, 2).await;
    assert!(
        fake.events().is_empty(),
        "the problem was fixed, not reported: {:?}",
        fake.events()
    );
    let text = policy_text(&fake);
    assert!(
        text.contains("10.20.0.0/16"),
        "the user's rule stays: {text}"
    );
    let writes = fake
        .requests()
        .iter()
        .filter(|(m, p)| m == "PATCH" && p.ends_with("/ignite-egress"))
        .count();
    assert_eq!(writes, 1, "one rewrite, then quiet");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_move_is_reported_once_under_report() {
    let fake = fake_with_seed(true).await;
    let server = TestServer::start_live(fake.client(), ReconcileMode::Report).await;
    ready(&server).await;
    until("a first reconcile", || async {
        server.metric("ignite_netpol_reconcile_runs_total").await >= 1.0
    })
    .await;
    assert_eq!(
        server
            .metric("ignite_netpol_namespaces_cut_off{flow=\"apiserver\"}")
            .await,
        0.0
    );

    fake.apply(moved_slice("192.168.49.7"));
    until("the gauge to report the cut", || async {
        server
            .metric("ignite_netpol_namespaces_cut_off{flow=\"apiserver\"}")
            .await
            == 1.0
    })
    .await;
    until("an Event", || async { !fake.events().is_empty() }).await;

    // Another change and another reconcile: no second Event for the same problem.
    let runs = server.metric("ignite_netpol_reconcile_runs_total").await;
    fake.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "unrelated"}}));
    until("another reconcile", || async {
        server.metric("ignite_netpol_reconcile_runs_total").await > runs
    })
    .await;
    let events = fake.events();
    assert_eq!(events.len(), 1, "one Event, not one per loop: {events:?}");
    assert_eq!(events[0]["reason"], "IgniteCutOff");
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["regarding"]["name"], "ignite-egress");
    assert!(
        events[0]["note"]
            .as_str()
            .unwrap_or_default()
            .contains("192.168.49.7"),
        "{:?}",
        events[0]
    );
    assert!(
        !fake.requests().iter().any(|(m, _)| m == "PATCH"),
        "report mode never writes policies"
    );
    server.stop().await;
}

/// Waits until the view built after a change has been looked at and skipped by the reconciler.
async fn skipped_after(server: &TestServer, fake: &FakeApi, change: Value) {
    let skipped = server.metric("ignite_netpol_reconcile_skipped_total").await;
    fake.apply(change);
    until("the view with the change to be skipped", || async {
        server.metric("ignite_netpol_reconcile_skipped_total").await > skipped
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_an_irrelevant_namespace_is_not_reconciled() {
    let fake = fake_with_seed(true).await;
    let server = TestServer::start_live(fake.client(), ReconcileMode::Report).await;
    ready(&server).await;
    until("a first reconcile", || async {
        server.metric("ignite_netpol_reconcile_runs_total").await >= 1.0
    })
    .await;
    let runs = server.metric("ignite_netpol_reconcile_runs_total").await;
    let views = server.metric("ignite_netpol_cluster_views_total").await;
    let reusing = "ignite_netpol_cluster_views_reusing_policies_total";
    let reused = server.metric(reusing).await;

    // `apps` holds no Ignite pod, no DNS, no API server, no host-network pod: a new pod and a
    // new policy there build new views (reviews read them) but are not judged again.
    skipped_after(
        &server,
        &fake,
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "web-1", "namespace": "apps", "labels": {"app": "web"}},
               "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
               "status": {"podIP": "172.21.33.8", "podIPs": [{"ip": "172.21.33.8"}]}}),
    )
    .await;
    // No NetworkPolicy changed: that view took the compiled policies of the one before.
    assert_eq!(
        server.metric(reusing).await,
        reused + 1.0,
        "a pod change reuses the policies"
    );
    skipped_after(
        &server,
        &fake,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "web-deny", "namespace": "apps"},
               "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"]}}),
    )
    .await;
    assert!(
        server.metric("ignite_netpol_cluster_views_total").await >= views + 2.0,
        "each change built a view"
    );
    assert_eq!(
        server.metric(reusing).await,
        reused + 1.0,
        "a NetworkPolicy change compiles the policies again"
    );
    assert_eq!(
        server.metric("ignite_netpol_reconcile_runs_total").await,
        runs,
        "a change outside the namespaces that matter to Ignite is not reconciled"
    );

    // A second Ignite pod in cache-ns is a change that matters: it is judged.
    let mut peer = seed_items()
        .into_iter()
        .find(|i| i["metadata"]["name"] == "ignite-0")
        .expect("the seed's Ignite pod");
    peer["metadata"]["name"] = json!("ignite-1");
    peer["status"] = json!({"podIP": "172.21.70.50", "podIPs": [{"ip": "172.21.70.50"}]});
    fake.apply(peer);
    until("a reconcile of the changed Ignite namespace", || async {
        server.metric("ignite_netpol_reconcile_runs_total").await > runs
    })
    .await;
    server.stop().await;
}

/// When the rewrite conflicts and the re-read policy is already current — someone else, or our
/// own rewrite from a view before, got there first — no cut-off Event is published: the view
/// that found the rule stale lagged behind the API. (Seen in CI: a view brought by an unrelated
/// change, ahead of the watch event of our own rewrite, reported the problem just fixed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_found_current_on_a_re_read_is_not_reported_cut_off() {
    let fake = fake_with_seed(true).await;
    let server = TestServer::start_live(fake.client(), ReconcileMode::Update).await;
    ready(&server).await;
    let egress = fake
        .get("NetworkPolicy", "cache-ns", "ignite-egress")
        .expect("policy")["spec"]["egress"]
        .clone();
    let text = egress.to_string();
    assert!(
        text.contains("192.168.49.2/32"),
        "the seed's endpoint rule: {text}"
    );
    let current: serde_json::Value =
        serde_json::from_str(&text.replace("192.168.49.2/32", "192.168.49.7/32")).expect("json");
    fake.conflict_next_patch_after(json!({"egress": current}));

    fake.apply(moved_slice("192.168.49.7"));
    let path = "/apis/networking.k8s.io/v1/namespaces/cache-ns/networkpolicies/ignite-egress";
    until("the policy to be re-read", || async {
        fake.requests().iter().any(|(m, p)| m == "GET" && p == path)
    })
    .await;
    rounds(&server, &fake, 2).await;
    assert!(
        fake.events().is_empty(),
        "the rule is current in the API, not cut off: {:?}",
        fake.events()
    );
    let patches = fake
        .requests()
        .iter()
        .filter(|(m, p)| m == "PATCH" && p == path)
        .count();
    assert_eq!(
        patches, 1,
        "the conflicted patch, and none after the re-read"
    );
    assert!(policy_text(&fake).contains("192.168.49.7/32"));
    server.stop().await;
}

/// The next patch of the managed policy meets a conflict: someone else adds an egress rule to
/// 10.10.10.10/32 first.
fn conflict_with_another_edit(fake: &FakeApi) {
    let mut edited = fake
        .get("NetworkPolicy", "cache-ns", "ignite-egress")
        .expect("policy")["spec"]["egress"]
        .clone();
    edited
        .as_array_mut()
        .expect("egress")
        .push(json!({"to": [{"ipBlock": {"cidr": "10.10.10.10/32"}}], "ports": [{"port": 9999}]}));
    fake.conflict_next_patch_after(json!({"egress": edited}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_conflict_rereads_and_keeps_the_other_edit() {
    let fake = fake_with_seed(true).await;
    let server = TestServer::start_live(fake.client(), ReconcileMode::Update).await;
    ready(&server).await;
    conflict_with_another_edit(&fake);

    fake.apply(moved_slice("192.168.49.7"));
    until("the managed rule to be rewritten", || async {
        policy_text(&fake).contains("192.168.49.7/32")
    })
    .await;
    let text = policy_text(&fake);
    assert!(
        text.contains("10.10.10.10/32"),
        "the edit made meanwhile is kept: {text}"
    );
    let reqs = fake.requests();
    let path = "/apis/networking.k8s.io/v1/namespaces/cache-ns/networkpolicies/ignite-egress";
    assert_eq!(
        reqs.iter()
            .filter(|(m, p)| m == "PATCH" && p == path)
            .count(),
        2,
        "a conflict, then a retry"
    );
    assert_eq!(
        reqs.iter().filter(|(m, p)| m == "GET" && p == path).count(),
        1,
        "the policy is re-read once"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_trailing_our_rewrite_does_not_write_again() {
    // The conflicting edit's watch event reaches the reconciler after its retry has landed: that
    // view still holds the old rule. The API has moved past it, so nothing is sent from it.
    let fake = fake_with_seed(true).await;
    let server = TestServer::start_live(fake.client(), ReconcileMode::Update).await;
    ready(&server).await;
    conflict_with_another_edit(&fake);
    // Policies' watch events wait from here on.
    fake.watch_up_to("NetworkPolicy", Some(fake.resource_version()));
    fake.apply(moved_slice("192.168.49.7"));
    until("the retry to land in the API", || async {
        policy_text(&fake).contains("192.168.49.7/32")
    })
    .await;
    let path = "/apis/networking.k8s.io/v1/namespaces/cache-ns/networkpolicies/ignite-egress";
    let patches = |fake: &FakeApi| {
        fake.requests()
            .iter()
            .filter(|(m, p)| m == "PATCH" && p == path)
            .count()
    };
    assert_eq!(patches(&fake), 2, "a conflict, then a retry");
    // Deliver the conflicting edit alone: a view with the rule before the retry.
    let landed = fake.resource_version();
    fake.watch_up_to("NetworkPolicy", Some(landed - 1));
    rounds(&server, &fake, 1).await;
    assert_eq!(
        patches(&fake),
        2,
        "nothing is sent from a view the API has moved past"
    );
    fake.watch_up_to("NetworkPolicy", None);
    rounds(&server, &fake, 2).await;
    assert_eq!(patches(&fake), 2, "and nothing once the view has caught up");
    assert!(
        fake.events().is_empty(),
        "the rule is current in the API, not cut off: {:?}",
        fake.events()
    );
    let text = policy_text(&fake);
    assert!(
        text.contains("10.10.10.10/32") && text.contains("192.168.49.7/32"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_resumes() {
    let fake = fake_with_seed(false).await;
    let server = TestServer::start_live(fake.client(), ReconcileMode::Report).await;
    ready(&server).await;
    until("a first reconcile", || async {
        server.metric("ignite_netpol_reconcile_runs_total").await >= 1.0
    })
    .await;
    assert_eq!(
        server
            .metric("ignite_netpol_namespaces_cut_off{flow=\"dns\"}")
            .await,
        0.0
    );

    let policy_gets = || {
        fake.requests()
            .iter()
            .filter(|(m, p)| m == "GET" && p == "/apis/networking.k8s.io/v1/networkpolicies")
            .count()
    };
    let before = policy_gets();
    assert!(before >= 2, "a list and a watch before the drop: {before}");
    fake.drop_watches();
    // The change is made only once the view has asked again, so it can only arrive through
    // the new request, never through the watch that was dropped.
    until("a watch again after the drop", || async {
        policy_gets() > before
    })
    .await;
    fake.apply(seed_policies("deny-all-traffic.yaml").remove(0));
    until("the change after the dropped watch to arrive", || async {
        server
            .metric("ignite_netpol_namespaces_cut_off{flow=\"dns\"}")
            .await
            == 1.0
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsynced_reviews_are_denied_until_the_view_is_synced() {
    let fake = fake_with_seed(false).await;
    fake.hold("pods");
    let server = TestServer::start_live(fake.client(), ReconcileMode::Off).await;
    let body = review(
        "early",
        "CREATE",
        seed_policies("ingress-only.yaml").remove(0),
    );
    let mut client = Client::http1(server.addr, &server.ca).await;
    until("the server to answer", || async {
        server.admin_get("/healthz").await.0 == 200
    })
    .await;
    assert_eq!(
        server.admin_get("/readyz").await.0,
        503,
        "not ready while pods are not listed"
    );
    let (status, _, answer) = client.post("/validate", &body).await;
    assert_eq!(status, 200);
    let r = &serde_json::from_slice::<Value>(&answer).expect("json")["response"];
    assert_eq!(r["uid"], "early");
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not synced"),
        "{r}"
    );

    assert_eq!(
        server.admin_get("/report").await.0,
        503,
        "no report of a view that is not loaded"
    );

    fake.release();
    ready(&server).await;
    let (_, _, answer) = client.post("/validate", &body).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&answer).expect("json")["response"]["allowed"],
        true
    );
    server.stop().await;
}

/// `/report.json` of the admin port, parsed.
async fn live_report(server: &TestServer) -> Value {
    let (status, text) = server.admin_get("/report.json").await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("the report is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_report_follows_the_live_view() {
    let fake = fake_with_seed(false).await;
    let server = TestServer::start_live(fake.client(), ReconcileMode::Off).await;
    ready(&server).await;

    let (status, html) = server.admin_get("/report").await;
    assert_eq!(status, 200);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html:.100}");
    assert!(
        html.contains("from the live view"),
        "the page says where it comes from"
    );
    assert!(html.contains("id=\"picture-cache-ns\""), "with the picture");

    // No policy yet: Ignite works, and nothing isolates its egress.
    let report = live_report(&server).await;
    assert_eq!(report["source"], "the live view");
    assert!(report.get("history").is_none(), "no audit log is read");
    let ns = &report["namespaces"][0];
    assert_eq!(ns["namespace"], "cache-ns");
    assert_eq!(ns["works"], true, "{ns}");
    assert_eq!(ns["excess"][0]["kind"], "not-isolated", "{ns}");

    fake.apply(seed_policies("deny-all-traffic.yaml").remove(0));
    until("the report to see the deny-all", || async {
        live_report(&server).await["namespaces"][0]["works"] == false
    })
    .await;
    let report = live_report(&server).await;
    let ns = &report["namespaces"][0];
    let cut: Vec<&str> = ns["required"]
        .as_array()
        .expect("required flows")
        .iter()
        .filter(|r| r["allowed"] == false && r["scaling_only"] == false)
        .filter_map(|r| r["flow"].as_str())
        .collect();
    assert_eq!(cut, ["dns", "dns", "apiserver", "apiserver"], "{ns}");
    assert_eq!(ns["minimal"], true, "deny-all opens nothing: {ns}");
    server.stop().await;
}

fn admin_deny_egress_everywhere() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiers/admin-deny-egress-everywhere.yaml"
    ))
    .expect("fixture");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("fixture YAML");
    docs.into_iter().find(|d| !d.is_null()).expect("one object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_network_policy_created_changes_scan_and_the_gauge() {
    let fake = fake_with_seed(true).await;
    fake.serve_cluster_policies();
    fake.apply(json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "minikube", "labels": {"kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.49.2"}], "capacity": {"cpu": "2"}}}));
    let cfg = ignite_netpol::ignite::Compiled::default();
    let scan = |fake: FakeApi| {
        let cfg = cfg.clone();
        async move {
            let snapshot = ignite_netpol::cluster::list_once(&fake.client(), &cfg)
                .await
                .expect("lists");
            let env = ignite_netpol::ignite::Environment::build(&snapshot, &cfg).expect("model");
            let node = snapshot.nodes.as_slice()[0].clone();
            (ignite_netpol::ignite::report::scan(&env, &cfg), node)
        }
    };
    let (before, node) = scan(fake.clone()).await;
    assert!(before.iter().all(|r| !r.broken()), "healthy to start with");
    assert!(
        node.spec.is_none(),
        "a Node is kept as labels and addresses only"
    );

    let server = TestServer::start_live(fake.client(), ReconcileMode::Report).await;
    ready(&server).await;
    until("a first reconcile", || async {
        server.metric("ignite_netpol_reconcile_runs_total").await >= 1.0
    })
    .await;
    let gauge = "ignite_netpol_namespaces_cut_off{flow=\"apiserver\"}";
    assert_eq!(server.metric(gauge).await, 0.0);

    fake.apply(admin_deny_egress_everywhere());
    until("the gauge to report the Admin-tier cut", || async {
        server.metric(gauge).await == 1.0
    })
    .await;
    let (after, _) = scan(fake.clone()).await;
    let cache = after
        .iter()
        .find(|r| r.namespace == "cache-ns")
        .expect("cache-ns");
    assert!(cache.broken());
    assert_eq!(
        cache.offending_policies(),
        vec!["ClusterNetworkPolicy/deny-egress-everywhere".to_string()]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_crds_the_view_is_ready_and_asks_once() {
    let fake = fake_with_seed(true).await;
    let server = TestServer::start_live(fake.client(), ReconcileMode::Report).await;
    ready(&server).await;
    let requests = fake.requests();
    let asked = |gv: &str| {
        requests
            .iter()
            .filter(|(m, p)| m == "GET" && p == &format!("/apis/policy.networking.k8s.io/{gv}"))
            .count()
    };
    assert_eq!(asked("v1alpha2"), 1, "{requests:?}");
    assert_eq!(asked("v1alpha1"), 1, "{requests:?}");
    assert!(
        !requests.iter().any(|(_, p)| p.ends_with("networkpolicies")
            && p.contains("policy.networking")
            || p == "/api/v1/nodes"),
        "nothing listed of kinds that are not served: {requests:?}"
    );
    server.stop().await;
}
