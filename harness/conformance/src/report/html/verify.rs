//! The site `verify --html` writes. A bundle that verifies is shown as the site of the run it
//! certifies (`run::write` over the records recomputed from its evidence), its index headed by
//! what the bundle certifies and how it was verified. A bundle that does not verify gets one
//! page, which says so and why, and shows nothing the bundle records as if it held.

use super::{Page, Site};
use serde::Serialize;
use std::path::Path;

/// What a verified bundle certifies, at the head of its site's index. Every field comes from
/// the bundle: text, escaped like any other.
#[derive(Serialize, Debug, Default)]
pub struct Certification {
    /// The bundle's file, as the verifier named it.
    pub bundle: String,
    pub provider: String,
    pub domain: String,
    /// The software version its profile declares.
    pub version: String,
    /// The peer provider, `name version (domain)`, when the run had one.
    pub peer: Option<String>,
    /// `pass` or `warn`.
    pub result: String,
    pub strict: bool,
    pub started: String,
    pub finished: String,
    /// The draft the profile declares, and those the requirements of the cases that ran cite.
    pub declared_draft: String,
    pub cited_drafts: Vec<String>,
    /// The scope in words, and its parts: what the profile does not declare, the cases that
    /// therefore did not run.
    pub scope: String,
    pub not_declared: Vec<String>,
    pub unsupported: Vec<String>,
    /// The warnings the outcome lists, one line each.
    pub warnings: Vec<String>,
    pub keyid: String,
    /// What verify checked, in words.
    pub verified: String,
}

#[derive(Serialize)]
struct Unverified<'a> {
    bundle: &'a str,
    reasons: &'a [String],
}

/// The one page of a bundle that does not verify: `index.html` in `dir`, which says so and
/// gives every reason (and replaces the index of a site written there before).
pub fn write_unverified(dir: &Path, bundle: &str, reasons: &[String]) -> anyhow::Result<()> {
    super::write_assets(dir)?;
    let title = format!("{bundle} does not verify");
    Site::new().write_page(
        dir,
        Page {
            path: "index.html",
            title: &title,
            home: "verify",
            crumbs: Vec::new(),
        },
        "unverified.html",
        Unverified { bundle, reasons },
    )
}

#[cfg(test)]
mod tests {
    /// A bundle that does not verify gets one page: it says so, gives every reason as text,
    /// and links to no case.
    #[test]
    fn an_unverified_bundle_gets_one_page_that_says_why() {
        let dir = std::env::temp_dir().join(format!("mimi-html-unverified-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let reasons = [
            "results.json does not match the signed statement".to_string(),
            "<script>alert(1)</script>".to_string(),
        ];
        super::write_unverified(&dir, "<b>bundle.json</b>", &reasons).unwrap();
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(index.contains("does not verify"), "{index}");
        assert!(index.contains("<strong>not certified</strong>"), "{index}");
        assert!(index.contains(&reasons[0]), "{index}");
        assert!(index.contains("&lt;script&gt;alert(1)"), "{index}");
        assert!(
            !index.contains("<script>alert") && !index.contains("<b>"),
            "{index}"
        );
        assert!(!index.contains("cases/"), "{index}");
        assert!(!dir.join("cases").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
