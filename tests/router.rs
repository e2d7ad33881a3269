//! The webhook's router in process (`tower::ServiceExt::oneshot`, no socket, no TLS), on JSON
//! fixtures: `/validate` denies the seed's default-deny with its explanation, `/mutate` in a
//! patch-mode namespace returns a JSON Patch that makes `/validate` admit the result, and the
//! request checks (content type, method, path) answer as documented. Each answered review is
//! audited once, with typed fields.

use std::sync::{Arc, Mutex};

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use base64::Engine;
use ignite_netpol::{
    audit::{AuditCounters, AuditRecord, AuditSink},
    ignite::{Compiled, Environment},
    server::{Answering, AppState, Limits, Metrics, OnUnsynced, router},
    snapshot::ClusterSnapshot,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const SEED: &str = include_str!("../examples/seed/cluster.yaml");
const DENY_ALL_REVIEW: &str = include_str!("../examples/seed/review-deny-all.json");

/// Audit records, kept for the test to read.
#[derive(Debug, Default)]
struct Records(Mutex<Vec<AuditRecord>>);

impl AuditSink for Records {
    fn record(&self, record: AuditRecord) {
        if let Ok(mut r) = self.0.lock() {
            r.push(record);
        }
    }
}

/// A state on the seed cluster; `mode` labels cache-ns.
fn state(mode: &str, records: Arc<Records>) -> Arc<AppState> {
    let mut snapshot = ClusterSnapshot::default();
    snapshot.add_text(SEED, "seed").expect("seed");
    snapshot
        .add_text(
            &json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "cache-ns", "labels": {"ignite-netpol.io/mode": mode}}})
            .to_string(),
            "label",
        )
        .expect("namespace");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model");
    let answering = Answering {
        limits: Limits {
            max_body: 1 << 20,
            request_timeout: std::time::Duration::from_secs(5),
        },
        on_unsynced: OnUnsynced::Deny,
        ready: true,
    };
    let metrics = Metrics::new(Arc::new(AuditCounters::default()));
    Arc::new(AppState::new(env, cfg, metrics, answering, records))
}

async fn post(
    state: &Arc<AppState>,
    path: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request");
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("the router always answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

#[tokio::test]
async fn validate_denies_the_seed_default_deny_with_its_explanation() {
    let records = Arc::new(Records::default());
    let state = state("enforce", records.clone());
    let (status, answer) = post(
        &state,
        "/validate",
        "application/json",
        DENY_ALL_REVIEW.into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = &answer["response"];
    assert_eq!(response["uid"], "7c6f1a2e-0000-4000-8000-000000000001");
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("would cut Ignite off"), "{message}");
    assert!(message.contains("192.168.49.2:6443"), "{message}");
    assert_eq!(response["auditAnnotations"]["verdict"], "denied");
    let records = records.0.lock().expect("records");
    assert_eq!(records.len(), 1);
    let record = serde_json::to_value(&records[0]).expect("record");
    assert_eq!(record["verdict"], "denied");
    assert_eq!(record["operation"], "CREATE");
    assert_eq!(record["mode"], "enforce");
    assert_eq!(record["missing"][0]["flow"], "dns");
}

#[tokio::test]
async fn mutate_patches_and_validate_admits_the_result() {
    let records = Arc::new(Records::default());
    let state = state("patch", records.clone());
    let (status, answer) = post(
        &state,
        "/mutate",
        "application/json",
        DENY_ALL_REVIEW.into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = &answer["response"];
    assert_eq!(response["allowed"], true, "{answer}");
    assert_eq!(response["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().expect("a base64 patch"))
        .expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("RFC 6902");
    let mut review: Value = serde_json::from_str(DENY_ALL_REVIEW).expect("fixture");
    json_patch::patch(&mut review["request"]["object"], &patch).expect("the patch applies");
    review["request"]["uid"] = json!("after-patch");

    // What the API server stores after the mutating webhook is what the validating one sees.
    let (_, answer) = post(&state, "/validate", "application/json", review.to_string()).await;
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    assert_eq!(answer["response"]["auditAnnotations"]["verdict"], "allowed");

    // /validate never patches: the unpatched policy is denied there even in patch mode.
    let (_, answer) = post(
        &state,
        "/validate",
        "application/json",
        DENY_ALL_REVIEW.into(),
    )
    .await;
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert!(answer["response"].get("patch").is_none(), "{answer}");
    let verdicts: Vec<&str> = records
        .0
        .lock()
        .expect("records")
        .iter()
        .map(|r| r.verdict.as_str())
        .collect();
    assert_eq!(verdicts, ["patched", "allowed", "denied"]);
}

#[tokio::test]
async fn request_checks_answer_as_documented() {
    let state = state("enforce", Arc::new(Records::default()));
    let (status, _) = post(&state, "/validate", "text/plain", DENY_ALL_REVIEW.into()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = post(&state, "/validate", "application/json", "{not json".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.as_str().unwrap_or_default().contains("not JSON"),
        "{body}"
    );
    let (status, _) = post(
        &state,
        "/elsewhere",
        "application/json",
        DENY_ALL_REVIEW.into(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let request = Request::get("/validate")
        .body(Body::empty())
        .expect("request");
    let response = router(state).oneshot(request).await.expect("answer");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}
