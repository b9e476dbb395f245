//! Link B's HTTPS client, one connection per request, watched byte by byte: it connects, shakes
//! hands, sends the request and reads the answer itself (hyper over tokio-rustls), and records
//! what came from the provider at each layer, so that when an exchange breaks it can say how
//! far it got (`outcome::Failure`), at which byte count and after how long. A client library
//! that retries, pools and folds every close into one error cannot tell a TLS refusal from a
//! crash after the request, which is the difference between a pass and a fail.

use super::link_b::{Request, Response, MAX_RESPONSE_BYTES};
use super::outcome::{bytes, human, quote, BodyBreak, ConnectionFailure, Failure};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How long, without a client certificate, the harness waits after the handshake for the
/// provider's verdict on it before sending: in TLS 1.3 a server rejects a missing certificate
/// after the client's handshake is done, and a request sent into that rejection turns the
/// alert into a reset that looks like a crash. A server that accepts sends its session tickets
/// or HTTP/2 settings at once, which ends the wait early; so does a refusal. In TLS 1.2 the
/// verdict is part of the handshake, and there is no wait.
const CERTIFICATE_VERDICT_WAIT: Duration = Duration::from_secs(5);

/// Most header bytes the harness reads in a response head.
const MAX_HEAD_BYTES: usize = 64 << 10;
/// Most header fields in a response head.
const MAX_HEADERS: usize = 100;

/// What the harness saw arrive from the provider, below and above TLS.
#[derive(Default, Debug)]
struct Seen {
    /// Bytes read from the TCP connection (TLS records).
    raw: u64,
    /// The first of them, to recognise a server that does not speak TLS.
    first_raw: Vec<u8>,
    /// How reading the TCP connection ended, if it did.
    raw_end: Option<End>,
    /// Decrypted bytes: the HTTP response (for HTTP/2, frames of the connection too).
    plain: u64,
    /// The first of them, to quote a response head that is not HTTP.
    first_plain: Vec<u8>,
    /// How reading the decrypted stream ended, if it did.
    plain_end: Option<End>,
}

#[derive(Debug, Clone)]
enum End {
    Closed,
    Reset,
    Tls(rustls::Error),
    Other(String),
}

impl End {
    fn of(e: &std::io::Error) -> Self {
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return End::Tls(tls.clone());
        }
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof => End::Closed,
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => End::Reset,
            _ => End::Other(e.to_string()),
        }
    }
}

type Shared = Arc<Mutex<Seen>>;

fn lock(seen: &Shared) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|e| e.into_inner())
}

/// How much of the first bytes to keep for a diagnosis.
const KEPT: usize = 64;

/// A stream that records what is read from it, in `raw` or `plain` of the shared record, and
/// first replays `prefix` (bytes the harness read before hyper took the stream).
struct Tap<T> {
    inner: T,
    seen: Shared,
    plain: bool,
    prefix: Vec<u8>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tap<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let rest = self.prefix.split_off(n);
            buf.put_slice(&self.prefix);
            self.prefix = rest;
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let plain = self.plain;
        let mut seen = lock(&self.seen);
        let (count, first, end) = if plain {
            let s = &mut *seen;
            (&mut s.plain, &mut s.first_plain, &mut s.plain_end)
        } else {
            let s = &mut *seen;
            (&mut s.raw, &mut s.first_raw, &mut s.raw_end)
        };
        match &result {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if new.is_empty() && buf.remaining() > 0 {
                    end.get_or_insert(End::Closed);
                }
                *count += new.len() as u64;
                let keep = KEPT.saturating_sub(first.len()).min(new.len());
                first.extend_from_slice(&new[..keep]);
            }
            Poll::Ready(Err(e)) => {
                end.get_or_insert(End::of(e));
            }
            Poll::Pending => {}
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tap<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    // hyper and TLS write a frame's or a record's parts at once; without these, each part
    // would be a write (and a TLS record, and a TCP segment) of its own.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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

type TlsStream = tokio_rustls::client::TlsStream<Tap<TcpStream>>;

/// The connection an exchange goes over: a kept HTTP/2 one, or a new one.
enum Connection {
    Kept(Kept),
    New(Box<TokioIo<Tap<TlsStream>>>),
}

/// Aborts the task driving a connection when the exchange is over, however it ended.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An HTTP/2 connection kept for the next requests to the same place: HTTP/2 multiplexes, so
/// a request's outcome is still its own stream's (HTTP/1.1 connections are not kept).
#[derive(Clone)]
struct Kept {
    sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    seen: Shared,
    driver: Arc<AbortOnDrop>,
    /// When a request last went over it.
    used: Instant,
}

/// How long a kept connection may have been idle and still be used: well under any server's
/// idle timeout, so that a request never races the server closing it.
const KEPT_IDLE: Duration = Duration::from_secs(5);

/// Where a kept connection goes: with or without the client certificate, the address, the
/// name TLS authenticated.
type Place = (bool, SocketAddr, String);

/// Link B's client for one provider profile.
pub struct Transport {
    with_certificate: Arc<rustls::ClientConfig>,
    without_certificate: Arc<rustls::ClientConfig>,
    /// Address overrides: domain → socket address.
    overrides: BTreeMap<String, SocketAddr>,
    kept: Mutex<std::collections::HashMap<Place, Kept>>,
}

impl Transport {
    pub fn new(
        with_certificate: rustls::ClientConfig,
        without_certificate: rustls::ClientConfig,
        overrides: BTreeMap<String, SocketAddr>,
    ) -> Self {
        Self {
            with_certificate: Arc::new(with_certificate),
            without_certificate: Arc::new(without_certificate),
            overrides,
            kept: Default::default(),
        }
    }

    /// The kept connection to `place`, if it is still open.
    fn kept(&self, place: &Place) -> Option<Kept> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        match kept.get_mut(place) {
            Some(k) if !k.sender.is_closed() && k.used.elapsed() < KEPT_IDLE => {
                k.used = Instant::now();
                Some(k.clone())
            }
            Some(_) => {
                kept.remove(place);
                None
            }
            None => None,
        }
    }

    pub async fn send(&self, request: &Request) -> Result<Response, ConnectionFailure> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + request.timeout;
        // Every message says after how long; those of a timeout say which timeout already.
        let fail = |kind: Failure, message: String| {
            let elapsed = started.elapsed();
            let message = match kind {
                Failure::HandshakeStalled
                | Failure::NoResponse { .. }
                | Failure::BodyBroken {
                    how: BodyBreak::Stalled | BodyBreak::Endless,
                    ..
                } => message,
                _ => format!("{message} (after {})", human(elapsed)),
            };
            ConnectionFailure::new(kind, message, elapsed)
        };
        let url = reqwest::Url::parse(&request.url).map_err(|e| {
            fail(
                Failure::Unsendable,
                format!("{:?} is not a URL ({e})", request.url),
            )
        })?;
        if url.scheme() != "https" {
            return Err(fail(
                Failure::Unsendable,
                format!(
                    "{url} is not an https URL; link B is HTTPS only (P-06 §4.1), so the harness does not send it"
                ),
            ));
        }
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) else {
                return Err(fail(
                    Failure::Unsendable,
                    format!("header {name}: {value:?} cannot be sent in HTTP"),
                ));
            };
            headers.insert(n, v);
        }
        let server_name = ServerName::try_from(host.clone()).map_err(|e| {
            fail(
                Failure::Unsendable,
                format!("{host:?} cannot be named in TLS: {e}"),
            )
        })?;

        // TCP.
        let addr = match self.overrides.get(&host) {
            Some(addr) => *addr,
            None => {
                tokio::time::timeout_at(deadline, tokio::net::lookup_host((host.as_str(), port)))
                    .await
                    .map_err(|_| {
                        fail(
                            Failure::NoConnection,
                            format!(
                                "the name {host} did not resolve within {}",
                                human(request.timeout)
                            ),
                        )
                    })?
                    .map_err(|e| {
                        fail(
                            Failure::NoConnection,
                            format!("the name {host} does not resolve: {e}"),
                        )
                    })?
                    .next()
                    .ok_or_else(|| {
                        fail(
                            Failure::NoConnection,
                            format!("the name {host} resolves to no address"),
                        )
                    })?
            }
        };
        let operation = format!("{} {url}", request.method);
        let place: Place = (request.client_certificate, addr, host.clone());
        let (seen, h2, connection) = match self.kept(&place) {
            Some(kept) => (kept.seen.clone(), true, Connection::Kept(kept)),
            None => {
                crate::run_control::operation(|| format!("a TCP connection to {host} at {addr}"));
                let tcp = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                    Err(_) => {
                        return Err(fail(
                            Failure::NoConnection,
                            format!(
                                "no TCP connection to {host} at {addr} within {}",
                                human(request.timeout)
                            ),
                        ))
                    }
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        return Err(fail(
                            Failure::NoConnection,
                            format!(
                        "nothing accepts connections for {host} at {addr} (connection refused)"
                    ),
                        ))
                    }
                    Ok(Err(e)) => {
                        return Err(fail(
                            Failure::NoConnection,
                            format!("could not connect to {host} at {addr}: {e}"),
                        ))
                    }
                    Ok(Ok(tcp)) => tcp,
                };
                let _ = tcp.set_nodelay(true);

                // TLS.
                let seen: Shared = Default::default();
                let config = if request.client_certificate {
                    self.with_certificate.clone()
                } else {
                    self.without_certificate.clone()
                };
                let raw = Tap {
                    inner: tcp,
                    seen: seen.clone(),
                    plain: false,
                    prefix: Vec::new(),
                };
                crate::run_control::operation(|| {
                    format!("the TLS handshake with {host} at {addr}")
                });
                let connecting = tokio_rustls::TlsConnector::from(config).connect(server_name, raw);
                let mut tls = match tokio::time::timeout_at(deadline, connecting).await {
                    Err(_) => {
                        let raw = lock(&seen).raw;
                        return Err(fail(
                            Failure::HandshakeStalled,
                            if raw == 0 {
                                format!(
                            "{host} at {addr} accepted the TCP connection and then sent nothing for {}: no TLS handshake",
                            human(request.timeout)
                        )
                            } else {
                                format!(
                            "the TLS handshake with {host} at {addr} did not finish within {} ({} received)",
                            human(request.timeout),
                            bytes(raw)
                        )
                            },
                        ));
                    }
                    Ok(Err(e)) => {
                        let (kind, message) =
                            handshake_failure(&e, &lock(&seen), request.client_certificate, &host);
                        return Err(fail(kind, message));
                    }
                    Ok(Ok(tls)) => tls,
                };
                let tls13 =
                    tls.get_ref().1.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
                let prefix = if request.client_certificate || !tls13 {
                    Vec::new()
                } else {
                    certificate_verdict(&mut tls, &seen, deadline)
                        .await
                        .map_err(|(kind, message)| fail(kind, message))?
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let io = TokioIo::new(Tap {
                    inner: tls,
                    seen: seen.clone(),
                    plain: true,
                    prefix,
                });
                (seen, h2, Connection::New(Box::new(io)))
            }
        };

        // HTTP.
        let method = request.method.clone();
        let mut builder = hyper::Request::builder().method(method.clone());
        if h2 {
            builder = builder.uri(url.as_str());
        } else {
            builder = builder.uri(match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            });
            if !headers.contains_key(hyper::header::HOST) {
                let authority = match url.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.clone(),
                };
                if let Ok(v) = HeaderValue::try_from(authority) {
                    headers.insert(hyper::header::HOST, v);
                }
            }
        }
        let body = if method == reqwest::Method::GET {
            Bytes::new()
        } else {
            Bytes::from(request.body.clone())
        };
        let mut http_request = builder.body(Full::new(body)).map_err(|e| {
            fail(
                Failure::Unsendable,
                format!("the request cannot be built: {e}"),
            )
        })?;
        *http_request.headers_mut() = headers;

        let sent = async {
            match connection {
                Connection::Kept(kept) => {
                    let mut sender = kept.sender.clone();
                    Ok((sender.send_request(http_request).await?, kept.driver))
                }
                Connection::New(io) if h2 => {
                    let (mut sender, connection) =
                        hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                            .max_header_list_size(MAX_HEAD_BYTES as u32)
                            .handshake(*io)
                            .await?;
                    let driver = Arc::new(AbortOnDrop(tokio::spawn(async move {
                        let _ = connection.await;
                    })));
                    self.kept.lock().unwrap_or_else(|e| e.into_inner()).insert(
                        place,
                        Kept {
                            sender: sender.clone(),
                            seen: seen.clone(),
                            driver: driver.clone(),
                            used: Instant::now(),
                        },
                    );
                    Ok((sender.send_request(http_request).await?, driver))
                }
                Connection::New(io) => {
                    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
                        .max_headers(MAX_HEADERS)
                        .max_buf_size(MAX_HEAD_BYTES.max(8192))
                        .handshake(*io)
                        .await?;
                    let driver = Arc::new(AbortOnDrop(tokio::spawn(async move {
                        let _ = connection.await;
                    })));
                    Ok((sender.send_request(http_request).await?, driver))
                }
            }
        };
        crate::run_control::operation(|| format!("the response to {operation}"));
        let (response, _driver) = match tokio::time::timeout_at(deadline, sent).await {
            Err(_) => {
                let received = if h2 { 0 } else { lock(&seen).plain };
                return Err(fail(
                    Failure::NoResponse { received },
                    if received == 0 {
                        format!(
                            "the request was sent; no response came within {}",
                            human(request.timeout)
                        )
                    } else {
                        format!(
                            "the request was sent; only {} of a response head came within {}: {}",
                            bytes(received),
                            human(request.timeout),
                            quote(&lock(&seen).first_plain, 80)
                        )
                    },
                ));
            }
            Ok(Err(e)) => {
                let (kind, message) =
                    head_failure(&e, &lock(&seen), h2, request.client_certificate);
                return Err(fail(kind, message));
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let response_headers = response.headers().clone();
        let declared = response_headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let answered = |what: String| format!("the provider answered {status}, then {what}");
        if let Some(declared) = declared.filter(|d| *d > MAX_RESPONSE_BYTES as u64) {
            return Err(fail(
                Failure::BodyBroken {
                    status,
                    received: 0,
                    how: BodyBreak::TooLarge {
                        declared: Some(declared),
                    },
                },
                answered(format!(
                    "declared a body of {} (Content-Length: {declared}), more than the {} the harness reads; it did not read it",
                    bytes(declared),
                    bytes(MAX_RESPONSE_BYTES as u64)
                )),
            ));
        }
        crate::run_control::operation(|| format!("the body of the response to {operation}"));
        let mut body = response.into_body();
        let mut received: Vec<u8> = Vec::new();
        let mut last_progress = Instant::now();
        loop {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    let quiet = last_progress.elapsed();
                    // Bytes in the last second: the body is still coming, not stalled.
                    let endless = !received.is_empty() && quiet < Duration::from_secs(1);
                    let how = if endless {
                        BodyBreak::Endless
                    } else {
                        BodyBreak::Stalled
                    };
                    let what = if endless {
                        format!(
                            "its body was still arriving when the timeout of {} ran out ({} so far{})",
                            human(request.timeout),
                            bytes(received.len() as u64),
                            declared.map(|d| format!(" of {}", bytes(d))).unwrap_or_default()
                        )
                    } else {
                        format!(
                            "its body stalled: {}{} arrived, then nothing for {} until the timeout of {} ran out",
                            bytes(received.len() as u64),
                            declared.map(|d| format!(" of {}", bytes(d))).unwrap_or_default(),
                            human(quiet),
                            human(request.timeout)
                        )
                    };
                    return Err(fail(
                        Failure::BodyBroken {
                            status,
                            received: received.len() as u64,
                            how,
                        },
                        answered(what),
                    ));
                }
                Ok(None) => break,
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if received.len() + data.len() > MAX_RESPONSE_BYTES {
                            return Err(fail(
                                Failure::BodyBroken {
                                    status,
                                    received: received.len() as u64,
                                    how: BodyBreak::TooLarge { declared: None },
                                },
                                answered(format!(
                                    "sent a body longer than the {} the harness reads; it stopped reading",
                                    bytes(MAX_RESPONSE_BYTES as u64)
                                )),
                            ));
                        }
                        received.extend_from_slice(&data);
                        last_progress = Instant::now();
                    }
                }
                Ok(Some(Err(e))) => {
                    let n = received.len() as u64;
                    let seen = lock(&seen);
                    let end = seen.plain_end.clone().or_else(|| seen.raw_end.clone());
                    let (how, what) = match end {
                        Some(End::Reset) => (
                            BodyBreak::Reset,
                            format!("the connection was reset after {} of its body", bytes(n)),
                        ),
                        Some(End::Tls(t)) => (
                            BodyBreak::Reset,
                            format!("TLS broke after {} of its body: {}", bytes(n), tls_words(&t)),
                        ),
                        _ if e.is_incomplete_message() || matches!(end, Some(End::Closed)) || is_incomplete_body(&e) => (
                            BodyBreak::Truncated { expected: declared },
                            match declared {
                                Some(d) => format!(
                                    "the connection closed after {} of the {} its Content-Length announced",
                                    bytes(n),
                                    bytes(d)
                                ),
                                None => format!(
                                    "the connection closed after {} of its body, before the body's end",
                                    bytes(n)
                                ),
                            },
                        ),
                        _ => (
                            BodyBreak::Reset,
                            format!("its body broke after {}: {}", bytes(n), chain(&e)),
                        ),
                    };
                    return Err(fail(
                        Failure::BodyBroken {
                            status,
                            received: n,
                            how,
                        },
                        answered(what),
                    ));
                }
            }
        }
        Ok(Response {
            status,
            headers: response_headers,
            body: received,
            elapsed: started.elapsed(),
        })
    }
}

/// Without a client certificate: waits for the provider's verdict on the handshake before the
/// request is sent (see `CERTIFICATE_VERDICT_WAIT`). Returns the application bytes read while
/// waiting (HTTP/2 settings), which hyper must still see.
async fn certificate_verdict(
    tls: &mut TlsStream,
    seen: &Shared,
    deadline: tokio::time::Instant,
) -> Result<Vec<u8>, (Failure, String)> {
    let until = deadline.min(tokio::time::Instant::now() + CERTIFICATE_VERDICT_WAIT);
    let before = lock(seen).raw;
    let mut buf = vec![0u8; 16 << 10];
    let wait = std::future::poll_fn(|cx| {
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut *tls).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) if read.filled().is_empty() => Poll::Ready(Err(None)),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().to_vec())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(Some(e))),
            // Records arrived and were taken by TLS itself (session tickets): accepted.
            Poll::Pending if lock(seen).raw > before => Poll::Ready(Ok(Vec::new())),
            Poll::Pending => Poll::Pending,
        }
    });
    let refused = |alert: Option<String>, how: String| {
        Err((
            Failure::TlsRefused {
                alert,
                presented_certificate: false,
            },
            how,
        ))
    };
    match tokio::time::timeout_at(until, wait).await {
        Err(_) => Ok(Vec::new()),
        Ok(Ok(prefix)) => Ok(prefix),
        Ok(Err(None)) => refused(
            None,
            "the provider closed the connection right after the TLS handshake, before the harness sent its request; the harness presented no client certificate".into(),
        ),
        Ok(Err(Some(e))) => match End::of(&e) {
            End::Tls(rustls::Error::AlertReceived(alert)) => {
                let name = alert_name(&alert);
                refused(
                    Some(name.clone()),
                    format!(
                        "the provider ended the TLS connection with the alert {name} before the harness sent its request: the harness presented no client certificate"
                    ),
                )
            }
            End::Tls(other) => Err((
                Failure::TlsBroken,
                format!("the provider broke TLS right after the handshake: {}", tls_words(&other)),
            )),
            End::Closed | End::Reset => refused(
                None,
                "the provider closed the connection right after the TLS handshake, before the harness sent its request; the harness presented no client certificate".into(),
            ),
            End::Other(text) => Err((
                Failure::TlsBroken,
                format!("the connection failed right after the TLS handshake: {text}"),
            )),
        },
    }
}

/// Why the TLS handshake failed, from the error and what arrived.
fn handshake_failure(
    e: &std::io::Error,
    seen: &Seen,
    presented_certificate: bool,
    host: &str,
) -> (Failure, String) {
    let received = bytes(seen.raw);
    match End::of(e) {
        End::Tls(rustls::Error::AlertReceived(alert)) => {
            let name = alert_name(&alert);
            let why = match (presented_certificate, certificate_alert(&name)) {
                (true, true) => " it did not accept the harness's client certificate (is the harness's CA among its trust roots, and does the certificate authenticate the profile's harness.domain?)",
                (false, _) => " the harness presented no client certificate",
                (true, false) => " the provider and the harness could not agree on TLS",
            };
            (
                Failure::TlsRefused {
                    alert: Some(name.clone()),
                    presented_certificate,
                },
                format!("the provider ended the TLS handshake with the alert {name}:{why}"),
            )
        }
        End::Tls(rustls::Error::InvalidCertificate(why)) => (
            Failure::ServerCertificate,
            format!(
                "the provider's server certificate is not acceptable: {} (check the profile's trust-roots, and that the certificate authenticates {host})",
                certificate_words(&why)
            ),
        ),
        End::Tls(rustls::Error::PeerIncompatible(why)) => (
            Failure::TlsBroken,
            format!("the provider and the harness share no TLS version or cipher suite ({why:?})"),
        ),
        End::Tls(other) => (Failure::TlsBroken, not_tls(seen).unwrap_or_else(|| {
            format!("the provider broke the TLS handshake after {received}: {}", tls_words(&other))
        })),
        End::Closed | End::Reset if seen.raw == 0 => (
            Failure::TlsBroken,
            format!(
                "the provider {} the connection before sending any TLS byte",
                if matches!(End::of(e), End::Reset) { "reset" } else { "closed" }
            ),
        ),
        end @ (End::Closed | End::Reset) => (
            Failure::TlsRefused {
                alert: None,
                presented_certificate,
            },
            format!(
                "the provider {} the connection during the TLS handshake, after {received}, without an alert{}",
                if matches!(end, End::Reset) { "reset" } else { "closed" },
                if presented_certificate { "" } else { "; the harness presented no client certificate" }
            ),
        ),
        End::Other(text) => (
            Failure::TlsBroken,
            not_tls(seen).unwrap_or_else(|| format!("the TLS handshake failed after {received}: {text}")),
        ),
    }
}

/// A diagnosis of a server that does not speak TLS at all, from its first bytes.
fn not_tls(seen: &Seen) -> Option<String> {
    let first = &seen.first_raw;
    if first.is_empty() {
        return None;
    }
    if first.starts_with(b"HTTP/") {
        let line = first
            .split(|b| *b == b'\r' || *b == b'\n')
            .next()
            .unwrap_or(first);
        return Some(format!(
            "the server speaks plain HTTP on the HTTPS port: it answered the TLS handshake with \"{}\"",
            quote(line, 60)
        ));
    }
    // A TLS record starts with its content type (20 to 23) and major version 3.
    let looks_like_tls = matches!(first.first(), Some(20..=23)) && first.get(1) == Some(&3);
    if looks_like_tls {
        return None;
    }
    let start = &first[..first.len().min(24)];
    let text = if super::outcome::is_text(start) {
        format!(" \"{}\"", quote(start, 24))
    } else {
        String::new()
    };
    Some(format!(
        "the server sent bytes that are not TLS ({} in all, starting {}{text})",
        bytes(seen.raw),
        hex::encode(&first[..first.len().min(8)]),
    ))
}

/// Why no response head arrived, from hyper's error and what arrived.
fn head_failure(
    e: &hyper::Error,
    seen: &Seen,
    h2: bool,
    presented_certificate: bool,
) -> (Failure, String) {
    let received = if h2 { 0 } else { seen.plain };
    let end = seen.plain_end.clone().or_else(|| seen.raw_end.clone());
    if let Some(End::Tls(tls)) = &end {
        if let rustls::Error::AlertReceived(alert) = tls {
            let name = alert_name(alert);
            if received == 0 && certificate_alert(&name) {
                // TLS 1.3: the server judges the client's certificate after the client's
                // handshake is done, so its refusal can arrive after the request.
                return (
                    Failure::TlsRefused {
                        alert: Some(name.clone()),
                        presented_certificate,
                    },
                    format!(
                        "the provider sent the TLS alert {name} instead of a response:{}",
                        if presented_certificate {
                            " it did not accept the harness's client certificate (is the harness's CA among its trust roots?)"
                        } else {
                            " the harness presented no client certificate"
                        }
                    ),
                );
            }
        }
        return (
            Failure::TlsBroken,
            format!(
                "the request was sent; TLS broke after {} of the response: {}",
                bytes(received),
                tls_words(tls)
            ),
        );
    }
    if let Some(reason) = h2_reason(e) {
        return (
            Failure::ClosedBeforeResponse { reset: true },
            format!("the request was sent; the provider ended the HTTP/2 stream ({reason}) before any response"),
        );
    }
    if e.is_parse_too_large() {
        return (
            Failure::BadHead { received },
            format!(
                "the response head is larger than the harness reads ({} header bytes or {MAX_HEADERS} header fields); {} arrived",
                bytes(MAX_HEAD_BYTES as u64),
                bytes(received)
            ),
        );
    }
    if e.is_parse() || e.is_parse_status() {
        return (
            Failure::BadHead { received },
            format!(
                "the provider answered with bytes that are not an HTTP response ({}): \"{}\"",
                bytes(received),
                quote(&seen.first_plain, 60)
            ),
        );
    }
    let reset = matches!(end, Some(End::Reset));
    if received == 0 {
        let how = if reset { "reset" } else { "closed" };
        return (
            Failure::ClosedBeforeResponse { reset },
            format!(
                "the request was sent; the provider {how} the connection before any response byte, without a TLS alert{}",
                if presented_certificate {
                    // TLS 1.3 judges the client's certificate after the client's handshake is
                    // done: a refusal can race the request and lose its alert.
                    " (a provider that does not accept the harness's client certificate can end a TLS 1.3 connection this way too: check that it trusts the harness's CA)"
                } else {
                    " (it took the request: this is not a refusal of the connection)"
                }
            ),
        );
    }
    (
        Failure::BadHead { received },
        format!(
            "the request was sent; the connection {} after {} of the response head: \"{}\"",
            if reset { "was reset" } else { "closed" },
            bytes(received),
            quote(&seen.first_plain, 60)
        ),
    )
}

fn h2_reason(e: &hyper::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(h2) = s.downcast_ref::<h2::Error>() {
            return Some(match h2.reason() {
                Some(r) => format!("{r:?}"),
                None => h2.to_string(),
            });
        }
        source = s.source();
    }
    None
}

fn is_incomplete_body(e: &hyper::Error) -> bool {
    chain(e).contains("end of file before message length reached")
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// An alert's name as the TLS registry writes it: `certificate_required`.
fn alert_name(alert: &rustls::AlertDescription) -> String {
    let camel = format!("{alert:?}");
    let mut out = String::new();
    let mut previous_lower = false;
    for c in camel.chars() {
        // A word starts at a capital after a small letter: `UnknownCA` is `unknown_ca`.
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Alerts by which a server refuses a client certificate (or the lack of one).
fn certificate_alert(name: &str) -> bool {
    matches!(
        name,
        "certificate_required"
            | "bad_certificate"
            | "unsupported_certificate"
            | "certificate_revoked"
            | "certificate_expired"
            | "certificate_unknown"
            | "unknown_ca"
            | "access_denied"
            | "handshake_failure"
            | "decrypt_error"
    )
}

fn certificate_words(why: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match why {
        C::UnknownIssuer => "it is not issued by any of the profile's trust roots".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it does not authenticate the provider's domain".into()
        }
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::BadSignature => "its signature does not verify".into(),
        C::Revoked => "it is revoked".into(),
        C::BadEncoding => "it is not a well-formed certificate".into(),
        other => format!("{other:?}"),
    }
}

/// A TLS error in words for people who do not read rustls.
fn tls_words(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(a) => format!("the provider sent the alert {}", alert_name(a)),
        rustls::Error::DecryptError => "a record from the provider does not decrypt".into(),
        rustls::Error::InvalidMessage(m) => {
            format!("the provider sent a malformed TLS message ({m:?})")
        }
        rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => {
            "the provider sent a TLS message out of order".into()
        }
        rustls::Error::PeerMisbehaved(m) => format!("the provider broke the TLS protocol ({m:?})"),
        rustls::Error::InvalidCertificate(c) => {
            format!(
                "the provider's certificate is not acceptable: {}",
                certificate_words(c)
            )
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_read_as_the_registry_names_them() {
        assert_eq!(
            alert_name(&rustls::AlertDescription::CertificateRequired),
            "certificate_required"
        );
        assert_eq!(
            alert_name(&rustls::AlertDescription::UnknownCA),
            "unknown_ca"
        );
        assert!(certificate_alert(&alert_name(
            &rustls::AlertDescription::BadCertificate
        )));
    }

    #[test]
    fn a_server_that_does_not_speak_tls_is_named_by_its_first_bytes() {
        let seen = |first: &[u8]| Seen {
            raw: first.len() as u64,
            first_raw: first.to_vec(),
            ..Default::default()
        };
        assert!(not_tls(&seen(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
            .unwrap()
            .contains("plain HTTP on the HTTPS port"));
        assert!(not_tls(&seen(b"SSH-2.0-OpenSSH\r\n"))
            .unwrap()
            .contains("not TLS"));
        assert_eq!(not_tls(&seen(&[22, 3, 3, 0, 5])), None);
    }
}
