//! Admission beyond the Ignite namespace, through the same AdmissionReview path the webhook
//! serves: a NetworkPolicy in the DNS namespace, and writes of cluster-wide policies, judged for
//! the required flows of every Ignite namespace they touch — by the flows that work now, in the
//! mode of the affected namespace.

use std::path::Path;

use ignite_netpol::{
    admission::{self, ReviewOptions},
    ignite::{Compiled, Environment, Verdict, generate},
    snapshot::ClusterSnapshot,
};
use serde_json::{Value, json};

/// The seed cluster, plus `extra` YAML (e.g. cache-ns relabelled, a stored policy).
fn snapshot(extra: &str) -> ClusterSnapshot {
    let mut snapshot = ClusterSnapshot::load_files(&[
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed/cluster.yaml")
    ])
    .expect("seed must load");
    if !extra.is_empty() {
        snapshot
            .add_text(extra, "extra")
            .expect("extra objects must load");
    }
    snapshot
}

fn build(snapshot: &ClusterSnapshot) -> (Environment, Compiled) {
    let cfg = Compiled::default();
    let env = Environment::build(snapshot, &cfg).expect("model must build");
    (env, cfg)
}

fn env(extra: &str) -> (Environment, Compiled) {
    build(&snapshot(extra))
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tiers")
            .join(name),
    )
    .expect("fixture");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("fixture YAML");
    docs.into_iter().find(|d| !d.is_null()).expect("one object")
}

/// An AdmissionReview for `object` of the kind its apiVersion/kind say.
fn review_of(operation: &str, object: &Value) -> Vec<u8> {
    let (group, version) = match object["apiVersion"].as_str().expect("apiVersion") {
        "v1" => ("", "v1"),
        gv => gv.split_once('/').expect("group/version"),
    };
    let kind = object["kind"].as_str().expect("kind");
    let mut request = json!({
        "uid": "u-1",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
        "name": object["metadata"]["name"],
        "operation": operation,
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": if operation == "DELETE" { Value::Null } else { object.clone() },
        "oldObject": null,
        "dryRun": false
    });
    if let Some(ns) = object["metadata"]["namespace"].as_str() {
        request["namespace"] = json!(ns);
    }
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request
    }))
    .expect("encodes")
}

/// The response, and the decision's verdict.
fn answer(env: &Environment, cfg: &Compiled, body: &[u8]) -> (Value, Option<Verdict>) {
    let reviewed = admission::review(env, cfg, body, ReviewOptions::default());
    let verdict = reviewed.decision.as_ref().map(|d| d.verdict);
    (
        admission::to_json(&reviewed.answer)["response"].clone(),
        verdict,
    )
}

fn kube_system_default_deny_ingress() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny-ingress", "namespace": "kube-system"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
    })
}

const CACHE_NS_WARN: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: cache-ns\n  labels: {ignite-netpol.io/mode: warn}\n";

#[test]
fn a_default_deny_ingress_in_kube_system_is_denied_for_cutting_dns_in_cache_ns() {
    let (env, cfg) = env("");
    let (response, verdict) = answer(
        &env,
        &cfg,
        &review_of("CREATE", &kube_system_default_deny_ingress()),
    );
    assert_eq!(verdict, Some(Verdict::Denied));
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().expect("a message");
    assert!(
        message.contains("would cut Ignite off in namespace cache-ns")
            && message.contains("dns: cache-ns/ignite-0 -> kube-system/coredns-5d78c9869d-abcde 53/UDP")
            && message.contains("ingress of kube-system/coredns-5d78c9869d-abcde is isolated by kube-system/default-deny-ingress"),
        "{message}"
    );
    // The fix is for the policy written, in its own namespace: ingress from Ignite on DNS.
    assert!(
        message.contains("Add to spec.ingress of kube-system/default-deny-ingress:")
            && message.contains("kubernetes.io/metadata.name: cache-ns"),
        "{message}"
    );
}

#[test]
fn in_warn_mode_the_same_write_is_admitted_with_warnings_naming_cache_ns() {
    let (env, cfg) = env(CACHE_NS_WARN);
    let (response, verdict) = answer(
        &env,
        &cfg,
        &review_of("CREATE", &kube_system_default_deny_ingress()),
    );
    assert_eq!(verdict, Some(Verdict::Warned));
    assert_eq!(response["allowed"], true);
    let warnings: Vec<&str> = response["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("Ignite in cache-ns loses dns to kube-system/coredns")),
        "{warnings:?}"
    );
    assert!(warnings.iter().all(|w| w.chars().count() <= 120));
}

#[test]
fn a_write_elsewhere_that_cuts_nothing_new_is_admitted() {
    // A policy in a namespace no required flow reaches.
    let (env, cfg) = env("apiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n");
    let mut other = kube_system_default_deny_ingress();
    other["metadata"]["namespace"] = json!("monitoring");
    assert_eq!(
        answer(&env, &cfg, &review_of("CREATE", &other)).1,
        Some(Verdict::Allowed)
    );

    // DNS already cut by an Admin-tier rule: the kube-system policy takes nothing that works.
    let cnp = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tiers/admin-protect-kube-system.yaml"),
    )
    .expect("fixture");
    let (env, cfg) = self::env(&cnp);
    assert_eq!(
        answer(
            &env,
            &cfg,
            &review_of("CREATE", &kube_system_default_deny_ingress())
        )
        .1,
        Some(Verdict::Allowed)
    );
}

#[test]
fn an_admin_cnp_denying_all_egress_is_denied_as_cutting_the_api_server() {
    let (env, cfg) = env("");
    for file in [
        "admin-deny-egress-everywhere.yaml",
        "admin-deny-egress-everywhere-v1alpha1.yaml",
    ] {
        let obj = fixture(file);
        let (response, verdict) = answer(&env, &cfg, &review_of("CREATE", &obj));
        assert_eq!(verdict, Some(Verdict::Denied), "{file}");
        let message = response["status"]["message"].as_str().expect("a message");
        assert!(
            message.contains("would cut Ignite off in namespace cache-ns")
                && message.contains(
                    "apiserver: cache-ns/ignite-0 -> 192.168.49.2 (API server endpoint) 6443/TCP"
                )
                && message.contains("No NetworkPolicy can re-open these"),
            "{file}: {message}"
        );
        // Deleting it gives everything back: nothing to deny.
        assert_eq!(
            answer(&env, &cfg, &review_of("DELETE", &obj)).1,
            Some(Verdict::Allowed),
            "{file}"
        );
    }
}

#[test]
fn a_baseline_deny_is_judged_where_no_networkpolicy_isolates_ignite() {
    let obj = fixture("baseline-deny-egress.yaml");
    let (plain, cfg) = env("");
    let (response, verdict) = answer(&plain, &cfg, &review_of("CREATE", &obj));
    assert_eq!(verdict, Some(Verdict::Denied));
    let message = response["status"]["message"].as_str().expect("a message");
    assert!(
        message.contains("overrides a Baseline-tier rule"),
        "{message}"
    );

    // Once a NetworkPolicy isolates Ignite's egress and allows what it needs, the Baseline
    // tier no longer applies to it.
    let mut guarded = snapshot("");
    let (e, c) = build(&guarded);
    guarded.network_policies.upsert(generate::egress_policy(
        &e,
        &c,
        "cache-ns",
        "ignite-egress",
        false,
    ));
    let (guarded, cfg) = build(&guarded);
    assert_eq!(
        answer(&guarded, &cfg, &review_of("CREATE", &obj)).1,
        Some(Verdict::Allowed)
    );
}

#[test]
fn an_invalid_cluster_policy_is_refused_with_the_field() {
    let (env, cfg) = env("");
    let mut obj = fixture("admin-deny-egress-everywhere.yaml");
    obj["spec"]["egress"][0]["action"] = json!("Allow");
    let (response, verdict) = answer(&env, &cfg, &review_of("CREATE", &obj));
    assert_eq!(verdict, None);
    assert_eq!(response["status"]["code"], 422);
    let message = response["status"]["message"].as_str().expect("a message");
    assert!(message.contains("spec.egress[0].action"), "{message}");
}

#[test]
fn the_audit_record_names_the_affected_namespace_and_the_cluster_wide_kind() {
    let (env, cfg) = env("");
    let record = |body: &[u8]| {
        let reviewed = admission::review(&env, &cfg, body, ReviewOptions::default());
        let sent = admission::audit::Sent {
            status: 200,
            error: None,
            uid: None,
            latency_us: 1,
        };
        serde_json::to_value(admission::audit::record("/validate", Some(reviewed), sent))
            .expect("a record serialises")
    };
    let np = record(&review_of("CREATE", &kube_system_default_deny_ingress()));
    assert_eq!(np["verdict"], "denied");
    assert_eq!(np["namespace"], "kube-system");
    assert!(np.get("kind").is_none(), "{np}");
    assert_eq!(np["affected"][0]["namespace"], "cache-ns");
    assert_eq!(np["affected"][0]["mode"], "enforce");
    assert_eq!(np["affected"][0]["cut"][0]["flow"], "dns");

    let cnp = record(&review_of(
        "CREATE",
        &fixture("admin-deny-egress-everywhere.yaml"),
    ));
    assert_eq!(cnp["kind"], "ClusterNetworkPolicy");
    assert_eq!(cnp["name"], "deny-egress-everywhere");
    let cut: Vec<&str> = cnp["affected"][0]["cut"]
        .as_array()
        .expect("cut flows")
        .iter()
        .filter_map(|f| f["flow"].as_str())
        .collect();
    assert!(cut.contains(&"apiserver") && cut.contains(&"dns"), "{cnp}");
}
