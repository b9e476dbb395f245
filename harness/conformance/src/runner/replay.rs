//! A recorded check judged again, offline: from the exchange of the transcript it judged and its
//! evaluation (context, clock, delay), with the runner's own judgement (`step::judge`, or
//! `step::judge_findings` for a received request the harness's server found breaking
//! requirements) and the verifier's copy of the case. `verify` (`crate::certify::recompute`)
//! compares the result with the record.

use super::events::{
    Check, Evaluation, Exchange, Failure, FailureKind, Header, HttpResponse, Interaction,
    ReceivedRequest,
};
use super::step::{self, Decoded, Outcome, Received, Seen};
use super::verdict::{charges, Judgement};
use super::{snapshot, Actors};
use crate::case::model::{ClientCertificate, Step, StepKind};
use crate::case::Case;
use crate::drivers::harness_server::{self, Finding};
use crate::drivers::link_b::{ConnectionFailure, Response};
use crate::drivers::outcome::{BodyBreak, Failure as Broke};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// What a replay needs beyond the case and the record.
pub struct Replay<'a> {
    /// The suffix of the provider's own snapshots, as in the run.
    pub snapshot_suffix: Option<&'a str>,
    /// The verifier's fixtures folder for the case (the run's is named in the context).
    pub fixtures: &'a Path,
    /// The domain the harness's link-B server served as (the profile's `harness.domain`).
    pub harness_domain: &'a str,
    /// Gives a value decoded again the parts of the recorded decoding (`recorded`) that depend
    /// on when it is decoded, where they do.
    pub reconcile: &'a dyn Fn(&Value, &mut Value),
}

/// The check `recorded` of the step at `step_index` of `case`, judged again from `exchange` (the
/// transcript's attempt it judged; none for an `assert` step) and its evaluation.
pub fn check(
    case: &Case,
    step_index: usize,
    step: &Step,
    recorded: &Check,
    exchange: Option<&Exchange>,
    replay: &Replay,
) -> Result<Check, String> {
    let evaluation = recorded
        .evaluation
        .as_ref()
        .ok_or("the check records no evaluation")?;
    let context = with_fixtures(&evaluation.context, replay.fixtures)?;
    let vars = step::clock_fixed(&context, evaluation.now_ms);
    let mut again = Evaluation {
        context: context.clone(),
        expectations: Vec::new(),
        ..evaluation.clone()
    };
    let (requirements, judgement) = match &step.kind {
        StepKind::Assert(assertions) => {
            let (_, failures) =
                step::check_assertions(step, assertions, &vars, &mut again.expectations);
            let judgement = Judgement {
                failures,
                inconclusive: None,
                evaluation: Some(again),
            };
            (charges(step), judgement)
        }
        StepKind::Call(_) | StepKind::Driver(_) | StepKind::Receive(_) | StepKind::Mls(_) => {
            let exchange = exchange.ok_or_else(|| {
                format!(
                    "the transcript has no attempt {} of the step it judged",
                    evaluation.attempt
                )
            })?;
            let observed = Observed::of(step, &exchange.interaction, evaluation.delay_ms, replay)?;
            if let Some(received) = observed
                .received
                .as_ref()
                .filter(|r| !r.findings.is_empty())
            {
                return match step::judge_findings(case, step, &received.findings, again) {
                    Some((requirements, judgement)) => {
                        Ok(judgement.into_check(step, step_index, requirements))
                    }
                    None => Err("the recorded request breaks only requirements the case \
                                 does not judge (the runner ends the case there, in error), yet \
                                 a check of it is recorded"
                        .into()),
                };
            }
            let decoded = match step::decode(step, &observed.outcome, step::decode_type(step)) {
                Some(d) => Some(same_decoding(
                    d,
                    observed.decoded.as_ref(),
                    replay.reconcile,
                )?),
                None if observed.decoded.is_some() => {
                    return Err("a decoding is recorded for an answer that is not decoded".into())
                }
                None => None,
            };
            let seen = Seen {
                outcome: &observed.outcome,
                decoded: decoded.as_ref(),
                received: observed.received.as_ref(),
            };
            let expect = step.expect();
            let failures = step::expectations(step, expect, &seen, &vars, &mut again.expectations);
            let mut actors = Actors {
                vars: context,
                clients: HashMap::new(),
                last_arrival: HashMap::new(),
                domains: case
                    .spec
                    .actors
                    .providers
                    .keys()
                    .filter_map(|role| {
                        let domain = evaluation.context.get_attr(role).ok()?.get_attr("domain");
                        Some((role.clone(), domain.ok()?.as_str()?.to_string()))
                    })
                    .collect(),
                // Judging again records nothing under the case's nonce.
                run: String::new(),
            };
            // A provider's own snapshots are judged against the verifier's case set, as a
            // first run against the provider is (`snapshot::check`).
            let snapshots = step::Snapshots {
                mode: snapshot::UpdateMode::No,
                suffix: replay.snapshot_suffix,
                dir: None,
            };
            let judgement = step::judge(case, step, &seen, failures, again, &mut actors, snapshots);
            (charges(step), judgement)
        }
        StepKind::Answer(_) | StepKind::Parallel(_) | StepKind::Use(_) => {
            return Err("the step checks nothing itself, yet a check of it is recorded".into())
        }
    };
    Ok(judgement.into_check(step, step_index, requirements))
}

/// The recorded context, its fixtures folder the verifier's.
fn with_fixtures(context: &minijinja::Value, fixtures: &Path) -> Result<minijinja::Value, String> {
    let mut map = match serde_json::to_value(context) {
        Ok(Value::Object(map)) => map,
        _ => return Err("the recorded template context is not a mapping".into()),
    };
    map.insert(
        crate::template::FIXTURES_VAR.into(),
        Value::String(fixtures.display().to_string()),
    );
    Ok(minijinja::Value::from(minijinja::value::Serde(&map)))
}

/// What the transcript says a step was given, as the runner had it.
struct Observed {
    outcome: Outcome,
    received: Option<Received>,
    /// The recorded decoding: the type, the value or why it did not decode.
    decoded: Option<RecordedDecoding>,
}

struct RecordedDecoding {
    message_type: Option<String>,
    value: Option<Value>,
    error: Option<String>,
}

impl RecordedDecoding {
    fn of(body: &super::events::Body) -> Option<Self> {
        let any = body.message_type().is_some() || body.decoded().is_some();
        (any || body.decode_error().is_some()).then(|| Self {
            message_type: body.message_type().map(str::to_string),
            value: body.decoded().cloned(),
            error: body.decode_error().map(str::to_string),
        })
    }
}

impl Observed {
    fn of(
        step: &Step,
        interaction: &Interaction,
        delay_ms: Option<u64>,
        replay: &Replay,
    ) -> Result<Self, String> {
        let answered = |response: &Option<HttpResponse>,
                        failure: &Option<super::events::Failure>| {
            match (response, failure) {
                (Some(r), _) => Ok(Self {
                    outcome: Ok(response_of(r.status, &r.headers, &r.body.bytes)?),
                    received: None,
                    decoded: RecordedDecoding::of(&r.body),
                }),
                (None, Some(f)) => Ok(Self {
                    outcome: Err(connection_failure(step, f)),
                    received: None,
                    decoded: None,
                }),
                (None, None) => Err("the exchange records neither a response nor a failure".into()),
            }
        };
        match interaction {
            Interaction::LinkB {
                response, failure, ..
            }
            | Interaction::Driver {
                response, failure, ..
            } => answered(response, failure),
            Interaction::Received {
                request: Some(request),
                ..
            } => {
                let answered =
                    response_of(request.answered, &request.headers, &request.body.bytes)?;
                let findings = found_again(step, request, &answered.headers, replay)?;
                Ok(Self {
                    outcome: Ok(answered),
                    received: Some(Received {
                        client_certificate: request.client_certificate.clone(),
                        delay_ms,
                        findings,
                    }),
                    decoded: RecordedDecoding::of(&request.body),
                })
            }
            Interaction::Received {
                request: None,
                failure,
                ..
            } => Ok(Self {
                outcome: Err(ConnectionFailure::new(
                    Broke::NothingArrived,
                    failure
                        .as_ref()
                        .map(|f| f.message.clone())
                        .unwrap_or_default(),
                    Default::default(),
                )),
                received: None,
                decoded: None,
            }),
            Interaction::Mls { result, .. } => Ok(Self {
                outcome: Ok(Response {
                    status: 200,
                    headers: Default::default(),
                    body: serde_json::to_vec(result).unwrap_or_default(),
                    elapsed: Default::default(),
                }),
                received: None,
                decoded: Some(RecordedDecoding {
                    message_type: Some(super::exchange::JSON.into()),
                    value: Some(result.clone()),
                    error: None,
                }),
            }),
            Interaction::Scripted { .. } | Interaction::Assert { .. } => {
                Err("the exchange is not one whose answer a step judges".into())
            }
        }
    }
}

/// What the harness's link-B server finds the recorded request breaks, inspecting it again as
/// it did when it took it (`harness_server::inspect`, on the step's endpoint): the recorded
/// findings must be what it finds.
fn found_again(
    step: &Step,
    request: &ReceivedRequest,
    headers: &reqwest::header::HeaderMap,
    replay: &Replay,
) -> Result<Vec<Finding>, String> {
    let StepKind::Receive(receive) = &step.kind else {
        return Err("the step takes no request, yet the record has one it received".into());
    };
    let found = harness_server::inspect(
        replay.harness_domain,
        receive.endpoint.name(),
        headers,
        &request.client_certificate,
        &request.body.bytes,
    );
    if found != request.findings {
        let said = |findings: &[Finding]| match findings {
            [] => "nothing".to_string(),
            _ => (findings.iter())
                .map(|f| format!("{} ({})", f.requirement, f.what))
                .collect::<Vec<_>>()
                .join("; "),
        };
        return Err(format!(
            "the harness's server finds that the recorded request breaks {}, but the record \
             says it breaks {}",
            said(&found),
            said(&request.findings)
        ));
    }
    Ok(found)
}

/// The connection failure a recorded failure stands for, as far as a step's expectations tell
/// failures apart (`ConnectionFailure::refused`): whether the harness presented its certificate
/// is the step's, and a broken body keeps its status.
fn connection_failure(step: &Step, f: &Failure) -> ConnectionFailure {
    let kind = match (f.kind, f.status) {
        (FailureKind::TlsRefused, _) => Broke::TlsRefused {
            alert: None,
            presented_certificate: step::client_certificate(step) == ClientCertificate::Harness,
        },
        (FailureKind::Unreachable, _) => Broke::NoConnection,
        (FailureKind::Closed, _) => Broke::ClosedBeforeResponse { reset: false },
        (FailureKind::NotReceived, _) => Broke::NothingArrived,
        (FailureKind::Other, Some(status)) => Broke::BodyBroken {
            status,
            received: 0,
            how: BodyBreak::Truncated { expected: None },
        },
        (FailureKind::Other, None) => Broke::NoResponse { received: 0 },
    };
    ConnectionFailure::new(kind, f.message.clone(), Default::default())
}

fn response_of(status: u16, headers: &[Header], body: &[u8]) -> Result<Response, String> {
    let mut map = reqwest::header::HeaderMap::new();
    for header in headers {
        let name = reqwest::header::HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|e| format!("the recorded header name {:?}: {e}", header.name))?;
        let value = reqwest::header::HeaderValue::from_bytes(header.value.as_bytes())
            .map_err(|e| format!("the recorded header {}: {e}", header.name))?;
        map.append(name, value);
    }
    Ok(Response {
        status,
        headers: map,
        body: body.to_vec(),
        elapsed: Default::default(),
    })
}

/// The bytes decoded again, which must be what the record says they decode to (after
/// `reconcile`).
fn same_decoding(
    again: Decoded,
    recorded: Option<&RecordedDecoding>,
    reconcile: &dyn Fn(&Value, &mut Value),
) -> Result<Decoded, String> {
    match (again, recorded) {
        (Ok((mut value, type_name)), Some(r)) if r.message_type.as_deref() == Some(type_name) => {
            if let Some(recorded) = &r.value {
                reconcile(recorded, &mut value);
            }
            if r.value.as_ref() == Some(&value) {
                Ok(Ok((value, type_name)))
            } else {
                Err(format!(
                    "the recorded decoding of the answer (as {type_name}) is not what its \
                     recorded bytes decode to"
                ))
            }
        }
        (Err(e), Some(r)) if r.error.as_ref() == Some(&e) && r.value.is_none() => Ok(Err(e)),
        (Ok((_, type_name)), _) => Err(format!(
            "the recorded answer decodes as {type_name}, but the record says otherwise"
        )),
        (Err(e), _) => Err(format!(
            "the recorded answer does not decode ({e}), but the record says otherwise"
        )),
    }
}
