//! The command line: clap derive definitions, and `run()` that wires the parts together.
//!
//! Exit codes: 0 success, 1 a verdict the caller must act on (later commands), 2 bad input
//! (unreadable files or queries, invalid objects), with a message naming what is wrong.

use std::{
    io::{self, BufReader, Read},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::Value;

use crate::{
    admission,
    ignite::{
        Compiled, Config, Environment, Mode, Operation, PolicyRequest, Verdict, decide, generate,
        message,
    },
    query,
    snapshot::ClusterSnapshot,
};

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
    /// Judge NetworkPolicy files, applied in order onto a snapshot, as the webhook would.
    Check(CheckArgs),
    /// Answer an admission.k8s.io/v1 AdmissionReview from stdin exactly as the webhook would.
    Review(ReviewArgs),
    /// Print the most restrictive egress NetworkPolicy that lets a namespace's Ignite pods work.
    Generate(GenerateArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// The snapshot and configuration every decision reads.
#[derive(Debug, clap::Args)]
pub struct DecisionArgs {
    /// Cluster snapshot files (YAML or JSON), applied in order; repeat or separate with commas.
    #[arg(
        long,
        short = 'c',
        env = "IGNITE_NETPOL_CLUSTER",
        required = true,
        value_delimiter = ','
    )]
    pub cluster: Vec<PathBuf>,

    /// Configuration file (YAML); every key has a default.
    #[arg(long, env = "IGNITE_NETPOL_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub decision: DecisionArgs,

    /// Output format.
    #[arg(
        long,
        short = 'o',
        env = "IGNITE_NETPOL_OUTPUT",
        default_value = "text"
    )]
    pub output: OutputFormat,

    /// Judge every namespace in this mode instead of its label's.
    #[arg(long, env = "IGNITE_NETPOL_MODE")]
    pub mode: Option<Mode>,

    /// NetworkPolicy files, judged and applied in order (a denied policy is not applied).
    #[arg(required = true)]
    pub policies: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub decision: DecisionArgs,

    /// Judge the namespace in this mode instead of its label's.
    #[arg(long, env = "IGNITE_NETPOL_MODE")]
    pub mode: Option<Mode>,
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub decision: DecisionArgs,

    /// The namespace whose Ignite pods the policy is for.
    #[arg(long, short = 'n', env = "IGNITE_NETPOL_NAMESPACE")]
    pub namespace: String,

    /// The generated policy's name.
    #[arg(long, env = "IGNITE_NETPOL_NAME", default_value = "ignite-egress")]
    pub name: String,

    /// Also isolate ingress and admit only the peers on the peer ports.
    #[arg(long, env = "IGNITE_NETPOL_WITH_INGRESS")]
    pub with_ingress: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (defaults merged with --config).
    Print {
        /// Configuration file (YAML).
        #[arg(long, env = "IGNITE_NETPOL_CONFIG")]
        config: Option<PathBuf>,
    },
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
        Command::Check(check) => run_check(check),
        Command::Review(review) => run_review(review),
        Command::Generate(generate) => run_generate(generate),
        Command::Config(ConfigCommand::Print { config }) => {
            let cfg = load_config(config.as_deref())?;
            print!("{}", cfg.config.to_yaml());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Compiled> {
    let Some(path) = path else {
        return Ok(Compiled::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(Config::from_yaml(&text, &path.display().to_string())?)
}

fn load_decision_inputs(
    args: &DecisionArgs,
) -> anyhow::Result<(ClusterSnapshot, Compiled, Environment)> {
    let cfg = load_config(args.config.as_deref())?;
    let snapshot = ClusterSnapshot::load_files(&args.cluster)?;
    let env = Environment::build(&snapshot, &cfg).context("building the cluster model")?;
    Ok((snapshot, cfg, env))
}

fn run_check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let CheckArgs {
        decision,
        output,
        mode,
        policies,
    } = args;
    let (mut snapshot, cfg, mut env) = load_decision_inputs(&decision)?;
    let mut results = Vec::new();
    for path in &policies {
        let file = ClusterSnapshot::load_files(std::slice::from_ref(path))?;
        let others = file.object_count() - file.network_policies.len()
            + file.skipped.values().sum::<usize>();
        if others > 0 {
            tracing::warn!(file = %path.display(), others, "Ignoring objects that are not NetworkPolicies");
        }
        for np in file.network_policies.as_slice() {
            let namespace = np.metadata.namespace.clone().unwrap_or_default();
            let name = np.metadata.name.clone().unwrap_or_default();
            let operation = if snapshot.network_policies.get(&namespace, &name).is_some() {
                Operation::Update
            } else {
                Operation::Create
            };
            let request = PolicyRequest {
                operation,
                namespace: &namespace,
                name: &name,
                object: Some(np),
                mode,
            };
            let decision = decide(&env, &cfg, &request)?;
            let stored = match decision.verdict {
                Verdict::Allowed | Verdict::Warned => Some(np.clone()),
                Verdict::Patched => Some(apply_patch(np, decision.patch.as_ref())?),
                Verdict::Denied => None,
            };
            if let Some(stored) = stored {
                snapshot.network_policies.upsert(stored);
                env =
                    Environment::build(&snapshot, &cfg).context("rebuilding the cluster model")?;
            }
            results.push(decision);
        }
    }
    let changed = results
        .iter()
        .any(|d| matches!(d.verdict, Verdict::Denied | Verdict::Patched));
    match output {
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "results": results }))?
            );
        }
        OutputFormat::Text => {
            for d in &results {
                println!("{}", message::summary(d));
                if !d.missing.is_empty() {
                    for line in message::explain(d).lines() {
                        println!("    {line}");
                    }
                }
                for w in &d.warnings {
                    println!("    warning: {w}");
                }
            }
        }
    }
    Ok(if changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Applies a decision's patch to the policy it was computed for.
pub fn apply_patch(
    np: &NetworkPolicy,
    patch: Option<&json_patch::Patch>,
) -> anyhow::Result<NetworkPolicy> {
    let mut value = serde_json::to_value(np)?;
    if let Some(patch) = patch {
        json_patch::patch(&mut value, patch).context("applying the patch")?;
    }
    Ok(serde_json::from_value(value)?)
}

fn run_review(args: ReviewArgs) -> anyhow::Result<ExitCode> {
    let ReviewArgs { decision, mode } = args;
    let (_, cfg, env) = load_decision_inputs(&decision)?;
    let mut body = Vec::new();
    io::stdin()
        .read_to_end(&mut body)
        .context("reading the AdmissionReview from stdin")?;
    let reviewed = admission::review(&env, &cfg, &body, mode);
    println!(
        "{}",
        serde_json::to_string_pretty(&admission::to_json(&reviewed.response))?
    );
    Ok(ExitCode::SUCCESS)
}

fn run_generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let GenerateArgs {
        decision,
        namespace,
        name,
        with_ingress,
    } = args;
    let (_, cfg, env) = load_decision_inputs(&decision)?;
    if env.cluster.namespace(&namespace).is_none() {
        anyhow::bail!("namespace {namespace} is not in the cluster snapshot");
    }
    for problem in env.dns.problems.iter().chain(&env.api_server.problems) {
        tracing::warn!(%problem, "Incomplete targets");
    }
    let mut policy = serde_json::to_value(generate::egress_policy(
        &env,
        &cfg,
        &namespace,
        &name,
        with_ingress,
    ))?;
    if let Value::Object(map) = &mut policy {
        map.insert("apiVersion".into(), "networking.k8s.io/v1".into());
        map.insert("kind".into(), "NetworkPolicy".into());
        let ordered: serde_json::Map<String, Value> = ["apiVersion", "kind", "metadata", "spec"]
            .iter()
            .filter_map(|k| map.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
        policy = Value::Object(ordered);
    }
    print!("{}", serde_saphyr::to_string(&policy)?);
    Ok(ExitCode::SUCCESS)
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
