//! DNS and TLS as Claude meets them: the addresses the name resolves to, the
//! TLS version, and the certificate chain the server sends (valid for the
//! host, complete up to a trusted root, not about to expire).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::report::Report;

/// A certificate closer than this to its end is a warning.
const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Claude connects from Anthropic's cloud, over IPv4: every address must be
/// one it can reach.
fn globally_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00)
        }
    }
}

/// Resolve `host:port` (or take `pinned` from `--resolve`) and report it.
/// The address to connect to, if any.
pub(super) async fn resolve(
    report: &mut Report,
    host: &str,
    port: u16,
    pinned: Option<IpAddr>,
) -> Option<SocketAddr> {
    if let Some(ip) = pinned {
        report.pass(
            "dns",
            format!("{host} → {ip} (from --resolve; DNS not consulted)"),
        );
        return Some(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            report.fail(
                "dns",
                format!("{host} does not resolve: {e}"),
                "publish an A record for the host (Claude connects over IPv4)",
            );
            return None;
        }
    };
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    let Some(v4) = addrs.iter().find(|a| a.is_ipv4()).copied() else {
        report.fail(
            "dns",
            format!("{host} has no IPv4 address ({})", shown.join(", ")),
            "add an A record: Claude's connectors reach servers over IPv4 only",
        );
        return addrs.first().copied();
    };
    if let Some(private) = addrs.iter().find(|a| !globally_routable(a.ip())) {
        report.warn(
            "dns",
            format!("{host} → {} ({} is not reachable from the internet)", shown.join(", "), private.ip()),
            "Claude connects from Anthropic's cloud: the name must resolve to public addresses only",
        );
    } else {
        report.pass("dns", format!("{host} → {}", shown.join(", ")));
    }
    Some(v4)
}

/// Roots the doctor trusts: the system's, plus `--ca-file`.
pub(super) fn roots(ca_file: Option<&std::path::Path>) -> anyhow::Result<RootCertStore> {
    use anyhow::Context as _;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A malformed system certificate is not the server's problem.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading --ca-file {}", path.display()))?
        {
            let cert = cert.with_context(|| format!("--ca-file {}: not PEM", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("--ca-file {}: not a CA certificate", path.display()))?;
            added += 1;
        }
        anyhow::ensure!(
            added > 0,
            "--ca-file {}: no certificate in it",
            path.display()
        );
    }
    Ok(roots)
}

/// A verifier that records what the real one says instead of failing the
/// handshake, so that the doctor learns the chain and the TLS version even
/// from a server it would not trust. Nothing is ever sent on such a
/// connection: it is closed right after the handshake.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

#[derive(Debug, Clone)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    verdict: Result<(), rustls::Error>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map(|_| ());
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(Seen { chain, verdict });
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client configuration the doctor's HTTP requests use: `roots`, TLS
/// 1.2 and 1.3 (what Claude accepts).
pub(super) fn client_config(roots: Arc<RootCertStore>) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Handshake with `addr` as `host` and report the TLS version and the
/// certificate. Whether the certificate is one Claude would accept.
pub(super) async fn check(
    report: &mut Report,
    addr: SocketAddr,
    host: &str,
    roots: Arc<RootCertStore>,
    ca_file: bool,
) -> bool {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = match WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build() {
        Ok(v) => v,
        Err(e) => {
            report.fail(
                "certificate",
                format!("no trusted roots: {e}"),
                "install ca-certificates",
            );
            return false;
        }
    };
    let recording = Arc::new(Recording {
        inner,
        seen: Mutex::new(None),
    });
    let Ok(builder) =
        rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
    else {
        return false;
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(recording.clone())
        .with_no_client_auth();
    let Ok(name) = ServerName::try_from(host.to_owned()) else {
        report.fail(
            "tls",
            format!("`{host}` is not a valid server name"),
            "use a DNS name in the URL",
        );
        return false;
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        connector.connect(name, tcp).await
    };
    let version = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(stream)) => stream
            .get_ref()
            .1
            .protocol_version()
            .map(|v| format!("{v:?}").replace("TLSv1_", "TLS 1.")),
        Ok(Err(e)) => {
            handshake_failed(report, addr, &e);
            return false;
        }
        Err(_) => {
            report.fail(
                "tls",
                format!(
                    "no TLS handshake with {addr} within {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                ),
                "check that the port is open and that TLS (not plain HTTP) is served there",
            );
            return false;
        }
    };
    report.pass(
        "tls",
        format!("{} with {addr}", version.unwrap_or_else(|| "TLS".into())),
    );
    let seen = recording.seen.lock().ok().and_then(|s| s.clone());
    match seen {
        Some(seen) => certificate(report, host, &seen, ca_file),
        None => false,
    }
}

fn handshake_failed(report: &mut Report, addr: SocketAddr, e: &std::io::Error) {
    let text = e.to_string();
    let (detail, fix) = if text.contains("ProtocolVersion") || text.contains("PeerIncompatible") {
        (
            format!("the server at {addr} offers no TLS version Claude accepts ({text})"),
            "enable TLS 1.2 and 1.3 on the server or proxy",
        )
    } else if text.contains("InvalidContentType") || text.contains("corrupt message") {
        (
            format!("{addr} does not speak TLS ({text}): plain HTTP on an https URL?"),
            "serve TLS on this port (proxy `listen 443 ssl`), or use the proxy's https port",
        )
    } else {
        (
            format!("TLS handshake with {addr} failed: {text}"),
            "check the proxy's TLS configuration",
        )
    };
    report.fail("tls", detail, fix);
}

/// Judge the chain the server sent, as Claude would.
fn certificate(report: &mut Report, host: &str, seen: &Seen, ca_file: bool) -> bool {
    let leaf = seen
        .chain
        .first()
        .and_then(|der| x509_parser::parse_x509_certificate(der.as_ref()).ok())
        .map(|(_, c)| c);
    let Some(leaf) = leaf else {
        report.fail(
            "certificate",
            "the server's certificate cannot be parsed",
            "serve a valid X.509 certificate",
        );
        return false;
    };
    let not_after = leaf.validity().not_after.timestamp();
    let until = date(not_after);
    let names = leaf_names(&leaf);
    let self_signed = leaf.issuer().as_raw() == leaf.subject().as_raw();
    let issuer_sent = seen.chain.iter().skip(1).any(|der| {
        x509_parser::parse_x509_certificate(der.as_ref())
            .is_ok_and(|(_, c)| c.subject().as_raw() == leaf.issuer().as_raw())
    });
    let fail = |report: &mut Report, detail: String, fix: &str| {
        report.fail("certificate", detail, fix);
        false
    };
    match &seen.verdict {
        Ok(()) => {}
        Err(rustls::Error::InvalidCertificate(e)) => {
            return match e {
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => fail(
                    report,
                    format!("expired on {until}"),
                    "renew the certificate (e.g. certbot renew) and reload the proxy",
                ),
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    fail(
                        report,
                        "not valid yet (check the server's clock)".into(),
                        "fix the clock or reissue the certificate",
                    )
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => fail(
                    report,
                    format!("not valid for {host} (it names: {})", names.join(", ")),
                    "issue a certificate whose subjectAltName includes the host in the URL",
                ),
                CertificateError::UnknownIssuer if self_signed => fail(
                    report,
                    format!("self-signed ({})", leaf.subject()),
                    "use a certificate from a public CA (e.g. Let's Encrypt): Claude does not trust self-signed ones",
                ),
                CertificateError::UnknownIssuer if !issuer_sent && seen.chain.len() == 1 => fail(
                    report,
                    format!(
                        "chain incomplete: only the server's certificate is sent, not its issuer ({})",
                        leaf.issuer()
                    ),
                    "serve the full chain (fullchain.pem, not cert.pem): Claude does not fetch missing intermediates",
                ),
                CertificateError::UnknownIssuer => fail(
                    report,
                    format!("issued by a CA that is not trusted ({})", leaf.issuer()),
                    "use a public CA, or pass its root with --ca-file to test a private CA (Claude trusts only public CAs)",
                ),
                other => fail(
                    report,
                    format!("refused: {other:?}"),
                    "reissue the certificate",
                ),
            };
        }
        Err(other) => {
            return fail(
                report,
                format!("refused: {other}"),
                "reissue the certificate",
            );
        }
    }
    let left = not_after - crate::clock::unix_now();
    let via = if ca_file {
        "; trusted through --ca-file, Claude needs a public CA"
    } else {
        ""
    };
    if left < EXPIRY_WARNING.as_secs() as i64 {
        report.warn(
            "certificate",
            format!(
                "valid for {host}, but expires on {until} (in {} days){via}",
                left / 86_400
            ),
            "renew it now: Claude refuses expired certificates",
        );
    } else {
        report.pass(
            "certificate",
            format!(
                "valid for {host}, chain complete ({} sent), expires {until}{via}",
                seen.chain.len()
            ),
        );
    }
    true
}

/// The DNS names and addresses a certificate is valid for.
fn leaf_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return vec![cert.subject().to_string()];
    };
    san.value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => (*d).to_owned(),
            GeneralName::IPAddress(b) if b.len() == 4 => {
                IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()).to_string()
            }
            other => format!("{other:?}"),
        })
        .collect()
}

/// `2026-12-04` for a Unix time.
fn date(secs: i64) -> String {
    let (y, m, d) = crate::clock::civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_routability() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_796_342_400), "2026-12-04");
        assert!(!globally_routable("10.1.2.3".parse().expect("ip")));
        assert!(!globally_routable("100.64.0.1".parse().expect("ip")));
        assert!(!globally_routable("127.0.0.1".parse().expect("ip")));
        assert!(globally_routable("160.79.104.10".parse().expect("ip")));
    }
}
