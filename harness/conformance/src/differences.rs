//! What a provider profile says about how the provider differs from the reference in ways the
//! drafts allow: the names its directory gives URL template variables, directory entries to
//! correct or add, its consent model, and what each test user is for. Checked when the profile
//! loads, so that a case never relies on a meaning that only the case file implies.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The URL template variables P-06 names (§5.1's directory example and §5.2–§5.10).
pub const DRAFT_VARIABLES: &[&str] = &[
    "targetUser",
    "roomId",
    "targetDomain",
    "requesterDomain",
    "requesterUser",
    "domain",
    "downloadUrl",
];

/// The identifier types an identifierQuery can find a test user by (P-06 §5.8) that take a plain
/// value.
pub const IDENTIFIER_TYPES: &[&str] = &["handle", "nick", "email", "phone"];

/// The consent model (P-06 §5.2, §5.7, §8): whether claims of the provider's users need consent,
/// and how the harness has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Consent {
    /// Claims of the provider's users need the user's consent.
    #[serde(default)]
    pub required: bool,
    /// A user of the harness's domain that the claimable test users granted consent to
    /// beforehand: the harness names it as the requestingUser of its claims. It carries no run
    /// nonce, so the grant outlives every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
}

/// A test user as a profile describes it: its URI, or its URI and what it is for.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TestUserEntry {
    Uri(String),
    Described(TestUser),
}

/// What a test user is for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestUser {
    pub uri: String,
    /// The harness's claims get its key material (through `consent.requester` when the provider
    /// requires consent). Default: true, unless it needs consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimable: Option<bool>,
    /// It granted consent to nobody: a claim gets noConsent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_consent: bool,
    /// KeyPackages each of its clients holds when a run starts, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_packages: Option<u32>,
    /// How an identifierQuery finds it (P-06 §5.8): identifier type → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub found_by: BTreeMap<String, String>,
}

impl TestUserEntry {
    pub fn into_user(self) -> TestUser {
        match self {
            TestUserEntry::Uri(uri) => TestUser {
                uri,
                ..TestUser::default()
            },
            TestUserEntry::Described(user) => user,
        }
    }
}

impl TestUser {
    pub fn claimable(&self) -> bool {
        self.claimable.unwrap_or(!self.needs_consent)
    }

    /// Whether the user has what a case's need `users.<name>.<meaning>` asks for: `claimable`,
    /// `needs-consent`, `key-packages.<n>` (at least n per client; an unknown count is taken to
    /// be enough), `found-by.<type>`.
    pub fn has(&self, meaning: &str) -> bool {
        let (word, argument) = meaning.split_once('.').unwrap_or((meaning, ""));
        match word {
            "claimable" => self.claimable(),
            "needs-consent" => self.needs_consent,
            "key-packages" => argument
                .parse::<u32>()
                .is_ok_and(|n| self.key_packages.is_none_or(|held| held >= n)),
            "found-by" => self.found_by.contains_key(argument),
            _ => false,
        }
    }
}

/// The meanings a case's `needs` can ask of a test user: `users.<name>.<meaning>`.
pub fn known_meaning(meaning: &str) -> bool {
    let (word, argument) = meaning.split_once('.').unwrap_or((meaning, ""));
    match word {
        "claimable" | "needs-consent" => argument.is_empty(),
        "key-packages" => argument.parse::<u32>().is_ok_and(|n| n > 0),
        "found-by" => IDENTIFIER_TYPES.contains(&argument),
        _ => false,
    }
}

/// Everything the profile says of these differences, checked against each other: each problem in
/// plain words.
pub fn check(
    domain: &str,
    harness_domain: &str,
    template_variables: &BTreeMap<String, String>,
    directory_entries: &BTreeMap<String, String>,
    consent: &Consent,
    users: &BTreeMap<String, TestUser>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (ours, theirs) in template_variables {
        if !DRAFT_VARIABLES.contains(&theirs.as_str()) {
            problems.push(format!(
                "template-variables: {ours:?} is mapped to {theirs:?}, which is not a variable the drafts name ({})",
                DRAFT_VARIABLES.join(", ")
            ));
        }
    }
    for (endpoint, url) in directory_entries {
        if !url.starts_with("https://") {
            problems.push(format!(
                "directory-entries: {endpoint} is {url:?}, not an https URL (P-06 §5.1)"
            ));
        }
    }
    if let Some(requester) = &consent.requester {
        if !requester.starts_with(&format!("mimi://{harness_domain}/u/")) {
            problems.push(format!(
                "consent.requester {requester:?} is not a user of the harness's domain (mimi://{harness_domain}/u/<name>): the harness sends claims as it"
            ));
        }
    }
    for (name, user) in users {
        if !user.uri.starts_with(&format!("mimi://{domain}/")) {
            problems.push(format!(
                "users.{name}: {:?} is not a URI of the provider's domain {domain}",
                user.uri
            ));
        }
        if user.claimable() && user.needs_consent {
            problems.push(format!(
                "users.{name} is claimable and needs consent: a user that granted consent to nobody cannot be claimed"
            ));
        }
        if user.claimable() && consent.required && consent.requester.is_none() {
            problems.push(format!(
                "users.{name} is claimable, but consent is required and the profile names no consent.requester that the user granted consent to"
            ));
        }
        if user.claimable() && user.key_packages == Some(0) {
            problems.push(format!(
                "users.{name} is claimable but holds no KeyPackage (key-packages: 0)"
            ));
        }
        for kind in user.found_by.keys() {
            if !IDENTIFIER_TYPES.contains(&kind.as_str()) {
                problems.push(format!(
                    "users.{name}.found-by: {kind:?} is not one of {}",
                    IDENTIFIER_TYPES.join(", ")
                ));
            }
        }
    }
    problems
}

/// The path variables of a step with the profile's own names added: each directory variable of
/// `template_variables` takes the value the step gives the drafts' name.
pub fn alias_variables(
    path: &BTreeMap<String, String>,
    template_variables: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = path.clone();
    for (ours, theirs) in template_variables {
        if let Some(value) = path.get(theirs) {
            out.entry(ours.clone()).or_insert_with(|| value.clone());
        }
    }
    out
}

/// What a profile says of a provider's differences from the reference (the lab's profile
/// writer takes it; the reference's variants describe themselves with it).
#[derive(Debug, Clone, Default)]
pub struct Description {
    pub users: BTreeMap<String, TestUser>,
    pub template_variables: BTreeMap<String, String>,
    pub consent: Consent,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uri: &str) -> TestUser {
        TestUser {
            uri: uri.into(),
            ..TestUser::default()
        }
    }

    #[test]
    fn a_user_is_claimable_unless_it_needs_consent() {
        let mut u = user("mimi://v.example/u/bob");
        assert!(u.has("claimable") && !u.has("needs-consent"));
        u.needs_consent = true;
        assert!(!u.has("claimable") && u.has("needs-consent"));
    }

    #[test]
    fn key_packages_unknown_are_enough_and_known_ones_are_counted() {
        let mut u = user("mimi://v.example/u/bob");
        assert!(u.has("key-packages.2"));
        u.key_packages = Some(1);
        assert!(u.has("key-packages.1") && !u.has("key-packages.2"));
    }

    #[test]
    fn meanings_are_checked_against_each_other() {
        let mut users = BTreeMap::new();
        let mut dora = user("mimi://v.example/u/dora");
        dora.needs_consent = true;
        dora.claimable = Some(true);
        users.insert("dora".to_string(), dora);
        users.insert("eve".to_string(), user("mimi://elsewhere.example/u/eve"));
        let consent = Consent {
            required: true,
            requester: Some("mimi://other.example/u/x".into()),
        };
        let problems = check(
            "v.example",
            "harness.example",
            &BTreeMap::from([("user".into(), "targetuser".into())]),
            &BTreeMap::from([("update".into(), "http://v.example/u/{roomId}".into())]),
            &consent,
            &users,
        );
        let all = problems.join("\n");
        for expected in [
            "\"targetuser\", which is not a variable the drafts name",
            "not an https URL",
            "is not a user of the harness's domain",
            "not a URI of the provider's domain",
            "claimable and needs consent",
        ] {
            assert!(all.contains(expected), "{expected:?} in:\n{all}");
        }
    }

    #[test]
    fn consent_required_needs_a_requester_for_claimable_users() {
        let users = BTreeMap::from([("bob".to_string(), user("mimi://v.example/u/bob"))]);
        let consent = Consent {
            required: true,
            requester: None,
        };
        let problems = check(
            "v.example",
            "h.example",
            &BTreeMap::new(),
            &BTreeMap::new(),
            &consent,
            &users,
        );
        assert!(
            problems[0].contains("names no consent.requester"),
            "{problems:?}"
        );
    }

    #[test]
    fn aliases_give_the_providers_names_the_drafts_values() {
        let path = BTreeMap::from([("targetUser".to_string(), "mimi://v/u/bob".to_string())]);
        let aliased = alias_variables(
            &path,
            &BTreeMap::from([("user".to_string(), "targetUser".to_string())]),
        );
        assert_eq!(aliased["user"], "mimi://v/u/bob");
        assert_eq!(aliased["targetUser"], "mimi://v/u/bob");
    }

    /// A profile in a fresh folder, with a CA and the harness's certificate beside it.
    fn profile_file(name: &str, body: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mimi-differences-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = mimi_pki::ca::TestCa::generate("differences test CA").unwrap();
        let harness = ca.issue("harness.example").unwrap();
        std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
        std::fs::write(dir.join("h.pem"), &harness.cert_pem).unwrap();
        std::fs::write(dir.join("h.key.pem"), &harness.key_pem).unwrap();
        let path = dir.join("profile.yaml");
        std::fs::write(
            &path,
            format!(
                "name: v\ndomain: v.example\ntrust-roots: [ca.pem]\nharness: {{domain: harness.example, certificate: h.pem, key: h.key.pem}}\n{body}"
            ),
        )
        .unwrap();
        path
    }

    #[test]
    fn a_profile_describes_its_users_aliases_and_consent() {
        let path = profile_file(
            "ok",
            "users:\n  bob: mimi://v.example/u/bob\n  carol: {uri: mimi://v.example/u/carol, key-packages: 1, found-by: {nick: carol}}\n  dora: {uri: mimi://v.example/u/dora, needs-consent: true}\ntemplate-variables: {user: targetUser}\nconsent: {required: true, requester: mimi://harness.example/u/consented}\n",
        );
        let profile = crate::profile::Profile::load(&path).unwrap();
        assert_eq!(profile.users["carol"], "mimi://v.example/u/carol");
        assert!(profile.declares("users.bob.claimable"));
        assert!(profile.declares("users.carol.found-by.nick"));
        assert!(!profile.declares("users.carol.key-packages.2"));
        assert!(profile.declares("users.dora.needs-consent"));
        assert!(!profile.declares("users.dora.claimable"));
        assert_eq!(profile.template_variables["user"], "targetUser");
        assert_eq!(
            profile.consent.requester.as_deref(),
            Some("mimi://harness.example/u/consented")
        );
    }

    #[test]
    fn a_profile_that_contradicts_itself_does_not_load() {
        let path = profile_file(
            "contradiction",
            "users: {bob: mimi://v.example/u/bob}\nconsent: {required: true}\n",
        );
        let error = crate::profile::Profile::load(&path)
            .unwrap_err()
            .to_string();
        assert!(error.contains("names no consent.requester"), "{error}");
    }

    #[test]
    fn needs_meanings_are_known_or_refused() {
        assert!(known_meaning("claimable"));
        assert!(known_meaning("key-packages.2"));
        assert!(known_meaning("found-by.nick"));
        assert!(!known_meaning("found-by.shoe-size"));
        assert!(!known_meaning("key-packages.0"));
        assert!(!known_meaning("friendly"));
    }
}
