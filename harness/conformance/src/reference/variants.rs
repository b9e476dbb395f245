//! `mimi-conformance variants`: the suite against the reference provider with each named variant
//! switched on, every (variant, case) run on one pool (`pool`). A variant is a behaviour the drafts allow that the reference does
//! not have (`mimi_reference_provider::variants`), so a case that fails or errors against one
//! gives a false verdict: it assumed the reference's choice; so does a finding of the observer
//! between the providers (its passive checks assumed it). Its last line is
//! `false verdicts: F over V variants`.
//!
//! Here too is how a profile describes each variant (the embedded providers' and `serve`'s), as a
//! vendor's profile would describe its provider.

use super::pool;
use crate::builtin::BuiltIn;
use crate::case::Case;
use crate::differences::{Consent, Description, TestUser};
use crate::exit;
use crate::runner::events::{CaseRecord, Verdict};
use crate::session::{load_suite, CaseFolders};
use mimi_reference_provider::faults::Faults;
use mimi_reference_provider::state::UserSeed;
use mimi_reference_provider::variants::{Variant, Variants};
use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct VariantsArgs {
    #[command(flatten)]
    pub cases: CaseFolders,
    /// Run only these variants (repeatable); all by default.
    #[arg(long = "variant")]
    pub variants: Vec<Variant>,
    /// How many (variant, case) runs go on at once (they mostly wait).
    #[arg(long, default_value_t = pool::default_jobs())]
    pub jobs: usize,
}

/// The user name of the requester the test users granted consent to under `consent-required`.
pub const CONSENTED_REQUESTER: &str = "consented";

/// The embedded test users for a provider with these variants: bob and carol let the harness
/// claim their KeyPackages, dora granted consent to nobody; under `consent-required` bob and
/// carol granted it to the harness's user `consented`.
pub fn seeds(variants: &Variants, harness_domain: &str) -> Vec<UserSeed> {
    let mut seeds = super::embedded::seeds();
    if variants.contains(Variant::ConsentRequired) {
        let requester = consented_requester(harness_domain);
        for seed in seeds.iter_mut().filter(|s| !s.consent_required) {
            seed.consented_requesters.push(requester.clone());
        }
    }
    seeds
}

pub fn consented_requester(harness_domain: &str) -> String {
    format!("mimi://{harness_domain}/u/{CONSENTED_REQUESTER}")
}

/// The profile's description of the embedded provider `domain` with these variants on.
pub fn describe(variants: &Variants, domain: &str, harness_domain: &str) -> Description {
    let users = seeds(variants, harness_domain)
        .into_iter()
        .enumerate()
        .map(|(index, seed)| {
            let name = seed.name.clone();
            let key_packages =
                mimi_reference_provider::state::seeded_key_packages(index, &seed, variants);
            let handle = if variants.contains(Variant::HandlesAreUris) {
                format!("im:{name}@{domain}")
            } else {
                name.clone()
            };
            let mut found_by = BTreeMap::from([("nick".to_string(), name.clone())]);
            if !variants.contains(Variant::IdentifierNickOnly) {
                found_by.insert("handle".into(), handle);
                found_by.insert("email".into(), format!("{name}@{domain}"));
            }
            let user = TestUser {
                uri: mimi_reference_provider::state::user_uri(domain, &name),
                claimable: None,
                needs_consent: seed.consent_required,
                key_packages: u32::try_from(key_packages).ok(),
                found_by,
            };
            (name, user)
        })
        .collect();
    let template_variables = if variants.contains(Variant::OwnVariableNames) {
        [
            ("user", "targetUser"),
            ("room", "roomId"),
            ("url", "downloadUrl"),
            ("target", "targetDomain"),
            ("requester", "requesterDomain"),
            ("provider", "domain"),
        ]
        .into_iter()
        .map(|(ours, theirs)| (ours.to_string(), theirs.to_string()))
        .collect()
    } else {
        BTreeMap::new()
    };
    let consent = if variants.contains(Variant::ConsentRequired) {
        Consent {
            required: true,
            requester: Some(consented_requester(harness_domain)),
        }
    } else {
        Consent::default()
    };
    Description {
        users,
        template_variables,
        consent,
    }
}

/// A case that fails against a variant today and becomes inconclusive once the case format's
/// `expect: {inconclusive: [{when, reason, remedy}]}` lands: the case, its step, and the `when`
/// to add. The variants test requires each to fail still, so an entry cannot outlive its reason.
pub struct Awaiting {
    pub variant: Variant,
    pub case: &'static str,
    pub step: &'static str,
    pub when: &'static str,
    pub reason: &'static str,
}

pub const AWAITING_INCONCLUSIVE: &[Awaiting] = &[];

/// How the suite fared against one variant.
#[derive(Debug, Clone)]
pub struct VariantResult {
    pub variant: Variant,
    /// Cases that failed or errored, or in whose link-B traffic the observer between the
    /// providers found a requirement broken: false verdicts.
    pub false_verdicts: Vec<CaseRecord>,
    /// Cases that reached a verdict (not unsupported).
    pub conclusive: usize,
    /// Cases that reached a verdict against the reference but not against the variant.
    pub lost: Vec<String>,
    /// How often the variant's code path ran while the cases ran.
    pub uses: u64,
}

fn conclusive(verdict: Verdict) -> bool {
    verdict != Verdict::Unsupported
}

/// Runs every case against the reference and against each variant, all on one pool.
pub fn matrix(cases: &[Case], variants: &[Variant]) -> Result<Vec<VariantResult>, String> {
    matrix_with(cases, variants, pool::default_jobs())
}

/// `matrix`, `jobs` cases at a time.
pub fn matrix_with(
    cases: &[Case],
    variants: &[Variant],
    jobs: usize,
) -> Result<Vec<VariantResult>, String> {
    // The reference first, then each variant on its own. A clone of a configuration shares the
    // running provider's counters, so `uses` reads them after the run.
    let configurations: Vec<(String, Variants)> =
        std::iter::once(("the reference provider".to_string(), Variants::none()))
            .chain(
                variants
                    .iter()
                    .map(|v| (v.name().to_string(), Variants::with(*v))),
            )
            .collect();
    let mut records = pool::run_all(
        &configurations,
        cases,
        |variants| super::with_behaviour(Faults::none(), variants.clone()),
        jobs,
    )?
    .into_iter();
    let baseline = records.next().unwrap_or_default();
    Ok(variants
        .iter()
        .zip(&configurations[1..])
        .zip(records)
        .map(|((variant, (_, on)), records)| VariantResult {
            variant: *variant,
            conclusive: records.iter().filter(|r| conclusive(r.verdict)).count(),
            lost: records
                .iter()
                .zip(&baseline)
                .filter(|(r, base)| conclusive(base.verdict) && !conclusive(r.verdict))
                .map(|(r, _)| format!("{} ({})", r.id, r.verdict.name()))
                .collect(),
            false_verdicts: records
                .into_iter()
                .filter(|r| {
                    matches!(r.verdict, Verdict::Fail | Verdict::Error) || !r.observed.is_empty()
                })
                .collect(),
            uses: on.uses(*variant),
        })
        .collect())
}

/// The matrix as text; its last line is `false verdicts: F over V variants`.
pub fn render(results: &[VariantResult], total_cases: usize) -> String {
    let mut out = String::new();
    for r in results {
        let state = match (r.false_verdicts.is_empty(), r.uses) {
            (_, 0) => "UNUSED ",
            (true, _) => "OK     ",
            (false, _) => "FALSE  ",
        };
        out.push_str(&format!(
            "{state} {}: {} (conclusive {}/{total_cases}, code path ran {} times)\n    allowed by {}\n",
            r.variant.name(),
            r.variant.description(),
            r.conclusive,
            r.uses,
            r.variant.allowed_by()
        ));
        for case in &r.false_verdicts {
            let awaiting = AWAITING_INCONCLUSIVE
                .iter()
                .find(|a| a.variant == r.variant && a.case == case.id);
            match awaiting {
                Some(a) => out.push_str(&format!(
                    "    {} {}: awaiting inconclusive in step {:?} when {} ({})\n",
                    case.verdict.name(),
                    case.id,
                    a.step,
                    a.when,
                    a.reason
                )),
                None => out.push_str(&format!(
                    "    {} {}: {}\n",
                    case.verdict.name(),
                    case.id,
                    first_lines(&crate::report::console::summary(case), 12)
                )),
            }
            for f in &case.observed {
                out.push_str(&format!(
                    "      the observer: {} broken by {} on link {}: {}\n",
                    f.requirement, f.provider, f.link, f.message
                ));
            }
        }
        for lost in &r.lost {
            out.push_str(&format!("    no longer conclusive: {lost}\n"));
        }
    }
    let false_verdicts: usize = results.iter().map(|r| r.false_verdicts.len()).sum();
    out.push_str(&format!(
        "false verdicts: {false_verdicts} over {} variants\n",
        results.len()
    ));
    out
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join("\n      ")
}

#[expect(clippy::print_stdout, reason = "the matrix is this command's product")]
pub fn run(args: &VariantsArgs, built_in: &'static BuiltIn) -> ExitCode {
    let cases = match load_suite(&args.cases.sources(built_in)) {
        Ok((_, c)) => c,
        Err(errors) => {
            errors.iter().for_each(|e| eprintln!("error: {e}\n"));
            return exit::code(exit::INVALID);
        }
    };
    let variants = if args.variants.is_empty() {
        Variant::ALL.to_vec()
    } else {
        args.variants.clone()
    };
    match matrix_with(&cases, &variants, args.jobs) {
        Ok(results) => {
            print!("{}", render(&results, cases.len()));
            let clean = results.iter().all(|r| r.false_verdicts.is_empty());
            exit::code(if clean { exit::PASSED } else { exit::FAILED })
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::code(exit::UNREACHABLE)
        }
    }
}
