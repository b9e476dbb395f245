//! One step: build the request, send it on link B, check the expectations (retrying when the
//! step says `eventually`), save captures, compare the snapshot.

use super::body::{self, BuildContext};
use super::events::{AssertionFailure, CaseRecord, ExchangeRecord};
use super::{snapshot, Actors, Session};
use crate::case::model::{Action, ClientCertificate, Damage, Expect, Step};
use crate::case::node::{Node, Pos};
use crate::case::{parse_duration, template, Case, DEFAULT_STEP_TIMEOUT};
use crate::drivers::link_b::{ConnectionFailure, Request, Response};
use crate::expect::path::BodyPath;
use crate::expect::{show, Matcher};
use crate::report::console::{render_body, render_request, render_response};
use serde_json::Value;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::time::Instant;

type Outcome = Result<Response, ConnectionFailure>;

pub(super) async fn run(
    case: &Case,
    step: &Step,
    session: &Session,
    actors: &mut Actors,
    record: &mut CaseRecord,
) -> Result<(), String> {
    let located = |pos: Pos, message: String| case.error_at(pos, message).to_string();
    let player = actors.players[&step.on.value];
    let connection = || {
        session.connection(player).ok_or_else(|| {
            located(
                Pos::of(&step.on),
                format!(
                    "`on: {}` is played by the harness; a step goes to a provider under test",
                    step.on.value
                ),
            )
        })
    };
    let timeout = step
        .timeout
        .as_ref()
        .map(|t| parse_duration(&t.value).expect("checked at load"))
        .unwrap_or(DEFAULT_STEP_TIMEOUT);
    let fill = |node: &Spanned<Node>| -> Result<Value, String> {
        template::fill(&node.value, &actors.vars).map_err(|e| located(Pos::of(node), e))
    };
    let text = |node: &Spanned<Node>| -> Result<String, String> {
        Ok(match fill(node)? {
            Value::String(s) => s,
            other => other.to_string(),
        })
    };

    let mut path = BTreeMap::new();
    for (name, value) in &step.path {
        path.insert(name.clone(), text(value)?);
    }
    // What the harness serves is matched by the request's one path variable.
    let served_key = || -> Result<String, String> {
        match path.values().collect::<Vec<_>>()[..] {
            [key] => Ok(key.clone()),
            _ => Err(located(
                step.target_pos(),
                "name the request by its one path variable, e.g. `path: {roomId: ...}`".into(),
            )),
        }
    };
    let peer = || {
        session.peer.as_ref().ok_or_else(|| {
            located(
                step.target_pos(),
                "the harness does not serve link B in this run (the profile's harness.listen)"
                    .into(),
            )
        })
    };
    let target = match step.action() {
        Action::Call(call) => {
            let connection = connection()?;
            let (request, request_text) =
                link_b_request(case, step, call, connection, actors, &path, timeout).await?;
            Target::LinkB(connection, request, request_text)
        }
        Action::Driver(driver) => {
            let connection = connection()?;
            let op = crate::drivers::link_a::operation(&driver.value).expect("checked at load");
            let client = connection.driver.as_ref().ok_or_else(|| {
                located(
                    Pos::of(driver),
                    format!("{}'s profile names no driver API", connection.profile.name),
                )
            })?;
            let url = client
                .url(op, &path)
                .map_err(|e| located(Pos::of(driver), e))?;
            let json = step.json.as_ref().map(&fill).transpose()?;
            op.check_request(json.as_ref())
                .map_err(|e| located(step.target_pos(), e))?;
            let request_text = format!(
                "{} {url}\n{}",
                op.method,
                json.as_ref()
                    .map(|j| serde_json::to_string_pretty(j).unwrap_or_default())
                    .unwrap_or_default()
            );
            Target::Driver {
                client,
                op,
                url,
                json,
                request_text,
            }
        }
        Action::Answer(endpoint) => {
            let reply = &step.reply.as_ref().expect("checked at load").value;
            let mut headers = Vec::new();
            for (name, value) in &reply.headers {
                headers.push((name.to_ascii_lowercase(), text(value)?));
            }
            peer()?.script(crate::drivers::peer::Script {
                endpoint: endpoint.value.clone(),
                key: served_key()?,
                status: reply.status.value,
                headers,
                times: reply.times.as_ref().map_or(1, |t| t.value),
            });
            return Ok(());
        }
        Action::Receive(endpoint) => Target::Receive {
            peer: peer()?,
            endpoint: &endpoint.value,
            key: served_key()?,
            deadline: Instant::now() + timeout,
        },
        Action::Mls(op) => {
            let args = step.args.as_ref().map(&fill).transpose()?;
            let client = &step.client.as_ref().expect("checked at load").value;
            let request_text = format!(
                "{client}: {}{}",
                op.value,
                args.as_ref()
                    .map(|a| format!(" {}", serde_json::to_string(a).unwrap_or_default()))
                    .unwrap_or_default()
            );
            Target::Mls {
                op: &op.value,
                client,
                args,
                request_text,
            }
        }
    };
    let mut request_text = match &target {
        Target::LinkB(_, _, text) => text.clone(),
        Target::Driver { request_text, .. } | Target::Mls { request_text, .. } => {
            request_text.clone()
        }
        Target::Receive { endpoint, key, .. } => {
            format!("(waiting for {endpoint} at the harness, for {key})")
        }
    };
    let response_type = match &target {
        Target::LinkB(..) => step
            .call
            .as_ref()
            .and_then(|c| mimi_wire::registry::endpoint_types(&c.value).1),
        Target::Receive { endpoint, .. } => mimi_wire::registry::endpoint_types(endpoint).0,
        Target::Driver { .. } | Target::Mls { .. } => Some(JSON),
    };

    let expect = step.expect.as_ref().map(|e| &e.value);
    let retry = expect.and_then(|e| e.eventually.as_ref()).map(|ev| {
        (
            parse_duration(&ev.value.within.value).expect("checked at load"),
            parse_duration(&ev.value.every.value).expect("checked at load"),
        )
    });
    let decode_type = expect
        .and_then(|e| e.decode_as.as_ref())
        .map(|d| d.value.as_str())
        .or(response_type);
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut received = None;
        let outcome = match &target {
            Target::LinkB(connection, request, _) => connection.send(request).await,
            Target::Driver {
                client,
                op,
                url,
                json,
                ..
            } => client.send(op, url, json.as_ref(), timeout).await,
            Target::Receive {
                peer,
                endpoint,
                key,
                deadline,
            } => match peer.take(endpoint, key, *deadline).await {
                Some(got) => {
                    let delay = actors
                        .last_arrival
                        .get(*endpoint)
                        .map(|t| got.at.saturating_duration_since(*t).as_millis() as u64);
                    actors.last_arrival.insert(endpoint.to_string(), got.at);
                    request_text = render_received(&got, response_type);
                    let response = Response {
                        status: got.answered,
                        headers: got.headers.clone(),
                        body: got.body.clone(),
                        elapsed: Default::default(),
                    };
                    received = Some(Received {
                        client_certificate: got.client_certificate,
                        delay_ms: delay,
                        findings: got.findings,
                    });
                    Ok(response)
                }
                None => Err(ConnectionFailure {
                    message: format!(
                        "no {endpoint} request for {key} reached the harness within {}ms",
                        timeout.as_millis()
                    ),
                    tls_refused: false,
                    unreachable: false,
                    closed: false,
                }),
            },
            Target::Mls {
                op, client, args, ..
            } => {
                let result = super::mls_step::run(op, client, args.clone(), &actors.clients)
                    .map_err(|e| located(step.target_pos(), e))?;
                Ok(Response {
                    status: 200,
                    headers: Default::default(),
                    body: serde_json::to_vec(&result).unwrap_or_default(),
                    elapsed: Default::default(),
                })
            }
        };
        let decoded = match (&outcome, decode_type) {
            (Ok(r), Some(JSON)) => Some(
                serde_json::from_slice::<Value>(&r.body)
                    .map(|v| (v, JSON))
                    .map_err(|e| format!("the driver API answered no JSON: {e}")),
            ),
            (Ok(r), Some(t)) => Some(mimi_wire::registry::decode_as(t, &r.body).map(|v| (v, t))),
            _ => None,
        };
        let exchange = ExchangeRecord {
            step: step.name.clone(),
            attempt,
            request: request_text.clone(),
            response: render_response(&outcome, decoded.as_ref()),
            status: outcome.as_ref().ok().map(|r| r.status),
            millis: outcome
                .as_ref()
                .map(|r| r.elapsed.as_millis() as u64)
                .unwrap_or_default(),
        };
        record.transcript.push(exchange);
        if let (Target::Driver { op, .. }, Ok(response)) = (&target, &outcome) {
            // A driver answer outside its specification says nothing about MIMI conformance.
            op.check_response(response.status, &response.body)
                .map_err(|e| {
                    located(
                        step.target_pos(),
                        format!("the driver API broke fixtures/driver-api/openapi.yaml: {e}"),
                    )
                })?;
        }
        let mut failures = match expect {
            Some(e) => evaluate(
                case,
                step,
                e,
                &outcome,
                decoded.as_ref(),
                received.as_ref(),
                &actors.vars,
            ),
            None => default_expectation(case, step, &outcome),
        };
        // What the received request broke fails the step whatever it expects.
        for found in received.iter().flat_map(|r| &r.findings) {
            let mut f = failure(
                case,
                step,
                step.target_pos(),
                format!("received request ({})", found.requirement),
                found.what.clone(),
            );
            f.requirement = Some(found.requirement.to_string());
            failures.push(f);
        }
        let retry_left = retry.is_some_and(|(within, every)| started.elapsed() + every <= within);
        if !failures.is_empty() && retry_left {
            tokio::time::sleep(retry.map(|(_, every)| every).unwrap_or_default()).await;
            continue;
        }
        if !failures.is_empty() {
            let retried = retry.map(|(within, _)| {
                format!(
                    " (still so after {attempt} attempts within {}ms)",
                    within.as_millis()
                )
            });
            record.failures.extend(failures.into_iter().map(|mut f| {
                f.message.push_str(retried.as_deref().unwrap_or_default());
                f
            }));
            return Ok(());
        }
        if attempt > 1 {
            record.retried.push((step.name.clone(), attempt - 1));
        }
        let decoded = decoded.and_then(Result::ok);
        let raw = outcome.as_ref().ok().map(|r| r.body.as_slice());
        save(
            case,
            step,
            decoded.as_ref().map(|(v, _)| v),
            raw,
            actors,
            record,
        );
        if let Some(failure) = snapshot_step(
            case,
            step,
            decoded.as_ref(),
            &outcome,
            actors,
            session.snapshots,
            session.snapshot_suffix.as_deref(),
        ) {
            record.failures.push(failure);
        }
        return Ok(());
    }
}

fn damage(bytes: &mut Vec<u8>, d: &Damage) {
    match d {
        Damage::Truncate(n) => bytes.truncate(*n),
        Damage::Append(hex_text) => bytes.extend(hex::decode(hex_text).expect("checked at load")),
        Damage::FlipByte(offset) => {
            if let Some(b) = bytes.get_mut(*offset) {
                *b = !*b;
            }
        }
    }
}

fn failure(
    case: &Case,
    step: &Step,
    pos: Pos,
    subject: impl Into<String>,
    message: impl Into<String>,
) -> AssertionFailure {
    AssertionFailure {
        step: step.name.clone(),
        location: format!("{}:{}:{}", case.file.display(), pos.line, pos.column),
        line: pos.line,
        column: pos.column,
        subject: subject.into(),
        message: message.into(),
        requirement: None,
    }
}

/// A step without `expect` still needs a response, or the provider failed it.
fn default_expectation(case: &Case, step: &Step, outcome: &Outcome) -> Vec<AssertionFailure> {
    match outcome {
        Ok(_) => Vec::new(),
        Err(f) => vec![failure(
            case,
            step,
            step.target_pos(),
            "response",
            format!("no response: {}", f.message),
        )],
    }
}

fn evaluate(
    case: &Case,
    step: &Step,
    expect: &Expect,
    outcome: &Outcome,
    decoded: Option<&Result<(Value, &str), String>>,
    received: Option<&Received>,
    vars: &minijinja::Value,
) -> Vec<AssertionFailure> {
    let mut failures = Vec::new();
    let mut fail = |pos: Pos, subject: &str, message: String| {
        failures.push(failure(case, step, pos, subject, message))
    };
    if let Some(arrives) = expect.arrives.as_ref().filter(|a| !a.value) {
        if outcome.is_ok() {
            fail(
                Pos::of(arrives),
                "arrives",
                format!(
                    "expected no {} request to reach the harness, but one did",
                    step.receive.as_ref().map_or("", |r| r.value.as_str())
                ),
            );
        }
        return failures;
    }
    if let Some(refused) = &expect.refused {
        // Refused: at the TLS layer, or served a 4xx instead of MIMI. A connection closed with
        // no response counts only when the harness presented no certificate: in TLS 1.3 the
        // alert can lose the race with the request, but a provider that crashes on a request
        // it should refuse must not pass.
        let was_refused = match outcome {
            Err(f) => {
                f.tls_refused
                    || (f.closed
                        && step.client_certificate.as_ref().map(|c| c.value)
                            == Some(ClientCertificate::None))
            }
            Ok(r) => (400..500).contains(&r.status),
        };
        if was_refused != refused.value {
            let actual = match outcome {
                Err(f) => format!("the connection failed: {}", f.message),
                Ok(r) => format!("the provider answered {}", r.status),
            };
            let wanted = if refused.value {
                "the provider to refuse the request"
            } else {
                "the provider to serve the request"
            };
            fail(
                Pos::of(refused),
                "refused",
                format!("expected {wanted}; {actual}"),
            );
        }
        return failures;
    }
    let response = match outcome {
        Ok(r) => r,
        Err(f) => {
            fail(
                step.target_pos(),
                "response",
                format!("no response: {}", f.message),
            );
            return failures;
        }
    };
    let mut status_failed = false;
    if let Some(status) = &expect.status {
        let allowed: Vec<i64> = match &status.value {
            Node::Int(c) => vec![*c],
            Node::Seq(items) => items
                .iter()
                .filter_map(|i| {
                    if let Node::Int(c) = i.value {
                        Some(c)
                    } else {
                        None
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        if !allowed.contains(&i64::from(response.status)) {
            status_failed = true;
            let reason = String::from_utf8_lossy(&response.body[..response.body.len().min(200)])
                .into_owned();
            fail(
                Pos::of(status),
                "status",
                format!(
                    "expected {}, got {}{}",
                    allowed
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(" or "),
                    response.status,
                    if response.status >= 400 && !reason.is_empty() {
                        format!(" ({})", reason.trim())
                    } else {
                        String::new()
                    }
                ),
            );
        }
    }
    let check = |node: &Spanned<Node>,
                 subject: String,
                 actual: Vec<&Value>,
                 fail: &mut dyn FnMut(Pos, &str, String)| {
        let matcher = Matcher::parse(node).expect("checked at load");
        let arg = match template::fill(&matcher.arg, vars) {
            Ok(a) => a,
            Err(e) => return fail(matcher.pos, &subject, e),
        };
        if actual.is_empty() {
            if !matcher.accepts_nothing() {
                fail(
                    matcher.pos,
                    &subject,
                    "selects nothing in the response".into(),
                );
            }
            return;
        }
        for value in actual {
            if let Err(e) = matcher.apply(value, &arg) {
                return fail(matcher.pos, &subject, e);
            }
        }
    };
    for (name, node) in &expect.headers {
        let values: Vec<Value> = response
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        check(
            node,
            format!("header {name}"),
            values.iter().collect(),
            &mut fail,
        );
    }
    if let Some(size) = &expect.size {
        let len = Value::from(response.body.len());
        check(size, "body size".into(), vec![&len], &mut fail);
    }
    if let (Some(node), Some(received)) = (&expect.client_certificate, received) {
        let names = Value::from(received.client_certificate.clone());
        check(node, "client certificate".into(), vec![&names], &mut fail);
    }
    if let (Some(node), Some(received)) = (&expect.delay, received) {
        match received.delay_ms.map(Value::from) {
            Some(ms) => check(node, "delay (ms)".into(), vec![&ms], &mut fail),
            None => fail(
                Pos::of(node),
                "delay",
                "no earlier request of this endpoint was received in this case".into(),
            ),
        }
    }
    // After a wrong status the body is an error text: checking it as a message is noise.
    if let Some(body) = expect.body.as_ref().filter(|_| !status_failed) {
        let Node::Map(entries) = &body.value else {
            unreachable!("checked at load")
        };
        match decoded {
            None => fail(
                Pos::of(body),
                "body",
                format!(
                    "{} has no known response type; say which with decode-as",
                    step.call
                        .as_ref()
                        .map_or("the operation", |c| c.value.as_str())
                ),
            ),
            Some(Err(e)) => fail(Pos::of(body), "body", e.clone()),
            Some(Ok((value, _))) => {
                for (path, node) in entries {
                    let p = BodyPath::parse(&path.value).expect("checked at load");
                    check(node, format!("body {}", p.text), p.select(value), &mut fail);
                }
            }
        }
    }
    failures
}

/// The `save` path that takes the whole body as hex, for a later step that needs its bytes.
pub const RAW_BODY: &str = "@body";

fn save(
    case: &Case,
    step: &Step,
    decoded: Option<&Value>,
    raw: Option<&[u8]>,
    actors: &mut Actors,
    record: &mut CaseRecord,
) {
    if step.save.is_empty() {
        return;
    }
    let mut context: serde_json::Map<String, Value> = serde_json::to_value(&actors.vars)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    for (name, path) in &step.save {
        let captured = if path.value == RAW_BODY {
            raw.map(|bytes| Value::String(hex::encode(bytes)))
        } else {
            decoded.and_then(|v| {
                BodyPath::parse(&path.value)
                    .expect("checked at load")
                    .capture(v)
            })
        };
        match captured {
            Some(value) => {
                context.insert(name.clone(), value);
            }
            None => record.failures.push(failure(
                case,
                step,
                Pos::of(path),
                format!("save {name}"),
                format!("{} selects nothing in the response", path.value),
            )),
        }
    }
    actors.vars = minijinja::Value::from(minijinja::value::Serde(&context));
}

/// Compares the step's response with its snapshot, if it has one.
fn snapshot_step(
    case: &Case,
    step: &Step,
    decoded: Option<&(Value, &str)>,
    outcome: &Outcome,
    actors: &Actors,
    mode: snapshot::UpdateMode,
    suffix: Option<&str>,
) -> Option<AssertionFailure> {
    let name = step.snapshot.as_ref()?;
    let text = match (decoded, outcome) {
        (Some((value, type_name)), _) => {
            let mut value = value.clone();
            for path in mimi_wire::registry::volatile_paths(type_name)
                .iter()
                .map(|p| p.to_string())
                .chain(step.redact.iter().map(|r| r.value.clone()))
            {
                if let Ok(p) = BodyPath::parse(&path) {
                    p.redact(&mut value, "[redacted]");
                }
            }
            render_body(&value)
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
    let source = case.file.display().to_string();
    snapshot::check(
        &case.snapshot_path(&name.value, suffix),
        &source,
        &step.name,
        &text,
        mode,
        suffix.is_some(),
    )
    .err()
    .map(|message| {
        failure(
            case,
            step,
            Pos::of(name),
            format!("snapshot {}", name.value),
            message,
        )
    })
}

/// What the harness saw of a request it received, beyond headers and body.
struct Received {
    client_certificate: Vec<String>,
    /// Milliseconds since the case's previous `receive` of the endpoint took its request.
    delay_ms: Option<u64>,
    /// The requirements the request broke, as the harness's link-B server found.
    findings: Vec<crate::drivers::peer::Finding>,
}

/// A request the harness received, for the transcript.
fn render_received(got: &crate::drivers::peer::Recorded, body_type: Option<&str>) -> String {
    use std::fmt::Write;
    let mut out = format!("← received {} for {}\n", got.endpoint, got.key);
    for (name, value) in &got.headers {
        let _ = writeln!(
            out,
            "  {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    let _ = writeln!(
        out,
        "  (client certificate: {:?}; {} bytes of {}; the harness answered {})",
        got.client_certificate,
        got.body.len(),
        body_type.unwrap_or("an unknown type"),
        got.answered
    );
    for found in &got.findings {
        let _ = writeln!(out, "  breaks {}: {}", found.requirement, found.what);
    }
    out
}

/// The decode type of a driver API answer.
const JSON: &str = "json";

/// What a step does: send a link-B request or a driver API operation (links A and C), take a
/// request the provider sent the harness, or have a harness client act.
enum Target<'a> {
    LinkB(&'a crate::drivers::link_b::Connection, Request, String),
    Receive {
        peer: &'a crate::drivers::peer::HarnessPeer,
        endpoint: &'a str,
        key: String,
        deadline: Instant,
    },
    Mls {
        op: &'a str,
        client: &'a str,
        args: Option<Value>,
        request_text: String,
    },
    Driver {
        client: &'a crate::drivers::link_a::DriverClient,
        op: &'static crate::drivers::link_a::Operation,
        url: String,
        json: Option<Value>,
        request_text: String,
    },
}

/// The link-B request of a `call` step, resolved through the provider's directory, and its
/// rendering for the transcript.
async fn link_b_request(
    case: &Case,
    step: &Step,
    call: &Spanned<String>,
    connection: &crate::drivers::link_b::Connection,
    actors: &Actors,
    path: &BTreeMap<String, String>,
    timeout: std::time::Duration,
) -> Result<(Request, String), String> {
    let located = |pos: Pos, message: String| case.error_at(pos, message).to_string();
    let text = |node: &Spanned<Node>| -> Result<String, String> {
        Ok(
            match template::fill(&node.value, &actors.vars)
                .map_err(|e| located(Pos::of(node), e))?
            {
                Value::String(s) => s,
                other => other.to_string(),
            },
        )
    };
    let call = call.value.as_str();
    let url = if call == "directory" {
        connection.profile.directory_url.clone()
    } else {
        connection
            .directory(timeout)
            .await
            .map_err(|f| {
                format!(
                    "cannot resolve {call:?} through {}'s directory: {}",
                    connection.profile.domain, f.message
                )
            })?
            .url(call, path)
            .map_err(|e| located(step.target_pos(), e))?
    };
    let mut headers = connection.default_headers();
    for (name, value) in &step.headers {
        let name = name.to_ascii_lowercase();
        headers.retain(|(n, _)| *n != name);
        headers.push((name, text(value)?));
    }
    let request_type = mimi_wire::registry::endpoint_types(call).0;
    let (mut bytes, typed) = match &step.body {
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
                    path,
                },
            )
            .map_err(|(pos, e)| located(pos, e))?
        }
        None => (Vec::new(), None),
    };
    for d in &step.damage {
        damage(&mut bytes, &d.value);
    }
    let request = Request {
        method: if matches!(call, "directory" | "proxyDownload") {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        },
        url,
        headers,
        body: bytes,
        client_certificate: step.client_certificate.as_ref().map(|c| c.value)
            != Some(ClientCertificate::None),
        timeout,
    };
    let text = render_request(&request, typed.or(request_type));
    Ok((request, text))
}
