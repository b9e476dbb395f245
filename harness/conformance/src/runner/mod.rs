//! The runner: runs a case against the providers of the session, with per-step and per-case
//! timeouts, and records what happened as typed events (`events`) with a verdict per
//! requirement (`verdict`). It renders nothing: the reporters (`crate::report`, the libtest
//! adapter among them) do.

pub mod blame;
pub mod body;
pub mod events;
pub mod exchange;
pub mod head_start;
pub mod mls_step;
mod quiet;
pub mod replay;
pub mod snapshot;
mod step;
pub mod verdict;

use crate::case::model::Player;
use crate::case::Case;
use crate::drivers::harness_server::SharedMember;
use crate::drivers::link_b::Connection;
use crate::profile::Profile;
use events::{CaseRecord, Event, EventSink, ExpectationUse, Verdict};
use mimi_mls::SimClient;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;
use verdict::{Ended, Recorder};

/// What every case of a run shares.
pub struct Session {
    pub runtime: tokio::runtime::Handle,
    /// The provider under test, then (optionally) its peer.
    pub connections: Vec<Arc<Connection>>,
    /// The harness's own link-B server, when the provider can reach it.
    pub peer: Option<Arc<crate::drivers::harness_server::HarnessServer>>,
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
    pub expectations: crate::known_failures::Expectations,
    /// The observer the providers reach one another through on link B, if they do: what it
    /// saw of a case is tied to the case, and tells which hop broke a requirement.
    pub observer: Option<Arc<crate::observer::Observer>>,
    /// The cases whose imposed waits begin before the others start (none unless the run's
    /// scheduler sets them).
    pub head_start: head_start::HeadStart,
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

/// What a finished case means for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conclusion {
    Passed,
    /// The case fails the run; for a known-failing case that passed, why.
    Failed {
        stale: Option<String>,
    },
    /// Neither passed nor failed: unsupported, or inconclusive without --strict.
    Ignored,
}

/// Applies the provider's expectation file to a finished case, emits `CaseFinished`, and says
/// what the case means for the run.
pub fn settle(mut record: CaseRecord, session: &Session) -> (CaseRecord, Conclusion) {
    let conclusion = match apply_expectation(&mut record, session) {
        Some(c) => c,
        None if record.verdict.fails(session.strict) => Conclusion::Failed { stale: None },
        None if matches!(
            record.verdict,
            Verdict::Unsupported | Verdict::Inconclusive | Verdict::NotRun
        ) =>
        {
            Conclusion::Ignored
        }
        None => Conclusion::Passed,
    };
    session.sink.emit(Event::CaseFinished(&record));
    (record, conclusion)
}

/// The conclusion when an expectation file lists the case; None when none does.
fn apply_expectation(record: &mut CaseRecord, session: &Session) -> Option<Conclusion> {
    use crate::known_failures::Kind;
    let entry = session.expectations.for_case(&record.id)?;
    let failed = record.verdict.fails(session.strict);
    let (label, conclusion) = match (entry.kind, failed) {
        (Kind::KnownFailing, true) => (ExpectationUse::KNOWN_FAILURE, Conclusion::Passed),
        // Neither passed nor failed: the entry can be neither used nor stale.
        (Kind::KnownFailing, false)
            if matches!(
                record.verdict,
                Verdict::Unsupported | Verdict::Inconclusive | Verdict::NotRun
            ) =>
        {
            return None
        }
        (Kind::KnownFailing, false) => (
            ExpectationUse::STALE,
            Conclusion::Failed {
                stale: Some(format!(
                    "{} is listed as known-failing ({:?}: {}) but passes: remove the entry",
                    record.id, entry.pattern, entry.reason
                )),
            },
        ),
        (Kind::KnownFlaky, _) => (ExpectationUse::KNOWN_FLAKY, Conclusion::Passed),
    };
    record.expectation = Some(ExpectationUse {
        label,
        reason: entry.reason.clone(),
    });
    Some(conclusion)
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
    let mut record = new_record(case, session.under_test());
    verdict::conclude(
        case,
        &mut record,
        Ended::Error(format!(
            "the harness panicked while running this case (a harness bug): {what}"
        )),
    );
    record
}

/// The record of a case the run stopped before it ran.
pub fn not_run(case: &Case, session: &Session, why: &str) -> CaseRecord {
    let mut record = new_record(case, session.under_test());
    verdict::conclude(case, &mut record, Ended::Stopped(format!("not run: {why}")));
    record
}

/// The record of a case against `profile`, before it runs.
pub fn new_record(case: &Case, profile: &Profile) -> CaseRecord {
    CaseRecord {
        id: case.id.clone(),
        title: case.spec.title.clone(),
        file: case.file.display().to_string(),
        links: case.links().iter().map(|l| l.name().to_string()).collect(),
        provider: profile.name.clone(),
        draft: profile.draft.clone(),
        run: String::new(),
        roles: BTreeMap::new(),
        started_unix_ms: crate::observer::unix_ms(),
        observed: Vec::new(),
        verdict: Verdict::Pass,
        requirements: Vec::new(),
        error: None,
        checks: Vec::new(),
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

/// The waits a case imposes by design, which no provider can shorten: the `Retry-After`
/// seconds of the answers it scripts (when written as a number).
pub fn imposed_wait(case: &Case) -> std::time::Duration {
    fn of(steps: &[crate::case::model::Step]) -> u64 {
        use crate::case::model::StepKind;
        steps
            .iter()
            .map(|step| match &step.kind {
                StepKind::Answer(answer) => (answer.reply.headers.iter())
                    .filter(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
                    .filter_map(|(_, value)| match &value.node {
                        crate::case::node::Node::Int(n) => u64::try_from(*n).ok(),
                        crate::case::node::Node::Str(s) => s.trim().parse().ok(),
                        _ => None,
                    })
                    .sum::<u64>()
                    .saturating_mul(answer.reply.times as u64),
                StepKind::Parallel(steps) => of(steps),
                StepKind::Use(fragment) => of(&fragment.steps),
                _ => 0,
            })
            .sum()
    }
    std::time::Duration::from_secs(of(&case.spec.steps))
}

/// How long the case may wait for a provider that never does what a step looks for: its
/// longest single wait (an `eventually`'s `within`, a `receive`'s timeout), with the imposed
/// waits. A case stops at the first step that fails, so one wait, not their sum, is what a
/// broken provider makes it last; against one that does what the steps look for it waits far
/// less.
pub fn longest_wait(case: &Case) -> std::time::Duration {
    fn of(steps: &[crate::case::model::Step]) -> std::time::Duration {
        use crate::case::model::StepKind;
        steps
            .iter()
            .map(|step| {
                let polled = (step.expect())
                    .and_then(|e| e.eventually)
                    .map(|e| e.within)
                    .unwrap_or_default();
                polled.max(match &step.kind {
                    StepKind::Receive(receive) => receive.timeout,
                    StepKind::Parallel(steps) => of(steps),
                    StepKind::Use(fragment) => of(&fragment.steps),
                    _ => std::time::Duration::ZERO,
                })
            })
            .max()
            .unwrap_or_default()
    }
    of(&case.spec.steps) + imposed_wait(case)
}

/// The order to start cases in: those that must wait longest first, so that their waits
/// overlap the others' work instead of ending the run (stable otherwise).
pub fn slowest_first(cases: &mut [Case]) {
    cases.sort_by_cached_key(|c| std::cmp::Reverse(imposed_wait(c)));
}

/// How many cases run at once by default: they mostly wait on the providers, so many more
/// than there are cores.
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores * 8).clamp(8, 64)
}

/// Runs one case: its record, with a verdict for it and for each of its requirements. A panic
/// is a harness bug, but the case still gets its record.
pub fn run_case(case: &Case, session: &Session) -> CaseRecord {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(case, session)))
        .unwrap_or_else(|panic| panicked(case, session, panic))
}

fn run(case: &Case, session: &Session) -> CaseRecord {
    session.head_start.hold(&case.id);
    let record = run_held(case, session);
    session.head_start.begun(&case.id);
    record
}

fn run_held(case: &Case, session: &Session) -> CaseRecord {
    let started = Instant::now();
    let mut recorder = Recorder::new(case, new_record(case, session.under_test()), &session.sink);
    let profiles: Vec<&Profile> = session.connections.iter().map(|c| &c.profile).collect();
    let ended = match unsupported(case, &profiles) {
        Some(reason) => Ended::Unsupported(reason),
        None => {
            let progress = crate::run_control::Progress::default();
            let outcome = session.runtime.block_on(async {
                let steps = progress.watch(run_steps(case, session, &mut recorder));
                tokio::select! {
                    outcome = tokio::time::timeout(case.timeout, steps) => Some(outcome),
                    _ = crate::run_control::cancelled() => None,
                }
            });
            match outcome {
                Some(Ok(Ok(()))) => Ended::Ran,
                Some(Ok(Err(error))) => Ended::Error(error),
                Some(Err(_)) => Ended::Error(format!(
                    "the case did not finish within its timeout of {}: it was {}",
                    crate::units::human(case.timeout),
                    progress.describe()
                )),
                None => {
                    let stop =
                        crate::run_control::stopping().map_or_else(String::new, |s| s.reason());
                    Ended::Stopped(format!(
                        "not run to its end: {stop}, {}",
                        progress.describe()
                    ))
                }
            }
        }
    };
    let mut record = recorder.record;
    verdict::conclude(case, &mut record, ended);
    blame::assign(case, &mut record, session);
    record.duration = started.elapsed();
    record
}

/// Fills in every template of the case that does not depend on what a step saves, against the
/// real profiles, so that `{{ target.users.dave }}` on a profile without dave stops the run
/// before any traffic.
pub fn check_templates(case: &Case, profiles: &[&Profile]) -> Vec<crate::case::LoadError> {
    // The clients' keys and KeyPackages are no template's business: none are made.
    let actors = match actors_with(case, profiles, false) {
        Ok(a) => a,
        Err(e) => return vec![crate::case::LoadError::file(&case.file, e)],
    };
    case.fixed_templates
        .iter()
        .filter_map(|t| {
            crate::template::fill_str(&t.text, &actors.vars)
                .err()
                .map(|e| t.origin.error_at(t.pos, e))
        })
        .collect()
}

/// KeyPackages each simulated client publishes (claims and commits take one each).
const CLIENT_KEY_PACKAGES: usize = 8;
const CLIENT_KEY_PACKAGE_LIFETIME_SECONDS: u64 = 24 * 3600;

/// The template context and the simulated clients of one case run.
#[derive(Clone)]
pub(crate) struct Actors {
    pub vars: minijinja::Value,
    pub clients: HashMap<String, SharedMember>,
    /// Endpoint → when the request the case's last `receive` of it took arrived.
    pub last_arrival: HashMap<String, std::time::Instant>,
    /// Role → the domain that plays it.
    pub domains: BTreeMap<String, String>,
    /// The nonce of this run of the case (`{{ run }}`).
    pub run: String,
}

fn actors(case: &Case, session: &Session) -> Result<Actors, String> {
    let profiles: Vec<&Profile> = session.connections.iter().map(|c| &c.profile).collect();
    actors_for(case, &profiles)
}

/// The actors of a case against these profiles (the provider under test first, then its peer).
fn actors_for(case: &Case, profiles: &[&Profile]) -> Result<Actors, String> {
    actors_with(case, profiles, true)
}

/// The actors, with the simulated clients themselves (keys, KeyPackages) only if
/// `with_clients`: the template context names them either way.
fn actors_with(case: &Case, profiles: &[&Profile], with_clients: bool) -> Result<Actors, String> {
    let mut context = serde_json::Map::new();
    let mut domains = BTreeMap::new();
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
    }
    // A nonce of this run of the case: the names of users, clients and rooms it makes are new
    // on a provider that outlives one run, and no two cases of a run share one.
    let run = hex::encode(mimi_mls::random_bytes(4));
    context.insert("run".into(), json!(run));
    context.insert(
        crate::template::FIXTURES_VAR.into(),
        json!(case.fixtures.display().to_string()),
    );
    let mut clients = HashMap::new();
    for (name, client) in &case.spec.actors.clients {
        let domain = &domains[&client.value.on.value];
        let uri = format!("mimi://{domain}/d/{name}-{run}/1");
        context.insert(
            name.clone(),
            json!({"user": format!("mimi://{domain}/u/{name}-{run}"), "client": uri}),
        );
        if !with_clients {
            continue;
        }
        let sim = SimClient::new(uri, mimi_mls::DEFAULT_CIPHERSUITE);
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
        let filled = crate::template::fill(&value.value, &roles_only).map_err(|e| {
            case.error_at(crate::yaml::Pos::of(value), format!("variable {name}: {e}"))
                .to_string()
        })?;
        context.insert(name.clone(), filled);
    }
    Ok(Actors {
        vars: minijinja::Value::from(minijinja::value::Serde(&context)),
        clients,
        last_arrival: HashMap::new(),
        domains,
        run,
    })
}

async fn run_steps(
    case: &Case,
    session: &Session,
    recorder: &mut Recorder<'_>,
) -> Result<(), String> {
    let mut actors = actors(case, session)?;
    recorder.record.run = actors.run.clone();
    recorder.record.roles = actors.domains.clone();
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
    step::run_steps(case, &case.spec.steps, session, &mut actors, recorder).await
}
