//! The case format, version 1, as it stands in `cases/**/*.yaml` (documented in cases/README.md).
//! Every key is known: serde rejects unknown keys, wrong types and duplicate keys with their
//! position, and `load` checks what serde cannot (roles, requirement ids, templates).

use super::node::Node;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum Link {
    A,
    B,
    C,
    D,
}

impl Link {
    pub fn name(self) -> &'static str {
        match self {
            Link::A => "A",
            Link::B => "B",
            Link::C => "C",
            Link::D => "D",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CaseFile {
    /// One sentence: what a conforming provider does.
    pub title: String,
    /// Requirement ids from cases/requirements.yaml.
    pub checks: Vec<Spanned<String>>,
    /// The links the case exercises; the first is the one it is reported under.
    pub links: Vec<Spanned<Link>>,
    pub actors: Actors,
    /// Capabilities the provider under test must declare (endpoint names), else "unsupported".
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    /// Case variables, usable as `{{ name }}` in every step.
    #[serde(default)]
    pub vars: BTreeMap<String, Spanned<Node>>,
    /// Time the whole case may take, e.g. `30s`.
    pub timeout: Option<Spanned<String>>,
    pub steps: Vec<Spanned<Step>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Actors {
    /// Provider roles (`hub`, `follower`, `target`, ...) mapped onto who plays them.
    pub providers: BTreeMap<String, Spanned<Player>>,
    /// Simulated MLS clients that the harness plays, by name.
    #[serde(default)]
    pub clients: BTreeMap<String, Spanned<ClientActor>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Player {
    /// The provider under test.
    UnderTest,
    /// A second provider under test (the other side of an interop pair).
    Peer,
    /// The harness itself, with its own domain and certificate.
    Harness,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClientActor {
    /// The provider role whose user this client is.
    pub on: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Step {
    pub name: String,
    /// Requirement ids this step's expectations are charged to, instead of the case's
    /// `checks`; `[]` marks a precondition (setup) that checks no requirement.
    pub checks: Option<Vec<Spanned<String>>>,
    /// The role that sends a link-B request; it must be played by the harness.
    pub by: Option<Spanned<String>>,
    /// The role that receives it (for `driver`: whose driver API is called; for `receive`,
    /// `answer` and `mls`: the role the harness plays).
    pub on: Spanned<String>,
    /// The link-B endpoint, by its directory key (`keyMaterial`, ...), or `directory`.
    pub call: Option<Spanned<String>>,
    /// Instead of `call`: a driver API operation (links A and C), acting as the provider's user.
    pub driver: Option<Spanned<String>>,
    /// The JSON body of a driver operation.
    pub json: Option<Spanned<Node>>,
    /// Instead of `call`: take the next request the provider `by` sent to the harness's `on`
    /// at this endpoint (matched by `path`), and check it with `expect`.
    pub receive: Option<Spanned<String>>,
    /// Instead of `call`: script how the harness's `on` answers the next requests to this
    /// endpoint (matched by `path`), with `reply`.
    pub answer: Option<Spanned<String>>,
    pub reply: Option<Spanned<Reply>>,
    /// Instead of `call`: an operation of the harness's simulated client `client` (link D),
    /// with `args`; its result is what `expect` and `save` see.
    pub mls: Option<Spanned<String>>,
    pub client: Option<Spanned<String>>,
    pub args: Option<Spanned<Node>>,
    /// Values for the `{variables}` of the endpoint's URL template.
    #[serde(default)]
    pub path: BTreeMap<String, Spanned<Node>>,
    /// Extra request headers, or replacements of `From` and `Content-Type`.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<Node>>,
    /// Which client certificate the harness presents: `harness` (default) or `none`.
    pub client_certificate: Option<Spanned<ClientCertificate>>,
    /// The request body: `{<MessageType>: {fields}}`, `{hex: ...}` or `{base64: ...}`.
    pub body: Option<Spanned<Node>>,
    /// Changes made to the encoded body before sending, in order.
    #[serde(default)]
    pub damage: Vec<Spanned<Damage>>,
    pub expect: Option<Spanned<Expect>>,
    /// Variables taken from the decoded response: `name: path`.
    #[serde(default)]
    pub save: BTreeMap<String, Spanned<String>>,
    /// Compare the decoded response with `snapshots/<case>__<name>.snap`.
    pub snapshot: Option<Spanned<String>>,
    /// Extra paths to redact in the snapshot (volatile fields are redacted already).
    #[serde(default)]
    pub redact: Vec<Spanned<String>>,
    /// Time this step may take, e.g. `5s` (default 10s).
    pub timeout: Option<Spanned<String>>,
}

/// What a step does: exactly one of these keys says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    Call(&'a Spanned<String>),
    Driver(&'a Spanned<String>),
    Receive(&'a Spanned<String>),
    Answer(&'a Spanned<String>),
    Mls(&'a Spanned<String>),
}

impl Step {
    /// The step's actions; a valid step has exactly one.
    pub fn actions(&self) -> Vec<Action<'_>> {
        [
            self.call.as_ref().map(Action::Call),
            self.driver.as_ref().map(Action::Driver),
            self.receive.as_ref().map(Action::Receive),
            self.answer.as_ref().map(Action::Answer),
            self.mls.as_ref().map(Action::Mls),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub fn action(&self) -> Action<'_> {
        self.actions()[0]
    }

    /// Where the step says what it does.
    pub fn target_pos(&self) -> super::node::Pos {
        match self.actions().first() {
            Some(
                Action::Call(s)
                | Action::Driver(s)
                | Action::Receive(s)
                | Action::Answer(s)
                | Action::Mls(s),
            ) => super::node::Pos::of(*s),
            None => super::node::Pos::of(&self.on),
        }
    }
}

/// How the harness answers a scripted request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Reply {
    pub status: Spanned<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<Node>>,
    /// How many requests get this answer (default 1).
    pub times: Option<Spanned<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientCertificate {
    Harness,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum Damage {
    /// Keep only the first N bytes.
    Truncate(usize),
    /// Append these bytes (hex).
    Append(String),
    /// Invert every bit of the byte at this offset.
    FlipByte(usize),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expect {
    /// Requirement ids these expectations are charged to, instead of the step's `checks`
    /// (or the case's); `[]` marks a precondition.
    pub checks: Option<Vec<Spanned<String>>>,
    /// One status code or a list of acceptable ones.
    pub status: Option<Spanned<Node>>,
    /// `true`: the provider must refuse the connection or the request at the TLS layer.
    pub refused: Option<Spanned<bool>>,
    /// Header name to matcher.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<Node>>,
    /// Decode the body as this message type instead of the endpoint's response type.
    pub decode_as: Option<Spanned<String>>,
    /// Path into the decoded body to matcher.
    pub body: Option<Spanned<Node>>,
    /// Matcher on the body's length in bytes.
    pub size: Option<Spanned<Node>>,
    /// Retry the step until the expectations hold.
    pub eventually: Option<Spanned<Eventually>>,
    /// `receive` only: matcher on the DNS names of the client certificate the sender presented.
    pub client_certificate: Option<Spanned<Node>>,
    /// `receive` only: matcher on the milliseconds since the request the case's previous
    /// `receive` of the same endpoint took arrived.
    pub delay: Option<Spanned<Node>>,
    /// `receive` only: `false` means no such request may arrive within the step's timeout.
    pub arrives: Option<Spanned<bool>>,
    /// Refusals of a precondition that the drafts allow: when the expectations fail but one
    /// `when` holds, the case stops `inconclusive` instead of failing.
    #[serde(default)]
    pub inconclusive: Vec<Spanned<Inconclusive>>,
}

/// A lawful refusal of what a step needs, and what would make the case conclusive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Inconclusive {
    /// Expectations (`status`, `headers`, `body`, `size`) that all hold on such a refusal.
    pub when: Spanned<Expect>,
    /// What the provider did, in words.
    pub reason: Spanned<String>,
    /// What would make the case conclusive: a profile setting, a driver operation.
    pub remedy: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Eventually {
    pub within: Spanned<String>,
    pub every: Spanned<String>,
}
