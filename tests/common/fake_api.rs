//! A fake Kubernetes API server for the live view's tests: list and watch (with resourceVersion
//! replay, so no event is lost between a list and its watch), get, JSON patch with `test`
//! preconditions, and Events. The test changes objects, injects conflicts, holds lists back and
//! drops watches; every request is recorded.

#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashMap},
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::sync::watch;

#[derive(Default)]
struct Collection {
    objects: BTreeMap<String, Value>,
    log: Vec<(u64, &'static str, Value)>,
}

#[derive(Default)]
struct Inner {
    rv: u64,
    collections: HashMap<String, Collection>,
    /// Recorded requests: (method, path).
    requests: Vec<(String, String)>,
    events: Vec<Value>,
    /// Conflicts to answer to the next patches, each after applying `edit` to the stored object.
    conflicts: Vec<Value>,
    /// Collections whose lists are held back (the view stays unsynced).
    held: Vec<String>,
    /// Per collection, the last resourceVersion its watches deliver (events after it wait).
    watch_until: HashMap<String, u64>,
    /// Whether the policy.networking.k8s.io CRDs are installed (discovery and their lists).
    cluster_policies: bool,
}

/// The fake API server.
#[derive(Clone)]
pub struct FakeApi {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// Bumped on every change; watchers wake on it.
    changes: watch::Sender<u64>,
    /// Bumped to end every open watch.
    drops: watch::Sender<u64>,
}

fn collection_of(kind: &str, namespace: &str) -> String {
    match kind {
        "Namespace" => "namespaces".into(),
        "Pod" => "pods".into(),
        "NetworkPolicy" => "networkpolicies".into(),
        "Service" => format!("services/{namespace}"),
        "EndpointSlice" => format!("endpointslices/{namespace}"),
        "Node" => "nodes".into(),
        "ClusterNetworkPolicy" => "clusternetworkpolicies".into(),
        "AdminNetworkPolicy" => "adminnetworkpolicies".into(),
        "BaselineAdminNetworkPolicy" => "baselineadminnetworkpolicies".into(),
        other => panic!("the fake API server does not serve {other}"),
    }
}

fn key(obj: &Value) -> String {
    format!(
        "{}/{}",
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    )
}

impl FakeApi {
    /// Starts the server on a loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let api = Self {
            addr,
            inner: Arc::default(),
            changes: watch::channel(0).0,
            drops: watch::channel(0).0,
        };
        let app = Router::new().fallback(handle).with_state(api.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        api
    }

    /// A kube client for it.
    pub fn client(&self) -> kube::Client {
        let uri = format!("http://{}", self.addr).parse().expect("uri");
        kube::Client::try_from(kube::Config::new(uri)).expect("client")
    }

    /// Adds or replaces an object (ADDED or MODIFIED for watchers).
    pub fn apply(&self, mut obj: Value) {
        let mut inner = self.inner.lock().expect("lock");
        inner.rv += 1;
        let rv = inner.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let coll = collection_of(obj["kind"].as_str().expect("kind"), &ns);
        let c = inner.collections.entry(coll).or_default();
        let kind = if c.objects.insert(key(&obj), obj.clone()).is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        c.log.push((rv, kind, obj));
        drop(inner);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Every object of `kind`, in `namespace` for namespaced collections.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let inner = self.inner.lock().expect("lock");
        inner
            .collections
            .get(&collection_of(kind, namespace))?
            .objects
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.inner.lock().expect("lock").requests.clone()
    }

    /// The Events posted so far.
    pub fn events(&self) -> Vec<Value> {
        self.inner.lock().expect("lock").events.clone()
    }

    /// The next patch gets 409 Conflict, after `edit` (a JSON merge of fields into `spec`) is
    /// applied to the stored object, as if someone edited it meanwhile.
    pub fn conflict_next_patch_after(&self, edit: Value) {
        self.inner.lock().expect("lock").conflicts.push(edit);
    }

    /// Holds back lists of a collection until released.
    pub fn hold(&self, collection: &str) {
        self.inner
            .lock()
            .expect("lock")
            .held
            .push(collection.into());
    }

    pub fn release(&self) {
        self.inner.lock().expect("lock").held.clear();
        self.changes.send_modify(|n| *n += 1);
    }

    /// Watches of `kind`'s collection deliver events up to `rv` only (the rest wait), as a
    /// watch that trails the writes does; `None` delivers them all again.
    pub fn watch_up_to(&self, kind: &str, rv: Option<u64>) {
        let coll = collection_of(kind, "");
        let mut inner = self.inner.lock().expect("lock");
        match rv {
            Some(rv) => inner.watch_until.insert(coll, rv),
            None => inner.watch_until.remove(&coll),
        };
        drop(inner);
        self.changes.send_modify(|n| *n += 1);
    }

    /// The last resourceVersion given to any object.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock().expect("lock").rv
    }

    /// Installs the policy.networking.k8s.io CRDs: discovery answers for v1alpha2 and v1alpha1,
    /// and their collections are served.
    pub fn serve_cluster_policies(&self) {
        self.inner.lock().expect("lock").cluster_policies = true;
    }

    /// Ends every open watch; clients must re-watch.
    pub fn drop_watches(&self) {
        self.drops.send_modify(|n| *n += 1);
    }
}

fn route(path: &str) -> Option<(String, Option<(String, String)>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "v1", "namespaces"] => Some(("namespaces".into(), None)),
        ["api", "v1", "pods"] => Some(("pods".into(), None)),
        ["api", "v1", "nodes"] => Some(("nodes".into(), None)),
        [
            "apis",
            "policy.networking.k8s.io",
            "v1alpha2",
            "clusternetworkpolicies",
        ] => Some(("clusternetworkpolicies".into(), None)),
        [
            "apis",
            "policy.networking.k8s.io",
            "v1alpha1",
            plural @ ("adminnetworkpolicies" | "baselineadminnetworkpolicies"),
        ] => Some((plural.to_string(), None)),
        ["apis", "networking.k8s.io", "v1", "networkpolicies"] => {
            Some(("networkpolicies".into(), None))
        }
        ["api", "v1", "namespaces", ns, "services"] => Some((format!("services/{ns}"), None)),
        [
            "apis",
            "discovery.k8s.io",
            "v1",
            "namespaces",
            ns,
            "endpointslices",
        ] => Some((format!("endpointslices/{ns}"), None)),
        [
            "apis",
            "networking.k8s.io",
            "v1",
            "namespaces",
            ns,
            "networkpolicies",
            name,
        ] => Some((
            "networkpolicies".into(),
            Some((ns.to_string(), name.to_string())),
        )),
        _ => None,
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json_response(v: &Value) -> Response {
    ([("content-type", "application/json")], v.to_string()).into_response()
}

async fn handle(State(api): State<FakeApi>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req.uri().query().map(url_pairs).unwrap_or_default();
    api.inner
        .lock()
        .expect("lock")
        .requests
        .push((method.to_string(), path.clone()));
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();

    if path.starts_with("/apis/events.k8s.io/v1/namespaces/") {
        let mut ev: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if method == Method::POST {
            if ev["metadata"]["name"].is_null() {
                let n = api.inner.lock().expect("lock").events.len();
                ev["metadata"]["name"] = json!(format!("ev-{n}"));
            }
            api.inner.lock().expect("lock").events.push(ev.clone());
        }
        return json_response(&ev);
    }
    let crds = api.inner.lock().expect("lock").cluster_policies;
    if let Some(gv) = path.strip_prefix("/apis/policy.networking.k8s.io/")
        && !gv.contains('/')
    {
        if !crds {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
        let kinds: &[(&str, &str)] = match gv {
            "v1alpha2" => &[("clusternetworkpolicies", "ClusterNetworkPolicy")],
            "v1alpha1" => &[
                ("adminnetworkpolicies", "AdminNetworkPolicy"),
                ("baselineadminnetworkpolicies", "BaselineAdminNetworkPolicy"),
            ],
            _ => &[],
        };
        let resources: Vec<Value> = kinds
            .iter()
            .map(|(name, kind)| json!({"name": name, "singularName": kind.to_lowercase(), "namespaced": false, "kind": kind, "verbs": ["get", "list", "watch"]}))
            .collect();
        return json_response(&json!({"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": format!("policy.networking.k8s.io/{gv}"), "resources": resources}));
    }
    if path.starts_with("/apis/policy.networking.k8s.io/") && !crds {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    }
    let Some((coll, item)) = route(&path) else {
        return status(
            404,
            "NotFound",
            &format!("the fake API server does not serve {path}"),
        );
    };
    match (method, item) {
        (Method::GET, None) if query.get("watch").map(String::as_str) == Some("true") => {
            let since: u64 = query
                .get("resourceVersion")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            watch_stream(api, coll, since)
        }
        (Method::GET, None) => {
            // A held collection answers only when released.
            let mut changes = api.changes.subscribe();
            while api.inner.lock().expect("lock").held.contains(&coll) {
                if changes.changed().await.is_err() {
                    break;
                }
            }
            // Pages as the API server does (`limit`, `continue`: here the last key sent), so a
            // client never holds a list of the whole cluster in one body.
            let inner = api.inner.lock().expect("lock");
            let limit: usize = query
                .get("limit")
                .and_then(|l| l.parse().ok())
                .filter(|l| *l > 0)
                .unwrap_or(usize::MAX);
            let after = query.get("continue").cloned().unwrap_or_default();
            let mut items: Vec<Value> = Vec::new();
            let mut more = None;
            if let Some(c) = inner.collections.get(&coll) {
                let range = c.objects.range::<String, _>((
                    if after.is_empty() {
                        std::ops::Bound::Unbounded
                    } else {
                        std::ops::Bound::Excluded(&after)
                    },
                    std::ops::Bound::Unbounded,
                ));
                for v in range.map(|(_, v)| v) {
                    if items.len() == limit {
                        more = items.last().map(key);
                        break;
                    }
                    items.push(v.clone());
                }
            }
            let mut metadata = json!({"resourceVersion": inner.rv.to_string()});
            if let Some(token) = more {
                metadata["continue"] = json!(token);
            }
            json_response(
                &json!({"apiVersion": "v1", "kind": "List", "metadata": metadata, "items": items}),
            )
        }
        (Method::GET, Some((ns, name))) => match api.get("NetworkPolicy", &ns, &name) {
            Some(obj) => json_response(&obj),
            None => status(404, "NotFound", "no such policy"),
        },
        (Method::PATCH, Some((ns, name))) => {
            let Some(mut obj) = api.get("NetworkPolicy", &ns, &name) else {
                return status(404, "NotFound", "no such policy");
            };
            let conflict = {
                let mut inner = api.inner.lock().expect("lock");
                (!inner.conflicts.is_empty()).then(|| inner.conflicts.remove(0))
            };
            if let Some(edit) = conflict {
                json_patch::merge(&mut obj["spec"], &edit);
                api.apply(obj);
                return status(
                    409,
                    "Conflict",
                    "the object has been modified; please apply your changes to the latest version",
                );
            }
            let patch: json_patch::Patch = match serde_json::from_slice(&body) {
                Ok(p) => p,
                Err(e) => return status(400, "BadRequest", &e.to_string()),
            };
            if let Err(e) = json_patch::patch(&mut obj, &patch) {
                return status(422, "Invalid", &format!("the patch did not apply: {e}"));
            }
            api.apply(obj);
            json_response(&api.get("NetworkPolicy", &ns, &name).unwrap_or(Value::Null))
        }
        _ => status(405, "MethodNotAllowed", "not supported by the fake"),
    }
}

fn url_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3D", "=").replace("%2F", "/")))
        .collect()
}

fn watch_stream(api: FakeApi, coll: String, since: u64) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    let mut changes = api.changes.subscribe();
    let mut drops = api.drops.subscribe();
    drops.borrow_and_update();
    tokio::spawn(async move {
        let mut sent = since;
        loop {
            let pending: Vec<(u64, &'static str, Value)> = {
                let inner = api.inner.lock().expect("lock");
                let until = inner.watch_until.get(&coll).copied().unwrap_or(u64::MAX);
                inner
                    .collections
                    .get(&coll)
                    // The log is in resourceVersion order.
                    .map(|c| {
                        let from = c.log.partition_point(|(rv, _, _)| *rv <= sent);
                        let to = c.log.partition_point(|(rv, _, _)| *rv <= until);
                        c.log[from..to.max(from)].to_vec()
                    })
                    .unwrap_or_default()
            };
            for (rv, kind, obj) in pending {
                let line = format!("{}\n", json!({"type": kind, "object": obj}));
                if tx.send(Ok(Bytes::from(line))).await.is_err() {
                    return;
                }
                sent = rv;
            }
            // A drop wins over a change that arrives with it: a dropped watch delivers nothing.
            tokio::select! {
                biased;
                _ = drops.changed() => return,
                r = changes.changed() => if r.is_err() { return },
                () = tokio::time::sleep(Duration::from_secs(290)) => return,
            }
        }
    });
    let stream = tokio_stream_from(rx);
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| status(500, "InternalError", "stream"))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, Infallible>>,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
