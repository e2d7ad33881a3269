//! AdmissionReview in, AdmissionReview out — the one path `review` and the webhook share.
//!
//! Every review that can be read gets HTTP 200 and an answer with its uid echoed: allowed,
//! allowed with warnings, patched (`patchType: JSONPatch`, base64 patch), or denied
//! (`status.code` 403 and the explanation). A review that cannot be read gets an answer without
//! uid (`AdmissionResponse::invalid`) — or with it, when the uid at least can be read. The
//! verdict also goes to `auditAnnotations` (`verdict`, `missing`; the API server prefixes them
//! with the webhook's name) so it lands in the Kubernetes audit log.

use std::collections::HashMap;

use base64::Engine;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::core::{
    DynamicObject,
    admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation as KubeOperation},
};
use serde_json::Value;

use crate::ignite::{
    Compiled, Decision, Environment, Mode, Operation, PolicyRequest, Verdict, decide,
    decision::kinds, message,
};

/// The outcome of one review: the response to send, and what to audit.
#[derive(Debug)]
pub struct Reviewed {
    pub response: AdmissionReview<DynamicObject>,
    /// Who asked what, when the request could be read.
    pub request: Option<RequestInfo>,
    /// The decision, when one was made.
    pub decision: Option<Decision>,
    /// Why the review could not be decided, when it could not.
    pub error: Option<String>,
}

/// The request facts the audit log records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    pub uid: String,
    pub operation: String,
    pub dry_run: bool,
    pub username: Option<String>,
    pub groups: Vec<String>,
    pub namespace: String,
    pub name: String,
}

/// How a review is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReviewOptions {
    /// A mode that overrides the namespace's.
    pub mode: Option<Mode>,
    /// Validating webhooks may not patch: a decision to patch becomes a denial (the mutating
    /// webhook runs first and should have added the rules).
    pub validating: bool,
}

/// Reviews a raw AdmissionReview body.
pub fn review(env: &Environment, cfg: &Compiled, body: &[u8], options: ReviewOptions) -> Reviewed {
    let ReviewOptions { mode, validating } = options;
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return invalid(None, format!("request body is not JSON: {e}")),
    };
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != "AdmissionReview" || api_version != "admission.k8s.io/v1" {
        return invalid(
            uid,
            format!(
                "expected kind AdmissionReview of admission.k8s.io/v1, got {kind:?} of {api_version:?}"
            ),
        );
    }
    if value.get("request").is_none_or(Value::is_null) {
        return invalid(uid, "the AdmissionReview has no request".into());
    }
    let Some(uid) = uid else {
        return invalid(None, "the AdmissionReview request has no uid".into());
    };
    let review: AdmissionReview<DynamicObject> = match serde_path_to_error::deserialize(value) {
        Ok(r) => r,
        Err(e) => {
            return invalid(
                Some(uid),
                format!("malformed AdmissionReview at {}: {}", e.path(), e.inner()),
            );
        }
    };
    let req: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(_) => return invalid(Some(uid), "the AdmissionReview has no request".into()),
    };
    let info = request_info(&req);
    let reviewed =
        |response: AdmissionResponse, decision: Option<Decision>, error: Option<String>| Reviewed {
            response: response.into_review(),
            request: Some(info.clone()),
            decision,
            error,
        };

    let gvk = &req.kind;
    if gvk.group != "networking.k8s.io" || gvk.version != "v1" || gvk.kind != "NetworkPolicy" {
        let msg = format!(
            "ignite-netpol reviews networking.k8s.io/v1 NetworkPolicy only, got {}/{} {}",
            gvk.group, gvk.version, gvk.kind
        );
        return reviewed(deny(&req, &msg, 400), None, Some(msg));
    }
    let operation = match req.operation {
        KubeOperation::Create => Operation::Create,
        KubeOperation::Update => Operation::Update,
        KubeOperation::Delete => Operation::Delete,
        KubeOperation::Connect => return reviewed(AdmissionResponse::from(&req), None, None),
    };
    let Some(namespace) = req.namespace.clone().filter(|n| !n.is_empty()) else {
        let msg = "the request has no namespace: NetworkPolicies are namespaced".to_string();
        return reviewed(deny(&req, &msg, 400), None, Some(msg));
    };
    let object = match operation {
        Operation::Delete => None,
        _ => match req.object.as_ref().map(to_policy) {
            Some(Ok(np)) => Some(np),
            Some(Err(msg)) => return reviewed(deny(&req, &msg, 422), None, Some(msg)),
            None => {
                let msg = format!("a {} request must carry the object", info.operation);
                return reviewed(deny(&req, &msg, 400), None, Some(msg));
            }
        },
    };
    let name = object
        .as_ref()
        .and_then(|o| o.metadata.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| req.name.clone());
    let request = PolicyRequest {
        operation,
        namespace: &namespace,
        name: &name,
        object: object.as_ref(),
        mode,
    };
    match decide(env, cfg, &request) {
        Ok(mut decision) => {
            if validating && decision.verdict == Verdict::Patched {
                decision.verdict = Verdict::Denied;
                decision.patch = None;
                decision.unpatchable = Some(
                    "this is the validating webhook; the mutating webhook should have added the rules".into(),
                );
            }
            let response = respond(&req, &decision);
            reviewed(response, Some(decision), None)
        }
        Err(e) => {
            let msg = e.to_string();
            reviewed(deny(&req, &msg, 422), None, Some(msg))
        }
    }
}

/// The review as the API server expects it on the wire. kube-core serialises `patch` as an
/// array of bytes; the AdmissionReview API documents a base64 string, which is what is sent.
pub fn to_json(review: &AdmissionReview<DynamicObject>) -> Value {
    let mut value = serde_json::to_value(review).unwrap_or(Value::Null);
    if let Some(patch) = value.pointer_mut("/response/patch")
        && let Value::Array(bytes) = patch
    {
        let bytes: Vec<u8> = bytes
            .iter()
            .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect();
        *patch = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    value
}

/// The response for a decision.
pub fn respond(req: &AdmissionRequest<DynamicObject>, d: &Decision) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(req);
    response.audit_annotations = audit_annotations(d);
    if !d.warnings.is_empty() {
        response.warnings = Some(d.warnings.clone());
    }
    match d.verdict {
        Verdict::Allowed | Verdict::Warned => response,
        Verdict::Patched => match d.patch.clone().map(|p| response.clone().with_patch(p)) {
            Some(Ok(patched)) => patched,
            _ => deny(req, "ignite-netpol could not encode its patch", 500),
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
    let verdict = serde_json::to_value(d.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut a = HashMap::from([("verdict".to_string(), verdict)]);
    if !d.missing.is_empty() {
        a.insert("missing".into(), kinds(&d.missing));
    }
    a
}

fn deny(req: &AdmissionRequest<DynamicObject>, msg: &str, code: u16) -> AdmissionResponse {
    let mut r = AdmissionResponse::from(req).deny(msg);
    r.result.code = code;
    r
}

fn invalid(uid: Option<String>, msg: String) -> Reviewed {
    let mut response = AdmissionResponse::invalid(&msg);
    if let Some(uid) = uid {
        response.uid = uid;
    }
    response.result.code = 400;
    Reviewed {
        response: response.into_review(),
        request: None,
        decision: None,
        error: Some(msg),
    }
}

fn to_policy(obj: &DynamicObject) -> Result<NetworkPolicy, String> {
    let value = serde_json::to_value(obj).map_err(|e| format!("the object cannot be read: {e}"))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        format!(
            "the object is not a valid NetworkPolicy at {}: {}",
            e.path(),
            e.inner()
        )
    })
}

fn request_info(req: &AdmissionRequest<DynamicObject>) -> RequestInfo {
    RequestInfo {
        uid: req.uid.clone(),
        operation: format!("{:?}", req.operation).to_uppercase(),
        dry_run: req.dry_run,
        username: req.user_info.username.clone(),
        groups: req.user_info.groups.clone().unwrap_or_default(),
        namespace: req.namespace.clone().unwrap_or_default(),
        name: req.name.clone(),
    }
}
