//! The command line: clap derive definitions, and `run()` that wires the parts together.
//!
//! Exit codes: 0 success, 1 a verdict the caller must act on (later commands), 2 bad input
//! (unreadable files or queries, invalid objects), with a message naming what is wrong.

use std::{
    io::{self, BufReader, Read, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::Value;

use crate::{
    admission,
    audit::{AuditConfig, Destination},
    certs,
    cluster::{self, reconcile::ReconcileMode},
    ignite::{
        Compiled, Config, Environment, Mode, Operation, PolicyRequest, Verdict, decide, generate,
        message, report,
    },
    query,
    server::{self, CertFiles, Limits, OnUnsynced, ServeConfig, Server},
    snapshot::ClusterSnapshot,
};

/// Keeps NetworkPolicies from cutting Apache Ignite off from the API server, DNS and its peers.
#[derive(Debug, Parser)]
#[command(name = "ignite-netpol", version, about)]
pub struct Args {
    /// Log filter (tracing `EnvFilter` syntax); logs go to stderr. Default: `info` for `serve`,
    /// `warn` for the other commands.
    #[arg(long, env = "IGNITE_NETPOL_LOG", global = true)]
    pub log: Option<String>,

    /// Log format.
    #[arg(
        long,
        env = "IGNITE_NETPOL_LOG_FORMAT",
        default_value = "plain",
        global = true
    )]
    pub log_format: LogFormat,

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
    /// Serve the HTTPS admission webhook (and the plain-HTTP admin port).
    Serve(Box<ServeArgs>),
    /// Write a CA and a serving certificate for the webhook's Service; print the caBundle.
    Certs(CertsArgs),
    /// Report every in-scope namespace whose Ignite pods are cut off, from a live cluster or
    /// snapshot files (exit 1 when any is).
    Scan(ScanArgs),
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Snapshot files instead of a live cluster.
    #[arg(
        long,
        short = 'c',
        env = "IGNITE_NETPOL_CLUSTER",
        value_delimiter = ','
    )]
    pub cluster: Vec<PathBuf>,

    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster config).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Configuration file (YAML).
    #[arg(long, env = "IGNITE_NETPOL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Output format.
    #[arg(
        long,
        short = 'o',
        env = "IGNITE_NETPOL_OUTPUT",
        default_value = "text"
    )]
    pub output: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// `live` (watch the cluster; the default inside a pod) or snapshot files to decide on;
    /// outside a pod without any, the embedded seed cluster.
    #[arg(
        long,
        short = 'c',
        env = "IGNITE_NETPOL_CLUSTER",
        value_delimiter = ','
    )]
    pub cluster: Vec<PathBuf>,

    /// With the live view: report cut-off namespaces (gauge, Events), also update managed rules,
    /// or do nothing.
    #[arg(long, env = "IGNITE_NETPOL_RECONCILE", default_value = "report")]
    pub reconcile: ReconcileMode,

    /// How reviews are answered until the live view has synced.
    #[arg(long, env = "IGNITE_NETPOL_ON_UNSYNCED", default_value = "deny")]
    pub on_unsynced: OnUnsynced,

    /// With the live view: how long a burst of changes may last before the view is rebuilt.
    #[arg(long, env = "IGNITE_NETPOL_SETTLE", default_value = "500ms", value_parser = parse_duration)]
    pub settle: Duration,

    /// Configuration file (YAML); every key has a default.
    #[arg(long, env = "IGNITE_NETPOL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address of the HTTPS webhook.
    #[arg(long, env = "IGNITE_NETPOL_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    /// Address of the plain-HTTP admin port (/healthz, /readyz, /metrics).
    #[arg(
        long,
        env = "IGNITE_NETPOL_ADMIN_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub admin_listen: SocketAddr,

    /// Serving certificate chain (PEM); reloaded when it changes.
    #[arg(long, env = "IGNITE_NETPOL_TLS_CERT", default_value = "certs/tls.crt")]
    pub tls_cert: PathBuf,

    /// Serving private key (PEM); reloaded when it changes.
    #[arg(long, env = "IGNITE_NETPOL_TLS_KEY", default_value = "certs/tls.key")]
    pub tls_key: PathBuf,

    /// CA (PEM) that client certificates must chain to; when set, clients must present one.
    #[arg(long, env = "IGNITE_NETPOL_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,

    /// How often the certificate files are checked for changes.
    #[arg(long, env = "IGNITE_NETPOL_TLS_RELOAD_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,

    /// Largest request body accepted.
    #[arg(long, env = "IGNITE_NETPOL_MAX_BODY_BYTES", default_value_t = 3 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Deadline for a whole review; keep it under the webhook's timeoutSeconds.
    #[arg(long, env = "IGNITE_NETPOL_REQUEST_TIMEOUT", default_value = "4s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Deadline for the TLS handshake and the request headers.
    #[arg(long, env = "IGNITE_NETPOL_HEADER_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// How long in-flight reviews may take to finish after SIGTERM.
    #[arg(long, env = "IGNITE_NETPOL_SHUTDOWN_TIMEOUT", default_value = "25s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Audit log file, or `-` for stdout.
    #[arg(long, env = "IGNITE_NETPOL_AUDIT_LOG", default_value = "-")]
    pub audit_log: String,

    /// Rotate the audit log file at this size.
    #[arg(long, env = "IGNITE_NETPOL_AUDIT_MAX_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub audit_max_bytes: u64,

    /// Rotated audit log files kept.
    #[arg(long, env = "IGNITE_NETPOL_AUDIT_KEEP", default_value_t = 5)]
    pub audit_keep: usize,

    /// Audit records queued before new ones are dropped (and counted).
    #[arg(long, env = "IGNITE_NETPOL_AUDIT_QUEUE", default_value_t = 65_536)]
    pub audit_queue: usize,
}

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// The webhook's Service name.
    #[arg(long, env = "IGNITE_NETPOL_SERVICE", default_value = "ignite-netpol")]
    pub service: String,

    /// The webhook's namespace.
    #[arg(long, env = "IGNITE_NETPOL_NAMESPACE", default_value = "ignite-netpol")]
    pub namespace: String,

    /// Directory for ca.crt, ca.key, tls.crt, tls.key.
    #[arg(long, env = "IGNITE_NETPOL_CERTS_OUT", default_value = "certs")]
    pub out: PathBuf,

    /// Extra subject alternative names (DNS names or IPs), e.g. localhost,127.0.0.1.
    #[arg(long = "san", env = "IGNITE_NETPOL_EXTRA_SANS", value_delimiter = ',')]
    pub sans: Vec<String>,

    /// Validity in days.
    #[arg(long, env = "IGNITE_NETPOL_CERT_DAYS", default_value_t = 365)]
    pub days: u32,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.trim().len()),
    );
    let n: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 500ms, 5s, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("invalid duration unit in {s:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Cluster snapshot files, required.
#[derive(Debug, clap::Args)]
pub struct SnapshotFiles {
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
}

/// The snapshot and configuration every decision reads.
#[derive(Debug, clap::Args)]
pub struct DecisionArgs {
    #[command(flatten)]
    pub snapshot: SnapshotFiles,

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

    /// The namespace of policies whose files name none (as `kubectl apply -n`).
    #[arg(long, short = 'n', env = "IGNITE_NETPOL_NAMESPACE")]
    pub namespace: Option<String>,

    /// NetworkPolicy files, judged and applied in order (a denied policy is not applied).
    #[arg(required = true)]
    pub policies: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Plain,
    Json,
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
    #[command(flatten)]
    pub snapshot: SnapshotFiles,

    /// Query file, one JSON object per line; `-` reads stdin.
    #[arg(long, short = 'q', env = "IGNITE_NETPOL_QUERIES", default_value = "-")]
    pub queries: String,
}

/// What the binary provides that the library must not choose: how to hand freed memory back to
/// the OS (it depends on the global allocator, which only the binary sets).
static RELEASE_MEMORY: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

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
        Command::Check(check) => run_check(check),
        Command::Review(review) => run_review(review),
        Command::Generate(generate) => run_generate(generate),
        Command::Serve(serve) => run_serve(*serve),
        Command::Certs(certs) => run_certs(certs),
        Command::Scan(scan) => run_scan(scan),
        Command::Config(ConfigCommand::Print { config }) => {
            let cfg = load_config(config.as_deref())?;
            write!(io::stdout().lock(), "{}", cfg.config.to_yaml())?;
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
    let snapshot = ClusterSnapshot::load_files(&args.snapshot.cluster)?;
    let env = Environment::build(&snapshot, &cfg).context("building the cluster model")?;
    Ok((snapshot, cfg, env))
}

fn run_check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let CheckArgs {
        decision,
        output,
        mode,
        namespace: default_namespace,
        policies,
    } = args;
    let (mut snapshot, cfg, mut env) = load_decision_inputs(&decision)?;
    let mut results = Vec::new();
    for path in &policies {
        let mut file = ClusterSnapshot::default();
        match file.add_file_in(path, default_namespace.as_deref()) {
            Err(crate::snapshot::SnapshotError::Object(invalid))
                if invalid.error.field == "metadata.namespace" =>
            {
                anyhow::bail!(
                    "{}: {} {} has no metadata.namespace: pass --namespace (as kubectl apply -n)",
                    invalid.at,
                    invalid.kind,
                    invalid.name.trim_start_matches('/')
                )
            }
            other => other?,
        }
        let others = file.object_count() - file.network_policies.len()
            + file.skipped.values().sum::<usize>();
        if others > 0 {
            tracing::warn!(file = %path.display(), others, "Ignoring objects that are not NetworkPolicies");
        }
        for np in file.network_policies.as_slice() {
            let name = np.metadata.name.clone().unwrap_or_default();
            let namespace = np.metadata.namespace.clone().unwrap_or_default();
            if let Some(given) = default_namespace.as_deref()
                && namespace != given
            {
                anyhow::bail!(
                    "{}: NetworkPolicy {name} is in namespace {namespace}, which does not match --namespace {given}",
                    path.display()
                );
            }
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
                validating: false,
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
    let mut out = io::stdout().lock();
    match output {
        OutputFormat::Json => {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "results": results }))?
            )?;
        }
        OutputFormat::Text => {
            for d in &results {
                writeln!(out, "{}", message::summary(d))?;
                if !d.missing.is_empty() || !d.unverified.is_empty() {
                    for line in message::explain(d).lines() {
                        writeln!(out, "    {line}")?;
                    }
                }
                for w in &d.warnings {
                    writeln!(out, "    warning: {w}")?;
                }
            }
        }
    }
    out.flush()?;
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

/// The seed cluster, served when `serve` is given no `--cluster`.
pub const EMBEDDED_CLUSTER: &str = include_str!("../examples/seed/cluster.yaml");

fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ServeArgs {
        cluster,
        reconcile,
        on_unsynced,
        settle,
        config,
        listen,
        admin_listen,
        tls_cert,
        tls_key,
        client_ca,
        tls_reload_interval,
        max_body_bytes,
        request_timeout,
        header_timeout,
        shutdown_timeout,
        audit_log,
        audit_max_bytes,
        audit_keep,
        audit_queue,
    } = args;
    let cfg = load_config(config.as_deref())?;
    let in_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let live = match cluster.as_slice() {
        [one] if one.as_os_str() == "live" => true,
        [] => in_pod,
        _ => false,
    };
    let snapshot = if live {
        ClusterSnapshot::default()
    } else if cluster.is_empty() {
        let mut s = ClusterSnapshot::default();
        s.add_text(EMBEDDED_CLUSTER, "embedded seed cluster")?;
        s
    } else {
        ClusterSnapshot::load_files(&cluster)?
    };
    let env = Environment::build(&snapshot, &cfg).context("building the cluster model")?;
    let serve = ServeConfig {
        listen,
        admin_listen,
        tls: CertFiles {
            cert: tls_cert,
            key: tls_key,
        },
        client_ca,
        tls_reload_interval,
        limits: Limits {
            max_body: max_body_bytes,
            body_timeout: request_timeout,
            request_timeout,
        },
        header_timeout,
        shutdown_timeout,
        audit: AuditConfig {
            destination: if audit_log == "-" {
                Destination::Stdout
            } else {
                Destination::File(audit_log.into())
            },
            queue: audit_queue,
            max_bytes: audit_max_bytes,
            keep: audit_keep,
            flush_every: Duration::from_secs(1),
        },
        ready_at_start: !live,
        on_unsynced,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = Server::bind(serve, env, cfg.clone()).await?;
        if live {
            let client = kube::Client::try_default()
                .await
                .context("connecting to the cluster (in-cluster config or KUBECONFIG)")?;
            let state = server.state();
            let live = cluster::LiveConfig {
                cfg,
                settle,
                reconcile,
                instance: std::env::var("POD_NAME").ok(),
            };
            let view = state.clone();
            tokio::spawn(cluster::run_live(
                client,
                live,
                move |env| view.set_view(env),
                state.metrics.reconcile.clone(),
                state,
                || {
                    if let Some(release) = RELEASE_MEMORY.get() {
                        release();
                    }
                },
            ));
        }
        server.run(server::shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn run_scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let ScanArgs {
        cluster,
        kubeconfig,
        config,
        output,
    } = args;
    let cfg = load_config(config.as_deref())?;
    let snapshot = if cluster.is_empty() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(async {
            let client = match kubeconfig {
                Some(path) => {
                    let kc = kube::config::Kubeconfig::read_from(&path)
                        .with_context(|| format!("--kubeconfig {}: cannot read", path.display()))?;
                    let config =
                        kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
                    kube::Client::try_from(config)?
                }
                None => kube::Client::try_default()
                    .await
                    .context("connecting to the cluster")?,
            };
            cluster::list_once(&client, &cfg).await
        })?
    } else {
        ClusterSnapshot::load_files(&cluster)?
    };
    let env = Environment::build(&snapshot, &cfg).context("building the cluster model")?;
    let reports = report::scan(&env, &cfg);
    let broken = reports.iter().filter(|r| r.broken()).count();
    let mut out = io::stdout().lock();
    match output {
        OutputFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "namespaces": reports }))?
        )?,
        OutputFormat::Text => {
            for r in &reports {
                let state = if r.broken() {
                    format!(
                        "CUT OFF: missing {}",
                        crate::ignite::decision::kinds(&r.missing)
                    )
                } else {
                    "ok".into()
                };
                writeln!(
                    out,
                    "{} (mode {}, {} Ignite pods): {state}",
                    r.namespace, r.mode, r.ignite_pods
                )?;
                for m in &r.missing {
                    writeln!(
                        out,
                        "  - {}: {} -> {} {}/{}: {}",
                        m.flow, m.from, m.target, m.port, m.protocol, m.reason
                    )?;
                }
                if !r.unmatched_pods.is_empty() {
                    writeln!(
                        out,
                        "  ! not judged: {} listen on an Ignite peer port but match no ignitePods",
                        r.unmatched_pods.join(", ")
                    )?;
                }
            }
            for gap in &env.gaps {
                writeln!(out, "! not checked: {gap} in the configuration (--config)")?;
            }
            writeln!(out, "{} namespaces judged, {broken} cut off", reports.len())?;
        }
    }
    Ok(if broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
        serde_json::to_string_pretty(&admission::to_json(&reviewed.response))?
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
    let mut policy = serde_json::to_value(&generated.policy)?;
    if let Value::Object(map) = &mut policy {
        map.insert("apiVersion".into(), "networking.k8s.io/v1".into());
        map.insert("kind".into(), "NetworkPolicy".into());
        let ordered: serde_json::Map<String, Value> = ["apiVersion", "kind", "metadata", "spec"]
            .iter()
            .filter_map(|k| map.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
        policy = Value::Object(ordered);
    }
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
