//! What each kind of review in `bench/mix.rs`'s rotating set costs in process: parse, decide,
//! encode the answer, build the audit record and encode it as the writer thread does — the
//! request path short of TLS, HTTP and the disk. `bench/webhook.sh`'s `h1-mix` load is the mean
//! of these; this says which reviews set it.
//!
//! `cargo run --release --locked --example mix_kinds` prints, per policy kind of the mix and
//! for the 10 % of reviews in namespaces without Ignite, the mean time per review over 200
//! passes and the mean size of its audit record.

use std::{hint::black_box, time::Instant};

/// The allocator the binary uses, so figures match what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ignite_netpol::{
    admission::{self, audit},
    ignite::{Compiled, Environment},
    snapshot::ClusterSnapshot,
};

#[allow(dead_code)]
#[path = "mix.rs"]
mod mix;

const PASSES: u32 = 200;

/// What `mix::spec` posts, by kind.
const KINDS: [&str; 6] = [
    "generate's rules (DNS, API server, peers)",
    "ingress only",
    "egress open to everything (egress: [{}])",
    "default deny, both directions",
    "the seed's attempt (DNS rule without `to`)",
    "DNS by a lone podSelector",
];

fn main() -> anyhow::Result<()> {
    let mut snapshot = ClusterSnapshot::default();
    snapshot.add_text(include_str!("../examples/seed/cluster.yaml"), "seed")?;
    snapshot.add_text(&mix::cluster().to_string(), "mix")?;
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg)?;
    let bodies: Vec<Vec<u8>> = (0..1000)
        .map(|i| serde_json::to_vec(&mix::review(i)))
        .collect::<Result<_, _>>()?;
    // Kind 0-5 in an Ignite namespace, 6 for the namespaces without Ignite (every tenth review).
    let group = |i: usize| if i % 10 == 9 { 6 } else { (i / 3) % 6 };
    println!("| reviews | share of the mix | µs per review | audit record bytes |");
    println!("|---|---|---|---|");
    let mut total = 0.0;
    for kind in 0..=6 {
        let picked: Vec<&[u8]> = (0..bodies.len())
            .filter(|&i| group(i) == kind)
            .map(|i| bodies[i].as_slice())
            .collect();
        let mut bytes = 0;
        let started = Instant::now();
        for pass in 0..PASSES {
            for body in &picked {
                bytes += one(&env, &cfg, body, pass == 0)?;
            }
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(PASSES) / picked.len() as f64;
        total += per * picked.len() as f64;
        let what = KINDS
            .get(kind)
            .copied()
            .unwrap_or("in a namespace without Ignite");
        println!(
            "| {what} | {} % | {per:.1} | {} |",
            picked.len() / 10,
            bytes / picked.len()
        );
    }
    println!("\nmean over the 1,000 reviews: {:.1} µs", total / 1000.0);
    // The single body `bench/webhook.sh` posts in its `h1` and `h2` loads.
    let single = include_bytes!("review-3k.json");
    let mut bytes = 0;
    let started = Instant::now();
    for pass in 0..PASSES * 100 {
        bytes += one(&env, &cfg, single, pass == 0)?;
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(PASSES * 100);
    println!("bench/review-3k.json (the single body): {per:.1} µs, audit record {bytes} bytes");
    Ok(())
}

/// One review through the request path; the audit record's size when `measure`.
fn one(env: &Environment, cfg: &Compiled, body: &[u8], measure: bool) -> anyhow::Result<usize> {
    let reviewed = admission::review(env, cfg, black_box(body), Default::default());
    black_box(admission::to_bytes(&reviewed.answer));
    let sent = audit::Sent {
        status: 200,
        error: None,
        uid: None,
        latency_us: 1,
    };
    let record = audit::record("/validate", Some(reviewed), sent);
    let line = serde_json::to_vec(&record)?;
    Ok(if measure { line.len() } else { 0 })
}
