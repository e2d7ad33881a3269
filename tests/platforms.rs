//! The seed case and the hand-written correct policies on a snapshot of every platform in
//! `tests/fixtures/platforms/` (kubeadm, kind, EKS, GKE, AKS, OpenShift, k3s, RKE2, IPv6-only,
//! dual-stack), through the binary as a user runs it. The expected verdicts come from each
//! platform's facts (where DNS answers, on which port the API server listens), written in the
//! table below, not from the tool's output.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::{Value, json};

/// One platform and what is true of it.
struct Platform {
    name: &'static str,
    /// The platform needs a configuration (`config.yaml` beside the snapshot).
    config: bool,
    /// Without that configuration the tool still finds DNS, and says so in this warning.
    found_without_config: Option<&'static str>,
    /// The DNS pods and the port they answer DNS on (after DNAT).
    dns_pods: &'static [&'static str],
    dns_namespace: &'static str,
    dns_port: u16,
    /// Ports of the DNS pods that are not DNS (metrics, health): never to be opened.
    not_dns: &'static [u16],
    /// The API server's endpoints (after DNAT) and the ClusterIP on 443.
    api: &'static [(&'static str, u16)],
    /// The missing flow kinds of the seed's `egress-attempt.yaml` ("ports 53, no `to`").
    egress_attempt_missing: &'static [&'static str],
}

const PLATFORMS: &[Platform] = &[
    Platform {
        name: "kubeadm",
        config: false,
        found_without_config: None,
        dns_pods: &["coredns-668d6bf9bc-7x5kq", "coredns-668d6bf9bc-m2nqt"],
        dns_namespace: "kube-system",
        dns_port: 53,
        not_dns: &[9153],
        api: &[("192.168.122.10", 6443), ("10.96.0.1", 443)],
        egress_attempt_missing: &["apiserver"],
    },
    Platform {
        name: "kind",
        config: false,
        found_without_config: None,
        dns_pods: &["coredns-674b8bbfcf-2xqzv", "coredns-674b8bbfcf-h4wrj"],
        dns_namespace: "kube-system",
        dns_port: 53,
        not_dns: &[9153],
        api: &[("172.18.0.2", 6443), ("10.96.0.1", 443)],
        egress_attempt_missing: &["apiserver"],
    },
    Platform {
        name: "eks",
        config: false,
        found_without_config: None,
        dns_pods: &["coredns-787cb67946-4hzsb", "coredns-787cb67946-wq8dm"],
        dns_namespace: "kube-system",
        dns_port: 53,
        not_dns: &[9153],
        api: &[
            ("192.168.108.224", 443),
            ("192.168.161.89", 443),
            ("10.100.0.1", 443),
        ],
        egress_attempt_missing: &["apiserver"],
    },
    Platform {
        name: "gke",
        config: true,
        found_without_config: None,
        dns_pods: &["kube-dns-5f76555fc-8lqxk", "kube-dns-5f76555fc-zk9tn"],
        dns_namespace: "kube-system",
        dns_port: 53,
        not_dns: &[10053, 10054, 10055],
        api: &[("172.16.0.2", 443), ("34.118.224.1", 443)],
        egress_attempt_missing: &["apiserver"],
    },
    Platform {
        name: "aks",
        config: false,
        found_without_config: None,
        dns_pods: &["coredns-57d886c994-7bnl4", "coredns-57d886c994-tx2gj"],
        dns_namespace: "kube-system",
        dns_port: 53,
        not_dns: &[9153],
        api: &[("20.53.120.35", 443), ("10.0.0.1", 443)],
        egress_attempt_missing: &["apiserver"],
    },
    Platform {
        name: "openshift",
        config: true,
        found_without_config: Some(
            "DNS Service kube-system/kube-dns is not in the cluster view; using openshift-dns/dns-default",
        ),
        dns_pods: &[
            "dns-default-h5fzq",
            "dns-default-nx7t2",
            "dns-default-q2wll",
        ],
        dns_namespace: "openshift-dns",
        dns_port: 5353,
        not_dns: &[9154],
        api: &[
            ("10.0.0.11", 6443),
            ("10.0.0.12", 6443),
            ("10.0.0.13", 6443),
            ("172.30.0.1", 443),
        ],
        // Port 53 is not where OpenShift's DNS pods answer: after DNAT it is 5353.
        egress_attempt_missing: &["dns", "apiserver"],
    },
    Platform {
        name: "k3s",
        config: false,
        found_without_config: None,
        dns_pods: &["coredns-5688667fd4-k9nwr"],
        dns_namespace: "kube-system",
        dns_port: 53,
        not_dns: &[9153],
        api: &[("10.0.2.15", 6443), ("10.43.0.1", 443)],
        egress_attempt_missing: &["apiserver"],
    },
    Platform {
        name: "rke2",
        config: true,
        found_without_config: Some(
            "DNS Service kube-system/kube-dns is not in the cluster view; using kube-system/rke2-coredns-rke2-coredns",
        ),
        dns_pods: &[
            "rke2-coredns-rke2-coredns-6b9c9b8d5b-5wz7g",
            "rke2-coredns-rke2-coredns-6b9c9b8d5b-tl2hs",
        ],
        dns_namespace: "kube-system",
        dns_port: 53,
        not_dns: &[9153],
        api: &[("10.0.0.5", 6443), ("10.43.0.1", 443)],
        egress_attempt_missing: &["apiserver"],
    },
    Platform {
        name: "ipv6",
        config: false,
        found_without_config: None,
        dns_pods: &["coredns-674b8bbfcf-6gkx2", "coredns-674b8bbfcf-vq7ls"],
        dns_namespace: "kube-system",
        dns_port: 53,
        not_dns: &[9153],
        api: &[("fc00:f853:ccd:e793::2", 6443), ("fd00:10:96::1", 443)],
        egress_attempt_missing: &["apiserver"],
    },
    Platform {
        name: "dual-stack",
        config: false,
        found_without_config: None,
        dns_pods: &["coredns-674b8bbfcf-8d2lp", "coredns-674b8bbfcf-w5n9c"],
        dns_namespace: "kube-system",
        dns_port: 53,
        not_dns: &[9153],
        api: &[("172.18.0.2", 6443), ("10.96.0.1", 443)],
        egress_attempt_missing: &["apiserver"],
    },
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn seed(file: &str) -> PathBuf {
    root().join("examples/seed").join(file)
}

fn platform_file(p: &Platform, file: &str) -> PathBuf {
    root()
        .join("tests/fixtures/platforms")
        .join(p.name)
        .join(file)
}

fn run(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ignite-netpol"))
        .args(args)
        .output()
        .expect("the binary must run")
}

/// `--cluster` (and `--config` where the platform has one) for `p`.
fn inputs(p: &Platform, with_config: bool) -> Vec<String> {
    let mut args = vec![
        "--cluster".to_string(),
        platform_file(p, "cluster.yaml").display().to_string(),
    ];
    if with_config && p.config {
        args.push("--config".into());
        args.push(platform_file(p, "config.yaml").display().to_string());
    }
    args
}

/// `check -o json` of `files` in order; the JSON results.
fn check(p: &Platform, with_config: bool, extra: &[&str], files: &[PathBuf]) -> Vec<Value> {
    let mut args = vec!["check".to_string(), "-o".into(), "json".into()];
    args.extend(inputs(p, with_config));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(files.iter().map(|f| f.display().to_string()));
    let out = run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{}: check must print JSON ({e}): {stdout} / {}",
            p.name,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["results"].as_array().cloned().unwrap_or_default()
}

fn kinds(result: &Value) -> Vec<String> {
    let mut k: Vec<String> = result["missing"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["flow"].as_str().map(str::to_string))
        .collect();
    k.sort();
    k.dedup();
    k
}

fn sorted(k: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = k.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// No missing flow is to a port that is not DNS, the API server's or a peer's.
fn assert_no_foreign_port(p: &Platform, results: &[Value]) {
    for r in results {
        for m in r["missing"].as_array().into_iter().flatten() {
            let port = m["port"].as_u64().and_then(|n| u16::try_from(n).ok());
            assert!(
                !p.not_dns.iter().any(|n| Some(*n) == port),
                "{}: a missing flow names a port that is not DNS: {m}",
                p.name
            );
            if m["flow"] == "dns" {
                assert_eq!(port, Some(p.dns_port), "{}: DNS checked on {m}", p.name);
            }
        }
    }
}

#[test]
fn the_seed_case_gets_the_same_verdicts_on_every_platform() {
    for p in PLATFORMS {
        let results = check(
            p,
            true,
            &[],
            &[
                seed("ingress-only.yaml"),
                seed("deny-all-traffic.yaml"),
                seed("egress-attempt.yaml"),
                seed("dns-same-namespace.yaml"),
            ],
        );
        let got: Vec<(String, String, Vec<String>)> = results
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    r["verdict"].as_str().unwrap_or_default().to_string(),
                    kinds(r),
                )
            })
            .collect();
        let want = vec![
            (
                "deny-all-ingress-in-cache-ns".to_string(),
                "allowed".to_string(),
                vec![],
            ),
            ("netpol-cache-ns".into(), "allowed".into(), vec![]),
            (
                "deny-all-traffic-in-cache-ns".into(),
                "denied".into(),
                sorted(&["dns", "apiserver"]),
            ),
            (
                "netpol-cache-ns-egress".into(),
                "denied".into(),
                sorted(p.egress_attempt_missing),
            ),
            (
                "allow-dns".into(),
                "denied".into(),
                sorted(&["dns", "apiserver"]),
            ),
        ];
        assert_eq!(got, want, "{}", p.name);
        assert_no_foreign_port(p, &results);
        for r in &results {
            assert!(
                r.get("unverified").is_none(),
                "{}: the platform's view is complete: {r}",
                p.name
            );
        }
    }
}

#[test]
fn the_hand_written_correct_policy_is_admitted_on_every_platform() {
    for p in PLATFORMS {
        let results = check(
            p,
            true,
            &[],
            &[
                platform_file(p, "allow-ignite.yaml"),
                seed("deny-all-traffic.yaml"),
            ],
        );
        assert_eq!(results.len(), 2, "{}", p.name);
        for r in &results {
            assert_eq!(r["verdict"], "allowed", "{}: {r}", p.name);
            assert_eq!(r["missing"], json!([]), "{}: {r}", p.name);
            assert_eq!(r["warnings"], json!([]), "{}: {r}", p.name);
        }
    }
}

#[test]
fn platforms_found_without_configuration_say_so_once() {
    for p in PLATFORMS
        .iter()
        .filter(|p| p.found_without_config.is_some())
    {
        let results = check(
            p,
            false,
            &[],
            &[
                platform_file(p, "allow-ignite.yaml"),
                seed("deny-all-traffic.yaml"),
            ],
        );
        let note = p.found_without_config.unwrap_or_default();
        for r in &results {
            assert_eq!(r["verdict"], "allowed", "{}: {r}", p.name);
            let notes = r["warnings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|w| w.as_str().is_some_and(|w| w.starts_with(note)))
                .count();
            assert_eq!(
                notes, 1,
                "{}: one warning saying which Service: {r}",
                p.name
            );
        }
    }
}

/// The queries every egress rule written by the tool must answer: DNS on its port allowed, the
/// DNS pods' other ports denied, the API server allowed, the internet denied.
fn queries(p: &Platform) -> (String, Vec<bool>) {
    let from = json!({"namespace": "cache-ns", "pod": "ignite-0"});
    let mut lines = Vec::new();
    let mut want = Vec::new();
    for pod in p.dns_pods {
        let to = json!({"namespace": p.dns_namespace, "pod": pod});
        for proto in ["UDP", "TCP"] {
            lines.push(json!({"from": from, "to": to, "port": p.dns_port, "protocol": proto}));
            want.push(true);
        }
        for port in p.not_dns {
            lines.push(json!({"from": from, "to": to, "port": port, "protocol": "TCP"}));
            want.push(false);
        }
    }
    for (ip, port) in p.api {
        lines.push(json!({"from": from, "to": {"ip": ip}, "port": port, "protocol": "TCP"}));
        want.push(true);
    }
    lines.push(json!({"from": from, "to": {"ip": "8.8.8.8"}, "port": 53, "protocol": "UDP"}));
    want.push(false);
    lines.push(json!({"from": from, "to": {"ip": "8.8.8.8"}, "port": 443, "protocol": "TCP"}));
    want.push(false);
    let text = lines
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    (text, want)
}

/// `eval` on the platform plus `policies`, compared with [`queries`].
fn assert_connectivity(p: &Platform, policies: &[PathBuf], how: &str) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (text, want) = queries(p);
    let queries_file = dir.path().join("queries.jsonl");
    std::fs::write(&queries_file, text).expect("queries must be written");
    let mut args = vec!["eval".to_string()];
    args.extend(inputs(p, false).into_iter().take(2));
    for f in policies {
        args.push("--cluster".into());
        args.push(f.display().to_string());
    }
    args.push("--queries".into());
    args.push(queries_file.display().to_string());
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}: eval: {}",
        p.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("eval prints JSON lines"))
        .collect();
    assert_eq!(answers.len(), want.len(), "{}", p.name);
    for (a, w) in answers.iter().zip(&want) {
        assert_eq!(
            a["allowed"],
            json!(w),
            "{} ({how}): {} -> {} {}/{}",
            p.name,
            a["from"],
            a["to"],
            a["port"],
            a["protocol"]
        );
    }
}

#[test]
fn patch_mode_opens_dns_and_the_api_server_and_nothing_else() {
    for p in PLATFORMS {
        let results = check(
            p,
            true,
            &["--mode", "patch"],
            &[seed("deny-all-traffic.yaml")],
        );
        assert_eq!(results.len(), 1, "{}", p.name);
        assert_eq!(
            results[0]["verdict"], "patched",
            "{}: {}",
            p.name, results[0]
        );
        let patch: json_patch::Patch = serde_json::from_value(results[0]["patch"].clone())
            .expect("the patch is RFC 6902 JSON");
        let text =
            std::fs::read_to_string(seed("deny-all-traffic.yaml")).expect("seed file readable");
        let mut policy: Value = serde_saphyr::from_str(&text).expect("the seed policy is YAML");
        json_patch::patch(&mut policy, &patch).expect("the patch applies");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let patched = dir.path().join("patched.json");
        std::fs::write(&patched, policy.to_string()).expect("patched policy written");
        assert_connectivity(p, &[patched], "patched deny-all");
    }
}

#[test]
fn generate_opens_dns_and_the_api_server_and_nothing_else() {
    for p in PLATFORMS {
        let mut args = vec!["generate".to_string(), "-n".into(), "cache-ns".into()];
        args.extend(inputs(p, true));
        let out = run(&args);
        assert!(
            out.status.success(),
            "{}: generate: {}",
            p.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let generated = dir.path().join("generated.yaml");
        std::fs::write(&generated, &out.stdout).expect("generated policy written");
        // Least privilege: next to deny-all, the generated policy opens nothing Ignite does not
        // need, on every platform.
        let mut args = vec!["scan".to_string(), "--fail-on".into(), "excess".into()];
        args.extend(inputs(p, true));
        for f in [seed("deny-all-traffic.yaml"), generated.clone()] {
            args.push("--cluster".into());
            args.push(f.display().to_string());
        }
        let out = run(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}: scan: {text}", p.name);
        assert!(
            text.contains("0 cut off, 0 with excess egress"),
            "{}: {text}",
            p.name
        );
        assert_connectivity(
            p,
            &[seed("deny-all-traffic.yaml"), generated],
            "generated next to deny-all",
        );
    }
}
