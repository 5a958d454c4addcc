//! A throwaway certificate authority and server certificate for rtmps:// tests, made with the
//! openssl command-line tool.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::TempDir;
use super::process::run_with_timeout;

pub struct TestCertificates {
    /// The CA certificate that signed `cert` (PEM): trust it to accept the server.
    pub ca: PathBuf,
    /// The server certificate, valid for the DNS name given to `generate` only.
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: TempDir,
}

fn openssl(args: &[&str]) {
    run_with_timeout(Command::new("openssl").args(args), Duration::from_secs(30))
        .assert_success(&format!("openssl {}", args.join(" ")));
}

impl TestCertificates {
    pub fn generate(dns_name: &str) -> TestCertificates {
        let dir = TempDir::new("certs");
        let path = |name: &str| dir.join(name).display().to_string();
        let (ca_key, ca, key, csr, cert, ext) = (
            path("ca.key"),
            path("ca.pem"),
            path("server.key"),
            path("server.csr"),
            path("server.pem"),
            path("ext.cnf"),
        );
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=gst-plugin-rtmp test CA",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={dns_name}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ]);
        std::fs::write(&ext, format!("subjectAltName=DNS:{dns_name}\n")).expect("write ext.cnf");
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ]);
        TestCertificates {
            ca: ca.into(),
            cert: cert.into(),
            key: key.into(),
            _dir: dir,
        }
    }
}
