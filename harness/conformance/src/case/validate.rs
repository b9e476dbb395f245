//! What a case must satisfy beyond its YAML shape, checked before any traffic.

use super::model::{Player, Step};
use super::node::{Node, Pos};
use super::{parse_duration, template, Case, LoadError};
use crate::catalogue::Catalogue;
use crate::expect::path::BodyPath;
use crate::expect::Matcher;
use crate::runner::body;
use std::collections::BTreeSet;

pub fn validate(case: &mut Case, catalogue: &Catalogue) -> Vec<LoadError> {
    let mut v = Validator {
        case,
        errors: Vec::new(),
    };
    v.header(catalogue);
    v.steps();
    let Validator { case, errors } = v;
    if let Some(t) = &case.spec.timeout {
        if let Ok(d) = parse_duration(&t.value) {
            case.timeout = d;
        }
    }
    errors
}

struct Validator<'c> {
    case: &'c mut Case,
    errors: Vec<LoadError>,
}

impl Validator<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        let e = self.case.error_at(pos, message);
        self.errors.push(e);
    }

    fn header(&mut self, catalogue: &Catalogue) {
        let spec = &self.case.spec;
        let mut errors = Vec::new();
        if spec.checks.is_empty() {
            errors.push((
                Pos { line: 1, column: 1 },
                "`checks` must cite at least one requirement id".to_string(),
            ));
        }
        let mut requirements = Vec::new();
        for id in &spec.checks {
            match catalogue.get(&id.value) {
                Some(r) => requirements.push(r.clone()),
                None => errors.push((
                    Pos::of(id),
                    format!(
                        "{:?} is not a requirement id in cases/requirements.yaml",
                        id.value
                    ),
                )),
            }
        }
        match spec.links.first() {
            None => errors.push((
                Pos { line: 1, column: 1 },
                "`links` must name at least one link (A, B, C or D)".into(),
            )),
            Some(first) => {
                let folder = self.case.id.split("::").next().unwrap_or_default();
                if ["A", "B", "C", "D"].contains(&folder) && folder != first.value.name() {
                    errors.push((
                        Pos::of(first),
                        format!(
                            "the case lives under {folder}/ but its first link is {}; cases are laid out by the link they are reported under",
                            first.value.name()
                        ),
                    ));
                }
            }
        }
        if spec.actors.providers.is_empty() {
            errors.push((
                Pos { line: 1, column: 1 },
                "`actors.providers` must name at least one role".into(),
            ));
        }
        for (name, client) in &spec.actors.clients {
            if !spec.actors.providers.contains_key(&client.value.on.value) {
                errors.push((
                    Pos::of(&client.value.on),
                    format!(
                        "client {name:?} is on {:?}, which is not a provider role of this case",
                        client.value.on.value
                    ),
                ));
            }
        }
        if let Some(t) = &spec.timeout {
            if let Err(e) = parse_duration(&t.value) {
                errors.push((Pos::of(t), e));
            }
        }
        if spec.steps.is_empty() {
            errors.push((
                Pos { line: 1, column: 1 },
                "`steps` must have at least one step".into(),
            ));
        }
        for (pos, message) in errors {
            self.error(pos, message);
        }
        self.case.requirements = requirements;
    }

    /// Names a template may use before step `index`: roles, clients, case variables, and what
    /// earlier steps saved.
    fn known_names(&self, index: usize) -> BTreeSet<String> {
        let spec = &self.case.spec;
        spec.actors
            .providers
            .keys()
            .chain(spec.actors.clients.keys())
            .chain(spec.vars.keys())
            .cloned()
            .chain(template::BUILT_IN.iter().map(|s| s.to_string()))
            .chain(
                spec.steps[..index]
                    .iter()
                    .flat_map(|s| s.value.save.keys().cloned()),
            )
            .collect()
    }

    /// A case that uses a provider's test user (`{{ target.users.bob }}`) declares it in
    /// `needs` (`users.bob`), so that a profile without it makes the case unsupported.
    fn test_users_declared(&mut self) {
        static USED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"\b\w+\.users\.(\w+)").expect("a valid regex")
        });
        let used = &*USED;
        let declared: BTreeSet<&str> = self
            .case
            .spec
            .needs
            .iter()
            .map(|n| n.value.as_str())
            .collect();
        let mut errors = Vec::new();
        for step in &self.case.spec.steps {
            let mut strings = Vec::new();
            collect_strings(&step.value, &mut strings);
            for (text, pos) in strings {
                for user in used.captures_iter(text).map(|c| c[1].to_string()) {
                    let prefix = format!("users.{user}.");
                    let said = declared.contains(format!("users.{user}").as_str())
                        || declared.iter().any(|d| d.starts_with(&prefix));
                    if !said {
                        errors.push((pos, format!("the case uses the test user {user:?}: add `users.{user}` to `needs`")));
                    }
                }
            }
        }
        for (pos, message) in errors {
            self.error(pos, message);
        }
    }

    /// `needs` names only what a profile can declare, and every endpoint, driver API or harness
    /// server the steps use on the provider under test: a profile without one makes the case
    /// unsupported rather than failed.
    fn needs_cover_steps(&mut self) {
        let spec = &self.case.spec;
        let declared: BTreeSet<&str> = spec.needs.iter().map(|n| n.value.as_str()).collect();
        let mut errors = Vec::new();
        for need in &spec.needs {
            if !known_need(&need.value) {
                errors.push((
                    Pos::of(need),
                    format!(
                        "{:?} is not something a profile declares: an endpoint ({}), a role (hub, follower, target), driver, {}, or users.<name> with an optional meaning (claimable, needs-consent, key-packages.<n>, found-by.<type>)",
                        need.value,
                        mimi_wire::messages::directory::ENDPOINTS.join(", "),
                        crate::profile::HARNESS_SERVER
                    ),
                ));
            }
        }
        for step in &spec.steps {
            let step = &step.value;
            let under_test = spec
                .actors
                .providers
                .get(&step.on.value)
                .is_some_and(|p| p.value == Player::UnderTest);
            let need = if let (Some(call), true) = (&step.call, under_test) {
                // An unknown endpoint is an error of its own.
                mimi_wire::messages::directory::ENDPOINTS
                    .contains(&call.value.as_str())
                    .then(|| call.value.clone())
            } else if step.driver.is_some() && under_test {
                Some("driver".to_string())
            } else if step.receive.is_some() || step.answer.is_some() {
                Some(crate::profile::HARNESS_SERVER.to_string())
            } else {
                None
            };
            if let Some(need) = need.filter(|n| !declared.contains(n.as_str())) {
                errors.push((
                    step.target_pos(),
                    format!(
                        "the step uses {need} of the provider under test: add `{need}` to `needs`"
                    ),
                ));
            }
        }
        for (pos, message) in errors {
            self.error(pos, message);
        }
    }

    fn steps(&mut self) {
        self.needs_cover_steps();
        self.test_users_declared();
        for index in 0..self.case.spec.steps.len() {
            let known = self.known_names(index);
            let mut errors = Vec::new();
            let step = &self.case.spec.steps[index].value;
            check_step(step, &self.case.spec.actors, &mut errors);
            let mut strings = Vec::new();
            collect_strings(step, &mut strings);
            let hint = format!(
                "known here: {}",
                known.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            check_templates(&strings, &known, &hint, &mut errors);
            for (pos, message) in errors {
                self.error(pos, message);
            }
        }
        let vars: Vec<(&str, Pos)> = {
            let mut out = Vec::new();
            for v in self.case.spec.vars.values() {
                v.value.strings(Pos::of(v), &mut out);
            }
            out
        };
        let roles: BTreeSet<String> = self
            .case
            .spec
            .actors
            .providers
            .keys()
            .chain(self.case.spec.actors.clients.keys())
            .cloned()
            .chain(template::BUILT_IN.iter().map(|s| s.to_string()))
            .collect();
        let mut errors = Vec::new();
        check_templates(
            &vars,
            &roles,
            "case variables may use roles and clients only",
            &mut errors,
        );
        for (pos, message) in errors {
            self.error(pos, message);
        }
    }
}

/// Every template among `strings` uses only `known` names.
fn check_templates(
    strings: &[(&str, Pos)],
    known: &BTreeSet<String>,
    hint: &str,
    errors: &mut Vec<(Pos, String)>,
) {
    for (s, pos) in strings {
        match template::unknown_names(s, known) {
            Ok(unknown) if unknown.is_empty() => {}
            Ok(unknown) => errors.push((
                *pos,
                format!("undefined variable {}; {hint}", unknown.join(", ")),
            )),
            Err(e) => errors.push((*pos, format!("invalid template: {e}"))),
        }
    }
}

/// Every string of a step that may hold a template, with its position.
pub fn collect_strings<'a>(step: &'a Step, out: &mut Vec<(&'a str, Pos)>) {
    for v in step.path.values().chain(step.headers.values()) {
        v.value.strings(Pos::of(v), out);
    }
    for node in [&step.body, &step.json, &step.args].into_iter().flatten() {
        node.value.strings(Pos::of(node), out);
    }
    if let Some(reply) = &step.reply {
        for v in reply.value.headers.values() {
            v.value.strings(Pos::of(v), out);
        }
    }
    if let Some(expect) = &step.expect {
        let e = &expect.value;
        for v in e
            .headers
            .values()
            .chain(e.body.iter())
            .chain(e.size.iter())
            .chain(e.status.iter())
            .chain(e.client_certificate.iter())
            .chain(e.delay.iter())
        {
            v.value.strings(Pos::of(v), out);
        }
    }
}

fn check_step(step: &Step, actors: &super::model::Actors, errors: &mut Vec<(Pos, String)>) {
    use super::model::Action;
    let providers = &actors.providers;
    let played_by_harness =
        |role: &str| providers.get(role).map(|p| p.value) == Some(Player::Harness);
    let actions = step.actions();
    if actions.len() != 1 {
        errors.push((
            step.target_pos(),
            "a step has exactly one of `call` (link B), `driver` (links A and C), `receive`, \
             `answer` (what the provider sends the harness) and `mls` (the harness's client)"
                .into(),
        ));
        return;
    }
    let mut only_with = |present: bool, pos: Option<Pos>, key: &str, action: &str| {
        if let (true, Some(pos)) = (!present, pos) {
            errors.push((pos, format!("`{key}` belongs to a `{action}` step")));
        }
    };
    let action = actions[0];
    only_with(
        matches!(action, Action::Driver(_)),
        step.json.as_ref().map(Pos::of),
        "json",
        "driver",
    );
    only_with(
        matches!(action, Action::Answer(_)),
        step.reply.as_ref().map(Pos::of),
        "reply",
        "answer",
    );
    for (key, pos) in [
        ("client", step.client.as_ref().map(Pos::of)),
        ("args", step.args.as_ref().map(Pos::of)),
    ] {
        only_with(matches!(action, Action::Mls(_)), pos, key, "mls");
    }
    let sends = matches!(action, Action::Call(_));
    for (key, pos) in [
        ("body", step.body.as_ref().map(Pos::of)),
        ("damage", step.damage.first().map(Pos::of)),
        (
            "client-certificate",
            step.client_certificate.as_ref().map(Pos::of),
        ),
    ] {
        only_with(sends, pos, key, "call");
    }
    match action {
        Action::Call(_) => match &step.by {
            Some(by) => match providers.get(&by.value) {
                Some(p) if p.value == Player::Harness => {}
                Some(_) => errors.push((
                    Pos::of(by),
                    format!(
                        "`by: {}` must be a role the harness plays (`harness`)",
                        by.value
                    ),
                )),
                None => errors.push((
                    Pos::of(by),
                    format!("{:?} is not a provider role of this case", by.value),
                )),
            },
            None => errors.push((
                step.target_pos(),
                "a `call` step needs `by`: the role the harness plays when it sends".into(),
            )),
        },
        Action::Driver(driver) => {
            if let Some(by) = &step.by {
                errors.push((
                    Pos::of(by),
                    "a `driver` step acts as the provider's own user; it has no `by`".into(),
                ));
            }
            if crate::drivers::link_a::operation(&driver.value).is_none() {
                let known: Vec<_> = crate::drivers::openapi::spec()
                    .operations
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect();
                errors.push((
                    Pos::of(driver),
                    format!(
                        "unknown driver operation {:?}; known: {}",
                        driver.value,
                        known.join(", ")
                    ),
                ));
            }
        }
        Action::Receive(endpoint) | Action::Answer(endpoint) => {
            let served = crate::drivers::peer::SERVED;
            if !served.contains(&endpoint.value.as_str()) {
                errors.push((
                    Pos::of(endpoint),
                    format!(
                        "the harness serves {}, not {:?}",
                        served.join(", "),
                        endpoint.value
                    ),
                ));
            }
            if !played_by_harness(&step.on.value) {
                errors.push((
                    Pos::of(&step.on),
                    format!(
                        "`on: {}` must be a role the harness plays: it receives",
                        step.on.value
                    ),
                ));
            }
            if let Action::Receive(_) = action {
                match &step.by {
                    Some(by)
                        if providers.contains_key(&by.value) && !played_by_harness(&by.value) => {}
                    Some(by) => errors.push((
                        Pos::of(by),
                        format!(
                            "`by: {}` must be a provider role the harness does not play",
                            by.value
                        ),
                    )),
                    None => errors.push((
                        step.target_pos(),
                        "a `receive` step names the sender with `by`".into(),
                    )),
                }
            } else if step.reply.is_none() {
                errors.push((step.target_pos(), "an `answer` step needs `reply`".into()));
            }
        }
        Action::Mls(op) => {
            if !crate::runner::mls_step::OPERATIONS.contains(&op.value.as_str()) {
                errors.push((
                    Pos::of(op),
                    format!(
                        "unknown mls operation {:?}; known: {}",
                        op.value,
                        crate::runner::mls_step::OPERATIONS.join(", ")
                    ),
                ));
            }
            match &step.client {
                Some(c) => match actors.clients.get(&c.value) {
                    Some(client) if client.value.on.value == step.on.value => {}
                    Some(client) => errors.push((
                        Pos::of(&step.on),
                        format!(
                            "{} is a client on {}, not on {}",
                            c.value, client.value.on.value, step.on.value
                        ),
                    )),
                    None => errors.push((
                        Pos::of(c),
                        format!("{:?} is not a client of this case", c.value),
                    )),
                },
                None => errors.push((step.target_pos(), "an `mls` step names its `client`".into())),
            }
        }
    }
    if !providers.contains_key(&step.on.value) {
        errors.push((
            Pos::of(&step.on),
            format!("{:?} is not a provider role of this case", step.on.value),
        ));
    }
    let endpoints = mimi_wire::messages::directory::ENDPOINTS;
    if let Some(call) = &step.call {
        if call.value != "directory" && !endpoints.contains(&call.value.as_str()) {
            errors.push((
                Pos::of(call),
                format!(
                    "unknown endpoint {:?}; known: directory, {}",
                    call.value,
                    endpoints.join(", ")
                ),
            ));
        }
    }
    if let Some(body) = &step.body {
        if let Err((pos, e)) = body::check(body) {
            errors.push((pos, e));
        }
    }
    for d in &step.damage {
        if let super::model::Damage::Append(hex_text) = &d.value {
            if hex::decode(hex_text).is_err() {
                errors.push((Pos::of(d), format!("append: {hex_text:?} is not hex")));
            }
        }
    }
    for (pos, s) in step.timeout.iter().map(|t| (Pos::of(t), &t.value)) {
        if let Err(e) = parse_duration(s) {
            errors.push((pos, e));
        }
    }
    for (name, path) in &step.save {
        if path.value == crate::runner::RAW_BODY {
            continue;
        }
        if let Err(e) = BodyPath::parse(&path.value) {
            errors.push((Pos::of(path), format!("save {name}: {e}")));
        }
    }
    for path in &step.redact {
        if let Err(e) = BodyPath::parse(&path.value) {
            errors.push((Pos::of(path), e));
        }
    }
    if let Some(name) = &step.snapshot {
        if name.value.is_empty()
            || !name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.push((
                Pos::of(name),
                "a snapshot name uses letters, digits, - and _ only".into(),
            ));
        }
    }
    if let Some(expect) = &step.expect {
        check_expect(&expect.value, errors);
        let e = &expect.value;
        let request_only = [
            e.client_certificate.as_ref().map(Pos::of),
            e.delay.as_ref().map(Pos::of),
            e.arrives.as_ref().map(Pos::of),
        ];
        let receives = matches!(step.action(), super::model::Action::Receive(_));
        for pos in request_only.into_iter().flatten() {
            if !receives {
                errors.push((pos, "this expectation is about a request the harness received: it belongs to a `receive` step".into()));
            }
        }
        if receives {
            if let Some(status) = &e.status {
                errors.push((
                    Pos::of(status),
                    "a `receive` step checks a request, which has no status".into(),
                ));
            }
            if let Some(arrives) = e.arrives.as_ref().filter(|a| !a.value) {
                if e.body.is_some()
                    || !e.headers.is_empty()
                    || e.client_certificate.is_some()
                    || e.delay.is_some()
                {
                    errors.push((
                        Pos::of(arrives),
                        "`arrives: false` cannot be combined with expectations on the request"
                            .into(),
                    ));
                }
            }
        }
        for m in e.client_certificate.iter().chain(e.delay.iter()) {
            if let Err((pos, message)) = Matcher::parse(m) {
                errors.push((pos, message));
            }
        }
    }
}

fn check_expect(expect: &super::model::Expect, errors: &mut Vec<(Pos, String)>) {
    if let Some(status) = &expect.status {
        let ok = match &status.value {
            Node::Int(code) => (100..=599).contains(code),
            Node::Seq(items) => {
                !items.is_empty()
                    && items
                        .iter()
                        .all(|i| matches!(i.value, Node::Int(c) if (100..=599).contains(&c)))
            }
            _ => false,
        };
        if !ok {
            errors.push((
                Pos::of(status),
                "status is an HTTP status code or a list of them".into(),
            ));
        }
    }
    if let Some(refused) = expect
        .refused
        .as_ref()
        .filter(|_| expect.status.is_some() || expect.body.is_some())
    {
        errors.push((
            Pos::of(refused),
            "`refused` cannot be combined with status or body expectations".into(),
        ));
    }
    if let Some(name) = &expect.decode_as {
        if !mimi_wire::registry::message_names().contains(&name.value.as_str())
            && name.value != "json"
        {
            errors.push((
                Pos::of(name),
                format!(
                    "unknown message type {:?}; known: json, {}",
                    name.value,
                    mimi_wire::registry::message_names().join(", ")
                ),
            ));
        }
    }
    for (name, m) in &expect.headers {
        if let Err((pos, e)) = Matcher::parse(m) {
            errors.push((pos, format!("header {name}: {e}")));
        }
    }
    if let Some(size) = &expect.size {
        if let Err((pos, e)) = Matcher::parse(size) {
            errors.push((pos, e));
        }
    }
    if let Some(body) = &expect.body {
        match &body.value {
            Node::Map(entries) => {
                for (path, m) in entries {
                    if let Err(e) = BodyPath::parse(&path.value) {
                        errors.push((Pos::of(path), e));
                    }
                    if let Err((pos, e)) = Matcher::parse(m) {
                        errors.push((pos, e));
                    }
                }
            }
            other => errors.push((
                Pos::of(body),
                format!(
                    "body expectations are a mapping of path to matcher, not {}",
                    other.kind()
                ),
            )),
        }
    }
    if let Some(ev) = &expect.eventually {
        for d in [&ev.value.within, &ev.value.every] {
            if let Err(e) = parse_duration(&d.value) {
                errors.push((Pos::of(d), e));
            }
        }
    }
}

/// Whether a `needs` entry is something a profile can declare.
fn known_need(need: &str) -> bool {
    if let Some(user) = need.strip_prefix("users.") {
        return match user.split_once('.') {
            None => !user.is_empty(),
            Some((name, meaning)) => !name.is_empty() && crate::differences::known_meaning(meaning),
        };
    }
    mimi_wire::messages::directory::ENDPOINTS.contains(&need)
        || [
            "hub",
            "follower",
            "target",
            "driver",
            crate::profile::HARNESS_SERVER,
        ]
        .contains(&need)
}
