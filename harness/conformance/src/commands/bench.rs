//! `mimi-conformance bench`: every speed figure of the harness in one run, each as a ratio or
//! with its floor beside it, so that a regression shows on a shared, noisy machine:
//! the runner's per-step overhead against a bare reqwest loop on the same embedded endpoint
//! (interleaved rounds, so noise hits both sides), the time to load and validate generated case
//! files (against reading them alone), the built-in suite's wall and CPU time (against its
//! longest unavoidable wait and CPU ÷ cores), and the mutants' (against CPU ÷ cores). The
//! figures go to stderr; `--json` also prints them as one JSON object on stdout.

use crate::builtin::BuiltIn;
use crate::case::{self, parse_case};
use crate::exit;
use crate::reference::pool;
use crate::reference::Faults;
use crate::runner::events::Verdict;
use crate::runner::run_case;
use crate::session::{load_suite, CaseSources};
use mimi_wire::common::{Credential, IdentifierUri};
use mimi_wire::messages::key_material::{KeyMaterialRequest, KEY_MATERIAL_REQUEST_LABEL};
use mimi_wire::Encode;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Requests in the bare loop, and steps in the runner's case.
    #[arg(long, default_value_t = 500)]
    pub requests: usize,
    /// Case files to generate and load.
    #[arg(long, default_value_t = 10_000)]
    pub cases: usize,
    /// Also print every figure as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Skip the mutants, the slowest part.
    #[arg(long)]
    pub no_mutants: bool,
}

/// One claim for an unknown user: the cheapest full exchange the provider has.
const STEP: &str = r#"
  - name: claim for nobody
    by: hub
    on: target
    call: keyMaterial
    path: {targetUser: "mimi://{{ target.domain }}/u/nobody"}
    body:
      KeyMaterialRequest: {requester: alice}
    expect:
      status: 200
      body:
        userStatus: userUnknown
        clients: {len: 0}
"#;

const ROUNDS: usize = 3;

const HEADER: &str = r#"title: bench
checks: [KM-16]
links: [B]
actors:
  providers: {target: under-test, hub: harness}
  clients: {alice: {on: hub}}
needs: [keyMaterial]
steps:
"#;

pub fn run(args: &BenchArgs, built_in: &'static BuiltIn) -> ExitCode {
    match bench(args, built_in) {
        Ok(figures) => {
            figures.describe(args);
            if args.json {
                print_json(&figures.json());
            }
            exit::code(exit::PASSED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code(exit::FAILED)
        }
    }
}

#[expect(clippy::print_stdout, reason = "--json prints the figures on stdout")]
fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

fn per(d: Duration, n: usize) -> Duration {
    d / u32::try_from(n.max(1)).unwrap_or(u32::MAX)
}

/// CPU time this process has used so far (user and system, every thread), from
/// /proc/self/stat; None where there is none.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it. utime
    // and stime are fields 14 and 15, in USER_HZ, which Linux fixes at 100 for /proc.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Option<Duration>) {
    let (cpu, start) = (cpu_time(), Instant::now());
    let out = f();
    let wall = start.elapsed();
    let cpu = cpu
        .zip(cpu_time())
        .map(|(before, after)| after.saturating_sub(before));
    (out, wall, cpu)
}

/// The one-minute load average, to read the other figures by.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Every figure of one run.
struct Figures {
    cores: usize,
    startup: Duration,
    bare_step: Duration,
    runner_step: Duration,
    load: Duration,
    /// Reading the same files without parsing them: the loader's floor.
    read: Duration,
    suite_cases: usize,
    suite_wall: Duration,
    suite_cpu: Option<Duration>,
    /// The longest wait a case imposes by design (a scripted `Retry-After`).
    longest_wait: Duration,
    /// Mutants, runs (mutants and the correct provider, times cases), wall, CPU.
    mutants: Option<(usize, usize, Duration, Option<Duration>)>,
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    (a.as_secs_f64() / b.as_secs_f64().max(1e-9) * 100.0).round() / 100.0
}

/// CPU time spread over the cores: the least wall time the work could take.
fn spread(cpu: Duration, cores: usize) -> Duration {
    per(cpu, cores)
}

impl Figures {
    fn step_ratio(&self) -> f64 {
        ratio(self.runner_step, self.bare_step)
    }

    /// The suite's floor: its longest unavoidable wait, or its CPU time spread over the
    /// cores, whichever is longer.
    fn suite_floor(&self) -> Duration {
        self.longest_wait
            .max(spread(self.suite_cpu.unwrap_or_default(), self.cores))
    }

    fn json(&self) -> serde_json::Value {
        let mutants = self.mutants.map(|(n, runs, wall, cpu)| {
            serde_json::json!({
                "mutants": n,
                "runs": runs,
                "wall_s": secs(wall),
                "cpu_s": cpu.map(secs),
                "floor_s": cpu.map(|c| secs(spread(c, self.cores))),
                "ratio": cpu.map(|c| ratio(wall, spread(c, self.cores))),
            })
        });
        serde_json::json!({
            "cores": self.cores,
            "load_average": load_average(),
            "startup_s": secs(self.startup),
            "step_ratio": self.step_ratio(),
            "bare_step_us": self.bare_step.as_micros() as u64,
            "runner_step_us": self.runner_step.as_micros() as u64,
            "load_10k_s": secs(self.load),
            "read_10k_s": secs(self.read),
            "suite_cases": self.suite_cases,
            "suite_wall_s": secs(self.suite_wall),
            "suite_cpu_s": self.suite_cpu.map(secs),
            "longest_wait_s": secs(self.longest_wait),
            "suite_floor_s": secs(self.suite_floor()),
            "suite_ratio": ratio(self.suite_wall, self.suite_floor()),
            "mutants_wall_s": self.mutants.map(|m| secs(m.2)),
            "mutants_cpu_s": self.mutants.and_then(|m| m.3.map(secs)),
            "mutants": mutants,
        })
    }

    fn describe(&self, args: &BenchArgs) {
        let load = load_average().map_or(String::new(), |l| format!(", load average {l:.1}"));
        eprintln!(
            "cores: {}{load} (a shared machine: read the ratios)",
            self.cores
        );
        eprintln!(
            "embedded pair started (certificates, KeyPackages, listeners, directory fetched): {:.1?}",
            self.startup
        );
        eprintln!(
            "step: runner {:.1?} against a bare reqwest loop {:.1?} per exchange ({} requests to keyMaterial, best of {ROUNDS} interleaved rounds): ratio {:.2} (goal ≤ 1.2)",
            self.runner_step,
            self.bare_step,
            args.requests,
            self.step_ratio()
        );
        eprintln!(
            "load and validate {} case files: {:.2} s; reading them alone {:.2} s (ratio {:.1}; goal ≤ 1 s for 10 000)",
            args.cases,
            self.load.as_secs_f64(),
            self.read.as_secs_f64(),
            ratio(self.load, self.read)
        );
        let cpu = |c: Option<Duration>| {
            c.map_or("unknown".into(), |c| format!("{:.2} s", c.as_secs_f64()))
        };
        eprintln!(
            "suite, {} cases: wall {:.2} s, CPU {}; floor {:.2} s (longest unavoidable wait {:.2} s, CPU ÷ cores {:.2} s): ratio {:.2} (goal: wall ≤ longest wait + 0.3 s)",
            self.suite_cases,
            self.suite_wall.as_secs_f64(),
            cpu(self.suite_cpu),
            self.suite_floor().as_secs_f64(),
            self.longest_wait.as_secs_f64(),
            spread(self.suite_cpu.unwrap_or_default(), self.cores).as_secs_f64(),
            ratio(self.suite_wall, self.suite_floor()),
        );
        match self.mutants {
            Some((n, runs, wall, mutants_cpu)) => {
                let floor = spread(mutants_cpu.unwrap_or_default(), self.cores);
                eprintln!(
                    "mutants, {n} and the correct provider ({runs} case runs): wall {:.1} s, CPU {}; floor CPU ÷ cores {:.1} s: ratio {:.2} (goal ≤ 1.3, and wall under 30 s)",
                    wall.as_secs_f64(),
                    cpu(mutants_cpu),
                    floor.as_secs_f64(),
                    ratio(wall, floor)
                );
            }
            None => eprintln!("mutants: skipped (--no-mutants)"),
        }
    }
}

fn bench(args: &BenchArgs, built_in: &'static BuiltIn) -> anyhow::Result<Figures> {
    let sources = CaseSources {
        built_in: Some(built_in),
        folders: Vec::new(),
    };
    let (catalogue, suite) =
        load_suite(&sources).map_err(|e| anyhow::anyhow!("{}", e.join("\n")))?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (startup, (bare_step, runner_step)) = steps(args, &catalogue)?;
    let (load, read) = loading(args, &catalogue)?;

    // The built-in suite as `run` schedules it, on the correct embedded providers.
    let (records, suite_wall, suite_cpu) = timed(|| {
        pool::run_all(
            &[("the correct provider".to_string(), Faults::none())],
            &suite,
            |faults| crate::reference::with_faults(faults.clone()),
            crate::runner::default_threads(),
        )
    });
    let records = records.map_err(anyhow::Error::msg)?;
    let failed: Vec<&str> = (records.iter().flatten())
        .filter(|r| r.verdict.fails(false))
        .map(|r| r.id.as_str())
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "cases fail against the correct provider: {}",
        failed.join(", ")
    );
    let longest_wait = suite
        .iter()
        .map(crate::runner::imposed_wait)
        .max()
        .unwrap_or_default();

    let mutants = if args.no_mutants {
        None
    } else {
        let (matrix, wall, cpu) = timed(|| crate::reference::mutants::kill_matrix(&suite));
        let (results, _) = matrix.map_err(anyhow::Error::msg)?;
        // The correct provider's runs, and each mutant's.
        let runs = suite.len() + results.iter().map(|r| r.ran).sum::<usize>();
        Some((results.len(), runs, wall, cpu))
    };
    Ok(Figures {
        cores,
        startup,
        bare_step,
        runner_step,
        load,
        read,
        suite_cases: suite.len(),
        suite_wall,
        suite_cpu,
        longest_wait,
        mutants,
    })
}

/// The embedded pair's start-up, and the time per exchange of the bare loop and of the runner.
fn steps(
    args: &BenchArgs,
    catalogue: &crate::catalogue::Catalogue,
) -> anyhow::Result<(Duration, (Duration, Duration))> {
    let start = Instant::now();
    let prepared = crate::reference::prepare_embedded().map_err(anyhow::Error::msg)?;
    let startup = start.elapsed();
    let session = &prepared.session;
    let connection = &session.connections[0];
    let profile = &connection.profile;

    // The bare loop: a request like the runner's (signed, so the provider does the same work),
    // the same TLS, a plain reqwest client.
    let alice = mimi_mls::SimClient::new(
        "mimi://harness.example/d/alice/1",
        mimi_mls::DEFAULT_CIPHERSUITE,
    );
    let mut request = KeyMaterialRequest {
        protocol: 1,
        requesting_user: IdentifierUri("mimi://harness.example/u/alice".into()),
        target_user: IdentifierUri(format!("mimi://{}/u/nobody", profile.domain)),
        room_id: IdentifierUri::default(),
        acceptable_ciphersuites: vec![1],
        required_capabilities: Default::default(),
        requester_signature_key: alice.signature_key().to_vec(),
        requester_credential: Credential::Basic(alice.uri.clone().into_bytes()),
        signature: Vec::new(),
    };
    request.signature = alice.sign_with_label(KEY_MATERIAL_REQUEST_LABEL, &request.to_be_signed());
    let body = request.to_bytes();
    let tls = mimi_pki::tls::client_config(
        &profile.trust_roots_pem,
        Some((&profile.harness.cert_pem, &profile.harness.key_pem)),
    )?;
    let addr: std::net::SocketAddr = profile.address_overrides[&profile.domain].parse()?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .tcp_nodelay(true)
        .resolve(&profile.domain, addr)
        .build()?;
    let url = format!(
        "https://{}:{}/v1/keyMaterial/mimi%3A%2F%2F{}%2Fu%2Fnobody",
        profile.domain,
        addr.port(),
        profile.domain
    );
    let from = format!("mimi@{}", profile.harness.domain);
    let bare_round = || {
        session.runtime.block_on(async {
            // Warm the connection first, as the runner's has been warmed by its directory fetch.
            let send = || {
                client
                    .post(&url)
                    .header("from", &from)
                    .body(body.clone())
                    .send()
            };
            send().await?.bytes().await?;
            let start = Instant::now();
            for _ in 0..args.requests {
                let response = send().await?;
                anyhow::ensure!(
                    response.status().as_u16() == 200,
                    "bare request: {}",
                    response.status()
                );
                response.bytes().await?;
            }
            Ok(start.elapsed())
        })
    };

    // The runner: one case of N identical steps (body built and signed, response decoded,
    // expectations checked, the exchange recorded, events emitted).
    let source = format!("{HEADER}{}", STEP.repeat(args.requests));
    let case = parse_case(
        Path::new("bench"),
        Path::new("bench/B/x.yaml"),
        source,
        catalogue,
    )
    .map_err(|e| anyhow::anyhow!("{}", e[0]))?;
    let runner_round = || -> anyhow::Result<Duration> {
        let start = Instant::now();
        let record = run_case(&case, session);
        anyhow::ensure!(
            record.verdict == Verdict::Pass,
            "the bench case fails: {}",
            crate::report::console::failure_message(&record)
        );
        Ok(start.elapsed())
    };
    // Interleaved rounds, best of each: noise from the shared machine hits both sides alike.
    let (mut bare, mut runner) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        bare = bare.min(bare_round()?);
        runner = runner.min(runner_round()?);
    }

    Ok((
        startup,
        (per(bare, args.requests), per(runner, args.requests)),
    ))
}

/// Loading and validating N generated case files, and reading them alone.
fn loading(
    args: &BenchArgs,
    catalogue: &crate::catalogue::Catalogue,
) -> anyhow::Result<(Duration, Duration)> {
    let dir = std::env::temp_dir().join(format!("mimi-bench-cases-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut files = Vec::new();
    for i in 0..args.cases {
        let folder = dir.join("B").join(format!("group{}", i % 100));
        std::fs::create_dir_all(&folder)?;
        let file = folder.join(format!("case{i}.yaml"));
        std::fs::write(&file, format!("{HEADER}{STEP}"))?;
        files.push(file);
    }
    let start = Instant::now();
    let (loaded, errors) = case::load_all(&dir, catalogue);
    let load = start.elapsed();
    let start = Instant::now();
    let mut bytes = 0;
    for file in &files {
        bytes += std::fs::read_to_string(file)?.len();
    }
    let read = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        errors.is_empty() && loaded.len() == args.cases && bytes > 0,
        "generated cases load: {errors:?}"
    );
    Ok((load, read))
}
