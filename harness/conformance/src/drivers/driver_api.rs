//! Links A and C: the driver API through which the harness acts as a provider's users
//! (specified in fixtures/driver-api/openapi.yaml). Each operation is an HTTP/JSON request with
//! the profile's bearer token.

use crate::drivers::link_b::{ConnectionFailure, Failure, Response};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use mimi_driver_spec::{operation, Operation};

use crate::case::model::DriverOperation;

/// The document's operation that a case's `driver` step names. The case model's vocabulary and
/// the document name the same operations (`model_and_document_agree`).
pub fn operation_for(op: DriverOperation) -> &'static Operation {
    operation(op.name()).unwrap_or_else(|| {
        panic!(
            "fixtures/driver-api/openapi.yaml does not declare {}, which the case model knows",
            op.name()
        )
    })
}

/// A provider's driver API.
pub struct DriverClient {
    pub base: String,
    token: String,
    client: reqwest::Client,
    /// The driver answered `awaitIdle` with 404: it does not have the optional operation, and
    /// is not asked again.
    idle_missing: AtomicBool,
}

/// What a driver says of its provider's outgoing work (`awaitIdle`).
#[derive(Debug)]
pub enum Settled {
    /// Nothing left to send; the answer took this long.
    Idle(Duration),
    /// Still sending when the wait ran out.
    Busy,
    /// The driver cannot say: why (it lacks the optional operation, or broke its contract).
    Unknown(String),
}

/// How much longer than the wait it asks for the harness gives `awaitIdle` to answer.
const IDLE_ANSWER_SLACK: Duration = Duration::from_secs(5);

impl DriverClient {
    pub fn new(base: &str, token: &str, trust_roots_pem: &[String]) -> anyhow::Result<Self> {
        let tls = mimi_pki::tls::client_config(trust_roots_pem, None)?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            client: reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .no_proxy()
                .build()?,
            idle_missing: AtomicBool::new(false),
        })
    }

    /// Waits until the provider has nothing left to send on link B for `rooms` (for any room
    /// or none, when None), for at most `within`.
    pub async fn settled(&self, rooms: Option<&[String]>, within: Duration) -> Settled {
        if self.idle_missing.load(Ordering::Relaxed) {
            return Settled::Unknown("its driver has no awaitIdle".into());
        }
        let op = operation_for(DriverOperation::AwaitIdle);
        let mut json = serde_json::json!({ "within": within.as_millis() as u64 });
        if let Some(rooms) = rooms {
            json["rooms"] = serde_json::json!(rooms);
        }
        let url = match self.url(op, &BTreeMap::new()) {
            Ok(url) => url,
            Err(e) => return Settled::Unknown(e),
        };
        let response = match self
            .send(op, &url, Some(&json), within + IDLE_ANSWER_SLACK)
            .await
        {
            Ok(r) => r,
            Err(f) => return Settled::Unknown(f.message),
        };
        if let Err(e) = op.check_response(response.status, &response.body) {
            return Settled::Unknown(e);
        }
        match response.status {
            200 => Settled::Idle(response.elapsed),
            504 => Settled::Busy,
            404 => {
                self.idle_missing.store(true, Ordering::Relaxed);
                Settled::Unknown("its driver has no awaitIdle".into())
            }
            status => Settled::Unknown(format!("awaitIdle answered {status}")),
        }
    }

    /// The operation's URL with its path variables filled in (percent-encoded).
    pub fn url(&self, op: &Operation, vars: &BTreeMap<String, String>) -> Result<String, String> {
        Ok(format!(
            "{}{}",
            self.base,
            mimi_wire::messages::directory::expand_template(&op.path, vars)?
        ))
    }

    pub async fn send(
        &self,
        op: &Operation,
        url: &str,
        json: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<Response, ConnectionFailure> {
        let started = Instant::now();
        let mut request = self
            .client
            .request(op.method.parse().expect("a known method"), url)
            .bearer_auth(&self.token)
            .timeout(timeout);
        if let Some(json) = json {
            request = request
                .header("content-type", "application/json")
                .body(json.to_string());
        }
        let failure = |e: reqwest::Error| {
            let kind = if e.is_connect() {
                Failure::NoConnection
            } else {
                Failure::ClosedBeforeResponse { reset: false }
            };
            ConnectionFailure::new(kind, format!("driver API {url}: {e}"), started.elapsed())
        };
        let response = request.send().await.map_err(failure)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(failure)?.to_vec();
        Ok(Response {
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_and_document_agree() {
        for op in DriverOperation::ALL {
            assert!(operation(op.name()).is_some(), "{} undeclared", op.name());
        }
        for declared in &mimi_driver_spec::spec().operations {
            assert!(
                DriverOperation::parse(&declared.name).is_some(),
                "operationId {} is not one the case model knows",
                declared.name
            );
        }
    }
}
