//! TLS to the stores, on rustls with the aws-lc-rs provider (the one jsonwebtoken signs with).
//!
//! Postgres takes libpq's settings in `DATABASE_URL`, which tokio-postgres only partly parses
//! (it knows `disable`, `prefer` and `require`): authd reads `sslmode` and `sslrootcert` itself
//! and gives libpq's meaning to each mode:
//! - `disable`: plain;
//! - `prefer` (the default) and `require`: encrypted, the certificate not checked (as libpq,
//!   unless `sslrootcert` is set, when `require` checks the chain like `verify-ca`);
//! - `verify-ca`: the chain must lead to `sslrootcert` (or, without it, the system's roots);
//! - `verify-full`: that, and the certificate must name the host connected to.

use std::{path::Path, sync::Arc};

use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms},
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The process-wide provider, which redis-rs asks for (`CryptoProvider::get_default`).
/// Installing it twice is harmless: the second attempt finds it there.
pub fn install_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    install_provider();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSettingError {
    #[error("sslmode must be disable, prefer, require, verify-ca or verify-full, not {0:?}")]
    UnknownMode(String),
    #[error("cannot read sslrootcert {path}: {message}")]
    RootCert { path: String, message: String },
    #[error("the system's root certificates could not be loaded: {0}")]
    SystemRoots(String),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A Postgres URL split into what tokio-postgres parses and the TLS settings authd applies.
pub struct PostgresTls {
    /// The URL without `sslmode` and `sslrootcert`.
    pub url: String,
    pub mode: SslMode,
    pub root_cert: Option<String>,
}

impl PostgresTls {
    pub fn parse(database_url: &str) -> Result<Self, TlsSettingError> {
        let (base, query) = database_url
            .split_once('?')
            .map_or((database_url, None), |(base, query)| (base, Some(query)));
        let mut mode = SslMode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned();
            match name {
                "sslmode" => {
                    mode = match decoded.as_str() {
                        "disable" => SslMode::Disable,
                        "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        _ => return Err(TlsSettingError::UnknownMode(decoded)),
                    }
                }
                "sslrootcert" => root_cert = Some(decoded),
                _ => kept.push(pair),
            }
        }
        // tokio-postgres negotiates TLS for prefer and require; the checking is ours.
        let negotiated = match mode {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
        };
        kept.push(match negotiated {
            "disable" => "sslmode=disable",
            "prefer" => "sslmode=prefer",
            _ => "sslmode=require",
        });
        Ok(Self {
            url: format!("{base}?{}", kept.join("&")),
            mode,
            root_cert,
        })
    }

    /// The connector for these settings.
    pub fn connector(&self) -> Result<MakeRustlsConnect, TlsSettingError> {
        let provider = provider();
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, &self.root_cert) {
            (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => {
                Arc::new(EncryptOnly {
                    algorithms: provider.signature_verification_algorithms,
                })
            }
            (SslMode::Require | SslMode::VerifyCa, root) => Arc::new(ChainOnly(webpki_verifier(
                root.as_deref(),
                provider.clone(),
            )?)),
            (SslMode::VerifyFull, root) => webpki_verifier(root.as_deref(), provider.clone())?,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

/// The roots in the PEM file at `path`.
pub fn read_roots(path: &Path) -> Result<RootCertStore, TlsSettingError> {
    let failed = |message: String| TlsSettingError::RootCert {
        path: path.display().to_string(),
        message,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|err| failed(err.to_string()))? {
        roots
            .add(cert.map_err(|err| failed(err.to_string()))?)
            .map_err(|err| failed(err.to_string()))?;
    }
    if roots.is_empty() {
        return Err(failed("it holds no certificate".to_owned()));
    }
    Ok(roots)
}

/// A client configuration that trusts the system's roots and, beside them, the CA certificates
/// in `extra` (a private server's): for the LDAP directory.
pub fn client_config(extra: Option<&Path>) -> Result<ClientConfig, TlsSettingError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = extra {
        roots.roots.extend(read_roots(path)?.roots);
    }
    if roots.is_empty() {
        return Err(TlsSettingError::SystemRoots(
            "none could be loaded, and no CA file is set".to_owned(),
        ));
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn system_roots() -> Result<RootCertStore, TlsSettingError> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 {
        return Err(TlsSettingError::SystemRoots(format!("{:?}", loaded.errors)));
    }
    Ok(roots)
}

fn webpki_verifier(
    root_cert: Option<&str>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsSettingError> {
    let roots = match root_cert {
        Some(path) => read_roots(Path::new(path))?,
        None => system_roots()?,
    };
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|err| TlsSettingError::Rustls(rustls::Error::General(err.to_string())))
}

/// `require` without a root certificate, as libpq: the traffic is encrypted and the handshake
/// signed by the certificate's key, but who holds the certificate is not checked.
#[derive(Debug)]
struct EncryptOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name in it is not compared.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_settings_are_taken_out_of_the_url() {
        let tls = PostgresTls::parse(
            "postgres://u@a:5432,b:5433/db?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert.as_deref(), Some("/tmp/ca.pem"));
        assert_eq!(
            tls.url,
            "postgres://u@a:5432,b:5433/db?target_session_attrs=read-write&sslmode=require"
        );
        let plain = PostgresTls::parse("postgres://u@a/db").unwrap();
        assert_eq!(plain.mode, SslMode::Prefer);
        assert_eq!(plain.url, "postgres://u@a/db?sslmode=prefer");
        assert!(matches!(
            PostgresTls::parse("postgres://u@a/db?sslmode=allow"),
            Err(TlsSettingError::UnknownMode(_))
        ));
    }
}
