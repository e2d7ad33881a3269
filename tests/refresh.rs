//! Managed rules kept current: a healthy policy gets no patch (whatever else the policy holds and
//! in whatever order), a stale rule is rewritten where it stands, and the annotation is rewritten
//! only when a rule moved.

use ignite_netpol::{
    ignite::{Compiled, Environment, generate, patch::managed_rules, refresh::refresh_managed},
    snapshot::ClusterSnapshot,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};

const SEED: &str = include_str!("../examples/seed/cluster.yaml");

/// The seed cluster, with the API server's endpoints replaced by `endpoints` when given.
fn env(endpoints: Option<&[&str]>) -> (Environment, Compiled) {
    let mut snapshot = ClusterSnapshot::default();
    snapshot.add_text(SEED, "seed").expect("seed");
    if let Some(ips) = endpoints {
        let endpoints: Vec<Value> = ips
            .iter()
            .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
            .collect();
        snapshot
            .add_text(
                &json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "kubernetes", "namespace": "default",
                                 "labels": {"kubernetes.io/service-name": "kubernetes"}},
                    "addressType": "IPv4", "endpoints": endpoints,
                    "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]})
                .to_string(),
                "moved",
            )
            .expect("slice");
    }
    let cfg = Compiled::default();
    (Environment::build(&snapshot, &cfg).expect("model"), cfg)
}

const USER_RULE: &str = r#"{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 5432, "protocol": "TCP"}]}"#;

/// The generated policy (as stored: with a resourceVersion), with a user's rule inserted at
/// `user_at` of its egress rules and the annotation's indices shifted to match.
fn stored(env: &Environment, cfg: &Compiled, user_at: Option<usize>) -> NetworkPolicy {
    let mut np = serde_json::to_value(generate::egress_policy(
        env,
        cfg,
        "cache-ns",
        "ignite-egress",
        false,
    ))
    .expect("json");
    np["metadata"]["resourceVersion"] = json!("41");
    if let Some(at) = user_at {
        let rules = np["spec"]["egress"].as_array_mut().expect("egress");
        rules.insert(at, serde_json::from_str(USER_RULE).expect("rule"));
        let mut managed = managed_rules(&np);
        for m in &mut managed {
            if m.index >= at {
                m.index += 1;
            }
        }
        np["metadata"]["annotations"]["ignite-netpol.io/managed-rules"] =
            json!(serde_json::to_string(&managed).expect("annotation"));
    }
    serde_json::from_value(np).expect("a NetworkPolicy")
}

fn patched(np: &NetworkPolicy, patch: &json_patch::Patch) -> Value {
    let mut v = serde_json::to_value(np).expect("json");
    json_patch::patch(&mut v, patch).expect("the patch applies (its test holds)");
    v
}

#[test]
fn a_healthy_policy_gets_no_patch_wherever_its_rules_stand() {
    let (env, cfg) = env(None);
    let rules = stored(&env, &cfg, None)
        .spec
        .and_then(|s| s.egress)
        .map_or(0, |e| e.len());
    for at in [None, Some(0), Some(1), Some(2), Some(rules)] {
        let np = stored(&env, &cfg, at);
        assert_eq!(
            refresh_managed(&np, &env, &cfg),
            None,
            "user rule at {at:?}: nothing to change"
        );
    }
}

#[test]
fn a_stale_rule_is_rewritten_where_it_stands() {
    let (old, cfg) = env(None);
    let (moved, _) = env(Some(&["192.168.49.7"]));
    let np = stored(&old, &cfg, Some(1));
    let before = serde_json::to_value(&np).expect("json");
    let patch = refresh_managed(&np, &moved, &cfg).expect("the moved endpoint needs a patch");
    let after = patched(&np, &patch);
    let (b, a) = (
        before["spec"]["egress"].as_array().expect("egress"),
        after["spec"]["egress"].as_array().expect("egress"),
    );
    assert_eq!(a.len(), b.len());
    let changed: Vec<usize> = (0..a.len()).filter(|i| a[*i] != b[*i]).collect();
    assert_eq!(changed.len(), 1, "only the endpoint's rule: {changed:?}");
    assert!(a[changed[0]].to_string().contains("192.168.49.7/32"));
    assert_eq!(
        a[1],
        serde_json::from_str::<Value>(USER_RULE).expect("rule")
    );
    assert_eq!(
        after["metadata"]["annotations"], before["metadata"]["annotations"],
        "nothing moved, so the annotation is not rewritten"
    );
    let again: NetworkPolicy = serde_json::from_value(after).expect("policy");
    assert_eq!(refresh_managed(&again, &moved, &cfg), None, "stable");
}

#[test]
fn a_rule_that_grows_is_written_in_its_place_and_the_annotation_follows() {
    let (old, cfg) = env(None);
    // A second control-plane node: the 6443 rule now names two addresses. (One rule per port,
    // so the count stays; a new port adds a rule.)
    let (two, _) = env(Some(&["192.168.49.2", "192.168.49.3"]));
    let np = stored(&old, &cfg, Some(1));
    let patch = refresh_managed(&np, &two, &cfg).expect("a new endpoint needs a patch");
    let after = patched(&np, &patch);
    assert!(after.to_string().contains("192.168.49.3/32"));
    let egress = after["spec"]["egress"].as_array().expect("egress");
    assert_eq!(
        egress[1],
        serde_json::from_str::<Value>(USER_RULE).expect("rule")
    );
    for m in managed_rules(&after) {
        assert!(
            m.index < egress.len(),
            "every recorded index points at a rule: {m:?}"
        );
    }
    let again: NetworkPolicy = serde_json::from_value(after).expect("policy");
    assert_eq!(refresh_managed(&again, &two, &cfg), None, "stable");
}

#[test]
fn entries_past_the_end_are_forgotten() {
    let (env, cfg) = env(None);
    let mut v = serde_json::to_value(stored(&env, &cfg, None)).expect("json");
    let mut managed = managed_rules(&v);
    let mut ghost = managed[0].clone();
    ghost.index = 99;
    managed.push(ghost);
    v["metadata"]["annotations"]["ignite-netpol.io/managed-rules"] =
        json!(serde_json::to_string(&managed).expect("annotation"));
    let np: NetworkPolicy = serde_json::from_value(v).expect("policy");
    let patch = refresh_managed(&np, &env, &cfg).expect("the annotation is cleaned");
    let after = patched(&np, &patch);
    assert_eq!(
        after["spec"],
        serde_json::to_value(&np).expect("json")["spec"]
    );
    assert!(managed_rules(&after).iter().all(|m| m.index != 99));
}
