//! Steps: build the request, send it (on link B, to a driver API, or to a harness client), or
//! take one the provider sent the harness; check the expectations (retrying when the step says
//! `eventually`), save captures, compare the snapshot. Groups run their steps at the same time
//! (`parallel`) or in their own scope (`use`); `assert` checks saved values.

use super::body::{self, BuildContext};
use super::events::{
    AssertedValue, AssertionFailure, Failure, HttpRequest, HttpResponse, Inconclusive, Interaction,
    Location, ReceivedRequest,
};
use super::verdict::{charges, Recorder};
use super::{snapshot, Actors, Session};
use crate::case::model::{
    Answer, Call, ClientCertificate, Damage, Expect, Mls, Outcome as StepOutcome, Receive,
    SaveFrom, Snapshot, Step, StepKind, Use, JSON,
};
use crate::case::Case;
use crate::drivers::link_b::{ConnectionFailure, Request, Response};
use crate::expect::show;
use crate::yaml::Pos;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

type Outcome = Result<Response, ConnectionFailure>;
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
    record.exchange(step, 1, Instant::now(), scripted);
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

impl Target<'_> {
    /// The message type the answer (or the received request) is decoded as by default.
    fn decode_type(&self, step: &Step) -> Option<&'static str> {
        match (self, &step.kind) {
            (Target::LinkB(..), StepKind::Call(call)) => call.endpoint.types().1,
            (Target::Receive { receive, .. }, _) => {
                mimi_wire::registry::endpoint_types(receive.endpoint.name()).0
            }
            (Target::Driver { .. } | Target::Mls(_), _) => Some(JSON),
            _ => None,
        }
    }
}

async fn exchange(
    case: &Case,
    step: &Step,
    session: &Session,
    actors: &mut Actors,
    record: &mut Recorder<'_>,
    target: Target<'_>,
    shown: Option<HttpRequest>,
) -> Result<(), String> {
    let default = StepOutcome::default();
    let outcome_spec = step.outcome().unwrap_or(&default);
    let expect = outcome_spec.expect.as_ref();
    let decode_type = expect
        .and_then(|e| e.decode_as)
        .map(|d| d.name())
        .or(target.decode_type(step));
    let retry = expect.and_then(|e| e.eventually);
    let charged = charges(step);
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let attempt_started = Instant::now();
        let mut received = None;
        let mut took = None;
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
                        let delay = actors
                            .last_arrival
                            .get(endpoint)
                            .map(|t| got.at.saturating_duration_since(*t).as_millis() as u64);
                        actors.last_arrival.insert(endpoint.to_string(), got.at);
                        received = Some(Received {
                            client_certificate: got.client_certificate.clone(),
                            delay_ms: delay,
                        });
                        let response = Response {
                            status: got.answered,
                            headers: got.headers.clone(),
                            body: got.body.clone(),
                            elapsed: Default::default(),
                        };
                        took = Some(got);
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
        // On link B an error status usually carries an explanation, not the endpoint's message:
        // it is shown as it came (unless the case says how to decode it). But the drafts give
        // no HTTP status for a refusal the body states (notAllowed, say), so a 4xx whose body
        // is not words is the endpoint's response. The driver API's errors are JSON, as its
        // specification says.
        let decodable = |r: &Response| {
            (200..300).contains(&r.status)
                || ((400..500).contains(&r.status)
                    && !r.body.is_empty()
                    && crate::report::console::error_text(r).is_none())
                || expect.is_some_and(|e| e.decode_as.is_some())
                // A received request is the provider's message, whatever the harness answered.
                || matches!(
                    target,
                    Target::Driver { .. } | Target::Mls(_) | Target::Receive { .. }
                )
        };
        let decoded = match (&outcome, decode_type) {
            (Ok(r), Some(JSON)) if decodable(r) => Some(
                serde_json::from_slice::<Value>(&r.body)
                    .map(|v| (v, JSON))
                    .map_err(|e| format!("the response is not JSON: {e}")),
            ),
            (Ok(r), _) if decodable(r) && crate::report::console::error_text(r).is_some() => {
                Some(Err(format!(
                    "the provider answered {} with an explanation, not a MIMI body: {}",
                    r.status,
                    crate::report::console::error_text(r).unwrap_or_default()
                )))
            }
            (Ok(r), Some(t)) if decodable(r) => {
                Some(mimi_wire::registry::decode_as(t, &r.body).map(|v| (v, t)))
            }
            _ => None,
        };
        let response = || (outcome.as_ref().ok()).map(|r| HttpResponse::new(r, decoded.as_ref()));
        let failure = || outcome.as_ref().err().map(Failure::new);
        let interaction = match (&target, shown.as_ref()) {
            (Target::LinkB(..), Some(request)) => Interaction::LinkB {
                request: request.clone(),
                response: response(),
                failure: failure(),
            },
            (Target::Driver { op, .. }, Some(request)) => Interaction::Driver {
                operation: op.name.clone(),
                request: request.clone(),
                response: response(),
                failure: failure(),
            },
            (Target::Receive { receive, key, .. }, _) => Interaction::Received {
                endpoint: receive.endpoint.name().to_string(),
                key: key.clone(),
                request: took
                    .as_ref()
                    .map(|got| ReceivedRequest::new(got, decoded.as_ref())),
                failure: (outcome.as_ref().err()).map(|f| Failure::not_received(f.message.clone())),
            },
            (Target::Mls(mls), _) => Interaction::Mls {
                client: mls.client.clone(),
                operation: mls_name(mls).to_string(),
                args: None,
                result: match &decoded {
                    Some(Ok((value, _))) => value.clone(),
                    _ => Value::Null,
                },
            },
            (Target::LinkB(..) | Target::Driver { .. }, None) => {
                unreachable!("link-B and driver steps always show their request")
            }
        };
        record.exchange(step, attempt, attempt_started, interaction);
        if let (Target::Driver { op, .. }, Ok(response)) = (&target, &outcome) {
            // A driver answer outside its specification says nothing about MIMI conformance.
            op.check_response(response.status, &response.body)
                .map_err(|e| {
                    located(
                        step,
                        step.pos,
                        format!("the driver API broke fixtures/driver-api/openapi.yaml: {e}"),
                    )
                })?;
        }
        let failures = match expect {
            Some(e) => evaluate(
                step,
                e,
                &outcome,
                decoded.as_ref(),
                received.as_ref(),
                &actors.vars,
            ),
            None => default_expectation(step, &outcome),
        };
        let retry_left = retry.is_some_and(|r| started.elapsed() + r.every <= r.within);
        if !failures.is_empty() && retry_left {
            tokio::time::sleep(retry.map(|r| r.every).unwrap_or_default()).await;
            continue;
        }
        if !failures.is_empty() {
            let retried = retry.map(|r| {
                format!(
                    " (still so after {attempt} attempts within {}ms)",
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
            let refused = expect.into_iter().flat_map(|e| &e.inconclusive).find(|i| {
                evaluate(
                    step,
                    &i.when,
                    &outcome,
                    decoded.as_ref(),
                    received.as_ref(),
                    &actors.vars,
                )
                .is_empty()
            });
            match refused {
                Some(i) => record.inconclusive(
                    step,
                    charged,
                    failures,
                    Inconclusive {
                        reason: i.reason.clone(),
                        remedy: i.remedy.clone(),
                        location: Location::at(&step.origin, i.pos),
                    },
                ),
                None => record.judged(step, charged, failures),
            }
            return Ok(());
        }
        if attempt > 1 {
            record.record.retried.push((step.name.clone(), attempt - 1));
        }
        let decoded = decoded.and_then(Result::ok);
        let raw = outcome.as_ref().ok().map(|r| r.body.as_slice());
        let mut failures = Vec::new();
        save(
            step,
            outcome_spec,
            decoded.as_ref().map(|(v, _)| v),
            raw,
            actors,
            &mut failures,
        );
        if let Some(snapshot) = &outcome_spec.snapshot {
            if let Some(failure) = snapshot_step(
                case,
                step,
                snapshot,
                decoded.as_ref(),
                &outcome,
                actors,
                session,
            ) {
                failures.push(failure);
            }
        }
        record.judged(step, charged, failures);
        return Ok(());
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

fn evaluate(
    step: &Step,
    expect: &Expect,
    outcome: &Outcome,
    decoded: Option<&Result<(Value, &str), String>>,
    received: Option<&Received>,
    vars: &minijinja::Value,
) -> Vec<AssertionFailure> {
    let mut failures = Vec::new();
    let mut fail = |pos: Pos, subject: &str, message: String| {
        failures.push(failure(step, pos, subject, message))
    };
    if let Some((false, pos)) = expect.arrives {
        if outcome.is_ok() {
            let endpoint = match &step.kind {
                StepKind::Receive(r) => r.endpoint.name(),
                _ => "",
            };
            fail(
                pos,
                "arrives",
                format!("expected no {endpoint} request to reach the harness, but one did"),
            );
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
        if was_refused != refused {
            let actual = match outcome {
                Err(f) => format!("the connection failed: {}", f.message),
                Ok(r) => format!("the provider answered {}", r.status),
            };
            let wanted = if refused {
                "the provider to refuse the request"
            } else {
                "the provider to serve the request"
            };
            fail(pos, "refused", format!("expected {wanted}; {actual}"));
        }
        return failures;
    }
    let response = match outcome {
        Ok(r) => r,
        Err(f) => {
            fail(
                step.pos,
                "response",
                format!("no complete response: {}", f.message),
            );
            return failures;
        }
    };
    let mut status_failed = false;
    if let Some((allowed, pos)) = &expect.status {
        if !allowed.contains(&response.status) {
            status_failed = true;
            let reason = crate::drivers::outcome::quote(
                response.body.trim_ascii(),
                crate::drivers::outcome::QUOTED_CHARS,
            );
            fail(
                *pos,
                "status",
                format!(
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
                ),
            );
        }
    }
    let mut check = |matchers: &crate::expect::Matchers, subject: String, actual: Vec<&Value>| {
        if let Err((pos, e)) = matchers.check(&actual, vars) {
            fail(pos, &subject, e);
        }
    };
    for (name, matchers) in &expect.headers {
        let values: Vec<Value> = response
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        check(matchers, format!("header {name}"), values.iter().collect());
    }
    if let Some(size) = &expect.size {
        let len = Value::from(response.body.len());
        check(size, "body size".into(), vec![&len]);
    }
    if let (Some(matchers), Some(received)) = (&expect.client_certificate, received) {
        let names = Value::from(received.client_certificate.clone());
        check(matchers, "client certificate".into(), vec![&names]);
    }
    if let (Some(matchers), Some(received)) = (&expect.delay, received) {
        match received.delay_ms.map(Value::from) {
            Some(ms) => check(matchers, "delay (ms)".into(), vec![&ms]),
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
                    if let Err((pos, e)) = matchers.check(&path.select(value), vars) {
                        failures.push(failure(step, pos, format!("body {}", path.text), e));
                    }
                }
            }
        }
    }
    failures
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
    session: &Session,
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
    let suffix = session.snapshot_suffix.as_deref();
    let beside_case = case.snapshot_path(&snapshot.name, suffix);
    let path = match (&session.snapshot_dir, suffix) {
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
        session.snapshots,
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
struct Received {
    client_certificate: Vec<String>,
    /// Milliseconds since the case's previous `receive` of the endpoint took its request.
    delay_ms: Option<u64>,
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
    let mut shown = Vec::new();
    let mut failures = Vec::new();
    for a in assertions {
        let subject = match &a.subject.node {
            crate::yaml::Node::Str(s) => s.clone(),
            other => format!("{:?}", other.to_json()),
        };
        let value = match a.subject.fill(&actors.vars) {
            Ok(v) => v,
            Err((pos, e)) => {
                failures.push(failure(step, pos, subject, e));
                continue;
            }
        };
        if let Err((pos, e)) = a.matchers.check(&[&value], &actors.vars) {
            failures.push(failure(step, pos, subject.clone(), e));
        }
        shown.push(AssertedValue { subject, value });
    }
    record.exchange(
        step,
        1,
        Instant::now(),
        Interaction::Assert { values: shown },
    );
    record.judged(step, charges(step), failures);
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
