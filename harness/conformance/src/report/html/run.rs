//! The site of one run (`run`, and each cell of a matrix): an index with the verdicts per link,
//! per requirement and per case, a page per case (its requirements with who broke them where,
//! its steps and expectations, what the observer saw, its transcript decoded and folded), and
//! a page per requirement with every verdict on it.

use super::{counts, cut, slug, tokens, Count, Crumb, Filters, Page, Site, LINKS, VERDICTS};
use crate::catalogue::Catalogue;
use crate::observer::{Finding, ObserverReport};
use crate::report::console;
use crate::runner::events::{Blame, CaseRecord, CheckOutcome, Exchange, Interaction};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What a run's site shows.
pub struct RunSite<'a> {
    pub title: &'a str,
    pub records: &'a [CaseRecord],
    /// Requirement texts for what the observer found beyond the cases' own requirements.
    pub catalogue: Option<&'a Catalogue>,
    pub observer: Option<&'a ObserverReport>,
    pub strict: bool,
    /// How the run ended, when the index must say it: a run in progress, stopped or that could
    /// not start, or one that finished with a note (its filter selected nothing).
    pub ending: Option<Ending>,
    /// Where the site lives inside the top site (`cells/<cell>/` in a matrix; empty for a
    /// run), and the header's trail to it.
    pub prefix: &'a str,
    pub home: &'a str,
    pub crumbs: Vec<(String, String)>,
    /// The JSON reports beside the index, linked from it.
    pub results: Option<&'a str>,
    pub observer_json: Option<&'a str>,
    /// What a verified bundle certifies, when the site shows one (`verify --html`).
    pub certification: Option<&'a super::verify::Certification>,
}

impl RunSite<'_> {
    fn page<'p>(&'p self, path: &'p str, title: &'p str, depth_in_site: usize) -> Page<'p> {
        let up = "../".repeat(depth_in_site);
        Page {
            path,
            title,
            home: self.home,
            crumbs: self
                .crumbs
                .iter()
                .map(|(href, text)| Crumb {
                    href: format!("{up}{href}"),
                    text: text.clone(),
                })
                .collect(),
        }
    }
}

/// How a run ended, as the site's index says it above the verdicts.
#[derive(Serialize, Clone, Debug)]
pub struct Ending {
    /// `in-progress`, `finished`, `interrupted`, `terminated`, `timed-out`, `could-not-start`.
    pub state: String,
    pub reason: Option<String>,
}

/// The file of a case's page (and of its transcript's later pages), from the site's folder.
pub fn case_path(id: &str, page: usize) -> String {
    match page {
        0 => format!("cases/{}.html", slug(id)),
        n => format!("cases/{}.{}.html", slug(id), n + 1),
    }
}

pub fn requirement_path(id: &str) -> String {
    format!("requirements/{}.html", slug(id))
}

/// `KM-12 (MUST): a.example (target) on link B, observed`.
pub fn blame_line(id: &str, level: &str, blame: &Blame) -> String {
    let role = blame
        .role
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "{id} ({level}): {}{role} on link {}, {}",
        blame.provider,
        blame.link,
        blame.basis.name()
    )
}

/// The blames of a case's broken requirements, one line each (a requirement broken with no
/// provider to blame still shows), then what the observer saw broken that the case's
/// verdicts do not say.
pub fn case_blames(record: &CaseRecord) -> Vec<String> {
    let mut lines: Vec<String> = record
        .broken()
        .flat_map(|r| {
            let level = r.requirement.level.name();
            let id = r.requirement.id.as_str();
            if r.blame.is_empty() {
                vec![format!("{id} ({level})")]
            } else {
                r.blame.iter().map(|b| blame_line(id, level, b)).collect()
            }
        })
        .collect();
    let judged: BTreeSet<(&str, &str)> = record
        .broken()
        .flat_map(|r| {
            r.blame
                .iter()
                .map(|b| (r.requirement.id.as_str(), b.provider.as_str()))
        })
        .collect();
    let mut seen = BTreeSet::new();
    for f in &record.observed {
        let key = (f.requirement.as_str(), f.provider.as_str());
        if !judged.contains(&key) && seen.insert(key) {
            lines.push(format!(
                "{}: {} on link {}, seen by the observer",
                f.requirement, f.provider, f.link
            ));
        }
    }
    lines
}

/// The domains a case involves, for the provider filter.
pub fn case_providers(record: &CaseRecord) -> String {
    let blamed = record
        .requirements
        .iter()
        .flat_map(|r| &r.blame)
        .map(|b| b.provider.as_str());
    let observed = record.observed.iter().map(|f| f.provider.as_str());
    let mut out = tokens(
        record
            .roles
            .values()
            .map(String::as_str)
            .chain(blamed)
            .chain(observed),
    );
    if out.is_empty() {
        out = tokens(record.provider.split_whitespace());
    }
    out
}

/// The links a case is about, and those its broken requirements were blamed on.
pub fn case_links(record: &CaseRecord) -> String {
    tokens(
        record.links.iter().map(String::as_str).chain(
            record
                .requirements
                .iter()
                .flat_map(|r| &r.blame)
                .map(|b| b.link.as_str()),
        ),
    )
}

#[derive(Serialize)]
struct CaseRow {
    id: String,
    slug: String,
    href: String,
    title: String,
    verdict: &'static str,
    links: String,
    filter_links: String,
    providers: String,
    blame: Vec<String>,
    error: Option<String>,
    duration_ms: u64,
}

#[derive(Serialize)]
struct Blamed {
    provider: String,
    requirements: Vec<String>,
}

#[derive(Serialize)]
struct LinkRow {
    link: &'static str,
    counts: Vec<Count>,
    verdicts: String,
    providers: String,
    blamed: Vec<Blamed>,
}

#[derive(Serialize)]
struct RequirementRow {
    id: String,
    href: String,
    level: String,
    link: String,
    links: String,
    counts: Vec<Count>,
    verdicts: String,
    providers: String,
    blamed: Vec<String>,
}

#[derive(Serialize)]
struct ObserverSummary {
    exchanges: u64,
    findings: u64,
    json: String,
}

#[derive(Serialize)]
struct IndexContext<'a> {
    title: &'a str,
    providers: Vec<String>,
    strict: bool,
    ending: Option<&'a Ending>,
    certification: Option<&'a super::verify::Certification>,
    verdict_counts: Vec<Count>,
    results: Option<&'a str>,
    observer: Option<ObserverSummary>,
    filters_form: minijinja::Value,
    links: Vec<LinkRow>,
    requirements: Vec<RequirementRow>,
    cases: Vec<CaseRow>,
}

/// Writes the run's site into `dir` (its pages under `site.prefix`).
pub fn write(dir: &Path, site: &RunSite<'_>) -> anyhow::Result<()> {
    let html = Site::new();
    super::write_assets(dir)?;
    let records = site.records;
    let cases: Vec<CaseRow> = records
        .iter()
        .map(|r| CaseRow {
            id: r.id.clone(),
            slug: slug(&r.id),
            href: case_path(&r.id, 0),
            title: r.title.clone(),
            verdict: r.verdict.name(),
            links: r.links.join(" "),
            filter_links: case_links(r),
            providers: case_providers(r),
            blame: case_blames(r),
            error: r.error.clone(),
            duration_ms: r.duration.as_millis() as u64,
        })
        .collect();
    let links = LINKS
        .iter()
        .map(|link| {
            let about: Vec<&CaseRecord> = records
                .iter()
                .filter(|r| r.links.iter().any(|l| l == link))
                .collect();
            let mut blamed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for r in records {
                for q in r.broken() {
                    for b in q.blame.iter().filter(|b| b.link == *link) {
                        blamed
                            .entry(b.provider.as_str())
                            .or_default()
                            .insert(q.requirement.id.as_str());
                    }
                }
            }
            LinkRow {
                link,
                counts: counts(about.iter().map(|r| r.verdict.name())),
                verdicts: tokens(about.iter().map(|r| r.verdict.name())),
                providers: tokens(blamed.keys().copied()),
                blamed: blamed
                    .into_iter()
                    .map(|(provider, ids)| Blamed {
                        provider: provider.to_string(),
                        requirements: ids.into_iter().map(str::to_string).collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    let requirements = requirement_rows(records);
    let mut providers: Vec<String> = records.iter().map(|r| r.provider.clone()).collect();
    providers.dedup();
    let providers: Vec<String> = providers
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let filters = Filters {
        links: LINKS.iter().map(|l| l.to_string()).collect(),
        verdicts: VERDICTS.iter().map(|v| v.to_string()).collect(),
        providers: filter_providers(records),
    };
    // The pages first, the index that links to them last.
    for record in records {
        write_case(dir, &html, site, record)?;
    }
    write_requirements(dir, &html, site, records, &filters)?;
    let index = format!("{}index.html", site.prefix);
    html.write_page(
        dir,
        site.page(&index, site.title, 0),
        "run_index.html",
        IndexContext {
            title: site.title,
            providers,
            strict: site.strict,
            ending: site.ending.as_ref(),
            certification: site.certification,
            verdict_counts: counts(records.iter().map(|r| r.verdict.name())),
            results: site.results,
            observer: site.observer.map(|o| ObserverSummary {
                exchanges: o.exchanges_seen,
                findings: o.finding_counts.values().sum(),
                json: site.observer_json.unwrap_or("observer.json").to_string(),
            }),
            filters_form: html.filters(&filters)?,
            links,
            requirements,
            cases,
        },
    )?;
    Ok(())
}

/// The providers a filter can pick in these records.
pub fn filter_providers(records: &[CaseRecord]) -> Vec<String> {
    let mut all = BTreeSet::new();
    for r in records {
        all.extend(case_providers(r).split(' ').map(str::to_string));
    }
    all.remove("");
    all.into_iter().collect()
}

fn requirement_rows(records: &[CaseRecord]) -> Vec<RequirementRow> {
    let mut by_id: BTreeMap<&str, Vec<(&CaseRecord, usize)>> = BTreeMap::new();
    for r in records {
        for (i, q) in r.requirements.iter().enumerate() {
            by_id
                .entry(q.requirement.id.as_str())
                .or_default()
                .push((r, i));
        }
    }
    by_id
        .into_iter()
        .map(|(id, uses)| {
            let first = &uses[0].0.requirements[uses[0].1].requirement;
            let results: Vec<_> = uses.iter().map(|(r, i)| &r.requirements[*i]).collect();
            let blames: Vec<&Blame> = results.iter().flat_map(|q| &q.blame).collect();
            let mut blamed: Vec<String> = blames
                .iter()
                .map(|b| format!("{} on link {}", b.provider, b.link))
                .collect();
            blamed.sort();
            blamed.dedup();
            RequirementRow {
                id: id.to_string(),
                href: requirement_path(id),
                level: first.level.name().to_string(),
                link: first.link.clone(),
                links: tokens(
                    first
                        .link
                        .get(..1)
                        .into_iter()
                        .chain(blames.iter().map(|b| b.link.as_str())),
                ),
                counts: counts(results.iter().map(|q| q.verdict.name())),
                verdicts: tokens(results.iter().map(|q| q.verdict.name())),
                providers: tokens(
                    uses.iter()
                        .flat_map(|(r, _)| r.roles.values().map(String::as_str))
                        .chain(blames.iter().map(|b| b.provider.as_str())),
                ),
                blamed,
            }
        })
        .collect()
}

#[derive(Serialize)]
struct RoleView {
    role: String,
    domain: String,
}

#[derive(Serialize)]
struct InconclusiveView {
    step: String,
    reason: String,
    remedy: String,
}

#[derive(Serialize)]
struct RequirementView {
    id: String,
    href: String,
    level: &'static str,
    citation: String,
    text: String,
    verdict: &'static str,
    blame: Vec<String>,
}

#[derive(Serialize)]
struct FailureView {
    location: String,
    subject: String,
    message: String,
    source: Option<String>,
}

#[derive(Serialize, Default)]
struct StepView {
    index: usize,
    name: String,
    hop: String,
    attempts: usize,
    requirements: Vec<String>,
    outcome: Option<&'static str>,
    failures: Vec<FailureView>,
}

#[derive(Serialize)]
pub(super) struct FindingView {
    pub href: String,
    pub requirement: String,
    pub provider: String,
    pub exchange: u64,
    pub endpoint: String,
    pub message: String,
    pub verdict: String,
}

impl FindingView {
    pub(super) fn new(f: &Finding, href: String, verdict: &str) -> Self {
        Self {
            href,
            requirement: f.requirement.clone(),
            provider: f.provider.clone(),
            exchange: f.exchange,
            endpoint: f.endpoint.clone().unwrap_or_default(),
            message: f.message.clone(),
            verdict: verdict.to_string(),
        }
    }
}

#[derive(Serialize)]
struct CaseView {
    id: String,
    title: String,
    verdict: &'static str,
    file: String,
    provider: String,
    draft: String,
    roles: Vec<RoleView>,
    links: String,
    run: String,
    duration_ms: u64,
    expectation: Option<String>,
    error: Option<String>,
    inconclusive: Option<InconclusiveView>,
    requirements: Vec<RequirementView>,
    steps: Vec<StepView>,
    observed: Vec<FindingView>,
}

#[derive(Serialize)]
struct ExchangeView {
    pub number: usize,
    pub summary: String,
    pub text: String,
    pub cut: Option<String>,
    pub open: bool,
}

#[derive(Serialize)]
struct PageLink {
    pub number: usize,
    pub href: String,
    pub current: bool,
}

#[derive(Serialize)]
struct CasePage<'a> {
    case: &'a CaseView,
    transcript: Vec<ExchangeView>,
    pages: Vec<PageLink>,
}

/// The link an exchange crossed, as its kind says.
fn hop(e: &Exchange) -> String {
    match &e.interaction {
        Interaction::LinkB { .. } | Interaction::Received { .. } => "B".into(),
        Interaction::Driver { operation, .. } => {
            crate::runner::blame::driver_link(operation).name().into()
        }
        Interaction::Mls { .. } => "D".into(),
        Interaction::Scripted { .. } => "B (scripted)".into(),
        Interaction::Assert { .. } => "-".into(),
    }
}

/// One line for a folded exchange.
fn summary(e: &Exchange) -> String {
    let attempt = if e.attempt > 1 {
        format!(" (attempt {})", e.attempt)
    } else {
        String::new()
    };
    let answer = |status: Option<u16>, failure: Option<&str>| match (status, failure) {
        (Some(s), _) => format!("→ {s}"),
        (None, Some(f)) => format!("→ no answer: {}", cut(f, 120).0),
        (None, None) => "→ no answer".into(),
    };
    let what = match &e.interaction {
        Interaction::LinkB {
            request, failure, ..
        } => format!(
            "{} {} {}",
            request.method,
            cut(&request.url, 160).0,
            answer(e.status(), failure.as_ref().map(|f| f.message.as_str()))
        ),
        Interaction::Driver {
            operation, failure, ..
        } => format!(
            "driver {operation} {}",
            answer(e.status(), failure.as_ref().map(|f| f.message.as_str()))
        ),
        Interaction::Received {
            endpoint,
            key,
            request,
            ..
        } => match request {
            Some(r) => format!(
                "received {endpoint} for {}, answered {}",
                cut(key, 120).0,
                r.answered
            ),
            None => format!("waited for {endpoint} for {} in vain", cut(key, 120).0),
        },
        Interaction::Scripted {
            endpoint, status, ..
        } => format!("the harness will answer {endpoint} with {status}"),
        Interaction::Assert { values } => format!("assert {} value(s)", values.len()),
        Interaction::Mls {
            client, operation, ..
        } => format!("{client}: {operation}"),
    };
    format!(
        "step “{}”{attempt}, link {}: {what} ({} ms)",
        e.step,
        hop(e),
        e.millis
    )
}

fn case_view(record: &CaseRecord) -> CaseView {
    let mut steps: BTreeMap<usize, StepView> = BTreeMap::new();
    for e in &record.transcript {
        let step = steps.entry(e.step_index).or_insert_with(|| StepView {
            index: e.step_index,
            name: e.step.clone(),
            hop: hop(e),
            ..StepView::default()
        });
        step.attempts += 1;
    }
    for c in &record.checks {
        let step = steps.entry(c.step_index).or_insert_with(|| StepView {
            index: c.step_index,
            name: c.step.clone(),
            hop: "-".into(),
            ..StepView::default()
        });
        step.requirements = c.requirements.clone();
        step.outcome = Some(match c.outcome {
            CheckOutcome::Pass => "pass",
            CheckOutcome::Fail => "fail",
            CheckOutcome::Inconclusive => "inconclusive",
        });
        step.failures = c
            .failures
            .iter()
            .map(|f| FailureView {
                location: format!(
                    "{}:{}:{}",
                    f.location.file, f.location.line, f.location.column
                ),
                subject: f.subject.clone(),
                message: f.message.clone(),
                source: (!f.location.source_line.is_empty())
                    .then(|| f.location.source_line.clone()),
            })
            .collect();
    }
    CaseView {
        id: record.id.clone(),
        title: record.title.clone(),
        verdict: record.verdict.name(),
        file: record.file.clone(),
        provider: record.provider.clone(),
        draft: record.draft.clone(),
        roles: record
            .roles
            .iter()
            .map(|(role, domain)| RoleView {
                role: role.clone(),
                domain: domain.clone(),
            })
            .collect(),
        links: record.links.join(" "),
        run: record.run.clone(),
        duration_ms: record.duration.as_millis() as u64,
        expectation: record.expectation.as_ref().map(ToString::to_string),
        error: record.error.clone(),
        inconclusive: record.inconclusive().map(|(c, why)| InconclusiveView {
            step: c.step.clone(),
            reason: why.reason.clone(),
            remedy: why.remedy.clone(),
        }),
        requirements: record
            .requirements
            .iter()
            .map(|q| RequirementView {
                id: q.requirement.id.clone(),
                href: format!("../{}", requirement_path(&q.requirement.id)),
                level: q.requirement.level.name(),
                citation: q.requirement.citation(),
                text: q.requirement.text.clone(),
                verdict: q.verdict.name(),
                blame: q
                    .blame
                    .iter()
                    .map(|b| blame_line(&q.requirement.id, q.requirement.level.name(), b))
                    .collect(),
            })
            .collect(),
        steps: steps.into_values().collect(),
        observed: record
            .observed
            .iter()
            .map(|f| {
                FindingView::new(
                    f,
                    format!("../{}", requirement_path(&f.requirement)),
                    "fail",
                )
            })
            .collect(),
    }
}

/// Exchanges as folded entries: the text cut, and the last attempt of each step that did not
/// pass unfolded (`unfold` holds their numbers in the transcript).
fn exchange_views<'e>(
    exchanges: impl Iterator<Item = (usize, &'e Exchange)>,
    unfold: &BTreeSet<usize>,
) -> Vec<ExchangeView> {
    exchanges
        .map(|(i, e)| {
            let (text, cut_note) = cut(&console::exchange(e), super::MAX_EXCHANGE_TEXT);
            ExchangeView {
                number: i + 1,
                summary: summary(e),
                text,
                cut: cut_note,
                open: unfold.contains(&i),
            }
        })
        .collect()
}

/// The place in the transcript of the last attempt of each step whose expectations did not
/// hold: what a reader opens the page for.
fn last_attempts_of_failed_steps(record: &CaseRecord) -> BTreeSet<usize> {
    let failed: BTreeSet<usize> = record
        .checks
        .iter()
        .filter(|c| c.outcome != CheckOutcome::Pass)
        .map(|c| c.step_index)
        .collect();
    let mut last: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, e) in record.transcript.iter().enumerate() {
        if failed.contains(&e.step_index) {
            last.insert(e.step_index, i);
        }
    }
    last.into_values().collect()
}

fn write_case(
    dir: &Path,
    html: &Site,
    site: &RunSite<'_>,
    record: &CaseRecord,
) -> anyhow::Result<()> {
    let view = case_view(record);
    let unfold = last_attempts_of_failed_steps(record);
    let chunks: Vec<&[Exchange]> = if record.transcript.is_empty() {
        vec![&[]]
    } else {
        record
            .transcript
            .chunks(super::EXCHANGES_PER_PAGE)
            .collect()
    };
    let title = format!("{} — {}", record.id, record.verdict.name());
    for (page, chunk) in chunks.iter().enumerate() {
        let pages = (0..chunks.len())
            .map(|n| PageLink {
                number: n + 1,
                href: case_path(&record.id, n)
                    .trim_start_matches("cases/")
                    .to_string(),
                current: n == page,
            })
            .collect();
        let first = page * super::EXCHANGES_PER_PAGE;
        let path = format!("{}{}", site.prefix, case_path(&record.id, page));
        html.write_page(
            dir,
            site.page(&path, &title, 1),
            "case.html",
            CasePage {
                case: &view,
                transcript: exchange_views(
                    chunk.iter().enumerate().map(|(i, e)| (first + i, e)),
                    &unfold,
                ),
                pages,
            },
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
pub(super) struct RequirementHeader {
    pub id: String,
    pub level: String,
    pub citation: String,
    pub link: String,
    pub role: String,
    pub text: String,
}

impl RequirementHeader {
    pub(super) fn of(id: &str, known: Option<&crate::catalogue::Requirement>) -> Self {
        match known {
            Some(q) => Self {
                id: q.id.clone(),
                level: q.level.name().to_string(),
                citation: q.citation(),
                link: q.link.clone(),
                role: q.role.clone(),
                text: q.text.clone(),
            },
            None => Self {
                id: id.to_string(),
                level: "?".into(),
                citation: "not in the catalogue".into(),
                link: "?".into(),
                role: "?".into(),
                text: String::new(),
            },
        }
    }
}

#[derive(Serialize)]
pub(super) struct VerdictRow {
    pub cell: String,
    pub cell_href: String,
    pub case: String,
    pub href: String,
    pub verdict: String,
    pub links: String,
    pub providers: String,
    pub blame: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct RequirementPage {
    pub req: RequirementHeader,
    pub filters_form: minijinja::Value,
    pub with_cells: bool,
    pub verdicts: Vec<VerdictRow>,
    pub observed: Vec<FindingView>,
}

fn write_requirements(
    dir: &Path,
    html: &Site,
    site: &RunSite<'_>,
    records: &[CaseRecord],
    filters: &Filters,
) -> anyhow::Result<()> {
    let mut ids: BTreeSet<&str> = records
        .iter()
        .flat_map(|r| r.requirements.iter().map(|q| q.requirement.id.as_str()))
        .collect();
    let run_findings: &[Finding] = site.observer.map_or(&[], |o| &o.findings);
    ids.extend(run_findings.iter().map(|f| f.requirement.as_str()));
    ids.extend(
        records
            .iter()
            .flat_map(|r| &r.observed)
            .map(|f| f.requirement.as_str()),
    );
    for id in ids {
        let known = records
            .iter()
            .flat_map(|r| &r.requirements)
            .map(|q| &q.requirement)
            .find(|q| q.id == id)
            .or_else(|| site.catalogue.and_then(|c| c.requirements.get(id)));
        let verdicts = records
            .iter()
            .filter_map(|r| {
                let q = r.requirements.iter().find(|q| q.requirement.id == id)?;
                Some(VerdictRow {
                    cell: String::new(),
                    cell_href: String::new(),
                    case: r.id.clone(),
                    href: format!("../{}", case_path(&r.id, 0)),
                    verdict: q.verdict.name().to_string(),
                    links: case_links(r),
                    providers: case_providers(r),
                    blame: q
                        .blame
                        .iter()
                        .map(|b| blame_line(id, q.requirement.level.name(), b))
                        .collect(),
                })
            })
            .collect();
        let level = known.map(|q| q.level);
        let observed = run_findings
            .iter()
            .filter(|f| f.requirement == id)
            .map(|f| {
                let verdict = level
                    .map(crate::runner::events::RequirementVerdict::broken)
                    .map_or("fail", |v| v.name());
                FindingView::new(f, String::new(), verdict)
            })
            .collect();
        let path = format!("{}{}", site.prefix, requirement_path(id));
        let title = format!("{id} — {}", site.title);
        html.write_page(
            dir,
            site.page(&path, &title, 1),
            "requirement.html",
            RequirementPage {
                req: RequirementHeader::of(id, known),
                filters_form: html.filters(filters)?,
                with_cells: false,
                verdicts,
                observed,
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::record;
    use crate::runner::events::{BlameBasis, RequirementVerdict, Verdict};

    /// A provider's bytes in every field a page shows are text on the page: no markup gets
    /// through, on the index, the case page or the requirement page.
    #[test]
    fn a_hostile_provider_cannot_put_markup_in_the_site() {
        let hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>";
        let mut r = record(hostile, Verdict::Fail);
        r.requirements[0].verdict = RequirementVerdict::Fail;
        r.requirements[0].blame = vec![Blame {
            link: "B".into(),
            provider: hostile.into(),
            role: Some(hostile.into()),
            basis: BlameBasis::Observed,
        }];
        // A bundle's certification is the signer's text too.
        let certification = super::super::verify::Certification {
            bundle: hostile.into(),
            provider: hostile.into(),
            domain: hostile.into(),
            version: hostile.into(),
            peer: Some(hostile.into()),
            result: hostile.into(),
            scope: hostile.into(),
            not_declared: vec![hostile.into()],
            unsupported: vec![hostile.into()],
            warnings: vec![hostile.into()],
            keyid: hostile.into(),
            ..Default::default()
        };
        let dir = std::env::temp_dir().join(format!("mimi-html-hostile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(
            &dir,
            &RunSite {
                title: hostile,
                records: &[r],
                catalogue: None,
                observer: None,
                strict: false,
                ending: None,
                prefix: "",
                home: "run",
                crumbs: vec![],
                results: Some("results.json"),
                observer_json: None,
                certification: Some(&certification),
            },
        )
        .unwrap();
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(index.contains("What this bundle certifies"), "{index}");
        let mut pages = 0;
        for file in walk(&dir) {
            if file.extension().is_some_and(|e| e == "html") {
                pages += 1;
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(!text.contains("<script>alert"), "{}", file.display());
                assert!(!text.contains("<img"), "{}", file.display());
                assert_eq!(
                    text.matches("<script").count(),
                    1,
                    "only the site's own script: {}",
                    file.display()
                );
            }
        }
        assert_eq!(pages, 1 + 1 + 3, "index, case, three requirements");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[test]
    fn a_long_transcript_is_split_across_pages() {
        let mut r = record("long", Verdict::Pass);
        let one = r.transcript[0].clone();
        r.transcript = vec![one; super::super::EXCHANGES_PER_PAGE * 2 + 1];
        let dir = std::env::temp_dir().join(format!("mimi-html-long-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(
            &dir,
            &RunSite {
                title: "long",
                records: &[r],
                catalogue: None,
                observer: None,
                strict: false,
                ending: None,
                prefix: "",
                home: "run",
                crumbs: vec![],
                results: None,
                observer_json: None,
                certification: None,
            },
        )
        .unwrap();
        for page in 0..3 {
            let file = dir.join(case_path("B::x::y", page));
            let text = std::fs::read_to_string(&file).unwrap();
            let shown = text.matches("<details").count();
            assert!(
                shown <= super::super::EXCHANGES_PER_PAGE,
                "{}: {shown}",
                file.display()
            );
        }
        assert!(!dir.join(case_path("B::x::y", 3)).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
