//! A MIMI provider of our own that misbehaves on purpose, in named ways, at every layer: TCP,
//! TLS, the HTTP response head, the body, and the directory. It serves a correct directory on
//! the harness's first connection (unless it misbehaves from the start), then misbehaves on
//! every later one. It speaks HTTP/1.1 only, writing its answers byte by byte, so that each
//! misbehaviour is exactly what its name says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every way the fixture misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Accepts the TCP connection and sends nothing, ever.
    Silent,
    /// Accepts the TCP connection and closes it at once.
    CloseAtOnce,
    /// Answers the TLS ClientHello with random bytes.
    TlsGarbage,
    /// Answers the TLS ClientHello with a plain HTTP response.
    PlainHttp,
    /// Completes TLS, reads the request, answers with bytes that are not HTTP.
    NotHttp,
    /// Reads the request, then resets the connection before any response byte.
    ResetBeforeStatus,
    /// Reads the request, then closes the connection before any response byte.
    CloseBeforeStatus,
    /// Sends `HTTP/1.1 200 OK` and resets the connection.
    ResetAfterStatus,
    /// `200`, a Content-Length of 100, five bytes, and a close.
    ShortBodyClose,
    /// `200` with no length, a short body, and a close (a complete, close-delimited answer).
    CloseDelimited,
    /// `200`, a Content-Length of 1000, ten bytes, then nothing.
    StalledBody,
    /// `200`, then a chunked body that trickles forever.
    EndlessBody,
    /// `200`, then a chunked body streamed fast past any limit.
    OversizedBody,
    /// `200` with a Content-Length of one terabyte.
    HugeContentLength,
    /// Reads the request and never answers.
    NoResponse,
    /// `302` to the URL that was asked for.
    RedirectLoop,
    /// `307` to another host.
    OffHostRedirect,
    /// `200` whose body and a header carry control bytes and terminal escapes.
    ControlBytes,
    /// `503` with a Retry-After of three thousand years.
    HugeRetryAfter,
    /// `200` with ten thousand header fields.
    HeaderFlood,
    /// A directory of five megabytes.
    DirectoryHuge,
    /// A directory that is an HTML page.
    DirectoryNotJson,
    /// A directory that is JSON of the wrong shape (an array).
    DirectoryWrongTypes,
    /// `503` with a text body for the directory.
    DirectoryUnavailable,
    /// The control: `403` with a reason to every MIMI request, as a correct provider refuses.
    RefusesProperly,
}

impl Behaviour {
    pub fn name(self) -> String {
        let camel = format!("{self:?}");
        let mut out = String::new();
        for (i, c) in camel.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    /// Misbehaves before there is any request to look at (at TCP or TLS).
    fn before_http(self) -> bool {
        matches!(
            self,
            Behaviour::Silent
                | Behaviour::CloseAtOnce
                | Behaviour::TlsGarbage
                | Behaviour::PlainHttp
        )
    }

    fn directory_only(self) -> bool {
        matches!(
            self,
            Behaviour::DirectoryHuge
                | Behaviour::DirectoryNotJson
                | Behaviour::DirectoryWrongTypes
                | Behaviour::DirectoryUnavailable
        )
    }
}

pub const DOMAIN: &str = "vendor.example";
const DIRECTORY_PATH: &str = "/.well-known/mimi-protocol-directory";

/// A running hostile provider; it stops with the test's runtime.
pub struct Hostile {
    pub addr: std::net::SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

/// Starts the fixture. `from_start`: misbehave on the first connection too (the harness's
/// directory fetch), instead of only after it.
pub fn start(behaviour: Behaviour, from_start: bool, tls: rustls::ServerConfig) -> Hostile {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let connections = Arc::new(AtomicUsize::new(0));
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let index = connections.fetch_add(1, Ordering::SeqCst);
            let misbehave = from_start || index > 0 || behaviour.directory_only();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if misbehave && behaviour.before_http() {
                    before_http(behaviour, tcp).await;
                } else if let Ok(tls) = acceptor.accept(tcp).await {
                    serve(behaviour, misbehave, tls).await;
                }
            });
        }
    });
    Hostile {
        addr,
        _runtime: runtime,
    }
}

/// How long the fixture holds a connection it means never to answer.
const HOLD: Duration = Duration::from_secs(120);

async fn before_http(behaviour: Behaviour, mut tcp: TcpStream) {
    match behaviour {
        Behaviour::Silent => tokio::time::sleep(HOLD).await,
        Behaviour::CloseAtOnce => drop(tcp),
        Behaviour::TlsGarbage => {
            let mut hello = [0u8; 512];
            let _ = tcp.read(&mut hello).await;
            let garbage: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8 | 0x80).collect();
            let _ = tcp.write_all(&garbage).await;
            let _ = tcp.flush().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Behaviour::PlainHttp => {
            let mut hello = [0u8; 512];
            let _ = tcp.read(&mut hello).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 44\r\nConnection: close\r\n\r\nThis port speaks HTTP, not HTTPS. Go away.\r\n")
                .await;
            let _ = tcp.flush().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        _ => unreachable!("{behaviour:?} misbehaves in HTTP"),
    }
}

/// The request's head, and whether it asked for the directory.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf.len() - head_end;
    while body < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body += n;
    }
    Some(head)
}

fn directory() -> Vec<u8> {
    format!("{{\"keyMaterial\": \"https://{DOMAIN}/v1/keyMaterial/{{targetUser}}\"}}").into_bytes()
}

fn answer(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Resets the connection (RST, not FIN) when it is dropped.
fn reset_on_close(tls: &tokio_rustls::server::TlsStream<TcpStream>) {
    let _ = tls.get_ref().0.set_zero_linger();
}

async fn serve(
    behaviour: Behaviour,
    misbehave: bool,
    mut tls: tokio_rustls::server::TlsStream<TcpStream>,
) {
    let Some(head) = read_request(&mut tls).await else {
        return;
    };
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let asks_directory = path == DIRECTORY_PATH;
    if asks_directory && !misbehave {
        let _ = tls
            .write_all(&answer(
                "200 OK",
                &[("content-type", "application/json".into())],
                &directory(),
            ))
            .await;
        let _ = tls.shutdown().await;
        return;
    }
    // A directory misbehaviour answers other requests as a correct provider refuses them (the
    // harness never gets that far).
    let behaviour = if behaviour.directory_only() && !asks_directory {
        Behaviour::RefusesProperly
    } else {
        behaviour
    };
    match behaviour {
        Behaviour::Silent
        | Behaviour::CloseAtOnce
        | Behaviour::TlsGarbage
        | Behaviour::PlainHttp => {
            unreachable!("misbehaves before HTTP")
        }
        Behaviour::NotHttp => {
            let _ = tls
                .write_all(b"SSH-2.0-OpenSSH_9.6 not what you asked for\r\n")
                .await;
            let _ = tls.flush().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Behaviour::ResetBeforeStatus => reset_on_close(&tls),
        Behaviour::CloseBeforeStatus => {}
        Behaviour::ResetAfterStatus => {
            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n").await;
            let _ = tls.flush().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            reset_on_close(&tls);
        }
        Behaviour::ShortBodyClose => {
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 100\r\n\r\nshort")
                .await;
            let _ = tls.flush().await;
        }
        Behaviour::CloseDelimited => {
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\nshort")
                .await;
            let _ = tls.shutdown().await;
        }
        Behaviour::StalledBody => {
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789")
                .await;
            let _ = tls.flush().await;
            tokio::time::sleep(HOLD).await;
        }
        Behaviour::EndlessBody => {
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            loop {
                if tls.write_all(b"4\r\ndrip\r\n").await.is_err() || tls.flush().await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Behaviour::OversizedBody => {
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = [b'x'; 65536];
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            // 64 MiB at most: far past the harness's limit, and the test's end.
            for _ in 0..1024 {
                if tls.write_all(&framed).await.is_err() {
                    break;
                }
            }
        }
        Behaviour::HugeContentLength => {
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1099511627776\r\n\r\nthe start of a terabyte")
                .await;
            let _ = tls.flush().await;
            tokio::time::sleep(HOLD).await;
        }
        Behaviour::NoResponse => tokio::time::sleep(HOLD).await,
        Behaviour::RedirectLoop => {
            let _ = tls
                .write_all(&answer(
                    "302 Found",
                    &[("location", format!("https://{DOMAIN}{path}"))],
                    b"",
                ))
                .await;
        }
        Behaviour::OffHostRedirect => {
            let _ = tls
                .write_all(&answer(
                    "307 Temporary Redirect",
                    &[("location", "https://evil.example/collect".into())],
                    b"",
                ))
                .await;
        }
        Behaviour::ControlBytes => {
            let mut head =
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-vendor: caf\xe9\r\n".to_vec();
            let body = b"\x1b[31mRED\x1b[0m \x07bell \x00nul \x1b]0;pwned\x07 \r\x1b[2K";
            head.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
            head.extend_from_slice(body);
            let _ = tls.write_all(&head).await;
        }
        Behaviour::HugeRetryAfter => {
            let _ = tls
                .write_all(&answer(
                    "503 Service Unavailable",
                    &[
                        ("retry-after", "99999999999".into()),
                        ("content-type", "text/plain".into()),
                    ],
                    b"come back in three thousand years",
                ))
                .await;
        }
        Behaviour::HeaderFlood => {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..10_000 {
                head.extend_from_slice(format!("x-flood-{i}: {}\r\n", "f".repeat(20)).as_bytes());
            }
            head.extend_from_slice(b"content-length: 0\r\n\r\n");
            let _ = tls.write_all(&head).await;
        }
        Behaviour::DirectoryHuge => {
            let mut json = b"{\"keyMaterial\": \"https://vendor.example/v1/keyMaterial/{targetUser}\", \"padding\": \"".to_vec();
            json.extend(std::iter::repeat_n(b'p', 5 << 20));
            json.extend_from_slice(b"\"}");
            let _ = tls
                .write_all(&answer(
                    "200 OK",
                    &[("content-type", "application/json".into())],
                    &json,
                ))
                .await;
        }
        Behaviour::DirectoryNotJson => {
            let _ = tls
                .write_all(&answer(
                    "200 OK",
                    &[("content-type", "text/html".into())],
                    b"<html><body><h1>Welcome to nginx!</h1></body></html>",
                ))
                .await;
        }
        Behaviour::DirectoryWrongTypes => {
            let _ = tls
                .write_all(&answer(
                    "200 OK",
                    &[("content-type", "application/json".into())],
                    b"[\"keyMaterial\", 42]",
                ))
                .await;
        }
        Behaviour::DirectoryUnavailable => {
            let _ = tls
                .write_all(&answer(
                    "503 Service Unavailable",
                    &[("content-type", "text/plain".into())],
                    b"down for maintenance",
                ))
                .await;
        }
        Behaviour::RefusesProperly => {
            let _ = tls
                .write_all(&answer(
                    "403 Forbidden",
                    &[("content-type", "text/plain".into())],
                    b"refused: this request is not served (P-06 section 4.1)",
                ))
                .await;
        }
    }
    let _ = tls.flush().await;
}
