//! The case format, version 1, as a typed plan: what loading makes of `cases/**/*.yaml`
//! (documented in cases/README.md). A step is one of its kinds, each with its own typed fields;
//! durations, matchers, body paths, endpoints, driver operations and `mls` arguments are parsed
//! once, at load, so that the runner matches on the plan and never checks it again. The
//! vocabulary the loader checks against (endpoints the harness serves, driver operations,
//! typed bodies, `mls` operations and their arguments) lives here too.

use super::LoadError;
use crate::catalogue::Requirement;
use crate::expect::path::BodyPath;
use crate::expect::Matchers;
use crate::template::{Field, Template};
use crate::yaml::Pos;
use crate::yaml::Spanned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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

/// Who the case is about and what it needs, as the file says it.
#[derive(Debug)]
pub struct Spec {
    /// One sentence: what a conforming provider does.
    pub title: String,
    /// Requirement ids from cases/requirements.yaml.
    pub checks: Vec<Spanned<String>>,
    /// The links the case exercises; the first is the one it is reported under.
    pub links: Vec<Spanned<Link>>,
    pub actors: Actors,
    /// Capabilities the provider under test must declare, else the case is "unsupported".
    pub needs: Vec<Spanned<String>>,
    /// Case variables, usable as `{{ name }}` in every step.
    pub vars: BTreeMap<String, Spanned<crate::yaml::Node>>,
    pub steps: Vec<Step>,
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

/// Which file a step was written in, and, for a fragment's steps, where it is used.
#[derive(Debug)]
pub struct Origin {
    pub file: PathBuf,
    pub source: String,
    /// The `use` steps that brought these steps in, innermost first.
    pub used_at: Vec<UseSite>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseSite {
    pub fragment: String,
    pub file: PathBuf,
    pub pos: Pos,
    /// The using line with a caret under the fragment's name.
    pub snippet: String,
}

impl Origin {
    /// An error at `pos` in this file, naming the lines that use it when it is a fragment.
    pub fn error_at(&self, pos: Pos, message: impl Into<String>) -> LoadError {
        let mut error = LoadError::at(&self.file, &self.source, pos, message);
        error.used_at = self.used_at.clone();
        error
    }

    /// `file:line:col`.
    pub fn location(&self, pos: Pos) -> String {
        format!("{}:{}:{}", self.file.display(), pos.line, pos.column)
    }
}

/// One step of the plan.
#[derive(Debug)]
pub struct Step {
    pub name: String,
    /// Where the step says what it does (the value of its kind key).
    pub pos: Pos,
    pub origin: Arc<Origin>,
    /// The requirements an expectation of this step is charged to, unless its `expect` names
    /// its own: the step's `checks`, else (for a step that comes from a fragment) the `use`
    /// step's or the fragment's, else (for a case's own step) the case's. Empty: setup, whose
    /// failure blames no requirement.
    pub charge: Arc<[Requirement]>,
    pub kind: StepKind,
}

impl Step {
    /// What an exchange step (`call`, `driver`, `receive`, `mls`) does with its answer.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.kind {
            StepKind::Call(c) => Some(&c.outcome),
            StepKind::Driver(d) => Some(&d.outcome),
            StepKind::Receive(r) => Some(&r.outcome),
            StepKind::Mls(m) => Some(&m.outcome),
            _ => None,
        }
    }

    /// The step's `expect` block, if it has one.
    pub fn expect(&self) -> Option<&Expect> {
        self.outcome().and_then(|o| o.expect.as_ref())
    }

    /// The requirements a failure of this step is charged to: its `expect` block's `checks`
    /// when the failure is one of those expectations and the block names its own, else the
    /// step's charge.
    pub fn charged(&self, in_expect: bool) -> &[Requirement] {
        match self.expect() {
            Some(e) if in_expect => &e.charge,
            _ => &self.charge,
        }
    }
}

#[derive(Debug)]
pub enum StepKind {
    /// Send a link-B request as a role the harness plays.
    Call(Box<Call>),
    /// A driver API operation (links A and C) on a provider, as its own user.
    Driver(Box<Driver>),
    /// Take a request the provider under test sent the harness, and check it.
    Receive(Box<Receive>),
    /// Script how the harness answers the next requests to one of its endpoints.
    Answer(Box<Answer>),
    /// One of the harness's simulated clients acts (link D).
    Mls(Box<Mls>),
    /// Sub-steps that run at the same time; their saves are known after the group.
    Parallel(Vec<Step>),
    /// Checks of saved values, with no traffic.
    Assert(Vec<Assertion>),
    /// A fragment's steps, with its inputs; its outputs are known after it.
    Use(Box<Use>),
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Call(_) => "call",
            StepKind::Driver(_) => "driver",
            StepKind::Receive(_) => "receive",
            StepKind::Answer(_) => "answer",
            StepKind::Mls(_) => "mls",
            StepKind::Parallel(_) => "parallel",
            StepKind::Assert(_) => "assert",
            StepKind::Use(_) => "use",
        }
    }
}

/// A provider role of the case, where a step names it.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub pos: Pos,
    pub player: Player,
}

/// What a step does with a response (or a received request, or an `mls` result).
#[derive(Debug, Default)]
pub struct Outcome {
    pub expect: Option<Expect>,
    pub save: Vec<Save>,
    pub snapshot: Option<Snapshot>,
}

#[derive(Debug)]
pub struct Call {
    pub by: Role,
    pub on: Role,
    pub endpoint: Endpoint,
    /// Values for the `{variables}` of the endpoint's URL template.
    pub path: Vec<(String, Template)>,
    /// Extra request headers (names in lower case), or replacements of `from` and `content-type`.
    pub headers: Vec<(String, Template)>,
    pub client_certificate: ClientCertificate,
    pub body: Option<Body>,
    /// Changes made to the encoded body before sending, in order.
    pub damage: Vec<Damage>,
    pub timeout: Duration,
    pub outcome: Outcome,
}

/// A link-B endpoint a `call` step sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The provider's directory, at its profile's URL.
    Directory,
    /// A directory key (`keyMaterial`, `update`, ...).
    Mimi(&'static str),
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Directory => "directory",
            Endpoint::Mimi(name) => name,
        }
    }

    /// The message types of its request and response bodies.
    pub fn types(self) -> (Option<&'static str>, Option<&'static str>) {
        mimi_wire::registry::endpoint_types(self.name())
    }

    pub fn method(self) -> &'static str {
        match self {
            Endpoint::Directory | Endpoint::Mimi("proxyDownload") => "GET",
            Endpoint::Mimi(_) => "POST",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertificate {
    Harness,
    None,
}

#[derive(Debug, Clone)]
pub enum Damage {
    /// Keep only the first N bytes.
    Truncate(usize),
    /// Append these bytes.
    Append(Vec<u8>),
    /// Invert every bit of the byte at this offset.
    FlipByte(usize),
}

#[derive(Debug)]
pub struct Driver {
    pub on: Role,
    pub operation: DriverOperation,
    /// Values for the operation's `{user}`, `{client}`, `{room}`.
    pub path: Vec<(String, Template)>,
    pub json: Option<Template>,
    pub timeout: Duration,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub struct Receive {
    /// The provider role that sends the request.
    pub by: Role,
    /// The role the harness plays that receives it.
    pub on: Role,
    pub endpoint: Served,
    /// The request's one path variable, which tells it apart (a user, room or domain).
    pub key: Template,
    pub timeout: Duration,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub struct Answer {
    pub on: Role,
    pub endpoint: Served,
    pub key: Template,
    pub reply: Reply,
}

/// How the harness answers a scripted request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, Template)>,
    /// How many requests get this answer.
    pub times: usize,
}

#[derive(Debug)]
pub struct Mls {
    pub client: String,
    pub on: Role,
    pub operation: MlsOperation,
    pub timeout: Duration,
    pub outcome: Outcome,
}

/// A check of a saved value: a template (its key) and the matchers its value must satisfy.
#[derive(Debug)]
pub struct Assertion {
    pub subject: Template,
    pub matchers: Matchers,
}

#[derive(Debug)]
pub struct Use {
    pub fragment: String,
    /// Each declared input with the value the case gives it.
    pub inputs: Vec<(String, Template)>,
    pub steps: Vec<Step>,
    /// The fragment's saves the case sees after it.
    pub outputs: Vec<String>,
}

/// A value taken from the decoded response.
#[derive(Debug)]
pub struct Save {
    pub name: String,
    pub pos: Pos,
    pub from: SaveFrom,
}

#[derive(Debug)]
pub enum SaveFrom {
    /// A path into the decoded body.
    Path(BodyPath),
    /// The whole body, as hex (`@body`).
    RawBody,
}

/// The `save` path that takes the whole body as hex, for a later step that needs its bytes.
pub const RAW_BODY: &str = "@body";

#[derive(Debug)]
pub struct Snapshot {
    pub name: String,
    pub pos: Pos,
    /// Paths redacted beside the volatile fields of the message type.
    pub redact: Vec<BodyPath>,
}

#[derive(Debug)]
pub struct Expect {
    pub pos: Pos,
    /// Acceptable status codes.
    pub status: Option<(Vec<u16>, Pos)>,
    /// `true`: the provider refuses the request, at the TLS layer or with a 4xx.
    pub refused: Option<(bool, Pos)>,
    /// Header name (lower case) to matchers.
    pub headers: Vec<(String, Matchers)>,
    /// Decode the body as this type instead of the endpoint's.
    pub decode_as: Option<DecodeAs>,
    /// Paths into the decoded body to matchers.
    pub body: Option<BodyChecks>,
    /// Matchers on the body's length in bytes.
    pub size: Option<Matchers>,
    pub eventually: Option<Eventually>,
    /// `receive` only: matchers on the DNS names of the client certificate the sender presented.
    pub client_certificate: Option<Matchers>,
    /// `receive` only: matchers on the milliseconds since the request the case's previous
    /// `receive` of the same endpoint took arrived.
    pub delay: Option<Matchers>,
    /// `receive` only: `false` means no such request may arrive within the step's timeout.
    pub arrives: Option<(bool, Pos)>,
    /// The requirements a failure of these expectations is charged to: the block's `checks`,
    /// else the step's charge.
    pub charge: Arc<[Requirement]>,
    /// Whether the block names its own `checks`.
    pub own_checks: bool,
    /// Lawful refusals of a precondition: when one matches, the case is inconclusive.
    pub inconclusive: Vec<Inconclusive>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeAs {
    Json,
    Message(&'static str),
}

impl DecodeAs {
    pub fn name(self) -> &'static str {
        match self {
            DecodeAs::Json => JSON,
            DecodeAs::Message(name) => name,
        }
    }
}

/// The decode type of a driver API answer and of an `mls` result.
pub const JSON: &str = "json";

#[derive(Debug)]
pub struct BodyChecks {
    pub pos: Pos,
    pub paths: Vec<(BodyPath, Matchers)>,
}

#[derive(Debug, Clone, Copy)]
pub struct Eventually {
    pub within: Duration,
    pub every: Duration,
}

/// `{when, reason, remedy}`: a refusal the drafts allow, which makes the case inconclusive.
#[derive(Debug)]
pub struct Inconclusive {
    pub pos: Pos,
    /// What the answer looks like: status, headers and body matchers.
    pub when: Expect,
    pub reason: String,
    pub remedy: String,
}

// ---- Vocabulary ----

/// The endpoints the harness serves when it plays a provider (`receive` and `answer` steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Served {
    KeyMaterial,
    Notify,
    RequestConsent,
    UpdateConsent,
}

impl Served {
    pub const ALL: [Served; 4] = [
        Served::KeyMaterial,
        Served::Notify,
        Served::RequestConsent,
        Served::UpdateConsent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Served::KeyMaterial => "keyMaterial",
            Served::Notify => "notify",
            Served::RequestConsent => "requestConsent",
            Served::UpdateConsent => "updateConsent",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The driver API's operations (fixtures/driver-api/openapi.yaml, by operationId); the document
/// is checked to declare exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriverOperation {
    ListUsers,
    CreateUser,
    CreateClient,
    CreateRoom,
    Invite,
    Remove,
    Leave,
    Commit,
    Join,
    SendMessage,
    ReceivedMessages,
    RoomState,
    UploadAsset,
    RequestConsent,
    CancelConsent,
    AwaitIdle,
}

impl DriverOperation {
    pub const ALL: [DriverOperation; 16] = [
        DriverOperation::ListUsers,
        DriverOperation::CreateUser,
        DriverOperation::CreateClient,
        DriverOperation::CreateRoom,
        DriverOperation::Invite,
        DriverOperation::Remove,
        DriverOperation::Leave,
        DriverOperation::Commit,
        DriverOperation::Join,
        DriverOperation::SendMessage,
        DriverOperation::ReceivedMessages,
        DriverOperation::RoomState,
        DriverOperation::UploadAsset,
        DriverOperation::RequestConsent,
        DriverOperation::CancelConsent,
        DriverOperation::AwaitIdle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DriverOperation::ListUsers => "listUsers",
            DriverOperation::CreateUser => "createUser",
            DriverOperation::CreateClient => "createClient",
            DriverOperation::CreateRoom => "createRoom",
            DriverOperation::Invite => "invite",
            DriverOperation::Remove => "remove",
            DriverOperation::Leave => "leave",
            DriverOperation::Commit => "commit",
            DriverOperation::Join => "join",
            DriverOperation::SendMessage => "sendMessage",
            DriverOperation::ReceivedMessages => "receivedMessages",
            DriverOperation::RoomState => "roomState",
            DriverOperation::UploadAsset => "uploadAsset",
            DriverOperation::RequestConsent => "requestConsent",
            DriverOperation::CancelConsent => "cancelConsent",
            DriverOperation::AwaitIdle => "awaitIdle",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// A request body.
#[derive(Debug)]
pub enum Body {
    /// `{hex: ...}` or `{base64: ...}`: bytes as they are.
    Raw(RawEncoding, Field<Vec<u8>>),
    KeyMaterialRequest(KeyMaterialRequestBody),
    ConsentEntry(ConsentEntryBody),
    IdentifierRequest(IdentifierRequestBody),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawEncoding {
    Hex,
    Base64,
}

/// The typed bodies and their fields, for the loader's errors.
pub const TYPED_BODIES: &[(&str, &[&str])] = &[
    (
        "KeyMaterialRequest",
        &[
            "protocol",
            "requestingUser",
            "targetUser",
            "roomId",
            "acceptableCiphersuites",
            "requiredCapabilities",
            "requester",
            "signature",
        ],
    ),
    (
        "ConsentEntry",
        &[
            "consentOperation",
            "requesterUri",
            "targetUri",
            "roomId",
            "keyPackagesOf",
        ],
    ),
    ("IdentifierRequest", &["query"]),
];

/// A KeyMaterialRequest given by the fields that matter; the rest is filled in and signed.
#[derive(Debug)]
pub struct KeyMaterialRequestBody {
    pub pos: Pos,
    /// The client that signs (default: the case's only client).
    pub requester: Option<String>,
    pub requesting_user: Option<Field<String>>,
    pub target_user: Option<Field<String>>,
    pub room_id: Option<Field<String>>,
    pub acceptable_ciphersuites: Option<Field<Vec<u16>>>,
    pub required_capabilities: Option<Field<Capabilities>>,
    pub protocol: Option<Field<u8>>,
    pub signature: Option<Field<SignatureChoice>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub extension_types: Vec<u16>,
    pub proposal_types: Vec<u16>,
    pub credential_types: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureChoice {
    Valid,
    /// The right shape, but it does not verify.
    Corrupt,
    Bytes(Vec<u8>),
}

#[derive(Debug)]
pub struct ConsentEntryBody {
    pub pos: Pos,
    pub operation: Field<ConsentOperationName>,
    pub requester_uri: Field<String>,
    pub target_uri: Field<String>,
    pub room_id: Option<Field<String>>,
    /// Clients whose fresh KeyPackages a grant carries.
    pub key_packages_of: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentOperationName {
    Cancel,
    Request,
    Grant,
    Revoke,
}

#[derive(Debug)]
pub struct IdentifierRequestBody {
    pub pos: Pos,
    pub query: Field<Vec<QueryElement>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryElement {
    /// A SearchIdentifierType name: handle, nick, email, ...
    pub kind: String,
    pub value: String,
    /// The claim or vCard property name.
    pub name: Option<String>,
}

/// `mls` operations, each with its arguments.
#[derive(Debug)]
pub enum MlsOperation {
    /// The client's view of the room.
    State {
        room: Field<String>,
    },
    /// What the client decrypted.
    Inbox,
    /// Stage a commit (kept pending until `confirm` or `discard`).
    Commit(Box<CommitArgs>),
    Confirm {
        room: Field<String>,
    },
    Discard {
        room: Field<String>,
    },
    Propose {
        room: Field<String>,
        proposals: Vec<ProposalKind>,
        /// Break the first proposal's signature.
        corrupt: bool,
    },
    Message(Box<MessageArgs>),
    GroupInfoRequest {
        corrupt: bool,
    },
    /// A room the harness hosts, with the client as its first member.
    CreateRoom {
        room: Field<String>,
    },
    /// As the room's hub: add the clients a KeyMaterialResponse (hex) holds.
    Add {
        room: Field<String>,
        key_material: Field<String>,
    },
}

#[derive(Debug)]
pub struct CommitArgs {
    pub room: Field<String>,
    /// Harness clients of this case whose KeyPackages the commit adds.
    pub add: Vec<String>,
    /// Users whose every client the commit removes.
    pub remove: Option<Field<Vec<String>>>,
    /// The participant list as it should be after the commit.
    pub participants: Option<Field<Vec<String>>>,
    /// Send it as a PrivateMessage.
    pub private: bool,
    /// Leave out the proposals received in this epoch.
    pub omit_pending: bool,
    /// Replace the room's roles_list with these roles.
    pub roles: Option<Vec<RoleArg>>,
}

/// A role in `commit`'s `roles`: its index, name and capabilities (POL-03 §10.2 code points).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleArg {
    pub index: u32,
    pub name: String,
    pub capabilities: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalKind {
    /// Of the client's own leaf.
    Update,
    Leave,
}

#[derive(Debug)]
pub struct MessageArgs {
    pub room: Field<String>,
    /// MIMI content, base64.
    pub content: Field<String>,
    /// Put the franking tag in the SafeAAD.
    pub frank: bool,
    pub kind: MessageKind,
    /// The sendingUri to claim (default: the client's own user).
    pub sending_uri: Option<Field<String>>,
    /// Make a NotifyBody of this many messages from the hub instead of a SubmitMessageRequest.
    pub notify: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Application,
    /// A PublicMessage self-update proposal as the appMessage.
    Proposal,
}

/// `mls` operations and the arguments each takes, for the loader's errors.
pub const MLS_OPERATIONS: &[(&str, &[&str])] = &[
    ("state", &["room"]),
    ("inbox", &[]),
    (
        "commit",
        &[
            "room",
            "add",
            "remove",
            "participants",
            "private",
            "omitPending",
            "roles",
        ],
    ),
    ("confirm", &["room"]),
    ("discard", &["room"]),
    ("propose", &["room", "proposals", "corrupt"]),
    (
        "message",
        &["room", "content", "frank", "kind", "sendingUri", "notify"],
    ),
    ("group-info-request", &["signature"]),
    ("create-room", &["room"]),
    ("add", &["room", "keyMaterial"]),
];

/// Capabilities a case may name in `needs`, besides `users.NAME` (a test user of the profile),
/// optionally with what the user is for (`users.NAME.MEANING`, `differences::known_meaning`).
pub fn known_need(need: &str) -> bool {
    if let Some(user) = need.strip_prefix("users.") {
        return match user.split_once('.') {
            None => !user.is_empty(),
            Some((name, meaning)) => !name.is_empty() && crate::differences::known_meaning(meaning),
        };
    }
    ["driver", "harness-server", "hub", "follower", "target"].contains(&need)
        || need == "directory"
        || mimi_wire::messages::directory::ENDPOINTS.contains(&need)
}

/// Whether `needs` declares the test user `user`, with or without a meaning.
pub fn declares_user<'a>(needs: impl IntoIterator<Item = &'a str>, user: &str) -> bool {
    let prefix = format!("users.{user}.");
    needs
        .into_iter()
        .any(|n| n.strip_prefix("users.") == Some(user) || n.starts_with(&prefix))
}
