//! The labels of a pod or namespace: a map from key to value, kept as a sorted vector.
//!
//! A cluster holds one label set per pod, most with two to six labels. A `BTreeMap` allocates a
//! node of eleven slots for any of them (~540 bytes); this holds exactly what is there, sorted
//! by key, with the map's operations and the map's iteration order, equality and hashing.

use std::{borrow::Borrow, fmt};

/// The labels of a pod or namespace.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// No labels.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`.
    pub fn get<Q: Borrow<str> + ?Sized>(&self, key: &Q) -> Option<&String> {
        self.find(key.borrow()).ok().map(|i| &self.0[i].1)
    }

    /// The stored key and value of `key`.
    pub fn get_key_value<Q: Borrow<str> + ?Sized>(&self, key: &Q) -> Option<(&String, &String)> {
        self.find(key.borrow())
            .ok()
            .map(|i| (&self.0[i].0, &self.0[i].1))
    }

    /// Whether `key` is set.
    pub fn contains_key<Q: Borrow<str> + ?Sized>(&self, key: &Q) -> bool {
        self.find(key.borrow()).is_ok()
    }

    /// Sets `key` to `value`; the value it had.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`; the value it had.
    pub fn remove<Q: Borrow<str> + ?Sized>(&mut self, key: &Q) -> Option<String> {
        self.find(key.borrow()).ok().map(|i| self.0.remove(i).1)
    }

    /// The pairs, by key.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &String)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values, by key.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Builds from pairs in any order; a later value of a key wins, as in a map.
    fn from_pairs(mut pairs: Vec<(String, String)>) -> Self {
        // Stable: among equal keys the last one given is the last one here.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        out.shrink_to_fit();
        Self(out)
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from_pairs(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for Labels {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl From<std::collections::BTreeMap<String, String>> for Labels {
    fn from(map: std::collections::BTreeMap<String, String>) -> Self {
        // Already sorted and unique.
        let mut pairs: Vec<(String, String)> = map.into_iter().collect();
        pairs.shrink_to_fit();
        Self(pairs)
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for Labels {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k.into(), v.into());
        }
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Labels {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl serde::Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The same operations on a `BTreeMap` and on `Labels` give the same answers.
    #[test]
    fn behaves_as_the_map_it_replaces() {
        let ops: [(&str, &str); 7] = [
            ("app", "web"),
            ("tier", "front"),
            ("app", "api"),
            ("a", "1"),
            ("zone", "x"),
            ("tier", "back"),
            ("", "empty-key"),
        ];
        let mut map = BTreeMap::new();
        let mut labels = Labels::new();
        for (k, v) in ops {
            assert_eq!(
                map.insert(k.to_string(), v.to_string()),
                labels.insert(k.to_string(), v.to_string())
            );
        }
        let pairs: Vec<_> = map.iter().collect();
        assert_eq!(pairs, labels.iter().collect::<Vec<_>>());
        assert_eq!(format!("{map:?}"), format!("{labels:?}"));
        assert_eq!(
            labels,
            ops.into_iter().collect::<Labels>(),
            "last value wins"
        );
        assert_eq!(labels, Labels::from(map.clone()));
        for k in ["app", "tier", "a", "zone", "", "missing", "ap"] {
            assert_eq!(map.get(k), labels.get(k), "{k}");
            assert_eq!(map.contains_key(k), labels.contains_key(k), "{k}");
        }
        assert_eq!(map.remove("tier"), labels.remove("tier"));
        assert_eq!(map.remove("tier"), labels.remove("tier"));
        assert_eq!(map.len(), labels.len());
        assert_eq!(
            serde_json::to_string(&map).ok(),
            serde_json::to_string(&labels).ok()
        );
    }
}
