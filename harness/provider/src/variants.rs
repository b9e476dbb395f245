//! Named variants: each makes the reference provider do, at the one place where the behaviour
//! lives, something the drafts allow but that it does not do by default. They are the mirror image
//! of `faults`: a check must be able to fail (a fault), and must not fail a correct provider that
//! is merely different (a variant). Each names the draft sentence that allows it.
//!
//! The provider counts how often each variant's code path runs (`Variants::has`), so that the
//! suite can show that some case reached every variant.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The draft sentence that allows a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub draft: &'static str,
    pub section: &'static str,
    pub words: &'static str,
}

impl fmt::Display for Allowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: \"{}\"", self.draft, self.section, self.words)
    }
}

macro_rules! variants {
    ($($variant:ident = $name:literal [$draft:expr, $section:literal, $words:literal] : $what:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Variant { $($variant,)* }

        impl Variant {
            pub const ALL: &'static [Variant] = &[$(Variant::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(Variant::$variant => $name,)* }
            }

            /// What the provider does with this variant on.
            pub fn description(self) -> &'static str {
                match self { $(Variant::$variant => $what,)* }
            }

            /// The sentence of a draft that allows it.
            pub fn allowed_by(self) -> Allowance {
                match self {
                    $(Variant::$variant => Allowance { draft: $draft, section: $section, words: $words },)*
                }
            }
        }
    };
}

const P06: &str = "draft-ietf-mimi-protocol-06";

variants! {
    DirectoryMeta = "directory-meta"
        [P06, "§5.1", "Like the ACME protocol (See Section 7.1.1 of [RFC8555]), the MIMI protocol uses a directory document"]:
        "its directory also carries members that are not endpoint URLs, as ACME's carries `meta`: an object, an array and a number",
    DirectoryVendorEndpoints = "directory-vendor-endpoints"
        [P06, "§5.1", "The response is a JSON document with URIs for each type of endpoint."]:
        "its directory also lists endpoints of its own that the draft does not name",
    PathPrefix = "path-prefix"
        [P06, "§5.1", "uses a directory document to convey the HTTPS URLs used to reach certain endpoints (as opposed to hard coding the endpoints)"]:
        "serves every endpoint under a path prefix of its own (/mimi/api/v2/...), as its directory says",
    DirectoryMemberOrder = "directory-member-order"
        [P06, "§5.1", "The response is a JSON document with URIs for each type of endpoint."]:
        "writes its directory's members in reverse alphabetical order (RFC 8259 §4: an object is an unordered collection)",
    ConsentVariablesAsExample = "consent-variables-as-example"
        [P06, "§5.1", "\"requestConsent\": \"https://mimi.example.com/v1/requestConsent/{targetUser}\""]:
        "names the consent endpoints' variables as §5.1's directory example does ({targetUser}, {requesterUser}), not as §5.7 ({targetDomain}, {requesterDomain})",
    OwnVariableNames = "own-variable-names"
        [P06, "§5.1", "uses a directory document to convey the HTTPS URLs used to reach certain endpoints (as opposed to hard coding the endpoints)"]:
        "names every URL template variable in its own words ({user}, {room}, {target}, {requester}, {provider}, {url}); its profile maps them to the drafts' names",
    ConsentRequired = "consent-required"
        [P06, "§8", "In other systems (often with many large and/or public rooms), a user needs to consent individually to be added to a room."]:
        "every user requires consent before a claim; its test users granted it to one pre-arranged requester, which its profile names",
    NoConsentCatchAll = "no-consent-catch-all"
        [P06, "§5.2", "The target provider can use this response as a catch all and in place of other status codes such as userUnknown if desired to preserve the privacy of its users."]:
        "answers noConsent in place of userUnknown, noConsentForThisRoom and noCompatibleMaterial",
    OneKeyPackageLeft = "one-key-package-left"
        [P06, "§5.2", "keyMaterialExhausted indicates that there was no keying material available for the specified client."]:
        "its first test user (bob) has exactly one KeyPackage left per client (its profile says so); a claim after that is keyMaterialExhausted",
    SeveralSuites = "several-suites"
        [P06, "§5.2", "partialSuccess indicates that key material was provided for at least one client of the target user."]:
        "its test users have several clients in several cipher suites (0x0001 and 0x0003), so a claim that accepts one suite is partialSuccess",
    CapabilitiesWithheld = "capabilities-withheld"
        [P06, "§5.2", "The client's capabilities could be omitted for privacy reasons."]:
        "leaves clientCapabilities out of every nothingCompatible client",
    NoCompatibleWithoutClients = "no-compatible-without-clients"
        [P06, "§5.2", "If the _user_ code is noCompatibleMaterial, the provider MAY populate the clients list."]:
        "answers noCompatibleMaterial with an empty clients list",
    ConsentRequestAlways201 = "consent-request-always-201"
        [P06, "§5.7", "A provider that does not wish to reveal if a user is not found can respond with a 201 Accepted."]:
        "answers a consent request for a user it does not have with 201, not 404",
    UpdateConsentReveals404 = "update-consent-reveals-404"
        [P06, "§5.7", "optionally a 404 Not Found (indicating the requesterUri is unknown)"]:
        "answers an updateConsent whose requesterUri it does not know with 404, not 201",
    HandlesAreUris = "handles-are-uris"
        [P06, "§5.8", "handle means that the entire handle URI matches exactly (for example: im:alice.smith@a.example)."]:
        "its users' handles are URIs (im:bob@<domain>); a handle query for the bare name finds nobody, a nick query does",
    IdentifierNickOnly = "identifier-nick-only"
        [P06, "§5.8", "unsupportedField means that the provider does not support queries on one of the fields queried."]:
        "searches nicks only; handle and email queries are unsupportedField",
    IdentifierRefusalsForbidden = "identifier-refusals-forbidden"
        [P06, "§5.8", "forbidden means that use of this endpoint is not allowed by the provider or that an unspecified field or combination of fields is not allowed in an identifier query."]:
        "answers queries on fields it does not search with forbidden, not unsupportedField",
    Http1Only = "http1-only"
        [P06, "§4.1", "MIMI servers communicate using HTTPS."]:
        "speaks HTTP/1.1 only, as a server and as a client",
    Http2Only = "http2-only"
        [P06, "§4.1", "MIMI servers communicate using HTTPS."]:
        "speaks HTTP/2 only, as a server and as a client",
    LateFanout = "late-fanout"
        [P06, "§5.5", "can view this as a commitment from the hub provider that the message will eventually be distributed to the group."]:
        "as a hub, sends each notify a second after it accepted what it carries",
    LateDelivery = "late-delivery"
        [P06, "§5.5", "can view this as a commitment from the hub provider that the message will eventually be distributed to the group."]:
        "as a follower, delivers what a notify carries to its clients a second after it answered 201",
    NotifyRepeats = "notify-repeats"
        [P06, "§5.5", "If a follower server receives a duplicate request to the /notify endpoint, in the sense of a request from the same hub server with the same request body as a previous /notify request, then the follower server MUST return a 201 Accepted response."]:
        "as a hub, sends every notify twice, byte for byte (a retry after a lost answer)",
    RetryLaterThanAsked = "retry-later-than-asked"
        [P06, "§5.5", "it SHOULD retry the request, respecting any guidance provided by the server in HTTP header fields such as Retry-After."]:
        "retries a refused notify two seconds after its Retry-After, not at once",
    RefusalsWith4xx = "refusals-with-4xx"
        [P06, "§2", "the examples use the TLS Presentation Language [RFC8446] and the semantics of HTTP [RFC7231] respectively as placeholder"]:
        "sends update, submitMessage and groupInfo refusals (their response bodies) with a 4xx status, not 200",
    GroupInfoHidesRooms = "group-info-hides-rooms"
        [P06, "§5.6", "If the hub does not want to reveal if a room ID does not exist it can use notAuthorized instead."]:
        "answers a groupInfo request for a room it does not host with notAuthorized, not noSuchRoom",
    AbuseReport204 = "abuse-report-204"
        [P06, "§5.9", "The response code only indicates if the abuse report was accepted, not if any specific automated or human action was taken."]:
        "accepts abuse reports with 204, not 201",
    ProxyRefusal404 = "proxy-refusal-404"
        [P06, "§5.10.2", "The hub can reject proxyDownload requests by replying with standard HTTP error codes."]:
        "refuses a proxyDownload of an unregistered host with 404, not 403",
    Malformed422 = "malformed-422"
        [P06, "§2", "the examples use the TLS Presentation Language [RFC8446] and the semantics of HTTP [RFC7231] respectively as placeholder"]:
        "answers a body that does not decode with 422, not 400",
    MediaTypeParameters = "media-type-parameters"
        [P06, "§5.1", "The response is a JSON document with URIs for each type of endpoint."]:
        "labels its directory application/json; charset=utf-8 and its binary bodies application/octet-stream; padding=0",
    UnlabelledBodies = "unlabelled-bodies"
        [P06, "§5", "The syntax of the MIMI protocol messages are described using the TLS presentation language format"]:
        "sends its binary response bodies without a Content-Type (the draft defines no media type for them)",
    ProblemJsonErrors = "problem-json-errors"
        [P06, "§5.10.2", "The hub can reject proxyDownload requests by replying with standard HTTP error codes."]:
        "explains its refusals as application/problem+json (RFC 9457), not plain text",
    ExtraResponseHeaders = "extra-response-headers"
        [P06, "§4.1", "The bodies of HTTP requests and responses are defined by the individual endpoints"]:
        "adds headers of its own to every response (server, cache-control, x-request-id)",
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Variant::ALL
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
                format!(
                    "unknown variant {s:?}; known variants: {}",
                    names.join(", ")
                )
            })
    }
}

/// The variants switched on in one provider (none for the reference provider), and how often
/// each one's code path ran: clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Variants {
    on: BTreeSet<Variant>,
    uses: Arc<UseCounts>,
}

#[derive(Debug)]
struct UseCounts(Vec<AtomicU64>);

impl Default for UseCounts {
    fn default() -> Self {
        Self(Variant::ALL.iter().map(|_| AtomicU64::new(0)).collect())
    }
}

impl PartialEq for Variants {
    fn eq(&self, other: &Self) -> bool {
        self.on == other.on
    }
}

impl Eq for Variants {}

impl Variants {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn with(variant: Variant) -> Self {
        Self::none().and(variant)
    }

    /// These variants and one more.
    pub fn and(mut self, variant: Variant) -> Self {
        self.on.insert(variant);
        self
    }

    /// Whether the variant is on, where its behaviour happens: a `true` is counted as a use.
    pub fn has(&self, variant: Variant) -> bool {
        let on = self.on.contains(&variant);
        if on {
            self.uses.0[variant as usize].fetch_add(1, Ordering::Relaxed);
        }
        on
    }

    /// Whether the variant is on, when the provider is set up (not counted as a use).
    pub fn contains(&self, variant: Variant) -> bool {
        self.on.contains(&variant)
    }

    pub fn iter(&self) -> impl Iterator<Item = Variant> + '_ {
        self.on.iter().copied()
    }

    /// How often the variant's code path ran so far.
    pub fn uses(&self, variant: Variant) -> u64 {
        self.uses.0[variant as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let names: BTreeSet<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
        assert_eq!(names.len(), Variant::ALL.len());
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>(), Ok(*v));
            assert!(!v.allowed_by().words.is_empty() && !v.description().is_empty());
        }
        assert!("no-such-variant".parse::<Variant>().is_err());
    }

    #[test]
    fn a_use_is_counted_only_where_the_variant_is_on_and_clones_share_the_count() {
        let variants = Variants::with(Variant::PathPrefix);
        let clone = variants.clone();
        assert!(clone.has(Variant::PathPrefix));
        assert!(!clone.has(Variant::Http1Only));
        assert!(variants.contains(Variant::PathPrefix));
        assert_eq!(variants.uses(Variant::PathPrefix), 1);
        assert_eq!(variants.uses(Variant::Http1Only), 0);
    }
}
