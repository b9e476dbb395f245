//! The interop matrix's result, `matrix.json` (schema: `harness/conformance/schemas/matrix.schema.json`): the
//! providers with their declared versions and their profiles' digests, the harness's version
//! and the case set's digest, and per cell (a provider alone, or an ordered pair: the row under
//! test, the column its peer) per case per requirement the verdict, who broke it on which link,
//! and timing; and what the observer saw each provider break in the cases' link-B traffic,
//! which colours the link and the cell as a broken requirement does. Its Markdown table
//! (`matrix.md`), the joining of shards (`merge`), and what changed between two results
//! (`diff`). Everything but the `timing` objects is the same for
//! the same providers, cases and verdicts, however the cells were spread over shards.

use crate::catalogue::Catalogue;
use crate::runner::events::{Blame, CaseRecord, RequirementVerdict};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The JSON Schema (2020-12) every matrix.json meets.
pub const SCHEMA: &str = include_str!("../../schemas/matrix.schema.json");

/// The version of the matrix format; the schema names it.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    pub harness: String,
    pub version: String,
    pub format: u32,
    pub strict: bool,
    pub case_set: CaseSet,
    pub providers: Vec<Provider>,
    /// Which share of the cells this result holds; None: all of them.
    pub shard: Option<Shard>,
    /// The cells of the whole matrix (this result may hold a share of them).
    pub cells_total: usize,
    pub timing: Timing,
    /// How the run that wrote it ended: `finished`, or `in-progress` (written as it starts, so
    /// that a killed run leaves no stale matrix), `interrupted`, `terminated`; the cases a
    /// stopped run did not run are `not-run`.
    #[serde(default = "finished")]
    pub state: String,
    /// Why it did not finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub cells: Vec<Cell>,
}

/// The state of a matrix whose run ran every cell.
pub const FINISHED: &str = "finished";

fn finished() -> String {
    FINISHED.into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSet {
    /// sha256 over every case's name and the text of its file and the fragments it uses.
    pub digest: String,
    /// Cases for one provider alone, and for a pair.
    pub single: usize,
    pub pair: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    /// Its domain: what cells name it by.
    pub id: String,
    pub name: String,
    /// The software version its profile declares.
    pub version: Option<String>,
    pub draft: String,
    /// sha256 of its profile file.
    pub profile_digest: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// From 1.
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: a shard is K/N, e.g. 2/3"))?;
        let parse = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("{s:?}: {t:?} is not a number"))
        };
        let (index, count) = (parse(k)?, parse(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!("{s:?}: K/N needs 1 <= K <= N"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Which of the whole matrix's cells (given by their number of cases, in cell order) this
    /// shard holds: the cells go, the heaviest first (in cell order among equals), each to the
    /// shard with the fewest cases so far (the lowest among equals), so that every shard of a
    /// split gets a like share of the work, and the same split for the same cells.
    pub fn holds(self, weights: &[usize]) -> Vec<bool> {
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(weights[*i]));
        let mut load = vec![0usize; self.count];
        let mut held = vec![false; weights.len()];
        for i in order {
            let lightest = (0..self.count).min_by_key(|k| load[*k]).unwrap_or(0);
            load[lightest] += weights[i];
            held[i] = lightest == self.index - 1;
        }
        held
    }
}

/// How long things took: the only part of a result that changes from one run to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Timing {
    pub started_unix_ms: u64,
    pub wall_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// `<under test>` for a provider alone, `<under test>__<peer>` for a pair.
    pub id: String,
    pub under_test: String,
    pub peer: Option<String>,
    /// The worst verdict of its cases.
    pub verdict: String,
    /// Cases by verdict.
    pub counts: BTreeMap<String, usize>,
    /// Per link (A to D), the worst verdict of what happened on it, and who broke what there.
    pub links: BTreeMap<String, LinkResult>,
    /// The cell's own reports, from the matrix's folder.
    pub results: String,
    pub site: String,
    pub timing: CellTiming,
    pub cases: Vec<CellCase>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkResult {
    pub verdict: String,
    /// Provider → the requirements blamed on it on this link.
    pub blamed: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CellTiming {
    /// The cases' durations added up.
    pub cases_ms: u64,
    /// From its first case's start to its last case's end.
    pub wall_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellCase {
    pub id: String,
    pub verdict: String,
    pub links: Vec<String>,
    pub error: Option<String>,
    pub requirements: Vec<CellRequirement>,
    /// What the observer found in the case's link-B traffic: which requirement, by whom.
    pub observed: Vec<Observed>,
    pub timing: CaseTiming,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CaseTiming {
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRequirement {
    pub id: String,
    pub level: String,
    pub verdict: String,
    pub blame: Vec<CellBlame>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellBlame {
    pub link: String,
    pub provider: String,
    pub role: Option<String>,
    pub basis: String,
}

impl From<&Blame> for CellBlame {
    fn from(b: &Blame) -> Self {
        Self {
            link: b.link.clone(),
            provider: b.provider.clone(),
            role: b.role.clone(),
            basis: b.basis.name().to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Observed {
    pub requirement: String,
    pub provider: String,
    pub link: String,
    pub endpoint: Option<String>,
    /// What breaking the requirement means at its level: fail, warn or info.
    pub verdict: String,
    /// How many findings of this kind.
    pub count: usize,
}

/// Verdicts from the worst down: what a cell or a link is coloured by. Unsupported comes last:
/// a link is unsupported only when nothing on it ran.
const WORST_FIRST: &[&str] = &[
    "fail",
    "error",
    "warn",
    "info",
    "inconclusive",
    "not-run",
    "pass",
    "unsupported",
];

fn rank(verdict: &str) -> usize {
    WORST_FIRST
        .iter()
        .position(|v| *v == verdict)
        .unwrap_or(WORST_FIRST.len())
}

/// The worst of these verdicts; `none` when there are none.
pub fn worst<'a>(verdicts: impl IntoIterator<Item = &'a str>) -> String {
    verdicts
        .into_iter()
        .min_by_key(|v| rank(v))
        .unwrap_or("none")
        .to_string()
}

/// A case of a cell, from its record; what the observer found is graded by the requirement's
/// level in `catalogue` (a requirement it does not know is taken for a MUST).
pub fn cell_case(r: &CaseRecord, catalogue: &Catalogue) -> CellCase {
    let mut observed: BTreeMap<(String, String, String, Option<String>), usize> = BTreeMap::new();
    for f in &r.observed {
        *observed
            .entry((
                f.requirement.clone(),
                f.provider.clone(),
                f.link.clone(),
                f.endpoint.clone(),
            ))
            .or_default() += 1;
    }
    CellCase {
        id: r.id.clone(),
        verdict: r.verdict.name().to_string(),
        links: r.links.clone(),
        error: r.error.clone(),
        requirements: r
            .requirements
            .iter()
            .map(|q| CellRequirement {
                id: q.requirement.id.clone(),
                level: q.requirement.level.name().to_string(),
                verdict: q.verdict.name().to_string(),
                blame: q.blame.iter().map(CellBlame::from).collect(),
            })
            .collect(),
        observed: observed
            .into_iter()
            .map(
                |((requirement, provider, link, endpoint), count)| Observed {
                    verdict: catalogue
                        .requirements
                        .get(&requirement)
                        .map_or(RequirementVerdict::Fail, |q| {
                            RequirementVerdict::broken(q.level)
                        })
                        .name()
                        .to_string(),
                    requirement,
                    provider,
                    link,
                    endpoint,
                    count,
                },
            )
            .collect(),
        timing: CaseTiming {
            duration_ms: r.duration.as_millis() as u64,
        },
    }
}

/// The cell's id.
pub fn cell_id(under_test: &str, peer: Option<&str>) -> String {
    match peer {
        None => under_test.to_string(),
        Some(p) => format!("{under_test}__{p}"),
    }
}

/// A cell from its cases (sorted by name), with its per-link results.
pub fn cell(
    under_test: &str,
    peer: Option<&str>,
    mut cases: Vec<CellCase>,
    timing: CellTiming,
) -> Cell {
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    let id = cell_id(under_test, peer);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in &cases {
        *counts.entry(c.verdict.clone()).or_default() += 1;
    }
    let mut links = BTreeMap::new();
    for link in crate::report::html::LINKS {
        let mut blamed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut broken = Vec::new();
        for c in &cases {
            for q in &c.requirements {
                for b in q.blame.iter().filter(|b| b.link == *link) {
                    blamed
                        .entry(b.provider.clone())
                        .or_default()
                        .insert(q.id.clone());
                    broken.push(q.verdict.as_str());
                }
            }
            // What the observer saw a provider break counts against it, whatever the case
            // checked.
            for o in c.observed.iter().filter(|o| o.link == *link) {
                blamed
                    .entry(o.provider.clone())
                    .or_default()
                    .insert(o.requirement.clone());
                broken.push(o.verdict.as_str());
            }
        }
        // A case that failed because of another link does not colour this one.
        let about: Vec<&str> = cases
            .iter()
            .filter(|c| c.links.iter().any(|l| l == link))
            .map(|c| match c.verdict.as_str() {
                "fail" | "warn" | "info" => "pass",
                other => other,
            })
            .collect();
        if broken.is_empty() && about.is_empty() {
            continue;
        }
        links.insert(
            link.to_string(),
            LinkResult {
                verdict: worst(broken.into_iter().chain(about)),
                blamed: blamed
                    .into_iter()
                    .map(|(p, ids)| (p, ids.into_iter().collect()))
                    .collect(),
            },
        );
    }
    Cell {
        verdict: worst(cases.iter().flat_map(|c| {
            std::iter::once(c.verdict.as_str()).chain(c.observed.iter().map(|o| o.verdict.as_str()))
        })),
        counts,
        links,
        results: format!("cells/{id}/results.json"),
        site: format!("cells/{id}/index.html"),
        id,
        under_test: under_test.to_string(),
        peer: peer.map(str::to_string),
        timing,
        cases,
    }
}

impl Matrix {
    /// Whether a MUST was broken (or, with `strict`, a SHOULD), as a case judged it or as the
    /// observer saw it, or a case errored.
    pub fn fails(&self) -> bool {
        self.cells
            .iter()
            .flat_map(|c| &c.cases)
            .flat_map(|c| {
                std::iter::once(c.verdict.as_str())
                    .chain(c.observed.iter().map(|o| o.verdict.as_str()))
            })
            .any(|v| {
                matches!(v, "fail" | "error")
                    || (self.strict && matches!(v, "warn" | "inconclusive"))
            })
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a matrix serialises")
    }

    pub fn cell(&self, id: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.id == id)
    }
}

/// The first way `matrix` breaks the schema, if it does.
pub fn schema_violation(matrix: &serde_json::Value) -> Option<String> {
    let schema: serde_json::Value =
        serde_json::from_str(SCHEMA).expect("the matrix schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("the matrix schema compiles");
    let first = validator
        .iter_errors(matrix)
        .next()
        .map(|e| format!("{} at {}", e, e.instance_path()));
    first
}

/// A matrix.json, read and checked against its schema.
pub fn read(path: &std::path::Path) -> Result<Matrix, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    if let Some(why) = schema_violation(&json) {
        return Err(format!(
            "{}: not a matrix.json of format {FORMAT}: {why}",
            path.display()
        ));
    }
    serde_json::from_value(json).map_err(|e| format!("{}: {e}", path.display()))
}

/// The order of cells: by the row's provider, then the provider alone before its pairs, then
/// the column's provider, in the providers' order.
pub fn cell_order(providers: &[Provider], cell: &Cell) -> (usize, usize) {
    let at = |id: &str| {
        providers
            .iter()
            .position(|p| p.id == id)
            .unwrap_or(usize::MAX)
    };
    (
        at(&cell.under_test),
        cell.peer.as_deref().map_or(0, |p| at(p).saturating_add(1)),
    )
}

/// Joins the shards of one matrix into the result an unsharded run would give: the same
/// providers, cases and harness in each, every shard of the split once, every cell once.
pub fn merge(shards: Vec<Matrix>) -> Result<Matrix, String> {
    let first = shards.first().ok_or("no shard to merge")?.clone();
    let count = first
        .shard
        .map(|s| s.count)
        .ok_or("the first result is not a shard (it was run without --shard)")?;
    let mut seen = BTreeSet::new();
    for s in &shards {
        if s.state != FINISHED {
            let shard = s.shard.map(|s| format!("{}/{}", s.index, s.count));
            return Err(format!(
                "shard {} did not finish ({}{}): run it again",
                shard.unwrap_or_default(),
                s.state,
                s.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
        }
        let same = s.harness == first.harness
            && s.version == first.version
            && s.format == first.format
            && s.strict == first.strict;
        if !same {
            return Err(format!(
                "shards of different harnesses or options: {} {} (strict {}) and {} {} (strict {})",
                first.harness, first.version, first.strict, s.harness, s.version, s.strict
            ));
        }
        if s.case_set != first.case_set {
            return Err(format!(
                "shards ran different cases: {} and {}",
                first.case_set.digest, s.case_set.digest
            ));
        }
        if s.providers != first.providers {
            return Err(
                "shards ran against different providers (names, versions or profiles differ)"
                    .into(),
            );
        }
        match s.shard {
            Some(Shard { index, count: n }) if n == count => {
                if !seen.insert(index) {
                    return Err(format!("shard {index}/{count} is given twice"));
                }
            }
            Some(other) => {
                return Err(format!(
                    "shard {}/{} is not a share of a {count}-way split",
                    other.index, other.count
                ))
            }
            None => return Err("a result that is not a shard cannot be merged".into()),
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|k| !seen.contains(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing shard(s): {}", missing.join(", ")));
    }
    let started = shards
        .iter()
        .map(|s| s.timing.started_unix_ms)
        .min()
        .unwrap_or_default();
    let ended = shards
        .iter()
        .map(|s| s.timing.started_unix_ms + s.timing.wall_ms)
        .max()
        .unwrap_or_default();
    let mut cells: Vec<Cell> = Vec::new();
    for cell in shards.into_iter().flat_map(|s| s.cells) {
        if cells.iter().any(|c| c.id == cell.id) {
            return Err(format!("the cell {} is in two shards", cell.id));
        }
        cells.push(cell);
    }
    if cells.len() != first.cells_total {
        return Err(format!(
            "the shards hold {} cell(s) of {}",
            cells.len(),
            first.cells_total
        ));
    }
    cells.sort_by_key(|c| cell_order(&first.providers, c));
    Ok(Matrix {
        shard: None,
        timing: Timing {
            started_unix_ms: started,
            wall_ms: ended.saturating_sub(started),
        },
        cells,
        ..first
    })
}

/// What changed from `before` to `after`, per cell: cells added or gone, and in each cell the
/// cases whose verdict, or whose requirements' verdicts or blame, changed. Empty: the same
/// verdicts (timing is not compared).
pub fn diff(before: &Matrix, after: &Matrix) -> Vec<String> {
    let mut out = Vec::new();
    if before.case_set != after.case_set {
        out.push(format!(
            "case set: {} → {}",
            before.case_set.digest, after.case_set.digest
        ));
    }
    for p in &after.providers {
        match before.providers.iter().find(|q| q.id == p.id) {
            None => out.push(format!("provider {}: added", p.id)),
            Some(q) if q != p => out.push(format!(
                "provider {}: version {} → {}, profile {} → {}",
                p.id,
                q.version.as_deref().unwrap_or("-"),
                p.version.as_deref().unwrap_or("-"),
                short(&q.profile_digest),
                short(&p.profile_digest)
            )),
            Some(_) => {}
        }
    }
    for q in &before.providers {
        if !after.providers.iter().any(|p| p.id == q.id) {
            out.push(format!("provider {}: gone", q.id));
        }
    }
    let ids: BTreeSet<&str> = before
        .cells
        .iter()
        .chain(&after.cells)
        .map(|c| c.id.as_str())
        .collect();
    for id in ids {
        match (before.cell(id), after.cell(id)) {
            (Some(_), None) => out.push(format!("cell {id}: only in the first")),
            (None, Some(c)) => out.push(format!("cell {id}: only in the second ({})", c.verdict)),
            (Some(b), Some(a)) => {
                let lines = cell_diff(b, a);
                if !lines.is_empty() {
                    out.push(format!("cell {id}: {} → {}", b.verdict, a.verdict));
                    out.extend(lines.into_iter().map(|l| format!("  {l}")));
                }
            }
            (None, None) => {}
        }
    }
    out
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn blames(q: &CellRequirement) -> String {
    if q.blame.is_empty() {
        return String::new();
    }
    let text: Vec<String> = q
        .blame
        .iter()
        .map(|b| format!("{} on link {}, {}", b.provider, b.link, b.basis))
        .collect();
    format!(" ({})", text.join("; "))
}

fn cell_diff(before: &Cell, after: &Cell) -> Vec<String> {
    let mut out = Vec::new();
    let ids: BTreeSet<&str> = before
        .cases
        .iter()
        .chain(&after.cases)
        .map(|c| c.id.as_str())
        .collect();
    for id in ids {
        let b = before.cases.iter().find(|c| c.id == id);
        let a = after.cases.iter().find(|c| c.id == id);
        match (b, a) {
            (Some(b), None) => out.push(format!("{id}: gone (was {})", b.verdict)),
            (None, Some(a)) => out.push(format!("{id}: new ({})", a.verdict)),
            (Some(b), Some(a)) => {
                let mut lines = Vec::new();
                let reqs: BTreeSet<&str> = b
                    .requirements
                    .iter()
                    .chain(&a.requirements)
                    .map(|q| q.id.as_str())
                    .collect();
                for q in reqs {
                    let qb = b.requirements.iter().find(|r| r.id == q);
                    let qa = a.requirements.iter().find(|r| r.id == q);
                    let show = |r: Option<&CellRequirement>| {
                        r.map_or("-".to_string(), |r| format!("{}{}", r.verdict, blames(r)))
                    };
                    if qb != qa {
                        lines.push(format!("  {q}: {} → {}", show(qb), show(qa)));
                    }
                }
                if b.observed != a.observed {
                    lines.push("  what the observer found changed".to_string());
                }
                if b.verdict != a.verdict || !lines.is_empty() {
                    out.push(format!("{id}: {} → {}", b.verdict, a.verdict));
                    out.extend(lines);
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Characters a Markdown cell keeps of one blamed-requirement list.
const MD_BLAMED: usize = 160;

/// The matrix as Markdown: the providers, the N×N table (rows under test, columns the peer;
/// the diagonal the provider alone), and what broke where.
pub fn markdown(m: &Matrix) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# MIMI interop matrix\n");
    let _ = writeln!(
        out,
        "mimi-conformance {}, case set `{}` ({} single-provider and {} two-provider cases){}.\n",
        m.version,
        short(&m.case_set.digest),
        m.case_set.single,
        m.case_set.pair,
        match m.shard {
            Some(s) => format!(
                ", shard {}/{} ({} of {} cells)",
                s.index,
                s.count,
                m.cells.len(),
                m.cells_total
            ),
            None => String::new(),
        }
    );
    let _ = writeln!(out, "| provider | name | version | draft | profile |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for p in &m.providers {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | `{}` |",
            md(&p.id),
            md(&p.name),
            md(p.version.as_deref().unwrap_or("-")),
            md(&p.draft),
            short(&p.profile_digest)
        );
    }
    let _ = writeln!(
        out,
        "\nRows: the provider under test (the hub where a case has one); columns: its peer; the diagonal: the provider alone. Each cell: its worst verdict, its cases by verdict, and the links on which something broke, with whom.\n"
    );
    let mut header = "| under test \\ peer |".to_string();
    let mut rule = "|---|".to_string();
    for p in &m.providers {
        header.push_str(&format!(" {} |", md(&p.id)));
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for row in &m.providers {
        let mut line = format!("| **{}** |", md(&row.id));
        for col in &m.providers {
            let peer = (col.id != row.id).then_some(col.id.as_str());
            let text = match m.cell(&cell_id(&row.id, peer)) {
                None => "·".to_string(),
                Some(c) => md_cell(c),
            };
            line.push_str(&format!(" {text} |"));
        }
        let _ = writeln!(out, "{line}");
    }
    let broken: Vec<&Cell> = m
        .cells
        .iter()
        .filter(|c| rank(&c.verdict) < rank("inconclusive"))
        .collect();
    if !broken.is_empty() {
        let _ = writeln!(out, "\n## What broke\n");
        for c in broken {
            let _ = writeln!(out, "- **{}** ([site]({}))", md(&c.id), c.site);
            for case in c
                .cases
                .iter()
                .filter(|k| rank(&k.verdict) < rank("inconclusive"))
            {
                let _ = writeln!(out, "  - `{}`: {}", case.id, case.verdict);
                for q in case.requirements.iter().filter(|q| !q.blame.is_empty()) {
                    let _ = writeln!(
                        out,
                        "    - {} ({}): {}{}",
                        q.id,
                        q.level,
                        q.verdict,
                        md(&blames(q))
                    );
                }
                if let Some(e) = &case.error {
                    let _ = writeln!(out, "    - {}", md(&crate::report::html::cut(e, 200).0));
                }
            }
        }
    }
    out
}

fn md_cell(c: &Cell) -> String {
    let mark = match c.verdict.as_str() {
        "pass" => "✅",
        "fail" | "error" => "❌",
        "warn" | "info" => "⚠️",
        _ => "➖",
    };
    let counts: Vec<String> = WORST_FIRST
        .iter()
        .filter_map(|v| c.counts.get(*v).map(|n| format!("{v} {n}")))
        .collect();
    let mut text = format!("{mark} [{}]({}) {}", c.verdict, c.site, counts.join(", "));
    for (link, r) in &c.links {
        for (provider, ids) in &r.blamed {
            let ids = crate::report::html::cut(&ids.join(", "), MD_BLAMED).0;
            text.push_str(&format!("<br>{link}: {} by {}", md(&ids), md(provider)));
        }
    }
    text
}

/// Text for a Markdown table cell: no pipes, no line breaks, no markup.
fn md(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => '¦',
            '<' => '‹',
            '>' => '›',
            '\n' | '\r' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, verdict: &str, links: &[&str], blame: Option<(&str, &str)>) -> CellCase {
        CellCase {
            id: id.into(),
            verdict: verdict.into(),
            links: links.iter().map(|l| l.to_string()).collect(),
            error: None,
            requirements: vec![CellRequirement {
                id: "KM-12".into(),
                level: "MUST".into(),
                verdict: if blame.is_some() { "fail" } else { "pass" }.into(),
                blame: blame
                    .map(|(link, provider)| CellBlame {
                        link: link.into(),
                        provider: provider.into(),
                        role: Some("hub".into()),
                        basis: "observed".into(),
                    })
                    .into_iter()
                    .collect(),
            }],
            observed: vec![],
            timing: CaseTiming { duration_ms: 5 },
        }
    }

    fn provider(id: &str) -> Provider {
        Provider {
            id: id.into(),
            name: format!("{id} | <b>"),
            version: Some("1".into()),
            draft: "06".into(),
            profile_digest: format!("sha256:{}", "00".repeat(32)),
        }
    }

    fn matrix(cells: Vec<Cell>, shard: Option<Shard>) -> Matrix {
        Matrix {
            harness: "mimi-conformance".into(),
            version: "0".into(),
            format: FORMAT,
            strict: false,
            case_set: CaseSet {
                digest: format!("sha256:{}", "ab".repeat(32)),
                single: 1,
                pair: 1,
            },
            providers: vec![provider("a.example"), provider("b.example")],
            shard,
            cells_total: 4,
            timing: Timing::default(),
            state: FINISHED.into(),
            reason: None,
            cells,
        }
    }

    fn cells() -> Vec<Cell> {
        vec![
            cell(
                "a.example",
                None,
                vec![case("B::x", "pass", &["B"], None)],
                Default::default(),
            ),
            cell(
                "a.example",
                Some("b.example"),
                vec![case(
                    "A::y",
                    "fail",
                    &["A", "C", "B"],
                    Some(("B", "a.example")),
                )],
                Default::default(),
            ),
            cell(
                "b.example",
                None,
                vec![case("B::x", "pass", &["B"], None)],
                Default::default(),
            ),
            cell(
                "b.example",
                Some("a.example"),
                vec![case(
                    "A::y",
                    "fail",
                    &["A", "C", "B"],
                    Some(("C", "a.example")),
                )],
                Default::default(),
            ),
        ]
    }

    /// A link is coloured by what broke on it, not by the case's other links.
    #[test]
    fn a_cell_is_red_only_on_the_link_that_broke() {
        let c = &cells()[1];
        assert_eq!(c.verdict, "fail");
        assert_eq!(c.links["B"].verdict, "fail");
        assert_eq!(c.links["A"].verdict, "pass");
        assert_eq!(c.links["C"].verdict, "pass");
        assert_eq!(c.links["B"].blamed["a.example"], vec!["KM-12".to_string()]);
        assert!(!c.links.contains_key("D"));
    }

    /// A case that passed while the observer saw the peer break a MUST on link B: the cell is
    /// red on link B, naming the peer, and the matrix fails.
    #[test]
    fn what_the_observer_saw_colours_the_link_and_fails_the_matrix() {
        let mut passed = case("A::y", "pass", &["A", "C", "B"], None);
        passed.observed = vec![Observed {
            requirement: "KM-9".into(),
            provider: "b.example".into(),
            link: "B".into(),
            endpoint: Some("keyMaterial".into()),
            verdict: "fail".into(),
            count: 2,
        }];
        let c = cell(
            "a.example",
            Some("b.example"),
            vec![passed],
            Default::default(),
        );
        assert_eq!(c.verdict, "fail");
        assert_eq!(c.links["B"].verdict, "fail");
        assert_eq!(c.links["B"].blamed["b.example"], vec!["KM-9".to_string()]);
        assert_eq!(c.links["A"].verdict, "pass");
        assert!(matrix(vec![c], None).fails());
        assert!(!matrix(cells()[..1].to_vec(), None).fails());
    }

    #[test]
    fn shards_merge_into_the_whole_and_refuse_what_does_not_fit() {
        let whole = matrix(cells(), None);
        let shard = |k: usize| {
            let s = Shard { index: k, count: 3 };
            let weights: Vec<usize> = cells().iter().map(|c| c.cases.len()).collect();
            let held = cells()
                .into_iter()
                .zip(s.holds(&weights))
                .filter(|(_, held)| *held)
                .map(|(c, _)| c)
                .collect();
            matrix(held, Some(s))
        };
        let merged = merge(vec![shard(3), shard(1), shard(2)]).unwrap();
        assert_eq!(merged, whole);
        assert!(diff(&whole, &merged).is_empty());
        assert!(merge(vec![shard(1), shard(2)])
            .unwrap_err()
            .contains("missing shard(s): 3/3"));
        assert!(merge(vec![shard(1), shard(1), shard(2)])
            .unwrap_err()
            .contains("twice"));
        let mut other = shard(3);
        other.case_set.digest = format!("sha256:{}", "cd".repeat(32));
        assert!(merge(vec![shard(1), shard(2), other])
            .unwrap_err()
            .contains("different cases"));
        assert!(merge(vec![whole]).is_err());
    }

    #[test]
    fn diff_lists_what_changed_per_cell() {
        let before = matrix(cells(), None);
        let mut after = before.clone();
        after.cells[1] = cell(
            "a.example",
            Some("b.example"),
            vec![case("A::y", "pass", &["A", "C", "B"], None)],
            Default::default(),
        );
        after.cells.remove(3);
        let lines = diff(&before, &after);
        assert_eq!(
            lines[0], "cell a.example__b.example: fail → pass",
            "{lines:#?}"
        );
        assert_eq!(lines[1], "  A::y: fail → pass");
        assert!(lines[2].starts_with("    KM-12: fail (a.example on link B, observed) → pass"));
        assert_eq!(lines[3], "cell b.example__a.example: only in the first");
        assert_eq!(lines.len(), 4, "{lines:#?}");
    }

    #[test]
    fn results_meet_their_schema_and_markdown_stays_a_table() {
        let m = matrix(cells(), None);
        assert_eq!(schema_violation(&m.to_json()), None);
        let mut broken = m.to_json();
        broken["cells"][0]["verdict"] = 3.into();
        assert!(schema_violation(&broken).is_some());
        let md = markdown(&m);
        assert!(md.contains("| **a.example** |"), "{md}");
        assert!(
            !md.contains("<b>") && md.contains("a.example ¦ ‹b›"),
            "{md}"
        );
        assert!(md.contains("B: KM-12 by a.example"), "{md}");
    }

    #[test]
    fn shards_are_parsed_and_share_the_cases_out_evenly() {
        // Three providers: each alone with 50 cases, each pair with 8.
        let weights = [50, 8, 8, 50, 8, 8, 50, 8, 8];
        let shares: Vec<Vec<bool>> = (1..=3)
            .map(|k| Shard { index: k, count: 3 }.holds(&weights))
            .collect();
        for i in 0..weights.len() {
            assert_eq!(shares.iter().filter(|s| s[i]).count(), 1, "cell {i} once");
        }
        let loads: Vec<usize> = shares
            .iter()
            .map(|s| (0..9).filter(|i| s[*i]).map(|i| weights[i]).sum())
            .collect();
        assert_eq!(loads, vec![66, 66, 66]);
        let s: Shard = "2/3".parse().unwrap();
        assert_eq!(s.holds(&weights), shares[1]);
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
