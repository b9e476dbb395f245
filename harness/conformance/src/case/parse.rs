//! Steps as written (YAML with positions) made into the typed plan. One key says what a step
//! is (`call`, `driver`, `receive`, `answer`, `mls`, `parallel`, `assert` or `use`); every
//! other key must belong to that kind, or the error says which kind it belongs to, at its
//! line. Every problem is reported, not only the first, each where it stands: in the case
//! file, or in a fragment file with the line that uses it.

use super::fragment::{Fragment, Library};
use super::model::*;
use super::node::{Node, Pos};
use super::template::{self, Field, Template};
use super::{parse_duration, snippet, LoadError, DEFAULT_STEP_TIMEOUT};
use crate::catalogue::{Catalogue, Requirement};
use crate::expect::path::BodyPath;
use crate::expect::Matchers;
use serde_json::Value;
use serde_saphyr::Spanned;
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
    ("checks", &KINDS),
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
    pub fixed: BTreeSet<String>,
    /// Roles, clients and the built-in names: what a fragment may use besides its inputs.
    pub base: BTreeSet<String>,
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
    pub errors: Vec<LoadError>,
    pub fixed_templates: Vec<FixedTemplate>,
    /// Requirements fragments declare, which the case checks too.
    pub fragment_requirements: Vec<Requirement>,
    /// The fragment files the case uses, for showing their lines.
    pub fragment_origins: Vec<Arc<Origin>>,
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
            known: self.cx.fixed.clone(),
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
            Some(node) => match self.string(frame, node, "client-certificate")?.as_str() {
                "harness" => Some(ClientCertificate::Harness),
                "none" => Some(ClientCertificate::None),
                other => {
                    self.error(
                        frame,
                        Pos::of(node),
                        format!("client-certificate is `harness` or `none`, not {other:?}"),
                    );
                    None
                }
            },
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
                .cloned()
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

    /// A fragment's own `checks`, as requirements the case checks too.
    fn fragment_checks(&mut self, fragment: &Fragment, origin: &Arc<Origin>) -> Arc<[Requirement]> {
        let mut out = Vec::new();
        for id in &fragment.checks {
            match self.cx.catalogue.get(&id.value) {
                Some(r) => {
                    if !self.fragment_requirements.iter().any(|f| f.id == r.id) {
                        self.fragment_requirements.push(r.clone());
                    }
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

    // ---- Parts of steps ----

    /// What a step does with its response: `expect`, `save`, `snapshot` and `redact`.
    fn outcome(
        &mut self,
        frame: &Frame,
        kind: &str,
        keys: Keys<'_>,
        names: &Names,
    ) -> Option<Outcome> {
        let expect = match keys.get("expect") {
            None => Some(None),
            Some(node) => self.expect(frame, node, kind, names, false).map(Some),
        };
        let save = match keys.get("save") {
            None => Some(Vec::new()),
            Some(node) => self.save(frame, node),
        };
        let redact = match keys.get("redact") {
            None => Some(Vec::new()),
            Some(node) => self.paths(frame, node, "redact"),
        };
        let snapshot = match (keys.get("snapshot"), keys.get("redact")) {
            (None, None) => Some(None),
            (None, Some(r)) => {
                self.error(
                    frame,
                    Pos::of(r),
                    "`redact` goes with `snapshot`: it redacts the snapshot",
                );
                None
            }
            (Some(node), _) => self.string(frame, node, "snapshot").and_then(|name| {
                let ok = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if ok {
                    Some(Some(Snapshot {
                        name,
                        pos: Pos::of(node),
                        redact: redact.clone().unwrap_or_default(),
                    }))
                } else {
                    self.error(
                        frame,
                        Pos::of(node),
                        "a snapshot name uses letters, digits, - and _ only",
                    );
                    None
                }
            }),
        };
        redact?;
        Some(Outcome {
            expect: expect?,
            save: save?,
            snapshot: snapshot?,
        })
    }

    fn expect(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        kind: &str,
        names: &Names,
        is_when: bool,
    ) -> Option<Expect> {
        let entries = self.map(frame, node, "expect")?;
        let mut complete = true;
        let mut expect = Expect {
            pos: Pos::of(node),
            status: None,
            refused: None,
            headers: Vec::new(),
            decode_as: None,
            body: None,
            size: None,
            eventually: None,
            client_certificate: None,
            delay: None,
            arrives: None,
            charge: frame.charge.clone(),
            own_checks: false,
            inconclusive: Vec::new(),
        };
        const WHEN_KEYS: &[&str] = &["status", "headers", "body", "decode-as"];
        const REQUEST_ONLY: &[&str] = &["client-certificate", "delay", "arrives"];
        for (key, value) in entries {
            let k = key.value.as_str();
            let pos = Pos::of(value);
            if is_when && !WHEN_KEYS.contains(&k) {
                complete = false;
                self.error(
                    frame,
                    Pos::of(key),
                    format!(
                        "`when` describes an answer by {}; `{k}` has no place here",
                        listed(WHEN_KEYS)
                    ),
                );
                continue;
            }
            if REQUEST_ONLY.contains(&k) && kind != "receive" {
                complete = false;
                self.error(
                    frame,
                    Pos::of(key),
                    format!(
                        "`{k}` checks a request the harness received: it belongs to the expect of a `receive` step, not of {} `{kind}` step",
                        a(kind)
                    ),
                );
                continue;
            }
            let ok = match k {
                "status" if kind == "receive" => {
                    self.error(
                        frame,
                        pos,
                        "a `receive` step checks a request, which has no status",
                    );
                    false
                }
                "status" => self
                    .status(frame, value)
                    .map(|s| expect.status = Some((s, pos)))
                    .is_some(),
                "refused" if kind != "call" => {
                    self.error(
                        frame,
                        Pos::of(key),
                        format!("`refused` is about a request the harness sends: it belongs to the expect of a `call` step, not of {} `{kind}` step", a(kind)),
                    );
                    false
                }
                "refused" => self
                    .boolean(frame, value, "refused")
                    .map(|b| expect.refused = Some((b, pos)))
                    .is_some(),
                "headers" => match self.map(frame, value, "headers") {
                    None => false,
                    Some(headers) => {
                        let mut ok = true;
                        for (name, m) in headers {
                            match self.matchers(frame, m, names) {
                                Some(m) => {
                                    expect.headers.push((name.value.to_ascii_lowercase(), m))
                                }
                                None => ok = false,
                            }
                        }
                        ok
                    }
                },
                "decode-as" => self
                    .decode_as(frame, value)
                    .map(|d| expect.decode_as = Some(d))
                    .is_some(),
                "body" => self
                    .body_checks(frame, value, names)
                    .map(|b| expect.body = Some(b))
                    .is_some(),
                "size" => self
                    .matchers(frame, value, names)
                    .map(|m| expect.size = Some(m))
                    .is_some(),
                "eventually" => self
                    .eventually(frame, value)
                    .map(|e| expect.eventually = Some(e))
                    .is_some(),
                "client-certificate" => self
                    .matchers(frame, value, names)
                    .map(|m| expect.client_certificate = Some(m))
                    .is_some(),
                "delay" => self
                    .matchers(frame, value, names)
                    .map(|m| expect.delay = Some(m))
                    .is_some(),
                "arrives" => self
                    .boolean(frame, value, "arrives")
                    .map(|b| expect.arrives = Some((b, pos)))
                    .is_some(),
                "checks" => self
                    .checks(frame, value)
                    .map(|c| {
                        expect.charge = c;
                        expect.own_checks = true;
                    })
                    .is_some(),
                "inconclusive" if matches!(kind, "call" | "driver") => self
                    .inconclusive(frame, value, kind, names)
                    .map(|i| expect.inconclusive = i)
                    .is_some(),
                "inconclusive" => {
                    self.error(
                        frame,
                        Pos::of(key),
                        format!("`inconclusive` describes a provider's refusal: it belongs to the expect of a `call` or `driver` step, not of {} `{kind}` step", a(kind)),
                    );
                    false
                }
                other => {
                    let keys = match kind {
                        "receive" => "headers, body, decode-as, size, eventually, client-certificate, delay, arrives, checks",
                        "call" => "status, refused, headers, body, decode-as, size, eventually, checks, inconclusive",
                        "driver" => "status, headers, body, decode-as, size, eventually, checks, inconclusive",
                        _ => "status, headers, body, decode-as, size, eventually, checks",
                    };
                    self.error(
                        frame,
                        Pos::of(key),
                        format!("unknown expectation `{other}`; the expect of {} `{kind}` step has {keys}", a(kind)),
                    );
                    false
                }
            };
            complete &= ok;
        }
        if let Some((_, pos)) = expect
            .refused
            .filter(|_| expect.status.is_some() || expect.body.is_some())
        {
            complete = false;
            self.error(
                frame,
                pos,
                "`refused` cannot be combined with status or body expectations",
            );
        }
        if let Some((false, pos)) = expect.arrives {
            if expect.body.is_some()
                || !expect.headers.is_empty()
                || expect.client_certificate.is_some()
                || expect.delay.is_some()
            {
                complete = false;
                self.error(
                    frame,
                    pos,
                    "`arrives: false` cannot be combined with expectations on the request",
                );
            }
        }
        complete.then_some(expect)
    }

    fn inconclusive(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        kind: &str,
        names: &Names,
    ) -> Option<Vec<Inconclusive>> {
        let Node::Seq(items) = &node.value else {
            self.error(
                frame,
                Pos::of(node),
                "`inconclusive` is a list of {when, reason, remedy}",
            );
            return None;
        };
        let mut out = Vec::new();
        let mut complete = true;
        for item in items {
            let Some(entries) = self.map(frame, item, "an inconclusive entry") else {
                complete = false;
                continue;
            };
            let (mut when, mut reason, mut remedy) = (None, None, None);
            for (key, value) in entries {
                match key.value.as_str() {
                    "when" => when = self.expect(frame, value, kind, names, true),
                    "reason" => reason = self.string(frame, value, "reason"),
                    "remedy" => remedy = self.string(frame, value, "remedy"),
                    other => {
                        self.error(
                            frame,
                            Pos::of(key),
                            format!("unknown key `{other}` in an inconclusive entry; its keys are when, reason, remedy"),
                        );
                    }
                }
            }
            for (present, key) in [
                (entries.iter().any(|(k, _)| k.value == "when"), "when"),
                (entries.iter().any(|(k, _)| k.value == "reason"), "reason"),
                (entries.iter().any(|(k, _)| k.value == "remedy"), "remedy"),
            ] {
                if !present {
                    self.error(
                        frame,
                        Pos::of(item),
                        format!("an inconclusive entry needs `{key}`"),
                    );
                }
            }
            match (when, reason, remedy) {
                (Some(when), Some(reason), Some(remedy)) => out.push(Inconclusive {
                    pos: Pos::of(item),
                    when,
                    reason,
                    remedy,
                }),
                _ => complete = false,
            }
        }
        complete.then_some(out)
    }

    fn status(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Vec<u16>> {
        let code = |n: &Node| match n {
            Node::Int(c) if (100..=599).contains(c) => u16::try_from(*c).ok(),
            _ => None,
        };
        let codes = match &node.value {
            Node::Seq(items) if !items.is_empty() => items.iter().map(|i| code(&i.value)).collect(),
            single => code(single).map(|c| vec![c]),
        };
        if codes.is_none() {
            self.error(
                frame,
                Pos::of(node),
                "status is an HTTP status code or a list of them",
            );
        }
        codes
    }

    fn status_code(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<u16> {
        match &node.value {
            Node::Int(c) if (100..=599).contains(c) => u16::try_from(*c).ok(),
            _ => {
                self.error(frame, Pos::of(node), "status is an HTTP status code");
                None
            }
        }
    }

    fn decode_as(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<DecodeAs> {
        let name = self.string(frame, node, "decode-as")?;
        let messages = mimi_wire::registry::message_names();
        if name == JSON {
            return Some(DecodeAs::Json);
        }
        match messages.iter().find(|m| **m == name) {
            Some(m) => Some(DecodeAs::Message(m)),
            None => {
                self.error(
                    frame,
                    Pos::of(node),
                    format!(
                        "unknown message type {name:?}; known: json, {}",
                        messages.join(", ")
                    ),
                );
                None
            }
        }
    }

    fn body_checks(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        names: &Names,
    ) -> Option<BodyChecks> {
        let Node::Map(entries) = &node.value else {
            self.error(
                frame,
                Pos::of(node),
                format!(
                    "body expectations are a mapping of path to matcher, not {}",
                    node.value.kind()
                ),
            );
            return None;
        };
        let mut paths = Vec::new();
        let mut complete = true;
        for (path, m) in entries {
            let parsed =
                BodyPath::parse(&path.value).map_err(|e| self.error(frame, Pos::of(path), e));
            let matchers = self.matchers(frame, m, names);
            match (parsed, matchers) {
                (Ok(p), Some(m)) => paths.push((p, m)),
                _ => complete = false,
            }
        }
        complete.then_some(BodyChecks {
            pos: Pos::of(node),
            paths,
        })
    }

    fn matchers(&mut self, frame: &Frame, node: &Spanned<Node>, names: &Names) -> Option<Matchers> {
        match Matchers::parse(node) {
            Ok(m) => {
                let mut strings = Vec::new();
                m.strings(&mut strings);
                for (s, pos) in strings {
                    self.check_string(frame, s, pos, names);
                }
                Some(m)
            }
            Err(errors) => {
                self.errors_at(frame, errors);
                None
            }
        }
    }

    fn eventually(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Eventually> {
        let entries = self.map(frame, node, "eventually")?;
        let (mut within, mut every) = (None, None);
        for (key, value) in entries {
            match key.value.as_str() {
                "within" => within = self.duration(frame, value),
                "every" => every = self.duration(frame, value),
                other => self.error(
                    frame,
                    Pos::of(key),
                    format!("unknown key `{other}` in `eventually`; its keys are within, every"),
                ),
            }
        }
        let keys = Keys(entries);
        if !keys.has("within") || !keys.has("every") {
            self.error(
                frame,
                Pos::of(node),
                "`eventually` needs `within` and `every`, e.g. {within: 2s, every: 100ms}",
            );
            return None;
        }
        Some(Eventually {
            within: within?,
            every: every?,
        })
    }

    fn save(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Vec<Save>> {
        let entries = self.map(frame, node, "save")?;
        let mut out = Vec::new();
        let mut complete = true;
        for (name, path) in entries {
            let pos = Pos::of(name);
            let identifier = name
                .value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !identifier {
                complete = false;
                self.error(
                    frame,
                    pos,
                    format!(
                        "{:?} cannot be a variable name: use letters, digits and _",
                        name.value
                    ),
                );
                continue;
            }
            if self.cx.base.contains(&name.value) {
                complete = false;
                self.error(
                    frame,
                    pos,
                    format!("`{}` is a role, client or built-in name of this case; save under another name", name.value),
                );
                continue;
            }
            let Some(text) = self.string(frame, path, "a save path") else {
                complete = false;
                continue;
            };
            let from = if text == RAW_BODY {
                SaveFrom::RawBody
            } else {
                match BodyPath::parse(&text) {
                    Ok(p) => SaveFrom::Path(p),
                    Err(e) => {
                        complete = false;
                        self.error(frame, Pos::of(path), format!("save {}: {e}", name.value));
                        continue;
                    }
                }
            };
            out.push(Save {
                name: name.value.clone(),
                pos,
                from,
            });
        }
        complete.then_some(out)
    }

    fn paths(&mut self, frame: &Frame, node: &Spanned<Node>, what: &str) -> Option<Vec<BodyPath>> {
        let Node::Seq(items) = &node.value else {
            self.error(frame, Pos::of(node), format!("`{what}` is a list of paths"));
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            let text = self.string(frame, item, what)?;
            match BodyPath::parse(&text) {
                Ok(p) => out.push(p),
                Err(e) => {
                    self.error(frame, Pos::of(item), e);
                    return None;
                }
            }
        }
        Some(out)
    }

    fn damage(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Vec<Damage>> {
        let Node::Seq(items) = &node.value else {
            self.error(
                frame,
                Pos::of(node),
                "`damage` is a list: [{truncate: N}, {append: hex}, {flip-byte: N}]",
            );
            return None;
        };
        let mut out = Vec::new();
        let mut complete = true;
        for item in items {
            let Node::Map(entries) = &item.value else {
                complete = false;
                self.error(
                    frame,
                    Pos::of(item),
                    "each damage is one of {truncate: N}, {append: hex}, {flip-byte: N}",
                );
                continue;
            };
            let [(key, value)] = entries.as_slice() else {
                complete = false;
                self.error(
                    frame,
                    Pos::of(item),
                    "each damage is one of {truncate: N}, {append: hex}, {flip-byte: N}",
                );
                continue;
            };
            let damage = match key.value.as_str() {
                "truncate" => self
                    .unsigned(frame, value, "truncate")
                    .map(|n| Damage::Truncate(n as usize)),
                "flip-byte" => self
                    .unsigned(frame, value, "flip-byte")
                    .map(|n| Damage::FlipByte(n as usize)),
                "append" => self
                    .string(frame, value, "append")
                    .and_then(|text| match hex::decode(&text) {
                        Ok(bytes) => Some(Damage::Append(bytes)),
                        Err(_) => {
                            self.error(
                                frame,
                                Pos::of(value),
                                format!("append: {text:?} is not hex"),
                            );
                            None
                        }
                    }),
                other => {
                    self.error(
                        frame,
                        Pos::of(key),
                        format!("unknown damage `{other}`; known: truncate, append, flip-byte"),
                    );
                    None
                }
            };
            match damage {
                Some(d) => out.push(d),
                None => complete = false,
            }
        }
        complete.then_some(out)
    }

    // ---- Bodies ----

    fn body(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        names: &Names,
        path: &[(String, Template)],
    ) -> Option<Body> {
        let Node::Map(entries) = &node.value else {
            self.error(
                frame,
                Pos::of(node),
                "a body is {<MessageType>: {fields}}, {hex: ...} or {base64: ...}",
            );
            return None;
        };
        let [(kind, content)] = entries.as_slice() else {
            self.error(
                frame,
                Pos::of(node),
                "a body has exactly one key: a message type, hex or base64",
            );
            return None;
        };
        match kind.value.as_str() {
            "hex" | "base64" => {
                let encoding = if kind.value == "hex" {
                    RawEncoding::Hex
                } else {
                    RawEncoding::Base64
                };
                if !matches!(content.value, Node::Str(_)) {
                    self.error(
                        frame,
                        Pos::of(content),
                        format!(
                            "{} needs a string, not {}",
                            kind.value,
                            content.value.kind()
                        ),
                    );
                    return None;
                }
                self.check_template(frame, &Template::of(content), names);
                let convert = match encoding {
                    RawEncoding::Hex => raw_hex,
                    RawEncoding::Base64 => raw_base64,
                };
                self.field(frame, content, convert)
                    .map(|f| Body::Raw(encoding, f))
            }
            name => {
                let Some((message, fields)) = TYPED_BODIES.iter().find(|(m, _)| *m == name) else {
                    self.error(
                        frame,
                        Pos::of(kind),
                        format!(
                            "no typed body {name:?}; known: {} (or hex, base64)",
                            TYPED_BODIES
                                .iter()
                                .map(|(m, _)| *m)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    return None;
                };
                let Node::Map(given) = &content.value else {
                    self.error(
                        frame,
                        Pos::of(content),
                        format!("{name} needs a mapping of its fields"),
                    );
                    return None;
                };
                let mut complete = true;
                for (field, value) in given {
                    if !fields.contains(&field.value.as_str()) {
                        complete = false;
                        self.error(
                            frame,
                            Pos::of(field),
                            format!(
                                "{name} has no field {:?}; known: {}",
                                field.value,
                                fields.join(", ")
                            ),
                        );
                    } else {
                        self.check_template(frame, &Template::of(value), names);
                    }
                }
                if !complete {
                    return None;
                }
                let at = Pos::of(kind);
                let keys = Keys(given);
                match *message {
                    "KeyMaterialRequest" => self
                        .key_material_request(frame, at, keys, path)
                        .map(Body::KeyMaterialRequest),
                    "ConsentEntry" => self.consent_entry(frame, at, keys).map(Body::ConsentEntry),
                    _ => self
                        .identifier_request(frame, at, keys)
                        .map(Body::IdentifierRequest),
                }
            }
        }
    }

    fn client_name(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<String> {
        let name = self.string(frame, node, "a client name")?;
        if self.cx.actors.clients.contains_key(&name) {
            Some(name)
        } else {
            self.error(
                frame,
                Pos::of(node),
                format!("{name:?} is not a client of this case"),
            );
            None
        }
    }

    fn key_material_request(
        &mut self,
        frame: &Frame,
        at: Pos,
        keys: Keys<'_>,
        path: &[(String, Template)],
    ) -> Option<KeyMaterialRequestBody> {
        let requester = match keys.get("requester") {
            Some(node) => Some(self.client_name(frame, node)?),
            None if self.cx.actors.clients.len() == 1 => None,
            None => {
                self.error(
                    frame,
                    at,
                    "name the signing client with `requester:` (the case has several or none)",
                );
                return None;
            }
        };
        if keys.get("targetUser").is_none() && !path.iter().any(|(k, _)| k == "targetUser") {
            self.error(frame, at, "targetUser is needed (in the body or the path)");
            return None;
        }
        let strings =
            |p: &mut Self, f: &str| keys.get(f).map(|n| p.field(frame, n, template::to_string));
        let requesting_user = strings(self, "requestingUser");
        let target_user = strings(self, "targetUser");
        let room_id = strings(self, "roomId");
        let acceptable_ciphersuites = keys
            .get("acceptableCiphersuites")
            .map(|n| self.field(frame, n, suites));
        let required_capabilities = keys
            .get("requiredCapabilities")
            .map(|n| self.field(frame, n, capabilities));
        let protocol = keys.get("protocol").map(|n| self.field(frame, n, protocol));
        let signature = keys
            .get("signature")
            .map(|n| self.field(frame, n, signature));
        Some(KeyMaterialRequestBody {
            pos: at,
            requester,
            requesting_user: requesting_user.map(|f| f.ok_or(())).transpose().ok()?,
            target_user: target_user.map(|f| f.ok_or(())).transpose().ok()?,
            room_id: room_id.map(|f| f.ok_or(())).transpose().ok()?,
            acceptable_ciphersuites: acceptable_ciphersuites
                .map(|f| f.ok_or(()))
                .transpose()
                .ok()?,
            required_capabilities: required_capabilities
                .map(|f| f.ok_or(()))
                .transpose()
                .ok()?,
            protocol: protocol.map(|f| f.ok_or(())).transpose().ok()?,
            signature: signature.map(|f| f.ok_or(())).transpose().ok()?,
        })
    }

    fn consent_entry(
        &mut self,
        frame: &Frame,
        at: Pos,
        keys: Keys<'_>,
    ) -> Option<ConsentEntryBody> {
        let required = |p: &mut Self, f: &str| match keys.get(f) {
            Some(n) => p.field(frame, n, template::to_string),
            None => {
                p.error(frame, at, format!("{f} is needed"));
                None
            }
        };
        let requester_uri = required(self, "requesterUri");
        let target_uri = required(self, "targetUri");
        let operation = match keys.get("consentOperation") {
            Some(n) => self.field(frame, n, consent_operation),
            None => {
                self.error(frame, at, "consentOperation is needed");
                None
            }
        };
        let room_id = match keys.get("roomId") {
            Some(n) => Some(self.field(frame, n, template::to_string)?),
            None => None,
        };
        let mut key_packages_of = Vec::new();
        if let Some(node) = keys.get("keyPackagesOf") {
            let Node::Seq(items) = &node.value else {
                self.error(
                    frame,
                    Pos::of(node),
                    "keyPackagesOf is a list of client names",
                );
                return None;
            };
            for item in items {
                key_packages_of.push(self.client_name(frame, item)?);
            }
        }
        Some(ConsentEntryBody {
            pos: at,
            operation: operation?,
            requester_uri: requester_uri?,
            target_uri: target_uri?,
            room_id,
            key_packages_of,
        })
    }

    fn identifier_request(
        &mut self,
        frame: &Frame,
        at: Pos,
        keys: Keys<'_>,
    ) -> Option<IdentifierRequestBody> {
        match keys.get("query") {
            Some(node) => Some(IdentifierRequestBody {
                pos: at,
                query: self.field(frame, node, query)?,
            }),
            None => {
                self.error(frame, at, "query is needed");
                None
            }
        }
    }

    // ---- mls operations ----

    fn mls_operation(
        &mut self,
        frame: &Frame,
        operation: &Spanned<Node>,
        args: Option<&Spanned<Node>>,
        names: &Names,
    ) -> Option<MlsOperation> {
        let pos = Pos::of(operation);
        let op = self.string(frame, operation, "mls")?;
        let Some((op, allowed)) = MLS_OPERATIONS.iter().find(|(o, _)| *o == op) else {
            let known: Vec<&str> = MLS_OPERATIONS.iter().map(|(o, _)| *o).collect();
            self.error(
                frame,
                pos,
                format!("unknown mls operation {op:?}; known: {}", known.join(", ")),
            );
            return None;
        };
        let entries: &Entries = match args {
            None => &[],
            Some(node) => self.map(frame, node, "args")?,
        };
        let mut complete = true;
        for (key, value) in entries {
            if allowed.contains(&key.value.as_str()) {
                self.check_template(frame, &Template::of(value), names);
                continue;
            }
            complete = false;
            let theirs = match allowed {
                [] => format!("`mls: {op}` takes no arguments"),
                some => format!("its arguments: {}", some.join(", ")),
            };
            let elsewhere: Vec<String> = MLS_OPERATIONS
                .iter()
                .filter(|(_, args)| args.contains(&key.value.as_str()))
                .map(|(o, _)| format!("mls: {o}"))
                .collect();
            let message = match elsewhere.len() {
                0 => format!("unknown argument `{}` of `mls: {op}`; {theirs}", key.value),
                1 | 2 => format!(
                    "`{}` is an argument of {}, not of `mls: {op}`; {theirs}",
                    key.value,
                    either(&elsewhere)
                ),
                _ => format!(
                    "`{}` is not an argument of `mls: {op}`; {theirs}",
                    key.value
                ),
            };
            self.error(frame, Pos::of(key), message);
        }
        if !complete {
            return None;
        }
        let keys = Keys(entries);
        let room = |p: &mut Self| match keys.get("room") {
            Some(node) => p.field(frame, node, template::to_string),
            None => {
                p.error(frame, pos, format!("`mls: {op}` needs `room` in `args`"));
                None
            }
        };
        let flag = |p: &mut Self, k: &str, default: bool| match keys.get(k) {
            Some(node) => p.boolean(frame, node, k),
            None => Some(default),
        };
        Some(match *op {
            "state" => MlsOperation::State { room: room(self)? },
            "inbox" => MlsOperation::Inbox,
            "confirm" => MlsOperation::Confirm { room: room(self)? },
            "discard" => MlsOperation::Discard { room: room(self)? },
            "create-room" => MlsOperation::CreateRoom { room: room(self)? },
            "commit" => {
                let room = room(self);
                let mut add = Vec::new();
                if let Some(node) = keys.get("add") {
                    let Node::Seq(items) = &node.value else {
                        self.error(
                            frame,
                            Pos::of(node),
                            "add is a list of clients of this case",
                        );
                        return None;
                    };
                    for item in items {
                        add.push(self.client_name(frame, item)?);
                    }
                }
                let remove = match keys.get("remove") {
                    Some(n) => Some(self.field(frame, n, template::to_strings)?),
                    None => None,
                };
                let participants = match keys.get("participants") {
                    Some(n) => Some(self.field(frame, n, template::to_strings)?),
                    None => None,
                };
                let roles = match keys.get("roles") {
                    Some(n) => match serde_json::from_value::<Vec<RoleArg>>(n.value.to_json()) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            self.error(
                                frame,
                                Pos::of(n),
                                format!("roles is a list of {{index, name, capabilities}}: {e}"),
                            );
                            return None;
                        }
                    },
                    None => None,
                };
                let private = flag(self, "private", false);
                let omit_pending = flag(self, "omitPending", false);
                MlsOperation::Commit(Box::new(CommitArgs {
                    room: room?,
                    add,
                    remove,
                    participants,
                    private: private?,
                    omit_pending: omit_pending?,
                    roles,
                }))
            }
            "propose" => {
                let room = room(self);
                let proposals = match keys.get("proposals") {
                    Some(node) => match &node.value {
                        Node::Seq(items) if !items.is_empty() => {
                            let mut out = Vec::new();
                            for item in items {
                                match self.string(frame, item, "a proposal")?.as_str() {
                                    "update" => out.push(ProposalKind::Update),
                                    "leave" => out.push(ProposalKind::Leave),
                                    other => {
                                        self.error(
                                            frame,
                                            Pos::of(item),
                                            format!("unknown proposal {other:?}: update or leave"),
                                        );
                                        return None;
                                    }
                                }
                            }
                            out
                        }
                        _ => {
                            self.error(
                                frame,
                                Pos::of(node),
                                "proposals is a list of update and leave",
                            );
                            return None;
                        }
                    },
                    None => {
                        self.error(
                            frame,
                            pos,
                            "`mls: propose` needs `proposals`: update or leave",
                        );
                        return None;
                    }
                };
                let corrupt = flag(self, "corrupt", false);
                MlsOperation::Propose {
                    room: room?,
                    proposals,
                    corrupt: corrupt?,
                }
            }
            "message" => {
                let room = room(self);
                let content = match keys.get("content") {
                    Some(n) => self.field(frame, n, template::to_string),
                    None => {
                        self.error(
                            frame,
                            pos,
                            "`mls: message` needs `content` (MIMI content, base64)",
                        );
                        None
                    }
                };
                let kind = match keys.get("kind") {
                    None => Some(MessageKind::Application),
                    Some(n) => match self.string(frame, n, "kind")?.as_str() {
                        "application" => Some(MessageKind::Application),
                        "proposal" => Some(MessageKind::Proposal),
                        other => {
                            self.error(
                                frame,
                                Pos::of(n),
                                format!("unknown message kind {other:?}: application or proposal"),
                            );
                            None
                        }
                    },
                };
                let sending_uri = match keys.get("sendingUri") {
                    Some(n) => self.field(frame, n, template::to_string).map(Some),
                    None => Some(None),
                };
                let frank = flag(self, "frank", true);
                let notify = match keys.get("notify") {
                    None => Some(None),
                    Some(n) => self.unsigned(frame, n, "notify").and_then(|c| {
                        if (1..=64).contains(&c) {
                            Some(Some(c as usize))
                        } else {
                            self.error(
                                frame,
                                Pos::of(n),
                                "notify is a number of messages from 1 to 64",
                            );
                            None
                        }
                    }),
                };
                MlsOperation::Message(Box::new(MessageArgs {
                    room: room?,
                    content: content?,
                    frank: frank?,
                    kind: kind?,
                    sending_uri: sending_uri?,
                    notify: notify?,
                }))
            }
            "group-info-request" => MlsOperation::GroupInfoRequest {
                corrupt: match keys.get("signature") {
                    None => false,
                    Some(n) => match self.string(frame, n, "signature")?.as_str() {
                        "valid" => false,
                        "corrupt" => true,
                        other => {
                            self.error(
                                frame,
                                Pos::of(n),
                                format!("signature is valid or corrupt, not {other:?}"),
                            );
                            return None;
                        }
                    },
                },
            },
            _ => {
                let room = room(self);
                let key_material = match keys.get("keyMaterial") {
                    Some(n) => self.field(frame, n, template::to_string),
                    None => {
                        self.error(frame, pos, "`mls: add` needs `keyMaterial`: a KeyMaterialResponse, hex (`save: {claim: \"@body\"}`)");
                        None
                    }
                };
                MlsOperation::Add {
                    room: room?,
                    key_material: key_material?,
                }
            }
        })
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
                Some(r) => out.push(r.clone()),
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
            if !self.cx.needs.contains(format!("users.{user}").as_str()) {
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
        if used.iter().all(|n| self.cx.fixed.contains(n)) {
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

fn compact(text: &str) -> String {
    text.split_whitespace().collect()
}

fn raw_hex(v: &Value) -> Result<Vec<u8>, String> {
    let text = template::to_string(v)?;
    hex::decode(compact(&text)).map_err(|e| format!("not hex: {e}"))
}

fn raw_base64(v: &Value) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let text = template::to_string(v)?;
    base64::engine::general_purpose::STANDARD
        .decode(compact(&text))
        .map_err(|e| format!("not base64: {e}"))
}

fn u16_list(v: &Value) -> Option<Vec<u16>> {
    v.as_array()?
        .iter()
        .map(|n| n.as_u64().and_then(|n| u16::try_from(n).ok()))
        .collect()
}

fn suites(v: &Value) -> Result<Vec<u16>, String> {
    u16_list(v).ok_or_else(|| "acceptableCiphersuites is a list of suite numbers".into())
}

fn capabilities(v: &Value) -> Result<Capabilities, String> {
    let Value::Object(map) = v else {
        return Err(
            "requiredCapabilities is {extension_types, proposal_types, credential_types}".into(),
        );
    };
    const KEYS: [&str; 3] = ["extension_types", "proposal_types", "credential_types"];
    if let Some(other) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "requiredCapabilities has no {other:?}; its keys: {}",
            KEYS.join(", ")
        ));
    }
    let list = |k: &str| match map.get(k) {
        None => Ok(Vec::new()),
        Some(l) => u16_list(l).ok_or(format!("requiredCapabilities.{k} is a list of numbers")),
    };
    Ok(Capabilities {
        extension_types: list("extension_types")?,
        proposal_types: list("proposal_types")?,
        credential_types: list("credential_types")?,
    })
}

fn protocol(v: &Value) -> Result<u8, String> {
    v.as_u64()
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(|| "protocol is a number from 0 to 255".into())
}

fn signature(v: &Value) -> Result<SignatureChoice, String> {
    match v.as_str() {
        Some("valid") => Ok(SignatureChoice::Valid),
        Some("corrupt") => Ok(SignatureChoice::Corrupt),
        Some(text) => hex::decode(text)
            .map(SignatureChoice::Bytes)
            .map_err(|_| "signature is valid, corrupt or hex".into()),
        None => Err("signature is valid, corrupt or hex".into()),
    }
}

fn consent_operation(v: &Value) -> Result<ConsentOperationName, String> {
    match v.as_str() {
        Some("cancel") => Ok(ConsentOperationName::Cancel),
        Some("request") => Ok(ConsentOperationName::Request),
        Some("grant") => Ok(ConsentOperationName::Grant),
        Some("revoke") => Ok(ConsentOperationName::Revoke),
        _ => Err(format!(
            "consentOperation {v} is not cancel, request, grant or revoke"
        )),
    }
}

fn query(v: &Value) -> Result<Vec<QueryElement>, String> {
    let Value::Array(items) = v else {
        return Err("query is a list of {type, value}".into());
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(map) = item else {
                return Err("each query element is {type, value} (and name)".to_string());
            };
            if let Some(other) = map
                .keys()
                .find(|k| !["type", "value", "name"].contains(&k.as_str()))
            {
                return Err(format!(
                    "a query element has no {other:?}; its keys: type, value, name"
                ));
            }
            let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
            let kind = text("type").ok_or("each query element has a type")?;
            if mimi_wire::messages::identifier::SearchIdentifierType::from_name(&kind).is_none() {
                return Err(format!("{kind:?} is not a SearchIdentifierType"));
            }
            Ok(QueryElement {
                kind,
                value: text("value").unwrap_or_default(),
                name: text("name"),
            })
        })
        .collect()
}
