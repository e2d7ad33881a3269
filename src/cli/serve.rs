//! `serve`: the HTTPS webhook on snapshot files, the embedded seed cluster, or the live view.

use std::{process::ExitCode, time::Duration};

use anyhow::Context;

use super::{
    RELEASE_MEMORY,
    args::{AuditArgs, LimitArgs, ServeArgs, ServeSourceArgs, TlsArgs},
    load_config,
};
use crate::{
    audit::{AuditConfig, Destination},
    cluster,
    ignite::Environment,
    server::{self, CertFiles, Limits, ServeConfig, Server},
    snapshot::ClusterSnapshot,
};

/// The seed cluster, served when `serve` is given no `--cluster`.
pub const EMBEDDED_CLUSTER: &str = include_str!("../../examples/seed/cluster.yaml");

/// Runs `serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ServeArgs {
        source:
            ServeSourceArgs {
                cluster,
                reconcile,
                on_unsynced,
                settle,
            },
        config,
        listen,
        admin_listen,
        pin_threads,
        tls:
            TlsArgs {
                tls_cert,
                tls_key,
                client_ca,
                tls_reload_interval,
            },
        limits:
            LimitArgs {
                max_body_bytes,
                request_timeout,
                header_timeout,
                shutdown_timeout,
            },
        audit:
            AuditArgs {
                audit_log,
                audit_max_bytes,
                audit_keep,
                audit_queue,
            },
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
        pin_threads,
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
