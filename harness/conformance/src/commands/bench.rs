//! `mimi-conformance bench`: the runner's per-step overhead against a bare reqwest loop on the
//! same embedded endpoint (as a ratio, in one run, so machine noise hits both sides), and the
//! time to load and validate generated case files. Results go to stderr.

use crate::builtin::BuiltIn;
use crate::case::{self, parse_case};
use crate::exit;
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
        Ok(()) => exit::code(exit::PASSED),
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code(exit::FAILED)
        }
    }
}

fn per(d: Duration, n: usize) -> Duration {
    d / u32::try_from(n.max(1)).unwrap_or(u32::MAX)
}

fn bench(args: &BenchArgs, built_in: &'static BuiltIn) -> anyhow::Result<()> {
    let sources = CaseSources {
        built_in: Some(built_in),
        folders: Vec::new(),
    };
    let (catalogue, _) = load_suite(&sources).map_err(|e| anyhow::anyhow!("{}", e.join("\n")))?;
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
    // expectations checked, transcript rendered, events emitted).
    let source = format!("{HEADER}{}", STEP.repeat(args.requests));
    let case = parse_case(
        Path::new("bench"),
        Path::new("bench/B/x.yaml"),
        source,
        &catalogue,
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

    // Loading: N case files in a fresh folder tree.
    let dir = std::env::temp_dir().join(format!("mimi-bench-cases-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for i in 0..args.cases {
        let folder = dir.join("B").join(format!("group{}", i % 100));
        std::fs::create_dir_all(&folder)?;
        std::fs::write(
            folder.join(format!("case{i}.yaml")),
            format!("{HEADER}{STEP}"),
        )?;
    }
    let start = Instant::now();
    let (loaded, errors) = case::load_all(&dir, &catalogue);
    let load = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        errors.is_empty() && loaded.len() == args.cases,
        "generated cases load: {errors:?}"
    );

    let (bare_each, runner_each) = (per(bare, args.requests), per(runner, args.requests));
    eprintln!("embedded pair started (certificates, KeyPackages, listeners, directory fetched): {startup:.1?}");
    eprintln!(
        "per exchange, {} requests to keyMaterial on the embedded provider (best of {ROUNDS} interleaved rounds):",
        args.requests
    );
    eprintln!("  bare reqwest loop  {bare_each:>10.1?}");
    eprintln!("  runner step        {runner_each:>10.1?}");
    eprintln!(
        "  ratio runner/bare  {:>10.2}",
        runner_each.as_secs_f64() / bare_each.as_secs_f64()
    );
    eprintln!(
        "load and validate {} case files: {load:.1?} ({:.1?} per file)",
        args.cases,
        per(load, args.cases)
    );
    Ok(())
}
