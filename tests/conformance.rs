//! Runs every query of the conformance corpus (`tests/conformance/cases.json`: the Kubernetes
//! e2e NetworkPolicy suite, netpol-analyzer and cyclonus) through the engine.
//!
//! Each case's namespaces, pods and policies become Kubernetes objects in a `v1 List` that is
//! loaded exactly as `eval --cluster` loads a file; each query goes through the same parser as
//! an `eval` query line. Required: 100 % agreement on every query not marked `loopback` or
//! `hostNetwork_pod`; those two groups are counted and reported apart.

use std::collections::BTreeMap;

use ignite_netpol::{
    policy::View,
    query,
    snapshot::{ClusterSnapshot, Location},
};
use serde_json::{Value, json};

#[derive(Default)]
struct Tally {
    agree: usize,
    total: usize,
}

fn case_objects(case: &Value) -> Value {
    let mut items = Vec::new();
    for ns in case["namespaces"]
        .as_array()
        .expect("case must list namespaces")
    {
        items.push(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns["name"], "labels": ns["labels"]},
        }));
    }
    for pod in case["pods"].as_array().expect("case must list pods") {
        let ports: Vec<Value> = pod["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let mut port = json!({"containerPort": p["port"], "protocol": p["protocol"]});
                if let Some(name) = p.get("name") {
                    port["name"] = name.clone();
                }
                port
            })
            .collect();
        let mut obj = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": pod["namespace"], "name": pod["name"], "labels": pod["labels"]},
            "spec": {
                "hostNetwork": pod.get("hostNetwork").cloned().unwrap_or(Value::Bool(false)),
                "containers": [{"name": "main", "ports": ports}],
            },
        });
        if let Some(ip) = pod.get("ip") {
            obj["status"] = json!({"podIP": ip, "podIPs": [{"ip": ip}]});
        }
        items.push(obj);
    }
    items.extend(
        case["policies"]
            .as_array()
            .expect("case must list policies")
            .iter()
            .cloned(),
    );
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

#[test]
fn conformance_corpus_agrees() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/cases.json");
    let text = std::fs::read_to_string(path).expect("the corpus must be in tests/conformance");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("the corpus must be valid JSON");

    let mut scored: BTreeMap<String, Tally> = BTreeMap::new();
    let mut apart: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut disagreements = Vec::new();

    for case in &cases {
        let id = case["id"].as_str().expect("case id");
        let source = id.split('/').next().unwrap_or(id).to_string();
        let mut snapshot = ClusterSnapshot::default();
        let at = Location {
            origin: id.to_string(),
            document: 1,
            item: None,
        };
        snapshot
            .add_value(case_objects(case), &at)
            .unwrap_or_else(|e| panic!("{id}: snapshot must load: {e}"));
        let cluster = snapshot
            .cluster()
            .unwrap_or_else(|e| panic!("{id}: model must build: {e}"));
        let view = View::new(&cluster);

        for q in case["queries"].as_array().expect("case must list queries") {
            let obj = q.as_object().expect("query must be an object");
            let conn =
                query::connection(&cluster, obj).unwrap_or_else(|e| panic!("{id}: query {q}: {e}"));
            let verdict = view.evaluate(&conn);
            let expected = q["allowed"]
                .as_bool()
                .expect("query must have an expected answer");
            let ok = verdict.allowed == expected;
            let group = if q.get("loopback") == Some(&Value::Bool(true)) {
                Some("loopback")
            } else if q.get("hostNetwork_pod") == Some(&Value::Bool(true)) {
                Some("hostNetwork_pod")
            } else {
                None
            };
            let tally = match group {
                Some(g) => apart.entry(g).or_default(),
                None => scored.entry(source.clone()).or_default(),
            };
            tally.total += 1;
            tally.agree += usize::from(ok);
            if !ok && group.is_none() {
                disagreements.push(format!(
                    "{id}: {q} -> engine says {}: {}",
                    verdict.allowed,
                    serde_json::to_string(&verdict).unwrap_or_default()
                ));
            }
        }
    }

    let (mut agree, mut total) = (0, 0);
    println!("conformance: scored queries by source");
    for (source, t) in &scored {
        println!("  {source:<16} {:>6}/{:<6} agree", t.agree, t.total);
        agree += t.agree;
        total += t.total;
    }
    println!(
        "  {:<16} {agree:>6}/{total:<6} agree ({:.2} %)",
        "all scored",
        100.0 * agree as f64 / total.max(1) as f64
    );
    println!("conformance: reported apart (not scored)");
    for (group, t) in &apart {
        println!("  {group:<16} {:>6}/{:<6} agree", t.agree, t.total);
    }
    assert!(
        total > 9_000,
        "the corpus must have been read whole, saw {total} scored queries"
    );
    assert!(
        disagreements.is_empty(),
        "{} scored queries disagree; first ones:\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
