//! TLS for PostgreSQL connections (rustls with ring), the libpq way: `sslmode=require` (or
//! `verify-ca`/`verify-full`, which mean the same here) encrypts and verifies the server's
//! certificate and host name against Mozilla's roots, plus the PEM file named by
//! `sslrootcert=PATH` when the server's CA is private. `sslmode=prefer` (the default) and
//! `disable` connect without TLS. Owns reading those two parameters out of the URL, since
//! tokio-postgres knows neither `sslrootcert` nor the `verify-*` modes, and building the connector.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::{StoreError, redact_url};

/// What the URL asks of TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TlsRequest {
    /// Whether TLS is required.
    pub required: bool,
    /// A PEM file of extra trusted CA certificates.
    pub root_cert: Option<PathBuf>,
}

/// Splits a URL into what tokio-postgres parses and what this module handles.
pub(super) fn split_url(url: &str) -> (String, TlsRequest) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), TlsRequest::default());
    };
    let mut request = TlsRequest::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslrootcert", path)) => request.root_cert = Some(PathBuf::from(path)),
            Some(("sslmode", "require" | "verify-ca" | "verify-full")) => {
                request.required = true;
                kept.push("sslmode=require");
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (url, request)
}

/// The connector for a request that requires TLS.
pub(super) fn connector(request: &TlsRequest, url: &str) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = &request.root_cert {
        for certificate in read_certificates(path, url)? {
            roots.add(certificate).map_err(|err| invalid(url, format!("`sslrootcert` `{}`: {err}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| StoreError::Backend(Box::new(err)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn read_certificates(path: &Path, url: &str) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let unreadable = |reason: String| invalid(url, format!("cannot read `sslrootcert` `{}`: {reason}", path.display()));
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|err| unreadable(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| unreadable(err.to_string()))?;
    if certificates.is_empty() {
        return Err(unreadable("it holds no PEM certificate".to_owned()));
    }
    Ok(certificates)
}

fn invalid(url: &str, reason: String) -> StoreError {
    StoreError::InvalidUrl { url: redact_url(url), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_are_taken_out_of_the_url() {
        let (url, request) =
            split_url("postgres://a@h/d?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x");
        assert_eq!(url, "postgres://a@h/d?sslmode=require&application_name=x");
        assert_eq!(request, TlsRequest { required: true, root_cert: Some("/etc/ca.pem".into()) });
        let (url, request) = split_url("postgres://a@h/d?sslmode=prefer");
        assert_eq!((url.as_str(), request.required), ("postgres://a@h/d?sslmode=prefer", false));
        assert_eq!(split_url("postgres://a@h/d").0, "postgres://a@h/d");
    }

    #[test]
    fn a_missing_or_empty_root_certificate_file_is_a_url_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").expect("write");
        for path in [dir.path().join("missing.pem"), empty] {
            let request = TlsRequest { required: true, root_cert: Some(path) };
            let err = connector(&request, "postgres://a:pw@h/d").map(|_| ()).expect_err("refused");
            assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err:?}");
            assert!(err.to_string().contains("sslrootcert"), "{err}");
        }
    }
}
