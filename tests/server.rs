//! The webhook over a real TLS socket, HTTP/1.1 and HTTP/2: seed verdicts, patches that apply,
//! every bad input's documented answer, certificate rotation under an open connection, metrics
//! and the audit log. No sleeps as synchronisation: waits are for observed conditions.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{Client, TestServer, review, seed_policies, seed_text};
use ignite_netpol::{
    ignite::{Compiled, Environment, Operation, PolicyRequest, Verdict, decide},
    snapshot::ClusterSnapshot,
};
use serde_json::{Value, json};

const MAX_BODY: usize = 64 * 1024;

fn response(body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).expect("an AdmissionReview JSON body");
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    v["response"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_verdicts_over_http1_and_http2() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    let deny_all = seed_policies("deny-all-traffic.yaml").remove(0);
    let ingress_only = seed_policies("ingress-only.yaml");
    for (proto, mut client) in [
        ("http/1.1", Client::http1(server.addr, &server.ca).await),
        ("h2", Client::http2(server.addr, &server.ca).await),
    ] {
        for path in ["/validate", "/mutate"] {
            let (status, ct, body) = client
                .post(
                    path,
                    &review(&format!("{proto}-deny"), "CREATE", deny_all.clone()),
                )
                .await;
            assert_eq!(
                (status, ct.as_str()),
                (200, "application/json"),
                "{proto} {path}"
            );
            let r = response(&body);
            assert_eq!(r["uid"], format!("{proto}-deny"));
            assert_eq!(r["allowed"], false, "{proto} {path}: deny-all is denied");
            assert_eq!(r["status"]["code"], 403);
            assert_eq!(r["auditAnnotations"]["missing"], "dns, apiserver");
            for (i, np) in ingress_only.iter().enumerate() {
                let (status, _, body) = client
                    .post(
                        path,
                        &review(&format!("{proto}-in-{i}"), "CREATE", np.clone()),
                    )
                    .await;
                assert_eq!(status, 200);
                let r = response(&body);
                assert_eq!(
                    r["allowed"], true,
                    "{proto} {path}: ingress-only is admitted"
                );
                assert!(r.get("patch").is_none());
            }
        }
    }
    let audit = server.stop().await;
    assert_eq!(audit.len(), 2 * 2 * 3, "one audit record per review");
    let denied = audit
        .iter()
        .find(|r| r["uid"] == "h2-deny")
        .expect("h2 denial audited");
    assert_eq!(denied["verdict"], "denied");
    assert_eq!(denied["user"]["username"], "alice");
    assert_eq!(denied["missing"][0]["flow"], "dns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_mode_patch_applies_and_then_passes_check() {
    let cluster = seed_text().replace(
        "labels: {kubernetes.io/metadata.name: cache-ns, zone: cache-zone}",
        "labels: {kubernetes.io/metadata.name: cache-ns, zone: cache-zone, ignite-netpol.io/mode: patch}",
    );
    assert!(
        cluster.contains("ignite-netpol.io/mode: patch"),
        "the seed namespace must be relabelled"
    );
    let server = TestServer::start(&cluster, MAX_BODY, Duration::from_secs(60)).await;
    let mut client = Client::http2(server.addr, &server.ca).await;
    for file in [
        "deny-all-traffic.yaml",
        "egress-attempt.yaml",
        "dns-same-namespace.yaml",
    ] {
        let np = seed_policies(file).remove(0);
        let (status, _, body) = client
            .post("/mutate", &review("p", "CREATE", np.clone()))
            .await;
        assert_eq!(status, 200);
        let r = response(&body);
        assert_eq!(r["allowed"], true, "{file}: patched, not denied: {r}");
        assert_eq!(r["patchType"], "JSONPatch");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(r["patch"].as_str().expect("base64 patch"))
            .expect("base64");
        let patch: json_patch::Patch = serde_json::from_slice(&raw).expect("RFC 6902 patch");
        let mut patched = np.clone();
        json_patch::patch(&mut patched, &patch).expect("patch applies to the request object");

        // The patched policy is what `check` admits unchanged.
        let mut snapshot = ClusterSnapshot::default();
        snapshot.add_text(&cluster, "cluster").expect("cluster");
        let cfg = Compiled::default();
        let env = Environment::build(&snapshot, &cfg).expect("model");
        let np: k8s_openapi::api::networking::v1::NetworkPolicy =
            serde_json::from_value(patched.clone()).expect("a NetworkPolicy");
        let name = np.metadata.name.clone().expect("name");
        let d = decide(
            &env,
            &cfg,
            &PolicyRequest {
                operation: Operation::Create,
                namespace: "cache-ns",
                name: &name,
                object: Some(&np),
                mode: None,
                validating: false,
            },
        )
        .expect("decided");
        assert_eq!(d.verdict, Verdict::Allowed, "{file}: {:?}", d.missing);

        // The validating webhook, seeing the patched object, admits it; the unpatched one it denies.
        let (_, _, body) = client
            .post("/validate", &review("v", "CREATE", patched))
            .await;
        assert_eq!(
            response(&body)["allowed"],
            true,
            "{file}: validate admits the patched policy"
        );
        let (_, _, body) = client
            .post(
                "/validate",
                &review("v0", "CREATE", seed_policies(file).remove(0)),
            )
            .await;
        let r = response(&body);
        assert_eq!(r["allowed"], false, "{file}: validate never patches");
        assert!(r.get("patch").is_none());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_documented_answer_and_the_server_keeps_serving() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    let good = review(
        "good",
        "CREATE",
        seed_policies("deny-all-traffic.yaml").remove(0),
    );
    let with_uid = |request: Value| {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
            .to_string()
    };
    // (name, method, path, content type, body, status, answer contains)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Vec<u8>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "not JSON",
            "POST",
            "/validate",
            Some("application/json"),
            b"{not json".to_vec(),
            400,
            "not JSON",
        ),
        (
            "truncated JSON",
            "POST",
            "/validate",
            Some("application/json"),
            good.as_bytes()[..good.len() / 2].to_vec(),
            400,
            "not JSON",
        ),
        (
            // JSON is UTF-8: a byte that is not, even in a field the fast parse skips unread,
            // is refused, not decided.
            "invalid UTF-8 in a skipped field",
            "POST",
            "/validate",
            Some("application/json"),
            [b"{\"x\":\"\xff\",".as_slice(), &good.as_bytes()[1..]].concat(),
            400,
            "not JSON",
        ),
        (
            "wrong content type",
            "POST",
            "/validate",
            Some("text/plain"),
            good.clone().into_bytes(),
            415,
            "Content-Type must be application/json",
        ),
        (
            "no content type",
            "POST",
            "/mutate",
            None,
            good.clone().into_bytes(),
            415,
            "Content-Type",
        ),
        (
            "body over the limit",
            "POST",
            "/validate",
            Some("application/json"),
            vec![b' '; MAX_BODY + 1],
            413,
            "exceeds the limit",
        ),
        (
            "no request",
            "POST",
            "/validate",
            Some("application/json"),
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})
                .to_string()
                .into_bytes(),
            400,
            "no request",
        ),
        (
            "no uid",
            "POST",
            "/validate",
            Some("application/json"),
            with_uid(json!({"operation": "CREATE"})).into_bytes(),
            400,
            "no uid",
        ),
        (
            "v1beta1 review",
            "POST",
            "/validate",
            Some("application/json"),
            good.replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
                .into_bytes(),
            200,
            "expected kind AdmissionReview of admission.k8s.io/v1",
        ),
        (
            "not a NetworkPolicy",
            "POST",
            "/validate",
            Some("application/json"),
            good.replace(r#""kind":"NetworkPolicy""#, r#""kind":"ConfigMap""#)
                .into_bytes(),
            200,
            "got networking.k8s.io/v1 ConfigMap",
        ),
        (
            "malformed request",
            "POST",
            "/validate",
            Some("application/json"),
            with_uid(json!({"uid": "u", "operation": 7})).into_bytes(),
            200,
            "malformed AdmissionReview",
        ),
        (
            "wrong path",
            "POST",
            "/admit",
            Some("application/json"),
            good.clone().into_bytes(),
            404,
            "",
        ),
        (
            "wrong method",
            "GET",
            "/validate",
            None,
            Vec::new(),
            405,
            "",
        ),
        (
            "unicode names",
            "POST",
            "/validate",
            Some("application/json; charset=utf-8"),
            good.replace("deny-all-traffic-in-cache-ns", "dény-✓-策略")
                .into_bytes(),
            200,
            "dény-✓-策略",
        ),
    ];
    for proto in ["http/1.1", "h2"] {
        for (name, method, path, ct, body, status, contains) in &cases {
            // A fresh connection per case: the server may close one after an error.
            let mut client = if proto == "h2" {
                Client::http2(server.addr, &server.ca).await
            } else {
                Client::http1(server.addr, &server.ca).await
            };
            let (got, _, answer) = client.send(method, path, *ct, body.clone()).await;
            let text = String::from_utf8_lossy(&answer);
            assert_eq!(got, *status, "{proto} {name}: {text}");
            assert!(
                text.contains(contains),
                "{proto} {name}: {contains:?} not in {text}"
            );
            if got == 200 {
                assert_eq!(response(&answer)["allowed"], false, "{proto} {name}");
            }
            let (ok, _, _) = client_after(&server, proto)
                .await
                .post("/validate", &good)
                .await;
            assert_eq!(ok, 200, "{proto} {name}: the server keeps serving");
        }
    }
    let audit = server.stop().await;
    assert!(
        audit
            .iter()
            .any(|r| r["verdict"] == "invalid" && r["status"] == 400),
        "invalid requests are audited too"
    );
}

async fn client_after(server: &TestServer, proto: &str) -> Client {
    if proto == "h2" {
        Client::http2(server.addr, &server.ca).await
    } else {
        Client::http1(server.addr, &server.ca).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_keeps_open_connections() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_millis(20)).await;
    let good = review("r", "CREATE", seed_policies("ingress-only.yaml").remove(0));
    let mut open = Client::http1(server.addr, &server.ca).await;
    assert_eq!(open.post("/validate", &good).await.0, 200);
    let before = server
        .metric("ignite_netpol_tls_certificate_reloads_total{result=\"success\"}")
        .await;

    let rotated = common::write_certs(server.dir.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server
        .metric("ignite_netpol_tls_certificate_reloads_total{result=\"success\"}")
        .await
        <= before
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate must be picked up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        open.post("/validate", &good).await.0,
        200,
        "the open connection survives rotation"
    );
    let mut fresh = Client::http2(server.addr, &rotated.ca_cert).await;
    assert_eq!(
        fresh.post("/validate", &good).await.0,
        200,
        "new connections get the new certificate"
    );
    let old_ca = common::client_config(&server.ca, &[b"h2"]);
    assert!(
        common::tls(server.addr, old_ca).await.is_err(),
        "the old CA no longer verifies new handshakes"
    );

    std::fs::write(server.dir.path().join("tls.key"), "garbage").expect("write");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server
        .metric("ignite_netpol_tls_certificate_reloads_total{result=\"failure\"}")
        .await
        < 1.0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a bad key must be noticed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut still = Client::http1(server.addr, &rotated.ca_cert).await;
    assert_eq!(
        still.post("/validate", &good).await.0,
        200,
        "a bad new key keeps the current pair"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_port_health_readiness_and_metrics() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    assert_eq!(server.admin_get("/healthz").await.0, 200);
    assert_eq!(server.admin_get("/readyz").await, (200, "ready\n".into()));
    let mut client = Client::http1(server.addr, &server.ca).await;
    client
        .post(
            "/validate",
            &review(
                "m",
                "CREATE",
                seed_policies("deny-all-traffic.yaml").remove(0),
            ),
        )
        .await;
    client
        .post(
            "/mutate",
            &review("m2", "CREATE", seed_policies("ingress-only.yaml").remove(0)),
        )
        .await;
    let (status, text) = server.admin_get("/metrics").await;
    assert_eq!(status, 200);
    for want in [
        r#"ignite_netpol_reviews_total{path="/validate",operation="CREATE",verdict="denied"} 1"#,
        r#"ignite_netpol_reviews_total{path="/mutate",operation="CREATE",verdict="allowed"} 1"#,
        r#"ignite_netpol_review_duration_seconds_bucket{le="0.0005"}"#,
        "ignite_netpol_review_duration_seconds_count 2",
        "ignite_netpol_audit_records_dropped_total 0",
        "ignite_netpol_snapshot_age_seconds",
        r#"ignite_netpol_view_gaps{flow="dns"} 0"#,
        r#"ignite_netpol_view_gaps{flow="apiserver"} 0"#,
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    let audit = server.stop().await;
    assert_eq!(audit.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_without_the_dns_service_is_a_metric_and_a_denial() {
    // The seed cluster without its kube-dns Service: the documents after the Service's start.
    let seed = seed_text();
    let cut = seed
        .find("- apiVersion: v1\n  kind: Service\n  metadata:\n    name: kube-dns")
        .expect("the seed has a kube-dns Service");
    let rest = &seed[cut + 1..];
    let end = rest.find("\n- ").map_or(seed.len(), |i| cut + 1 + i + 1);
    let cluster = format!("{}{}", &seed[..cut], &seed[end..]);
    assert!(!cluster.contains("name: kube-dns\n"), "{cluster}");
    let server = TestServer::start(&cluster, MAX_BODY, Duration::from_secs(60)).await;
    let (_, text) = server.admin_get("/metrics").await;
    assert!(
        text.contains(r#"ignite_netpol_view_gaps{flow="dns"} 1"#),
        "{text}"
    );
    let mut client = Client::http1(server.addr, &server.ca).await;
    let (status, _, body) = client
        .post(
            "/validate",
            &review(
                "gap",
                "CREATE",
                seed_policies("deny-all-traffic.yaml").remove(0),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&body).expect("an AdmissionReview");
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let message = answer["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("set dns.service"), "{message}");
    let audit = server.stop().await;
    assert!(
        audit[0]["unverified"]
            .to_string()
            .contains("set dns.service"),
        "the audit record says what could not be checked: {}",
        audit[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_answers_exactly_as_the_review_command() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed/cluster.yaml");
    for (file, i) in [
        ("deny-all-traffic.yaml", 0),
        ("ingress-only.yaml", 1),
        ("egress-attempt.yaml", 0),
    ] {
        let body = review(
            &format!("same-{file}"),
            "CREATE",
            seed_policies(file).remove(i),
        );
        let cli = std::process::Command::new(env!("CARGO_BIN_EXE_ignite-netpol"))
            .args(["review", "--cluster", seed])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(body.as_bytes())?;
                child.wait_with_output()
            })
            .expect("review runs");
        let from_cli: Value = serde_json::from_slice(&cli.stdout).expect("review prints JSON");
        for mut client in [
            Client::http1(server.addr, &server.ca).await,
            Client::http2(server.addr, &server.ca).await,
        ] {
            let (_, _, answer) = client.post("/mutate", &body).await;
            let from_server: Value = serde_json::from_slice(&answer).expect("server JSON");
            assert_eq!(
                from_server, from_cli,
                "{file}: the server and `review` must agree"
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ca_requires_a_client_certificate() {
    let server =
        TestServer::start_with(&seed_text(), MAX_BODY, Duration::from_secs(60), true).await;
    let good = review(
        "mtls",
        "CREATE",
        seed_policies("ingress-only.yaml").remove(0),
    );

    let with_cert = common::client_config_with_cert(server.dir.path(), &server.ca, &[b"http/1.1"]);
    let stream = common::tls(server.addr, with_cert)
        .await
        .expect("a client certificate from the CA is accepted");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::post("/validate")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(good)))
        .expect("request");
    assert_eq!(
        send.send_request(req).await.expect("response").status(),
        200
    );

    // Without a certificate the handshake (or the first read after it, with TLS 1.3) fails.
    let rejected = async {
        let stream = common::tls(
            server.addr,
            common::client_config(&server.ca, &[b"http/1.1"]),
        )
        .await?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        let req = hyper::Request::post("/validate")
            .header("host", "localhost")
            .body(http_body_util::Full::new(hyper::body::Bytes::new()))
            .map_err(std::io::Error::other)?;
        send.send_request(req).await.map_err(std::io::Error::other)
    };
    assert!(
        rejected.await.is_err(),
        "a client without a certificate must be refused"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_is_decided_alike_and_marked_in_the_audit_log() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    let mut client = Client::http1(server.addr, &server.ca).await;
    let body = review(
        "dry",
        "CREATE",
        seed_policies("deny-all-traffic.yaml").remove(0),
    )
    .replace(r#""dryRun":false"#, r#""dryRun":true"#);
    assert!(body.contains(r#""dryRun":true"#));
    let (status, _, answer) = client.post("/validate", &body).await;
    assert_eq!(status, 200);
    assert_eq!(
        response(&answer)["allowed"],
        false,
        "a dry run is decided the same way"
    );
    let audit = server.stop().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["dry_run"], true);
    assert_eq!(audit[0]["verdict"], "denied");
}
