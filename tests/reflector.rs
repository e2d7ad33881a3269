//! The watchers' seam: a reflector fed from a stream of watch events (no API server) lists,
//! applies and deletes as the events say, slims every object it stores, and pokes the view's
//! rebuild on each event that changes what is stored — not on an update the slimming erases;
//! the pod store, which keeps pods in the engine's form, likewise.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use ignite_netpol::cluster::{
    PodStore, SlimPod, is_unchanged, reflect_pods, reflect_stream, reflect_stream_revised,
    slim::{strip_meta, strip_policy},
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::{
    reflector,
    watcher::{self, Event},
};
use serde_json::json;
use tokio::sync::Notify;

fn policy(name: &str, cidr: &str) -> NetworkPolicy {
    serde_json::from_value(json!({
        "metadata": {
            "name": name, "namespace": "cache-ns", "resourceVersion": "7",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                "ignite-netpol.io/managed-rules": "[]"
            },
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}]
        },
        "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                 "egress": [{"to": [{"ipBlock": {"cidr": cidr}}]}]}
    }))
    .expect("a NetworkPolicy")
}

#[tokio::test]
async fn a_stream_of_watch_events_fills_the_store_slimmed() {
    let changed = Arc::new(Notify::new());
    let events = vec![
        Event::Init,
        Event::InitApply(policy("a", "10.0.0.1/32")),
        Event::InitApply(policy("b", "10.0.0.2/32")),
        Event::InitDone,
        Event::Apply(policy("a", "10.0.0.9/32")),
        Event::Delete(policy("b", "10.0.0.2/32")),
    ];
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let store = reflect_stream(rx, strip_policy, changed.clone());
    for e in events {
        tx.unbounded_send(Ok(e)).expect("the reflector listens");
    }
    drop(tx);
    // Each event is stored, then poked: waiting on the pokes until the last event shows needs no
    // clock (a poke that comes before the wait is kept as a permit).
    store.wait_until_ready().await.expect("listed once");
    let deleted =
        |s: &[Arc<NetworkPolicy>]| s.len() == 1 && s[0].metadata.name.as_deref() == Some("a");
    while !deleted(&store.state()) {
        changed.notified().await;
    }
    let state = store.state();
    assert_eq!(state.len(), 1, "b was deleted: {state:?}");
    let a = &state[0];
    assert_eq!(a.metadata.name.as_deref(), Some("a"));
    assert!(
        serde_json::to_string(&a.spec)
            .expect("json")
            .contains("10.0.0.9/32"),
        "the Apply replaced the listed object"
    );
    assert!(a.metadata.managed_fields.is_none(), "managedFields dropped");
    let annotations = a.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        ["ignite-netpol.io/managed-rules"],
        "only the managed-rules annotation is kept"
    );
    assert_eq!(a.metadata.resource_version.as_deref(), Some("7"));
}

/// A pod as the API server sends it, slimmed as the pod watcher slims it.
fn pod(resource_version: &str, phase: &str, ip: &str, app: &str) -> SlimPod {
    let mut p: SlimPod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "ignite-0", "namespace": "cache-ns", "resourceVersion": resource_version,
            "labels": {"app": app},
            "managedFields": [{"manager": "kubelet", "operation": "Update", "subresource": "status"}]
        },
        "spec": {"containers": [{"name": "ignite", "ports": [{"containerPort": 47500}]}]},
        "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}],
                   "conditions": [{"type": "Ready", "status": if phase == "Running" { "True" } else { "False" }}]}
    }))
    .expect("a pod");
    strip_meta(&mut p.metadata, false);
    p
}

/// Status-only churn (phase, conditions, resourceVersion, the kubelet's managedFields) leaves
/// the slimmed pod as it was: no view rebuild for it. Labels, IPs, a first sight and a deletion
/// are changes.
#[test]
fn an_update_the_slimming_erases_is_no_change() {
    let (store, mut writer) = reflector::store::<SlimPod>();
    let stored = pod("100", "Pending", "10.0.0.5", "ignite");
    assert!(
        !is_unchanged(&store, &Event::Apply(stored.clone())),
        "not stored yet"
    );
    writer.apply_watcher_event(&Event::Apply(stored.clone()));
    assert!(is_unchanged(
        &store,
        &Event::Apply(pod("101", "Running", "10.0.0.5", "ignite"))
    ));
    assert!(!is_unchanged(
        &store,
        &Event::Apply(pod("102", "Running", "10.0.0.6", "ignite"))
    ));
    assert!(!is_unchanged(
        &store,
        &Event::Apply(pod("103", "Running", "10.0.0.5", "web"))
    ));
    assert!(!is_unchanged(&store, &Event::Delete(stored.clone())));
    assert!(!is_unchanged(&store, &Event::InitApply(stored)));
}

/// Through the reflector: the status-only update is stored, and the change after it still pokes
/// and counts in the store's revision (the listing's three events count too; the status-only
/// update does not).
#[tokio::test]
async fn a_real_change_after_status_churn_still_pokes_the_view() {
    let changed = Arc::new(Notify::new());
    let revision = Arc::new(AtomicU64::new(0));
    let events = vec![
        Event::Init,
        Event::InitApply(pod("100", "Pending", "10.0.0.5", "ignite")),
        Event::InitDone,
        Event::Apply(pod("101", "Running", "10.0.0.5", "ignite")),
        Event::Apply(pod("102", "Running", "10.0.0.5", "web")),
    ];
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let store = reflect_stream_revised(
        rx,
        |p: &mut SlimPod| strip_meta(&mut p.metadata, false),
        changed.clone(),
        revision.clone(),
    );
    for e in events {
        tx.unbounded_send(Ok(e)).expect("the reflector listens");
    }
    drop(tx);
    store.wait_until_ready().await.expect("listed once");
    let relabelled = |s: &[Arc<SlimPod>]| {
        s.len() == 1
            && s[0]
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str)
                == Some("web")
    };
    // The last event changes the pod, so it pokes (after counting): waiting on the pokes ends
    // without a clock.
    while !(relabelled(&store.state()) && revision.load(Ordering::Acquire) >= 4) {
        changed.notified().await;
    }
    assert_eq!(store.state().len(), 1);
    assert_eq!(revision.load(Ordering::Acquire), 4);
}

/// The watchers keep a pod's IPs: the API spells them `podIP` and `podIPs`. Without them an
/// ipBlock that covers the pod network would match no pod in the live view, though it does in
/// a snapshot file.
#[test]
fn a_slimmed_pod_keeps_its_ips() {
    let info = pod("100", "Running", "10.0.0.5", "ignite")
        .info()
        .expect("a pod the engine reads");
    assert_eq!(
        info.ips,
        vec!["10.0.0.5".parse::<std::net::IpAddr>().expect("an IP")]
    );
    assert_eq!(info.ports.len(), 1);
}

/// `pod` under another name.
fn named(name: &str, resource_version: &str, phase: &str, ip: &str, app: &str) -> SlimPod {
    let mut p = pod(resource_version, phase, ip, app);
    p.metadata.name = Some(name.to_string());
    p
}

/// Waits, on the store's pokes (no clock), until `cond` holds.
async fn until_pods(store: &PodStore, changed: &Notify, cond: impl Fn(&PodStore) -> bool) {
    while !cond(store) {
        changed.notified().await;
    }
}

type Events = futures::channel::mpsc::UnboundedSender<Result<Event<SlimPod>, watcher::Error>>;

/// A pod store fed through a channel, once listed: cache-ns/ignite-0 (in `phase`) and web-0.
async fn listed_pod_store(phase: &str) -> (PodStore, Arc<Notify>, Events) {
    let changed = Arc::new(Notify::new());
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let store = reflect_pods(rx, changed.clone());
    let send = |e| tx.unbounded_send(Ok(e)).expect("the store listens");
    send(Event::Init);
    send(Event::InitApply(pod("100", phase, "10.0.0.5", "ignite")));
    send(Event::InitApply(named(
        "web-0", "100", "Running", "10.0.0.6", "web",
    )));
    send(Event::InitDone);
    store.wait_until_ready().await;
    (store, changed, tx)
}

/// The live view's pod store keeps pods in the engine's form: a status-only update replaces
/// nothing (the very same `Arc` stays, so views built before keep sharing it), a relabel and a
/// deletion are changes, and an unreadable pod is left out.
#[tokio::test]
async fn the_pod_store_keeps_engine_pods_and_ignores_status_churn() {
    let (store, changed, tx) = listed_pod_store("Pending").await;
    let send = |e| tx.unbounded_send(Ok(e)).expect("the store listens");
    assert_eq!(store.len(), 2);
    let ignite = store.get("cache-ns", "ignite-0").expect("listed");
    assert_eq!(ignite.labels.get("app").map(String::as_str), Some("ignite"));
    assert_eq!(
        ignite.ips,
        vec!["10.0.0.5".parse::<std::net::IpAddr>().expect("IP")]
    );

    // Status churn, then a marker pod: once the marker shows, the churn was handled.
    send(Event::Apply(pod("101", "Running", "10.0.0.5", "ignite")));
    send(Event::Apply(named(
        "marker", "102", "Running", "10.0.0.7", "m",
    )));
    until_pods(&store, &changed, |s| s.get("cache-ns", "marker").is_some()).await;
    let after = store.get("cache-ns", "ignite-0").expect("still there");
    assert!(
        Arc::ptr_eq(&ignite, &after),
        "a status-only update replaces nothing"
    );

    // A relabel is a change; a deletion removes the pod.
    send(Event::Apply(pod("103", "Running", "10.0.0.5", "cache")));
    until_pods(&store, &changed, |s| {
        s.get("cache-ns", "ignite-0")
            .is_some_and(|p| p.labels.get("app").map(String::as_str) == Some("cache"))
    })
    .await;
    send(Event::Delete(named(
        "web-0", "104", "Running", "10.0.0.6", "web",
    )));
    until_pods(&store, &changed, |s| s.get("cache-ns", "web-0").is_none()).await;

    // A pod whose IP cannot be read is left out, and a pod it replaces is gone with it.
    send(Event::Apply(named(
        "marker",
        "105",
        "Running",
        "not-an-ip",
        "m",
    )));
    until_pods(&store, &changed, |s| s.get("cache-ns", "marker").is_none()).await;
    assert_eq!(store.len(), 1, "{:?}", store.state());
}

/// A relist (after a watch's history expired) replaces the store when complete: a pod gone
/// from the list is gone, a new one is there, an unchanged one keeps its `Arc`.
#[tokio::test]
async fn a_relist_replaces_the_pod_store_and_keeps_unchanged_pods() {
    let changed = Arc::new(Notify::new());
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let store = reflect_pods(rx, changed.clone());
    let send = |e| tx.unbounded_send(Ok(e)).expect("the store listens");
    send(Event::Init);
    send(Event::InitApply(pod(
        "100", "Running", "10.0.0.5", "ignite",
    )));
    send(Event::InitApply(named(
        "old", "100", "Running", "10.0.0.8", "web",
    )));
    send(Event::InitDone);
    store.wait_until_ready().await;
    let ignite = store.get("cache-ns", "ignite-0").expect("listed");

    send(Event::Init);
    send(Event::InitApply(pod(
        "200", "Running", "10.0.0.5", "ignite",
    )));
    send(Event::InitApply(named(
        "new", "200", "Running", "10.0.0.9", "web",
    )));
    send(Event::InitDone);
    until_pods(&store, &changed, |s| s.get("cache-ns", "new").is_some()).await;
    assert!(store.get("cache-ns", "old").is_none(), "not in the relist");
    let kept = store.get("cache-ns", "ignite-0").expect("relisted");
    assert!(
        Arc::ptr_eq(&ignite, &kept),
        "an unchanged pod is shared, not copied"
    );
    assert_eq!(store.len(), 2);
}

/// The store hands the view thread only what changed since it last asked: everything the
/// first time and after a relist, then the pods added, replaced or deleted — not those whose
/// status alone changed — each as it is now.
#[tokio::test]
async fn the_pod_store_hands_out_what_changed_since_the_last_view() {
    let (store, changed, tx) = listed_pod_store("Running").await;
    let send = |e| tx.unbounded_send(Ok(e)).expect("the store listens");
    assert!(
        store.take_changes().is_none(),
        "the first view takes every pod"
    );
    let first = store.pod_set(None);
    assert_eq!(first.len(), 2);
    assert_eq!(store.take_changes().map(|c| c.len()), Some(0));

    // Status churn, a new pod, a relabel and a deletion.
    send(Event::Apply(pod("101", "Succeeded", "10.0.0.5", "ignite")));
    send(Event::Apply(named(
        "web-1", "102", "Running", "10.0.0.7", "web",
    )));
    send(Event::Apply(named(
        "web-0", "103", "Running", "10.0.0.6", "frontend",
    )));
    send(Event::Delete(named(
        "web-1", "104", "Running", "10.0.0.7", "web",
    )));
    send(Event::Apply(named(
        "marker", "105", "Running", "10.0.0.8", "m",
    )));
    until_pods(&store, &changed, |s| s.get("cache-ns", "marker").is_some()).await;
    let next = store.pod_set(Some(&first));
    assert_eq!(next.base_id(), first.base_id(), "derived, not indexed anew");
    let mut listed: Vec<String> = next
        .iter()
        .map(|p| format!("{} {:?}", p.name, p.labels.get("app")))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "ignite-0 Some(\"ignite\")",
            "marker Some(\"m\")",
            "web-0 Some(\"frontend\")"
        ]
    );
    assert!(
        next.added_to_base().iter().all(|p| p.name != "ignite-0"),
        "a status-only update is not a change"
    );
    assert_eq!(store.take_changes().map(|c| c.len()), Some(0));

    // A relist: the next view takes every pod anew.
    send(Event::Init);
    send(Event::InitApply(pod(
        "200", "Running", "10.0.0.5", "ignite",
    )));
    send(Event::InitDone);
    until_pods(&store, &changed, |s| s.get("cache-ns", "marker").is_none()).await;
    assert!(
        store.take_changes().is_none(),
        "a relist replaces every pod"
    );
}
