//! The live view's pods, kept in the engine's form. Each watch event's pod is decoded into a
//! [`SlimPod`], turned into a [`PodInfo`] and dropped, so a pod costs one `PodInfo` — shared by
//! pointer with every view built from the store — instead of a stored object plus a copy per
//! view. An event that leaves the `PodInfo` as it was (a pod's status, its `resourceVersion`,
//! `managedFields`) changes nothing and pokes nothing.
//!
//! The store also notes which pods changed since the view thread last asked
//! ([`PodStore::take_changes`]), so the next view applies those changes to the one before
//! ([`PodSet::changed`]) instead of indexing every pod again.

use std::{
    hash::{BuildHasher, RandomState},
    sync::{Arc, PoisonError, RwLock},
};

use futures::{Stream, StreamExt};
use hashbrown::{HashTable, hash_table::Entry};
use kube::runtime::watcher;
use tokio::sync::{Notify, watch};

use super::slim::SlimPod;
use crate::policy::{PodChange, PodInfo, PodSet};

type Key = (String, String);

/// Pods by namespace and name. The table holds only the pointers — a pod is found by the
/// namespace and name it carries — so the store adds ~10 bytes a pod, not a copied key.
#[derive(Default)]
struct Pods {
    table: HashTable<Arc<PodInfo>>,
    hasher: RandomState,
    /// The pods changed since the changes were last taken, by namespace and name.
    changed: std::collections::HashSet<Key>,
    /// Whether every pod is to be taken anew: after a relist, before the first view, or when
    /// the changes noted outgrow what applying them would save.
    replaced: bool,
}

impl Pods {
    fn hash(hasher: &RandomState, namespace: &str, name: &str) -> u64 {
        hasher.hash_one((namespace, name))
    }

    fn get(&self, namespace: &str, name: &str) -> Option<&Arc<PodInfo>> {
        self.table
            .find(Self::hash(&self.hasher, namespace, name), |p| {
                p.namespace == namespace && p.name == name
            })
    }

    /// Stores `pod`, replacing the one of its namespace and name; whether anything changed.
    fn upsert(&mut self, pod: PodInfo) -> bool {
        let Self { table, hasher, .. } = self;
        let h = Self::hash(hasher, &pod.namespace, &pod.name);
        let key = |p: &PodInfo| (p.namespace.clone(), p.name.clone());
        let key = match table.entry(
            h,
            |p| p.namespace == pod.namespace && p.name == pod.name,
            |p| Self::hash(hasher, &p.namespace, &p.name),
        ) {
            Entry::Occupied(e) if **e.get() == pod => return false,
            Entry::Occupied(mut e) => {
                *e.get_mut() = Arc::new(pod);
                key(e.get())
            }
            Entry::Vacant(e) => key(e.insert(Arc::new(pod)).get()),
        };
        self.note(key);
        true
    }

    /// Notes that the pod of `key` changed.
    fn note(&mut self, key: Key) {
        if self.replaced {
            return;
        }
        self.changed.insert(key);
        // Past this, applying the changes to a view costs about what indexing every pod does.
        if self.changed.len() > 1024 + self.table.len() / 4 {
            self.replaced = true;
            self.changed = Default::default();
        }
    }

    /// Stores `pod` as it is (a relist's), replacing the one of its namespace and name.
    fn insert(&mut self, pod: Arc<PodInfo>) {
        let Self { table, hasher, .. } = self;
        let h = Self::hash(hasher, &pod.namespace, &pod.name);
        match table.entry(
            h,
            |p| p.namespace == pod.namespace && p.name == pod.name,
            |p| Self::hash(hasher, &p.namespace, &p.name),
        ) {
            Entry::Occupied(mut e) => *e.get_mut() = pod,
            Entry::Vacant(e) => {
                e.insert(pod);
            }
        }
    }

    /// Removes the pod of `namespace` and `name`; whether there was one.
    fn remove(&mut self, namespace: &str, name: &str) -> bool {
        let h = Self::hash(&self.hasher, namespace, name);
        let removed = self
            .table
            .find_entry(h, |p| p.namespace == namespace && p.name == name)
            .map(|e| e.remove())
            .is_ok();
        if removed {
            self.note((namespace.to_string(), name.to_string()));
        }
        removed
    }
}

/// The pods of the cluster, by namespace and name.
#[derive(Clone)]
pub struct PodStore {
    pods: Arc<RwLock<Pods>>,
    ready: watch::Receiver<bool>,
}

impl PodStore {
    /// Waits until the pods have been listed once.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Every pod now stored, in no particular order (pointers: the pods are not copied).
    pub fn state(&self) -> Vec<Arc<PodInfo>> {
        self.read().table.iter().cloned().collect()
    }

    /// The pods changed since the last call, as they are now; `None` when every pod is to be
    /// taken anew ([`PodStore::state`]): the first time, after a relist, or after more changes
    /// than applying them would save. Only the view thread calls it: whatever it takes must
    /// reach the next view.
    pub fn take_changes(&self) -> Option<Vec<PodChange>> {
        let mut pods = self.pods.write().unwrap_or_else(PoisonError::into_inner);
        let keys = std::mem::take(&mut pods.changed);
        if std::mem::take(&mut pods.replaced) {
            return None;
        }
        let changes = keys
            .into_iter()
            .map(|(namespace, name)| PodChange {
                pod: pods.get(&namespace, &name).cloned(),
                namespace,
                name,
            })
            .collect();
        Some(changes)
    }

    /// The pods now stored, derived from `previous` — what the last call built — by the
    /// changes since, or indexed anew (see [`PodStore::take_changes`]).
    pub fn pod_set(&self, previous: Option<&PodSet>) -> PodSet {
        match (previous, self.take_changes()) {
            (Some(previous), Some(changes)) => previous.changed(changes),
            _ => PodSet::new(self.state()),
        }
    }

    /// A pod by namespace and name.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<PodInfo>> {
        self.read().get(namespace, name).cloned()
    }

    /// How many pods are stored.
    pub fn len(&self) -> usize {
        self.read().table.len()
    }

    /// Whether no pod is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Pods> {
        // A writer that panicked left a whole table behind (inserts and removes are single
        // steps).
        self.pods.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn key(pod: &SlimPod) -> Key {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// The key and engine form of a pod; `None` for the form when the pod cannot be read (it is
/// then left out of the view, with a warning, as a snapshot file's would fail its load).
fn convert(pod: &SlimPod) -> (Key, Option<PodInfo>) {
    let key = key(pod);
    match pod.info() {
        Ok(info) => (key, Some(info)),
        Err(error) => {
            tracing::warn!(namespace = %key.0, name = %key.1, %error, "Skipping unreadable pod");
            (key, None)
        }
    }
}

/// Fills a [`PodStore`] from a stream of watch events; every event that changes what is stored
/// pokes `changed`, a failed one is logged (the watcher retries). A relist (`Init` ..
/// `InitDone`) replaces the store when it is complete, keeping the stored `Arc` of every pod
/// that did not change so that views built before share it. The seam tests feed.
pub fn reflect_pods<S>(events: S, changed: Arc<Notify>) -> PodStore
where
    S: Stream<Item = Result<watcher::Event<SlimPod>, watcher::Error>> + Send + 'static,
{
    let (ready_tx, ready) = watch::channel(false);
    let store = PodStore {
        pods: Arc::new(RwLock::new(Pods {
            // The first view takes every pod.
            replaced: true,
            ..Pods::default()
        })),
        ready,
    };
    let pods = store.pods.clone();
    tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        let mut relist: Option<Pods> = None;
        while let Some(event) = events.next().await {
            let write = || pods.write().unwrap_or_else(PoisonError::into_inner);
            let news = match event {
                Ok(watcher::Event::Apply(pod)) => match convert(&pod) {
                    (_, Some(info)) => write().upsert(info),
                    ((namespace, name), None) => write().remove(&namespace, &name),
                },
                Ok(watcher::Event::Delete(pod)) => {
                    let (namespace, name) = key(&pod);
                    write().remove(&namespace, &name)
                }
                Ok(watcher::Event::Init) => {
                    relist = Some(Pods::default());
                    false
                }
                Ok(watcher::Event::InitApply(pod)) => {
                    if let ((_, Some(info)), Some(relist)) = (convert(&pod), relist.as_mut()) {
                        let kept = pods
                            .read()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get(&info.namespace, &info.name)
                            .filter(|old| ***old == info)
                            .cloned();
                        relist.insert(kept.unwrap_or_else(|| Arc::new(info)));
                    }
                    false
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(mut listed) = relist.take() {
                        // The next view takes every pod anew.
                        listed.replaced = true;
                        *write() = listed;
                    }
                    let _ = ready_tx.send(true);
                    // A list always counts, as in the other stores.
                    true
                }
                Err(error) => {
                    tracing::warn!(kind = "Pod", %error, "Watch failed; retrying with backoff");
                    false
                }
            };
            if news {
                changed.notify_one();
            }
        }
    });
    store
}
