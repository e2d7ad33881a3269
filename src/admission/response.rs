//! The answers: allowed, denied, patched (base64 JSON Patch on the wire), and the one sent while
//! the cluster view is not synced. Every answer goes out through [`to_bytes`].

use std::collections::HashMap;

use base64::Engine;
use kube::core::{
    DynamicObject,
    admission::{AdmissionResponse, AdmissionReview},
};
use serde_json::Value;

use crate::ignite::{Decision, Verdict, decision::kinds, message};

/// An admitting response for `uid`. kube-core builds responses from a parsed
/// `AdmissionRequest` (`AdmissionResponse::from`); the typed fast path has only the uid, so the
/// response starts from kube-core's own empty one.
pub fn allowed(uid: &str) -> AdmissionResponse {
    let mut r = AdmissionResponse::invalid("");
    r.uid = uid.to_string();
    r.allowed = true;
    r.result = Default::default();
    r
}

/// The response for a decision.
pub fn respond(uid: &str, d: &Decision) -> AdmissionResponse {
    let mut response = allowed(uid);
    response.audit_annotations = audit_annotations(d);
    if !d.warnings.is_empty() {
        response.warnings = Some(d.warnings.clone());
    }
    match d.verdict {
        Verdict::Allowed | Verdict::Warned => response,
        Verdict::Patched => match d.patch.clone().map(|p| response.clone().with_patch(p)) {
            Some(Ok(patched)) => patched,
            _ => deny(uid, "ignite-netpol could not encode its patch", 500),
        },
        Verdict::Denied => {
            let mut denied = response.deny(message::explain(d));
            denied.result.code = 403;
            denied.result.reason = "Forbidden".into();
            denied
        }
    }
}

fn audit_annotations(d: &Decision) -> HashMap<String, String> {
    let mut a = HashMap::from([("verdict".to_string(), d.verdict.as_str().to_string())]);
    if !d.missing.is_empty() {
        a.insert("missing".into(), kinds(&d.missing));
    }
    if !d.unverified.is_empty() {
        a.insert("unverified".into(), d.unverified.join("; "));
    }
    a
}

/// A refusal of `uid` with `msg` and status `code`.
pub fn deny(uid: &str, msg: &str, code: u16) -> AdmissionResponse {
    let mut r = allowed(uid).deny(msg);
    r.result.code = code;
    r
}

/// The answer while the cluster view is not synced: a denial (503, retried by the API server's
/// caller) or, with `allow`, an admission with the message as a warning.
pub fn unsynced(uid: &str, allow: bool, message: &str) -> AdmissionReview<DynamicObject> {
    let response = if allow {
        let mut r = allowed(uid);
        r.warnings = Some(vec![message.to_string()]);
        r
    } else {
        deny(uid, message, 503)
    };
    response.into_review()
}

/// The review as the API server expects it on the wire. kube-core serialises `patch` as an
/// array of bytes; the AdmissionReview API documents a base64 string, which is what is sent.
pub fn to_json(review: &AdmissionReview<DynamicObject>) -> Value {
    let mut value = serde_json::to_value(review).unwrap_or(Value::Null);
    encode_patch(&mut value);
    value
}

/// The review's wire bytes (see [`to_json`]), without a detour through a JSON tree when there
/// is no patch to re-encode.
pub fn to_bytes(review: &AdmissionReview<DynamicObject>) -> serde_json::Result<Vec<u8>> {
    if review.response.as_ref().is_some_and(|r| r.patch.is_some()) {
        serde_json::to_vec(&to_json(review))
    } else {
        serde_json::to_vec(review)
    }
}

fn encode_patch(value: &mut Value) {
    if let Some(patch) = value.pointer_mut("/response/patch")
        && let Value::Array(bytes) = patch
    {
        let bytes: Vec<u8> = bytes
            .iter()
            .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect();
        *patch = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
}
