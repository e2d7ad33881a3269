//! The command line: arguments in [`args`], one module per larger command, and `run()` that
//! wires the parts together.
//!
//! Exit codes: 0 success, 1 a verdict the caller must act on, 2 bad input (unreadable files or
//! queries, invalid objects), with a message naming what is wrong.

pub mod args;
mod check;
mod report;
mod scan;
mod serve;

use std::{
    io::{self, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use clap::Parser;

pub use args::*;
pub use serve::EMBEDDED_CLUSTER;

use crate::{
    admission, certs,
    ignite::{Compiled, Config, Environment, generate},
    query,
    snapshot::ClusterSnapshot,
};

/// What the binary provides that the library must not choose: how to hand freed memory back to
/// the OS (it depends on the global allocator, which only the binary sets).
pub(crate) static RELEASE_MEMORY: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// As [`main`], with a function that returns freed memory to the OS, called after each rebuild
/// of the live view.
pub fn main_with(release_memory: fn()) -> ExitCode {
    let _ = RELEASE_MEMORY.set(release_memory);
    main()
}

/// Parses the command line, runs it, and turns errors into exit code 2 with a message.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let default_filter = match args.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    init_tracing(
        args.log.as_deref().unwrap_or(default_filter),
        args.log_format,
    );
    match run(args) {
        Ok(code) => code,
        // A reader that went away (`ignite-netpol check … | head`) is no error of ours.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Runs a parsed command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Args {
        log: _,
        log_format: _,
        command,
    } = args;
    match command {
        Command::Eval(eval) => run_eval(eval),
        Command::Check(check) => check::run(check),
        Command::Review(review) => run_review(review),
        Command::Generate(generate) => run_generate(generate),
        Command::Serve(serve) => serve::run(*serve),
        Command::Certs(certs) => run_certs(certs),
        Command::Scan(scan) => scan::run(scan),
        Command::Report(report) => report::run(report),
        Command::Config(ConfigCommand::Print { config }) => {
            let cfg = load_config(config.as_deref())?;
            write!(io::stdout().lock(), "{}", cfg.config.to_yaml())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) fn load_config(path: Option<&Path>) -> anyhow::Result<Compiled> {
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
    let snapshot = ClusterSnapshot::load_files(&args.snapshot.cluster)?;
    let env = Environment::build(&snapshot, &cfg).context("building the cluster model")?;
    Ok((snapshot, cfg, env))
}

fn run_certs(args: CertsArgs) -> anyhow::Result<ExitCode> {
    let CertsArgs {
        service,
        namespace,
        out,
        sans,
        days,
    } = args;
    let issued = certs::issue(&service, &namespace, &sans, days).context("issuing certificates")?;
    let files =
        certs::write(&out, &issued).with_context(|| format!("{}: cannot write", out.display()))?;
    for f in &files {
        eprintln!("wrote {}", f.display());
    }
    writeln!(io::stdout().lock(), "{}", issued.ca_bundle())?;
    Ok(ExitCode::SUCCESS)
}

fn run_review(args: ReviewArgs) -> anyhow::Result<ExitCode> {
    let ReviewArgs { decision, mode } = args;
    let (_, cfg, env) = load_decision_inputs(&decision)?;
    let mut body = Vec::new();
    io::stdin()
        .read_to_end(&mut body)
        .context("reading the AdmissionReview from stdin")?;
    let options = admission::ReviewOptions {
        mode,
        validating: false,
    };
    let reviewed = admission::review(&env, &cfg, &body, options);
    writeln!(
        io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&admission::to_json(&reviewed.answer))?
    )?;
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
    let generated = generate::for_namespace(&env, &cfg, &namespace, &name, with_ingress)
        .map_err(anyhow::Error::msg)?;
    let policy = generate::manifest(&generated.policy)?;
    let mut out = io::stdout().lock();
    for note in &generated.notes {
        eprintln!("note: {note}");
        writeln!(out, "# {note}")?;
    }
    write!(out, "{}", serde_saphyr::to_string(&policy)?)?;
    out.flush()?;
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
    let EvalArgs {
        snapshot: SnapshotFiles { cluster },
        queries,
    } = args;
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
