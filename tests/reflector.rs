//! The watchers' seam: a reflector fed from a stream of watch events (no API server) lists,
//! applies and deletes as the events say, slims every object it stores, and pokes the view's
//! rebuild on each event that changes what is stored — not on an update the slimming erases.

use std::sync::Arc;

use ignite_netpol::cluster::{
    SlimPod, is_unchanged, reflect_stream,
    slim::{strip_meta, strip_policy},
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::{reflector, watcher::Event};
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

/// Through the reflector: the status-only update is stored, and the change after it still pokes.
#[tokio::test]
async fn a_real_change_after_status_churn_still_pokes_the_view() {
    let changed = Arc::new(Notify::new());
    let events = vec![
        Event::Init,
        Event::InitApply(pod("100", "Pending", "10.0.0.5", "ignite")),
        Event::InitDone,
        Event::Apply(pod("101", "Running", "10.0.0.5", "ignite")),
        Event::Apply(pod("102", "Running", "10.0.0.5", "web")),
    ];
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let store = reflect_stream(
        rx,
        |p: &mut SlimPod| strip_meta(&mut p.metadata, false),
        changed.clone(),
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
    // The last event changes the pod, so it pokes: waiting on the pokes ends without a clock.
    while !relabelled(&store.state()) {
        changed.notified().await;
    }
    assert_eq!(store.state().len(), 1);
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
