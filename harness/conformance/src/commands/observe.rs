//! `mimi-conformance observe`: the observer between providers that route their link-B traffic
//! through it. It prints a line per exchange on stderr, and when interrupted (Ctrl-C, SIGTERM)
//! or after `--for` seconds writes `junit.xml`, `results.json`, `run.json`, `observer.json`
//! and its site to the reports folder, through the life a run's reports go through
//! (`report::lifecycle`): in progress from the start, each file renamed into place.

use crate::builtin::BuiltIn;
use crate::exit;
use crate::observer::{Observer, ObserverConfig};
use crate::profile::Profile;
use crate::report::lifecycle::{Ending, Reported, Reports};
use crate::report::observed as report;
use crate::session::{load_suite, CaseFolders};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ObserveArgs {
    /// A provider's profile (repeatable): its domain, where it really is (its address
    /// override, else DNS), the CA that issued its certificate, and its draft.
    #[arg(long = "provider", value_name = "FILE", required = true)]
    pub providers: Vec<PathBuf>,
    /// The observer's certificates: `<domain>.pem` and `<domain>.key.pem` for every provider
    /// domain, from a CA the providers trust (`pki --observer` writes them to `<out>/observer`).
    #[arg(long, value_name = "DIR")]
    pub identities: PathBuf,
    /// Where the providers reach the observer: each resolves the others' domains to it.
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub listen: SocketAddr,
    /// The folder reports are written to.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// The cases whose requirements.yaml grades findings.
    #[command(flatten)]
    pub cases: CaseFolders,
    /// Broken SHOULDs fail too.
    #[arg(long)]
    pub strict: bool,
    /// Stop after this many seconds instead of at Ctrl-C.
    #[arg(long = "for", value_name = "SECONDS")]
    pub duration: Option<u64>,
}

pub fn run(args: &ObserveArgs, built_in: &'static BuiltIn) -> ExitCode {
    let catalogue = match load_suite(&args.cases.sources(built_in)) {
        Ok((c, _)) => c,
        Err(errors) => {
            errors.iter().for_each(|e| eprintln!("error: {e}\n"));
            return exit::code(exit::INVALID);
        }
    };
    // From here on the previous reports are gone, and whatever happens leaves reports that say
    // it, as a run's do.
    let reports = match Reports::begin_observation(&args.reports, args.strict) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot write reports: {e:#}");
            return exit::code(exit::INVALID);
        }
    };
    let graded = Reported {
        catalogue: Some(&catalogue),
        ..Reported::default()
    };
    let not_started = |code: u8, why: String| {
        eprintln!("error: {why}");
        reports.finish(&graded, &Ending::NotStarted { code, why }, code);
        exit::code(code)
    };
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => return not_started(exit::INVALID, format!("{e:#}")),
    };
    let runtime = match super::build_runtime() {
        Ok(r) => r,
        Err(e) => {
            return not_started(
                exit::UNREACHABLE,
                format!("cannot start the async runtime: {e}"),
            )
        }
    };
    let observed = runtime.block_on(async {
        let console: crate::observer::ExchangeListener =
            Arc::new(|ex| eprintln!("{}", report::console_line(ex)));
        let observer = Observer::start(config, Some(console)).await?;
        eprintln!(
            "observing link B on {}: route each provider's peers there; Ctrl-C ends it",
            observer.addr
        );
        // Ctrl-C, and SIGTERM (a CI job's end, a service manager), end it with its reports:
        // that is how an observation ends, so its reports say it finished, and how.
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let until = async {
            match args.duration {
                Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
                None => std::future::pending().await,
            }
        };
        let how = tokio::select! {
            _ = interrupt.recv() => "the observation was ended by SIGINT".to_string(),
            _ = terminate.recv() => "the observation was ended by SIGTERM".to_string(),
            () = until => format!(
                "the observation ended after --for {} s",
                args.duration.unwrap_or_default()
            ),
        };
        anyhow::Ok((observer.report(), how))
    });
    let (observed, how) = match observed {
        Ok(r) => r,
        Err(e) => return not_started(exit::UNREACHABLE, format!("{e:#}")),
    };
    let code = if report::observation_fails(&observed, &catalogue, args.strict) {
        exit::FAILED
    } else {
        exit::PASSED
    };
    reports.finish(
        &Reported {
            observed: Some(&observed),
            ..graded
        },
        &Ending::Finished { note: Some(how) },
        code,
    );
    eprintln!(
        "{} exchange(s), {} finding(s); reports in {}",
        observed.exchanges_seen,
        observed.finding_counts.values().sum::<u64>(),
        args.reports.display()
    );
    exit::code(code)
}

/// The observer's configuration from the providers' profiles and its certificates.
fn config(args: &ObserveArgs) -> anyhow::Result<ObserverConfig> {
    let profiles = args
        .providers
        .iter()
        .map(|path| Profile::load_undriven(path).map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    ObserverConfig::for_profiles(&profiles, &args.identities, args.listen)
}
