//! TLS for the webhook: load before binding and fail fast; reload when the files change.
//!
//! The serving certificate and key are read from files (a Secret mounted by cert-manager or
//! `ignite-netpol certs`). A background task polls them; when their content changes and the
//! new pair is valid, new handshakes get it — open connections keep theirs and are never
//! dropped. A bad new pair is logged and counted, and the old one stays. TLS 1.2 and 1.3 only;
//! ALPN offers `h2` and `http/1.1`; an optional client CA makes the API server authenticate.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use arc_swap::ArcSwap;
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier},
    sign::CertifiedKey,
};

/// A certificate/key problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The files the serving certificate comes from.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The resolver handshakes ask for the current certificate.
#[derive(Debug)]
pub struct ReloadingResolver {
    current: ArcSwap<CertifiedKey>,
    loaded: ArcSwap<(Vec<u8>, Vec<u8>)>,
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Parses a PEM certificate chain and key into a checked pair.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    files: &CertFiles,
) -> Result<CertifiedKey, TlsError> {
    let invalid = |path: &Path, message: String| TlsError::Invalid {
        path: path.display().to_string(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&files.cert, format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(&files.cert, "contains no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| invalid(&files.key, format!("not a PEM private key: {e}")))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| invalid(&files.key, format!("unsupported private key: {e}")))?;
    let pair = CertifiedKey::new(certs, signing);
    pair.keys_match().map_err(|e| {
        invalid(
            &files.key,
            format!(
                "does not match the certificate in {}: {e}",
                files.cert.display()
            ),
        )
    })?;
    Ok(pair)
}

impl ReloadingResolver {
    /// Loads the pair now; an error here stops start-up.
    pub fn load(files: &CertFiles) -> Result<Arc<Self>, TlsError> {
        let (cert, key) = (read(&files.cert)?, read(&files.key)?);
        let pair = certified_key(&cert, &key, files)?;
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(pair),
            loaded: ArcSwap::from_pointee((cert, key)),
        }))
    }

    /// Reloads when the files' content changed: `Ok(true)` when a new pair is in use, `Ok(false)`
    /// when nothing changed, `Err` when the new content is not a valid pair (the old stays).
    pub fn reload(&self, files: &CertFiles) -> Result<bool, TlsError> {
        let (cert, key) = (read(&files.cert)?, read(&files.key)?);
        let loaded = self.loaded.load();
        if loaded.0 == cert && loaded.1 == key {
            return Ok(false);
        }
        let pair = certified_key(&cert, &key, files)?;
        self.current.store(Arc::new(pair));
        self.loaded.store(Arc::new((cert, key)));
        Ok(true)
    }

    /// Polls the files every `interval`, reporting each reload attempt to `on_reload`.
    pub async fn watch(
        self: Arc<Self>,
        files: CertFiles,
        interval: Duration,
        on_reload: impl Fn(bool),
    ) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.reload(&files) {
                Ok(false) => {}
                Ok(true) => {
                    tracing::info!(cert = %files.cert.display(), "Reloaded the serving certificate");
                    on_reload(true);
                }
                Err(error) => {
                    tracing::error!(%error, "Serving certificate not reloaded; keeping the current one");
                    on_reload(false);
                }
            }
        }
    }
}

/// The rustls server configuration: TLS 1.2/1.3, ALPN h2 + http/1.1, optional client auth.
pub fn server_config(
    resolver: Arc<ReloadingResolver>,
    client_ca: Option<&Path>,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = read(path)?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| TlsError::Invalid {
                    path: path.display().to_string(),
                    message: format!("not a PEM certificate: {e}"),
                })?;
                roots.add(cert).map_err(|e| TlsError::Invalid {
                    path: path.display().to_string(),
                    message: format!("not a usable CA certificate: {e}"),
                })?;
            }
            if roots.is_empty() {
                return Err(TlsError::Invalid {
                    path: path.display().to_string(),
                    message: "contains no CA certificate".into(),
                });
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Invalid {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
