//! A case record with one of everything, for the reporters' tests.

use crate::catalogue::{Level, Requirement};
use crate::runner::events::{
    AssertionFailure, Body, CaseRecord, Check, CheckOutcome, Evaluated, Evaluation, Exchange,
    Failure, FailureKind, Header, HttpRequest, HttpResponse, Inconclusive, Interaction, Location,
    ReceivedRequest, RequirementResult, RequirementVerdict, Verdict,
};

fn requirement(id: &str, level: Level) -> Requirement {
    Requirement {
        id: id.into(),
        link: "B".into(),
        role: "target".into(),
        level,
        draft: "draft-ietf-mimi-protocol".into(),
        revision: Some("06".into()),
        section: "5.2".into(),
        sources: "P-06 §5.2".into(),
        mls: "P".into(),
        text: "words".into(),
    }
}

/// A record with `text` wherever a provider's words can go, and one exchange of each kind.
pub fn record(text: &str, verdict: Verdict) -> CaseRecord {
    let location = Location {
        file: "cases/B/x/y.yaml".into(),
        line: 1,
        column: 1,
        source_line: text.into(),
    };
    let body = |t: &str| Body::raw(t.as_bytes().to_vec());
    let mut record = CaseRecord {
        id: "B::x::y".into(),
        title: text.into(),
        file: "cases/B/x/y.yaml".into(),
        links: vec!["B".into()],
        provider: text.into(),
        draft: "06".into(),
        run: "0a1b2c3d".into(),
        roles: [("target".to_string(), "a.example".to_string())].into(),
        started_unix_ms: 1_700_000_000_000,
        observed: vec![crate::observer::Finding {
            requirement: "FAN-48".into(),
            provider: text.into(),
            link: "B".into(),
            exchange: 7,
            endpoint: Some("notify".into()),
            key: Some(text.into()),
            room: Some(text.into()),
            message: text.into(),
            unix_ms: 1_700_000_000_100,
        }],
        verdict,
        requirements: vec![
            RequirementResult {
                requirement: requirement("KM-11", Level::Must),
                verdict: RequirementVerdict::Inconclusive,
                blame: Vec::new(),
            },
            RequirementResult {
                requirement: requirement("KM-12", Level::Must),
                verdict: RequirementVerdict::NotReached,
                blame: Vec::new(),
            },
        ],
        error: None,
        checks: vec![Check {
            step: text.into(),
            step_index: 0,
            requirements: vec!["KM-11".into()],
            outcome: CheckOutcome::Inconclusive,
            failures: vec![AssertionFailure {
                step: text.into(),
                location: location.clone(),
                subject: "body".into(),
                message: text.into(),
            }],
            inconclusive: Some(Inconclusive {
                reason: text.into(),
                remedy: text.into(),
                location,
            }),
            evaluation: Some(Evaluation {
                attempt: 1,
                now_ms: 1,
                context: minijinja::context! { target => minijinja::context! { domain => text } },
                delay_ms: None,
                expectations: vec![Evaluated {
                    line: 1,
                    column: 2,
                    subject: "status".into(),
                    keyword: "status".into(),
                    argument: serde_json::json!([200]),
                    actual: vec![serde_json::json!(403)],
                    failure: Some(text.into()),
                }],
            }),
        }],
        transcript: vec![Exchange {
            step: "s".into(),
            step_index: 0,
            attempt: 1,
            started_ms: 0,
            millis: 1,
            interaction: Interaction::LinkB {
                request: HttpRequest {
                    method: "POST".into(),
                    url: text.into(),
                    headers: vec![],
                    client_certificate: true,
                    body: body(text),
                },
                response: Some(HttpResponse {
                    status: 200,
                    headers: vec![],
                    body: body(text),
                }),
                failure: None,
            },
        }],
        retried: vec![],
        expectation: None,
        duration: Default::default(),
    };
    record.transcript.extend(others(text));
    record
}

/// One exchange of every other kind, and a link-B request that got no response.
fn others(text: &str) -> Vec<Exchange> {
    let exchange = |interaction| Exchange {
        step: text.into(),
        step_index: 1,
        attempt: 2,
        started_ms: 3,
        millis: 4,
        interaction,
    };
    let json = serde_json::json!({"name": text});
    let header = || Header {
        name: "from".into(),
        value: text.into(),
    };
    let request = HttpRequest {
        method: "POST".into(),
        url: text.into(),
        headers: vec![header()],
        client_certificate: false,
        body: Body::raw(vec![0, 1, 0xff]),
    };
    vec![
        exchange(Interaction::LinkB {
            request: request.clone(),
            response: None,
            failure: Some(Failure {
                kind: FailureKind::TlsRefused,
                message: text.into(),
                status: None,
            }),
        }),
        exchange(Interaction::Driver {
            operation: "createUser".into(),
            request: HttpRequest::driver("POST", text, Some(&json)),
            response: Some(HttpResponse {
                status: 201,
                headers: vec![],
                body: Body::new(
                    json.to_string().into_bytes(),
                    Some(Ok((json.clone(), "json"))),
                ),
            }),
            failure: None,
        }),
        exchange(Interaction::Received {
            endpoint: "notify".into(),
            key: text.into(),
            request: Some(ReceivedRequest {
                headers: vec![header()],
                client_certificate: vec![text.into()],
                body: Body::new(vec![1], Some(Err(text.into()))),
                answered: 201,
                findings: vec![crate::drivers::harness_server::Finding {
                    requirement: "TLS-5".into(),
                    what: text.into(),
                }],
            }),
            failure: None,
        }),
        exchange(Interaction::Received {
            endpoint: "notify".into(),
            key: text.into(),
            request: None,
            failure: Some(Failure::not_received(text.into())),
        }),
        exchange(Interaction::Scripted {
            endpoint: "notify".into(),
            key: text.into(),
            status: 503,
            headers: vec![header()],
            times: 1,
        }),
        exchange(Interaction::Mls {
            client: text.into(),
            operation: "state".into(),
            args: Some(json.clone()),
            result: json,
        }),
    ]
}
