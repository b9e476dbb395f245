//! The site of `observe`: the requirements the observer checks with their verdicts, every
//! finding with the provider that sent the offending message, the exchanges it kept (decoded,
//! folded, a page per `EXCHANGES_PER_PAGE`), and a page per requirement with its findings.

use super::run::{requirement_path, FindingView, RequirementHeader, RequirementPage};
use super::{counts, cut, tokens, Count, Filters, Page, Site, MAX_EXCHANGE_TEXT, VERDICTS};
use crate::catalogue::Catalogue;
use crate::observer::{checks::CHECKED, Exchange, Finding, Message, ObserverReport};
use crate::report::observed::verdict;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Serialize)]
struct RequirementRow {
    id: String,
    href: String,
    text: String,
    level: String,
    verdict: &'static str,
    findings: u64,
    providers: String,
}

#[derive(Serialize)]
struct FindingRow {
    #[serde(flatten)]
    finding: FindingView,
    exchange_href: String,
}

#[derive(Serialize)]
struct Pages {
    href: String,
    first: u64,
    last: u64,
    current: bool,
}

#[derive(Serialize)]
struct Index<'a> {
    title: &'a str,
    listen: String,
    providers: Vec<String>,
    exchanges_seen: u64,
    exchanges_dropped: u64,
    verdict_counts: Vec<Count>,
    filters_form: minijinja::Value,
    requirements: Vec<RequirementRow>,
    findings: Vec<FindingRow>,
    pages: Vec<Pages>,
}

#[derive(Serialize)]
struct ExchangeRow {
    id: u64,
    summary: String,
    findings: Vec<String>,
    text: String,
    cut: Option<String>,
    open: bool,
    verdict: &'static str,
    providers: String,
}

#[derive(Serialize)]
struct ExchangesPage<'a> {
    title: &'a str,
    filters_form: minijinja::Value,
    pages: Vec<Pages>,
    exchanges: Vec<ExchangeRow>,
}

fn exchanges_path(page: usize) -> String {
    format!("exchanges/{}.html", page + 1)
}

fn message_text(label: &str, m: &Message) -> String {
    let mut out = format!("{label} ({} bytes)\n", m.size);
    for (name, value) in &m.headers {
        out.push_str(&format!("  {name}: {value}\n"));
    }
    match (&m.decoded_as, &m.decoded) {
        (Some(t), Some(value)) => {
            out.push_str(&format!("  {t}:\n"));
            for line in crate::runner::snapshot::yaml(value).lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        _ => {
            if let Some(e) = &m.decode_error {
                out.push_str(&format!("  does not decode: {e}\n"));
            }
            let more = if m.truncated { " …" } else { "" };
            out.push_str(&format!("  hex: {}{more}\n", m.hex));
        }
    }
    out
}

fn exchange_text(e: &Exchange) -> String {
    let mut out = format!(
        "{} {} → {}: {} {}\nclient certificate: {}\n",
        e.link,
        e.sender.as_deref().unwrap_or("(unknown)"),
        e.target,
        e.method,
        e.path,
        if e.client_certificate.is_empty() {
            "none".to_string()
        } else {
            e.client_certificate.join(", ")
        }
    );
    out.push_str(&message_text("request", &e.request));
    match (&e.response, &e.failure) {
        (Some(r), _) => out.push_str(&message_text(
            &format!("response {}", e.status.unwrap_or_default()),
            r,
        )),
        (None, Some(why)) => out.push_str(&format!("no answer: {why}\n")),
        (None, None) => out.push_str("no answer\n"),
    }
    out
}

fn finding_verdict(catalogue: &Catalogue, f: &Finding) -> &'static str {
    verdict(catalogue, &f.requirement, &[f]).name()
}

/// Writes the observer's site into `dir`.
pub fn write(dir: &Path, report: &ObserverReport, catalogue: &Catalogue) -> anyhow::Result<()> {
    let html = Site::new();
    super::write_assets(dir)?;
    let title = format!("observer on link {}", report.link);
    let ids: BTreeSet<&str> = CHECKED
        .iter()
        .copied()
        .chain(report.findings.iter().map(|f| f.requirement.as_str()))
        .collect();
    let requirements: Vec<RequirementRow> = ids
        .iter()
        .map(|id| {
            let found: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| f.requirement == *id)
                .collect();
            let known = catalogue.requirements.get(*id);
            RequirementRow {
                id: id.to_string(),
                href: requirement_path(id),
                text: known.map(|q| q.text.clone()).unwrap_or_default(),
                level: known.map_or("?".into(), |q| q.level.name().to_string()),
                verdict: verdict(catalogue, id, &found).name(),
                findings: report.finding_counts.get(*id).copied().unwrap_or_default(),
                providers: tokens(found.iter().map(|f| f.provider.as_str())),
            }
        })
        .collect();
    let pages_of = |current: Option<usize>| -> Vec<Pages> {
        report
            .exchanges
            .chunks(super::EXCHANGES_PER_PAGE)
            .enumerate()
            .map(|(n, chunk)| Pages {
                href: match current {
                    Some(_) => format!("{}.html", n + 1),
                    None => exchanges_path(n),
                },
                first: chunk.first().map_or(0, |e| e.id),
                last: chunk.last().map_or(0, |e| e.id),
                current: current == Some(n),
            })
            .collect()
    };
    let page_of = |exchange: u64| {
        report
            .exchanges
            .iter()
            .position(|e| e.id == exchange)
            .map(|i| {
                format!(
                    "{}#exchange-{exchange}",
                    exchanges_path(i / super::EXCHANGES_PER_PAGE)
                )
            })
            .unwrap_or_default()
    };
    let mut providers: Vec<String> = report.providers.iter().map(|p| p.domain.clone()).collect();
    providers.extend(report.findings.iter().map(|f| f.provider.clone()));
    providers.sort();
    providers.dedup();
    let filters = Filters {
        links: vec![report.link.to_string()],
        verdicts: VERDICTS.iter().map(|v| v.to_string()).collect(),
        providers: providers.clone(),
    };
    html.write_page(
        dir,
        Page {
            path: "index.html",
            title: &title,
            home: "observer",
            crumbs: vec![],
        },
        "observe_index.html",
        Index {
            title: &title,
            listen: report.listen.to_string(),
            providers: report.providers.iter().map(|p| p.domain.clone()).collect(),
            exchanges_seen: report.exchanges_seen,
            exchanges_dropped: report.exchanges_dropped,
            verdict_counts: counts(requirements.iter().map(|r| r.verdict)),
            filters_form: html.filters(&filters)?,
            findings: report
                .findings
                .iter()
                .map(|f| FindingRow {
                    finding: FindingView::new(
                        f,
                        requirement_path(&f.requirement),
                        finding_verdict(catalogue, f),
                    ),
                    exchange_href: page_of(f.exchange),
                })
                .collect(),
            requirements,
            pages: pages_of(None),
        },
    )?;
    for (n, chunk) in report
        .exchanges
        .chunks(super::EXCHANGES_PER_PAGE)
        .enumerate()
    {
        let exchanges = chunk
            .iter()
            .map(|e| {
                let (text, cut_note) = cut(&exchange_text(e), MAX_EXCHANGE_TEXT);
                let worst = e
                    .findings
                    .iter()
                    .map(|f| finding_verdict(catalogue, f))
                    .min_by_key(|v| VERDICTS.iter().position(|w| w == v))
                    .unwrap_or("pass");
                ExchangeRow {
                    id: e.id,
                    summary: crate::report::observed::console_line(e)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    findings: e
                        .findings
                        .iter()
                        .map(|f| {
                            format!("{} broken by {}: {}", f.requirement, f.provider, f.message)
                        })
                        .collect(),
                    text,
                    cut: cut_note,
                    open: !e.findings.is_empty(),
                    verdict: worst,
                    providers: tokens(
                        e.sender
                            .as_deref()
                            .into_iter()
                            .chain([e.target.as_str()])
                            .chain(e.findings.iter().map(|f| f.provider.as_str())),
                    ),
                }
            })
            .collect();
        let page_title = format!("{title}: exchanges");
        html.write_page(
            dir,
            Page {
                path: &exchanges_path(n),
                title: &page_title,
                home: "observer",
                crumbs: vec![],
            },
            "exchanges.html",
            ExchangesPage {
                title: &page_title,
                filters_form: html.filters(&filters)?,
                pages: pages_of(Some(n)),
                exchanges,
            },
        )?;
    }
    for id in ids {
        let known = catalogue.requirements.get(id);
        let observed = report
            .findings
            .iter()
            .filter(|f| f.requirement == id)
            .map(|f| FindingView::new(f, String::new(), finding_verdict(catalogue, f)))
            .collect();
        let page_title = format!("{id} — {title}");
        html.write_page(
            dir,
            Page {
                path: &requirement_path(id),
                title: &page_title,
                home: "observer",
                crumbs: vec![],
            },
            "requirement.html",
            RequirementPage {
                req: RequirementHeader::of(id, known),
                filters_form: html.filters(&filters)?,
                with_cells: false,
                verdicts: Vec::new(),
                observed,
            },
        )?;
    }
    Ok(())
}
