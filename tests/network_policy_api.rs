//! Runs the network-policy-api conformance suite's expectations (ClusterNetworkPolicy, Admin
//! and Baseline tiers, with NetworkPolicy between them) through the engine.
//!
//! `tests/conformance/network-policy-api/` holds the suite's manifests as upstream wrote them
//! (`base/`), the Pods and Nodes those manifests produce (`cluster.yaml`), and each test
//! transcribed as data (`tests.json`): its steps in order, each a list of changes to the live
//! objects (rules swapped, a field patched, a namespace relabelled, a policy deleted) and probes
//! ("can pod A reach pod B's IP on port/protocol?") with the answer the suite requires of a
//! conforming network plugin. Changes accumulate through a test's steps, as they do on the live
//! objects upstream. Required: every probe agrees.

use std::collections::BTreeMap;

use ignite_netpol::{
    policy::{Cluster, Connection, Endpoint, Protocol, View},
    snapshot::{ClusterSnapshot, Location},
};
use serde_json::Value;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/conformance/network-policy-api"
);

/// The suite's default host-network ports: 34345 and the seven after it.
const HOST_NETWORK_PORT_START: u64 = 34345;

/// Fills the suite's `{{ index .HostNetworkPorts N }}` template slots as its applier does.
fn render(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("{{ index .HostNetworkPorts ") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + "{{ index .HostNetworkPorts ".len()..];
        let end = tail.find(" }}").expect("a template slot must close");
        let n: u64 = tail[..end].parse().expect("a template slot holds an index");
        out.push_str(&(HOST_NETWORK_PORT_START + n).to_string());
        rest = &tail[end + " }}".len()..];
    }
    out.push_str(rest);
    out
}

fn documents(file: &str) -> Vec<Value> {
    let text =
        std::fs::read_to_string(format!("{DIR}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&render(&text))
        .unwrap_or_else(|e| panic!("{file}: invalid YAML: {e}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The live objects of one test.
struct World {
    objects: Vec<Value>,
}

impl World {
    fn cluster(&self, test: &str) -> Cluster {
        let mut snapshot = ClusterSnapshot::default();
        let at = Location {
            origin: test.to_string(),
            document: 1,
            item: None,
        };
        snapshot
            .add_value(Value::Array(self.objects.clone()), &at)
            .unwrap_or_else(|e| panic!("{test}: objects must load: {e}"));
        snapshot
            .cluster()
            .unwrap_or_else(|e| panic!("{test}: model must build: {e}"))
    }

    fn position(&self, kind: &str, namespace: Option<&str>, name: &str) -> usize {
        self.objects
            .iter()
            .position(|o| {
                o["kind"] == kind
                    && o["metadata"]["name"] == name
                    && o["metadata"]["namespace"].as_str() == namespace
            })
            .unwrap_or_else(|| panic!("no {kind} {namespace:?}/{name} among the objects"))
    }

    fn get_mut(&mut self, kind: &str, namespace: Option<&str>, name: &str) -> &mut Value {
        let i = self.position(kind, namespace, name);
        &mut self.objects[i]
    }
}

fn pod_ref(text: &str) -> (&str, &str) {
    text.split_once('/').expect("a pod is namespace/name")
}

/// Replaces `{ip:namespace/pod}` in every string of `value` by that pod's IP.
fn fill_ips(value: &mut Value, cluster: &Cluster) {
    match value {
        Value::String(s) => {
            while let Some(at) = s.find("{ip:") {
                let end = at + s[at..].find('}').expect("placeholder must close");
                let (ns, pod) = pod_ref(&s[at + 4..end]);
                let ip = cluster
                    .pod(ns, pod)
                    .and_then(|p| p.ips.first())
                    .unwrap_or_else(|| panic!("{ns}/{pod} has no IP"));
                s.replace_range(at..=end, &ip.to_string());
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| fill_ips(v, cluster)),
        Value::Object(map) => map.values_mut().for_each(|v| fill_ips(v, cluster)),
        _ => {}
    }
}

#[derive(Default)]
struct Tally {
    agree: usize,
    total: usize,
}

#[test]
fn network_policy_api_conformance_agrees() {
    let text = std::fs::read_to_string(format!("{DIR}/tests.json")).expect("tests.json");
    let tests: Vec<Value> = serde_json::from_str(&text).expect("tests.json must be valid JSON");
    let base: Vec<Value> = documents("base/manifests.yaml")
        .into_iter()
        .chain(documents("cluster.yaml"))
        .collect();

    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut disagreements = Vec::new();
    let mut changes = 0;
    for test in &tests {
        let id = test["id"].as_str().expect("test id");
        let manifest = test["manifest"].as_str().expect("test manifest");
        let mut world = World {
            objects: base
                .iter()
                .cloned()
                .chain(documents(&format!("base/{manifest}")))
                .collect(),
        };
        let mut cluster = world.cluster(id);
        let tally = tallies.entry(id.to_string()).or_default();
        for step in test["steps"].as_array().expect("steps") {
            let title = step["title"].as_str().unwrap_or_default();
            for op in step["do"].as_array().expect("do") {
                let name = op["name"].as_str().unwrap_or_default();
                match op["op"].as_str().expect("op") {
                    "probe" => {
                        let (fns, fpod) = pod_ref(op["from"].as_str().expect("from"));
                        let (tns, tpod) = pod_ref(op["to"].as_str().expect("to"));
                        let from = cluster.pod(fns, fpod).expect("client pod");
                        let to = cluster.pod(tns, tpod).expect("server pod");
                        let protocol: Protocol = op["protocol"]
                            .as_str()
                            .expect("protocol")
                            .parse()
                            .expect("known protocol");
                        let port = u16::try_from(op["port"].as_u64().expect("port"))
                            .expect("port in range");
                        let verdict = View::new(&cluster).evaluate(&Connection {
                            from: Endpoint::Pod(from),
                            to: Endpoint::Pod(to),
                            port,
                            protocol,
                        });
                        let expected = op["connect"].as_bool().expect("connect");
                        tally.total += 1;
                        if verdict.allowed == expected {
                            tally.agree += 1;
                        } else {
                            disagreements.push(format!(
                                "{id} / {title} (line {}): {fns}/{fpod} -> {tns}/{tpod} {port}/{protocol}: \
                                 expected {expected}, engine says {}",
                                op["line"],
                                serde_json::to_string(&verdict).unwrap_or_default()
                            ));
                        }
                        continue;
                    }
                    "swap_rules" => {
                        let policy = op["policy"].as_str().expect("policy");
                        let direction = op["direction"].as_str().expect("direction");
                        let rules = world.get_mut("ClusterNetworkPolicy", None, policy)["spec"]
                            [direction]
                            .as_array_mut()
                            .expect("rules to swap");
                        let a = usize::try_from(op["a"].as_u64().expect("a")).expect("index");
                        let b = usize::try_from(op["b"].as_u64().expect("b")).expect("index");
                        rules.swap(a, b);
                    }
                    "set_namespace_labels" => {
                        let ns = op["namespace"].as_str().expect("namespace");
                        world.get_mut("Namespace", None, ns)["metadata"]["labels"] =
                            op["labels"].clone();
                    }
                    "patch" => {
                        let kind = op["kind"].as_str().expect("kind");
                        let mut ops = op["patch"].clone();
                        fill_ips(&mut ops, &cluster);
                        let patch: json_patch::Patch =
                            serde_json::from_value(ops).expect("a JSON patch");
                        json_patch::patch(world.get_mut(kind, None, name), &patch)
                            .unwrap_or_else(|e| panic!("{id}: patch {name}: {e}"));
                    }
                    "delete" => {
                        let kind = op["kind"].as_str().expect("kind");
                        let i = world.position(kind, op["namespace"].as_str(), name);
                        world.objects.remove(i);
                    }
                    other => panic!("{id}: unknown op {other:?}"),
                }
                changes += 1;
                cluster = world.cluster(id);
            }
        }
    }

    let (mut agree, mut total) = (0, 0);
    println!("network-policy-api conformance: probes by test");
    for (id, t) in &tallies {
        println!("  {id:<40} {:>3}/{:<3} agree", t.agree, t.total);
        agree += t.agree;
        total += t.total;
    }
    println!(
        "  {:<40} {agree:>3}/{total:<3} agree, {} tests, {changes} changes applied",
        "all",
        tallies.len()
    );
    assert!(
        total >= 300,
        "the transcription holds 301 probes; only {total} ran"
    );
    assert!(
        disagreements.is_empty(),
        "{} of {total} probes disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
