//! The byte pipe under a session: plain TCP for `rtmp://`, TLS over TCP (rustls) for `rtmps://`,
//! as the client (caller mode) or the server (listener mode), and for RTMPT the local end of a
//! socket pair whose other end the tunnel carries in HTTP ([`Socket::Tunnel`]; see `tunnel.rs`
//! and `listener/gateway.rs`), so the session's loop is the same for all of them.
//!
//! Both present the same non-blocking read/write interface to the I/O loop. With TLS, written
//! plaintext is encrypted into rustls' buffer (bounded by [`TLS_BUFFER_LIMIT`]) and flushed to the
//! socket as it becomes writable; [`Transport::has_buffered_output`] tells the loop that bytes are
//! still waiting there even when the session has nothing more to send.

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use mio::net::{TcpStream, UnixStream};
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

/// The server side's TLS settings, loaded once at bind time and shared by every client.
pub type ServerTlsConfig = Arc<rustls::ServerConfig>;

/// The socket under a transport: TCP, or one end of a local socket pair whose other end is an
/// RTMPT tunnel (client side: the tunnel thread; listener: the HTTP gateway), so the session's
/// I/O loop runs unchanged over the tunnel.
pub enum Socket {
    Tcp(TcpStream),
    Tunnel(UnixStream),
}

impl Socket {
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(how),
            Socket::Tunnel(s) => s.shutdown(how),
        }
    }
}

impl From<TcpStream> for Socket {
    fn from(tcp: TcpStream) -> Self {
        Socket::Tcp(tcp)
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Tunnel(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => send_no_signal(s, &[IoSlice::new(buf)]),
            Socket::Tunnel(s) => send_no_signal(s, &[IoSlice::new(buf)]),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => send_no_signal(s, bufs),
            Socket::Tunnel(s) => send_no_signal(s, bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl mio::event::Source for Socket {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.register(registry, token, interests),
            Socket::Tunnel(s) => s.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.reregister(registry, token, interests),
            Socket::Tunnel(s) => s.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.deregister(registry),
            Socket::Tunnel(s) => s.deregister(registry),
        }
    }
}

/// Writes with MSG_NOSIGNAL: a peer that closed is `BrokenPipe`, never SIGPIPE, which kills a
/// host process that does not ignore it (gst-launch does not). std's TCP `write` sends with
/// the flag, but its `write_vectored` (writev) and every Unix socket write do not.
pub fn send_no_signal(
    socket: &impl std::os::fd::AsRawFd,
    bufs: &[IoSlice<'_>],
) -> io::Result<usize> {
    let count = bufs.len().min(1024);
    // SAFETY: IoSlice is ABI-compatible with iovec on Unix; the message points at `count` of
    // them, which live for the call, and at no name or control data.
    let sent = unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        message.msg_iovlen = count as _;
        libc::sendmsg(socket.as_raw_fd(), &message, libc::MSG_NOSIGNAL)
    };
    match sent {
        n if n < 0 => Err(io::Error::last_os_error()),
        n => Ok(n as usize),
    }
}

pub enum Transport {
    Plain(Socket),
    Tls {
        tcp: Socket,
        tls: Box<rustls::Connection>,
    },
}

impl Transport {
    /// The socket under the transport (to register, shut down, or read raw).
    pub fn tcp(&mut self) -> &mut Socket {
        match self {
            Transport::Plain(tcp) | Transport::Tls { tcp, .. } => tcp,
        }
    }

    /// Starts TLS on a connected socket; the handshake itself runs as the loop reads and writes.
    pub fn tls(tcp: Socket, host: &str, options: &TlsOptions) -> Result<Self, TlsSetupError> {
        let config = client_config(options)?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| TlsSetupError::ServerName(host.to_owned()))?;
        let mut tls = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| TlsSetupError::Config(e.to_string()))?;
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(Transport::Tls {
            tcp,
            tls: Box::new(rustls::Connection::Client(tls)),
        })
    }

    /// Starts the server side of TLS on an accepted socket.
    pub fn tls_server(tcp: Socket, config: &ServerTlsConfig) -> Result<Self, TlsSetupError> {
        let mut tls = rustls::ServerConnection::new(config.clone())
            .map_err(|e| TlsSetupError::Config(e.to_string()))?;
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(Transport::Tls {
            tcp,
            tls: Box::new(rustls::Connection::Server(tls)),
        })
    }

    /// Queues TLS's close_notify (nothing for plain TCP): a peer that reads on after our
    /// last reply sees a clean end, not a truncation (FFmpeg reports "IO error: End of file").
    pub fn send_close_notify(&mut self) {
        if let Transport::Tls { tls, .. } = self {
            tls.send_close_notify();
        }
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

/// Loads the certificate chain and private key (PEM) for listening on `rtmps://`; each error
/// names the file and what is wrong with it.
pub fn server_config(
    certificate_file: &std::path::Path,
    key_file: &std::path::Path,
) -> Result<ServerTlsConfig, String> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let pem = read(certificate_file)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "{} is not a PEM certificate file: {e:?}",
                certificate_file.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "no certificate (BEGIN CERTIFICATE) in {}",
            certificate_file.display()
        ));
    }
    let pem = read(key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("no usable private key in {}: {e:?}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "the key in {} does not fit the certificate in {}: {e}",
                key_file.display(),
                certificate_file.display()
            )
        })?;
    Ok(Arc::new(config))
}

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
