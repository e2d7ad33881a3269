//! Randomised differential test: the engine against a deliberately naive reference evaluator
//! written straight from the NetworkPolicy spec text, sharing no code with the engine (it reads
//! the raw objects, not compiled policies). Scenarios come from a seeded generator, so a failure
//! names its seed and prints the scenario; every seed is the same on every run.

use std::{collections::BTreeMap, net::IpAddr};

use ignite_netpol::{
    policy::{Connection, Endpoint, Protocol, View},
    snapshot::{ClusterSnapshot, Location},
};
use serde_json::{Value, json};

/// splitmix64: small, seedable, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: [&str; 2] = ["app", "tier"];
const VALUES: [&str; 3] = ["a", "b", "c"];
const PORTS: [u16; 4] = [53, 80, 443, 8080];
const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
const NAMES: [&str; 2] = ["web", "dns"];

fn labels(rng: &mut Rng) -> Value {
    let mut m = serde_json::Map::new();
    for k in KEYS {
        if rng.chance(60) {
            m.insert(k.into(), json!(rng.pick(&VALUES)));
        }
    }
    Value::Object(m)
}

fn selector(rng: &mut Rng) -> Value {
    let mut s = json!({});
    if rng.chance(50) {
        s["matchLabels"] = json!({ *rng.pick(&KEYS): rng.pick(&VALUES) });
    }
    if rng.chance(40) {
        let key = *rng.pick(&KEYS);
        let expr = match rng.below(4) {
            0 => {
                json!({"key": key, "operator": "In", "values": [rng.pick(&VALUES), rng.pick(&VALUES)]})
            }
            1 => json!({"key": key, "operator": "NotIn", "values": [rng.pick(&VALUES)]}),
            2 => json!({"key": key, "operator": "Exists"}),
            _ => json!({"key": key, "operator": "DoesNotExist"}),
        };
        s["matchExpressions"] = json!([expr]);
    }
    s
}

fn ip_block(rng: &mut Rng) -> Value {
    if rng.chance(70) {
        let (cidr, except) = [
            ("10.0.0.0/16", "10.0.1.0/24"),
            ("10.0.0.0/8", "10.0.0.0/30"),
            ("10.0.1.9/24", "10.0.1.8/29"),
        ][rng.below(3)];
        let mut b = json!({"cidr": cidr});
        if rng.chance(50) {
            b["except"] = json!([except]);
        }
        b
    } else {
        let mut b = json!({"cidr": "fd00::/64"});
        if rng.chance(50) {
            b["except"] = json!(["fd00::/120"]);
        }
        b
    }
}

fn peer(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => json!({"podSelector": selector(rng)}),
        1 => json!({"namespaceSelector": selector(rng)}),
        2 => json!({"namespaceSelector": selector(rng), "podSelector": selector(rng)}),
        _ => json!({"ipBlock": ip_block(rng)}),
    }
}

fn rule_port(rng: &mut Rng) -> Value {
    let mut p = json!({});
    if rng.chance(70) {
        p["protocol"] = json!(rng.pick(&PROTOCOLS));
    }
    match rng.below(4) {
        0 => {}
        1 => p["port"] = json!(rng.pick(&PORTS)),
        2 => {
            let start = *rng.pick(&PORTS);
            p["port"] = json!(start);
            p["endPort"] = json!(start + [0, 10, 400][rng.below(3)]);
        }
        _ => p["port"] = json!(rng.pick(&NAMES)),
    }
    p
}

fn rules(rng: &mut Rng, peer_key: &str) -> Value {
    let n = rng.below(3);
    Value::Array(
        (0..n)
            .map(|_| {
                let mut r = json!({});
                if rng.chance(70) {
                    r[peer_key] = Value::Array((0..1 + rng.below(2)).map(|_| peer(rng)).collect());
                }
                if rng.chance(70) {
                    r["ports"] =
                        Value::Array((0..1 + rng.below(2)).map(|_| rule_port(rng)).collect());
                }
                r
            })
            .collect(),
    )
}

fn scenario(seed: u64) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let mut rng = Rng(seed);
    let namespaces: Vec<Value> = ["x", "y"]
        .iter()
        .map(|n| {
            let mut l = labels(&mut rng);
            l["kubernetes.io/metadata.name"] = json!(n);
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": l}})
        })
        .collect();
    let pods: Vec<Value> = (0..4)
        .map(|i| {
            let ns = if i % 2 == 0 { "x" } else { "y" };
            let ip = if rng.chance(25) { format!("fd00::{}", i + 1) } else { format!("10.0.{}.{}", rng.below(2), 1 + i) };
            let mut ports = vec![];
            if rng.chance(60) {
                ports.push(json!({"name": "web", "containerPort": rng.pick(&PORTS), "protocol": "TCP"}));
            }
            if rng.chance(40) {
                ports.push(json!({"name": "dns", "containerPort": 53, "protocol": rng.pick(&["UDP", "TCP"])}));
            }
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": format!("p{i}"), "namespace": ns, "labels": labels(&mut rng)},
                   "spec": {"containers": [{"name": "c", "ports": ports}]},
                   "status": {"podIP": ip}})
        })
        .collect();
    let policies: Vec<Value> = (0..1 + rng.below(4))
        .map(|i| {
            let ns = if rng.chance(50) { "x" } else { "y" };
            let mut spec = json!({"podSelector": selector(&mut rng)});
            match rng.below(4) {
                0 => spec["policyTypes"] = json!(["Ingress"]),
                1 => spec["policyTypes"] = json!(["Egress"]),
                2 => spec["policyTypes"] = json!(["Ingress", "Egress"]),
                _ => {}
            }
            if rng.chance(70) {
                spec["ingress"] = rules(&mut rng, "from");
            }
            if rng.chance(70) {
                spec["egress"] = rules(&mut rng, "to");
            }
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": format!("np{i}"), "namespace": ns}, "spec": spec})
        })
        .collect();
    (namespaces, pods, policies)
}

// ---- The reference: the spec, read literally. ----

fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// "A label selector ... the requirements of matchLabels and matchExpressions are ANDed. An
/// empty label selector matches all objects."
fn ref_selects(sel: &Value, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = labels_of(&sel["matchLabels"]);
    if match_labels.iter().any(|(k, v)| labels.get(k) != Some(v)) {
        return false;
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let has = labels.get(key);
        let ok = match e["operator"].as_str().unwrap_or_default() {
            "In" => has.is_some_and(|v| values.contains(&v.as_str())),
            "NotIn" => has.is_none_or(|v| !values.contains(&v.as_str())),
            "Exists" => has.is_some(),
            "DoesNotExist" => has.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn in_cidr(cidr: &str, ip: IpAddr) -> bool {
    let (addr, len) = cidr.split_once('/').expect("cidr");
    let len: u32 = len.parse().expect("prefix");
    match (addr.parse::<IpAddr>().expect("addr"), ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

struct World<'a> {
    namespaces: &'a [Value],
    pods: &'a [Value],
}

impl World<'_> {
    fn ns_labels(&self, ns: &str) -> BTreeMap<String, String> {
        self.namespaces
            .iter()
            .find(|n| n["metadata"]["name"] == ns)
            .map(|n| labels_of(&n["metadata"]["labels"]))
            .unwrap_or_default()
    }
}

/// An end: a pod (by index) or an address.
#[derive(Clone, Copy)]
enum End {
    Pod(usize),
    Ip(IpAddr),
}

/// "Each peer ... only traffic which matches at least one item in the from/to list".
fn ref_peer(world: &World, policy: &Value, peer: &Value, end: End) -> bool {
    if let Some(block) = peer.get("ipBlock") {
        let ip: IpAddr = match end {
            End::Ip(ip) => ip,
            End::Pod(i) => world.pods[i]["status"]["podIP"]
                .as_str()
                .expect("ip")
                .parse()
                .expect("ip"),
        };
        let cidr = block["cidr"].as_str().expect("cidr");
        return in_cidr(cidr, ip)
            && !block["except"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| in_cidr(e.as_str().expect("except"), ip));
    }
    let End::Pod(i) = end else { return false };
    let pod = &world.pods[i];
    if pod["spec"]["hostNetwork"] == true {
        return false;
    }
    let pod_ns = pod["metadata"]["namespace"].as_str().expect("ns");
    let ns_ok = match peer.get("namespaceSelector") {
        None => pod_ns == policy["metadata"]["namespace"].as_str().expect("ns"),
        Some(sel) => ref_selects(sel, &world.ns_labels(pod_ns)),
    };
    let pod_ok = peer
        .get("podSelector")
        .is_none_or(|sel| ref_selects(sel, &labels_of(&pod["metadata"]["labels"])));
    ns_ok && pod_ok
}

fn ref_port(world: &World, p: &Value, dst: End, port: u16, proto: &str) -> bool {
    if p["protocol"].as_str().unwrap_or("TCP") != proto {
        return false;
    }
    match &p["port"] {
        Value::Null => true,
        Value::Number(n) => {
            let start = n.as_u64().expect("port");
            let end = p["endPort"].as_u64().unwrap_or(start);
            (start..=end).contains(&u64::from(port))
        }
        Value::String(name) => match dst {
            End::Ip(_) => false,
            End::Pod(i) => world.pods[i]["spec"]["containers"][0]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|cp| {
                    cp["name"] == name.as_str()
                        && cp["protocol"].as_str().unwrap_or("TCP") == proto
                        && cp["containerPort"].as_u64() == Some(u64::from(port))
                }),
        },
        _ => false,
    }
}

/// One direction for `subject`: isolated by any selecting policy of that type; then allowed by
/// the union of their rules.
fn ref_side(
    world: &World,
    policies: &[Value],
    subject: usize,
    ingress: bool,
    other: End,
    q: &Query,
) -> bool {
    let Query {
        to: dst,
        port,
        proto,
    } = *q;
    let pod = &world.pods[subject];
    if pod["spec"]["hostNetwork"] == true {
        return true;
    }
    let ns = pod["metadata"]["namespace"].as_str().expect("ns");
    let (key, peer_key, ty) = if ingress {
        ("ingress", "from", "Ingress")
    } else {
        ("egress", "to", "Egress")
    };
    let mut isolated = false;
    let mut allowed = false;
    for p in policies.iter().filter(|p| p["metadata"]["namespace"] == ns) {
        if !ref_selects(
            &p["spec"]["podSelector"],
            &labels_of(&pod["metadata"]["labels"]),
        ) {
            continue;
        }
        let types: Vec<&str> = p["spec"]["policyTypes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let affects = if types.is_empty() {
            ingress
                || p["spec"]["egress"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
        } else {
            types.contains(&ty)
        };
        if !affects {
            continue;
        }
        isolated = true;
        for rule in p["spec"][key].as_array().into_iter().flatten() {
            let peers = rule[peer_key].as_array().filter(|a| !a.is_empty());
            let ports = rule["ports"].as_array().filter(|a| !a.is_empty());
            let peer_ok = peers.is_none_or(|ps| ps.iter().any(|pe| ref_peer(world, p, pe, other)));
            let port_ok =
                ports.is_none_or(|ps| ps.iter().any(|pt| ref_port(world, pt, dst, port, proto)));
            allowed |= peer_ok && port_ok;
        }
    }
    !isolated || allowed
}

/// The connection a side judges: its destination, port and protocol.
#[derive(Clone, Copy)]
struct Query<'a> {
    to: End,
    port: u16,
    proto: &'a str,
}

fn ref_allowed(
    world: &World,
    policies: &[Value],
    from: End,
    to: End,
    port: u16,
    proto: &str,
) -> bool {
    let q = Query { to, port, proto };
    let egress = match from {
        End::Ip(_) => true,
        End::Pod(i) => ref_side(world, policies, i, false, to, &q),
    };
    let ingress = match to {
        End::Ip(_) => true,
        End::Pod(i) => ref_side(world, policies, i, true, from, &q),
    };
    egress && ingress
}

#[test]
fn the_engine_agrees_with_the_naive_reference() {
    let mut compared = 0;
    for seed in 0..400u64 {
        let (namespaces, pods, policies) = scenario(seed);
        let mut snapshot = ClusterSnapshot::default();
        let items: Vec<Value> = namespaces
            .iter()
            .chain(&pods)
            .chain(&policies)
            .cloned()
            .collect();
        snapshot
            .add_value(
                json!({"apiVersion": "v1", "kind": "List", "items": items}),
                &Location {
                    origin: format!("seed {seed}"),
                    document: 1,
                    item: None,
                },
            )
            .unwrap_or_else(|e| panic!("seed {seed}: generated objects must be valid: {e}"));
        let cluster = snapshot.cluster().expect("model");
        let view = View::new(&cluster);
        let world = World {
            namespaces: &namespaces,
            pods: &pods,
        };
        let engine_end = |e: End| match e {
            End::Pod(i) => Endpoint::Pod(
                cluster
                    .pod(
                        pods[i]["metadata"]["namespace"].as_str().expect("ns"),
                        pods[i]["metadata"]["name"].as_str().expect("name"),
                    )
                    .expect("pod"),
            ),
            End::Ip(ip) => Endpoint::Ip(ip),
        };
        let mut ends: Vec<End> = (0..pods.len()).map(End::Pod).collect();
        ends.extend(
            ["10.0.1.7", "10.0.0.2", "fd00::5", "8.8.8.8"]
                .iter()
                .map(|s| End::Ip(s.parse().expect("ip"))),
        );
        for &from in &ends {
            for &to in &ends {
                if matches!((from, to), (End::Ip(_), End::Ip(_))) {
                    continue;
                }
                for port in PORTS {
                    for proto in PROTOCOLS {
                        let want = ref_allowed(&world, &policies, from, to, port, proto);
                        let protocol: Protocol = proto.parse().expect("protocol");
                        let got = view
                            .evaluate(&Connection {
                                from: engine_end(from),
                                to: engine_end(to),
                                port,
                                protocol,
                            })
                            .allowed;
                        assert_eq!(
                            got,
                            want,
                            "seed {seed}: {port}/{proto}\nnamespaces: {}\npods: {}\npolicies: {}",
                            serde_json::to_string(&namespaces).unwrap_or_default(),
                            serde_json::to_string(&pods).unwrap_or_default(),
                            serde_json::to_string_pretty(&policies).unwrap_or_default()
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    println!("property: {compared} connections agreed between the engine and the reference");
    assert!(compared > 100_000);
}

/// For random policies in the seed case's Ignite namespace, in patch mode: a patch makes the
/// decision pass, never removes a connection the policy allowed, and patching again adds nothing.
#[test]
fn patches_pass_keep_allowances_and_are_idempotent() {
    use ignite_netpol::{
        ignite::{Compiled, Environment, Mode, Operation, PolicyRequest, Verdict, decide, patch},
        policy::{Policy, PolicyChange},
    };
    let seed_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/seed/cluster.yaml"
    ))
    .expect("seed");
    let mut snapshot = ClusterSnapshot::default();
    snapshot.add_text(&seed_text, "seed").expect("seed");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model");
    let ignite = env.cluster.pod("cache-ns", "ignite-0").expect("ignite-0");
    let targets: Vec<Endpoint> = env
        .cluster
        .pods()
        .map(Endpoint::Pod)
        .chain(
            ["192.168.49.2", "10.96.0.1", "8.8.8.8", "10.0.1.7"]
                .iter()
                .map(|s| Endpoint::Ip(s.parse().expect("ip"))),
        )
        .collect();
    let (mut patched_count, mut checked) = (0, 0);
    for seed in 0..300u64 {
        let mut rng = Rng(seed.wrapping_mul(7919) + 1);
        let mut spec = json!({"podSelector": if rng.chance(50) { json!({}) } else { json!({"matchLabels": {"app": "ignite"}}) }});
        spec["policyTypes"] = json!(if rng.chance(50) {
            vec!["Egress"]
        } else {
            vec!["Ingress", "Egress"]
        });
        spec["egress"] = rules(&mut rng, "to");
        if rng.chance(50) {
            spec["ingress"] = rules(&mut rng, "from");
        }
        let np: k8s_openapi::api::networking::v1::NetworkPolicy = serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "random", "namespace": "cache-ns"}, "spec": spec,
        }))
        .expect("policy");
        let request = |np| PolicyRequest {
            operation: Operation::Create,
            namespace: "cache-ns",
            name: "random",
            object: Some(np),
            mode: Some(Mode::Patch),
            validating: false,
        };
        let d = decide(&env, &cfg, &request(&np)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        match d.verdict {
            Verdict::Allowed => continue,
            Verdict::Patched => {}
            other => panic!(
                "seed {seed}: a policy selecting Ignite with Egress must be patchable, got {other:?}: {:?}",
                d.unpatchable
            ),
        }
        patched_count += 1;
        let patched = patch::apply(
            &np,
            d.patch.as_ref().expect("a patched verdict has a patch"),
        )
        .expect("the patch applies");
        let again = decide(&env, &cfg, &request(&patched)).expect("decided");
        assert_eq!(
            again.verdict,
            Verdict::Allowed,
            "seed {seed}: the patched policy passes: {:?}",
            again.missing
        );
        assert!(
            again.patch.is_none(),
            "seed {seed}: patching again adds nothing"
        );

        let before = Policy::compile(&np).expect("compiles");
        let after = Policy::compile(&patched).expect("the patched policy is a valid NetworkPolicy");
        let view = |p| {
            View::with_change(
                &env.cluster,
                PolicyChange {
                    namespace: "cache-ns",
                    name: "random",
                    policy: Some(p),
                },
            )
        };
        let (vb, va) = (view(&before), view(&after));
        for to in &targets {
            for port in PORTS {
                for proto in PROTOCOLS {
                    let conn = Connection {
                        from: Endpoint::Pod(ignite),
                        to: *to,
                        port,
                        protocol: proto.parse().expect("protocol"),
                    };
                    if vb.evaluate(&conn).allowed {
                        assert!(
                            va.evaluate(&conn).allowed,
                            "seed {seed}: the patch removed an allowance: {port}/{proto}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    println!("property: {patched_count} random policies patched, {checked} connections kept");
    assert!(
        patched_count > 100,
        "most random egress policies cut Ignite off and get patched"
    );
}

// ---- The tiers: ClusterNetworkPolicy (and AdminNetworkPolicy) around NetworkPolicy. ----

const NODE_IPS: [&str; 2] = ["10.1.0.1", "10.1.0.2"];

fn tier_protocol(rng: &mut Rng, named_ok: bool) -> Value {
    let proto = ["tcp", "udp", "sctp"][rng.below(3)];
    match rng.below(if named_ok { 3 } else { 2 }) {
        0 => json!({ proto: {"destinationPort": {"number": rng.pick(&PORTS)}} }),
        1 => {
            let start = *rng.pick(&PORTS);
            json!({ proto: {"destinationPort": {"range": {"start": start, "end": start + [1, 10, 400][rng.below(3)]}}} })
        }
        _ => json!({"destinationNamedPort": rng.pick(&NAMES)}),
    }
}

fn tier_peer(rng: &mut Rng, egress: bool) -> Value {
    match rng.below(if egress { 4 } else { 2 }) {
        0 => json!({"namespaces": selector(rng)}),
        1 => json!({"pods": {"namespaceSelector": selector(rng), "podSelector": selector(rng)}}),
        2 => {
            let cidr = [
                "10.0.0.0/16",
                "10.0.1.0/24",
                "10.1.0.0/31",
                "fd00::/64",
                "0.0.0.0/0",
            ][rng.below(5)];
            json!({ "networks": [cidr] })
        }
        _ => json!({"nodes": selector(rng)}),
    }
}

fn tier_rules(rng: &mut Rng, egress: bool) -> Value {
    Value::Array(
        (0..rng.below(5))
            .map(|_| {
                let peers: Vec<Value> = (0..1 + rng.below(2))
                    .map(|_| tier_peer(rng, egress))
                    .collect();
                let addressed = peers
                    .iter()
                    .any(|p| p.get("networks").is_some() || p.get("nodes").is_some());
                let action = ["Accept", "Deny", "Pass"][rng.below(3)];
                let mut r = json!({
                    "action": action,
                    (if egress { "to" } else { "from" }): peers,
                });
                if rng.chance(40) {
                    r["protocols"] = Value::Array(
                        (0..1 + rng.below(2))
                            .map(|_| tier_protocol(rng, !addressed))
                            .collect(),
                    );
                }
                r
            })
            .collect(),
    )
}

/// Cluster policies with distinct priorities (the API leaves the order of equal priorities to
/// the implementation), in ClusterNetworkPolicy form.
fn cluster_policies(rng: &mut Rng) -> Vec<Value> {
    (0..1 + rng.below(3))
        .map(|i| {
            let subject = if rng.chance(50) {
                json!({"namespaces": selector(rng)})
            } else {
                json!({"pods": {"namespaceSelector": selector(rng), "podSelector": selector(rng)}})
            };
            json!({"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
                   "metadata": {"name": format!("cnp{i}")},
                   "spec": {"tier": if rng.chance(50) { "Admin" } else { "Baseline" },
                            "priority": rng.below(5) * 100 + i,
                            "subject": subject,
                            "ingress": tier_rules(rng, false), "egress": tier_rules(rng, true)}})
        })
        .collect()
}

/// The same Admin-tier policy as a v1alpha1 AdminNetworkPolicy: `Allow` for `Accept`, `ports`
/// for `protocols`.
fn as_admin_network_policy(cnp: &Value) -> Value {
    let mut spec = cnp["spec"].clone();
    if let Some(m) = spec.as_object_mut() {
        m.remove("tier");
    }
    for dir in ["ingress", "egress"] {
        for rule in spec[dir].as_array_mut().into_iter().flatten() {
            if rule["action"] == "Accept" {
                rule["action"] = json!("Allow");
            }
            if let Some(protocols) = rule.as_object_mut().and_then(|r| r.remove("protocols")) {
                let ports: Vec<Value> = protocols
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        if let Some(name) = p.get("destinationNamedPort") {
                            return json!({"namedPort": name});
                        }
                        let (proto, body) = p.as_object().and_then(|m| m.iter().next()).expect("one protocol");
                        let proto = proto.to_uppercase();
                        let dst = &body["destinationPort"];
                        match dst.get("number") {
                            Some(n) => json!({"portNumber": {"protocol": proto, "port": n}}),
                            None => json!({"portRange": {"protocol": proto, "start": dst["range"]["start"], "end": dst["range"]["end"]}}),
                        }
                    })
                    .collect();
                rule["ports"] = Value::Array(ports);
            }
        }
    }
    json!({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
           "metadata": cnp["metadata"].clone(), "spec": spec})
}

fn pod_ip(pod: &Value) -> IpAddr {
    pod["status"]["podIP"]
        .as_str()
        .expect("ip")
        .parse()
        .expect("ip")
}

/// "Exactly one of the fields must be set": the peer's one field, read literally.
fn ref_tier_peer(world: &World, nodes: &[Value], peer: &Value, end: End) -> bool {
    let ip = match end {
        End::Ip(ip) => ip,
        End::Pod(i) => pod_ip(&world.pods[i]),
    };
    if let Some(nets) = peer["networks"].as_array() {
        return nets.iter().any(|n| in_cidr(n.as_str().expect("cidr"), ip));
    }
    if let Some(sel) = peer.get("nodes") {
        return nodes.iter().any(|n| {
            ref_selects(sel, &labels_of(&n["metadata"]["labels"]))
                && n["status"]["addresses"][0]["address"] == ip.to_string().as_str()
        });
    }
    // "Note that host-networked pods are not included in this type of peer."
    let End::Pod(i) = end else { return false };
    let pod = &world.pods[i];
    if pod["spec"]["hostNetwork"] == true {
        return false;
    }
    let ns_labels = world.ns_labels(pod["metadata"]["namespace"].as_str().expect("ns"));
    if let Some(sel) = peer.get("namespaces") {
        return ref_selects(sel, &ns_labels);
    }
    let pods = &peer["pods"];
    ref_selects(&pods["namespaceSelector"], &ns_labels)
        && ref_selects(&pods["podSelector"], &labels_of(&pod["metadata"]["labels"]))
}

fn ref_tier_protocol(world: &World, p: &Value, dst: End, port: u16, proto: &str) -> bool {
    if let Some(name) = p.get("destinationNamedPort") {
        let End::Pod(i) = dst else { return false };
        return world.pods[i]["spec"]["containers"][0]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|cp| {
                cp["name"] == *name
                    && cp["protocol"] == proto
                    && cp["containerPort"].as_u64() == Some(u64::from(port))
            });
    }
    let Some(body) = p.get(proto.to_lowercase()) else {
        return false;
    };
    let dst_port = &body["destinationPort"];
    let port = u64::from(port);
    match dst_port.get("number") {
        Some(n) => n.as_u64() == Some(port),
        None => {
            let r = &dst_port["range"];
            (r["start"].as_u64().expect("start")..=r["end"].as_u64().expect("end")).contains(&port)
        }
    }
}

/// One tier for one side: `Some(true)` accepted, `Some(false)` denied, `None` passed or unmatched.
/// "Policies with lower priority values have higher precedence"; "a rule that appears at the top
/// ... would take the highest precedence"; "Pass: Skips all further ClusterNetworkPolicy rules in
/// the current tier".
/// The cluster-wide objects the tiers read.
struct Tiers<'a> {
    nodes: &'a [Value],
    cnps: &'a [Value],
}

fn ref_tier(
    world: &World,
    tiers: &Tiers,
    tier: &str,
    subject: usize,
    ingress: bool,
    other: End,
    q: &Query,
) -> Option<bool> {
    let pod = &world.pods[subject];
    if pod["spec"]["hostNetwork"] == true {
        return None;
    }
    let ns_labels = world.ns_labels(pod["metadata"]["namespace"].as_str().expect("ns"));
    let mut selecting: Vec<&Value> = tiers
        .cnps
        .iter()
        .filter(|p| p["spec"]["tier"] == tier)
        .filter(|p| {
            let s = &p["spec"]["subject"];
            match s.get("namespaces") {
                Some(sel) => ref_selects(sel, &ns_labels),
                None => {
                    ref_selects(&s["pods"]["namespaceSelector"], &ns_labels)
                        && ref_selects(
                            &s["pods"]["podSelector"],
                            &labels_of(&pod["metadata"]["labels"]),
                        )
                }
            }
        })
        .collect();
    selecting.sort_by_key(|p| p["spec"]["priority"].as_u64());
    let (key, peer_key) = if ingress {
        ("ingress", "from")
    } else {
        ("egress", "to")
    };
    for p in selecting {
        for rule in p["spec"][key].as_array().into_iter().flatten() {
            let ports_ok = rule["protocols"].as_array().is_none_or(|ps| {
                ps.iter()
                    .any(|pt| ref_tier_protocol(world, pt, q.to, q.port, q.proto))
            });
            let peer_ok = rule[peer_key]
                .as_array()
                .into_iter()
                .flatten()
                .any(|pe| ref_tier_peer(world, tiers.nodes, pe, other));
            if ports_ok && peer_ok {
                return match rule["action"].as_str() {
                    Some("Accept") => Some(true),
                    Some("Deny") => Some(false),
                    _ => None,
                };
            }
        }
    }
    None
}

/// "Admin tier, NetworkPolicy tier, Baseline tier ... If a given connection wasn't allowed or
/// denied by any of the tiers, the default kubernetes policy is applied".
fn ref_tiered_side(
    world: &World,
    tiers: &Tiers,
    policies: &[Value],
    subject: usize,
    ingress: bool,
    other: End,
    q: &Query,
) -> bool {
    if let Some(decided) = ref_tier(world, tiers, "Admin", subject, ingress, other, q) {
        return decided;
    }
    let pod = &world.pods[subject];
    let ns = pod["metadata"]["namespace"].as_str().expect("ns");
    let (ty, key) = if ingress {
        ("Ingress", "ingress")
    } else {
        ("Egress", "egress")
    };
    let isolated = pod["spec"]["hostNetwork"] != true
        && policies.iter().any(|p| {
            p["metadata"]["namespace"] == ns
                && ref_selects(
                    &p["spec"]["podSelector"],
                    &labels_of(&pod["metadata"]["labels"]),
                )
                && match p["spec"]["policyTypes"].as_array() {
                    Some(types) if !types.is_empty() => types.iter().any(|t| t == ty),
                    _ => ingress || p["spec"][key].as_array().is_some_and(|e| !e.is_empty()),
                }
        });
    if isolated {
        return ref_side(world, policies, subject, ingress, other, q);
    }
    ref_tier(world, tiers, "Baseline", subject, ingress, other, q).unwrap_or(true)
}

#[test]
fn the_engine_agrees_with_the_naive_reference_through_the_tiers() {
    let (mut compared, mut decided_by_tier, mut passed, mut as_anp) = (0, 0, 0, 0);
    for seed in 0..300u64 {
        let (namespaces, mut pods, policies) = scenario(seed);
        let mut rng = Rng(seed ^ 0x5eed_7153);
        let nodes: Vec<Value> = NODE_IPS
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                json!({"apiVersion": "v1", "kind": "Node",
                       "metadata": {"name": format!("n{i}"), "labels": labels(&mut rng)},
                       "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": format!("n{i}")}]}})
            })
            .collect();
        pods.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "host", "namespace": "x", "labels": labels(&mut rng)},
            "spec": {"hostNetwork": true, "containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 80, "protocol": "TCP"}]}]},
            "status": {"podIP": NODE_IPS[0]}}));
        let cnps = cluster_policies(&mut rng);
        let tiers = Tiers {
            nodes: &nodes,
            cnps: &cnps,
        };
        let objects: Vec<Value> = cnps
            .iter()
            .map(|p| {
                if p["spec"]["tier"] == "Admin" && rng.chance(40) {
                    as_anp += 1;
                    as_admin_network_policy(p)
                } else {
                    p.clone()
                }
            })
            .collect();
        let items: Vec<Value> = namespaces
            .iter()
            .chain(&pods)
            .chain(&policies)
            .chain(&nodes)
            .chain(&objects)
            .cloned()
            .collect();
        let mut snapshot = ClusterSnapshot::default();
        snapshot
            .add_value(
                json!({"apiVersion": "v1", "kind": "List", "items": items}),
                &Location {
                    origin: format!("seed {seed}"),
                    document: 1,
                    item: None,
                },
            )
            .unwrap_or_else(|e| {
                panic!(
                    "seed {seed}: generated objects must be valid: {e}\n{}",
                    serde_json::to_string_pretty(&objects).unwrap_or_default()
                )
            });
        let cluster = snapshot.cluster().expect("model");
        let view = View::new(&cluster);
        let world = World {
            namespaces: &namespaces,
            pods: &pods,
        };
        let engine_end = |e: End| match e {
            End::Pod(i) => Endpoint::Pod(
                cluster
                    .pod(
                        pods[i]["metadata"]["namespace"].as_str().expect("ns"),
                        pods[i]["metadata"]["name"].as_str().expect("name"),
                    )
                    .expect("pod"),
            ),
            End::Ip(ip) => Endpoint::Ip(ip),
        };
        let mut ends: Vec<End> = (0..pods.len()).map(End::Pod).collect();
        ends.extend(
            ["10.0.1.7", "fd00::5", "8.8.8.8", NODE_IPS[1]]
                .iter()
                .map(|s| End::Ip(s.parse().expect("ip"))),
        );
        for &from in &ends {
            for &to in &ends {
                if matches!((from, to), (End::Ip(_), End::Ip(_))) {
                    continue;
                }
                for port in PORTS {
                    for proto in PROTOCOLS {
                        let q = Query { to, port, proto };
                        let egress = match from {
                            End::Ip(_) => true,
                            End::Pod(i) => {
                                ref_tiered_side(&world, &tiers, &policies, i, false, to, &q)
                            }
                        };
                        let ingress = match to {
                            End::Ip(_) => true,
                            End::Pod(i) => {
                                ref_tiered_side(&world, &tiers, &policies, i, true, from, &q)
                            }
                        };
                        let verdict = view.evaluate(&Connection {
                            from: engine_end(from),
                            to: engine_end(to),
                            port,
                            protocol: proto.parse().expect("protocol"),
                        });
                        assert_eq!(
                            verdict.allowed,
                            egress && ingress,
                            "seed {seed}: {port}/{proto}\nverdict: {}\npods: {}\nnodes: {}\npolicies: {}\ncluster policies: {}",
                            serde_json::to_string(&verdict).unwrap_or_default(),
                            serde_json::to_string(&pods).unwrap_or_default(),
                            serde_json::to_string(&nodes).unwrap_or_default(),
                            serde_json::to_string_pretty(&policies).unwrap_or_default(),
                            serde_json::to_string_pretty(&objects).unwrap_or_default()
                        );
                        decided_by_tier += usize::from(
                            verdict.egress.decided_by_tier() || verdict.ingress.decided_by_tier(),
                        );
                        passed += usize::from(
                            !verdict.egress.passed_by.is_empty()
                                || !verdict.ingress.passed_by.is_empty(),
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    println!(
        "property (tiers): {compared} connections agreed, {decided_by_tier} decided by a cluster-wide rule, \
         {passed} passed on by a Pass, {as_anp} policies given as AdminNetworkPolicy"
    );
    assert!(compared > 100_000);
    assert!(
        decided_by_tier > compared / 20,
        "the tiers must decide a real share: {decided_by_tier} of {compared}"
    );
    assert!(
        passed > compared / 50,
        "Pass must be exercised: {passed} of {compared}"
    );
    assert!(as_anp > 50);
}

/// Least privilege probes only what the egress rules can reach, and judges each probe from the
/// rules of the policies that isolate the Ignite pod (found once per pod class); the findings
/// must be those of probing every pod, namespace and address of the cluster through
/// `View::evaluate`, as every query is judged. The cluster has what the required flows go to
/// — CoreDNS behind kube-dns, the API server's Service and endpoint on a node — and the pods
/// labelled `app: a` are the Ignite pods, so the flows Ignite needs are told from the excess.
#[test]
fn pruned_excess_probing_finds_what_exhaustive_probing_finds() {
    use ignite_netpol::ignite::{Config, Environment, excess};
    let cfg = Config::from_yaml("ignitePods: [{matchLabels: {app: a}}]\n", "test").expect("config");
    let infra = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system",
               "labels": {"kubernetes.io/metadata.name": "kube-system", "tier": "a"}}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default",
               "labels": {"kubernetes.io/metadata.name": "default"}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system"},
               "spec": {"clusterIP": "10.96.0.10", "selector": {"k8s-app": "kube-dns"},
                        "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                                  {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"},
               "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
               "addressType": "IPv4", "endpoints": [{"addresses": ["192.168.7.5"], "conditions": {"ready": true}}],
               "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}),
    ];
    // Two CoreDNS pods, one inside the scenarios' address range, and a pod that looks like
    // them but is not behind the Service.
    let dns_pods = [("coredns-1", "10.0.1.53", "kube-dns"), ("coredns-2", "10.1.0.53", "kube-dns"), ("metrics", "10.1.0.54", "metrics")]
        .map(|(name, ip, app)| {
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": app}},
                   "spec": {"containers": [{"name": "c", "ports": [
                       {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                       {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                       {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}]}]},
                   "status": {"podIP": ip}})
        });
    let (mut with_findings, mut differing_dests, mut with_needs) = (0, 0, 0);
    for seed in 0..400u64 {
        let (namespaces, pods, policies) = scenario(seed);
        let nodes = [
            ("n1", "10.0.0.200"),
            ("n2", "10.0.1.250"),
            ("n3", "192.168.7.5"),
        ]
        .map(|(name, ip)| {
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                       "status": {"addresses": [{"type": "InternalIP", "address": ip}]}})
        });
        let items: Vec<Value> = namespaces
            .iter()
            .chain(&pods)
            .chain(&policies)
            .chain(&nodes)
            .chain(&infra)
            .chain(&dns_pods)
            .cloned()
            .collect();
        let mut snapshot = ClusterSnapshot::default();
        snapshot
            .add_value(
                json!({"apiVersion": "v1", "kind": "List", "items": items}),
                &Location {
                    origin: format!("seed {seed}"),
                    document: 1,
                    item: None,
                },
            )
            .unwrap_or_else(|e| panic!("seed {seed}: generated objects must be valid: {e}"));
        let env = Environment::build(&snapshot, &cfg).expect("model");
        assert!(env.gaps.is_empty(), "{:?}", env.gaps);
        let view = View::new(&env.cluster);
        for ns in ["x", "y"] {
            let ignite: Vec<_> = env.cluster.pods_in(ns).collect();
            let pruned = excess::egress(&view, &env, &cfg, ns, &ignite).expect("small");
            let all = excess::egress_exhaustive(&view, &env, &cfg, ns, &ignite).expect("small");
            assert_eq!(
                pruned, all,
                "seed {seed}, namespace {ns}\npolicies: {policies:#?}"
            );
            with_findings += usize::from(!all.is_empty());
            with_needs += usize::from(all.iter().any(|f| !f.needed_for.is_empty()));
            differing_dests += usize::from(
                all.iter()
                    .any(|f| f.opens.iter().any(|o| o.to.starts_with("every pod"))),
            );
        }
    }
    // The comparison means something only if the scenarios open things.
    assert!(
        with_findings > 200,
        "{with_findings} namespaces with findings"
    );
    assert!(
        differing_dests > 20,
        "{differing_dests} opening whole namespaces"
    );
    assert!(
        with_needs > 100,
        "{with_needs} namespaces with findings that carry a required flow"
    );
}
