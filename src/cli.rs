//! The command line: clap derive definitions, and `run()` that wires the parts together.
//!
//! Exit codes: 0 success, 1 a verdict the caller must act on (later commands), 2 bad input
//! (unreadable files or queries, invalid objects), with a message naming what is wrong.

use std::{
    io::{self, BufReader},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::{query, snapshot::ClusterSnapshot};

/// Keeps NetworkPolicies from cutting Apache Ignite off from the API server, DNS and its peers.
#[derive(Debug, Parser)]
#[command(name = "ignite-netpol", version, about)]
pub struct Args {
    /// Log filter (tracing `EnvFilter` syntax), logs go to stderr.
    #[arg(long, env = "IGNITE_NETPOL_LOG", default_value = "warn", global = true)]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer connectivity queries (JSON lines) against a cluster snapshot.
    Eval(EvalArgs),
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Cluster snapshot files (YAML or JSON, as `kubectl get -o yaml` prints), applied in order;
    /// repeat the flag or separate with commas.
    #[arg(
        long,
        short = 'c',
        env = "IGNITE_NETPOL_CLUSTER",
        required = true,
        value_delimiter = ','
    )]
    pub cluster: Vec<PathBuf>,

    /// Query file, one JSON object per line; `-` reads stdin.
    #[arg(long, short = 'q', env = "IGNITE_NETPOL_QUERIES", default_value = "-")]
    pub queries: String,
}

/// Parses the command line, runs it, and turns errors into exit code 2 with a message.
pub fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing(&args.log);
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .init();
}

/// Runs a parsed command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Args { log: _, command } = args;
    match command {
        Command::Eval(eval) => run_eval(eval),
    }
}

fn load_cluster(paths: &[PathBuf]) -> anyhow::Result<(ClusterSnapshot, crate::policy::Cluster)> {
    let snapshot = ClusterSnapshot::load_files(paths)?;
    for (kind, n) in &snapshot.skipped {
        tracing::info!(%kind, count = n, "Skipped objects of a kind the engine does not read");
    }
    let cluster = snapshot.cluster().context("building the cluster model")?;
    Ok((snapshot, cluster))
}

fn run_eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let EvalArgs { cluster, queries } = args;
    let (_, cluster) = load_cluster(&cluster)?;
    let stdout = io::stdout().lock();
    let answered = if queries == "-" {
        query::run(&cluster, io::stdin().lock(), stdout)
    } else {
        let file =
            std::fs::File::open(&queries).with_context(|| format!("{queries}: cannot read"))?;
        query::run(&cluster, BufReader::new(file), stdout)
    }
    .with_context(|| format!("queries from {queries}"))?;
    tracing::info!(answered, "Answered queries");
    Ok(ExitCode::SUCCESS)
}
