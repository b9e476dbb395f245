//! The runner: every case is one libtest-mimic trial named `<link>::<path>`, run against the
//! providers of the session, with per-step and per-case timeouts. It emits typed events.

pub mod body;
pub mod events;
pub mod mls_step;
pub mod snapshot;
mod step;

pub use step::RAW_BODY;

use crate::case::model::Player;
use crate::case::Case;
use crate::drivers::link_b::Connection;
use crate::drivers::peer::SharedMember;
use crate::profile::Profile;
use events::{CaseRecord, Event, EventSink, Verdict};
use mimi_mls::SimClient;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// What every case of a run shares.
pub struct Session {
    pub runtime: tokio::runtime::Handle,
    /// The provider under test, then (optionally) its peer.
    pub connections: Vec<Arc<Connection>>,
    /// The harness's own link-B server, when the provider can reach it.
    pub peer: Option<Arc<crate::drivers::peer::HarnessPeer>>,
    pub sink: EventSink,
    pub strict: bool,
    pub snapshots: snapshot::UpdateMode,
    /// Snapshots record one provider's answers: the reference provider's have no suffix, any
    /// other provider's carry this one (its domain), and their first run records them.
    pub snapshot_suffix: Option<String>,
    /// Where the snapshots of a provider other than the reference are kept (under the reports
    /// folder), instead of beside the cases; None keeps them beside the cases.
    pub snapshot_dir: Option<std::path::PathBuf>,
    /// The provider's known-failing and known-flaky cases.
    pub expectations: crate::expectations::Expectations,
}

impl Session {
    fn connection(&self, player: Player) -> Option<&Arc<Connection>> {
        match player {
            Player::UnderTest => self.connections.first(),
            Player::Peer => self.connections.get(1),
            Player::Harness => None,
        }
    }

    fn under_test(&self) -> &Profile {
        &self.connections[0].profile
    }
}

/// The trials of a run: one per case.
pub fn plan(cases: Vec<Case>, session: Arc<Session>) -> Vec<libtest_mimic::Trial> {
    cases
        .into_iter()
        .map(|case| {
            let session = session.clone();
            let name = case.id.clone();
            libtest_mimic::Trial::ignorable_test(name, move || {
                // A panic is a harness bug, but the case still gets its record in the reports.
                let mut record = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_case(&case, &session)
                }))
                .unwrap_or_else(|panic| panicked(&case, &session, panic));
                if let Some(outcome) = apply_expectation(&mut record, &session) {
                    session.sink.emit(Event::CaseFinished(Box::new(record)));
                    return outcome;
                }
                let outcome = match record.verdict {
                    Verdict::Unsupported => Ok(libtest_mimic::Completion::ignored_with(format!(
                        "unsupported: {}",
                        record.message
                    ))),
                    v if v.fails(session.strict) => Err(record.message.clone().into()),
                    // libtest can only say "ok" for these; the grade and why go to stderr.
                    Verdict::Warn | Verdict::Info => {
                        eprintln!(
                            "{}: {}\n{}",
                            record.verdict.name(),
                            record.id,
                            record.message
                        );
                        Ok(libtest_mimic::Completion::Completed)
                    }
                    _ => Ok(libtest_mimic::Completion::Completed),
                };
                session.sink.emit(Event::CaseFinished(Box::new(record)));
                outcome
            })
        })
        .collect()
}

/// The trial's outcome when an expectation file lists the case; None when none does.
fn apply_expectation(
    record: &mut CaseRecord,
    session: &Session,
) -> Option<Result<libtest_mimic::Completion, libtest_mimic::Failed>> {
    use crate::expectations::Kind;
    let entry = session.expectations.for_case(&record.id)?;
    let failed = record.verdict.fails(session.strict);
    let (label, outcome) = match (entry.kind, failed) {
        (Kind::KnownFailing, true) => ("known failure", Ok(libtest_mimic::Completion::Completed)),
        (Kind::KnownFailing, false) if record.verdict == Verdict::Unsupported => return None,
        (Kind::KnownFailing, false) => (
            "stale known failure",
            Err(format!(
                "{} is listed as known-failing ({:?}: {}) but passes: remove the entry",
                record.id, entry.pattern, entry.reason
            )
            .into()),
        ),
        (Kind::KnownFlaky, _) => ("known flaky", Ok(libtest_mimic::Completion::Completed)),
    };
    eprintln!(
        "{label}: {} ({}): {}",
        record.id,
        record.verdict.name(),
        entry.reason
    );
    record.expectation = Some(format!("{label}: {}", entry.reason));
    Some(outcome)
}

pub(crate) fn panicked(
    case: &Case,
    session: &Session,
    panic: Box<dyn std::any::Any + Send>,
) -> CaseRecord {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let mut record = new_record(case, session);
    record.verdict = Verdict::Error;
    record.message =
        format!("the harness panicked while running this case (a harness bug): {what}");
    record
}

fn new_record(case: &Case, session: &Session) -> CaseRecord {
    let profile = session.under_test();
    CaseRecord {
        id: case.id.clone(),
        title: case.spec.title.clone(),
        file: case.file.display().to_string(),
        links: case.links().iter().map(|l| l.name().to_string()).collect(),
        requirements: case.requirements.clone(),
        provider: profile.name.clone(),
        draft: profile.draft.clone(),
        verdict: Verdict::Pass,
        message: String::new(),
        failures: Vec::new(),
        transcript: Vec::new(),
        retried: Vec::new(),
        expectation: None,
        duration: Default::default(),
    }
}

/// The roles a profile declares (`roles`), which gate the cases that give the provider under
/// test one of them.
pub const ROLES: &[&str] = &["hub", "follower", "target"];

/// What is missing for the case to run against these profiles (the provider under test first),
/// if anything.
pub fn unsupported(case: &Case, profiles: &[&Profile]) -> Option<String> {
    let profile = profiles.first()?;
    let missing: Vec<&str> = case
        .spec
        .needs
        .iter()
        .map(|n| n.value.as_str())
        .filter(|n| !profile.declares(n))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "{} does not declare {}",
            profile.name,
            missing.join(", ")
        ));
    }
    // A case that has the provider under test play a hub, follower or target needs that role.
    let roles: Vec<&str> = case
        .spec
        .actors
        .providers
        .iter()
        .filter(|(role, p)| p.value == Player::UnderTest && ROLES.contains(&role.as_str()))
        .map(|(role, _)| role.as_str())
        .filter(|role| !profile.roles.contains(*role))
        .collect();
    if !roles.is_empty() {
        return Some(format!(
            "{} does not declare the role {} (its profile's roles)",
            profile.name,
            roles.join(", ")
        ));
    }
    let wants_peer = case
        .spec
        .actors
        .providers
        .values()
        .any(|p| p.value == Player::Peer);
    (wants_peer && profiles.len() < 2)
        .then(|| "the case needs a second provider under test (peer)".to_string())
}

pub fn run_case(case: &Case, session: &Session) -> CaseRecord {
    let started = Instant::now();
    let mut record = new_record(case, session);
    let profiles: Vec<&Profile> = session.connections.iter().map(|c| &c.profile).collect();
    if let Some(reason) = unsupported(case, &profiles) {
        record.verdict = Verdict::Unsupported;
        record.message = reason;
        record.duration = started.elapsed();
        return record;
    }
    let outcome = session.runtime.block_on(async {
        tokio::time::timeout(case.timeout, run_steps(case, session, &mut record)).await
    });
    match outcome {
        Ok(Ok(())) if record.failures.is_empty() => {}
        Ok(Ok(())) => {
            record.verdict = grade(case);
        }
        Ok(Err(error)) => {
            record.verdict = Verdict::Error;
            record.message = error;
        }
        Err(_) => {
            record.verdict = Verdict::Error;
            record.message = format!(
                "the case did not finish within its timeout of {:?}",
                case.timeout
            );
        }
    }
    record.duration = started.elapsed();
    if record.verdict != Verdict::Pass {
        record.message = crate::report::console::failure_message(case, &record);
    }
    record
}

/// The grade of a case whose expectations failed: by the strongest level it checks.
fn grade(case: &Case) -> Verdict {
    case.requirements
        .iter()
        .map(|r| r.level)
        .min()
        .map(Verdict::for_broken)
        .unwrap_or(Verdict::Fail)
}

/// Fills in every template of the case that does not depend on what a step saves, against the
/// real profiles, so that `{{ target.users.dave }}` on a profile without dave stops the run
/// before any traffic.
pub fn check_templates(case: &Case, profiles: &[&Profile]) -> Vec<crate::case::LoadError> {
    let actors = match actors_for(case, profiles) {
        Ok(a) => a,
        Err(e) => return vec![crate::case::LoadError::file(&case.file, e)],
    };
    let fixed: std::collections::BTreeSet<String> = case
        .spec
        .actors
        .providers
        .keys()
        .chain(case.spec.actors.clients.keys())
        .chain(case.spec.vars.keys())
        .cloned()
        .collect();
    let mut errors = Vec::new();
    for step in &case.spec.steps {
        let mut strings = Vec::new();
        crate::case::collect_strings(&step.value, &mut strings);
        for (text, pos) in strings {
            let depends_on_saves =
                crate::case::template::unknown_names(text, &fixed).map_or(true, |u| !u.is_empty());
            if depends_on_saves {
                continue;
            }
            if let Err(e) = crate::case::template::fill_str(text, &actors.vars) {
                errors.push(case.error_at(pos, e));
            }
        }
    }
    errors
}

/// KeyPackages each simulated client publishes (claims and commits take one each).
const CLIENT_KEY_PACKAGES: usize = 8;
const CLIENT_KEY_PACKAGE_LIFETIME_SECONDS: u64 = 24 * 3600;

/// The template context and the simulated clients of one case run.
pub(crate) struct Actors {
    pub vars: minijinja::Value,
    pub clients: HashMap<String, SharedMember>,
    /// Endpoint → when the request the case's last `receive` of it took arrived.
    pub last_arrival: HashMap<String, std::time::Instant>,
    /// Role → the domain that plays it.
    pub domains: BTreeMap<String, String>,
    /// Role → who plays it.
    pub players: BTreeMap<String, Player>,
}

fn actors(case: &Case, session: &Session) -> Result<Actors, String> {
    let profiles: Vec<&Profile> = session.connections.iter().map(|c| &c.profile).collect();
    actors_for(case, &profiles)
}

/// The actors of a case against these profiles (the provider under test first, then its peer).
fn actors_for(case: &Case, profiles: &[&Profile]) -> Result<Actors, String> {
    let mut context = serde_json::Map::new();
    let mut domains = BTreeMap::new();
    let mut players = BTreeMap::new();
    let harness_domain = profiles
        .first()
        .map(|p| p.harness.domain.clone())
        .unwrap_or_default();
    for (role, player) in &case.spec.actors.providers {
        let profile = match player.value {
            Player::UnderTest => profiles.first(),
            Player::Peer => profiles.get(1),
            Player::Harness => None,
        };
        type Identifiers = BTreeMap<String, BTreeMap<String, String>>;
        let (domain, users, identifiers): (String, BTreeMap<String, String>, Identifiers) =
            match profile {
                Some(p) => (
                    p.domain.clone(),
                    p.users.clone(),
                    // How an identifierQuery finds each test user: `target.identifiers.bob.nick`.
                    p.test_users
                        .iter()
                        .map(|(name, u)| (name.clone(), u.found_by.clone()))
                        .collect(),
                ),
                None => (harness_domain.clone(), BTreeMap::new(), BTreeMap::new()),
            };
        context.insert(
            role.clone(),
            json!({"domain": domain, "uri": format!("mimi://{domain}"), "users": users, "identifiers": identifiers}),
        );
        domains.insert(role.clone(), domain);
        players.insert(role.clone(), player.value);
    }
    // A nonce of this run of the case: the names of users, clients and rooms it makes are new
    // on a provider that outlives one run, and no two cases of a run share one.
    let run = hex::encode(mimi_mls::random_bytes(4));
    context.insert("run".into(), json!(run));
    let mut clients = HashMap::new();
    for (name, client) in &case.spec.actors.clients {
        let domain = &domains[&client.value.on.value];
        let sim = SimClient::new(
            format!("mimi://{domain}/d/{name}-{run}/1"),
            mimi_mls::DEFAULT_CIPHERSUITE,
        );
        context.insert(
            name.clone(),
            json!({"user": format!("mimi://{domain}/u/{name}-{run}"), "client": sim.uri}),
        );
        let member = mimi_mls::member::Member::new(
            sim,
            CLIENT_KEY_PACKAGES,
            CLIENT_KEY_PACKAGE_LIFETIME_SECONDS,
        );
        clients.insert(
            name.clone(),
            std::sync::Arc::new(std::sync::Mutex::new(member)),
        );
    }
    let roles_only = minijinja::Value::from(minijinja::value::Serde(&context));
    for (name, value) in &case.spec.vars {
        let filled = crate::case::template::fill(&value.value, &roles_only).map_err(|e| {
            case.error_at(
                crate::case::node::Pos::of(value),
                format!("variable {name}: {e}"),
            )
            .to_string()
        })?;
        context.insert(name.clone(), filled);
    }
    Ok(Actors {
        vars: minijinja::Value::from(minijinja::value::Serde(&context)),
        clients,
        last_arrival: HashMap::new(),
        domains,
        players,
    })
}

async fn run_steps(case: &Case, session: &Session, record: &mut CaseRecord) -> Result<(), String> {
    let mut actors = actors(case, session)?;
    // The harness's clients are reachable through its link-B server for as long as the case runs.
    let _registration = session.peer.as_ref().map(|peer| {
        let members: Vec<(String, SharedMember)> = actors
            .clients
            .values()
            .map(|m| {
                let uri = m.lock().unwrap_or_else(|e| e.into_inner()).sim.uri.clone();
                (mimi_mls::member::user_of_client(&uri), m.clone())
            })
            .collect();
        peer.register(&members)
    });
    for spanned in &case.spec.steps {
        step::run(case, &spanned.value, session, &mut actors, record).await?;
        if !record.failures.is_empty() {
            // Later steps build on this one; what they would show is noise.
            break;
        }
    }
    Ok(())
}
