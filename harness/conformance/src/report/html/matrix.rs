//! The site of an interop matrix: the N×N table (rows under test, columns the peer, the
//! diagonal the provider alone) with each cell coloured per link by what broke there and who
//! broke it, and a page per requirement with every verdict on it in every cell. Each cell's own
//! site (a run's, under `cells/<cell>/`) has its cases' pages.

use super::run::{case_path, requirement_path, RequirementHeader, RequirementPage, VerdictRow};
use super::{counts, tokens, Count, Filters, Page, Site, LINKS, VERDICTS};
use crate::catalogue::Catalogue;
use crate::report::matrix::{cell_id, CellBlame, Matrix};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Serialize)]
struct LinkBadge {
    link: String,
    verdict: String,
    /// How many requirements were broken on it.
    broken: usize,
}

#[derive(Serialize)]
struct BlamedLine {
    link: String,
    provider: String,
    requirements: String,
}

#[derive(Serialize)]
struct CellView {
    id: String,
    site: String,
    verdict: String,
    verdicts: String,
    links: String,
    providers: String,
    pairs: String,
    counts: Vec<Count>,
    link_results: Vec<LinkBadge>,
    blamed: Vec<BlamedLine>,
}

#[derive(Serialize)]
struct Row {
    provider: String,
    cells: Vec<Option<CellView>>,
}

#[derive(Serialize)]
struct RequirementRow {
    id: String,
    href: String,
    level: String,
    links: String,
    verdicts: String,
    providers: String,
    counts: Vec<Count>,
    blamed: Vec<String>,
}

#[derive(Serialize)]
struct Index<'a> {
    title: &'a str,
    m: &'a Matrix,
    digest: &'a str,
    shard: Option<String>,
    wall_s: String,
    cells: Vec<&'a str>,
    verdict_counts: Vec<Count>,
    filters_form: minijinja::Value,
    rows: Vec<Row>,
    requirements: Vec<RequirementRow>,
}

fn blame_text(b: &CellBlame) -> String {
    let role = b
        .role
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!("{}{role} on link {}, {}", b.provider, b.link, b.basis)
}

/// Writes `index.html` and the requirement pages of the matrix into `dir` (the cells' own
/// sites are written as each cell finishes, or copied from the shards).
pub fn write(dir: &Path, m: &Matrix, catalogue: Option<&Catalogue>) -> anyhow::Result<()> {
    let html = Site::new();
    super::write_assets(dir)?;
    let title = format!("MIMI interop matrix: {} provider(s)", m.providers.len());
    let filters = Filters {
        links: LINKS.iter().map(|l| l.to_string()).collect(),
        verdicts: VERDICTS.iter().map(|v| v.to_string()).collect(),
        providers: m.providers.iter().map(|p| p.id.clone()).collect(),
    };
    let rows = m
        .providers
        .iter()
        .map(|row| Row {
            provider: row.id.clone(),
            cells: m
                .providers
                .iter()
                .map(|col| {
                    let peer = (col.id != row.id).then_some(col.id.as_str());
                    let c = m.cell(&cell_id(&row.id, peer))?;
                    Some(CellView {
                        id: c.id.clone(),
                        site: c.site.clone(),
                        verdict: c.verdict.clone(),
                        verdicts: tokens(
                            c.counts
                                .keys()
                                .map(String::as_str)
                                .chain(c.links.values().map(|l| l.verdict.as_str())),
                        ),
                        links: tokens(c.links.keys().map(String::as_str)),
                        providers: tokens(
                            [c.under_test.as_str()].into_iter().chain(c.peer.as_deref()),
                        ),
                        pairs: c
                            .links
                            .iter()
                            .map(|(l, r)| format!("{l}:{}", r.verdict))
                            .collect::<Vec<_>>()
                            .join(" "),
                        counts: counts(c.cases.iter().map(|k| k.verdict.as_str())),
                        link_results: c
                            .links
                            .iter()
                            .map(|(l, r)| LinkBadge {
                                link: l.clone(),
                                verdict: r.verdict.clone(),
                                broken: r.blamed.values().map(Vec::len).sum(),
                            })
                            .collect(),
                        blamed: c
                            .links
                            .iter()
                            .flat_map(|(l, r)| {
                                r.blamed.iter().map(move |(p, ids)| BlamedLine {
                                    link: l.clone(),
                                    provider: p.clone(),
                                    requirements: ids.join(", "),
                                })
                            })
                            .collect(),
                    })
                })
                .collect(),
        })
        .collect();
    // Every requirement, with each (cell, case) that judged it.
    let mut uses: BTreeMap<
        &str,
        Vec<(
            &crate::report::matrix::Cell,
            &crate::report::matrix::CellCase,
            &crate::report::matrix::CellRequirement,
        )>,
    > = BTreeMap::new();
    for c in &m.cells {
        for k in &c.cases {
            for q in &k.requirements {
                uses.entry(q.id.as_str()).or_default().push((c, k, q));
            }
        }
    }
    let requirements = uses
        .iter()
        .map(|(id, uses)| {
            let blames: BTreeSet<String> = uses
                .iter()
                .flat_map(|(_, _, q)| &q.blame)
                .map(|b| format!("{} on link {}", b.provider, b.link))
                .collect();
            RequirementRow {
                id: id.to_string(),
                href: requirement_path(id),
                level: uses[0].2.level.clone(),
                links: tokens(
                    uses.iter()
                        .flat_map(|(_, _, q)| q.blame.iter().map(|b| b.link.as_str()))
                        .chain(
                            uses.iter()
                                .flat_map(|(_, k, _)| k.links.iter().map(String::as_str)),
                        ),
                ),
                verdicts: tokens(uses.iter().map(|(_, _, q)| q.verdict.as_str())),
                providers: tokens(uses.iter().flat_map(|(c, _, q)| {
                    [c.under_test.as_str()]
                        .into_iter()
                        .chain(c.peer.as_deref())
                        .chain(q.blame.iter().map(|b| b.provider.as_str()))
                })),
                counts: counts(uses.iter().map(|(_, _, q)| q.verdict.as_str())),
                blamed: blames.into_iter().collect(),
            }
        })
        .collect();
    html.write_page(
        dir,
        Page {
            path: "index.html",
            title: &title,
            home: "matrix",
            crumbs: vec![],
        },
        "matrix_index.html",
        Index {
            title: &title,
            m,
            digest: m.case_set.digest.get(..19).unwrap_or(&m.case_set.digest),
            shard: m.shard.map(|s| format!("{}/{}", s.index, s.count)),
            wall_s: format!("{:.1}", m.timing.wall_ms as f64 / 1000.0),
            cells: m.cells.iter().map(|c| c.id.as_str()).collect(),
            verdict_counts: counts(
                m.cells
                    .iter()
                    .flat_map(|c| c.cases.iter().map(|k| k.verdict.as_str())),
            ),
            filters_form: html.filters(&filters)?,
            rows,
            requirements,
        },
    )?;
    for (id, uses) in &uses {
        let verdicts = uses
            .iter()
            .map(|(c, k, q)| VerdictRow {
                cell: c.id.clone(),
                cell_href: format!("../{}", c.site),
                case: k.id.clone(),
                href: format!("../cells/{}/{}", c.id, case_path(&k.id, 0)),
                verdict: q.verdict.clone(),
                links: tokens(
                    k.links
                        .iter()
                        .map(String::as_str)
                        .chain(q.blame.iter().map(|b| b.link.as_str())),
                ),
                providers: tokens(
                    [c.under_test.as_str()]
                        .into_iter()
                        .chain(c.peer.as_deref())
                        .chain(q.blame.iter().map(|b| b.provider.as_str())),
                ),
                blame: q.blame.iter().map(blame_text).collect(),
            })
            .collect();
        let page_title = format!("{id} — {title}");
        let path = requirement_path(id);
        let known = catalogue.and_then(|c| c.requirements.get(*id));
        let mut header = RequirementHeader::of(id, known);
        if known.is_none() {
            header.level = uses[0].2.level.clone();
        }
        html.write_page(
            dir,
            Page {
                path: &path,
                title: &page_title,
                home: "matrix",
                crumbs: vec![],
            },
            "requirement.html",
            RequirementPage {
                req: header,
                filters_form: html.filters(&filters)?,
                with_cells: true,
                verdicts,
                observed: Vec::new(),
            },
        )?;
    }
    Ok(())
}
