//! The watchers' seam: a reflector fed from a stream of watch events (no API server) lists,
//! applies and deletes as the events say, slims every object it stores, and pokes the view's
//! rebuild on each event.

use std::sync::Arc;

use ignite_netpol::cluster::{reflect_stream, slim::strip_policy};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::watcher::Event;
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
