//! The command line's arguments: clap derive definitions, doc comments as help, every flag also
//! read from an `IGNITE_NETPOL_*` variable. `serve`'s flags are grouped (cluster source, TLS,
//! limits, audit) and destructured without `..`, so an unwired flag fails to compile.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};

use crate::{
    cluster::reconcile::ReconcileMode,
    ignite::Mode,
    server::{OnUnsynced, PinThreads},
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
    /// The evidence for a security audit: per Ignite namespace, whether Ignite works, what
    /// allows each required flow, what else is reachable, and the decision history.
    Report(ReportArgs),
}

/// Where a cluster view comes from: snapshot files, else a live cluster.
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
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
}

/// What makes `scan` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// A namespace whose Ignite pods are cut off (always on).
    Cut,
    /// A namespace whose Ignite pods' egress allows more than Ignite needs.
    Excess,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Md,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Audit log files (JSON lines, as `serve --audit-log` writes) for the decision history.
    #[arg(long, value_delimiter = ',')]
    pub audit_log: Vec<PathBuf>,

    /// Output format.
    #[arg(long, short = 'o', default_value = "html")]
    pub output: ReportFormat,

    /// Only this namespace.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Also exit 1 on this (`excess`: egress wider than Ignite needs), for CI.
    #[arg(long, value_delimiter = ',')]
    pub fail_on: Vec<FailOn>,

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
    #[command(flatten)]
    pub source: ServeSourceArgs,

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

    /// Pin each connection thread to its own core when the process may run on exactly one CPU
    /// per thread: `auto` only when those are not the whole machine (a Guaranteed pod with whole
    /// CPUs under the kubelet's static CPU manager), `on` also on a machine of its own, `off`
    /// never.
    #[arg(long, env = "IGNITE_NETPOL_PIN_THREADS", default_value = "auto")]
    pub pin_threads: PinThreads,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub audit: AuditArgs,
}

/// What `serve` decides on, and how the live view runs.
#[derive(Debug, clap::Args)]
pub struct ServeSourceArgs {
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

    /// With the live view: while changes keep coming, how long a burst of them is coalesced
    /// into one rebuild (the first change after a quiet spell is built at once).
    #[arg(long, env = "IGNITE_NETPOL_SETTLE", default_value = "500ms", value_parser = parse_duration)]
    pub settle: Duration,
}

/// The serving certificate and client authentication.
#[derive(Debug, clap::Args)]
pub struct TlsArgs {
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
}

/// Request limits and shutdown.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
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
}

/// The audit log.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
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
