//! Links A and C: the driver API through which the harness acts as a provider's users
//! (specified in fixtures/driver-api/openapi.yaml). Each operation is an HTTP/JSON request with
//! the profile's bearer token.

use crate::drivers::link_b::{ConnectionFailure, Failure, Response};
use std::collections::BTreeMap;
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
}

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
        })
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
