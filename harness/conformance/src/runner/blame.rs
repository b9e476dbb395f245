//! Which hop broke a requirement, and by whom: every broken requirement of a case is blamed on a
//! link and a provider. What the observer saw on link B is the strongest evidence: a finding
//! against the requirement, or against another requirement the same failed check judges (the
//! check failed because of what crossed link B). Without one, when the observer saw the case's
//! link-B traffic and found nothing wrong in it (or nothing wrong with this requirement, which
//! it checks, while the provider the catalogue binds it to on link B sent nothing offending
//! there), link B is cleared and the step whose expectation failed names the hop: the
//! provider it talked to, over its link. Otherwise the catalogue, whose entry binds the
//! requirement to a role (a hub's fan-out, a target's KeyPackages) on a link, comes first, then
//! the step. A follower's client that reads messages out of order fails the same check whether
//! the hub fanned them out wrongly (link B) or the follower delivered them wrongly (link C):
//! the observer tells the two apart.

use super::events::{Blame, BlameBasis, CaseRecord, CheckOutcome};
use super::Session;
use crate::case::model::{DriverOperation, Link, Player, Role, Step, StepKind};
use crate::case::Case;
use crate::observer::{CaseTie, CaseTraffic, Finding};

/// The link a driver operation stands for: what a client was given comes over link C (its
/// received messages, its view of a room); what it does goes over link A.
pub fn driver_link(operation: &str) -> Link {
    if [
        DriverOperation::ReceivedMessages.name(),
        DriverOperation::RoomState.name(),
    ]
    .contains(&operation)
    {
        Link::C
    } else {
        Link::A
    }
}

/// The link and the provider role a step talks to, if it talks to a provider.
fn hop(step: &Step) -> Option<(Link, &Role)> {
    match &step.kind {
        StepKind::Call(c) => Some((Link::B, &c.on)),
        StepKind::Receive(r) => Some((Link::B, &r.by)),
        StepKind::Driver(d) => Some((driver_link(d.operation.name()), &d.on)),
        StepKind::Mls(m) => Some((Link::D, &m.on)),
        StepKind::Answer(_) | StepKind::Parallel(_) | StepKind::Assert(_) | StepKind::Use(_) => {
            None
        }
    }
}

/// The case's provider role named by a catalogue `role` ("hub (as client)", "hub-originated",
/// "target (consent)"), when a provider under test plays it: the harness is never blamed.
fn case_role<'c>(case: &'c Case, catalogue_role: &str) -> Option<&'c str> {
    let word: String = catalogue_role
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    case.spec
        .actors
        .providers
        .iter()
        .find(|(name, player)| **name == word && player.value != Player::Harness)
        .map(|(name, _)| name.as_str())
}

fn link_named(text: &str) -> Option<Link> {
    match text.chars().next()? {
        'A' => Some(Link::A),
        'B' => Some(Link::B),
        'C' => Some(Link::C),
        'D' => Some(Link::D),
        _ => None,
    }
}

fn blame(record: &CaseRecord, link: Link, role: &str, basis: BlameBasis) -> Option<Blame> {
    Some(Blame {
        link: link.name().to_string(),
        provider: record.roles.get(role)?.clone(),
        role: Some(role.to_string()),
        basis,
    })
}

/// The role a domain plays in the case, if one.
fn role_of(record: &CaseRecord, domain: &str) -> Option<String> {
    record
        .roles
        .iter()
        .find(|(_, d)| *d == domain)
        .map(|(r, _)| r.clone())
}

/// What crossed link B for a case that just ended, once the session's providers say they have
/// sent all it set off (`Observer::settled_case_traffic`); None without an observer.
pub fn settled_traffic(session: &Session, case: &CaseTie<'_>) -> Option<CaseTraffic> {
    let observer = session.observer.as_deref()?;
    let idle = |rooms: &[String], within| {
        // A case that names no room has nothing of its own queued: what a provider sends of
        // its own accord is a room's fan-out, and what it relays is answered before the step
        // that set it off ends. Asking without rooms would wait for every other case's work.
        rooms.is_empty()
            || session.runtime.block_on(super::quiet::idle(
                &session.connections,
                Some(rooms),
                within,
            ))
    };
    Some(observer.settled_case_traffic(case, idle))
}

/// A request's URL and body, and its answer's body.
type Sent<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);

/// The words of a transcript (`observer::names`), reading a request sent again with the same
/// URL and body, and answered with the same body, only once: a step repeated until its
/// expectations hold can make hundreds, and reading one decodes its bodies. Only their headers
/// could differ, and headers name no room.
fn transcript_words(transcript: &[super::events::Exchange]) -> std::collections::HashSet<String> {
    use super::events::Interaction;
    let mut read: std::collections::HashSet<Sent<'_>> = Default::default();
    crate::observer::names::words_of_each(transcript.iter().filter(|exchange| {
        let sent = match &exchange.interaction {
            Interaction::LinkB {
                request, response, ..
            }
            | Interaction::Driver {
                request, response, ..
            } => Some((
                request.url.as_str(),
                request.body.bytes.as_slice(),
                response.as_ref().map(|r| r.body.bytes.as_slice()),
            )),
            _ => None,
        };
        sent.is_none_or(|sent| read.insert(sent))
    }))
}

/// Ties the observer's findings to the finished case (`record.observed`) and blames each broken
/// requirement on a link and a provider.
pub fn assign(case: &Case, record: &mut CaseRecord, session: &Session) {
    // The transcript's words are what tie exchanges to the case; without an observer there is
    // nothing to tie, and reading them would decode every body on the step path's behalf.
    let traffic = session
        .observer
        .is_some()
        .then(|| {
            let names = transcript_words(&record.transcript);
            settled_traffic(
                session,
                &CaseTie {
                    run: &record.run,
                    names: &names,
                    from_ms: record.started_unix_ms,
                    to_ms: crate::observer::unix_ms(),
                },
            )
        })
        .flatten();
    let steps = super::verdict::plan_steps(case);
    let findings: &[Finding] = traffic.as_ref().map_or(&[], |t| &t.findings);
    let mut blames = Vec::new();
    for result in &record.requirements {
        if !result.verdict.is_broken() {
            blames.push(Vec::new());
            continue;
        }
        let id = result.requirement.id.as_str();
        // The failed checks that judged it broken.
        let failed: Vec<_> = record
            .checks
            .iter()
            .filter(|c| c.outcome == CheckOutcome::Fail && c.requirements.iter().any(|r| r == id))
            .collect();
        // What the observer saw break it, or break another requirement one of those checks
        // judges: the check failed because of what crossed link B.
        let mut observed: Vec<Blame> = Vec::new();
        let judged_with =
            |r: &str| r == id || failed.iter().any(|c| c.requirements.iter().any(|q| q == r));
        for own in [true, false] {
            for f in findings
                .iter()
                .filter(|f| (f.requirement == id) == own && judged_with(&f.requirement))
            {
                let b = Blame {
                    link: f.link.clone(),
                    provider: f.provider.clone(),
                    role: role_of(record, &f.provider),
                    basis: BlameBasis::Observed,
                };
                if !observed.contains(&b) {
                    observed.push(b);
                }
            }
            if !observed.is_empty() {
                break;
            }
        }
        if !observed.is_empty() {
            blames.push(observed);
            continue;
        }
        let by_step = failed
            .iter()
            .find_map(|c| hop(steps.get(c.step_index)?))
            .filter(|(_, role)| role.player != Player::Harness)
            .and_then(|(link, role)| blame(record, link, &role.name, BlameBasis::Step));
        let requirement = &result.requirement;
        let by_requirement = case_role(case, &requirement.role).and_then(|role| {
            let link = link_named(&requirement.link)?;
            blame(record, link, role, BlameBasis::Requirement)
        });
        // The observer saw the case's link-B traffic and found nothing wrong in it, or nothing
        // wrong with this requirement, which it checks: link B is cleared, and the hop where
        // the check failed is the one that broke it. Unless the provider the catalogue binds
        // the requirement to on link B was seen sending offending messages there in this
        // case's traffic: the observer checks only part of some requirements (FAN-51's
        // timestamps, not its frank), and a hub that fans out without franks (SUB-41) fails a
        // follower's check charged to FAN-51; the correct follower is not the one to blame.
        let offender_on_b = by_requirement.as_ref().is_some_and(|b| {
            b.link == Link::B.name() && findings.iter().any(|f| f.provider == b.provider)
        });
        let cleared_on_b = !offender_on_b
            && traffic.as_ref().is_some_and(|t| {
                t.crossed()
                    && (t.findings.is_empty() || crate::observer::checks::CHECKED.contains(&id))
            });
        let chosen = if cleared_on_b {
            by_step.or(by_requirement)
        } else {
            by_requirement.or(by_step)
        }
        .or_else(|| {
            let (role, _) = case
                .spec
                .actors
                .providers
                .iter()
                .find(|(_, p)| p.value == Player::UnderTest)?;
            blame(record, case.link(), role, BlameBasis::UnderTest)
        });
        blames.push(chosen.into_iter().collect());
    }
    for (result, blame) in record.requirements.iter_mut().zip(blames) {
        result.blame = blame;
    }
    record.observed = traffic.map(|t| t.findings).unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::transcript_words;

    #[test]
    fn a_transcript_read_once_per_repeated_request_names_what_it_all_names() {
        use crate::runner::events::{Interaction, Verdict};
        let mut transcript =
            crate::report::sample::record("mimi://a.example/r/x", Verdict::Fail).transcript;
        let every = crate::observer::names::words(&transcript);
        assert!(every.contains("mimi://a.example/r/x"));
        assert_eq!(transcript_words(&transcript), every);
        // The same request again, answered the same, adds no word: it is not read again.
        let again = transcript
            .iter()
            .find(|e| matches!(e.interaction, Interaction::LinkB { .. }))
            .cloned()
            .unwrap();
        transcript.push(again.clone());
        assert_eq!(transcript_words(&transcript), every);
        // A new URL is read.
        let mut other = again;
        if let Interaction::LinkB { request, .. } = &mut other.interaction {
            request.url = "https://b.example/v1/notify/mimi://b.example/r/new".into();
        }
        transcript.push(other);
        assert!(transcript_words(&transcript)
            .contains("https://b.example/v1/notify/mimi://b.example/r/new"));
    }
}
