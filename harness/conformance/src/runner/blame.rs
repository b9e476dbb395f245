//! Which hop broke a requirement, and by whom: every broken requirement of a case is blamed on a
//! link and a provider. What the observer saw on link B is the strongest evidence; then the
//! catalogue, whose entry binds the requirement to a role (a hub's fan-out, a target's
//! KeyPackages) on a link; then the step whose expectation failed, which talked to one provider
//! over one link. A follower's client that reads messages out of order fails the same check
//! whether the hub fanned them out wrongly (link B) or the follower delivered them wrongly
//! (link C): with an observer that checks fan-out order and saw the case's link-B traffic in
//! order, the hub is cleared and the follower's link C is blamed.

use super::events::{Blame, BlameBasis, CaseRecord};
use crate::case::model::{DriverOperation, Link, Player, Role, Step, StepKind};
use crate::case::Case;
use crate::observer::{CaseTie, Observer};

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

/// Ties the observer's findings to the finished case (`record.observed`) and blames each broken
/// requirement on a link and a provider.
pub fn assign(case: &Case, record: &mut CaseRecord, observer: Option<&Observer>) {
    let traffic = observer.map(|o| {
        let transcript = serde_json::to_string(&record.transcript).unwrap_or_default();
        o.case_traffic(&CaseTie {
            run: &record.run,
            transcript: &transcript,
            from_ms: record.started_unix_ms,
            to_ms: crate::observer::unix_ms(),
        })
    });
    let steps = super::verdict::steps(case);
    let mut blames = Vec::new();
    for result in &record.requirements {
        if !result.verdict.is_broken() {
            blames.push(Vec::new());
            continue;
        }
        let id = result.requirement.id.as_str();
        let mut observed: Vec<Blame> = Vec::new();
        for f in traffic.iter().flat_map(|t| &t.findings) {
            let b = Blame {
                link: f.link.clone(),
                provider: f.provider.clone(),
                role: role_of(record, &f.provider),
                basis: BlameBasis::Observed,
            };
            if f.requirement == id && !observed.contains(&b) {
                observed.push(b);
            }
        }
        if !observed.is_empty() {
            blames.push(observed);
            continue;
        }
        let by_step = record
            .checks
            .iter()
            .filter(|c| c.requirements.iter().any(|r| r == id) && !c.failures.is_empty())
            .find_map(|c| hop(steps.get(c.step_index)?))
            .filter(|(_, role)| role.player != Player::Harness)
            .and_then(|(link, role)| blame(record, link, &role.name, BlameBasis::Step));
        let requirement = &result.requirement;
        let by_requirement = case_role(case, &requirement.role).and_then(|role| {
            let link = link_named(&requirement.link)?;
            blame(record, link, role, BlameBasis::Requirement)
        });
        // The observer checks this requirement on link B and saw the case's traffic there
        // without fault: the hop that broke it is another one.
        let cleared_on_b = by_requirement.as_ref().is_some_and(|b| b.link == "B")
            && traffic.as_ref().is_some_and(|t| t.crossed)
            && crate::observer::checks::CHECKED.contains(&id);
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
