//! What a step does with its answer: `expect` (with `inconclusive`), `save`, `snapshot`,
//! `redact`, and the `damage` a `call` does to its body.

use super::*;

impl<'a> Parser<'a> {
    /// What a step does with its response: `expect`, `save`, `snapshot` and `redact`.
    pub(super) fn outcome(
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

    pub(super) fn expect(
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

    pub(super) fn inconclusive(
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
                    "when" => {
                        let says_something = matches!(&value.value, Node::Map(m)
                            if m.iter().any(|(k, _)| ["status", "headers", "body"].contains(&k.value.as_str())));
                        if !says_something {
                            self.error(
                                frame,
                                Pos::of(value),
                                "`when` needs at least one of status, headers and body",
                            );
                        }
                        when = self.expect(frame, value, kind, names, true);
                    }
                    "reason" | "remedy" => {
                        let text = self.string(frame, value, &key.value);
                        if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                            self.error(
                                frame,
                                Pos::of(value),
                                "say it in words: it is what the report shows",
                            );
                        }
                        if key.value == "reason" {
                            reason = text;
                        } else {
                            remedy = text;
                        }
                    }
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

    pub(super) fn status(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Vec<u16>> {
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

    pub(super) fn status_code(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<u16> {
        match &node.value {
            Node::Int(c) if (100..=599).contains(c) => u16::try_from(*c).ok(),
            _ => {
                self.error(frame, Pos::of(node), "status is an HTTP status code");
                None
            }
        }
    }

    pub(super) fn decode_as(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<DecodeAs> {
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

    pub(super) fn body_checks(
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

    pub(super) fn matchers(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        names: &Names,
    ) -> Option<Matchers> {
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

    pub(super) fn eventually(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Eventually> {
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

    pub(super) fn save(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Vec<Save>> {
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
            if self.cx.base.contains(name.value.as_str()) {
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

    pub(super) fn paths(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        what: &str,
    ) -> Option<Vec<BodyPath>> {
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

    pub(super) fn damage(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<Vec<Damage>> {
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
}
