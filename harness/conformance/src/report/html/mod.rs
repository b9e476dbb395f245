//! The reports as a static site (`index.html` and the pages it links to), for `run`, `observe`,
//! `matrix` and `verify --html`: it opens from the file system and from CI artifacts, fetches nothing, reads
//! without JavaScript (which only filters by link, verdict and provider), and gives every
//! case, requirement and cell a stable address. Pages are rendered by minijinja with HTML
//! escaping on for every value: a provider's bytes are text, never markup. Long transcripts are
//! folded and split across pages.

pub mod matrix;
pub mod observe;
pub mod run;
pub mod verify;

use minijinja::{AutoEscape, Environment, Value};
use serde::Serialize;
use std::path::Path;

/// The site's stylesheet and filter script, written to `<site>/assets/`.
const ASSETS: &[(&str, &str)] = &[
    ("site.css", include_str!("assets/site.css")),
    ("site.js", include_str!("assets/site.js")),
];

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("filters.html", include_str!("templates/filters.html")),
    ("run_index.html", include_str!("templates/run_index.html")),
    ("case.html", include_str!("templates/case.html")),
    (
        "requirement.html",
        include_str!("templates/requirement.html"),
    ),
    (
        "observe_index.html",
        include_str!("templates/observe_index.html"),
    ),
    ("exchanges.html", include_str!("templates/exchanges.html")),
    (
        "matrix_index.html",
        include_str!("templates/matrix_index.html"),
    ),
    ("unverified.html", include_str!("templates/unverified.html")),
];

/// Characters of one exchange's text shown on a page; the rest is in the JSON report.
pub const MAX_EXCHANGE_TEXT: usize = 16 << 10;
/// Exchanges per transcript page; a longer transcript continues on the next page.
pub const EXCHANGES_PER_PAGE: usize = 40;

/// Verdicts in the order reports list them.
pub const VERDICTS: &[&str] = &[
    "fail",
    "error",
    "warn",
    "info",
    "inconclusive",
    "not-run",
    "not-reached",
    "unsupported",
    "pass",
];

pub const LINKS: &[&str] = &["A", "B", "C", "D"];

/// The templates, with escaping on for every one of them.
pub struct Site {
    env: Environment<'static>,
}

/// A link in the header's trail.
#[derive(Serialize)]
pub struct Crumb {
    pub href: String,
    pub text: String,
}

/// What a page's filter form offers.
#[derive(Serialize, Default)]
pub struct Filters {
    pub links: Vec<String>,
    pub verdicts: Vec<String>,
    pub providers: Vec<String>,
}

/// One page to write: where, its title, and its place in the site.
pub struct Page<'a> {
    /// The file, relative to the site's folder (`cases/B--x--y.html`).
    pub path: &'a str,
    pub title: &'a str,
    /// The header's first link (`index.html` at the site's root).
    pub home: &'a str,
    pub crumbs: Vec<Crumb>,
}

impl Site {
    pub fn new() -> Self {
        let mut env = Environment::new();
        // Everything, whatever the template's name: a provider's bytes are text.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("the site's template {name} does not parse: {e:#}"));
        }
        Self { env }
    }

    /// A template rendered with `context`.
    pub fn render(&self, template: &str, context: impl Serialize) -> anyhow::Result<String> {
        let template = self.env.get_template(template)?;
        template
            .render(Value::from(minijinja::value::Serde(context)))
            .map_err(|e| anyhow::anyhow!("rendering {}: {e:#}", template.name()))
    }

    /// The filter form (escaped like any template), to put in a page as it is.
    pub fn filters(&self, filters: &Filters) -> anyhow::Result<Value> {
        #[derive(Serialize)]
        struct Context<'a> {
            filters: &'a Filters,
        }
        Ok(Value::from_safe_string(
            self.render("filters.html", Context { filters })?,
        ))
    }

    /// Renders `template` with `context` as the body of a page and writes it under `dir`.
    pub fn write_page(
        &self,
        dir: &Path,
        page: Page<'_>,
        template: &str,
        context: impl Serialize,
    ) -> anyhow::Result<()> {
        let body = self.render(template, context)?;
        let depth = page.path.matches('/').count();
        #[derive(Serialize)]
        struct Layout<'a> {
            title: &'a str,
            home: &'a str,
            root: String,
            crumbs: Vec<Crumb>,
            version: &'static str,
            // Rendered, escaped, by `render`: put in as it is.
            body: Value,
        }
        let html = self.render(
            "layout.html",
            Layout {
                title: page.title,
                home: page.home,
                root: "../".repeat(depth),
                crumbs: page.crumbs,
                version: env!("CARGO_PKG_VERSION"),
                body: Value::from_safe_string(body),
            },
        )?;
        write_file(&dir.join(page.path), html.as_bytes())
    }
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes the stylesheet and the script every page links to.
pub fn write_assets(dir: &Path) -> anyhow::Result<()> {
    for (name, text) in ASSETS {
        write_file(&dir.join("assets").join(name), text.as_bytes())?;
    }
    Ok(())
}

/// Writes one file of the site, its folder made if need be; a reader sees the old page or the
/// new one, never half of one.
fn write_file(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::report::lifecycle::put(file, |partial| Ok(std::fs::write(partial, bytes)?))
}

/// A name for a file or an anchor: `B::keyMaterial::one-time` is `B--keyMaterial--one-time`.
/// Anything but letters, digits, `.`, `_` and `-` becomes `_`, and a name that needed that
/// gets a hash of the original so that two names never share a page.
pub fn slug(name: &str) -> String {
    let plain = name.replace("::", "--");
    let cleaned: String = plain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // "." and ".." are not file names.
    if cleaned == plain && !cleaned.chars().all(|c| c == '.') && !cleaned.is_empty() {
        cleaned
    } else {
        format!("{cleaned}-{:016x}", fnv(name.as_bytes()))
    }
}

/// FNV-1a: a stable hash (the standard library's may change between releases).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `text` cut to `max` characters, and what was left out.
pub fn cut(text: &str, max: usize) -> (String, Option<String>) {
    match text.char_indices().nth(max) {
        None => (text.to_string(), None),
        Some((at, _)) => (
            text[..at].to_string(),
            Some(format!(
                "{} more character(s) not shown: the JSON report has the whole exchange",
                text[at..].chars().count()
            )),
        ),
    }
}

/// Counts of verdicts, in `VERDICTS` order, without the zeros.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Count {
    pub verdict: String,
    pub count: usize,
}

pub fn counts<'a>(verdicts: impl IntoIterator<Item = &'a str>) -> Vec<Count> {
    let mut all: std::collections::BTreeMap<&str, usize> = Default::default();
    for v in verdicts {
        *all.entry(v).or_default() += 1;
    }
    let mut out: Vec<Count> = VERDICTS
        .iter()
        .filter_map(|v| {
            all.remove(v).map(|count| Count {
                verdict: v.to_string(),
                count,
            })
        })
        .collect();
    out.extend(all.into_iter().map(|(v, count)| Count {
        verdict: v.to_string(),
        count,
    }));
    out
}

/// Space-separated tokens for a `data-*` filter attribute, each once, in order.
pub fn tokens<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        // A token holds no space: a provider's name with spaces is matched word by word.
        if !v.is_empty() && !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_names_and_never_collide() {
        assert_eq!(slug("B::keyMaterial::one-time"), "B--keyMaterial--one-time");
        assert_eq!(slug("KM-12"), "KM-12");
        let odd = slug("../<script>");
        assert!(odd.starts_with("..__script_-"), "{odd}");
        assert_ne!(slug("a/b"), slug("a?b"));
        assert_ne!(slug(".."), "..");
        assert!(!slug("").is_empty());
    }

    #[test]
    fn every_template_escapes_what_it_is_given() {
        let site = Site::new();
        let html = site
            .render(
                "filters.html",
                serde_json::json!({"filters": {"links": ["<script>alert(1)</script>"], "verdicts": [], "providers": ["\"><img src=x onerror=alert(1)>"]}}),
            )
            .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn long_text_is_cut_with_a_note() {
        let (shown, note) = cut("αβγδ", 2);
        assert_eq!(shown, "αβ");
        assert!(note.unwrap().starts_with("2 more"));
        assert_eq!(cut("ab", 2), ("ab".to_string(), None));
    }
}
