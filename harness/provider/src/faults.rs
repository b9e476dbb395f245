//! Named faults: each makes the reference provider misbehave in one precise way, at the one place
//! where the correct behaviour lives. The conformance suite's mutants are these switches.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

macro_rules! faults {
    ($($variant:ident = $name:literal [$($requirement:literal),*] : $what:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Fault { $($variant,)* }

        impl Fault {
            pub const ALL: &'static [Fault] = &[$(Fault::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(Fault::$variant => $name,)* }
            }

            /// What the provider does wrong with this fault on.
            pub fn description(self) -> &'static str {
                match self { $(Fault::$variant => $what,)* }
            }

            /// The requirement ids (cases/requirements.yaml) this fault breaks.
            pub fn requirements(self) -> &'static [&'static str] {
                match self { $(Fault::$variant => &[$($requirement),*],)* }
            }
        }
    };
}

faults! {
    ClientCertificateOptional = "client-certificate-optional" ["TLS-1"]:
        "serves MIMI to a peer that presents no client certificate, taking its From at its word",
    FromNotChecked = "from-not-checked" ["TLS-3"]:
        "does not compare the From domain with the client certificate",
    KeyPackageReused = "key-package-reused" ["KM-12"]:
        "hands out the same KeyPackage to every claim instead of consuming it",
    ExpiredKeyPackages = "expired-key-packages" ["KM-13", "KM-15"]:
        "hands out KeyPackages whose lifetime has already ended",
    UnknownUserGetsMaterial = "unknown-user-gets-material" ["KM-16", "KM-10"]:
        "answers a claim for an unknown user with success and another user's key material",
    RequestSignatureNotChecked = "request-signature-not-checked" ["KM-18"]:
        "does not verify key_material_request_signature",
    CiphersuiteIgnored = "ciphersuite-ignored" ["KM-14"]:
        "returns KeyPackages whatever acceptableCiphersuites says",
    WrongUserUri = "wrong-user-uri" ["KM-9"]:
        "answers a claim with a userUri other than the target user",
    ConsentIgnored = "consent-ignored" ["KM-17"]:
        "hands out the KeyPackages of a user who requires consent without it",
    ConsentCancelRejected = "consent-cancel-rejected" ["CON-65"]:
        "answers a cancel with no matching consent request with 404 instead of 201",
    ConsentDomainsUnchecked = "consent-domains-unchecked" ["CON-66"]:
        "accepts a ConsentEntry whose URIs are not in the sending and receiving providers' domains",
    IdentifierQueryNotIdempotent = "identifier-query-not-idempotent" ["IDQ-69"]:
        "lets identifierQuery change state: a repeated identical query is answered notFound",
    DirectoryHttpUrls = "directory-http-urls" ["DIR-7"]:
        "lists its endpoints as http:// URLs in the directory",
    MalformedBodyServerError = "malformed-body-500" ["KM-9"]:
        "answers a KeyMaterialRequest it cannot decode with 500 instead of a 4xx",
    IdentifierQueryFindsNobody = "identifier-query-finds-nobody" ["IDQ-70"]:
        "answers every supported identifier query notFound",
    IdentifierQueryMatchesAnyone = "identifier-query-matches-anyone" ["IDQ-70"]:
        "answers a query that matches nobody with success and some user",
    IdentifierQueryEnumerates = "identifier-query-enumerates" ["IDQ-70"]:
        "answers whole-profile and unsupported queries with every user",
    ConsentAnswers200 = "consent-answers-200" ["CON-64"]:
        "answers every requestConsent with 200, instead of 201 (or 404 for an unknown target)",
    ConsentGrantRefused = "consent-grant-refused" ["CON-67"]:
        "refuses consent grants that carry KeyPackages",
    WrongServerCertificate = "wrong-server-certificate" ["TLS-2"]:
        "presents a self-signed server certificate for another domain",
    RequiredCapabilitiesIgnored = "required-capabilities-ignored" ["KM-14"]:
        "returns KeyPackages whatever requiredCapabilities asks for",
    EpochNotChecked = "epoch-not-checked" ["UPD-22", "SUB-39"]:
        "accepts handshakes and application messages of any epoch",
    ParticipantListNotChecked = "participant-list-not-checked" ["UPD-26"]:
        "accepts a commit that adds clients of a user missing from the participant list",
    MaxUsersNotEnforced = "max-users-not-enforced" ["UPD-34"]:
        "accepts a commit that takes the room beyond its max_users",
    PlaintextApplicationAccepted = "plaintext-application-accepted" ["SUB-37"]:
        "accepts a submitMessage whose appMessage is not a PrivateMessage application message",
    SenderNotChecked = "sender-not-checked" ["SUB-38", "UPD-30"]:
        "accepts a submitMessage whose sendingUri is not an active participant of the sending provider",
    NoFrank = "no-frank" ["SUB-41"]:
        "answers a franked message without a Frank",
    GroupInfoToAnyone = "group-info-to-anyone" ["GI-54"]:
        "hands the GroupInfo to a requester who is not a participant",
    WelcomeToEveryone = "welcome-to-everyone" ["FAN-49"]:
        "sends a Welcome to every follower instead of only those whose KeyPackages it names",
    MoreProposalsDropped = "more-proposals-dropped" ["FAN-50"]:
        "fans a proposal out without the moreProposals of its bundle",
    FanoutOutOfOrder = "fanout-out-of-order" ["FAN-48", "FAN-52"]:
        "sends each follower the newest waiting message of a room first",
    RetryAfterIgnored = "retry-after-ignored" ["FAN-47"]:
        "retries a refused notify at once, whatever Retry-After says",
    NotifyRepeatRefused = "notify-repeat-refused" ["NOT-44"]:
        "answers a byte-identical repeat of a notify with 409 instead of 201",
    NotifyRepeatRedelivered = "notify-repeat-redelivered" ["NOT-45"]:
        "delivers a byte-identical repeat of a notify to its clients again",
    NotifyBatchTruncated = "notify-batch-truncated" ["NOT-46"]:
        "delivers only the first FanoutMessage of a notify body",
    OpenProxy = "open-proxy" ["PXY-72"]:
        "proxyDownload fetches from any host, not only registered peer asset domains",
    ClaimWithoutRoom = "claim-without-room" ["KM-19"]:
        "claims KeyPackages for a room with an empty roomId",
    ClaimBypassesHub = "claim-bypasses-hub" ["KM-20"]:
        "as a follower, claims KeyPackages straight from the target provider instead of through the hub",
    GroupInfoBadSignature = "group-info-bad-signature" ["GI-56"]:
        "signs its GroupInfoResponse with a key other than the hub's external-sender key",
    AbuseReportRefused = "abuse-report-refused" ["ABU-71"]:
        "answers reportAbuse with 400 whatever the report",
    NotifyAnswers200 = "notify-answers-200" ["NOT-43"]:
        "answers an accepted notify with 200 instead of 201",
    ProxyRefusesEverything = "proxy-refuses-everything" ["PXY-73"]:
        "proxyDownload refuses registered peer asset domains too",
    RemovedProviderStillNotified = "removed-provider-still-notified" ["UPD-31"]:
        "keeps fanning messages out to a provider after its last member was removed",
    OutgoingFromWrong = "outgoing-from-wrong" ["TLS-5"]:
        "sends its link-B requests with From: admin@<domain> instead of mimi@<domain>",
    OutgoingWithoutCertificate = "outgoing-without-certificate" ["TLS-6"]:
        "presents no client certificate on its own link-B requests",
    ClaimNotRelayed = "claim-not-relayed" ["KM-21"]:
        "as a hub, answers a follower's claim for another provider's user itself (userUnknown) instead of relaying it",
    EncryptedHandshakeAccepted = "encrypted-handshake-accepted" ["UPD-33"]:
        "accepts a commit sent as a PrivateMessage, which it cannot check",
    TimestampsInSeconds = "timestamps-in-seconds" ["UPD-25", "FAN-51"]:
        "stamps what it accepts in seconds, not milliseconds, since the UNIX epoch",
    FrankBadSignature = "frank-bad-signature" ["SUB-42"]:
        "signs franks over a context with the wrong room",
    FrankingTagWrong = "franking-tag-wrong" ["CNT-79"]:
        "its clients put a franking tag in the SafeAAD that is not HMAC(salt, content)",
    MessageIdDraft07 = "message-id-draft-07" ["CNT-78"]:
        "its clients compute message IDs with the -07 algorithm",
    GroupInfoSignatureNotChecked = "group-info-signature-not-checked" ["GI-55"]:
        "answers a groupInfo request whose signature does not verify",
    DirectoryWithoutNotify = "directory-without-notify" ["DIR-8"]:
        "serves notify but leaves it out of its directory",
    ContentNotDeterministic = "content-not-deterministic" ["CNT-75"]:
        "its clients encode MIMI content with an indefinite-length array",
    ShortSalt = "short-salt" ["CNT-76"]:
        "its clients put an 8-byte salt in MIMI content",
    MultipartOfOne = "multipart-of-one" ["CNT-77"]:
        "its clients wrap a text in a MultiPart of one part",
    SendRoleNotChecked = "send-role-not-checked" ["SUB-40"]:
        "accepts a message from a participant whose role lacks canSendMessage",
    AddRoleNotChecked = "add-role-not-checked" ["UPD-23"]:
        "accepts a commit that adds another user from a committer whose role lacks canAddParticipant",
    OpenJoinRoleAccepted = "open-join-role-accepted" ["UPD-36"]:
        "accepts a roles_list update that gives a participant role canOpenJoin",
    RoleUpdateMixedAccepted = "role-update-mixed-accepted" ["UPD-29"]:
        "accepts a commit that changes the roles_list and the participant list together",
    CancelScopeDiffers = "cancel-scope-differs" ["CON-68"]:
        "its consent cancels leave out the roomId of the request they cancel",
    InvalidProposalUnnamed = "invalid-proposal-unnamed" ["UPD-24"]:
        "answers an invalid proposal with invalidProposal but names no ProposalRef",
    PendingProposalsOptional = "pending-proposals-optional" ["UPD-32"]:
        "accepts a commit that leaves out proposals it accepted earlier in the epoch",
    ParticipantListEntriesUnchecked = "participant-list-entries-unchecked" ["ROOM-61", "UPD-27"]:
        "accepts a participant list that names a user twice, or gives a user a role the roles_list lacks",
    FromSubdomainAccepted = "from-subdomain-accepted" ["TLS-3"]:
        "takes a From domain under a domain the client certificate names (sub.peer for peer) as authenticated",
    FromPrefixAccepted = "from-prefix-accepted" ["TLS-3"]:
        "takes a From domain that begins with a domain the client certificate names (peer.evil for peer) as authenticated",
    ClaimFirstClientOnly = "claim-first-client-only" ["KM-11"]:
        "answers a claim with the first client of the user only, as success",
    ExhaustedReportedSuccess = "exhausted-reported-success" ["KM-11"]:
        "answers success when some of the user's clients have no KeyPackage left",
    ExhaustedClientOmitted = "exhausted-client-omitted" ["KM-11"]:
        "leaves the clients with no KeyPackage left out of a partialSuccess answer",
    KeyPackageRace = "key-package-race" ["KM-12"]:
        "reads the KeyPackage to hand out, yields, then removes it: two claims that arrive together get the same one",
    ConsentSubdomainAccepted = "consent-subdomain-accepted" ["CON-66"]:
        "takes a requesterUri under the sending provider's domain (sub.peer for peer) as the sending provider's",
    GrantTargetUnchecked = "grant-target-unchecked" ["CON-66"]:
        "accepts a consent grant whose targetUri is not a user of the sending provider (a third domain's user)",
    IdentifierQueryOrSemantics = "identifier-query-or-semantics" ["IDQ-70"]:
        "finds the users who match any query element, not all of them",
    IdentifierQueryFirstElementOnly = "identifier-query-first-element-only" ["IDQ-70"]:
        "matches users against the first query element only",
    IdentifierHandlePrefix = "identifier-handle-prefix" ["IDQ-70"]:
        "matches a handle query as a prefix of the handle, not the whole handle",
    IdentifierFieldSupportFirstOnly = "identifier-field-support-first-only" ["IDQ-70"]:
        "looks at the first query element's field only to decide whether the query is supported",
    NotifyFromAnyProvider = "notify-from-any-provider" ["NOT-81"]:
        "delivers a notify for a room from a provider that is not the room's hub",
    NotifyHubSubdomainAccepted = "notify-hub-subdomain-accepted" ["NOT-81"]:
        "takes a notify from peer for a room under a subdomain of peer (sub.peer) as from the room's hub",
    NotifyBatchLastDropped = "notify-batch-last-dropped" ["NOT-46"]:
        "delivers every FanoutMessage of a notify body of several but the last",
    UpdateMalformedAccepted = "update-malformed-accepted" ["MAL-82"]:
        "answers an update body it cannot decode with 200 and no body",
    SubmitMalformedAccepted = "submit-malformed-accepted" ["MAL-82"]:
        "answers a submitMessage body it cannot decode with 200 and no body",
    GroupInfoMalformedAccepted = "group-info-malformed-accepted" ["MAL-82"]:
        "answers a groupInfo body it cannot decode with 200 and no body",
    NotifyMalformedAccepted = "notify-malformed-accepted" ["MAL-82"]:
        "answers a notify body it cannot decode with 201, as if accepted",
    RequestConsentMalformedAccepted = "request-consent-malformed-accepted" ["MAL-82"]:
        "answers a requestConsent body it cannot decode with 201, as if accepted",
    UpdateConsentMalformedAccepted = "update-consent-malformed-accepted" ["MAL-82"]:
        "answers an updateConsent body it cannot decode with 201, as if accepted",
    IdentifierMalformedAccepted = "identifier-malformed-accepted" ["MAL-82"]:
        "answers an identifierQuery body it cannot decode with notFound",
    AbuseMalformedAccepted = "abuse-malformed-accepted" ["MAL-82"]:
        "answers a reportAbuse body it cannot decode with 201, as if accepted",
    EpochAheadNotAllowed = "epoch-ahead-not-allowed" ["UPD-22"]:
        "answers a commit of an epoch ahead of the room's with notAllowed instead of wrongEpoch and its epoch",
    WrongEpochEchoed = "wrong-epoch-echoed" ["UPD-22"]:
        "answers wrongEpoch with the epoch the commit is for as currentEpoch, not the room's",
    SubmitEpochAheadAccepted = "submit-epoch-ahead-accepted" ["SUB-39"]:
        "accepts a message of an epoch ahead of the room's (it refuses only older ones)",
    EpochTooOldEchoed = "epoch-too-old-echoed" ["SUB-39"]:
        "answers epochTooOld with the message's epoch as currentEpoch, not the room's",
    InactiveSenderAccepted = "inactive-sender-accepted" ["SUB-38"]:
        "accepts a message whose sendingUri is on the participant list but has no client in the group",
    SenderDomainNotCompared = "sender-domain-not-compared" ["SUB-38"]:
        "accepts a message whose sendingUri is an active participant of another provider than the one that sent it",
    RemovedSenderStillKnown = "removed-sender-still-known" ["UPD-30"]:
        "checks a sendingUri against every user the room ever had, so a removed user's messages are accepted",
    SendRoleOfProvider = "send-role-of-provider" ["SUB-40"]:
        "looks up the sender's role as the role of the first participant of the sending provider",
    GroupInfoToProvider = "group-info-to-provider" ["GI-54"]:
        "hands the GroupInfo to any client of a provider that has a participant in the room",
    GroupInfoSignerNotExternalSender = "group-info-signer-not-external-sender" ["GI-56"]:
        "signs its GroupInfoResponse with a key of its own, named as hub_sender, that is not in the group's external_senders",
    GroupInfoRefreshedOnAddOnly = "group-info-refreshed-on-add-only" ["GI-57"]:
        "keeps the GroupInfo of the last commit that added someone; after a removal or an empty commit it serves a stale one",
    FrankSuiteHardcoded = "frank-suite-hardcoded" ["SUB-41"]:
        "puts its own default suite (P-256, 2) in franking_signature_ciphersuite, not the group's",
    FanoutTimestampTruncated = "fanout-timestamp-truncated" ["FAN-51"]:
        "fans messages out with the acceptance time rounded down to the second (as stored), not the accepted_timestamp it answered",
    FanoutFrankDropped = "fanout-frank-dropped" ["FAN-51"]:
        "answers a franked message with its Frank but fans it out without one",
    CommitFanoutRestamped = "commit-fanout-restamped" ["FAN-51"]:
        "stamps a commit a second time when it fans it out, so the fan-out timestamp is not the accepted_timestamp",
    CommitFanoutDelayed = "commit-fanout-delayed" ["FAN-52", "FAN-48"]:
        "fans a commit out to followers a moment after accepting it, so messages accepted after it overtake it",
    WelcomeWithoutTree = "welcome-without-tree" ["FAN-49"]:
        "fans a Welcome out with an empty ratchet tree",
    MoreProposalsFirstOnly = "more-proposals-first-only" ["FAN-50"]:
        "fans a proposal out with only the first of its bundle's moreProposals",
    FanoutFirstFollowerOnly = "fanout-first-follower-only" ["FAN-48"]:
        "fans application messages out to the first follower (by domain) only",
    ParticipantListFirstAddOnly = "participant-list-first-add-only" ["UPD-26"]:
        "checks only the first client a commit adds against the participant list",
    MaxClientsNotEnforced = "max-clients-not-enforced" ["UPD-34"]:
        "accepts a commit that takes the room beyond its max_clients",
    MaxUsersCountsMembers = "max-users-counts-members" ["UPD-34"]:
        "counts the users with clients in the group against max_users, not the participant list's entries",
    MaxUsersOffByOne = "max-users-off-by-one" ["UPD-34"]:
        "leaves the committer out when it counts users against max_users",
    RoleUpdateWithRemovalAccepted = "role-update-with-removal-accepted" ["UPD-29"]:
        "accepts a roles_list update that comes with a participant removal (it refuses one with an addition only)",
    OpenJoinCheckedOnRoleTwoOnly = "open-join-checked-on-role-two-only" ["UPD-36"]:
        "refuses canOpenJoin only on role 2, the participant role, not on other non-zero roles",
    InvalidProposalRefUnlabelled = "invalid-proposal-ref-unlabelled" ["UPD-24"]:
        "names an invalid proposal by the hash of its bytes, not its ProposalRef",
    ProxySubdomainAccepted = "proxy-subdomain-accepted" ["PXY-72"]:
        "proxyDownload fetches from any host under a registered peer asset domain",
    ProxyPrefixAccepted = "proxy-prefix-accepted" ["PXY-72"]:
        "proxyDownload fetches from any host that begins with a registered peer asset domain",
    ProxyHttpAccepted = "proxy-http-accepted" ["PXY-72"]:
        "proxyDownload fetches a registered peer's assets over plain http too",
    OutgoingHostWrong = "outgoing-host-wrong" ["TLS-4"]:
        "sends its link-B requests with its own domain in Host",
    OutgoingFromMissing = "outgoing-from-missing" ["TLS-5"]:
        "sends its link-B requests without From",
    OutgoingFromNameAddr = "outgoing-from-name-addr" ["TLS-5"]:
        "sends From as a name-addr (\"MIMI\" <mimi@domain>), not the addr-spec mimi@domain",
    OutgoingClaimUnsigned = "outgoing-claim-unsigned" ["KM-83"]:
        "sends its KeyMaterialRequests with an empty key_material_request_signature",
    NotifyFramedAsVector = "notify-framed-as-vector" ["WIRE-84"]:
        "sends a notify body as a vector of FanoutMessages (with a length prefix), not the FanoutMessages concatenated",
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!("unknown fault {s:?}; known faults: {}", names.join(", "))
            })
    }
}

/// The faults switched on in one provider (none for the correct reference provider), and which
/// faults' places its code has reached: clones share that record.
///
/// A fault changes what the provider does only where its code asks `on` about it. So a case
/// during which the correct provider never asked about a fault runs the same with the fault on,
/// and `mutants` need not run it against that fault (`reached`).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    on: BTreeSet<Fault>,
    reached: Arc<Reached>,
}

#[derive(Debug)]
struct Reached(Vec<AtomicBool>);

impl Default for Reached {
    fn default() -> Self {
        Self(Fault::ALL.iter().map(|_| AtomicBool::new(false)).collect())
    }
}

impl PartialEq for Faults {
    fn eq(&self, other: &Self) -> bool {
        self.on == other.on
    }
}

impl Eq for Faults {}

impl Faults {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn with(fault: Fault) -> Self {
        Self::none().and(fault)
    }

    /// These faults and one more.
    pub fn and(mut self, fault: Fault) -> Self {
        self.on.insert(fault);
        self
    }

    /// Whether the fault is on, asked where its misbehaviour would happen: the place is recorded
    /// as reached, whether the fault is on or not.
    pub fn on(&self, fault: Fault) -> bool {
        self.reached.0[fault as usize].store(true, Ordering::Relaxed);
        self.on.contains(&fault)
    }

    /// The faults whose places were reached since the last call, by this value and its clones.
    pub fn take_reached(&self) -> BTreeSet<Fault> {
        Fault::ALL
            .iter()
            .copied()
            .filter(|f| self.reached.0[*f as usize].swap(false, Ordering::Relaxed))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_reached_whether_its_fault_is_on_or_not_and_clones_share_the_record() {
        let faults = Faults::with(Fault::NoFrank);
        let clone = faults.clone();
        assert!(faults.take_reached().is_empty());
        assert!(clone.on(Fault::NoFrank));
        assert!(!clone.on(Fault::OpenProxy));
        assert_eq!(
            faults.take_reached(),
            BTreeSet::from([Fault::NoFrank, Fault::OpenProxy])
        );
        // Taking clears the record.
        assert!(faults.take_reached().is_empty());
        assert_eq!(faults, Faults::with(Fault::NoFrank));
        assert_ne!(faults, Faults::none());
    }
}
