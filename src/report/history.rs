//! The decision history, read from audit log files (one JSON record per line, as `serve` writes
//! them): counts per verdict and user, the recent denials, patches and warnings, and counts
//! over time. A line that is not a record is counted, never fatal.

use std::{
    collections::BTreeMap,
    io::{self, BufRead},
};

use serde::Serialize;
use serde_json::Value;

/// How many recent events are kept.
pub const RECENT: usize = 20;

/// What the audit log says.
#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    /// The files read.
    pub files: Vec<String>,
    pub records: usize,
    /// Lines that were not audit records.
    pub unreadable: usize,
    pub by_verdict: BTreeMap<String, usize>,
    /// User → verdict → count.
    pub by_user: BTreeMap<String, BTreeMap<String, usize>>,
    /// The latest denials, patches and warnings, newest first.
    pub recent: Vec<Event>,
    /// Counts per verdict in each period (an hour when the log spans one day, else a day).
    pub over_time: Vec<Bucket>,
    /// (time, verdict) of every record, until `finish` counts them.
    #[serde(skip)]
    times: Vec<(String, String)>,
}

/// One decision worth a look.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub time: String,
    pub user: String,
    pub operation: String,
    /// `namespace/name`, or `Kind name` for a cluster-wide policy.
    pub object: String,
    pub verdict: String,
    /// Missing flows, excess findings or the first warning.
    pub why: String,
}

/// Counts in one period.
#[derive(Clone, Debug, Serialize)]
pub struct Bucket {
    /// `2026-12-03T08` (an hour) or `2026-12-03` (a day).
    pub period: String,
    pub counts: BTreeMap<String, usize>,
}

impl History {
    /// Reads one file's lines.
    pub fn read(&mut self, name: &str, reader: impl BufRead) -> io::Result<()> {
        self.files.push(name.to_string());
        for line in reader.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(v) if v.get("verdict").is_some() && v.get("time").is_some() => self.add(&v),
                _ => self.unreadable += 1,
            }
        }
        Ok(())
    }

    fn add(&mut self, v: &Value) {
        let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        let verdict = text("verdict");
        let user = v
            .pointer("/user/username")
            .and_then(Value::as_str)
            .unwrap_or("(unknown)")
            .to_string();
        self.records += 1;
        *self.by_verdict.entry(verdict.clone()).or_default() += 1;
        *self
            .by_user
            .entry(user.clone())
            .or_default()
            .entry(verdict.clone())
            .or_default() += 1;
        let time = text("time");
        self.times.push((time.clone(), verdict.clone()));
        if matches!(verdict.as_str(), "denied" | "patched" | "warned") {
            let object = match v.get("kind").and_then(Value::as_str) {
                Some(kind) => format!("{kind} {}", text("name")),
                None => format!("{}/{}", text("namespace"), text("name")),
            };
            self.recent.push(Event {
                time,
                user,
                operation: text("operation"),
                object,
                verdict,
                why: why(v),
            });
        }
    }

    /// Orders the recent events and counts the periods.
    pub fn finish(mut self) -> Self {
        self.recent.sort_by(|a, b| b.time.cmp(&a.time));
        self.recent.truncate(RECENT);
        let days: std::collections::BTreeSet<&str> = self
            .times
            .iter()
            .map(|(t, _)| t.get(..10).unwrap_or(t))
            .collect();
        let width = if days.len() <= 1 { 13 } else { 10 };
        let mut buckets: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (t, verdict) in &self.times {
            let period = t.get(..width).unwrap_or(t).to_string();
            *buckets
                .entry(period)
                .or_default()
                .entry(verdict.clone())
                .or_default() += 1;
        }
        self.over_time = buckets
            .into_iter()
            .map(|(period, counts)| Bucket { period, counts })
            .collect();
        self.times.clear();
        self
    }
}

/// Why a decision went as it did, in one line.
fn why(v: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(missing) = v.get("missing").and_then(Value::as_array)
        && !missing.is_empty()
    {
        let mut kinds: Vec<&str> = missing
            .iter()
            .filter_map(|m| m.get("flow").and_then(Value::as_str))
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        parts.push(format!("missing {}", kinds.join(", ")));
    }
    if let Some(excess) = v.get("excess").and_then(Value::as_array)
        && !excess.is_empty()
    {
        parts.push(format!("{} excess egress finding(s)", excess.len()));
    }
    if let Some(error) = v.get("error").and_then(Value::as_str) {
        parts.push(error.to_string());
    }
    if parts.is_empty()
        && let Some(w) = v.pointer("/warnings/0").and_then(Value::as_str)
    {
        parts.push(w.to_string());
    }
    parts.join("; ")
}
