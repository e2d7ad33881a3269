//! `eval` queries: JSON lines in, JSON lines out.
//!
//! A query is `{"from": END, "to": END, "port": N, "protocol": "TCP"}` where `END` is
//! `{"namespace": NS, "pod": NAME}` or `{"ip": ADDR}`; `protocol` defaults to TCP. The answer is
//! the query object with `"allowed"` and an `"explanation"` (per side: status, isolating
//! policies, allowing rule) added. Other fields of the query are kept as they are.

use std::{
    io::{BufRead, Write},
    net::IpAddr,
};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::policy::{Cluster, Connection, Endpoint, Protocol, Verdict, View, port::port_number};

/// Why a query line could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("line {line}: {message}")]
    Query { line: usize, message: String },
    #[error("reading queries: {0}")]
    Read(#[source] std::io::Error),
    #[error("writing answers: {0}")]
    Write(#[source] std::io::Error),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    namespace: Option<String>,
    pod: Option<String>,
    ip: Option<String>,
}

/// Reads one query object into a connection of `cluster`; the error says what is wrong.
pub fn connection<'a>(
    cluster: &'a Cluster,
    query: &Map<String, Value>,
) -> Result<Connection<'a>, String> {
    let end = |key: &str| -> Result<Endpoint<'a>, String> {
        let raw = query
            .get(key)
            .ok_or_else(|| format!("missing field {key:?}"))?;
        let raw: RawEndpoint =
            serde_json::from_value(raw.clone()).map_err(|e| format!("{key}: {e}"))?;
        match raw {
            RawEndpoint {
                namespace: Some(ns),
                pod: Some(pod),
                ip: None,
            } => cluster
                .pod(&ns, &pod)
                .map(Endpoint::Pod)
                .ok_or_else(|| format!("{key}: pod {ns}/{pod} is not in the cluster")),
            RawEndpoint {
                namespace: None,
                pod: None,
                ip: Some(ip),
            } => ip
                .parse::<IpAddr>()
                .map(Endpoint::Ip)
                .map_err(|_| format!("{key}.ip: invalid IP address {ip:?}")),
            _ => Err(format!(
                "{key}: expected {{\"namespace\", \"pod\"}} or {{\"ip\"}}"
            )),
        }
    };
    let port = match query.get("port") {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("port: {n} is not a valid port (1-65535)"))
            .and_then(|n| port_number(n, &"port").map_err(|e| e.to_string()))?,
        Some(other) => return Err(format!("port: expected a number, found {other}")),
        None => return Err("missing field \"port\"".into()),
    };
    let protocol = match query.get("protocol") {
        None | Some(Value::Null) => Protocol::Tcp,
        Some(Value::String(s)) => s.parse().map_err(|e| format!("protocol: {e}"))?,
        Some(other) => return Err(format!("protocol: expected a string, found {other}")),
    };
    Ok(Connection {
        from: end("from")?,
        to: end("to")?,
        port,
        protocol,
    })
}

/// Adds a verdict to a query object.
pub fn annotate(query: &mut Map<String, Value>, verdict: &Verdict) {
    query.insert("allowed".into(), Value::Bool(verdict.allowed));
    query.insert(
        "explanation".into(),
        serde_json::json!({ "egress": verdict.egress, "ingress": verdict.ingress }),
    );
}

/// Answers every query line of `input` on `output`, in order. Blank lines are skipped; the first
/// unreadable line stops the run with its line number.
pub fn run(
    cluster: &Cluster,
    input: impl BufRead,
    mut output: impl Write,
) -> Result<usize, EvalError> {
    let view = View::new(cluster);
    let mut answered = 0;
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(EvalError::Read)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| EvalError::Query {
            line: i + 1,
            message,
        };
        let mut query = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(map)) => map,
            Ok(other) => return Err(bad(format!("expected a JSON object, found {other}"))),
            Err(e) => return Err(bad(format!("invalid JSON: {e}"))),
        };
        let conn = connection(cluster, &query).map_err(bad)?;
        let verdict = view.evaluate(&conn);
        annotate(&mut query, &verdict);
        serde_json::to_writer(&mut output, &query).map_err(|e| EvalError::Write(e.into()))?;
        output.write_all(b"\n").map_err(EvalError::Write)?;
        answered += 1;
    }
    output.flush().map_err(EvalError::Write)?;
    Ok(answered)
}
