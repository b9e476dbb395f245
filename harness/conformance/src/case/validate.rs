//! A case file read as written, its header checked (requirement ids, links, roles, variables),
//! and its steps made into the plan.

use super::fragment::Library;
use super::model::{Actors, Link, Origin, Spec, Step, StepKind};
use super::parse::{Context, Parser};
use super::{parse_duration, Case, LoadError, DEFAULT_CASE_TIMEOUT};
use crate::catalogue::{Catalogue, Requirement};
use crate::template;
use crate::yaml::Spanned;
use crate::yaml::{Node, Pos};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A case file as written; its steps are read by `parse`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CaseFile {
    title: String,
    checks: Vec<Spanned<String>>,
    links: Vec<Spanned<Link>>,
    actors: Actors,
    #[serde(default)]
    needs: Vec<Spanned<String>>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<Node>>,
    timeout: Option<Spanned<String>>,
    steps: Vec<Spanned<Node>>,
}

pub(super) fn case(
    id: String,
    file: &Path,
    source: String,
    catalogue: &Catalogue,
    library: &Library,
    fixtures: &Path,
) -> Result<Case, Vec<LoadError>> {
    let raw: CaseFile = serde_saphyr::from_str(&source)
        .map_err(|e| vec![LoadError::from_yaml(file, &source, &e)])?;
    let origin = Arc::new(Origin {
        file: file.to_path_buf(),
        source,
        used_at: Vec::new(),
    });
    let mut errors: Vec<(Pos, String)> = Vec::new();
    let requirements = header(&raw, &id, catalogue, &mut errors);
    let timeout = match &raw.timeout {
        None => DEFAULT_CASE_TIMEOUT,
        Some(t) => parse_duration(&t.value).unwrap_or_else(|e| {
            errors.push((Pos::of(t), e));
            DEFAULT_CASE_TIMEOUT
        }),
    };
    let base: BTreeSet<&str> = raw
        .actors
        .providers
        .keys()
        .chain(raw.actors.clients.keys())
        .map(String::as_str)
        .chain(template::BUILT_IN.iter().copied())
        .collect();
    // Case variables are filled in from the roles and clients alone.
    for (name, value) in &raw.vars {
        let mut strings = Vec::new();
        value.value.strings(Pos::of(value), &mut strings);
        for (s, pos) in strings {
            match template::names_used(s) {
                Ok(used) => {
                    let unknown: Vec<&str> = used
                        .iter()
                        .filter(|n| !base.contains(n.as_str()))
                        .map(String::as_str)
                        .collect();
                    if !unknown.is_empty() {
                        errors.push((
                            pos,
                            format!(
                                "undefined variable {} in variable {name}; case variables may use roles and clients only",
                                unknown.join(", ")
                            ),
                        ));
                    }
                }
                Err(e) => errors.push((pos, format!("invalid template: {e}"))),
            }
            for path in template::fixture_paths(s) {
                if let Err(e) = template::read_fixture(fixtures, path) {
                    errors.push((pos, e));
                }
            }
            for user in template::test_users(s) {
                if !super::model::declares_user(raw.needs.iter().map(|n| n.value.as_str()), user) {
                    errors.push((
                        pos,
                        format!(
                            "the case uses the test user {user:?}: add `users.{user}` to `needs`"
                        ),
                    ));
                }
            }
        }
    }
    let fixed: BTreeSet<&str> = base
        .iter()
        .copied()
        .chain(raw.vars.keys().map(String::as_str))
        .collect();
    let charge: Arc<[Requirement]> = requirements.clone().into();
    let (steps, parsed) = {
        let context = Context {
            actors: &raw.actors,
            catalogue,
            case_checks: raw.checks.iter().map(|c| c.value.as_str()).collect(),
            needs: raw.needs.iter().map(|n| n.value.as_str()).collect(),
            library,
            fixtures,
            fixed,
            base,
        };
        let mut parser = Parser::new(&context);
        let steps = parser.case_steps(origin.clone(), charge, &raw.steps);
        (steps, parser.finish())
    };
    // Steps with errors are not in the plan, and ids not in the catalogue are errors already.
    if parsed.errors.is_empty() {
        let cited: Vec<Spanned<String>> = raw
            .checks
            .iter()
            .filter(|id| catalogue.get(&id.value).is_some())
            .cloned()
            .collect();
        uncharged(&cited, &steps, &mut errors);
    }
    let mut all_errors: Vec<LoadError> = errors
        .into_iter()
        .map(|(pos, message)| origin.error_at(pos, message))
        .collect();
    all_errors.extend(parsed.errors);
    if !all_errors.is_empty() {
        return Err(all_errors);
    }
    let mut requirements = requirements;
    for r in parsed.fragment_requirements {
        if !requirements.iter().any(|q| q.id == r.id) {
            requirements.push(r);
        }
    }
    let CaseFile {
        title,
        checks,
        links,
        actors,
        needs,
        vars,
        ..
    } = raw;
    Ok(Case {
        id,
        file: PathBuf::from(file),
        origin,
        spec: Spec {
            title,
            checks,
            links,
            actors,
            needs,
            vars,
            steps,
        },
        requirements,
        timeout,
        fixtures: fixtures.to_path_buf(),
        fixed_templates: parsed.fixed_templates,
        fragments: parsed.fragment_origins,
    })
}

/// The header's checks; the requirements its ids name.
fn header(
    raw: &CaseFile,
    id: &str,
    catalogue: &Catalogue,
    errors: &mut Vec<(Pos, String)>,
) -> Vec<Requirement> {
    let top = Pos { line: 1, column: 1 };
    if raw.checks.is_empty() {
        errors.push((top, "`checks` must cite at least one requirement id".into()));
    }
    let mut requirements = Vec::new();
    for check in &raw.checks {
        match catalogue.get(&check.value) {
            Some(r) => requirements.push(r.clone()),
            None => errors.push((
                Pos::of(check),
                format!(
                    "{:?} is not a requirement id in cases/requirements.yaml",
                    check.value
                ),
            )),
        }
    }
    match raw.links.first() {
        None => errors.push((
            top,
            "`links` must name at least one link (A, B, C or D)".into(),
        )),
        Some(first) => {
            let folder = id.split("::").next().unwrap_or_default();
            if ["A", "B", "C", "D"].contains(&folder) && folder != first.value.name() {
                errors.push((
                    Pos::of(first),
                    format!(
                        "the case lives under {folder}/ but its first link is {}; cases are laid out by the link they are reported under",
                        first.value.name()
                    ),
                ));
            }
        }
    }
    if raw.actors.providers.is_empty() {
        errors.push((top, "`actors.providers` must name at least one role".into()));
    }
    for (name, client) in &raw.actors.clients {
        if !raw.actors.providers.contains_key(&client.value.on.value) {
            errors.push((
                Pos::of(&client.value.on),
                format!(
                    "client {name:?} is on {:?}, which is not a provider role of this case",
                    client.value.on.value
                ),
            ));
        }
    }
    for need in &raw.needs {
        if !super::model::known_need(&need.value) {
            errors.push((
                Pos::of(need),
                format!(
                    "{:?} is not something a profile declares: an endpoint ({}), a role (hub, follower, target), driver, harness-server, or users.<name> with an optional meaning (claimable, needs-consent, key-packages.<n>, found-by.<type>)",
                    need.value,
                    mimi_wire::messages::directory::ENDPOINTS.join(", "),
                ),
            ));
        }
    }
    if raw.steps.is_empty() {
        errors.push((top, "`steps` must have at least one step".into()));
    }
    requirements
}

/// A requirement the case cites must be judged by some expectation: one that every step charges
/// to other requirements could never get a verdict.
fn uncharged(checks: &[Spanned<String>], steps: &[Step], errors: &mut Vec<(Pos, String)>) {
    fn charged<'a>(steps: &'a [Step], out: &mut BTreeSet<&'a str>) {
        for step in steps {
            let expect = match &step.kind {
                StepKind::Call(c) => c.outcome.expect.as_ref(),
                StepKind::Driver(d) => d.outcome.expect.as_ref(),
                StepKind::Receive(r) => r.outcome.expect.as_ref(),
                StepKind::Mls(m) => m.outcome.expect.as_ref(),
                StepKind::Parallel(inner) => {
                    charged(inner, out);
                    continue;
                }
                StepKind::Use(fragment) => {
                    charged(&fragment.steps, out);
                    continue;
                }
                StepKind::Assert(_) => None,
                StepKind::Answer(_) => continue,
            };
            let charge = expect.map_or(&step.charge, |e| &e.charge);
            out.extend(charge.iter().map(|r| r.id.as_str()));
        }
    }
    let mut judged = BTreeSet::new();
    charged(steps, &mut judged);
    for id in checks {
        if !judged.contains(id.value.as_str()) {
            errors.push((
                Pos::of(id),
                format!(
                    "the case checks {}, but every step charges its expectations to other requirements: no expectation judges it",
                    id.value
                ),
            ));
        }
    }
}
