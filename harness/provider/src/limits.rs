//! How the reference provider sheds clients that would hold it: a bound on connections per peer
//! address and in total (over it, a new connection is closed at once), a TLS handshake timeout,
//! a timeout for a request's head, one for its body, and one for a connection that is silent.
//! A request's body is read whole before any handler or check sees the request, so that an
//! early rejection (a bad `From`, a body too large) reaches an HTTP/2 client as its 4xx, as it
//! does over HTTP/1.1, and never as a stream reset while the client is still sending.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum_server::accept::Accept;
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections one peer address may hold open.
    pub per_peer: usize,
    /// Connections open in all.
    pub total: usize,
    /// Time a TLS handshake may take.
    pub handshake: Duration,
    /// Time a request's head may take to arrive (HTTP/1.1), and the first request of a
    /// connection (both protocols).
    pub head: Duration,
    /// Time a request's body may take to arrive, once its head has.
    pub body: Duration,
    /// Time a connection may stay silent (no byte either way) before it is closed.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Far above what a harness run needs (every case at once, from one address), far
            // below a process's usual descriptor limit.
            per_peer: 128,
            total: 512,
            handshake: Duration::from_secs(10),
            head: Duration::from_secs(10),
            body: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

/// Open connections, per peer address and in all.
#[derive(Default)]
struct Count {
    per_peer: HashMap<IpAddr, usize>,
    total: usize,
}

/// An acceptor that admits a connection only within the limits, and watches it for silence.
#[derive(Clone)]
pub struct LimitAcceptor<A> {
    inner: A,
    limits: Limits,
    open: Arc<Mutex<Count>>,
}

impl<A> LimitAcceptor<A> {
    pub fn new(inner: A, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            open: Default::default(),
        }
    }

    fn admit(&self, peer: IpAddr) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mine = open.per_peer.get(&peer).copied().unwrap_or(0);
        if mine >= self.limits.per_peer || open.total >= self.limits.total {
            return None;
        }
        *open.per_peer.entry(peer).or_default() += 1;
        open.total += 1;
        Some(Admitted {
            peer,
            open: self.open.clone(),
        })
    }
}

/// One admitted connection; dropping it frees its place.
struct Admitted {
    peer: IpAddr,
    open: Arc<Mutex<Count>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.per_peer.remove(&self.peer);
            }
        }
    }
}

impl<A, S> Accept<TcpStream, S> for LimitAcceptor<A>
where
    A: Accept<TcpStream, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Watched<A::Stream>;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn Future<Output = std::io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.admit(peer.ip()));
        let Some(admitted) = admitted else {
            // Dropping the stream closes it: the peer holds too many, or the provider is full.
            return Box::pin(std::future::ready(Err(std::io::Error::other(
                "connection limit reached",
            ))));
        };
        let accepting = self.inner.accept(stream, service);
        let idle = self.limits.idle;
        Box::pin(async move {
            let (stream, service) = accepting.await?;
            Ok((
                Watched {
                    inner: stream,
                    _admitted: admitted,
                    idle,
                    silence: Box::pin(tokio::time::sleep(idle)),
                },
                service,
            ))
        })
    }
}

/// A connection that holds its place within the limits and ends when it stays silent.
pub struct Watched<S> {
    inner: S,
    _admitted: Admitted,
    idle: Duration,
    silence: Pin<Box<tokio::time::Sleep>>,
}

impl<S> Watched<S> {
    fn heard(&mut self) {
        self.silence
            .as_mut()
            .reset(tokio::time::Instant::now() + self.idle);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Pending => match self.silence.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the connection stayed silent",
                ))),
                Poll::Pending => Poll::Pending,
            },
            ready => {
                self.heard();
                ready
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if written.is_ready() {
            self.heard();
        }
        written
    }
    // TLS writes a record's parts at once; without this each part would be a write of its own.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if written.is_ready() {
            self.heard();
        }
        written
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Reads a request's body whole, within the body timeout and up to `max` bytes, before the
/// request goes on. A body over `max` is still drained (up to a bound) so that the 413 reaches
/// a client that is still sending.
pub async fn read_body_first(
    timeout: Duration,
    max: usize,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let reading = async {
        let mut body = body;
        let mut kept: Vec<u8> = Vec::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the request body could not be read: {e}"),
                )
            })?;
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen > DRAINED * max {
                    break;
                }
                if seen <= max {
                    kept.extend_from_slice(&data);
                }
            }
        }
        if seen > max {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {max} bytes"),
            ));
        }
        Ok(Bytes::from(kept))
    };
    match tokio::time::timeout(timeout, reading).await {
        Err(_) => crate::endpoints::reject(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs_f64()
            ),
        ),
        Ok(Err((status, reason))) => crate::endpoints::reject(status, reason),
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// How many times the limit a body over it is drained before the provider answers anyway.
const DRAINED: usize = 4;
