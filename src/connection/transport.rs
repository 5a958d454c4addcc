//! The byte pipe under a session: plain TCP for `rtmp://`, TLS over TCP (rustls) for `rtmps://`.
//!
//! Both present the same non-blocking read/write interface to the I/O loop. With TLS, written
//! plaintext is encrypted into rustls' buffer (bounded by [`TLS_BUFFER_LIMIT`]) and flushed to the
//! socket as it becomes writable; [`Transport::has_buffered_output`] tells the loop that bytes are
//! still waiting there even when the session has nothing more to send.

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// Plaintext rustls holds before writes report WouldBlock (it bounds memory, as the socket does).
const TLS_BUFFER_LIMIT: usize = 256 * 1024;

/// Which certificate problems are errors, with GIO's `GTlsCertificateFlags` meaning (as rtmp2's
/// `tls-validation-flags`): a flag that is set makes that problem fail the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsValidation {
    pub unknown_ca: bool,
    pub bad_identity: bool,
    pub not_activated: bool,
    pub expired: bool,
    pub revoked: bool,
    pub insecure: bool,
    pub generic_error: bool,
}

impl TlsValidation {
    pub const ALL: TlsValidation = TlsValidation {
        unknown_ca: true,
        bad_identity: true,
        not_activated: true,
        expired: true,
        revoked: true,
        insecure: true,
        generic_error: true,
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub validation: TlsValidation,
    /// PEM file with extra trusted certificates, on top of the system store.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("could not read CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("invalid TLS server name '{0}'")]
    ServerName(String),
    #[error("TLS setup failed: {0}")]
    Config(String),
}

pub enum Transport {
    Plain(TcpStream),
    Tls {
        tcp: TcpStream,
        tls: Box<rustls::ClientConnection>,
    },
}

impl Transport {
    pub fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(tcp) | Transport::Tls { tcp, .. } => tcp,
        }
    }

    /// Starts TLS on a connected socket; the handshake itself runs as the loop reads and writes.
    pub fn tls(tcp: TcpStream, host: &str, options: &TlsOptions) -> Result<Self, TlsSetupError> {
        let config = client_config(options)?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| TlsSetupError::ServerName(host.to_owned()))?;
        let mut tls = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| TlsSetupError::Config(e.to_string()))?;
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(Transport::Tls {
            tcp,
            tls: Box::new(tls),
        })
    }

    /// Whether TLS still holds encrypted bytes for the socket.
    pub fn has_buffered_output(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls { tls, .. } => tls.wants_write(),
        }
    }

    /// Sends what TLS holds; WouldBlock when the socket is full.
    pub fn flush_buffered(&mut self) -> io::Result<()> {
        if let Transport::Tls { tcp, tls } = self {
            while tls.wants_write() {
                tls.write_tls(tcp)?;
            }
        }
        Ok(())
    }

    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.write_vectored(bufs),
            Transport::Tls { .. } => {
                self.flush_buffered()?;
                let Transport::Tls { tls, .. } = self else {
                    unreachable!("matched above")
                };
                let written = tls.writer().write_vectored(bufs)?;
                if written == 0 && bufs.iter().any(|b| !b.is_empty()) {
                    // rustls' buffer is full: wait for the socket to take some.
                    return Err(ErrorKind::WouldBlock.into());
                }
                match self.flush_buffered() {
                    Err(e) if e.kind() != ErrorKind::WouldBlock => Err(e),
                    _ => Ok(written),
                }
            }
        }
    }

    /// Reads plaintext; `Ok(0)` means the peer closed the connection.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (tcp, tls) = match self {
            Transport::Plain(tcp) => return tcp.read(buf),
            Transport::Tls { tcp, tls } => (tcp, tls),
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // A peer that drops TCP without close_notify: treat as a close, as servers do that.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if tls.read_tls(tcp)? == 0 {
                return Ok(0);
            }
            tls.process_new_packets()
                .map_err(|e| io::Error::new(ErrorKind::InvalidData, TlsFailure(e)))?;
            // The handshake answers the server while we read.
            while tls.wants_write() {
                match tls.write_tls(tcp) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    other => {
                        other?;
                    }
                }
            }
        }
    }
}

/// A TLS failure (certificate, protocol) carried through io::Error to the connection's error.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsFailure(pub rustls::Error);

fn client_config(options: &TlsOptions) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped; if none load, validation fails visibly.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = &options.ca_file {
        let ca_error = |reason: String| TlsSetupError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certs: Vec<CertificateDer<'static>> =
            rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| ca_error(format!("{e:?}")))?;
        if certs.is_empty() {
            return Err(ca_error("no certificates in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
        }
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| TlsSetupError::Config(e.to_string()))?;
    let verifier = Arc::new(RelaxedVerifier {
        inner: webpki,
        validation: options.validation,
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// The WebPKI verifier, except for the problems the user chose to accept.
#[derive(Debug)]
struct RelaxedVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    validation: TlsValidation,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl RelaxedVerifier {
    fn enforced(&self, error: &rustls::Error) -> bool {
        let v = &self.validation;
        match error {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer => v.unknown_ca,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => v.bad_identity,
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    v.not_activated
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => v.expired,
                CertificateError::Revoked => v.revoked,
                _ => v.generic_error,
            },
            _ => v.generic_error,
        }
    }
}

impl ServerCertVerifier for RelaxedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(e) if !self.enforced(&e) => {
                // A chain failure stops WebPKI before it looks at the name: check that separately
                // when the identity is still to be enforced.
                if self.validation.bad_identity {
                    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                    rustls::client::verify_server_name(&parsed, server_name)?;
                }
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
