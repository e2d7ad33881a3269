//! The live view's pods, kept in the engine's form. Each watch event's pod is decoded into a
//! [`SlimPod`], turned into a [`PodInfo`] and dropped, so a pod costs one `PodInfo` — shared by
//! pointer with every view built from the store — instead of a stored object plus a copy per
//! view. An event that leaves the `PodInfo` as it was (a pod's status, its `resourceVersion`,
//! `managedFields`) changes nothing and pokes nothing.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use futures::{Stream, StreamExt};
use kube::runtime::watcher;
use tokio::sync::{Notify, watch};

use super::slim::SlimPod;
use crate::policy::PodInfo;

type Key = (String, String);

/// The pods of the cluster, by namespace and name.
#[derive(Clone)]
pub struct PodStore {
    pods: Arc<RwLock<HashMap<Key, Arc<PodInfo>>>>,
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
        self.read().values().cloned().collect()
    }

    /// A pod by namespace and name.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<PodInfo>> {
        self.read()
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// How many pods are stored.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no pod is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, Arc<PodInfo>>> {
        // A writer that panicked left a whole map behind (inserts and removes are single steps).
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
        pods: Arc::default(),
        ready,
    };
    let pods = store.pods.clone();
    tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        let mut relist: Option<HashMap<Key, Arc<PodInfo>>> = None;
        while let Some(event) = events.next().await {
            let news = match event {
                Ok(watcher::Event::Apply(pod)) => {
                    let (key, info) = convert(&pod);
                    let mut map = pods.write().unwrap_or_else(PoisonError::into_inner);
                    match info {
                        Some(info) if map.get(&key).is_some_and(|old| **old == info) => false,
                        Some(info) => {
                            map.insert(key, Arc::new(info));
                            true
                        }
                        None => map.remove(&key).is_some(),
                    }
                }
                Ok(watcher::Event::Delete(pod)) => pods
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key(&pod))
                    .is_some(),
                Ok(watcher::Event::Init) => {
                    relist = Some(HashMap::new());
                    false
                }
                Ok(watcher::Event::InitApply(pod)) => {
                    let (key, info) = convert(&pod);
                    if let (Some(info), Some(relist)) = (info, relist.as_mut()) {
                        let kept = pods
                            .read()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get(&key)
                            .filter(|old| ***old == info)
                            .cloned();
                        relist.insert(key, kept.unwrap_or_else(|| Arc::new(info)));
                    }
                    false
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(listed) = relist.take() {
                        *pods.write().unwrap_or_else(PoisonError::into_inner) = listed;
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
