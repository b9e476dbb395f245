//! How far an exchange with a provider got before it broke, precisely enough to judge it, and
//! said in plain words: no TCP connection, a TLS handshake refused or broken, a request that got
//! no response, a response head followed by a body that was cut, stalled, reset or too large.
//!
//! Only a refusal of the connection itself counts as the provider refusing (`refused`): the
//! harness presented no client certificate and the provider ended the TLS handshake, or closed
//! the connection before the harness sent its request. Once the request is on its way, a close,
//! a reset or a broken body is a broken exchange, never a refusal.

use std::time::Duration;

/// Where and how an exchange broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The request cannot be sent as written (a header value, a URL that is not https).
    Unsendable,
    /// No TCP connection: nothing listens, the host is unreachable, the name does not resolve,
    /// or nothing answered within the timeout.
    NoConnection,
    /// The provider ended the TLS handshake (with an alert, or by closing the connection), or
    /// closed the connection after it and before the harness sent its request.
    TlsRefused {
        /// The TLS alert it sent, in the registry's words (`certificate_required`), if any.
        alert: Option<String>,
        /// Whether the harness presented its client certificate.
        presented_certificate: bool,
    },
    /// The provider's server certificate is not acceptable to the harness.
    ServerCertificate,
    /// The provider broke TLS: bytes that are not TLS, plain HTTP on the HTTPS port, a record
    /// that does not decrypt, an alert after the handshake.
    TlsBroken,
    /// The TLS handshake did not finish within the timeout.
    HandshakeStalled,
    /// The request was sent; the connection closed (or was reset) before any response byte.
    ClosedBeforeResponse { reset: bool },
    /// The request was sent; no complete response head arrived within the timeout.
    NoResponse {
        /// Bytes of a response head that did arrive.
        received: u64,
    },
    /// Bytes arrived that are not a complete, valid HTTP response head.
    BadHead { received: u64 },
    /// The response head arrived (with this status); its body did not.
    BodyBroken {
        status: u16,
        /// Body bytes received before it broke.
        received: u64,
        how: BodyBreak,
    },
    /// The harness waited for a request from the provider, and none came.
    NothingArrived,
}

/// How a response body broke after its head arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyBreak {
    /// The connection closed before the body was complete (`expected`: Content-Length).
    Truncated { expected: Option<u64> },
    /// No more bytes arrived before the timeout.
    Stalled,
    /// Bytes kept arriving until the timeout ran out.
    Endless,
    /// The connection was reset, or TLS broke, in the middle of the body.
    Reset,
    /// Longer than the harness reads (`declared`: a Content-Length over the limit).
    TooLarge { declared: Option<u64> },
}

/// The harness could not get a (complete) response: how far it got, why, in plain words, and
/// after how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFailure {
    pub kind: Failure,
    /// What happened, at which byte count and after how long, for people.
    pub message: String,
    pub elapsed: Duration,
}

impl ConnectionFailure {
    pub fn new(kind: Failure, message: impl Into<String>, elapsed: Duration) -> Self {
        Self {
            kind,
            message: message.into(),
            elapsed,
        }
    }

    /// Whether the provider refused the connection: only when the harness presented no client
    /// certificate and the provider ended the handshake or closed before the request was sent.
    /// A provider that takes the request and then closes, resets or cuts its answer did not
    /// refuse it.
    pub fn refused(&self) -> bool {
        match &self.kind {
            Failure::TlsRefused {
                presented_certificate,
                ..
            } => !presented_certificate,
            // The status line is the refusal; a body cut after it does not take it back.
            Failure::BodyBroken { status, .. } => (400..500).contains(status),
            _ => false,
        }
    }

    /// Nothing answered at all: the provider cannot be reached.
    pub fn unreachable(&self) -> bool {
        matches!(self.kind, Failure::NoConnection)
    }

    /// The status line, when the head arrived before the exchange broke.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            Failure::BodyBroken { status, .. } => Some(status),
            _ => None,
        }
    }
}

impl std::fmt::Display for ConnectionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub use crate::units::{bytes, human};

/// Most characters of provider text a message quotes.
pub const QUOTED_CHARS: usize = 200;

/// Text a provider sent, made safe to print: control characters escaped (so a provider cannot
/// colour a terminal or break a log line), cut to `max` characters with the length said.
pub fn quote(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (shown, c) in text.chars().enumerate() {
        if shown == max {
            out.push_str(&format!("… ({} in all)", self::bytes(bytes.len() as u64)));
            return out;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A body that is text (UTF-8 without control characters other than line breaks and tabs).
pub fn is_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|t| {
        !t.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: Failure) -> ConnectionFailure {
        ConnectionFailure::new(kind, "", Duration::ZERO)
    }

    #[test]
    fn only_a_refusal_of_the_connection_without_a_certificate_is_refused() {
        let refused = |alert: Option<&str>, presented_certificate| {
            failure(Failure::TlsRefused {
                alert: alert.map(str::to_string),
                presented_certificate,
            })
            .refused()
        };
        assert!(refused(Some("certificate_required"), false));
        assert!(refused(None, false));
        // With its certificate presented, the harness's request was not what was refused.
        assert!(!refused(Some("bad_certificate"), true));
        for kind in [
            Failure::ClosedBeforeResponse { reset: true },
            Failure::ClosedBeforeResponse { reset: false },
            Failure::NoResponse { received: 0 },
            Failure::BadHead { received: 17 },
            Failure::TlsBroken,
            Failure::NoConnection,
            Failure::HandshakeStalled,
            Failure::BodyBroken {
                status: 200,
                received: 3,
                how: BodyBreak::Truncated { expected: Some(10) },
            },
            Failure::BodyBroken {
                status: 503,
                received: 0,
                how: BodyBreak::Reset,
            },
        ] {
            assert!(!failure(kind.clone()).refused(), "{kind:?}");
        }
        assert!(failure(Failure::BodyBroken {
            status: 403,
            received: 2,
            how: BodyBreak::Reset
        })
        .refused());
    }

    #[test]
    fn quoted_text_has_no_control_bytes_and_a_bounded_width() {
        let nasty = b"\x1b[31mred\x1b[0m\0\x07 line\nbreak";
        let q = quote(nasty, 100);
        assert!(!q.chars().any(char::is_control), "{q:?}");
        assert_eq!(q, "\\x1b[31mred\\x1b[0m\\x00\\x07 line\\nbreak");
        let long = vec![b'a'; 1 << 20];
        let q = quote(&long, 10);
        assert_eq!(q, "aaaaaaaaaa… (1.0 MiB in all)");
    }
}
