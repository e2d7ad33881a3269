//! SIGTERM with a review in flight and a request on a kept-alive connection just after it: both
//! are answered, every answered review is in the audit log, and the process exits 0. Runs the
//! real binary.

mod common;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use common::{Client, review, seed_policies};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long to wait for a log line.
const LOG_WAIT: Duration = Duration::from_secs(20);

/// An HTTP/1.1 POST of `body` to /validate.
fn request(body: &str) -> String {
    format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Sends `request` and reads one whole response (head and a `content-length` body).
async fn read_response<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    request: &str,
) -> String {
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("read response");
        assert!(n > 0, "connection closed mid-response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("content-length");
            if got.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_reviews_and_loses_no_audit_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let issued = common::write_certs(dir.path());
    let audit = dir.path().join("audit.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ignite-netpol"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log",
            "ignite_netpol=debug",
        ])
        .arg("--tls-cert")
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .arg("--audit-log")
        .arg(&audit)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server must start");
    let lines = common::LogLines::follow(child.stderr.take().expect("stderr piped"));
    let serving = lines.wait_for("Serving", LOG_WAIT);
    let addr: std::net::SocketAddr = serving["listen"]
        .as_str()
        .expect("listen address")
        .parse()
        .expect("address");

    // Complete reviews first, on a kept-alive connection.
    let deny_all = seed_policies("deny-all-traffic.yaml").remove(0);
    let mut client = Client::http1(addr, &issued.ca_cert).await;
    let mut answered = Vec::new();
    for i in 0..20 {
        let uid = format!("before-{i}");
        let (status, _, _) = client
            .post("/validate", &review(&uid, "CREATE", deny_all.clone()))
            .await;
        assert_eq!(status, 200);
        answered.push(uid);
    }
    for _ in 0..20 {
        lines.wait_for("Review", LOG_WAIT);
    }

    // A review in flight: headers and half the body sent, the handler waiting for the rest.
    let body = review("in-flight", "CREATE", deny_all.clone());
    let whole = request(&body);
    let (first, rest) = whole.as_bytes().split_at(whole.len() - body.len() / 2);
    let mut stream = common::tls(addr, common::client_config(&issued.ca_cert, &[b"http/1.1"]))
        .await
        .expect("connect");
    stream
        .write_all(first)
        .await
        .expect("write the head and half the body");
    stream.flush().await.expect("flush");
    lines.wait_for("Review started", LOG_WAIT);

    // A kept-alive HTTP/1.1 connection, idle when SIGTERM comes.
    let mut idle = common::tls(addr, common::client_config(&issued.ca_cert, &[b"http/1.1"]))
        .await
        .expect("connect");
    let first = read_response(
        &mut idle,
        &request(&review("idle-1", "CREATE", deny_all.clone())),
    )
    .await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    answered.push("idle-1".into());

    let pid = child.id().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    lines.wait_for(
        "Shutting down: no new connections; finishing in-flight reviews",
        LOG_WAIT,
    );

    stream
        .write_all(rest)
        .await
        .expect("write the rest after SIGTERM");
    stream.flush().await.expect("flush");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the in-flight review is answered: {answer}"
    );
    assert!(answer.contains(r#""uid":"in-flight""#), "{answer}");
    answered.push("in-flight".into());

    // A request on the connection that was idle at SIGTERM, sent once the in-flight review is
    // answered, is answered too (not cut off), and the answer tells the client to close.
    idle.write_all(request(&review("idle-2", "CREATE", deny_all.clone())).as_bytes())
        .await
        .expect("write on the kept-alive connection after SIGTERM");
    let mut second = Vec::new();
    idle.read_to_end(&mut second).await.ok();
    let second = String::from_utf8_lossy(&second);
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "a request on a kept-alive connection after SIGTERM is answered: {second}"
    );
    assert!(
        second.to_ascii_lowercase().contains("connection: close"),
        "{second}"
    );
    assert!(second.contains(r#""uid":"idle-2""#), "{second}");
    answered.push("idle-2".into());

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "SIGTERM ends the server cleanly");
    lines.wait_for("Audit log flushed; bye", LOG_WAIT);

    let logged: Vec<String> = std::fs::read_to_string(&audit)
        .expect("audit log")
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON")["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for uid in &answered {
        assert!(
            logged.contains(uid),
            "answered review {uid} must be in the audit log"
        );
    }
    assert_eq!(logged.len(), answered.len());
}
