//! The `ignite-netpol` binary end to end: the seed case's answers, and bad input that must end
//! with exit code 2 and a message naming what is wrong.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::Value;

fn seed(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/seed")
        .join(file)
}

fn eval(cluster: &[PathBuf], queries: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ignite-netpol"));
    cmd.arg("eval");
    for c in cluster {
        cmd.arg("--cluster").arg(c);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary must start");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(queries.as_bytes())
        .expect("queries must be written");
    child.wait_with_output().expect("the binary must finish")
}

fn answers(out: &Output) -> Vec<bool> {
    assert!(
        out.status.success(),
        "eval must succeed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("each answer must be JSON");
            v["allowed"]
                .as_bool()
                .expect("each answer must say allowed")
        })
        .collect()
}

const TO_DNS_UDP: &str = r#"{"from": {"namespace": "cache-ns", "pod": "ignite-0"}, "to": {"namespace": "kube-system", "pod": "coredns-5d78c9869d-abcde"}, "port": 53, "protocol": "UDP"}"#;
const TO_API_SERVER: &str = r#"{"from": {"namespace": "cache-ns", "pod": "ignite-0"}, "to": {"ip": "192.168.49.2"}, "port": 6443, "protocol": "TCP"}"#;

#[test]
fn seed_egress_attempt_allows_dns_but_not_the_api_server() {
    let out = eval(
        &[
            seed("cluster.yaml"),
            seed("deny-all-traffic.yaml"),
            seed("egress-attempt.yaml"),
        ],
        &format!("{TO_DNS_UDP}\n{TO_API_SERVER}\n"),
    );
    assert_eq!(answers(&out), vec![true, false]);
    let first: Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("an answer"),
    )
    .expect("JSON answer");
    assert_eq!(
        first["explanation"]["egress"]["allowed_by"]["policy"], "cache-ns/netpol-cache-ns-egress",
        "the rule 'ports 53 TCP+UDP, no to' allows DNS"
    );
    assert_eq!(first["explanation"]["egress"]["allowed_by"]["rule"], 1);
}

#[test]
fn seed_dns_in_the_policy_namespace_is_denied() {
    let out = eval(
        &[
            seed("cluster.yaml"),
            seed("deny-all-traffic.yaml"),
            seed("dns-same-namespace.yaml"),
        ],
        &format!("{TO_DNS_UDP}\n"),
    );
    assert_eq!(answers(&out), vec![false]);
}

#[test]
fn seed_queries_file_is_answered_in_order() {
    let out = Command::new(env!("CARGO_BIN_EXE_ignite-netpol"))
        .args(["eval", "--cluster"])
        .arg(seed("cluster.yaml"))
        .arg("--queries")
        .arg(seed("queries.jsonl"))
        .output()
        .expect("the binary must run");
    let got = answers(&out);
    assert_eq!(got.len(), 6, "one answer per query line");
    assert!(
        got.iter().all(|a| *a),
        "without policies everything is allowed: {got:?}"
    );
}

fn bad_file(contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, contents).expect("write fixture");
    (dir, path)
}

const POLICY_HEAD: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: cache-ns}\nspec:\n  podSelector: {}\n";

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let cases = [
        (
            "truncated YAML",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: x\n".to_string(),
            vec!["bad.yaml: document 1: invalid YAML: line"],
        ),
        (
            "named port with endPort",
            format!("{POLICY_HEAD}  egress: [{{ports: [{{port: abc, endPort: 90}}]}}]\n"),
            vec!["bad.yaml: document 1: NetworkPolicy cache-ns/bad", "spec.egress[0].ports[0].endPort", "named port \"abc\""],
        ),
        (
            "unknown operator",
            format!("---\n# second document\n---\n{POLICY_HEAD}  ingress: [{{from: [{{podSelector: {{matchExpressions: [{{key: app, operator: Equals, values: [a]}}]}}}}]}}]\n"),
            vec!["bad.yaml: document 2", "spec.ingress[0].from[0].podSelector.matchExpressions[0].operator", "unknown operator \"Equals\""],
        ),
        (
            "invalid CIDR",
            format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: a}}\n---\n{POLICY_HEAD}  egress: [{{to: [{{ipBlock: {{cidr: 10.0.0.0/40}}}}]}}]\n"),
            vec!["bad.yaml: document 2", "spec.egress[0].to[0].ipBlock.cidr", "invalid CIDR \"10.0.0.0/40\""],
        ),
        (
            "wrong type in a field",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {hostNetwork: maybe, containers: []}\n".to_string(),
            vec!["bad.yaml: document 1: Pod a/p: spec.hostNetwork"],
        ),
    ];
    for (name, contents, wants) in cases {
        let (_dir, path) = bad_file(&contents);
        let out = eval(&[seed("cluster.yaml"), path], "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name}: exit code; stderr: {stderr}"
        );
        for want in wants {
            assert!(
                stderr.contains(want),
                "{name}: stderr must contain {want:?}, got: {stderr}"
            );
        }
        assert!(
            !stderr.contains("panicked"),
            "{name}: must not panic: {stderr}"
        );
    }
}

#[test]
fn missing_file_and_bad_query_lines_exit_2() {
    let out = eval(&[PathBuf::from("/nonexistent/cluster.yaml")], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/cluster.yaml: cannot read")
    );

    let cases = [
        ("not JSON", "{nope", "line 2: invalid JSON"),
        (
            "unknown pod",
            r#"{"from": {"namespace": "cache-ns", "pod": "ghost"}, "to": {"ip": "1.1.1.1"}, "port": 1}"#,
            "line 2: from: pod cache-ns/ghost is not in the cluster",
        ),
        (
            "bad port",
            r#"{"from": {"ip": "1.1.1.1"}, "to": {"ip": "1.1.1.1"}, "port": 70000}"#,
            "line 2: port: 70000 is not a valid port",
        ),
        (
            "bad protocol",
            r#"{"from": {"ip": "1.1.1.1"}, "to": {"ip": "1.1.1.1"}, "port": 1, "protocol": "ICMP"}"#,
            "line 2: protocol: unsupported protocol \"ICMP\"",
        ),
        (
            "bad endpoint",
            r#"{"from": {"pod": "x"}, "to": {"ip": "1.1.1.1"}, "port": 1}"#,
            "line 2: from: expected",
        ),
    ];
    for (name, line, want) in cases {
        let out = eval(&[seed("cluster.yaml")], &format!("{TO_DNS_UDP}\n{line}\n"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(want),
            "{name}: stderr must contain {want:?}, got: {stderr}"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            1,
            "{name}: the good line before is answered"
        );
    }
}
