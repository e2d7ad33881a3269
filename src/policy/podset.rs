//! A view's pods, indexed by namespace and name, by address and by label pair — in two layers,
//! so that the live view's next model costs what changed, not what the cluster holds.
//!
//! A [`PodSet`] is a *base* index, shared by pointer with every set derived from it, plus the
//! positions of the base pods that are gone since and a small index of the pods added since.
//! [`PodSet::changed`] derives the next set from a list of changes; once the layers on top of
//! the base grow past a fraction of it, it builds one new base instead (so a query never reads
//! more than a bounded overlay, and the overlay's cost is paid back once per many changes).
//!
//! Positions are global: `0..base.len()` are the base's pods, the added pods follow. A query
//! over the base skips its gone positions.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use super::PodInfo;

/// The layers on top of a base may hold up to this share of its pods (gone plus added) before
/// [`PodSet::changed`] folds them into a new base.
const OVERLAY_SHARE: usize = 8;
/// ... and at least this many, so that a small cluster is not rebuilt on every change.
const OVERLAY_MIN: usize = 256;

/// One change to the pods: the pod of `namespace` and `name` is now `pod`, or gone (`None`).
#[derive(Clone, Debug)]
pub struct PodChange {
    pub namespace: String,
    pub name: String,
    pub pod: Option<Arc<PodInfo>>,
}

/// A view's pods: a shared base, what is gone from it and what was added since.
#[derive(Clone, Debug, Default)]
pub struct PodSet {
    base: Arc<PodIndex>,
    gone: Gone,
    added: Arc<PodIndex>,
}

/// What [`PodSet::gone_mark`] noted: which of a base's pods were gone.
#[derive(Clone, Debug, Default)]
pub struct GoneMark(Vec<u64>);

/// Which pods of a base are gone, by position, and how many per namespace.
#[derive(Clone, Debug, Default)]
struct Gone {
    bits: Vec<u64>,
    count: usize,
    by_namespace: HashMap<String, u32>,
}

/// Pods, indexed. Positions in the indexes are into `pods`.
#[derive(Debug, Default)]
struct PodIndex {
    /// Tells bases apart for the life of the process ([`PodSet::base_id`]).
    id: u64,
    pods: Vec<Arc<PodInfo>>,
    by_namespace: HashMap<String, NamespacePods>,
    /// Every pod address with the pod's position, sorted.
    by_ip: Vec<(IpAddr, u32)>,
    /// The hash of every label pair of every pod with the pod's position, sorted; a hit is
    /// checked against the pod's labels.
    by_label: Vec<(u64, u32)>,
}

/// The pods of one namespace, as positions: in load order, and sorted by name for lookups
/// (8 bytes a pod; no name is copied).
#[derive(Debug, Default)]
struct NamespacePods {
    order: Vec<u32>,
    by_name: Vec<u32>,
}

impl PodSet {
    /// The set of `pods`; a pod listed twice (same namespace and name) takes the place of the
    /// first, with the content of the last.
    pub fn new(pods: Vec<Arc<PodInfo>>) -> Self {
        Self {
            base: Arc::new(PodIndex::build(pods)),
            ..Self::default()
        }
    }

    /// This set with `changes` applied, in their order. Shares this set's base unless the
    /// layers on top of it grow too large, when the result is one new base.
    pub fn changed(&self, changes: impl IntoIterator<Item = PodChange>) -> Self {
        let changes: Vec<PodChange> = changes.into_iter().collect();
        if changes.is_empty() {
            return self.clone();
        }
        // The last change of each pod is what it is now.
        let last: HashMap<(&str, &str), usize> = changes
            .iter()
            .enumerate()
            .map(|(j, c)| ((c.namespace.as_str(), c.name.as_str()), j))
            .collect();
        let mut gone = self.gone.clone();
        let mut added: Vec<Arc<PodInfo>> = self
            .added
            .pods
            .iter()
            .filter(|p| !last.contains_key(&(p.namespace.as_str(), p.name.as_str())))
            .cloned()
            .collect();
        let latest = (changes.iter().enumerate())
            .filter(|(j, c)| last[&(c.namespace.as_str(), c.name.as_str())] == *j)
            .map(|(_, c)| c);
        for change in latest {
            let at = self.base.position(&change.namespace, &change.name);
            // The pod as the base holds it, unchanged and not gone: nothing to do.
            if let (Some(i), Some(pod)) = (at, &change.pod)
                && !gone.contains(i)
                && Arc::ptr_eq(&self.base.pods[i], pod)
            {
                continue;
            }
            if let Some(i) = at {
                gone.insert(i, &change.namespace);
            }
            added.extend(change.pod.clone());
        }
        let overlay = gone.count + added.len();
        if overlay > OVERLAY_MIN.max(self.base.pods.len() / OVERLAY_SHARE) {
            let live = self
                .base
                .pods
                .iter()
                .enumerate()
                .filter(|&(i, _)| !gone.contains(i))
                .map(|(_, p)| p.clone());
            return Self::new(live.chain(added).collect());
        }
        Self {
            base: self.base.clone(),
            gone,
            added: Arc::new(PodIndex::build(added)),
        }
    }

    /// Tells apart the bases of sets: two sets with the same id share their base pods, and an
    /// id is never reused.
    pub fn base_id(&self) -> u64 {
        self.base.id
    }

    /// The base's pods, gone or not ([`PodSet::base_id`] names them).
    pub fn base_pods(&self) -> &[Arc<PodInfo>] {
        &self.base.pods
    }

    /// Which of the base's pods are not in this set, to compare a later set of the same base
    /// with ([`PodSet::gone_since`]).
    pub fn gone_mark(&self) -> GoneMark {
        GoneMark(self.gone.bits.clone())
    }

    /// The base's pods whose presence differs from `mark`'s: `true` for one gone since, `false`
    /// for one back. Against an empty mark, every pod gone from the base. Costs a word per 64
    /// base pods plus the pods that differ.
    pub fn gone_since<'a: 'm, 'm>(
        &'a self,
        mark: &'m GoneMark,
    ) -> impl Iterator<Item = (&'a PodInfo, bool)> + 'm {
        let words = self.gone.bits.len().max(mark.0.len());
        (0..words).flat_map(move |w| {
            let (now, was) = (word(&self.gone.bits, w), word(&mark.0, w));
            let gone = set_bits(now & !was).map(|b| (b, true));
            let back = set_bits(was & !now).map(|b| (b, false));
            gone.chain(back)
                .filter_map(move |(b, gone)| Some((&**self.base.pods.get(w * 64 + b)?, gone)))
        })
    }

    /// The pods added on top of the base.
    pub fn added_to_base(&self) -> &[Arc<PodInfo>] {
        &self.added.pods
    }

    /// How many pods the set holds.
    pub fn len(&self) -> usize {
        self.base.pods.len() - self.gone.count + self.added.pods.len()
    }

    /// Whether the set holds no pod.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pod at `position` (from one of this set's queries).
    pub fn at(&self, position: usize) -> &PodInfo {
        match position.checked_sub(self.base.pods.len()) {
            None => &self.base.pods[position],
            Some(j) => &self.added.pods[j],
        }
    }

    /// Every pod, base first, each layer in load order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<PodInfo>> {
        let base = self.base.pods.iter().enumerate();
        base.filter(|&(i, _)| !self.gone.contains(i))
            .map(|(_, p)| p)
            .chain(&self.added.pods)
    }

    /// The positions of the pods with an address from `first` to `last`; a pod with two such
    /// addresses comes twice.
    pub fn between(&self, first: IpAddr, last: IpAddr) -> impl Iterator<Item = usize> + '_ {
        self.layered(
            self.base.between(first, last),
            self.added.between(first, last),
        )
    }

    /// Whether `ip` is a pod's address.
    pub fn has_ip(&self, ip: IpAddr) -> bool {
        self.between(ip, ip).next().is_some()
    }

    /// The positions of the pods labelled `key=value`.
    pub fn labelled<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
    ) -> impl Iterator<Item = usize> + 'a {
        let h = label_hash(key, value);
        self.layered(self.base.labelled(h), self.added.labelled(h))
            .filter(move |&i| self.at(i).labels.get(key).map(String::as_str) == Some(value))
    }

    /// The positions of the pods of `namespace`, in load order.
    pub fn in_namespace(&self, namespace: &str) -> impl Iterator<Item = usize> + '_ {
        self.layered(
            self.base.in_namespace(namespace),
            self.added.in_namespace(namespace),
        )
    }

    /// The pod of `namespace` and `name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&PodInfo> {
        if let Some(j) = self.added.position(namespace, name) {
            return Some(&self.added.pods[j]);
        }
        let i = self.base.position(namespace, name)?;
        (!self.gone.contains(i)).then(|| &*self.base.pods[i])
    }

    /// The namespaces that hold at least one pod, each once.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        let in_base = |ns: &str| {
            self.base.by_namespace.get(ns).is_some_and(|pods| {
                self.gone.by_namespace.get(ns).copied().unwrap_or(0) < pods.order.len() as u32
            })
        };
        let base = self.base.by_namespace.keys().map(String::as_str);
        let added = self.added.by_namespace.keys().map(String::as_str);
        base.filter(move |ns| in_base(ns))
            .chain(added.filter(move |ns| !in_base(ns)))
    }

    /// One query's answers from both layers, in global positions, without the gone ones.
    fn layered<'a>(
        &'a self,
        base: impl Iterator<Item = u32> + 'a,
        added: impl Iterator<Item = u32> + 'a,
    ) -> impl Iterator<Item = usize> + 'a {
        let offset = self.base.pods.len();
        let base = base.map(|i| i as usize).filter(|&i| !self.gone.contains(i));
        base.chain(added.map(move |j| offset + j as usize))
    }
}

impl Gone {
    fn contains(&self, i: usize) -> bool {
        word(&self.bits, i / 64) & (1 << (i % 64)) != 0
    }

    fn insert(&mut self, i: usize, namespace: &str) {
        if self.contains(i) {
            return;
        }
        if self.bits.len() <= i / 64 {
            self.bits.resize(i / 64 + 1, 0);
        }
        self.bits[i / 64] |= 1 << (i % 64);
        self.count += 1;
        match self.by_namespace.get_mut(namespace) {
            Some(n) => *n += 1,
            None => {
                self.by_namespace.insert(namespace.to_string(), 1);
            }
        }
    }
}

fn word(bits: &[u64], w: usize) -> u64 {
    bits.get(w).copied().unwrap_or(0)
}

/// The positions of the bits set in `word`, lowest first.
fn set_bits(mut word: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (word != 0).then(|| {
            let b = word.trailing_zeros() as usize;
            word &= word - 1;
            b
        })
    })
}

impl PodIndex {
    /// Indexes `all`; a pod listed twice (same namespace and name) takes the place of the first.
    /// A full rebuild of the live view runs this over every pod of the cluster: namespaces are
    /// grouped with a fast hash, and duplicates are found as neighbours in each namespace's
    /// order by name (which the lookups need anyway), not through a map of every pod's key.
    fn build(all: Vec<Arc<PodInfo>>) -> Self {
        static BASES: AtomicU64 = AtomicU64::new(1);
        let mut index = Self {
            id: BASES.fetch_add(1, Ordering::Relaxed),
            ..Self::default()
        };
        index.insert(all);
        index.index();
        index
    }

    fn insert(&mut self, all: Vec<Arc<PodInfo>>) {
        let all: &[Arc<PodInfo>] = &all[..all.len().min(u32::MAX as usize)];
        let name = |j: u32| all[j as usize].name.as_str();
        // Each namespace's pods, as indexes into `all`, in load order.
        let mut groups: HashMap<&str, Vec<u32>, foldhash::fast::RandomState> = HashMap::default();
        for (j, pod) in (0..).zip(all) {
            groups.entry(pod.namespace.as_str()).or_default().push(j);
        }
        // A pod listed more than once keeps the place of its first listing, with the content
        // of its last (`source`); its other listings go.
        let mut keep = vec![true; all.len()];
        let mut source: Vec<u32> = (0..).take(all.len()).collect();
        let mut sorted: Vec<(&str, Vec<u32>, Vec<u32>)> = Vec::with_capacity(groups.len());
        for (namespace, order) in groups {
            let mut by_name = order.clone();
            // Equal names in load order.
            by_name.sort_unstable_by(|&a, &b| name(a).cmp(name(b)).then(a.cmp(&b)));
            for run in by_name.chunk_by(|&a, &b| name(a) == name(b)) {
                if let [first, .., last] = *run {
                    source[first as usize] = last;
                    for &j in &run[1..] {
                        keep[j as usize] = false;
                    }
                }
            }
            sorted.push((namespace, order, by_name));
        }
        // Positions in `all` to positions among the kept pods (in load order).
        let mut position = vec![0u32; all.len()];
        let mut pods = Vec::with_capacity(all.len());
        for j in 0..all.len() {
            if keep[j] {
                position[j] = u32::try_from(pods.len()).unwrap_or(u32::MAX);
                pods.push(all[source[j] as usize].clone());
            }
        }
        let kept = |list: Vec<u32>| -> Vec<u32> {
            list.into_iter()
                .filter(|&j| keep[j as usize])
                .map(|j| position[j as usize])
                .collect()
        };
        for (namespace, order, by_name) in sorted {
            let pods = NamespacePods {
                order: kept(order),
                by_name: kept(by_name),
            };
            self.by_namespace.insert(namespace.to_string(), pods);
        }
        self.pods = pods;
    }

    /// Builds the address and label indexes of the pods.
    fn index(&mut self) {
        let mut by_ip = Vec::new();
        let mut by_label = Vec::new();
        for (i, pod) in self.pods.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            by_ip.extend(pod.ips.iter().map(|ip| (*ip, i)));
            by_label.extend(pod.labels.iter().map(|(k, v)| (label_hash(k, v), i)));
        }
        by_ip.sort_unstable();
        by_label.sort_unstable();
        // Built once and kept for its life: no spare capacity.
        by_ip.shrink_to_fit();
        by_label.shrink_to_fit();
        self.pods.shrink_to_fit();
        self.by_ip = by_ip;
        self.by_label = by_label;
    }

    fn position(&self, namespace: &str, name: &str) -> Option<usize> {
        let by_name = &self.by_namespace.get(namespace)?.by_name;
        let at = by_name
            .binary_search_by(|&i| self.pods[i as usize].name.as_str().cmp(name))
            .ok()?;
        Some(by_name[at] as usize)
    }

    fn in_namespace(&self, namespace: &str) -> impl Iterator<Item = u32> + '_ {
        let pods = self.by_namespace.get(namespace);
        pods.map_or(&[][..], |m| m.order.as_slice()).iter().copied()
    }

    fn between(&self, first: IpAddr, last: IpAddr) -> impl Iterator<Item = u32> + '_ {
        let lo = self.by_ip.partition_point(|(ip, _)| *ip < first);
        let hi = self.by_ip.partition_point(|(ip, _)| *ip <= last);
        self.by_ip[lo..hi.max(lo)].iter().map(|&(_, i)| i)
    }

    fn labelled(&self, h: u64) -> impl Iterator<Item = u32> + '_ {
        let lo = self.by_label.partition_point(|(x, _)| *x < h);
        self.by_label[lo..]
            .iter()
            .take_while(move |(x, _)| *x == h)
            .map(|&(_, i)| i)
    }
}

/// A fast hash of a label pair, the same for the life of the process: a rebuild hashes every
/// label of every pod, and a hit is checked against the labels anyway, so speed beats SipHash
/// (and a byte-at-a-time hash) here.
fn label_hash(key: &str, value: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6967_6e69_7465).hash_one((key, value))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::policy::Labels;

    /// splitmix64, seeded: the same changes on every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % n as u64) as usize
        }
    }

    const NAMESPACES: [&str; 5] = ["grid", "kube-system", "web", "batch", "empty"];
    /// Pods per namespace: enough that the layers outgrow [`OVERLAY_MIN`] now and then.
    const NAMES: usize = 100;

    fn random_pod(rng: &mut Rng, namespace: &str, name: &str) -> Arc<PodInfo> {
        let ip = |rng: &mut Rng| IpAddr::from([10, 0, 0, rng.below(64) as u8]);
        let mut ips = vec![ip(rng)];
        if rng.below(4) == 0 {
            ips.push(ip(rng));
        }
        let mut labels = vec![("app".to_string(), ["a", "b", "c"][rng.below(3)].to_string())];
        if rng.below(2) == 0 {
            labels.push(("tier".to_string(), "x".to_string()));
        }
        Arc::new(PodInfo {
            namespace: namespace.to_string(),
            name: name.to_string(),
            labels: Labels::from_iter(labels),
            ips,
            host_network: false,
            ports: Vec::new(),
        })
    }

    type Truth = BTreeMap<(String, String), Arc<PodInfo>>;

    /// Every query of `set` answers as the pods of `truth` say.
    fn agrees(set: &PodSet, truth: &Truth, round: usize) {
        let describe =
            |p: &PodInfo| format!("{}/{} {:?} {:?}", p.namespace, p.name, p.ips, p.labels);
        let want: BTreeSet<String> = truth.values().map(|p| describe(p)).collect();
        let got: Vec<String> = set.iter().map(|p| describe(p)).collect();
        assert_eq!(got.len(), truth.len(), "round {round}: one listing per pod");
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            want,
            "round {round}"
        );
        assert_eq!(set.len(), truth.len(), "round {round}");
        // The layers: the base's pods less the gone ones, plus the added ones.
        let mut layers: Vec<String> = set.base_pods().iter().map(|p| describe(p)).collect();
        for (gone, _) in set.gone_since(&GoneMark::default()) {
            let at = layers
                .iter()
                .position(|d| *d == describe(gone))
                .expect("gone from base");
            layers.swap_remove(at);
        }
        layers.extend(set.added_to_base().iter().map(|p| describe(p)));
        assert_eq!(
            layers.into_iter().collect::<BTreeSet<_>>(),
            want,
            "round {round}: layers"
        );
        for namespace in NAMESPACES {
            for n in 0..NAMES {
                let name = format!("pod-{n}");
                let key = (namespace.to_string(), name.clone());
                assert_eq!(
                    set.get(namespace, &name).map(describe),
                    truth.get(&key).map(|p| describe(p)),
                    "round {round}: {namespace}/{name}"
                );
            }
            let got: BTreeSet<String> = set
                .in_namespace(namespace)
                .map(|i| describe(set.at(i)))
                .collect();
            let want: BTreeSet<String> = truth
                .values()
                .filter(|p| p.namespace == namespace)
                .map(|p| describe(p))
                .collect();
            assert_eq!(got, want, "round {round}: pods of {namespace}");
        }
        let mut namespaces: Vec<&str> = set.namespaces().collect();
        namespaces.sort_unstable();
        let want: Vec<&str> = truth
            .values()
            .map(|p| p.namespace.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            namespaces, want,
            "round {round}: namespaces with pods, each once"
        );
        for (first, last) in [(0, 63), (5, 9), (17, 17), (40, 45)] {
            let (first, last) = (
                IpAddr::from([10, 0, 0, first]),
                IpAddr::from([10, 0, 0, last]),
            );
            let mut got: Vec<String> = set
                .between(first, last)
                .map(|i| describe(set.at(i)))
                .collect();
            let mut want: Vec<String> = truth
                .values()
                .flat_map(|p| {
                    p.ips
                        .iter()
                        .filter(|&ip| (first..=last).contains(ip))
                        .map(|_| describe(p))
                })
                .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "round {round}: addresses {first}-{last}");
            assert_eq!(
                set.has_ip(first),
                truth.values().any(|p| p.ips.contains(&first))
            );
        }
        for (key, value) in [("app", "a"), ("app", "c"), ("tier", "x"), ("tier", "a")] {
            let got: BTreeSet<String> = set
                .labelled(key, value)
                .map(|i| describe(set.at(i)))
                .collect();
            let want: BTreeSet<String> = truth
                .values()
                .filter(|p| p.labels.get(key).map(String::as_str) == Some(value))
                .map(|p| describe(p))
                .collect();
            assert_eq!(got, want, "round {round}: {key}={value}");
        }
    }

    /// Random batches of additions, replacements, deletions (of pods there and not there) and
    /// unchanged pods, applied one set after the other: every set answers as one built afresh
    /// from the same pods would, both while it shares its base and after the layers are folded
    /// into a new one.
    #[test]
    fn a_set_derived_by_changes_answers_as_one_built_afresh() {
        let mut rng = Rng(15);
        let mut truth = Truth::new();
        for namespace in &NAMESPACES[..4] {
            for n in 0..NAMES / 2 {
                let name = format!("pod-{n}");
                let pod = random_pod(&mut rng, namespace, &name);
                truth.insert((namespace.to_string(), name), pod);
            }
        }
        let mut set = PodSet::new(truth.values().cloned().collect());
        agrees(&set, &truth, 0);
        let (mut shared, mut folded) = (0, 0);
        for round in 1..=120 {
            let mut changes = Vec::new();
            for _ in 0..1 + rng.below(40) {
                let namespace = NAMESPACES[rng.below(NAMESPACES.len())];
                let name = format!("pod-{}", rng.below(NAMES));
                let key = (namespace.to_string(), name.clone());
                let pod = match rng.below(4) {
                    0 => None,
                    // Unchanged: the very pod the set holds.
                    1 => truth.get(&key).cloned(),
                    _ => Some(random_pod(&mut rng, namespace, &name)),
                };
                match &pod {
                    Some(pod) => truth.insert(key, pod.clone()),
                    None => truth.remove(&key),
                };
                changes.push(PodChange {
                    namespace: namespace.to_string(),
                    name,
                    pod,
                });
            }
            let next = set.changed(changes);
            if next.base_id() == set.base_id() {
                shared += 1;
            } else {
                folded += 1;
            }
            set = next;
            agrees(&set, &truth, round);
        }
        assert!(
            shared > 0 && folded > 0,
            "both paths taken: {shared} shared, {folded} folded"
        );
    }

    /// A pod changed twice in one batch is there once, as the last change says.
    #[test]
    fn a_pod_changed_twice_in_one_batch_is_there_once_as_last_said() {
        let mut rng = Rng(3);
        let first = random_pod(&mut rng, "grid", "pod-1");
        let set = PodSet::new(vec![first.clone()]);
        let (a, b) = (
            random_pod(&mut rng, "grid", "pod-1"),
            random_pod(&mut rng, "grid", "pod-1"),
        );
        let change = |pod: &Arc<PodInfo>| PodChange {
            namespace: "grid".into(),
            name: "pod-1".into(),
            pod: Some(pod.clone()),
        };
        let set = set.changed([change(&a), change(&b)]);
        assert_eq!(set.len(), 1);
        assert!(std::ptr::eq(set.get("grid", "pod-1").expect("there"), &*b));
    }
}
