//! Hostile input against the running server: each gets its documented answer (or the
//! connection is dropped) and the server keeps serving. Complements the bad-input cases of
//! tests/server.rs.

mod common;

use std::time::Duration;

use common::{Client, TestServer, review, seed_policies, seed_text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MAX_BODY: usize = 3 * 1024 * 1024;

async fn still_serving(server: &TestServer) {
    let good = review(
        "after",
        "CREATE",
        seed_policies("ingress-only.yaml").remove(0),
    );
    let (status, _, _) = Client::http1(server.addr, &server.ca)
        .await
        .post("/validate", &good)
        .await;
    assert_eq!(status, 200, "the server keeps serving");
}

/// Sends raw bytes over TLS and reads whatever comes back until the server closes.
async fn raw(server: &TestServer, bytes: &[u8]) -> String {
    let mut stream = common::tls(
        server.addr,
        common::client_config(&server.ca, &[b"http/1.1"]),
    )
    .await
    .expect("connect");
    stream.write_all(bytes).await.expect("write");
    stream.flush().await.expect("flush");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_is_refused_without_a_crash() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, _, body) = Client::http1(server.addr, &server.ca)
        .await
        .post("/validate", &nested)
        .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let inside = review(
        "deep",
        "CREATE",
        seed_policies("deny-all-traffic.yaml").remove(0),
    )
    .replace(
        r#""dryRun":false"#,
        &format!(
            r#""dryRun":false,"extra":{}1{}"#,
            "[".repeat(50_000),
            "]".repeat(50_000)
        ),
    );
    let (status, _, body) = Client::http1(server.addr, &server.ca)
        .await
        .post("/validate", &inside)
        .await;
    assert!(
        status == 200 || status == 400,
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    still_serving(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_body_is_refused_with_413() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    let body = vec![b' '; 100 * 1024 * 1024];
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = common::tls(
        server.addr,
        common::client_config(&server.ca, &[b"http/1.1"]),
    )
    .await
    .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    // The server answers once the limit is passed; it may close before all 100 MB are sent.
    let _ = stream.write_all(&body).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        answer.lines().next().unwrap_or_default()
    );
    assert!(answer.contains("exceeds the limit of 3145728 bytes"));
    still_serving(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_headers_are_cut_off() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    let mut stream = common::tls(
        server.addr,
        common::client_config(&server.ca, &[b"http/1.1"]),
    )
    .await
    .expect("connect");
    stream
        .write_all(b"POST /validate HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
        .await
        .expect("partial headers");
    stream.flush().await.expect("flush");
    // Never finish the headers: the server must close the connection (header read timeout).
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server must not wait forever for headers");
    still_serving(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_garbage_is_dropped() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    for garbage in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0][..],
        &[0u8; 4096][..],
    ] {
        let mut tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        tcp.write_all(garbage).await.expect("write");
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "a non-TLS or broken handshake is closed");
        assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"));
    }
    still_serving(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_0_is_answered() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    let body = review(
        "old",
        "CREATE",
        seed_policies("deny-all-traffic.yaml").remove(0),
    );
    let request = format!(
        "POST /validate HTTP/1.0\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = raw(&server, request.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{}",
        answer.lines().next().unwrap_or_default()
    );
    assert!(answer.contains(r#""uid":"old""#) && answer.contains(r#""allowed":false"#));
    still_serving(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_at_the_api_size_limit_is_decided() {
    let server = TestServer::start(&seed_text(), MAX_BODY, Duration::from_secs(60)).await;
    // ~1.4 MB of rules (etcd's default object limit is 1.5 MiB) in one review.
    let mut np = seed_policies("egress-attempt.yaml").remove(0);
    let rules: Vec<serde_json::Value> = (0..20_000)
        .map(|i| serde_json::json!({"to": [{"ipBlock": {"cidr": format!("10.{}.{}.0/24", i / 256 % 256, i % 256)}}], "ports": [{"port": 1 + i % 60000}]}))
        .collect();
    np["spec"]["egress"]
        .as_array_mut()
        .expect("egress")
        .extend(rules);
    let body = review("big", "CREATE", np);
    assert!(
        body.len() > 1_000_000 && body.len() < MAX_BODY,
        "{} bytes",
        body.len()
    );
    let (status, _, answer) = Client::http2(server.addr, &server.ca)
        .await
        .post("/validate", &body)
        .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(v["response"]["uid"], "big");
    assert_eq!(
        v["response"]["allowed"], false,
        "still missing the API server"
    );
    still_serving(&server).await;
    server.stop().await;
}
