//! Native TLS (rustls with the `ring` provider), the alternative to a
//! terminating reverse proxy.
//!
//! The certificate chain and key are read once, at start-up, into a rustls
//! [`ServerConfig`]; nothing here touches the file system per request.
//! [`TlsListener`] is an [`axum::serve::Listener`], so `axum::serve` and its
//! graceful shutdown work unchanged: handshakes run in their own tasks (a slow
//! or silent client cannot hold up the accept loop) and only finished TLS
//! streams are handed to the server.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to complete the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more connections wait in the kernel backlog.
const MAX_HANDSHAKES: usize = 1024;

/// `[server.tls]`, validated by the configuration.
pub use crate::config::TlsFiles;

/// Why the TLS configuration could not be loaded. Names the config key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls.cert_file: cannot read {path}")]
    ReadCert { path: String, source: io::Error },
    #[error("server.tls.key_file: cannot read {path}")]
    ReadKey { path: String, source: io::Error },
    #[error("server.tls.cert_file: {path} holds no PEM certificate ({detail})")]
    NoCert { path: String, detail: String },
    #[error("server.tls.key_file: {path} holds no PEM private key ({detail})")]
    NoKey { path: String, detail: String },
    #[error("server.tls: the certificate and key do not form a usable pair: {0}")]
    Pair(rustls::Error),
}

/// Read and check the files of `[server.tls]`.
pub fn load(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let display = |p: &Path| p.display().to_string();
    let cert = std::fs::read(&files.cert_file).map_err(|source| TlsError::ReadCert {
        path: display(&files.cert_file),
        source,
    })?;
    let key = std::fs::read(&files.key_file).map_err(|source| TlsError::ReadKey {
        path: display(&files.key_file),
        source,
    })?;
    server_config(&cert, &key).map_err(|e| match e {
        TlsError::NoCert { detail, .. } => TlsError::NoCert {
            path: display(&files.cert_file),
            detail,
        },
        TlsError::NoKey { detail, .. } => TlsError::NoKey {
            path: display(&files.key_file),
            detail,
        },
        other => other,
    })
}

/// A rustls server configuration from PEM text: TLS 1.2 and 1.3 with rustls'
/// safe defaults, ALPN for HTTP/2 and HTTP/1.1.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::NoCert {
            path: String::new(),
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert {
            path: String::new(),
            detail: "no CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::NoKey {
        path: String::new(),
        detail: e.to_string(),
    })?;
    // An explicit provider: with more than one compiled in, rustls would
    // refuse to pick a process default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Pair)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Pair)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener that yields connections whose TLS handshake has completed.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    /// Start accepting on `listener`, handshaking with `config`.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        Ok(Self {
            ready,
            local,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Stops accepting when the server stops (e.g. at graceful shutdown).
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when aborted, i.e. after this
            // listener was dropped; never yield a connection again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Like axum's own loop: resource errors (EMFILE) pass with time.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Nagle would delay the small writes of SSE responses.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key() {
        let e = server_config(b"not pem", b"").unwrap_err().to_string();
        assert!(e.starts_with("server.tls.cert_file"), "{e}");
        let files = TlsFiles {
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
        };
        let e = load(&files).unwrap_err().to_string();
        assert!(
            e.starts_with("server.tls.cert_file: cannot read /nonexistent/cert.pem"),
            "{e}"
        );
    }
}
