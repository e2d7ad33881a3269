//! `ignite-netpol certs`: a CA and a serving certificate for the webhook's Service.
//!
//! The API server calls the webhook at `https://NAME.NS.svc:443` and checks the certificate
//! against the `caBundle` of the webhook configuration, by the SAN `NAME.NS.svc`. The serving
//! certificate carries that SAN plus `NAME`, `NAME.NS` and `NAME.NS.svc.cluster.local`, and any
//! extra names (e.g. `localhost`, `127.0.0.1` for local runs).

use std::{
    fs,
    path::{Path, PathBuf},
};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A CA and a serving certificate, PEM encoded.
#[derive(Debug)]
pub struct Issued {
    pub ca_cert: String,
    pub ca_key: String,
    pub cert: String,
    pub key: String,
}

impl Issued {
    /// The `caBundle` of a webhook configuration: the CA certificate, base64 encoded.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_cert)
    }
}

/// The DNS names the API server may use for `service` in `namespace`.
pub fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

fn validity(params: &mut CertificateParams, days: u32) {
    let now = jiff::Timestamp::now();
    let date = |t: jiff::Timestamp| {
        let d = t.to_zoned(jiff::tz::TimeZone::UTC).date();
        rcgen::date_time_ymd(
            i32::from(d.year()),
            d.month().unsigned_abs(),
            d.day().unsigned_abs(),
        )
    };
    params.not_before = date(now - jiff::SignedDuration::from_hours(24));
    params.not_after = date(now + jiff::SignedDuration::from_hours(24 * i64::from(days.max(1))));
}

/// Issues a fresh CA and a serving certificate valid for `days`.
pub fn issue(
    service: &str,
    namespace: &str,
    extra_sans: &[String],
    days: u32,
) -> Result<Issued, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("ignite-netpol CA for {service}.{namespace}"),
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca, days);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let mut sans = service_names(service, namespace);
    sans.extend(extra_sans.iter().cloned());
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(sans)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{service}.{namespace}.svc"));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params, days);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Writes `ca.crt`, `ca.key`, `tls.crt` and `tls.key` into `dir` (keys readable by the owner
/// only) and returns their paths.
pub fn write(dir: &Path, issued: &Issued) -> std::io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let files = [
        ("ca.crt", &issued.ca_cert, false),
        ("ca.key", &issued.ca_key, true),
        ("tls.crt", &issued.cert, false),
        ("tls.key", &issued.key, true),
    ];
    let mut written = Vec::new();
    for (name, content, secret) in files {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        fs::write(&tmp, content)?;
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
        }
        #[cfg(not(unix))]
        let _ = secret;
        fs::rename(&tmp, &path)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::{
        RootCertStore,
        client::{WebPkiServerVerifier, danger::ServerCertVerifier},
        pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
    };

    use super::*;

    fn verify(issued: &Issued, name: &str) -> Result<(), rustls::Error> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(issued.ca_cert.as_bytes()).expect("CA PEM"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("verifier");
        let leaf = CertificateDer::from_pem_slice(issued.cert.as_bytes()).expect("certificate PEM");
        let name = ServerName::try_from(name.to_string()).expect("server name");
        verifier
            .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn serving_certificate_verifies_for_the_service_names_only() {
        let issued =
            issue("ignite-netpol", "ignite-netpol", &["127.0.0.1".into()], 30).expect("issued");
        for name in service_names("ignite-netpol", "ignite-netpol")
            .iter()
            .chain(["127.0.0.1".to_string()].iter())
        {
            assert!(verify(&issued, name).is_ok(), "{name} must verify");
        }
        for name in [
            "other.ignite-netpol.svc",
            "ignite-netpol.default.svc",
            "localhost",
        ] {
            assert!(verify(&issued, name).is_err(), "{name} must not verify");
        }
        assert!(
            base64::engine::general_purpose::STANDARD
                .decode(issued.ca_bundle())
                .is_ok_and(|pem| pem == issued.ca_cert.as_bytes())
        );
    }

    #[test]
    fn keys_are_written_owner_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let issued = issue("svc", "ns", &[], 1).expect("issued");
        let files = write(dir.path(), &issued).expect("written");
        assert_eq!(files.len(), 4);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tls.key"))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
