//! Serving the S3 port: accepting connections within a cap, and closing
//! those that hold a slot without using it.
//!
//! * At most [`ConnLimits::max_connections`] connections are open at once,
//!   and never more than the open-file limit leaves room for (the soft
//!   limit is first raised to the hard one). A connection beyond the cap
//!   is accepted and closed at once, so a flood of connections can neither
//!   exhaust the gateway's descriptors nor queue up in the kernel.
//! * A connection must send a complete first request head within the
//!   header timeout (10 s), a next request within the idle timeout (60 s)
//!   of the last one, and once its first byte arrives, its head within the
//!   header timeout (HTTP/1); see `activity`.
//! * A request body that stops arriving fails the request after the body
//!   timeout (60 s without data); a response the client stops reading fails
//!   after as long without progress.
//! * TLS handshakes get their own 10 s. All of this holds for HTTP/1.1 and
//!   h2, over plain TCP and TLS alike (the IO wrapper sits under TLS).

pub mod activity;
pub mod slots;
pub mod tracked;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::admin::metrics::GatewayMetrics;
use activity::{Activity, Timeouts, Watched};
use slots::Slots;
use tracked::Tracked;

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection limits of the S3 endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most connections open at once (lowered to fit the open-file limit).
    pub max_connections: usize,
    /// For a request head.
    pub header_timeout: Duration,
    /// Between requests on a connection.
    pub idle_timeout: Duration,
    /// Longest a request body may pause, or a response go unread.
    pub body_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// Connections the kernel may queue for `accept` (capped by
/// `net.core.somaxconn`). tokio's default of 1024 overflows under a burst
/// of connections (the client's SYN is then retried only after a second).
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with a deep accept queue.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises the open-file limit and returns the connection cap `limits`
/// allow under it.
pub fn effective_cap(limits: &ConnLimits) -> usize {
    let nofile = slots::raise_nofile_limit();
    let cap = slots::connection_cap(limits.max_connections, nofile);
    if cap < limits.max_connections {
        tracing::warn!(
            requested = limits.max_connections,
            cap,
            open_file_limit = ?nofile,
            "the open-file limit lowers the S3 connection cap"
        );
    }
    cap
}

/// Where a request came from, in its extensions (bucket policies'
/// `aws:SourceIp` and `aws:SecureTransport`).
#[derive(Clone, Copy, Debug)]
pub struct ClientInfo {
    /// The peer's address, if the socket could tell it.
    pub addr: Option<std::net::SocketAddr>,
    /// Whether the connection is TLS.
    pub secure: bool,
}

/// Serves S3 connections from `listener` (TLS with `tls`) until `shutdown`,
/// at most `cap` at a time.
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    limits: ConnLimits,
    cap: usize,
    metrics: GatewayMetrics,
    shutdown: impl Future<Output = ()>,
) where
    S: hyper::service::Service<http::Request<s3s::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let slots = Slots::new(cap);
    let last_full_warning = AtomicU64::new(0);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of descriptors or similar: let some close.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Some(slot) = slots.take() else {
                    drop(stream);
                    metrics.connections_refused.inc();
                    warn_full(&last_full_warning, slots.cap());
                    continue;
                };
                tracing::trace!(%peer, "S3 connection");
                let service = service.clone();
                let tls = tls.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    serve_one(stream, tls, service, limits, &metrics).await;
                    drop(slot);
                });
            }
        }
    }
}

/// Logs that the cap was reached, at most every 10 s.
fn warn_full(last: &AtomicU64, cap: usize) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let before = last.load(Ordering::Relaxed);
    if now >= before + 10
        && last
            .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            cap,
            "S3 connection cap reached; new connections are closed at once"
        );
    }
}

/// Serves one accepted connection until it ends or goes quiet.
async fn serve_one<S, B>(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    service: S,
    limits: ConnLimits,
    metrics: &GatewayMetrics,
) where
    S: hyper::service::Service<http::Request<s3s::Body>, Response = http::Response<B>>
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    metrics.connections_open.inc();
    let client = ClientInfo {
        addr: stream.peer_addr().ok(),
        secure: tls.is_some(),
    };
    // Headers and body go out in separate writes; without this, Nagle's
    // algorithm and delayed ACKs add ~40 ms to small GETs.
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let write_metrics = metrics.clone();
    let io = Watched::new(stream, activity.clone(), limits.body_timeout, move || {
        write_metrics.timed_out("write");
    });
    match tls {
        None => serve_http(io, service, client, activity, limits, metrics).await,
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                Ok(Ok(tls)) => {
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                        activity.set_h2();
                    }
                    serve_http(tls, service, client, activity, limits, metrics).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => {
                    metrics.timed_out("handshake");
                    tracing::debug!("TLS handshake timed out");
                }
            }
        }
    }
    metrics.connections_open.dec();
}

/// Serves HTTP/1.1 or h2 on `io` until the connection ends or its
/// [`Activity`] says it has been quiet too long.
async fn serve_http<IO, S, B>(
    io: IO,
    service: S,
    client: ClientInfo,
    activity: Arc<Activity>,
    limits: ConnLimits,
    metrics: &GatewayMetrics,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<http::Request<s3s::Body>, Response = http::Response<B>>
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // The header timeout is kept by `activity`: hyper's own would also run
    // while a keep-alive connection waits for its next request.
    builder.http1().header_read_timeout(None);
    let body_metrics = metrics.clone();
    let on_body_timeout: Arc<dyn Fn() + Send + Sync> =
        Arc::new(move || body_metrics.timed_out("body"));
    let service = Tracked::new(
        service,
        client,
        activity.clone(),
        limits.body_timeout,
        Some(on_body_timeout),
    );
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let timeouts = Timeouts {
        header: limits.header_timeout,
        idle: limits.idle_timeout,
    };
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "S3 connection ended");
            }
        }
        why = activity.expired(timeouts) => {
            metrics.timed_out(why.label());
            tracing::debug!(reason = why.label(), "quiet S3 connection closed");
        }
    }
}
