//! `check`, `review`, `generate` and `config print` end to end, on the seed case.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use base64::Engine;
use serde_json::{Value, json};

fn seed(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/seed")
        .join(file)
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ignite-netpol"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary must start");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin must be written");
    child.wait_with_output().expect("the binary must finish")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn check(extra: &[&str], files: &[PathBuf]) -> (Option<i32>, Value) {
    let cluster = seed("cluster.yaml");
    let mut args = vec!["check", "--cluster", s(&cluster), "-o", "json"];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(|f| s(f)));
    let out = run(&args, "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "check must print JSON ({e}): {stdout} / {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), value)
}

#[test]
fn check_exit_codes_and_json_shape() {
    let (code, v) = check(&[], &[seed("ingress-only.yaml")]);
    assert_eq!(code, Some(0), "admitted unchanged: {v}");
    assert_eq!(v["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["results"][0]["verdict"], "allowed");

    let (code, v) = check(
        &[],
        &[seed("deny-all-traffic.yaml"), seed("egress-attempt.yaml")],
    );
    assert_eq!(code, Some(1), "denied: {v}");
    let r = &v["results"][1];
    for key in [
        "namespace",
        "name",
        "operation",
        "verdict",
        "missing",
        "hints",
        "warnings",
        "patch",
    ] {
        assert!(r.get(key).is_some(), "result must have {key:?}: {r}");
    }
    assert_eq!(r["verdict"], "denied");
    let m = &r["missing"][0];
    for key in ["flow", "target", "port", "protocol", "reason"] {
        assert!(m.get(key).is_some(), "missing flow must have {key:?}: {m}");
    }
    assert_eq!(m["flow"], "apiserver");

    let (code, v) = check(&["--mode", "patch"], &[seed("deny-all-traffic.yaml")]);
    assert_eq!(code, Some(1), "patched: {v}");
    assert_eq!(v["results"][0]["verdict"], "patched");
    assert!(
        v["results"][0]["patch"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );

    let bad = run(
        &[
            "check",
            "--cluster",
            s(&seed("cluster.yaml")),
            "/nonexistent.yaml",
        ],
        "",
    );
    assert_eq!(bad.status.code(), Some(2));
    let bad = run(
        &[
            "check",
            "--cluster",
            s(&seed("cluster.yaml")),
            "--mode",
            "sometimes",
            s(&seed("ingress-only.yaml")),
        ],
        "",
    );
    assert_eq!(bad.status.code(), Some(2), "an unknown mode is bad input");
}

#[test]
fn check_text_output_explains_denials() {
    let out = run(
        &[
            "check",
            "--cluster",
            s(&seed("cluster.yaml")),
            s(&seed("dns-same-namespace.yaml")),
        ],
        "",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("cache-ns/allow-dns (CREATE, mode enforce): denied, missing dns, apiserver"),
        "{text}"
    );
    assert!(text.contains("hint: cache-ns/allow-dns egress[0].to[0]: podSelector k8s-app=kube-dns without namespaceSelector"), "{text}");
    assert!(
        text.contains("Add to spec.egress of cache-ns/allow-dns:"),
        "{text}"
    );
}

fn admission_review(operation: &str, object: Value, old: Value) -> String {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "NetworkPolicy"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "networkpolicies"},
            "name": "deny-all-traffic-in-cache-ns",
            "namespace": "cache-ns",
            "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": false
        }
    })
    .to_string()
}

fn deny_all() -> Value {
    let text = std::fs::read_to_string(seed("deny-all-traffic.yaml")).expect("seed file");
    serde_saphyr::from_str(&text).expect("seed YAML")
}

fn review(mode: Option<&str>, body: &str) -> Value {
    let cluster = seed("cluster.yaml");
    let mut args = vec!["review", "--cluster", s(&cluster)];
    if let Some(m) = mode {
        args.extend(["--mode", m]);
    }
    let out = run(&args, body);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("review must print JSON")
}

#[test]
fn review_denies_with_code_message_and_audit_annotations() {
    let v = review(None, &admission_review("CREATE", deny_all(), Value::Null));
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    let r = &v["response"];
    assert_eq!(r["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    let msg = r["status"]["message"].as_str().expect("message");
    assert!(msg.starts_with("ignite-netpol: applying NetworkPolicy cache-ns/deny-all-traffic-in-cache-ns would cut Ignite off"), "{msg}");
    assert!(
        msg.contains("- dns: cache-ns/ignite-0 -> kube-system/coredns-5d78c9869d-abcde 53/UDP"),
        "{msg}"
    );
    assert!(
        msg.contains("cidr: 192.168.49.2/32"),
        "the rule to add: {msg}"
    );
    assert_eq!(r["auditAnnotations"]["verdict"], "denied");
    assert_eq!(r["auditAnnotations"]["missing"], "dns, apiserver");
    assert!(r.get("patch").is_none());
}

#[test]
fn review_patch_decodes_applies_and_then_passes() {
    let v = review(
        Some("patch"),
        &admission_review("CREATE", deny_all(), Value::Null),
    );
    let r = &v["response"];
    assert_eq!(r["allowed"], true);
    assert_eq!(r["patchType"], "JSONPatch");
    assert!(r["warnings"].as_array().is_some_and(|w| {
        w.iter()
            .all(|w| w.as_str().is_some_and(|w| w.chars().count() <= 120))
    }));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().expect("base64 patch"))
        .expect("patch must be base64");
    let patch: json_patch::Patch =
        serde_json::from_slice(&raw).expect("patch must be a JSON Patch");
    let mut object = deny_all();
    json_patch::patch(&mut object, &patch).expect("patch must apply to the request object");

    let again = review(
        None,
        &admission_review("UPDATE", object.clone(), deny_all()),
    );
    assert_eq!(
        again["response"]["allowed"], true,
        "the patched policy is admitted: {again}"
    );
    assert!(again["response"].get("patch").is_none());
    assert_eq!(again["response"]["auditAnnotations"]["verdict"], "allowed");
}

#[test]
fn review_answers_bad_input_without_crashing() {
    let cases = [
        ("not JSON", "{".to_string(), None, "not JSON"),
        ("wrong kind", json!({"apiVersion": "v1", "kind": "Pod"}).to_string(), None, "expected kind AdmissionReview"),
        (
            "no uid",
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"operation": "CREATE"}}).to_string(),
            None,
            "no uid",
        ),
        (
            "invalid policy",
            admission_review("CREATE", json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x", "namespace": "cache-ns"}, "spec": {"podSelector": {}, "egress": [{"ports": [{"port": "abc", "endPort": 9}]}]}}), Value::Null),
            Some("705ab4f5-6393-11e8-b7cc-42010a800002"),
            "spec.egress[0].ports[0].endPort",
        ),
        (
            "wrong resource",
            admission_review("CREATE", deny_all(), Value::Null).replace(r#""kind":"NetworkPolicy""#, r#""kind":"Pod""#).replace("networking.k8s.io", ""),
            Some("705ab4f5-6393-11e8-b7cc-42010a800002"),
            "ignite-netpol reviews networking.k8s.io/v1 NetworkPolicy, policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy",
        ),
    ];
    for (name, body, uid, want) in cases {
        let v = review(None, &body);
        let r = &v["response"];
        assert_eq!(r["allowed"], false, "{name}: {v}");
        assert_eq!(
            r["uid"].as_str().filter(|u| !u.is_empty()),
            uid,
            "{name}: {v}"
        );
        let msg = r["status"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{name}: want {want:?} in {msg:?}");
    }
}

#[test]
fn generate_then_check_with_deny_all_passes() {
    let cluster = seed("cluster.yaml");
    let out = run(
        &[
            "generate",
            "--cluster",
            s(&cluster),
            "--namespace",
            "cache-ns",
        ],
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        yaml.starts_with("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"),
        "{yaml}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let generated = dir.path().join("ignite-egress.yaml");
    std::fs::write(&generated, &yaml).expect("write");
    let (code, v) = check(&[], &[generated, seed("deny-all-traffic.yaml")]);
    assert_eq!(code, Some(0), "generated + deny-all is admitted: {v}");

    let eval = run(
        &[
            "eval",
            "--cluster",
            s(&cluster),
            "--cluster",
            s(&dir.path().join("ignite-egress.yaml")),
            "--cluster",
            s(&seed("deny-all-traffic.yaml")),
        ],
        r#"{"from": {"namespace": "cache-ns", "pod": "ignite-0"}, "to": {"ip": "8.8.8.8"}, "port": 443}
{"from": {"namespace": "cache-ns", "pod": "ignite-0"}, "to": {"ip": "192.168.49.2"}, "port": 6443}
"#,
    );
    let answers: Vec<bool> = String::from_utf8_lossy(&eval.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["allowed"]
                .as_bool()
                .expect("bool")
        })
        .collect();
    assert_eq!(
        answers,
        vec![false, true],
        "8.8.8.8:443 denied, the API server allowed"
    );

    let missing_ns = run(
        &["generate", "--cluster", s(&cluster), "--namespace", "nope"],
        "",
    );
    assert_eq!(missing_ns.status.code(), Some(2));
}

#[test]
fn config_print_shows_defaults_and_reads_files() {
    let out = run(&["config", "print"], "");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "modeLabel: ignite-netpol.io/mode",
        "defaultMode: enforce",
        "profile: ignite2-kubernetes",
        "name: kube-dns",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "profile: ignite3\n").expect("write");
    let out = run(&["config", "print", "--config", s(&cfg)], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("profile: ignite3"));
    std::fs::write(&cfg, "profile: [\n").expect("write");
    let out = run(&["config", "print", "--config", s(&cfg)], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("c.yaml: invalid YAML"));
}

#[test]
fn scan_reports_cut_off_namespaces_and_exits_1() {
    let cluster = seed("cluster.yaml");
    let deny_all = seed("deny-all-traffic.yaml");
    let both = format!("{},{}", s(&cluster), s(&deny_all));
    let out = run(&["scan", "--cluster", &both], "");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a cut-off namespace fails the scan"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cache-ns (mode enforce, 1 Ignite pods): CUT OFF: missing dns, apiserver"),
        "{text}"
    );
    assert!(text.contains("1 namespaces judged, 1 cut off"), "{text}");

    let out = run(&["scan", "--cluster", &both, "-o", "json"], "");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["namespaces"][0]["namespace"], "cache-ns");
    assert_eq!(
        v["namespaces"][0]["missing"][0]["blocked_by"][0],
        "cache-ns/deny-all-traffic-in-cache-ns"
    );

    let out = run(&["scan", "--cluster", s(&cluster)], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 namespaces judged, 0 cut off"));
}

#[test]
fn scan_fails_on_excess_only_when_asked() {
    let cluster = seed("cluster.yaml");
    let deny_all = seed("deny-all-traffic.yaml");
    // A recipe from "allow egress to the internet" answers: Ignite works, but 0.0.0.0/0 is open.
    let anywhere =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/excess/allow-all-egress.yaml");
    let wide = format!("{},{},{}", s(&cluster), s(&deny_all), s(&anywhere));
    let out = run(&["scan", "--cluster", &wide], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "works: the default fails on cuts only"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 cut off, 1 with excess egress"), "{text}");
    let out = run(&["scan", "--cluster", &wide, "--fail-on", "excess"], "");
    assert_eq!(
        out.status.code(),
        Some(1),
        "excess fails the scan when asked"
    );
    let out = run(&["scan", "--cluster", &wide, "-o", "json"], "");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["namespaces"][0]["excess"], 1, "{v}");

    // The policy `generate` writes, next to the deny-all: nothing to fail on.
    let out = run(
        &["generate", "--cluster", s(&cluster), "-n", "cache-ns"],
        "",
    );
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = dir.path().join("generated.yaml");
    std::fs::write(&generated, &out.stdout).expect("write");
    let minimal = format!("{},{},{}", s(&cluster), s(&deny_all), s(&generated));
    let out = run(&["scan", "--cluster", &minimal, "--fail-on", "excess"], "");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("0 cut off, 0 with excess egress"), "{text}");
}
