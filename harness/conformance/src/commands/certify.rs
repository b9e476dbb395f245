//! `keygen`, `certify` and `verify`: self-certification (`crate::certify`) on the command line.
//! `certify` runs the suite as `run` does (its reports folder gets `results.json` and
//! `evidence.json`) and signs the outcome, or signs a finished run's reports
//! (`--from-reports`); without `--provider`, it runs against the embedded reference providers
//! when this build has them.

use crate::builtin::BuiltIn;
use crate::certify::bundle::Bundle;
use crate::certify::keys::{self, PublicKey, SigningKey};
use crate::certify::verify::Verified;
use crate::certify::{certify_reports, summary, Refused};
use crate::exit;
use crate::profile::Profile;
use crate::report::html::{self, verify::Certification};
use crate::session::{run_suite, CaseFolders, Providers, RunOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (PKCS#8 PEM, private) and PREFIX.pub (SubjectPublicKeyInfo PEM).
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct CertifyArgs {
    /// The provider profile (YAML) to certify, then optionally its peer's; the first must
    /// declare `software-version`. Without any, the embedded reference providers. With
    /// `--from-reports`, the profiles whose secrets the bundle is searched for.
    #[arg(long = "provider", value_name = "FILE")]
    pub providers: Vec<PathBuf>,
    /// The private key (PKCS#8 PEM, Ed25519) that signs the bundle: `keygen` makes one.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Where the bundle is written (nothing is written when certification is refused).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Sign the finished run whose reports are in DIR instead of running the suite.
    #[arg(long, value_name = "DIR")]
    pub from_reports: Option<PathBuf>,
    /// The folder the run writes its reports to.
    #[arg(long, default_value = "reports", conflicts_with = "from_reports")]
    pub reports: PathBuf,
    /// The case folders, as the run had them.
    #[command(flatten)]
    pub cases: CaseFolders,
    /// Refuse on broken SHOULDs and inconclusive cases too.
    #[arg(long, conflicts_with = "from_reports")]
    pub strict: bool,
    /// The provider's expectation file (known-failing cases with reasons); it goes into the
    /// evidence. A known failure of a MUST still refuses certification.
    #[arg(long, value_name = "FILE", conflicts_with = "from_reports")]
    pub expectations: Option<PathBuf>,
    /// Cases run at once (libtest's --test-threads).
    #[arg(long, value_name = "N", conflicts_with = "from_reports")]
    pub test_threads: Option<usize>,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// The public key (SubjectPublicKeyInfo PEM) it must be signed with.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The verifier's case folders, which must hold the case set the bundle was made with.
    #[command(flatten)]
    pub cases: CaseFolders,
    /// Also write the bundle's members (results.json, evidence.json) to this folder once
    /// verified.
    #[arg(long, value_name = "DIR")]
    pub extract: Option<PathBuf>,
    /// Also write the bundle as a static site (index.html, a page per case and per
    /// requirement) to this folder once verified; a bundle that does not verify gets one page
    /// there that says so and why.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
}

pub fn keygen(args: &KeygenArgs) -> ExitCode {
    let prefix = args.out.display().to_string();
    let (private_path, public_path) = (
        PathBuf::from(format!("{prefix}.key")),
        PathBuf::from(format!("{prefix}.pub")),
    );
    for path in [&private_path, &public_path] {
        if path.exists() {
            eprintln!(
                "error: {} exists; keygen never overwrites a key",
                path.display()
            );
            return exit::code(exit::INVALID);
        }
    }
    let written = keys::generate().and_then(|(private, public)| {
        write_private(&private_path, &private)
            .and_then(|_| std::fs::write(&public_path, &public))
            .map_err(|e| format!("cannot write the key pair: {e}"))?;
        PublicKey::from_pem(&public)
    });
    match written {
        Ok(public) => {
            eprintln!(
                "wrote {} (private: keep it) and {} (public: give it to verifiers); keyid {}",
                private_path.display(),
                public_path.display(),
                public.keyid()
            );
            exit::code(exit::PASSED)
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::code(exit::INVALID)
        }
    }
}

/// The private key file, readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

pub fn certify(args: CertifyArgs, built_in: &'static BuiltIn) -> ExitCode {
    match certify_run(args, built_in) {
        Ok(()) => exit::code(exit::PASSED),
        Err(Refused::Invalid(message)) => {
            eprintln!("error: {message}");
            exit::code(exit::INVALID)
        }
        Err(Refused::Refused(message)) => {
            eprintln!("{message}");
            exit::code(exit::FAILED)
        }
    }
}

fn certify_run(args: CertifyArgs, built_in: &'static BuiltIn) -> Result<(), Refused> {
    let key_text = std::fs::read_to_string(&args.key).map_err(|e| {
        Refused::Invalid(format!("cannot read the key {}: {e}", args.key.display()))
    })?;
    let key = SigningKey::from_pem(&key_text)
        .map_err(|e| Refused::Invalid(format!("{}: {e}", args.key.display())))?;
    let sources = args.cases.sources(built_in);
    let profiles = (args.providers.iter())
        .map(|p| Profile::load(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Refused::Invalid(e.to_string()))?;
    // The secrets the bundle must not hold: those of the profiles given (the embedded
    // providers' are made for one run and leave nothing behind).
    let secrets: Vec<String> = profiles
        .iter()
        .flat_map(crate::certify::profile::secrets)
        .collect();
    let reports = match &args.from_reports {
        Some(dir) => dir.clone(),
        None => {
            run(&args, profiles, &sources)?;
            args.reports.clone()
        }
    };
    let (bundle, statement) = certify_reports(&reports, &sources, &key, &secrets)?;
    let bytes = serde_json::to_vec_pretty(&bundle).expect("a bundle serialises");
    let temporary = args.out.with_extension("partial");
    std::fs::write(&temporary, &bytes)
        .and_then(|_| std::fs::rename(&temporary, &args.out))
        .map_err(|e| Refused::Invalid(format!("cannot write {}: {e}", args.out.display())))?;
    eprintln!("{}", summary(&statement, &key.public().keyid()));
    eprintln!(
        "wrote {} ({} bytes); check it with: mimi-conformance verify {} --key <the public key>",
        args.out.display(),
        bytes.len(),
        args.out.display()
    );
    Ok(())
}

/// The run `certify` signs, its reports in `args.reports`.
fn run(
    args: &CertifyArgs,
    profiles: Vec<Profile>,
    sources: &crate::session::CaseSources,
) -> Result<(), Refused> {
    if let Some(p) = profiles.first().filter(|p| p.software_version.is_none()) {
        return Err(Refused::Invalid(format!(
            "the profile of {} declares no software-version: a certification names the \
             version it certifies (add `software-version: \"...\"` to {})",
            p.name,
            args.providers[0].display()
        )));
    }
    let providers = if profiles.is_empty() {
        super::run::default_providers().ok_or_else(|| {
            Refused::Invalid(
                "no --provider given, and this build has no reference provider to certify".into(),
            )
        })?
    } else {
        Providers::Profiles(profiles)
    };
    // A report left by an earlier run must not be taken for this one's.
    let evidence = args.reports.join(crate::certify::evidence::FILE);
    let _ = std::fs::remove_file(&evidence);
    let options = RunOptions {
        strict: args.strict,
        expectations: args.expectations.clone(),
        reports: Some(args.reports.clone()),
        run_timeout: None,
        // The provider's own snapshots are compared beside the cases, where the case set the
        // bundle names holds them; a bundle does not carry the reports folder's.
        snapshots_beside_cases: true,
        test: libtest_mimic::Arguments {
            test_threads: args.test_threads,
            ..Default::default()
        },
        evidence: Some(&crate::certify::evidence::EVIDENCE),
    };
    // Certification judges by the reports, not by the run's exit code; but a run that could
    // not start wrote none.
    let _ = run_suite(sources, providers, &options);
    if evidence.exists() {
        Ok(())
    } else {
        Err(Refused::Invalid(format!(
            "the run wrote no reports to {}: see above",
            args.reports.display()
        )))
    }
}

pub fn verify(args: &VerifyArgs, built_in: &'static BuiltIn) -> ExitCode {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let inputs = read(&args.bundle).and_then(|bundle| {
        let key = String::from_utf8(read(&args.key)?)
            .map_err(|_| format!("{} is not a PEM file", args.key.display()))?;
        let key = PublicKey::from_pem(&key).map_err(|e| format!("{}: {e}", args.key.display()))?;
        let bundle =
            Bundle::parse(&bundle).map_err(|e| format!("{}: {e}", args.bundle.display()))?;
        Ok((bundle, key))
    });
    let (bundle, key) = match inputs {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::code(exit::INVALID);
        }
    };
    let started = std::time::Instant::now();
    let sources = args.cases.sources(built_in);
    match crate::certify::verify::verify(&bundle, &key, &sources) {
        Ok(verified) => {
            eprintln!(
                "verified {} in {}ms: {}",
                args.bundle.display(),
                started.elapsed().as_millis(),
                verified.checked()
            );
            eprintln!("{}", summary(&verified.statement, &verified.keyid));
            if let Some(dir) = &args.extract {
                if let Err(e) = extract(&bundle, dir) {
                    eprintln!("error: {e}");
                    return exit::code(exit::INVALID);
                }
            }
            if let Some(dir) = &args.html {
                if let Err(e) = write_site(dir, &args.bundle, &verified) {
                    eprintln!("error: cannot write the site to {}: {e:#}", dir.display());
                    return exit::code(exit::INVALID);
                }
                eprintln!(
                    "wrote the bundle's site: {}",
                    dir.join("index.html").display()
                );
            }
            exit::code(exit::PASSED)
        }
        Err(errors) => {
            eprintln!("{} does not verify:", args.bundle.display());
            for e in &errors {
                eprintln!("  {e}");
            }
            if let Some(dir) = &args.html {
                let name = args.bundle.display().to_string();
                if let Err(e) = html::verify::write_unverified(dir, &name, &errors) {
                    eprintln!("error: cannot write the site to {}: {e:#}", dir.display());
                    return exit::code(exit::INVALID);
                }
                eprintln!(
                    "wrote {}, which says the bundle does not verify and why",
                    dir.join("index.html").display()
                );
            }
            exit::code(exit::FAILED)
        }
    }
}

/// The verified bundle as the site of the run it certifies, its index headed by what it
/// certifies and how it was verified.
fn write_site(dir: &Path, bundle: &Path, verified: &Verified) -> anyhow::Result<()> {
    let predicate = &verified.statement.predicate;
    let mimi = &predicate.mimi_conformance;
    let version = mimi.provider.software_version.clone().unwrap_or_default();
    let certification = Certification {
        bundle: bundle.display().to_string(),
        provider: mimi.provider.name.clone(),
        domain: mimi.provider.domain.clone(),
        version: version.clone(),
        peer: mimi.peer.as_ref().map(|p| {
            let version = p.software_version.as_deref().unwrap_or("(no version)");
            format!("{} {version} ({})", p.name, p.domain)
        }),
        result: mimi.result.clone(),
        strict: mimi.strict,
        started: mimi.started.clone(),
        finished: mimi.finished.clone(),
        declared_draft: mimi.drafts.declared.clone(),
        cited_drafts: mimi.drafts.cited.clone(),
        scope: mimi.scope.statement.clone(),
        not_declared: mimi.scope.not_declared.clone(),
        unsupported: mimi.scope.unsupported_cases.clone(),
        warnings: mimi.warnings.iter().map(crate::certify::warning).collect(),
        keyid: verified.keyid.clone(),
        verified: format!(
            "Verified: {}. The recomputed verdicts agree with those the bundle records.",
            verified.checked()
        ),
    };
    let title = format!("mimi-conformance verify: {} {version}", mimi.provider.name);
    html::run::write(
        dir,
        &html::run::RunSite {
            title: &title,
            records: &verified.records,
            catalogue: Some(&verified.catalogue),
            observer: None,
            strict: mimi.strict,
            ending: None,
            prefix: "",
            home: "verify",
            crumbs: Vec::new(),
            results: None,
            observer_json: None,
            certification: Some(&certification),
        },
    )
}

fn extract(bundle: &Bundle, dir: &Path) -> Result<(), String> {
    // A member's name is a file name, never a path out of `dir`.
    if let Some(member) = (bundle.members.iter()).find(|m| {
        Path::new(&m.name).file_name() != Some(m.name.as_ref()) || m.name.contains(['/', '\\'])
    }) {
        return Err(format!(
            "the bundle's member {:?} is not a file name; nothing was extracted",
            member.name
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for member in &bundle.members {
        let path = dir.join(&member.name);
        std::fs::write(&path, member.bytes()?)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
