//! Steps: build the request, send it (on link B, to a driver API, or to a harness client), or
//! take one the provider sent the harness; check the expectations (retrying when the step says
//! `eventually`), save captures, compare the snapshot. Groups run their steps at the same time
//! (`parallel`) or in their own scope (`use`); `assert` checks saved values.

use super::body::{self, BuildContext};
use super::events::{
    AssertedValue, AssertionFailure, Evaluated, Evaluation, Failure, HttpRequest, HttpResponse,
    Inconclusive, Interaction, Location, ReceivedRequest,
};
use super::verdict::{charges, Judgement, Recorder};
use super::{snapshot, Actors, Session};
use crate::case::model::{
    Answer, Call, ClientCertificate, Damage, Expect, Mls, Outcome as StepOutcome, Receive,
    SaveFrom, Snapshot, Step, StepKind, Use, JSON,
};
use crate::case::Case;
use crate::drivers::harness_server::Recorded;
use crate::drivers::link_b::{ConnectionFailure, Request, Response};
use crate::expect::{show, Matchers};
use crate::yaml::Pos;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

pub(super) type Outcome = Result<Response, ConnectionFailure>;
type Running<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// Runs steps in order; a step whose expectations fail ends the sequence (later steps build
/// on it, and what they would show is noise). An `Err` is a step that could not be carried out.
pub(super) async fn run_steps(
    case: &Case,
    steps: &[Step],
    session: &Session,
    actors: &mut Actors,
    record: &mut Recorder<'_>,
) -> Result<(), String> {
    for step in steps {
        run(case, step, session, actors, record).await?;
        if record.stopped() {
            break;
        }
    }
    Ok(())
}

fn run<'a>(
    case: &'a Case,
    step: &'a Step,
    session: &'a Session,
    actors: &'a mut Actors,
    record: &'a mut Recorder<'_>,
) -> Running<'a> {
    Box::pin(async move {
        // What a case cancelled or out of time was doing.
        crate::run_control::step(&step.name);
        match &step.kind {
            StepKind::Call(call) => {
                let connection = under_test(step, session, &call.on)?;
                let (request, shown) = link_b_request(step, call, connection, actors).await?;
                let target = Target::LinkB(connection, request);
                exchange(case, step, session, actors, record, target, Some(shown)).await
            }
            StepKind::Driver(driver) => {
                let connection = under_test(step, session, &driver.on)?;
                let op = crate::drivers::driver_api::operation_for(driver.operation);
                let client = connection.driver.as_ref().ok_or_else(|| {
                    located(
                        step,
                        step.pos,
                        format!("{}'s profile names no driver API", connection.profile.name),
                    )
                })?;
                let path = fill_path(step, &driver.path, actors)?;
                let url = client
                    .url(op, &path)
                    .map_err(|e| located(step, step.pos, e))?;
                let json = match &driver.json {
                    Some(t) => Some(t.fill(&actors.vars).map_err(|(p, e)| located(step, p, e))?),
                    None => None,
                };
                op.check_request(json.as_ref())
                    .map_err(|e| located(step, step.pos, e))?;
                let shown = HttpRequest::driver(&op.method, &url, json.as_ref());
                let target = Target::Driver {
                    client,
                    op,
                    url,
                    json,
                    timeout: driver.timeout,
                };
                exchange(case, step, session, actors, record, target, Some(shown)).await
            }
            StepKind::Receive(receive) => {
                let peer = harness_server(step, session)?;
                let key = receive
                    .key
                    .text(&actors.vars)
                    .map_err(|(p, e)| located(step, p, e))?;
                // What a case cancelled or out of time was waiting on.
                crate::run_control::operation(|| {
                    format!(
                        "a {} request for {key} from the provider",
                        receive.endpoint.name()
                    )
                });
                let target = Target::Receive {
                    peer,
                    receive,
                    key,
                    deadline: Instant::now() + receive.timeout,
                };
                exchange(case, step, session, actors, record, target, None).await
            }
            StepKind::Mls(mls) => {
                exchange(case, step, session, actors, record, Target::Mls(mls), None).await
            }
            StepKind::Answer(answer) => script(step, answer, session, actors, record),
            StepKind::Parallel(steps) => parallel(case, steps, session, actors, record).await,
            StepKind::Assert(assertions) => {
                assert(step, assertions, actors, record);
                Ok(())
            }
            StepKind::Use(fragment) => {
                use_fragment(case, step, fragment, session, actors, record).await
            }
        }
    })
}

/// A runtime error of a step, at its place in the case (or fragment) file.
fn located(step: &Step, pos: Pos, message: String) -> String {
    step.origin.error_at(pos, message).to_string()
}

/// The connection to the provider under test that plays `role` (the profile given for it).
fn under_test<'s>(
    step: &Step,
    session: &'s Session,
    role: &crate::case::model::Role,
) -> Result<&'s crate::drivers::link_b::Connection, String> {
    session
        .connection(role.player)
        .map(|c| &**c)
        .ok_or_else(|| {
            located(
                step,
                role.pos,
                format!("no provider under test plays {}", role.name),
            )
        })
}

fn harness_server<'s>(
    step: &Step,
    session: &'s Session,
) -> Result<&'s crate::drivers::harness_server::HarnessServer, String> {
    session.peer.as_deref().ok_or_else(|| {
        located(
            step,
            step.pos,
            "the harness does not serve link B in this run (the profile's harness.listen)".into(),
        )
    })
}

fn fill_path(
    step: &Step,
    path: &[(String, crate::template::Template)],
    actors: &Actors,
) -> Result<BTreeMap<String, String>, String> {
    path.iter()
        .map(|(name, value)| {
            value
                .text(&actors.vars)
                .map(|v| (name.clone(), v))
                .map_err(|(p, e)| located(step, p, e))
        })
        .collect()
}

fn mls_name(mls: &Mls) -> &'static str {
    use crate::case::model::MlsOperation as Op;
    match &mls.operation {
        Op::State { .. } => "state",
        Op::Inbox => "inbox",
        Op::Commit(_) => "commit",
        Op::Confirm { .. } => "confirm",
        Op::Discard { .. } => "discard",
        Op::Propose { .. } => "propose",
        Op::Message(_) => "message",
        Op::GroupInfoRequest { .. } => "group-info-request",
        Op::CreateRoom { .. } => "create-room",
        Op::Add { .. } => "add",
    }
}

/// `answer`: the harness's next answers to the endpoint, for the request's key.
fn script(
    step: &Step,
    answer: &Answer,
    session: &Session,
    actors: &Actors,
    record: &mut Recorder<'_>,
) -> Result<(), String> {
    let fill =
        |t: &crate::template::Template| t.text(&actors.vars).map_err(|(p, e)| located(step, p, e));
    let mut headers = Vec::new();
    for (name, value) in &answer.reply.headers {
        headers.push((name.clone(), fill(value)?));
    }
    let script = crate::drivers::harness_server::Script {
        endpoint: answer.endpoint.name().to_string(),
        key: fill(&answer.key)?,
        status: answer.reply.status,
        headers,
        times: answer.reply.times,
    };
    let scripted = Interaction::scripted(&script);
    harness_server(step, session)?.script(script);
    record.exchange(step, 1, Instant::now(), Duration::ZERO, scripted);
    Ok(())
}

/// What an exchange step sends or takes.
enum Target<'a> {
    LinkB(&'a crate::drivers::link_b::Connection, Request),
    Receive {
        peer: &'a crate::drivers::harness_server::HarnessServer,
        receive: &'a Receive,
        key: String,
        deadline: Instant,
    },
    Mls(&'a Mls),
    Driver {
        client: &'a crate::drivers::driver_api::DriverClient,
        op: &'static crate::drivers::driver_api::Operation,
        url: String,
        json: Option<Value>,
        timeout: Duration,
    },
}

/// The message type a step's answer (or the request it received) is decoded as when its
/// `expect` names none.
fn default_decode_type(step: &Step) -> Option<&'static str> {
    match &step.kind {
        StepKind::Call(call) => call.endpoint.types().1,
        StepKind::Receive(receive) => {
            mimi_wire::registry::endpoint_types(receive.endpoint.name()).0
        }
        StepKind::Driver(_) | StepKind::Mls(_) => Some(JSON),
        _ => None,
    }
}

/// The message type a step's answer is decoded as.
pub(super) fn decode_type(step: &Step) -> Option<&'static str> {
    step.expect()
        .and_then(|e| e.decode_as)
        .map(|d| d.name())
        .or(default_decode_type(step))
}

/// An answer's body, decoded as `decode_type`, or why it does not decode.
pub(super) type Decoded = Result<(Value, &'static str), String>;

pub(super) fn decode(
    step: &Step,
    outcome: &Outcome,
    decode_type: Option<&'static str>,
) -> Option<Decoded> {
    let Ok(r) = outcome else { return None };
    // On link B an error status usually carries an explanation, not the endpoint's message:
    // it is shown as it came (unless the case says how to decode it). But the drafts give
    // no HTTP status for a refusal the body states (notAllowed, say), so a 4xx whose body
    // is not words is the endpoint's response. The driver API's errors are JSON, as its
    // specification says.
    let explanation = r.error_text();
    let decodable = (200..300).contains(&r.status)
        || ((400..500).contains(&r.status) && !r.body.is_empty() && explanation.is_none())
        || step.expect().is_some_and(|e| e.decode_as.is_some())
        // A received request is the provider's message, whatever the harness answered.
        || matches!(
            step.kind,
            StepKind::Driver(_) | StepKind::Mls(_) | StepKind::Receive(_)
        );
    if !decodable {
        return None;
    }
    match (decode_type, explanation) {
        (Some(JSON), _) => Some(
            serde_json::from_slice::<Value>(&r.body)
                .map(|v| (v, JSON))
                .map_err(|e| format!("the response is not JSON: {e}")),
        ),
        (_, Some(explanation)) => Some(Err(format!(
            "the provider answered {} with an explanation, not a MIMI body: {explanation}",
            r.status
        ))),
        (Some(t), None) => Some(mimi_wire::registry::decode_as(t, &r.body).map(|v| (v, t))),
        (None, None) => None,
    }
}

/// Where a step's snapshot is compared, and what a mismatch writes.
#[derive(Clone, Copy)]
pub(super) struct Snapshots<'a> {
    pub mode: snapshot::UpdateMode,
    /// The suffix of the provider's own snapshots (its domain); none for the reference.
    pub suffix: Option<&'a str>,
    /// The folder a provider's own snapshots are kept in instead of beside the cases.
    pub dir: Option<&'a std::path::Path>,
}

/// What one attempt of a step showed its expectations.
pub(super) struct Seen<'a> {
    pub outcome: &'a Outcome,
    pub decoded: Option<&'a Decoded>,
    pub received: Option<&'a Received>,
}

/// The certificate a step presents (`ConnectionFailure::refused` depends on it).
pub(super) fn client_certificate(step: &Step) -> ClientCertificate {
    match &step.kind {
        StepKind::Call(call) => call.client_certificate,
        _ => ClientCertificate::Harness,
    }
}

/// The template context with `now_ms()` fixed at `now_ms`, so that an argument such as
/// `{min: "{{ now_ms() - 60000 }}"}` fills in the same again when `verify` evaluates it.
pub(super) fn clock_fixed(vars: &minijinja::Value, now_ms: u64) -> minijinja::Value {
    minijinja::context! {
        now_ms => minijinja::Value::from_function(move || now_ms),
        ..vars.clone()
    }
}

async fn exchange(
    case: &Case,
    step: &Step,
    session: &Session,
    actors: &mut Actors,
    record: &mut Recorder<'_>,
    target: Target<'_>,
    mut shown: Option<HttpRequest>,
) -> Result<(), String> {
    let expect = step.expect();
    let decode_type = decode_type(step);
    let retry = expect.and_then(|e| e.eventually);
    let charged = charges(step);
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let attempt_started = Instant::now();
        let mut received = None;
        let mut got_request = None;
        let outcome = match &target {
            Target::LinkB(connection, request) => connection.send(request).await,
            Target::Driver {
                client,
                op,
                url,
                json,
                timeout,
            } => client.send(op, url, json.as_ref(), *timeout).await,
            Target::Receive {
                peer,
                receive,
                key,
                deadline,
            } => {
                let endpoint = receive.endpoint.name();
                // What must not arrive is looked for only until nothing more can come.
                let quiet = match expect.and_then(|e| e.arrives) {
                    Some((false, _)) => Some(
                        super::quiet::wait(
                            session.connection(receive.by.player).map(|c| &**c),
                            // A notify's key is its room.
                            (receive.endpoint == crate::case::model::Served::Notify)
                                .then_some(key.as_str()),
                            receive.timeout,
                            *deadline,
                        )
                        .await,
                    ),
                    _ => None,
                };
                let until = quiet.as_ref().map_or(*deadline, |q| q.until);
                match peer.take(endpoint, key, until).await {
                    Some(got) => {
                        if super::head_start::asks_to_wait(got.answered) {
                            session.head_start.begun(&case.id);
                        }
                        let delay = actors
                            .last_arrival
                            .get(endpoint)
                            .map(|t| got.at.saturating_duration_since(*t).as_millis() as u64);
                        actors.last_arrival.insert(endpoint.to_string(), got.at);
                        received = Some(Received {
                            client_certificate: got.client_certificate.clone(),
                            delay_ms: delay,
                            findings: got.findings.clone(),
                        });
                        let response = Response {
                            status: got.answered,
                            headers: got.headers.clone(),
                            body: got.body.clone(),
                            elapsed: Default::default(),
                        };
                        got_request = Some(got);
                        Ok(response)
                    }
                    None => Err(ConnectionFailure::new(
                        crate::drivers::link_b::Failure::NothingArrived,
                        match &quiet {
                            Some(q) => format!(
                                "no {endpoint} request for {key} reached the harness {}",
                                q.how
                            ),
                            None => format!(
                                "no {endpoint} request for {key} reached the harness within {}ms",
                                receive.timeout.as_millis()
                            ),
                        },
                        match &quiet {
                            Some(_) => attempt_started.elapsed(),
                            None => receive.timeout,
                        },
                    )),
                }
            }
            Target::Mls(mls) => {
                let result = super::mls_step::run(
                    &mls.operation,
                    &mls.client,
                    &actors.clients,
                    &actors.vars,
                    step.pos,
                )
                .map_err(|(p, e)| located(step, p, e))?;
                Ok(Response {
                    status: 200,
                    headers: Default::default(),
                    body: serde_json::to_vec(&result).unwrap_or_default(),
                    elapsed: Default::default(),
                })
            }
        };
        let decoded = decode(step, &outcome, decode_type);
        let took = attempt_started.elapsed();
        // The attempt goes to the transcript once it is judged, taking what it was judged on.
        let mut transcript = |record: &mut Recorder<'_>,
                              again: bool,
                              outcome: Outcome,
                              decoded: Option<Decoded>,
                              got: Option<Recorded>| {
            let interaction = interaction(&target, &mut shown, again, outcome, decoded, got);
            record.exchange(step, attempt, attempt_started, took, interaction);
        };
        // A driver answer outside its specification says nothing about MIMI conformance.
        let broke = match (&target, &outcome) {
            (Target::Driver { op, .. }, Ok(response)) => {
                op.check_response(response.status, &response.body).err()
            }
            _ => None,
        };
        if let Some(e) = broke {
            transcript(record, false, outcome, decoded, got_request);
            return Err(located(
                step,
                step.pos,
                format!("the driver API broke fixtures/driver-api/openapi.yaml: {e}"),
            ));
        }
        let now_ms = crate::template::now_ms();
        let evaluation = |expectations| Evaluation {
            attempt,
            now_ms,
            context: actors.vars.clone(),
            delay_ms: received.as_ref().and_then(|r| r.delay_ms),
            expectations,
        };
        let findings = received
            .as_ref()
            .map(|r| r.findings.as_slice())
            .unwrap_or_default();
        if !findings.is_empty() {
            let judged = judge_findings(case, step, findings, evaluation(Vec::new()));
            // A breach of one the case does not judge is never blamed in another's name: the
            // case cannot go on, an error.
            let unjudged = findings
                .iter()
                .find(|f| !judges(case, &f.requirement))
                .map(|unjudged| {
                    located(
                        step,
                        step.pos,
                        format!(
                            "the request the provider sent breaks {}, which this case does not judge: {}",
                            unjudged.requirement, unjudged.what
                        ),
                    )
                });
            transcript(record, false, outcome, decoded, got_request);
            if let Some((requirements, judgement)) = judged {
                record.judged(step, requirements, judgement);
            }
            return unjudged.map_or(Ok(()), Err);
        }
        let seen = Seen {
            outcome: &outcome,
            decoded: decoded.as_ref(),
            received: received.as_ref(),
        };
        let mut evaluated = Vec::new();
        let vars = clock_fixed(&actors.vars, now_ms);
        let failures = expectations(step, expect, &seen, &vars, &mut evaluated);
        let retry_left = retry.is_some_and(|r| started.elapsed() + r.every <= r.within);
        if !failures.is_empty() && retry_left {
            transcript(record, true, outcome, decoded, got_request);
            tokio::time::sleep(retry.map(|r| r.every).unwrap_or_default()).await;
            continue;
        }
        if failures.is_empty() && attempt > 1 {
            record.record.retried.push((step.name.clone(), attempt - 1));
        }
        let evaluation = evaluation(evaluated);
        let snapshots = Snapshots {
            mode: session.snapshots,
            suffix: session.snapshot_suffix.as_deref(),
            dir: session.snapshot_dir.as_deref(),
        };
        let judgement = judge(case, step, &seen, failures, evaluation, actors, snapshots);
        transcript(record, false, outcome, decoded, got_request);
        record.judged(step, charged, judgement);
        return Ok(());
    }
}

/// What one attempt of a step did, for the transcript, from what its expectations were judged
/// on. The request is copied only while the step may send it again (`again`).
fn interaction(
    target: &Target<'_>,
    shown: &mut Option<HttpRequest>,
    again: bool,
    outcome: Outcome,
    decoded: Option<Decoded>,
    got: Option<Recorded>,
) -> Interaction {
    let request = if again { shown.clone() } else { shown.take() };
    let answered = |outcome: Outcome, decoded| match outcome {
        Ok(r) => (Some(HttpResponse::new(r, decoded)), None),
        Err(f) => (None, Some(Failure::new(&f))),
    };
    match (target, request) {
        (Target::LinkB(..), Some(request)) => {
            let (response, failure) = answered(outcome, decoded);
            Interaction::LinkB {
                request,
                response,
                failure,
            }
        }
        (Target::Driver { op, .. }, Some(request)) => {
            let (response, failure) = answered(outcome, decoded);
            Interaction::Driver {
                operation: op.name.clone(),
                request,
                response,
                failure,
            }
        }
        (Target::Receive { receive, key, .. }, _) => Interaction::Received {
            endpoint: receive.endpoint.name().to_string(),
            key: key.clone(),
            request: got.map(|got| ReceivedRequest::new(got, decoded)),
            failure: outcome.err().map(|f| Failure::not_received(f.message)),
        },
        (Target::Mls(mls), _) => Interaction::Mls {
            client: mls.client.clone(),
            operation: mls_name(mls).to_string(),
            args: None,
            result: match decoded {
                Some(Ok((value, _))) => value,
                _ => Value::Null,
            },
        },
        (Target::LinkB(..) | Target::Driver { .. }, None) => {
            unreachable!("link-B and driver steps always show their request")
        }
    }
}

/// The check of a received request that the harness's link-B server found breaking
/// requirements (`Received::findings`): it fails whatever the step expects, charged to the
/// requirements it breaks that the case judges, one failure (and one `breaks` expectation) each;
/// the step's own expectations of such a request could only blame the same breach on other
/// requirements. None when the case judges none of them. The runner judges with it, and
/// `verify` again from the recorded findings (`super::replay`).
pub(super) fn judge_findings(
    case: &Case,
    step: &Step,
    findings: &[crate::drivers::harness_server::Finding],
    mut evaluation: Evaluation,
) -> Option<(Vec<String>, Judgement)> {
    let mut requirements: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    for found in findings.iter().filter(|f| judges(case, &f.requirement)) {
        let subject = format!("received request ({})", found.requirement);
        evaluation.expectations.push(Evaluated {
            line: step.pos.line,
            column: step.pos.column,
            subject: subject.clone(),
            keyword: "breaks".into(),
            argument: Value::from(found.requirement.clone()),
            actual: Vec::new(),
            failure: Some(found.what.clone()),
        });
        failures.push(failure(step, step.pos, subject, found.what.clone()));
        if !requirements.contains(&found.requirement) {
            requirements.push(found.requirement.clone());
        }
    }
    let judgement = Judgement {
        failures,
        inconclusive: None,
        evaluation: Some(evaluation),
    };
    (!requirements.is_empty()).then_some((requirements, judgement))
}

/// Whether the case judges the requirement `id`.
fn judges(case: &Case, id: &str) -> bool {
    case.requirements.iter().any(|r| r.id == id)
}

/// The check of a step's deciding attempt: the failures of its expectations (each saying how
/// long it was retried), with the refused precondition that makes them inconclusive if one
/// held; or, once they hold, what `save` and the snapshot say. The runner judges with it, and
/// `verify` again from the record (`super::replay`).
pub(super) fn judge(
    case: &Case,
    step: &Step,
    seen: &Seen,
    failures: Vec<AssertionFailure>,
    evaluation: Evaluation,
    actors: &mut Actors,
    snapshots: Snapshots,
) -> Judgement {
    let default = StepOutcome::default();
    let spec = step.outcome().unwrap_or(&default);
    let expect = spec.expect.as_ref();
    if !failures.is_empty() {
        let retried = expect.and_then(|e| e.eventually).map(|r| {
            format!(
                " (still so after {} attempts within {}ms)",
                evaluation.attempt,
                r.within.as_millis()
            )
        });
        let failures = failures
            .into_iter()
            .map(|mut f| {
                f.message.push_str(retried.as_deref().unwrap_or_default());
                f
            })
            .collect();
        // A precondition the provider may lawfully refuse: nothing is judged.
        let vars = clock_fixed(&evaluation.context, evaluation.now_ms);
        let refused = expect
            .into_iter()
            .flat_map(|e| &e.inconclusive)
            .find(|i| evaluate(step, &i.when, seen, &vars, &mut Vec::new()).is_empty());
        return Judgement {
            failures,
            inconclusive: refused.map(|i| Inconclusive {
                reason: i.reason.clone(),
                remedy: i.remedy.clone(),
                location: Location::at(&step.origin, i.pos),
            }),
            evaluation: Some(evaluation),
        };
    }
    let decoded = seen.decoded.and_then(|d| d.as_ref().ok());
    let raw = seen.outcome.as_ref().ok().map(|r| r.body.as_slice());
    let mut failures = Vec::new();
    save(
        step,
        spec,
        decoded.map(|(v, _)| v),
        raw,
        actors,
        &mut failures,
    );
    if let Some(snapshot) = &spec.snapshot {
        failures.extend(snapshot_step(
            case,
            step,
            snapshot,
            decoded,
            seen.outcome,
            actors,
            snapshots,
        ));
    }
    Judgement {
        failures,
        inconclusive: None,
        evaluation: Some(evaluation),
    }
}

fn damage(bytes: &mut Vec<u8>, d: &Damage) {
    match d {
        Damage::Truncate(n) => bytes.truncate(*n),
        Damage::Append(extra) => bytes.extend_from_slice(extra),
        Damage::FlipByte(offset) => {
            if let Some(b) = bytes.get_mut(*offset) {
                *b = !*b;
            }
        }
    }
}

fn failure(
    step: &Step,
    pos: Pos,
    subject: impl Into<String>,
    message: impl Into<String>,
) -> AssertionFailure {
    AssertionFailure::at(step, pos, subject, message)
}

/// A step without `expect` still needs a response, or the provider failed it.
fn default_expectation(step: &Step, outcome: &Outcome) -> Vec<AssertionFailure> {
    match outcome {
        Ok(_) => Vec::new(),
        Err(f) => vec![failure(
            step,
            step.pos,
            "response",
            format!("no complete response: {}", f.message),
        )],
    }
}

/// The failures of a step's expectations (none without `expect` but a response); what each
/// said goes to `out`.
pub(super) fn expectations(
    step: &Step,
    expect: Option<&Expect>,
    seen: &Seen,
    vars: &minijinja::Value,
    out: &mut Vec<Evaluated>,
) -> Vec<AssertionFailure> {
    match expect {
        Some(e) => evaluate(step, e, seen, vars, out),
        None => default_expectation(step, seen.outcome),
    }
}

fn evaluate(
    step: &Step,
    expect: &Expect,
    seen: &Seen,
    vars: &minijinja::Value,
    out: &mut Vec<Evaluated>,
) -> Vec<AssertionFailure> {
    let Seen {
        outcome,
        decoded,
        received,
    } = *seen;
    let mut failures = Vec::new();
    // Records an expectation that is not a matcher (status, refused, arrives), and its failure.
    let mut judged =
        |pos: Pos, keyword: &str, argument: Value, actual: Value, why: Option<String>| {
            out.push(Evaluated {
                line: pos.line,
                column: pos.column,
                subject: keyword.to_string(),
                keyword: keyword.to_string(),
                argument,
                actual: vec![actual],
                failure: why.clone(),
            });
            if let Some(message) = why {
                failures.push(failure(step, pos, keyword, message));
            }
        };
    if let Some((false, pos)) = expect.arrives {
        if outcome.is_ok() {
            let endpoint = match &step.kind {
                StepKind::Receive(r) => r.endpoint.name(),
                _ => "",
            };
            let message =
                format!("expected no {endpoint} request to reach the harness, but one did");
            judged(pos, "arrives", false.into(), true.into(), Some(message));
        } else {
            judged(pos, "arrives", false.into(), false.into(), None);
        }
        return failures;
    }
    if let Some((refused, pos)) = expect.refused {
        // Refused: the connection refused before the request was sent (without a client
        // certificate), or a 4xx instead of MIMI. A close, a reset or a cut answer after the
        // request was sent is not a refusal: a provider that crashes on a request it should
        // refuse must not pass (`ConnectionFailure::refused`).
        let was_refused = match outcome {
            Err(f) => f.refused(),
            Ok(r) => (400..500).contains(&r.status),
        };
        let message = (was_refused != refused).then(|| {
            let actual = match outcome {
                Err(f) => format!("the connection failed: {}", f.message),
                Ok(r) => format!("the provider answered {}", r.status),
            };
            let wanted = if refused {
                "the provider to refuse the request"
            } else {
                "the provider to serve the request"
            };
            format!("expected {wanted}; {actual}")
        });
        judged(pos, "refused", refused.into(), was_refused.into(), message);
        return failures;
    }
    let response = match outcome {
        Ok(r) => r,
        Err(f) => {
            let message = format!("no complete response: {}", f.message);
            return vec![failure(step, step.pos, "response", message)];
        }
    };
    let mut status_failed = false;
    if let Some((allowed, pos)) = &expect.status {
        let mut message = None;
        if !allowed.contains(&response.status) {
            status_failed = true;
            let reason = crate::drivers::outcome::quote(
                response.body.trim_ascii(),
                crate::drivers::outcome::QUOTED_CHARS,
            );
            message = Some(format!(
                "expected {}, got {}{}",
                allowed
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or "),
                response.status,
                match response.headers.get("location") {
                    // Link B never follows redirects: a provider answers where it is asked.
                    Some(to) if (300..400).contains(&response.status) => format!(
                        " (a redirect to {}, which the harness does not follow)",
                        crate::drivers::outcome::quote(to.as_bytes(), 120)
                    ),
                    _ if response.status >= 400 && !reason.is_empty() => {
                        format!(" ({reason})")
                    }
                    _ => String::new(),
                }
            ));
        }
        let argument = Value::from(allowed.clone());
        judged(*pos, "status", argument, response.status.into(), message);
    }
    let mut check = |matchers: &Matchers, subject: String, actual: Vec<&Value>| {
        check_matchers(step, matchers, &subject, &actual, vars, out)
    };
    for (name, matchers) in &expect.headers {
        let values: Vec<Value> = response
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        failures.extend(check(
            matchers,
            format!("header {name}"),
            values.iter().collect(),
        ));
    }
    if let Some(size) = &expect.size {
        let len = Value::from(response.body.len());
        failures.extend(check(size, "body size".into(), vec![&len]));
    }
    if let (Some(matchers), Some(received)) = (&expect.client_certificate, received) {
        let names = Value::from(received.client_certificate.clone());
        failures.extend(check(matchers, "client certificate".into(), vec![&names]));
    }
    if let (Some(matchers), Some(received)) = (&expect.delay, received) {
        match received.delay_ms.map(Value::from) {
            Some(ms) => failures.extend(check(matchers, "delay (ms)".into(), vec![&ms])),
            None => failures.push(failure(
                step,
                matchers.pos,
                "delay",
                "no earlier request of this endpoint was received in this case",
            )),
        }
    }
    // After a wrong status the body is an error text: checking it as a message is noise.
    if let Some(body) = expect.body.as_ref().filter(|_| !status_failed) {
        match decoded {
            None if !(200..300).contains(&response.status) => failures.push(failure(
                step,
                body.pos,
                "body",
                format!(
                    "the provider answered {} ({}) instead of a body to check",
                    response.status,
                    crate::drivers::outcome::quote(
                        &response.body,
                        crate::drivers::outcome::QUOTED_CHARS
                    )
                ),
            )),
            None => failures.push(failure(
                step,
                body.pos,
                "body",
                "the answer has no known type; say which with decode-as",
            )),
            Some(Err(e)) => failures.push(failure(step, body.pos, "body", e.clone())),
            Some(Ok((value, _))) => {
                for (path, matchers) in &body.paths {
                    let subject = format!("body {}", path.text);
                    failures.extend(check(matchers, subject, path.select(value)));
                }
            }
        }
    }
    failures
}

/// `matchers` on the values selected for `subject`: what each said goes to `out`; the failure of
/// the first that did not hold.
fn check_matchers(
    step: &Step,
    matchers: &Matchers,
    subject: &str,
    actual: &[&Value],
    vars: &minijinja::Value,
    out: &mut Vec<Evaluated>,
) -> Option<AssertionFailure> {
    let values: Vec<Value> = actual.iter().map(|v| (*v).clone()).collect();
    let held = matchers.check_each(actual, vars, &mut |applied| {
        out.push(Evaluated {
            line: applied.pos.line,
            column: applied.pos.column,
            subject: subject.to_string(),
            keyword: applied.keyword.to_string(),
            argument: applied.argument.unwrap_or_default(),
            actual: values.clone(),
            failure: applied.failure,
        })
    });
    held.err().map(|(pos, e)| failure(step, pos, subject, e))
}

/// Sets variables in the template context.
fn set_vars(actors: &mut Actors, values: impl IntoIterator<Item = (String, Value)>) {
    let mut context: serde_json::Map<String, Value> = serde_json::to_value(&actors.vars)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    context.extend(values);
    actors.vars = minijinja::Value::from(minijinja::value::Serde(&context));
}

/// A variable of the template context as JSON.
fn var(actors: &Actors, name: &str) -> Option<Value> {
    actors
        .vars
        .get_attr(name)
        .ok()
        .filter(|v| !v.is_undefined())
        .and_then(|v| serde_json::to_value(&v).ok())
}

fn save(
    step: &Step,
    outcome: &StepOutcome,
    decoded: Option<&Value>,
    raw: Option<&[u8]>,
    actors: &mut Actors,
    failures: &mut Vec<AssertionFailure>,
) {
    if outcome.save.is_empty() {
        return;
    }
    let mut values = Vec::new();
    for save in &outcome.save {
        let captured = match &save.from {
            SaveFrom::RawBody => raw.map(|bytes| Value::String(hex::encode(bytes))),
            SaveFrom::Path(path) => decoded.and_then(|v| path.capture(v)),
        };
        match captured {
            Some(value) => values.push((save.name.clone(), value)),
            None => failures.push(failure(
                step,
                save.pos,
                format!("save {}", save.name),
                "its path selects nothing in the response",
            )),
        }
    }
    set_vars(actors, values);
}

/// Compares the step's response with its snapshot.
fn snapshot_step(
    case: &Case,
    step: &Step,
    snapshot: &Snapshot,
    decoded: Option<&(Value, &str)>,
    outcome: &Outcome,
    actors: &Actors,
    Snapshots { mode, suffix, dir }: Snapshots,
) -> Option<AssertionFailure> {
    let text = match (decoded, outcome) {
        (Some((value, type_name)), _) => {
            let mut value = value.clone();
            for path in mimi_wire::registry::volatile_paths(type_name) {
                if let Ok(p) = crate::expect::path::BodyPath::parse(path) {
                    p.redact(&mut value, "[redacted]");
                }
            }
            for path in &snapshot.redact {
                path.redact(&mut value, "[redacted]");
            }
            snapshot::yaml(&value)
        }
        (None, Ok(r)) => format!(
            "status: {}\n{}",
            r.status,
            show(&Value::String(
                String::from_utf8_lossy(&r.body).into_owned()
            ))
        ),
        (None, Err(f)) => format!("no response: {}", f.message),
    };
    // Domains differ from provider to provider; the roles they play do not.
    let mut roles: Vec<(&String, &String)> = actors.domains.iter().collect();
    roles.sort_by_key(|(_, domain)| std::cmp::Reverse(domain.len()));
    let text = roles.into_iter().fold(text, |t, (role, domain)| {
        t.replace(domain.as_str(), &format!("<{role}>"))
    });
    let beside_case = case.snapshot_path(&snapshot.name, suffix);
    let path = match (dir, suffix) {
        (Some(dir), Some(_)) => snapshot::under(
            dir,
            &case.id,
            &beside_case
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
        ),
        _ => beside_case,
    };
    snapshot::check(
        &path,
        &step.origin.file.display().to_string(),
        &step.name,
        &text,
        mode,
        suffix.is_some(),
    )
    .err()
    .map(|message| {
        failure(
            step,
            snapshot.pos,
            format!("snapshot {}", snapshot.name),
            message,
        )
    })
}

/// What the harness saw of a request it received, beyond headers and body.
pub(super) struct Received {
    pub client_certificate: Vec<String>,
    /// Milliseconds since the case's previous `receive` of the endpoint took its request.
    pub delay_ms: Option<u64>,
    /// The requirements the request broke, as the harness's link-B server found.
    pub findings: Vec<crate::drivers::harness_server::Finding>,
}

/// The link-B request of a `call` step, resolved through the provider's directory, and how the
/// transcript shows it.
async fn link_b_request(
    step: &Step,
    call: &Call,
    connection: &crate::drivers::link_b::Connection,
    actors: &Actors,
) -> Result<(Request, HttpRequest), String> {
    let path = fill_path(step, &call.path, actors)?;
    let name = call.endpoint.name();
    let url = match call.endpoint {
        crate::case::model::Endpoint::Directory => connection.profile.directory_url.clone(),
        crate::case::model::Endpoint::Mimi(_) => connection
            .directory(call.timeout)
            .await
            .map_err(|why| format!("cannot resolve {name:?}: {why}"))?
            .url(
                name,
                &crate::differences::alias_variables(&path, &connection.profile.template_variables),
            )
            .map_err(|e| located(step, step.pos, e))?,
    };
    let method = if call.endpoint.method() == "GET" {
        reqwest::Method::GET
    } else {
        reqwest::Method::POST
    };
    let mut headers = connection.default_headers();
    if method == reqwest::Method::GET {
        // A GET has no body, so no body content type (unless the step sets one).
        headers.retain(|(name, _)| name != "content-type");
    }
    for (header, value) in &call.headers {
        headers.retain(|(n, _)| n != header);
        let value = value
            .text(&actors.vars)
            .map_err(|(p, e)| located(step, p, e))?;
        headers.push((header.clone(), value));
    }
    let (mut bytes, typed) = match &call.body {
        Some(b) => {
            let guards: Vec<_> = actors
                .clients
                .iter()
                .map(|(name, m)| (name.clone(), m.lock().unwrap_or_else(|e| e.into_inner())))
                .collect();
            let sims = guards.iter().map(|(n, g)| (n.clone(), &g.sim)).collect();
            body::build(
                b,
                &BuildContext {
                    vars: &actors.vars,
                    clients: &sims,
                    path: &path,
                    consent_requester: connection.profile.consent.requester.as_deref(),
                },
            )
            .map_err(|(pos, e)| located(step, pos, e))?
        }
        None => (Vec::new(), None),
    };
    for d in &call.damage {
        damage(&mut bytes, d);
    }
    let request = Request {
        method,
        url,
        headers,
        body: bytes,
        client_certificate: call.client_certificate != ClientCertificate::None,
        timeout: call.timeout,
    };
    let shown = HttpRequest::link_b(&request, typed.or(call.endpoint.types().0));
    Ok((request, shown))
}

/// `parallel`: every sub-step at once, each with the case's context as it was before the group
/// and a transcript of its own; their saves, transcripts and failures join the case's after.
async fn parallel(
    case: &Case,
    steps: &[Step],
    session: &Session,
    actors: &mut Actors,
    record: &mut Recorder<'_>,
) -> Result<(), String> {
    let branches: Vec<_> = steps
        .iter()
        .map(|step| {
            let mut own = actors.clone();
            let mut own_record = record.branch();
            Box::pin(async move {
                let result = run(case, step, session, &mut own, &mut own_record).await;
                (own, own_record, result)
            })
        })
        .collect();
    let mut first_error = None;
    let mut saved = Vec::new();
    for (step, (own, own_record, result)) in steps.iter().zip(join_all(branches).await) {
        record.absorb(own_record);
        if let Some(outcome) = step.outcome() {
            saved.extend(
                outcome
                    .save
                    .iter()
                    .filter_map(|s| var(&own, &s.name).map(|v| (s.name.clone(), v))),
            );
        }
        for (endpoint, at) in own.last_arrival {
            let latest = actors.last_arrival.entry(endpoint).or_insert(at);
            *latest = (*latest).max(at);
        }
        if let (Err(e), None) = (result, &first_error) {
            first_error = Some(e);
        }
    }
    set_vars(actors, saved);
    first_error.map_or(Ok(()), Err)
}

/// Polls every future until all are done; their outputs in order.
async fn join_all<F: Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match Pin::new(future).poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// `assert`: each template filled in and matched, with no traffic; the values go to the
/// transcript.
fn assert(
    step: &Step,
    assertions: &[crate::case::model::Assertion],
    actors: &Actors,
    record: &mut Recorder<'_>,
) {
    let now_ms = crate::template::now_ms();
    let mut evaluated = Vec::new();
    let (shown, failures) = check_assertions(
        step,
        assertions,
        &clock_fixed(&actors.vars, now_ms),
        &mut evaluated,
    );
    record.exchange(
        step,
        1,
        Instant::now(),
        Duration::ZERO,
        Interaction::Assert { values: shown },
    );
    let evaluation = Evaluation {
        attempt: 1,
        now_ms,
        context: actors.vars.clone(),
        delay_ms: None,
        expectations: evaluated,
    };
    let judgement = Judgement {
        failures,
        inconclusive: None,
        evaluation: Some(evaluation),
    };
    record.judged(step, charges(step), judgement);
}

/// The values an `assert` step checks, and what did not hold; what each matcher said goes to
/// `out`.
pub(super) fn check_assertions(
    step: &Step,
    assertions: &[crate::case::model::Assertion],
    vars: &minijinja::Value,
    out: &mut Vec<Evaluated>,
) -> (Vec<AssertedValue>, Vec<AssertionFailure>) {
    let mut shown = Vec::new();
    let mut failures = Vec::new();
    for a in assertions {
        let subject = match &a.subject.node {
            crate::yaml::Node::Str(s) => s.clone(),
            other => format!("{:?}", other.to_json()),
        };
        let value = match a.subject.fill(vars) {
            Ok(v) => v,
            Err((pos, e)) => {
                failures.push(failure(step, pos, subject, e));
                continue;
            }
        };
        failures.extend(check_matchers(
            step,
            &a.matchers,
            &subject,
            &[&value],
            vars,
            out,
        ));
        shown.push(AssertedValue { subject, value });
    }
    (shown, failures)
}

/// `use`: the fragment's steps in a scope of their own (the case's context and the inputs);
/// its outputs join the case's context after.
async fn use_fragment(
    case: &Case,
    step: &Step,
    fragment: &Use,
    session: &Session,
    actors: &mut Actors,
    record: &mut Recorder<'_>,
) -> Result<(), String> {
    let mut inputs = Vec::new();
    for (name, value) in &fragment.inputs {
        let filled = value.fill(&actors.vars).map_err(|(pos, e)| {
            located(
                step,
                pos,
                format!("input {name} of fragment {}: {e}", fragment.fragment),
            )
        })?;
        inputs.push((name.clone(), filled));
    }
    let mut own = actors.clone();
    set_vars(&mut own, inputs);
    let result = run_steps(case, &fragment.steps, session, &mut own, record).await;
    let outputs: Vec<(String, Value)> = fragment
        .outputs
        .iter()
        .filter_map(|o| var(&own, o).map(|v| (o.clone(), v)))
        .collect();
    actors.last_arrival = own.last_arrival;
    set_vars(actors, outputs);
    result
}
