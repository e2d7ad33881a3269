//! The answers: allowed, denied, patched (base64 JSON Patch on the wire), and the one sent while
//! the cluster view is not synced. Every answer goes out through [`to_bytes`].
//!
//! The answer is its own small type rather than kube-core's `AdmissionResponse`: that one is
//! built for a parsed `AdmissionRequest` (its `TypeMeta`, a `HashMap` of annotations, a `Status`
//! of owned strings) and serialises its patch as an array of numbers, where the AdmissionReview
//! API documents a base64 string. Here the wire form is written in one pass: the annotations'
//! names and the reasons are static, an admitted review allocates nothing but its uid, and the
//! patch is base64-encoded as it is written.

use std::borrow::Cow;

use base64::Engine;
use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::Value;

use crate::{
    ignite::{Decision, Verdict, decision::kinds, message},
    json,
};

/// The `apiVersion` of every answer.
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// The response of an AdmissionReview, as the API server reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// The request's uid (empty when it could not be read).
    pub uid: String,
    pub allowed: bool,
    /// Why not, when not allowed.
    pub status: Option<Status>,
    /// The JSON Patch, as JSON (sent base64-encoded with `patchType: JSONPatch`).
    pub patch: Option<Vec<u8>>,
    /// `auditAnnotations`; the API server prefixes each name with the webhook's.
    pub audit_annotations: Vec<(&'static str, Cow<'static, str>)>,
    pub warnings: Vec<String>,
}

/// The `status` of a refusal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The HTTP-like code the API server passes on to the client (403, 400, 503…).
    pub code: u16,
    pub message: String,
    /// A `StatusReason` (`Forbidden`, `InvalidRequest`), or empty.
    pub reason: &'static str,
    /// `status: Failure`, set on a request that could not be read.
    pub failure: bool,
}

impl Answer {
    /// Whether the answer names the request it answers.
    pub fn has_uid(&self) -> bool {
        !self.uid.is_empty()
    }
}

/// An admitting answer for `uid`.
pub fn allowed(uid: &str) -> Answer {
    Answer {
        uid: uid.to_string(),
        allowed: true,
        ..Answer::default()
    }
}

/// The answer for a decision.
pub fn respond(uid: &str, d: &Decision) -> Answer {
    let mut answer = allowed(uid);
    answer.audit_annotations = audit_annotations(d);
    answer.warnings.clone_from(&d.warnings);
    match d.verdict {
        Verdict::Allowed | Verdict::Warned => answer,
        Verdict::Patched => match d.patch.as_ref().map(serde_json::to_vec) {
            Some(Ok(patch)) => {
                answer.patch = Some(patch);
                answer
            }
            _ => deny(uid, "ignite-netpol could not encode its patch", 500),
        },
        Verdict::Denied => {
            answer.allowed = false;
            answer.status = Some(Status {
                code: 403,
                message: message::explain(d),
                reason: "Forbidden",
                failure: false,
            });
            answer
        }
    }
}

fn audit_annotations(d: &Decision) -> Vec<(&'static str, Cow<'static, str>)> {
    let mut a = vec![("verdict", Cow::Borrowed(d.verdict.as_str()))];
    if !d.missing.is_empty() {
        a.push(("missing", Cow::Owned(kinds(&d.missing))));
    }
    if !d.unverified.is_empty() {
        a.push(("unverified", Cow::Owned(d.unverified.join("; "))));
    }
    a
}

/// A refusal of `uid` with `msg` and status `code`.
pub fn deny(uid: &str, msg: &str, code: u16) -> Answer {
    Answer {
        uid: uid.to_string(),
        allowed: false,
        status: Some(Status {
            code,
            message: msg.to_string(),
            reason: "",
            failure: false,
        }),
        ..Answer::default()
    }
}

/// The answer to a request that cannot be read: `InvalidRequest` (400), with the uid when at
/// least that could be read.
pub fn invalid(uid: Option<String>, msg: &str) -> Answer {
    Answer {
        uid: uid.unwrap_or_default(),
        allowed: false,
        status: Some(Status {
            code: 400,
            message: msg.to_string(),
            reason: "InvalidRequest",
            failure: true,
        }),
        ..Answer::default()
    }
}

/// The answer while the cluster view is not synced: a denial (503, retried by the API server's
/// caller) or, with `allow`, an admission with the message as a warning.
pub fn unsynced(uid: &str, allow: bool, message: &str) -> Answer {
    if allow {
        let mut a = allowed(uid);
        a.warnings.push(message.to_string());
        a
    } else {
        deny(uid, message, 503)
    }
}

/// The AdmissionReview that carries `answer`, as the API server expects it on the wire.
pub fn to_json(answer: &Answer) -> Value {
    serde_json::to_value(Review(answer)).unwrap_or(Value::Null)
}

/// The wire bytes of the AdmissionReview that carries `answer`: byte for byte what `serde_json`
/// writes for the structure [`to_json`] serialises (the same fields in the same order), written
/// by hand in one sized buffer. A denial's
/// explanation is a few kilobytes of text whose escaping byte by byte, and the buffer's growth
/// to hold it, cost more than the rest of the answer.
pub fn to_bytes(answer: &Answer) -> Vec<u8> {
    let a = answer;
    let text = a.status.as_ref().map_or(0, |s| s.message.len())
        + a.warnings.iter().map(String::len).sum::<usize>()
        + a.patch.as_ref().map_or(0, |p| p.len() * 4 / 3);
    // Escapes rarely lengthen a text by more than an eighth (a newline every few dozen bytes).
    let mut out = Vec::with_capacity(256 + a.uid.len() + text + text / 8);
    out.extend_from_slice(
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"#,
    );
    json::string(&mut out, &a.uid);
    out.extend_from_slice(if a.allowed {
        br#","allowed":true,"status":{"#
    } else {
        br#","allowed":false,"status":{"#
    });
    if let Some(st) = &a.status {
        let mut sep = "";
        if st.failure {
            out.extend_from_slice(br#""status":"Failure""#);
            sep = ",";
        }
        if st.code != 0 {
            out.extend_from_slice(sep.as_bytes());
            out.extend_from_slice(br#""code":"#);
            json::number(&mut out, st.code);
            sep = ",";
        }
        if !st.message.is_empty() {
            out.extend_from_slice(sep.as_bytes());
            out.extend_from_slice(br#""message":"#);
            json::string(&mut out, &st.message);
            sep = ",";
        }
        if !st.reason.is_empty() {
            out.extend_from_slice(sep.as_bytes());
            out.extend_from_slice(br#""reason":"#);
            json::string(&mut out, st.reason);
        }
    }
    out.push(b'}');
    if let Some(patch) = &a.patch {
        out.extend_from_slice(br#","patch":""#);
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(patch)
                .as_bytes(),
        );
        out.extend_from_slice(br#"","patchType":"JSONPatch""#);
    }
    if !a.audit_annotations.is_empty() {
        out.extend_from_slice(br#","auditAnnotations":{"#);
        for (i, (k, v)) in a.audit_annotations.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::string(&mut out, k);
            out.push(b':');
            json::string(&mut out, v);
        }
        out.push(b'}');
    }
    if !a.warnings.is_empty() {
        out.extend_from_slice(br#","warnings":"#);
        json::strings(&mut out, &a.warnings);
    }
    out.extend_from_slice(b"}}");
    out
}

/// `{"apiVersion", "kind", "response"}` around an answer.
struct Review<'a>(&'a Answer);

impl Serialize for Review<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("apiVersion", API_VERSION)?;
        m.serialize_entry("kind", "AdmissionReview")?;
        m.serialize_entry("response", &Response(self.0))?;
        m.end()
    }
}

struct Response<'a>(&'a Answer);

impl Serialize for Response<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("uid", &a.uid)?;
        m.serialize_entry("allowed", &a.allowed)?;
        // Always present, `{}` for an admission: the API server reads it as optional, but
        // kube-core's `AdmissionResponse` (and so any Rust reader) requires the field.
        m.serialize_entry("status", &StatusWire(a.status.as_ref()))?;
        if let Some(patch) = &a.patch {
            m.serialize_entry(
                "patch",
                &base64::engine::general_purpose::STANDARD.encode(patch),
            )?;
            m.serialize_entry("patchType", "JSONPatch")?;
        }
        if !a.audit_annotations.is_empty() {
            m.serialize_entry("auditAnnotations", &Annotations(&a.audit_annotations))?;
        }
        if !a.warnings.is_empty() {
            m.serialize_entry("warnings", &a.warnings)?;
        }
        m.end()
    }
}

struct StatusWire<'a>(Option<&'a Status>);

impl Serialize for StatusWire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        let Some(st) = self.0 else {
            return m.end();
        };
        if st.failure {
            m.serialize_entry("status", "Failure")?;
        }
        if st.code != 0 {
            m.serialize_entry("code", &st.code)?;
        }
        if !st.message.is_empty() {
            m.serialize_entry("message", &st.message)?;
        }
        if !st.reason.is_empty() {
            m.serialize_entry("reason", st.reason)?;
        }
        m.end()
    }
}

struct Annotations<'a>(&'a [(&'static str, Cow<'static, str>)]);

impl Serialize for Annotations<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use kube::core::{
        DynamicObject,
        admission::{AdmissionResponse, AdmissionReview},
    };
    use serde_json::json;

    use super::*;

    /// What the API server's own types read from our bytes: kube-core's `AdmissionReview`
    /// (whose `patch` is the decoded bytes) must see every field we meant to send.
    fn read_back(answer: &Answer) -> AdmissionResponse {
        let bytes = to_bytes(answer);
        let mut value: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(value["apiVersion"], API_VERSION);
        assert_eq!(value["kind"], "AdmissionReview");
        // kube-core reads `patch` as an array of bytes; the wire carries base64.
        if let Some(p) = value.pointer_mut("/response/patch") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(p.as_str().expect("patch is a base64 string"))
                .expect("base64");
            *p = json!(decoded);
        }
        let review: AdmissionReview<DynamicObject> =
            serde_json::from_value(value).expect("an AdmissionReview");
        review.response.expect("a response")
    }

    #[test]
    fn an_admission_carries_uid_annotations_and_warnings_and_an_empty_status() {
        let mut a = allowed("u-1");
        a.audit_annotations = vec![("verdict", "allowed".into())];
        a.warnings = vec!["w".into()];
        let bytes = to_bytes(&a);
        let value: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            value["response"],
            json!({"uid": "u-1", "allowed": true, "status": {},
                   "auditAnnotations": {"verdict": "allowed"}, "warnings": ["w"]})
        );
        let r = read_back(&a);
        assert!(r.allowed);
        assert_eq!(r.uid, "u-1");
    }

    #[test]
    fn a_refusal_and_an_invalid_request_say_why_in_status() {
        let r = read_back(&deny("u-2", "no DNS", 403));
        assert!(!r.allowed);
        assert_eq!((r.result.code, r.result.message.as_str()), (403, "no DNS"));
        let bytes = to_bytes(&invalid(None, "not JSON"));
        let value: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            value["response"],
            json!({"uid": "", "allowed": false, "status":
                   {"status": "Failure", "code": 400, "message": "not JSON", "reason": "InvalidRequest"}})
        );
    }

    #[test]
    fn a_patch_goes_out_as_base64_json_patch() {
        let mut a = allowed("u-3");
        let patch = br#"[{"op":"add","path":"/spec/egress/-","value":{}}]"#.to_vec();
        a.patch = Some(patch.clone());
        let value = to_json(&a);
        assert_eq!(value["response"]["patchType"], "JSONPatch");
        assert_eq!(
            value["response"]["patch"],
            base64::engine::general_purpose::STANDARD.encode(&patch)
        );
        assert_eq!(read_back(&a).patch, Some(patch));
    }

    /// The oracle for the hand-written encoding: `serde_json` writing [`to_json`]'s structure.
    fn by_serde(answer: &Answer) -> String {
        serde_json::to_string(&Review(answer)).expect("serde_json encodes an answer")
    }

    #[test]
    fn every_kind_of_answer_is_written_as_serde_json_writes_it() {
        let mut admitted = allowed("u-1");
        admitted.audit_annotations = vec![("verdict", "allowed".into())];
        admitted.warnings = vec!["excess egress: \"x\" opens 53/UDP…".into(), "w2".into()];
        let mut denied = deny("u-2", "cut off:\n- dns \\ \"apiserver\"\n\ttab\u{1}", 403);
        denied.audit_annotations = vec![
            ("verdict", "denied".into()),
            ("missing", "dns,apiserver".into()),
        ];
        if let Some(status) = denied.status.as_mut() {
            status.reason = "Forbidden";
        }
        let mut patched = allowed("u-3");
        patched.patch = Some(br#"[{"op":"add","path":"/spec/egress/-","value":{}}]"#.to_vec());
        for answer in [
            admitted,
            denied,
            patched,
            invalid(None, "request body is not JSON: EOF"),
            invalid(Some("u-4".into()), "malformed"),
            unsynced("u-5", true, "not synced"),
            unsynced("u-6", false, "not synced"),
            Answer::default(),
        ] {
            let bytes = to_bytes(&answer);
            assert_eq!(
                String::from_utf8(bytes).expect("UTF-8"),
                by_serde(&answer),
                "{answer:?}"
            );
        }
    }
}
