//! Steps as written (YAML with positions) made into the typed plan. One key says what a step
//! is (`call`, `driver`, `receive`, `answer`, `mls`, `parallel`, `assert` or `use`); every
//! other key must belong to that kind, or the error says which kind it belongs to, at its
//! line. Every problem is reported, not only the first, each where it stands: in the case
//! file, or in a fragment file with the line that uses it.

mod body;
mod expect;
mod mls;

use super::fragment::{Fragment, Library};
use super::model::*;
use super::{parse_duration, snippet, LoadError, DEFAULT_STEP_TIMEOUT};
use crate::catalogue::{Catalogue, Requirement};
use crate::expect::path::BodyPath;
use crate::expect::Matchers;
use crate::template::{self, Field, Template};
use crate::yaml::Spanned;
use crate::yaml::{Node, Pos};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type Entries = [(Spanned<String>, Spanned<Node>)];

/// The keys of a mapping as written, looked up by name.
#[derive(Clone, Copy)]
struct Keys<'n>(&'n Entries);

impl<'n> Keys<'n> {
    fn get(&self, key: &str) -> Option<&'n Spanned<Node>> {
        self.0.iter().find(|(k, _)| k.value == key).map(|(_, v)| v)
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// The keys that say what a step is.
const KINDS: [&str; 8] = [
    "call", "driver", "receive", "answer", "mls", "parallel", "assert", "use",
];

const RESPONDS: &[&str] = &["call", "driver", "receive", "mls"];

/// Every step key but the kind keys, and the kinds it belongs to.
const STEP_KEYS: &[(&str, &[&str])] = &[
    ("name", &KINDS),
    // An `answer` step checks nothing: its `checks` would judge nothing.
    (
        "checks",
        &[
            "call", "driver", "receive", "mls", "parallel", "assert", "use",
        ],
    ),
    ("by", &["call", "receive"]),
    ("on", &["call", "driver", "receive", "answer", "mls"]),
    ("path", &["call", "driver", "receive", "answer"]),
    ("headers", &["call"]),
    ("client-certificate", &["call"]),
    ("body", &["call"]),
    ("damage", &["call"]),
    ("json", &["driver"]),
    ("reply", &["answer"]),
    ("client", &["mls"]),
    ("args", &["mls"]),
    ("expect", RESPONDS),
    ("save", RESPONDS),
    ("snapshot", RESPONDS),
    ("redact", RESPONDS),
    ("timeout", RESPONDS),
    ("with", &["use"]),
];

/// `a` or `an` before a kind's name.
fn a(kind: &str) -> &'static str {
    if matches!(kind, "answer" | "assert" | "mls") {
        "an"
    } else {
        "a"
    }
}

/// "`call`, `driver` and `mls`".
fn listed<S: AsRef<str>>(names: &[S]) -> String {
    joined(names, "and")
}

/// "`call`, `driver` or `mls`".
fn either<S: AsRef<str>>(names: &[S]) -> String {
    joined(names, "or")
}

fn joined<S: AsRef<str>>(names: &[S], conjunction: &str) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {conjunction} {last}", rest.join(", ")),
    }
}

/// What a case's steps may refer to.
pub(super) struct Context<'a> {
    pub actors: &'a Actors,
    pub catalogue: &'a Catalogue,
    /// The requirement ids the case cites; a step of the case narrows them.
    pub case_checks: BTreeSet<&'a str>,
    pub needs: BTreeSet<&'a str>,
    pub library: &'a Library,
    pub fixtures: &'a Path,
    /// Names whose values are known before the first step: roles, clients, case variables and
    /// the built-in names.
    pub fixed: BTreeSet<&'a str>,
    /// Roles, clients and the built-in names: what a fragment may use besides its inputs.
    pub base: BTreeSet<&'a str>,
}

/// A template whose names are all known before the first step, with where it stands: it can
/// be filled in against the real profiles before any traffic.
#[derive(Debug)]
pub struct FixedTemplate {
    pub origin: Arc<Origin>,
    pub text: String,
    pub pos: Pos,
}

/// Where steps are being read: a file, the requirements its steps are charged to by default,
/// and, in a fragment, the fragments that led there.
#[derive(Clone)]
struct Frame {
    origin: Arc<Origin>,
    charge: Arc<[Requirement]>,
    /// A fragment's steps may cite any catalogued requirement; a case's narrow the case's.
    in_fragment: bool,
    /// Fragment names from the case inward, to refuse a fragment that uses itself.
    stack: Vec<String>,
}

/// Names a template may use at a point of the case, and the fragment saves it may not.
#[derive(Clone, Default)]
struct Names {
    known: BTreeSet<String>,
    /// A fragment's saves that it does not declare as outputs: name → fragment.
    hidden: BTreeMap<String, String>,
}

pub(super) struct Parsed {
    pub errors: Vec<LoadError>,
    pub fixed_templates: Vec<FixedTemplate>,
    pub fragment_requirements: Vec<Requirement>,
    pub fragment_origins: Vec<Arc<Origin>>,
}

pub(super) struct Parser<'a> {
    cx: &'a Context<'a>,
    errors: Vec<LoadError>,
    fixed_templates: Vec<FixedTemplate>,
    /// Requirements fragments (and their steps) check, which the case checks too.
    fragment_requirements: Vec<Requirement>,
    /// The fragment files the case uses, for showing their lines.
    fragment_origins: Vec<Arc<Origin>>,
    /// Fragment files whose own errors have been reported for this case.
    reported: BTreeSet<String>,
}

impl<'a> Parser<'a> {
    /// What was made besides the steps: errors, templates to check against profiles, and what
    /// the fragments used bring.
    pub fn finish(self) -> Parsed {
        Parsed {
            errors: self.errors,
            fixed_templates: self.fixed_templates,
            fragment_requirements: self.fragment_requirements,
            fragment_origins: self.fragment_origins,
        }
    }

    pub fn new(cx: &'a Context<'a>) -> Self {
        Self {
            cx,
            errors: Vec::new(),
            fixed_templates: Vec::new(),
            fragment_requirements: Vec::new(),
            fragment_origins: Vec::new(),
            reported: BTreeSet::new(),
        }
    }

    /// The case's own steps.
    pub fn case_steps(
        &mut self,
        origin: Arc<Origin>,
        charge: Arc<[Requirement]>,
        nodes: &[Spanned<Node>],
    ) -> Vec<Step> {
        let frame = Frame {
            origin,
            charge,
            in_fragment: false,
            stack: Vec::new(),
        };
        let mut names = Names {
            known: self.cx.fixed.iter().map(|n| n.to_string()).collect(),
            hidden: BTreeMap::new(),
        };
        self.steps(&frame, nodes, &mut names)
    }

    fn error(&mut self, frame: &Frame, pos: Pos, message: impl Into<String>) {
        self.errors.push(frame.origin.error_at(pos, message));
    }

    fn errors_at(&mut self, frame: &Frame, errors: Vec<(Pos, String)>) {
        for (pos, message) in errors {
            self.error(frame, pos, message);
        }
    }

    fn steps(&mut self, frame: &Frame, nodes: &[Spanned<Node>], names: &mut Names) -> Vec<Step> {
        let mut steps = Vec::new();
        for node in nodes {
            if let Some(step) = self.step(frame, node, names, false) {
                for (name, _) in saves(&step) {
                    names.known.insert(name.to_string());
                    names.hidden.remove(name);
                }
                if let StepKind::Use(u) = &step.kind {
                    for hidden in internal_saves(&u.steps) {
                        if !u.outputs.contains(&hidden) && !names.known.contains(&hidden) {
                            names.hidden.insert(hidden, u.fragment.clone());
                        }
                    }
                }
                steps.push(step);
            }
        }
        steps
    }

    /// One step; None when it cannot be made (its errors are recorded).
    fn step(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        names: &Names,
        in_parallel: bool,
    ) -> Option<Step> {
        let step_pos = Pos::of(node);
        let Node::Map(entries) = &node.value else {
            self.error(
                frame,
                step_pos,
                format!("a step is a mapping of keys, not {}", node.value.kind()),
            );
            return None;
        };
        let kinds: Vec<&(Spanned<String>, Spanned<Node>)> = entries
            .iter()
            .filter(|(k, _)| KINDS.contains(&k.value.as_str()))
            .collect();
        let kind = match kinds.as_slice() {
            [] => {
                for (key, _) in entries {
                    if !STEP_KEYS.iter().any(|(k, _)| *k == key.value) {
                        self.error(
                            frame,
                            Pos::of(key),
                            format!("unknown step key `{}`", key.value),
                        );
                    }
                }
                self.error(
                    frame,
                    step_pos,
                    format!("a step says what it does with one of {}", either(&KINDS)),
                );
                return None;
            }
            [one] => *one,
            [first, second, ..] => {
                self.error(
                    frame,
                    Pos::of(&second.0),
                    format!(
                        "a step does one thing: this one has `{}` (line {}) and `{}`",
                        first.0.value,
                        Pos::of(&first.0).line,
                        second.0.value
                    ),
                );
                return None;
            }
        };
        let kind_name = kind.0.value.as_str();
        let kind_pos = Pos::of(&kind.1);
        let mut misplaced = false;
        for (key, _) in entries {
            if KINDS.contains(&key.value.as_str()) {
                continue;
            }
            match STEP_KEYS.iter().find(|(k, _)| *k == key.value) {
                None => {
                    misplaced = true;
                    let own: Vec<&str> = std::iter::once(kind_name)
                        .chain(
                            STEP_KEYS
                                .iter()
                                .filter(|(_, kinds)| kinds.contains(&kind_name))
                                .map(|(k, _)| *k),
                        )
                        .collect();
                    self.error(
                        frame,
                        Pos::of(key),
                        format!(
                            "unknown key `{}` in {} `{kind_name}` step; its keys are {}",
                            key.value,
                            a(kind_name),
                            own.join(", ")
                        ),
                    );
                }
                Some((_, owners)) if !owners.contains(&kind_name) => {
                    misplaced = true;
                    let owner_words = match owners {
                        [one] => format!("{} `{one}` step", a(one)),
                        many => format!("{} steps", listed(many)),
                    };
                    self.error(
                        frame,
                        Pos::of(key),
                        format!(
                            "`{}` belongs to {owner_words}, not {} `{kind_name}` step",
                            key.value,
                            a(kind_name)
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        let keys = Keys(entries);
        // Parts that fail are reported and the rest of the step is still read, for its errors.
        let name = match (keys.get("name"), kind_name) {
            (Some(n), _) => self.string(frame, n, "name"),
            (None, "use") => Some(format!(
                "use {}",
                scalar_text(&kind.1.value).unwrap_or_default()
            )),
            (None, _) => {
                self.error(
                    frame,
                    kind_pos,
                    format!("{} `{kind_name}` step needs a `name`", a(kind_name)),
                );
                None
            }
        };
        let charge = match keys.get("checks") {
            Some(checks) => self.checks(frame, checks),
            None => Some(frame.charge.clone()),
        };
        if in_parallel && matches!(kind_name, "parallel" | "use") {
            self.error(
                frame,
                Pos::of(&kind.0),
                format!(
                    "{} `{kind_name}` step cannot run inside a `parallel` group",
                    a(kind_name)
                ),
            );
            return None;
        }
        if misplaced {
            return None;
        }
        let timeout = match keys.get("timeout") {
            Some(t) => self.duration(frame, t),
            None => Some(DEFAULT_STEP_TIMEOUT),
        };
        let complete = name.is_some() && charge.is_some() && timeout.is_some();
        let charge = charge.unwrap_or_else(|| frame.charge.clone());
        let timeout = timeout.unwrap_or(DEFAULT_STEP_TIMEOUT);
        let step_frame = Frame {
            charge: charge.clone(),
            ..frame.clone()
        };
        let kind = match kind_name {
            "call" => StepKind::Call(Box::new(self.call(
                &step_frame,
                kind,
                keys,
                names,
                timeout,
            )?)),
            "driver" => StepKind::Driver(Box::new(self.driver(
                &step_frame,
                kind,
                keys,
                names,
                timeout,
            )?)),
            "receive" => StepKind::Receive(Box::new(self.receive(
                &step_frame,
                kind,
                keys,
                names,
                timeout,
            )?)),
            "answer" => StepKind::Answer(Box::new(self.answer(&step_frame, kind, keys, names)?)),
            "mls" => StepKind::Mls(Box::new(self.mls(
                &step_frame,
                kind,
                keys,
                names,
                timeout,
            )?)),
            "parallel" => StepKind::Parallel(self.parallel(&step_frame, &kind.1, names)?),
            "assert" => StepKind::Assert(self.assert(&step_frame, &kind.1, names)?),
            _ => StepKind::Use(Box::new(self.use_fragment(
                frame,
                kind,
                keys.get("with"),
                keys.get("checks").map(|_| charge.clone()),
                names,
            )?)),
        };
        if !complete {
            return None;
        }
        Some(Step {
            name: name?,
            pos: kind_pos,
            origin: frame.origin.clone(),
            charge,
            kind,
        })
    }

    // ---- The kinds ----

    fn call(
        &mut self,
        frame: &Frame,
        (_, endpoint): &(Spanned<String>, Spanned<Node>),
        keys: Keys<'_>,
        names: &Names,
        timeout: Duration,
    ) -> Option<Call> {
        let endpoint_pos = Pos::of(endpoint);
        let endpoint = {
            let name = self.string(frame, endpoint, "call")?;
            let endpoints = mimi_wire::messages::directory::ENDPOINTS;
            if name == "directory" {
                Some(Endpoint::Directory)
            } else if let Some(known) = endpoints.iter().find(|e| **e == name) {
                Some(Endpoint::Mimi(known))
            } else {
                self.error(
                    frame,
                    endpoint_pos,
                    format!(
                        "unknown endpoint {name:?}; known: directory, {}",
                        endpoints.join(", ")
                    ),
                );
                None
            }
        };
        // A profile without the endpoint makes the case unsupported, not failed.
        if let Some(Endpoint::Mimi(name)) = endpoint {
            if !self.cx.needs.contains(name) {
                self.error(
                    frame,
                    endpoint_pos,
                    format!(
                        "the step uses {name} of the provider under test: add `{name}` to `needs`"
                    ),
                );
            }
        }
        let by = self.required_role(frame, keys.get("by"), "by", "call", endpoint_pos);
        let by = by.and_then(|by| {
            if by.player == Player::Harness {
                Some(by)
            } else {
                self.error(
                    frame,
                    by.pos,
                    format!(
                        "`by: {}` must be a role the harness plays (`harness`)",
                        by.name
                    ),
                );
                None
            }
        });
        let on = self.required_role(frame, keys.get("on"), "on", "call", endpoint_pos);
        let on = on.and_then(|on| self.provider_under_test(frame, on, "call"));
        let path = self.templates_map(frame, keys.get("path"), names, false);
        let headers = self.templates_map(frame, keys.get("headers"), names, true);
        let client_certificate = match keys.get("client-certificate") {
            None => Some(ClientCertificate::Harness),
            Some(node) => self.choice(
                frame,
                node,
                "client-certificate",
                &[
                    ("harness", ClientCertificate::Harness),
                    ("none", ClientCertificate::None),
                ],
            ),
        };
        let body = match keys.get("body") {
            None => Some(None),
            Some(node) => self
                .body(frame, node, names, path.as_deref().unwrap_or_default())
                .map(Some),
        };
        let damage = keys
            .get("damage")
            .map_or(Some(Vec::new()), |d| self.damage(frame, d));
        let outcome = self.outcome(frame, "call", keys, names);
        Some(Call {
            by: by?,
            on: on?,
            endpoint: endpoint?,
            path: path?,
            headers: headers?,
            client_certificate: client_certificate?,
            body: body?,
            damage: damage?,
            timeout,
            outcome: outcome?,
        })
    }

    fn driver(
        &mut self,
        frame: &Frame,
        (_, operation): &(Spanned<String>, Spanned<Node>),
        keys: Keys<'_>,
        names: &Names,
        timeout: Duration,
    ) -> Option<Driver> {
        let pos = Pos::of(operation);
        let name = self.string(frame, operation, "driver")?;
        let operation = DriverOperation::parse(&name);
        if operation.is_none() {
            let known: Vec<&str> = DriverOperation::ALL.iter().map(|o| o.name()).collect();
            self.error(
                frame,
                pos,
                format!(
                    "unknown driver operation {name:?}; known: {}",
                    known.join(", ")
                ),
            );
        }
        self.needs(frame, pos, "driver", "driver");
        let on = self.required_role(frame, keys.get("on"), "on", "driver", pos);
        let on = on.and_then(|on| self.provider_under_test(frame, on, "driver"));
        let path = self.templates_map(frame, keys.get("path"), names, false);
        let json = keys.get("json").map(|j| self.template(frame, j, names));
        let outcome = self.outcome(frame, "driver", keys, names);
        Some(Driver {
            on: on?,
            operation: operation?,
            path: path?,
            json,
            timeout,
            outcome: outcome?,
        })
    }

    fn served(&mut self, frame: &Frame, node: &Spanned<Node>, kind: &str) -> Option<Served> {
        let name = self.string(frame, node, kind)?;
        let served = Served::parse(&name);
        if served.is_none() {
            let all: Vec<&str> = Served::ALL.iter().map(|s| s.name()).collect();
            self.error(
                frame,
                Pos::of(node),
                format!("the harness serves {}, not {name:?}", all.join(", ")),
            );
        }
        self.needs(frame, Pos::of(node), "harness-server", kind);
        served
    }

    /// The one path variable that tells a request to the harness apart.
    fn served_key(
        &mut self,
        frame: &Frame,
        path: Option<Vec<(String, Template)>>,
        kind: &str,
        at: Pos,
    ) -> Option<Template> {
        let mut path = path?;
        if path.len() == 1 {
            return path.pop().map(|(_, t)| t);
        }
        self.error(
            frame,
            at,
            format!(
                "{} `{kind}` step names the request by its one path variable, e.g. `path: {{roomId: ...}}`",
                a(kind)
            ),
        );
        None
    }

    fn receive(
        &mut self,
        frame: &Frame,
        (_, endpoint): &(Spanned<String>, Spanned<Node>),
        keys: Keys<'_>,
        names: &Names,
        timeout: Duration,
    ) -> Option<Receive> {
        let pos = Pos::of(endpoint);
        let endpoint = self.served(frame, endpoint, "receive");
        let on = self.required_role(frame, keys.get("on"), "on", "receive", pos);
        let on = on.and_then(|on| self.played_by_harness(frame, on));
        let by = self.required_role(frame, keys.get("by"), "by", "receive", pos);
        let by = by.and_then(|by| {
            if by.player == Player::Harness {
                self.error(
                    frame,
                    by.pos,
                    format!(
                        "`by: {}` must be a provider role the harness does not play",
                        by.name
                    ),
                );
                None
            } else {
                Some(by)
            }
        });
        let path = self.templates_map(frame, keys.get("path"), names, false);
        let key = self.served_key(frame, path, "receive", pos);
        let outcome = self.outcome(frame, "receive", keys, names);
        Some(Receive {
            by: by?,
            on: on?,
            endpoint: endpoint?,
            key: key?,
            timeout,
            outcome: outcome?,
        })
    }

    fn answer(
        &mut self,
        frame: &Frame,
        (_, endpoint): &(Spanned<String>, Spanned<Node>),
        keys: Keys<'_>,
        names: &Names,
    ) -> Option<Answer> {
        let pos = Pos::of(endpoint);
        let endpoint = self.served(frame, endpoint, "answer");
        let on = self.required_role(frame, keys.get("on"), "on", "answer", pos);
        let on = on.and_then(|on| self.played_by_harness(frame, on));
        let path = self.templates_map(frame, keys.get("path"), names, false);
        let key = self.served_key(frame, path, "answer", pos);
        let reply = match keys.get("reply") {
            Some(node) => self.reply(frame, node, names),
            None => {
                self.error(
                    frame,
                    pos,
                    "an `answer` step needs `reply`: {status, headers, times}",
                );
                None
            }
        };
        Some(Answer {
            on: on?,
            endpoint: endpoint?,
            key: key?,
            reply: reply?,
        })
    }

    fn reply(&mut self, frame: &Frame, node: &Spanned<Node>, names: &Names) -> Option<Reply> {
        let entries = self.map(frame, node, "reply")?;
        let mut status = None;
        let mut headers = Some(Vec::new());
        let mut times = Some(1);
        for (key, value) in entries {
            match key.value.as_str() {
                "status" => status = self.status_code(frame, value),
                "headers" => headers = self.templates_map(frame, Some(value), names, true),
                "times" => {
                    times = self.unsigned(frame, value, "times").and_then(|n| {
                        usize::try_from(n).ok().filter(|n| *n > 0).or_else(|| {
                            self.error(frame, Pos::of(value), "times is at least 1");
                            None
                        })
                    })
                }
                other => self.error(
                    frame,
                    Pos::of(key),
                    format!(
                        "unknown key `{other}` in `reply`; its keys are status, headers, times"
                    ),
                ),
            }
        }
        if status.is_none() && !entries.iter().any(|(k, _)| k.value == "status") {
            self.error(frame, Pos::of(node), "a reply needs `status`");
        }
        Some(Reply {
            status: status?,
            headers: headers?,
            times: times?,
        })
    }

    fn mls(
        &mut self,
        frame: &Frame,
        (_, operation): &(Spanned<String>, Spanned<Node>),
        keys: Keys<'_>,
        names: &Names,
        timeout: Duration,
    ) -> Option<Mls> {
        let pos = Pos::of(operation);
        let client = match keys.get("client") {
            None => {
                self.error(frame, pos, "an `mls` step names its `client`");
                None
            }
            Some(node) => {
                let name = self.string(frame, node, "client")?;
                match self.cx.actors.clients.get(&name) {
                    Some(client) => Some((name, client.value.on.value.clone())),
                    None => {
                        self.error(
                            frame,
                            Pos::of(node),
                            format!("{name:?} is not a client of this case"),
                        );
                        None
                    }
                }
            }
        };
        let on = self.required_role(frame, keys.get("on"), "on", "mls", pos);
        let on = match (on, &client) {
            (Some(on), Some((name, client_on))) if on.name != *client_on => {
                self.error(
                    frame,
                    on.pos,
                    format!("{name} is a client on {client_on}, not on {}", on.name),
                );
                None
            }
            (on, _) => on,
        };
        let operation = self.mls_operation(frame, operation, keys.get("args"), names);
        let outcome = self.outcome(frame, "mls", keys, names);
        Some(Mls {
            client: client?.0,
            on: on?,
            operation: operation?,
            timeout,
            outcome: outcome?,
        })
    }

    fn parallel(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        names: &Names,
    ) -> Option<Vec<Step>> {
        let Node::Seq(items) = &node.value else {
            self.error(
                frame,
                Pos::of(node),
                format!("`parallel` is a list of steps, not {}", node.value.kind()),
            );
            return None;
        };
        if items.len() < 2 {
            self.error(
                frame,
                Pos::of(node),
                "a `parallel` group has at least two steps",
            );
            return None;
        }
        let mut steps = Vec::new();
        let mut saved: BTreeMap<String, Pos> = BTreeMap::new();
        let mut complete = true;
        for item in items {
            let Some(step) = self.step(frame, item, names, true) else {
                complete = false;
                continue;
            };
            for (name, pos) in saves(&step) {
                match saved.get(name) {
                    Some(first) => {
                        let message = format!(
                            "`{name}` is saved by another step of this group too (line {}): which value it gets would be a race",
                            first.line
                        );
                        // Reported; the group still counts as read, so that its saves are known.
                        self.error(frame, pos, message);
                    }
                    None => {
                        saved.insert(name.to_string(), pos);
                    }
                }
            }
            steps.push(step);
        }
        complete.then_some(steps)
    }

    fn assert(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        names: &Names,
    ) -> Option<Vec<Assertion>> {
        let entries = self.map(frame, node, "assert")?;
        if entries.is_empty() {
            self.error(
                frame,
                Pos::of(node),
                "`assert` needs at least one `\"{{ value }}\": matcher`",
            );
            return None;
        }
        let mut assertions = Vec::new();
        let mut complete = true;
        for (key, value) in entries {
            let subject = Template {
                node: Node::Str(key.value.clone()),
                pos: Pos::of(key),
            };
            if !template::is_template(&key.value) {
                self.error(
                    frame,
                    subject.pos,
                    format!(
                        "an assertion's key is a template, such as \"{{{{ {} }}}}\"; {:?} is plain text",
                        key.value, key.value
                    ),
                );
                complete = false;
                continue;
            }
            self.check_template(frame, &subject, names);
            match self.matchers(frame, value, names) {
                Some(matchers) => assertions.push(Assertion { subject, matchers }),
                None => complete = false,
            }
        }
        complete.then_some(assertions)
    }

    fn use_fragment(
        &mut self,
        frame: &Frame,
        (_, name_node): &(Spanned<String>, Spanned<Node>),
        with: Option<&Spanned<Node>>,
        step_charge: Option<Arc<[Requirement]>>,
        names: &Names,
    ) -> Option<Use> {
        let use_pos = Pos::of(name_node);
        let name = self.string(frame, name_node, "use")?;
        let fragment: &Fragment = match self.cx.library.get(&name) {
            None => {
                let known = self.cx.library.names();
                let known = if known.is_empty() {
                    format!("there is none in {}", self.cx.library.folder().display())
                } else {
                    format!("known: {}", known.join(", "))
                };
                self.error(
                    frame,
                    use_pos,
                    format!("unknown fragment {name:?}; {known}"),
                );
                return None;
            }
            Some(Err(errors)) => {
                if self.reported.insert(name.clone()) {
                    self.errors.extend(errors.iter().cloned());
                }
                self.error(
                    frame,
                    use_pos,
                    format!("fragment {name:?} does not load (its errors are above)"),
                );
                return None;
            }
            Some(Ok(fragment)) => fragment,
        };
        if frame.stack.contains(&name) {
            self.error(
                frame,
                use_pos,
                format!(
                    "fragment {name:?} uses itself: {} → {name}",
                    frame.stack.join(" → ")
                ),
            );
            return None;
        }
        // The inputs, filled in where the fragment is used.
        let given = match with {
            None => Vec::new(),
            Some(node) => self.map(frame, node, "with")?.iter().collect(),
        };
        let mut inputs = Vec::new();
        for (key, value) in &given {
            if fragment.inputs.iter().any(|(input, _)| *input == key.value) {
                inputs.push((key.value.clone(), self.template(frame, value, names)));
            } else {
                self.error(
                    frame,
                    Pos::of(key),
                    format!(
                        "`{}` is not an input of fragment {name:?}; its inputs: {}",
                        key.value,
                        fragment.input_list()
                    ),
                );
            }
        }
        for (input, about) in &fragment.inputs {
            if !given.iter().any(|(k, _)| k.value == *input) {
                self.error(
                    frame,
                    use_pos,
                    format!("fragment {name:?} needs the input `{input}` ({about}) in `with`"),
                );
            }
        }
        // Its steps, read for this case: they see its roles, clients and the inputs.
        let site = UseSite {
            fragment: name.clone(),
            file: frame.origin.file.clone(),
            pos: use_pos,
            snippet: snippet(&frame.origin.source, use_pos),
        };
        let origin = Arc::new(Origin {
            file: fragment.file.clone(),
            source: fragment.source.clone(),
            used_at: std::iter::once(site)
                .chain(frame.origin.used_at.iter().cloned())
                .collect(),
        });
        self.fragment_origins.push(origin.clone());
        let fragment_charge = self.fragment_checks(fragment, &origin);
        let inner = Frame {
            origin,
            charge: step_charge.unwrap_or(fragment_charge),
            in_fragment: true,
            stack: frame.stack.iter().cloned().chain([name.clone()]).collect(),
        };
        let mut inner_names = Names {
            known: self
                .cx
                .base
                .iter()
                .map(|n| n.to_string())
                .chain(fragment.inputs.iter().map(|(i, _)| i.clone()))
                .collect(),
            hidden: BTreeMap::new(),
        };
        let steps = self.steps(&inner, &fragment.steps, &mut inner_names);
        let saved: BTreeSet<String> = internal_saves(&steps).into_iter().collect();
        for (output, pos) in &fragment.outputs {
            if !saved.contains(output) {
                self.error(
                    &inner,
                    *pos,
                    format!("fragment {name:?} declares the output `{output}`, but none of its steps saves it"),
                );
            }
        }
        // Errors inside are recorded; the use still counts as read, so that the case's later
        // steps know its outputs and do not repeat the error as undefined variables.
        Some(Use {
            fragment: name,
            inputs,
            steps,
            outputs: fragment.outputs.iter().map(|(o, _)| o.clone()).collect(),
        })
    }

    /// What a fragment (or a step of one) checks, the case using it checks too.
    fn case_checks_too(&mut self, r: &Requirement) {
        if !self.fragment_requirements.iter().any(|f| f.id == r.id) {
            self.fragment_requirements.push(r.clone());
        }
    }

    /// A fragment's own `checks`, as requirements the case checks too.
    fn fragment_checks(&mut self, fragment: &Fragment, origin: &Arc<Origin>) -> Arc<[Requirement]> {
        let mut out = Vec::new();
        for id in &fragment.checks {
            match self.cx.catalogue.get(&id.value) {
                Some(r) => {
                    self.case_checks_too(r);
                    out.push(r.clone());
                }
                None => self.errors.push(origin.error_at(
                    Pos::of(id),
                    format!(
                        "{:?} is not a requirement id in cases/requirements.yaml",
                        id.value
                    ),
                )),
            }
        }
        out.into()
    }

    // ---- Values ----

    fn map<'n>(
        &mut self,
        frame: &Frame,
        node: &'n Spanned<Node>,
        what: &str,
    ) -> Option<&'n Entries> {
        match &node.value {
            Node::Map(entries) => Some(entries),
            Node::Null => Some(&[]),
            other => {
                self.error(
                    frame,
                    Pos::of(node),
                    format!("{what} is a mapping, not {}", other.kind()),
                );
                None
            }
        }
    }

    fn string(&mut self, frame: &Frame, node: &Spanned<Node>, what: &str) -> Option<String> {
        match scalar_text(&node.value) {
            Some(s) => Some(s),
            None => {
                self.error(
                    frame,
                    Pos::of(node),
                    format!("{what} is a string, not {}", node.value.kind()),
                );
                None
            }
        }
    }

    /// One of a few words, each standing for a value.
    fn choice<T: Copy>(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let word = self.string(frame, node, what)?;
        let found = options.iter().find(|(w, _)| *w == word).map(|(_, v)| *v);
        if found.is_none() {
            let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
            self.error(
                frame,
                Pos::of(node),
                format!("{what} is {}, not {word:?}", either(&words)),
            );
        }
        found
    }

    fn boolean(&mut self, frame: &Frame, node: &Spanned<Node>, what: &str) -> Option<bool> {
        match node.value {
            Node::Bool(b) => Some(b),
            _ => {
                self.error(
                    frame,
                    Pos::of(node),
                    format!("{what} is true or false, not {}", node.value.kind()),
                );
                None
            }
        }
    }

    fn unsigned(&mut self, frame: &Frame, node: &Spanned<Node>, what: &str) -> Option<u64> {
        match node.value {
            Node::Int(n) if n >= 0 => Some(n as u64),
            _ => {
                self.error(frame, Pos::of(node), format!("{what} is a whole number"));
                None
            }
        }
    }

    fn duration(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Duration> {
        let text = self.string(frame, node, "a duration")?;
        parse_duration(&text)
            .map_err(|e| self.error(frame, Pos::of(node), e))
            .ok()
    }

    fn checks(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Arc<[Requirement]>> {
        let Node::Seq(items) = &node.value else {
            self.error(frame, Pos::of(node), "checks is a list of requirement ids");
            return None;
        };
        let mut out = Vec::new();
        let mut complete = true;
        for item in items {
            let Some(id) = self.string(frame, item, "a requirement id") else {
                complete = false;
                continue;
            };
            match self.cx.catalogue.get(&id) {
                None => {
                    complete = false;
                    self.error(
                        frame,
                        Pos::of(item),
                        format!("{id:?} is not a requirement id in cases/requirements.yaml"),
                    );
                }
                Some(_) if !frame.in_fragment && !self.cx.case_checks.contains(id.as_str()) => {
                    complete = false;
                    let cited: Vec<&str> = self.cx.case_checks.iter().copied().collect();
                    self.error(
                        frame,
                        Pos::of(item),
                        format!(
                            "{id} is not among the case's checks ({}): a step narrows them, so cite it in the case's `checks` too",
                            cited.join(", ")
                        ),
                    );
                }
                Some(r) => {
                    if frame.in_fragment {
                        self.case_checks_too(r);
                    }
                    out.push(r.clone())
                }
            }
        }
        complete.then(|| out.into())
    }

    fn field<T: Clone>(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        convert: fn(&Value) -> Result<T, String>,
    ) -> Option<Field<T>> {
        Field::parse(node, convert)
            .map_err(|(pos, e)| self.error(frame, pos, e))
            .ok()
    }

    fn role(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Role> {
        let name = self.string(frame, node, "a role")?;
        match self.cx.actors.providers.get(&name) {
            Some(player) => Some(Role {
                name,
                pos: Pos::of(node),
                player: player.value,
            }),
            None => {
                self.error(
                    frame,
                    Pos::of(node),
                    format!("{name:?} is not a provider role of this case"),
                );
                None
            }
        }
    }

    fn required_role(
        &mut self,
        frame: &Frame,
        node: Option<&Spanned<Node>>,
        key: &str,
        kind: &str,
        at: Pos,
    ) -> Option<Role> {
        match node {
            Some(node) => self.role(frame, node),
            None => {
                let why = match (kind, key) {
                    ("call", "by") => ": the role the harness plays when it sends",
                    ("receive", "by") => ": the provider role that sends the request",
                    (_, "on") if matches!(kind, "receive" | "answer" | "mls") => {
                        ": the role the harness plays"
                    }
                    (_, "on") => ": the role that receives it",
                    _ => "",
                };
                self.error(
                    frame,
                    at,
                    format!("{} `{kind}` step needs `{key}`{why}", a(kind)),
                );
                None
            }
        }
    }

    fn provider_under_test(&mut self, frame: &Frame, on: Role, kind: &str) -> Option<Role> {
        if on.player == Player::Harness {
            self.error(
                frame,
                on.pos,
                format!(
                    "`on: {}` is played by the harness; {} `{kind}` step goes to a provider under test",
                    on.name,
                    a(kind)
                ),
            );
            None
        } else {
            Some(on)
        }
    }

    fn played_by_harness(&mut self, frame: &Frame, on: Role) -> Option<Role> {
        if on.player == Player::Harness {
            Some(on)
        } else {
            self.error(
                frame,
                on.pos,
                format!(
                    "`on: {}` must be a role the harness plays: it receives",
                    on.name
                ),
            );
            None
        }
    }

    /// A step that needs a capability the case must declare, or it would fail instead of being
    /// unsupported on a profile without it.
    fn needs(&mut self, frame: &Frame, at: Pos, need: &str, kind: &str) {
        if !self.cx.needs.contains(need) {
            self.error(
                frame,
                at,
                format!(
                    "{} `{kind}` step needs `{need}` in the case's `needs` (a provider without it makes the case unsupported)",
                    a(kind)
                ),
            );
        }
    }

    fn templates_map(
        &mut self,
        frame: &Frame,
        node: Option<&Spanned<Node>>,
        names: &Names,
        lower_case: bool,
    ) -> Option<Vec<(String, Template)>> {
        let Some(node) = node else {
            return Some(Vec::new());
        };
        let entries = self.map(frame, node, "this")?;
        Some(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = if lower_case {
                        k.value.to_ascii_lowercase()
                    } else {
                        k.value.clone()
                    };
                    (key, self.template(frame, v, names))
                })
                .collect(),
        )
    }

    fn template(&mut self, frame: &Frame, node: &Spanned<Node>, names: &Names) -> Template {
        let t = Template::of(node);
        self.check_template(frame, &t, names);
        t
    }

    fn check_template(&mut self, frame: &Frame, t: &Template, names: &Names) {
        let mut strings = Vec::new();
        t.strings(&mut strings);
        for (s, pos) in strings {
            self.check_string(frame, s, pos, names);
        }
    }

    /// A string's template: it compiles, uses only names known here, declares the test users
    /// it uses, and names fixtures that exist.
    fn check_string(&mut self, frame: &Frame, s: &str, pos: Pos, names: &Names) {
        if !template::is_template(s) {
            return;
        }
        let used = match template::names_used(s) {
            Ok(used) => used,
            Err(e) => {
                self.error(frame, pos, format!("invalid template: {e}"));
                return;
            }
        };
        let unknown: Vec<&String> = used.iter().filter(|n| !names.known.contains(*n)).collect();
        if !unknown.is_empty() {
            let hint = unknown
                .iter()
                .find_map(|n| names.hidden.get(*n).map(|f| (n, f)))
                .map(|(n, f)| {
                    format!("; fragment {f:?} saves `{n}` but does not declare it in its `outputs`")
                })
                .unwrap_or_else(|| {
                    format!(
                        "; known here: {}",
                        names.known.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                });
            let list: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
            self.error(
                frame,
                pos,
                format!("undefined variable {}{hint}", list.join(", ")),
            );
        }
        for user in template::test_users(s) {
            if !crate::case::model::declares_user(self.cx.needs.iter().copied(), user) {
                self.error(
                    frame,
                    pos,
                    format!("the case uses the test user {user:?}: add `users.{user}` to `needs`"),
                );
            }
        }
        for path in template::fixture_paths(s) {
            if let Err(e) = template::read_fixture(self.cx.fixtures, path).map(drop) {
                self.error(frame, pos, e);
            }
        }
        if used.iter().all(|n| self.cx.fixed.contains(n.as_str())) {
            self.fixed_templates.push(FixedTemplate {
                origin: frame.origin.clone(),
                text: s.to_string(),
                pos,
            });
        }
    }
}

/// A scalar as text (numbers and booleans as they read).
fn scalar_text(node: &Node) -> Option<String> {
    match node {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(f.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The names a step saves that the steps after it see, with their positions.
pub(super) fn saves(step: &Step) -> Vec<(&str, Pos)> {
    fn outcome(o: &Outcome) -> Vec<(&str, Pos)> {
        o.save.iter().map(|s| (s.name.as_str(), s.pos)).collect()
    }
    match &step.kind {
        StepKind::Call(c) => outcome(&c.outcome),
        StepKind::Driver(d) => outcome(&d.outcome),
        StepKind::Receive(r) => outcome(&r.outcome),
        StepKind::Mls(m) => outcome(&m.outcome),
        StepKind::Answer(_) | StepKind::Assert(_) => Vec::new(),
        StepKind::Parallel(steps) => steps.iter().flat_map(saves).collect(),
        StepKind::Use(u) => u.outputs.iter().map(|o| (o.as_str(), step.pos)).collect(),
    }
}

/// Every name the steps save, at any depth of their groups (a fragment's outputs included).
fn internal_saves(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .flat_map(|s| saves(s).into_iter().map(|(n, _)| n.to_string()))
        .collect()
}
