//! `mimi-conformance serve`: reference providers for another tool, a plugfest peer or a person
//! with curl. It writes their PKI and provider profiles to a folder, prints the profiles, and
//! serves until interrupted (or for `--for` seconds). The providers reach each other (rooms can
//! span them), and each serves the driver API (links A and C) on a port of its own, guarded by
//! one bearer token that is written beside the profiles, never into them.

use crate::exit;
use crate::lab::{profile_yaml, CaArgs};
use mimi_reference_provider::faults::{Fault, Faults};
use mimi_reference_provider::variants::{Variant, Variants};
use mimi_reference_provider::ProviderConfig;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The folder of the observer's certificates, beside the profiles.
pub const OBSERVER_IDENTITIES: &str = "observer";

/// The variable the printed profiles name for the driver token.
pub const DRIVER_TOKEN_ENV: &str = "MIMI_DRIVER_TOKEN";

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A provider domain to serve (repeatable).
    #[arg(long = "domain", default_values_t = ["a.example".to_string(), "b.example".to_string()])]
    pub domains: Vec<String>,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,
    /// The first domain listens on this port, the next on the one after; 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Where the PKI and the provider profiles are written.
    #[arg(long, default_value = "serve")]
    pub out: PathBuf,
    /// The domain the harness (or your tool) presents as a client.
    #[arg(long, default_value = "harness.example")]
    pub harness_domain: String,
    /// Where the harness will serve link B (its `run` listens there): the providers reach the
    /// harness's domain at this address, and the profiles say so.
    #[arg(long)]
    pub harness_listen: Option<SocketAddr>,
    /// The providers reach one another through this address (an observer: `observe --listen`),
    /// still naming and verifying each other's domain in TLS.
    #[arg(long, value_name = "ADDR")]
    pub peers_via: Option<SocketAddr>,
    #[command(flatten)]
    pub ca: CaArgs,
    /// Switch on a named fault in every provider served, or with NAME@DOMAIN in that one only
    /// (repeatable).
    #[arg(long = "fault", value_name = "NAME[@DOMAIN]")]
    pub faults: Vec<FaultIn>,
    /// Switch on a named variant, a legal behaviour other than the reference's, in every
    /// provider served (repeatable); the profiles describe it.
    #[arg(long = "variant")]
    pub variants: Vec<Variant>,
    /// The driver APIs' bearer token; by default $MIMI_DRIVER_TOKEN, or a fresh random one.
    #[arg(long)]
    pub driver_token: Option<String>,
    /// Stop after this many seconds instead of at Ctrl-C.
    #[arg(long = "for", value_name = "SECONDS")]
    pub duration: Option<u64>,
}

/// A fault, in every provider or in the one of a domain.
#[derive(Debug, Clone)]
pub struct FaultIn {
    pub fault: Fault,
    pub domain: Option<String>,
}

impl FaultIn {
    /// Those of `faults` that apply to the provider of `domain`.
    fn in_domain<'a>(faults: &'a [FaultIn], domain: &'a str) -> impl Iterator<Item = &'a FaultIn> {
        faults
            .iter()
            .filter(move |f| f.domain.as_deref().is_none_or(|d| d == domain))
    }
}

impl std::str::FromStr for FaultIn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, domain) = match s.split_once('@') {
            Some((name, domain)) => (name, Some(domain.to_string())),
            None => (s, None),
        };
        Ok(Self {
            fault: name.parse()?,
            domain,
        })
    }
}

pub fn run(args: &ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::code(exit::UNREACHABLE);
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => exit::code(exit::PASSED),
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code(exit::UNREACHABLE)
        }
    }
}

#[expect(
    clippy::print_stdout,
    reason = "the profiles are this command's product"
)]
async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let ca = args.ca.load_or_generate("mimi-conformance serve CA")?;
    let write = |name: &str, text: &str| std::fs::write(args.out.join(name), text);
    write("ca.pem", &ca.cert_pem)?;
    let harness = ca.issue(&args.harness_domain)?;
    write(&format!("{}.pem", args.harness_domain), &harness.cert_pem)?;
    write(
        &format!("{}.key.pem", args.harness_domain),
        &harness.key_pem,
    )?;
    if let Some(unknown) = args
        .faults
        .iter()
        .filter_map(|f| f.domain.as_ref())
        .find(|d| !args.domains.contains(d))
    {
        anyhow::bail!("--fault names {unknown}, which is not a --domain served");
    }
    let faults_of = |domain: &str| {
        FaultIn::in_domain(&args.faults, domain).fold(Faults::none(), |all, f| all.and(f.fault))
    };
    let token = args
        .driver_token
        .clone()
        .or_else(|| std::env::var(DRIVER_TOKEN_ENV).ok())
        .unwrap_or_else(|| hex::encode(mimi_mls::random_bytes(24)));
    write("driver-token", &token)?;
    let mut variants = Variants::none();
    for variant in &args.variants {
        variants = variants.and(*variant);
    }
    let seeds = super::variants::seeds(&variants, &args.harness_domain);
    let mut configs = Vec::new();
    for (i, domain) in args.domains.iter().enumerate() {
        let port = |offset: u16| match args.port {
            0 => 0,
            p => p + offset,
        };
        configs.push(ProviderConfig {
            domain: domain.clone(),
            identity: ca.issue(domain)?,
            trust_roots: vec![ca.cert_pem.clone()],
            users: seeds.clone(),
            faults: faults_of(domain),
            variants: variants.clone(),
            listen: SocketAddr::new(args.listen, port(i as u16)),
            asset_domains: args
                .domains
                .iter()
                .filter(|d| *d != domain)
                .cloned()
                .collect(),
            // Driver APIs listen after the MIMI ports: --port 8443 with two domains gives
            // 8443, 8444 for link B and 8445, 8446 for the drivers.
            driver: Some((
                SocketAddr::new(args.listen, port((args.domains.len() + i) as u16)),
                token.clone(),
            )),
        });
    }
    let running = mimi_reference_provider::start_network(configs).await?;
    if let Some(addr) = args.peers_via {
        super::embedded::route_peers_via(&running, addr);
        // The observer's certificates, one per domain, from the providers' CA: a run whose
        // profiles say `observer:` starts one there with them.
        std::fs::create_dir_all(args.out.join(OBSERVER_IDENTITIES))?;
        for domain in args.domains.iter().chain([&args.harness_domain]) {
            let identity = ca.issue(domain)?;
            write(
                &format!("{OBSERVER_IDENTITIES}/{domain}.pem"),
                &identity.cert_pem,
            )?;
            write(
                &format!("{OBSERVER_IDENTITIES}/{domain}.key.pem"),
                &identity.key_pem,
            )?;
        }
    }
    if let Some(addr) = args.harness_listen {
        for provider in &running {
            provider.route(&args.harness_domain, addr);
        }
    }
    let mut printed = String::new();
    for provider in &running {
        let domain = &provider.domain;
        let endpoints: Vec<String> = mimi_wire::messages::directory::ENDPOINTS
            .iter()
            .map(|e| e.to_string())
            .collect();
        let description = super::variants::describe(&variants, domain, &args.harness_domain);
        let driver = provider
            .driver_addr
            .map(|addr| (format!("http://{addr}"), DRIVER_TOKEN_ENV));
        let mut profile = profile_yaml(
            domain,
            &args.harness_domain,
            args.harness_listen,
            Some(&provider.addr.to_string()),
            &endpoints,
            &description,
            driver,
        );
        if let Some(addr) = args.peers_via {
            profile.push_str(&format!(
                "observer: {{listen: \"{addr}\", identities: {OBSERVER_IDENTITIES}}}  # it reaches its peers there\n"
            ));
        }
        write(&format!("profile-{domain}.yaml"), &profile)?;
        printed.push_str(&format!(
            "--- {}\n{profile}",
            args.out.join(format!("profile-{domain}.yaml")).display()
        ));
    }
    print!("{printed}");
    eprintln!(
        "serving {} provider(s); their driver APIs take the token in {}: export {DRIVER_TOKEN_ENV}=$(cat {})\nCtrl-C or SIGTERM stops",
        running.len(),
        args.out.join("driver-token").display(),
        args.out.join("driver-token").display(),
    );
    // SIGINT (Ctrl-C) and SIGTERM (a service manager, a CI job's end) both stop it cleanly:
    // the providers are shut down and the command exits 0.
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let forever = std::future::pending::<()>();
    let until = async {
        match args.duration {
            Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            None => forever.await,
        }
    };
    let why = tokio::select! {
        _ = until => "its time ran out",
        _ = interrupt.recv() => "interrupted (SIGINT)",
        _ = terminate.recv() => "terminated (SIGTERM)",
    };
    drop(running);
    eprintln!("serve stopped: {why}");
    Ok(())
}
