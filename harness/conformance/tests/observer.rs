//! The observer between the embedded pair: a scenario drives both reference providers through
//! their driver APIs so that they talk to each other on link B (rooms on each, claims both
//! ways, messages both ways), and the observer in the middle judges what crosses. With a
//! link-B fault switched on in a.example, its finding names a.example and the requirement the
//! fault breaks; with none, it finds nothing.

use mimi_conformance::drivers::driver_api::{operation, DriverClient};
use mimi_conformance::observer::Finding;
use mimi_conformance::reference::{with_behaviour, with_faults, Fault, Faults, Variant, Variants};
use mimi_conformance::runner::events::{Blame, BlameBasis, CaseRecord, EventSink, Verdict};
use mimi_conformance::session::{prepare, Prepared};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long the scenario waits for fan-out to arrive (a bound, not a measurement).
const PATIENCE: Duration = Duration::from_secs(10);

fn pair(faults: Faults) -> Prepared {
    match prepare(
        with_faults(faults),
        EventSink::discard(),
        false,
        &[],
        Default::default(),
    ) {
        Ok(p) => p,
        Err(_) => panic!("the embedded pair does not start"),
    }
}

/// One driver call; Err says what the provider answered instead of `status`.
async fn call(
    driver: &DriverClient,
    name: &str,
    path: &[(&str, &str)],
    body: Value,
    status: u16,
) -> Result<Value, String> {
    let op = operation(name).expect("a specified operation");
    let vars: BTreeMap<String, String> = path
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let url = driver.url(op, &vars)?;
    let body = (op.method != "GET").then_some(&body);
    let response = driver
        .send(op, &url, body, Duration::from_secs(10))
        .await
        .map_err(|f| f.message)?;
    let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if response.status != status {
        return Err(format!("{name}: {} {json}", response.status));
    }
    Ok(json)
}

/// Repeats a read until `done` holds or patience runs out.
async fn until(
    driver: &DriverClient,
    name: &str,
    path: &[(&str, &str)],
    done: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let last = call(driver, name, path, json!({}), 200).await;
        match &last {
            Ok(v) if done(v) => return last,
            _ if Instant::now() > deadline => {
                return Err(format!("{name} {path:?} never got there: {last:?}"))
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn epoch_is(n: u64) -> impl Fn(&Value) -> bool {
    move |v| v["epoch"] == n
}

/// Whether a client's received messages hold at least `n` of `room`.
fn received_in(room: &str, n: usize) -> impl Fn(&Value) -> bool + '_ {
    move |v| {
        v["messages"]
            .as_array()
            .is_some_and(|m| m.iter().filter(|m| m["room"] == room).count() >= n)
    }
}

/// A room that `owner` creates on `hub`, with `user` invited (the hub claims the user's
/// KeyPackages and fans the Welcome out); its URI.
async fn room_with(
    hub: &DriverClient,
    owner: &str,
    name: String,
    user: &str,
) -> Result<String, String> {
    let room = call(
        hub,
        "createRoom",
        &[],
        json!({"client": owner, "name": name}),
        201,
    )
    .await?;
    let room = room["room"].as_str().unwrap_or_default().to_string();
    call(
        hub,
        "invite",
        &[("room", &room)],
        json!({"client": owner, "user": user}),
        200,
    )
    .await?;
    Ok(room)
}

/// Rooms on both providers, claims both ways, messages both ways; stops at the first step a
/// fault breaks (what crossed link B until then is what the observer judges).
async fn scenario(a: &DriverClient, b: &DriverClient, run: &str) -> Result<(), String> {
    let ann = call(
        a,
        "createUser",
        &[],
        json!({"name": format!("ann-{run}")}),
        201,
    )
    .await?;
    let ben = call(
        b,
        "createUser",
        &[],
        json!({"name": format!("ben-{run}")}),
        201,
    )
    .await?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let (ann_client, ann_user) = (text(&ann["clients"][0]), text(&ann["user"]));
    let (ben_client, ben_user) = (text(&ben["clients"][0]), text(&ben["user"]));
    let as_ann = json!({"client": ann_client, "text": "from ann"});
    let as_ben = json!({"client": ben_client, "text": "from ben"});
    // A room on a.example: a claims ben's KeyPackage from b and fans the Welcome out to it.
    let room_a = room_with(a, &ann_client, format!("on-a-{run}"), &ben_user).await?;
    until(
        b,
        "roomState",
        &[("client", &ben_client), ("room", &room_a)],
        epoch_is(1),
    )
    .await?;
    // A burst from a's client (the hub's fan-out queue fills), then b's through the hub.
    let on_a = [("room", room_a.as_str())];
    let (first, second, third) = tokio::join!(
        call(a, "sendMessage", &on_a, as_ann.clone(), 200),
        call(a, "sendMessage", &on_a, as_ann.clone(), 200),
        call(a, "sendMessage", &on_a, as_ann.clone(), 200),
    );
    first?;
    second?;
    third?;
    call(b, "sendMessage", &on_a, as_ben.clone(), 200).await?;
    until(
        b,
        "receivedMessages",
        &[("client", &ben_client)],
        received_in(&room_a, 3),
    )
    .await?;
    until(
        a,
        "receivedMessages",
        &[("client", &ann_client)],
        received_in(&room_a, 1),
    )
    .await?;
    // Rooms on b.example: b claims ann's KeyPackages from a (twice) and notifies a.
    let mut rooms_b = Vec::new();
    for name in ["on-b", "on-b-again"] {
        rooms_b.push(room_with(b, &ben_client, format!("{name}-{run}"), &ann_user).await?);
    }
    for room_b in &rooms_b {
        until(
            a,
            "roomState",
            &[("client", &ann_client), ("room", room_b)],
            epoch_is(1),
        )
        .await?;
        let on_b = [("room", room_b.as_str())];
        call(a, "sendMessage", &on_b, as_ann.clone(), 200).await?;
        call(b, "sendMessage", &on_b, as_ben.clone(), 200).await?;
        until(
            b,
            "receivedMessages",
            &[("client", &ben_client)],
            received_in(room_b, 1),
        )
        .await?;
        until(
            a,
            "receivedMessages",
            &[("client", &ann_client)],
            received_in(room_b, 1),
        )
        .await?;
    }
    Ok(())
}

/// Runs the scenario on a pair whose a.example has `faults`; returns what the scenario said
/// and the observer's findings.
fn observe(faults: Faults, wanted: Option<(&str, &str)>) -> (Result<(), String>, Vec<Finding>) {
    let prepared = pair(faults);
    let session = prepared.session.clone();
    let observer = prepared
        .observer()
        .expect("the embedded pair has an observer");
    let drivers: Vec<DriverClient> = session
        .connections
        .iter()
        .map(|c| {
            let d = c.profile.driver.as_ref().expect("a driver");
            DriverClient::new(&d.url, &d.token().unwrap(), &c.profile.trust_roots_pem).unwrap()
        })
        .collect();
    let run = format!("{}", std::process::id());
    let outcome = session
        .runtime
        .block_on(scenario(&drivers[0], &drivers[1], &run));
    // A fault may leave the hub retrying; what it sends lands within patience.
    // (and a clean run is judged once nothing more has crossed for a while).
    let deadline = Instant::now() + PATIENCE;
    let mut seen = observer.exchanges_seen();
    let findings = loop {
        std::thread::sleep(Duration::from_millis(200));
        let findings = observer.findings();
        let done = match wanted {
            Some((requirement, provider)) => findings
                .iter()
                .any(|f| f.requirement == requirement && f.provider == provider),
            None => std::mem::replace(&mut seen, observer.exchanges_seen()) == seen,
        };
        if done || Instant::now() > deadline {
            break findings;
        }
    };
    (outcome, findings)
}

fn show(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{} by {}: {}", f.requirement, f.provider, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// With `fault` on in a.example, the observer names a.example and `requirement`, and never
/// blames b.example.
fn caught(fault: Fault, requirement: &str) {
    assert!(
        fault.requirements().contains(&requirement),
        "{fault} breaks {:?}",
        fault.requirements()
    );
    let (outcome, findings) = observe(Faults::with(fault), Some((requirement, "a.example")));
    assert!(
        findings
            .iter()
            .any(|f| f.requirement == requirement && f.provider == "a.example" && f.link == "B"),
        "{fault}: no {requirement} finding against a.example (scenario: {outcome:?})\n{}",
        show(&findings)
    );
    let blamed: Vec<Finding> = findings
        .into_iter()
        .filter(|f| f.provider != "a.example")
        .collect();
    assert!(
        blamed.is_empty(),
        "{fault}: the correct b.example was blamed:\n{}",
        show(&blamed)
    );
}

#[test]
fn a_correct_pair_gives_no_finding() {
    let (outcome, findings) = observe(Faults::none(), None);
    outcome.expect("the scenario runs through on a correct pair");
    assert!(findings.is_empty(), "false findings:\n{}", show(&findings));
}

#[test]
fn the_observer_records_what_crossed_and_serialises_it() {
    let prepared = pair(Faults::none());
    let observer = prepared.observer().unwrap();
    let drivers: Vec<DriverClient> = prepared
        .session
        .connections
        .iter()
        .map(|c| {
            let d = c.profile.driver.as_ref().unwrap();
            DriverClient::new(&d.url, &d.token().unwrap(), &c.profile.trust_roots_pem).unwrap()
        })
        .collect();
    let start = std::time::SystemTime::now();
    prepared
        .session
        .runtime
        .block_on(scenario(&drivers[0], &drivers[1], "record"))
        .unwrap();
    let report = observer.report();
    let endpoints: std::collections::BTreeSet<&str> = report
        .exchanges
        .iter()
        .filter_map(|e| e.endpoint.as_deref())
        .collect();
    for endpoint in ["directory", "keyMaterial", "notify", "submitMessage"] {
        assert!(
            endpoints.contains(endpoint),
            "{endpoint} crossed: {endpoints:?}"
        );
    }
    let notify = report
        .exchanges
        .iter()
        .find(|e| e.endpoint.as_deref() == Some("notify"))
        .unwrap();
    assert_eq!(notify.sender.as_deref(), Some("a.example"));
    assert_eq!(notify.request.decoded_as.as_deref(), Some("NotifyBody"));
    assert!(notify.request.decoded.is_some() && notify.status == Some(201));
    let room = notify.room.clone().unwrap();
    assert!(!observer.exchanges_for_room(&room).is_empty());
    assert!(!observer
        .exchanges_between(start, std::time::SystemTime::now())
        .is_empty());
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["exchanges"][0]["request"]["hex"].is_string(), "{json}");
}

macro_rules! faults_caught {
    ($($name:ident: $fault:ident => $requirement:literal,)*) => {
        $(
            #[test]
            fn $name() {
                caught(Fault::$fault, $requirement);
            }
        )*
    };
}

faults_caught! {
    outgoing_from_wrong: OutgoingFromWrong => "TLS-5",
    outgoing_without_certificate: OutgoingWithoutCertificate => "TLS-6",
    wrong_server_certificate: WrongServerCertificate => "TLS-2",
    directory_http_urls: DirectoryHttpUrls => "DIR-7",
    timestamps_in_seconds: TimestampsInSeconds => "FAN-51",
    no_frank: NoFrank => "SUB-41",
    fanout_out_of_order: FanoutOutOfOrder => "FAN-48",
    notify_answers_200: NotifyAnswers200 => "NOT-43",
    key_package_reused: KeyPackageReused => "KM-12",
    wrong_user_uri: WrongUserUri => "KM-9",
    expired_key_packages: ExpiredKeyPackages => "KM-13",
}

/// The command as a plugfest runs it: `pki --observer` makes the certificates, `serve` two
/// providers that reach each other through `observe`, `run` drives a two-provider case through
/// them, and Ctrl-C ends `observe`, which writes its reports: the fault of the served hub is
/// named with its requirement and provider.
#[test]
fn observe_between_served_providers_names_the_faulty_one_and_writes_reports_at_ctrl_c() {
    use std::process::{Command, Stdio};
    let binary = env!("CARGO_BIN_EXE_mimi-conformance");
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("mimi-observe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (lab, served, reports) = (dir.join("lab"), dir.join("served"), dir.join("reports"));
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let pki = Command::new(binary)
        .args([
            "pki",
            "--out",
            &path(&lab),
            "--domain",
            "a.example",
            "--domain",
            "b.example",
        ])
        .arg("--observer")
        .output()
        .unwrap();
    assert!(
        pki.status.success(),
        "{}",
        String::from_utf8_lossy(&pki.stderr)
    );
    let via = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let token = "observe-test-token";
    let mut serve = Command::new(binary)
        .args(["serve", "--out", &path(&served), "--peers-via", &via])
        .args(["--ca-cert", &path(&lab.join("ca.pem"))])
        .args(["--ca-key", &path(&lab.join("ca.key.pem"))])
        .args(["--fault", "timestamps-in-seconds", "--driver-token", token])
        .args(["--for", "120"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (a, b) = (
        served.join("profile-a.example.yaml"),
        served.join("profile-b.example.yaml"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Here the observer is the `observe` command's, as at a plugfest, not one `run` starts:
    // the profiles do not name it.
    std::thread::sleep(Duration::from_millis(200));
    for profile in [&a, &b] {
        let text = std::fs::read_to_string(profile).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| !l.starts_with("observer:"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(
            kept, text,
            "serve --peers-via names the observer in its profiles"
        );
        std::fs::write(profile, kept).unwrap();
    }
    let observe = Command::new(binary)
        .args(["observe", "--provider", &path(&a), "--provider", &path(&b)])
        .args([
            "--identities",
            &path(&lab.join("observer")),
            "--listen",
            &via,
        ])
        .args(["--reports", &path(&reports)])
        .current_dir(workspace)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&via).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = Command::new(binary)
        .args(["run", "--provider", &path(&a), "--provider", &path(&b)])
        .args(["--reports", &path(&dir.join("run-reports"))])
        .args(["A::rooms::fan-out-in-order", "--exact"])
        .env("MIMI_DRIVER_TOKEN", token)
        .current_dir(workspace)
        .output()
        .unwrap();
    let interrupted = Command::new("kill")
        .args(["-INT", &observe.id().to_string()])
        .status()
        .unwrap();
    let ended = observe.wait_with_output().unwrap();
    serve.kill().unwrap();
    let _ = serve.wait();
    assert!(interrupted.success());
    let console = String::from_utf8_lossy(&ended.stderr);
    assert!(
        ended.status.code().is_some(),
        "observe ended by the signal instead of handling it: {console}"
    );
    assert!(
        console
            .lines()
            .any(|l| l.starts_with("B #") && l.contains(" notify ")),
        "a console line per exchange: {console}\nrun: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(reports.join("observer.json")).unwrap()).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["requirement"] == "FAN-51"
            && f["provider"] == "a.example"
            && f["link"] == "B"),
        "{findings:#?}"
    );
    let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("junit.xml parses");
    assert!(junit.test_suites[0]
        .test_cases
        .iter()
        .any(|c| c.name.as_str() == "B::observed::FAN-51"));
    // And its site: the finding on the index and on its requirement's page, as text.
    let index = std::fs::read_to_string(reports.join("index.html")).unwrap();
    // (minijinja writes the slash of an attribute as &#x2f;, which a browser reads as /)
    assert!(
        index.contains("href=\"requirements&#x2f;FAN-51.html\""),
        "{index}"
    );
    let page = std::fs::read_to_string(reports.join("requirements/FAN-51.html")).unwrap();
    assert!(page.contains("a.example"), "{page}");
    assert!(reports.join("exchanges/1.html").exists());
    // And results.json, as a run's: in the results format, an entry per requirement the
    // observer checks (as junit.xml has a test case per requirement), the faulty hub blamed on
    // link B with the exchanges that showed it, and how the observation ended.
    let results: Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        mimi_conformance::report::results::schema_violation(&results),
        None,
        "results.json meets harness/conformance/schemas/results.schema.json"
    );
    assert_eq!(results["run"]["state"], "finished", "{:#}", results["run"]);
    assert!(
        results["run"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("SIGINT")),
        "{:#}",
        results["run"]
    );
    assert_eq!(results["run"]["exit_code"], json!(ended.status.code()));
    let cases = results["cases"].as_array().unwrap();
    let ids: Vec<&str> = cases.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let names: Vec<&str> = junit.test_suites[0]
        .test_cases
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(ids, names, "an entry per junit test case, in its order");
    let fan51 = cases
        .iter()
        .find(|c| c["id"] == "B::observed::FAN-51")
        .unwrap();
    assert_eq!(fan51["verdict"], "fail", "{fan51:#}");
    let verdicts = fan51["requirement_verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1, "{verdicts:#?}");
    assert_eq!(
        (
            &verdicts[0]["id"],
            &verdicts[0]["level"],
            &verdicts[0]["verdict"]
        ),
        (&json!("FAN-51"), &json!("MUST"), &json!("fail"))
    );
    assert!(
        verdicts[0]["blame"].as_array().unwrap().contains(
            &json!({"link": "B", "provider": "a.example", "role": null, "basis": "observed"})
        ),
        "{verdicts:#?}"
    );
    let observed = fan51["observed"].as_array().unwrap();
    assert!(
        observed
            .iter()
            .any(|f| f["requirement"] == "FAN-51" && f["provider"] == "a.example")
            && observed.iter().all(|f| f["requirement"] == "FAN-51"),
        "{observed:#?}"
    );
    // Each finding's exchange is there, decoded, sent by the provider it names.
    let exchanges = fan51["exchanges"].as_array().unwrap();
    for f in observed {
        let ex = exchanges
            .iter()
            .find(|e| e["id"] == f["exchange"])
            .unwrap_or_else(|| panic!("the exchange of {f:#} in {exchanges:#?}"));
        assert_eq!(ex["kind"], "observed");
        assert_eq!(ex["sender"], f["provider"]);
        assert_ne!(ex["target"], f["provider"]);
        assert!(
            !ex["request"]["body"]["decoded"].is_null()
                && ex["request"]["body"]["decode_error"].is_null(),
            "{ex:#}"
        );
    }
    // A requirement nothing broke passes, and blames no one.
    let clean = cases
        .iter()
        .find(|c| c["verdict"] == "pass")
        .expect("a requirement the correct traffic kept");
    assert_eq!(clean["observed"], json!([]));
    assert_eq!(clean["exchanges"], json!([]));
    let run: Value =
        serde_json::from_slice(&std::fs::read(reports.join("run.json")).unwrap()).unwrap();
    assert_eq!(run, results["run"]);
    // And the schema refuses an observed exchange that drifts from it.
    let at = cases
        .iter()
        .position(|c| c["id"] == "B::observed::FAN-51")
        .unwrap();
    let mut drifted = results.clone();
    drifted["cases"][at]["exchanges"][0]["step"] = json!("fan-out");
    assert!(mimi_conformance::report::results::schema_violation(&drifted).is_some());
    let mut drifted = results.clone();
    drifted["cases"][at]["exchanges"][0]["request"]["body"]["bytes"] = json!("not hex");
    assert!(mimi_conformance::report::results::schema_violation(&drifted).is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every case of the suite against a correct pair: whatever crossed between the providers, the
/// observer finds nothing wrong with it.
#[test]
fn the_whole_suite_on_a_correct_pair_gives_no_finding() {
    let cases_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let cases = mimi_conformance::session::load_cases(&cases_dir).expect("the cases load");
    let Ok(prepared) = prepare(
        with_faults(Faults::none()),
        EventSink::discard(),
        false,
        &cases,
        Default::default(),
    ) else {
        panic!("the embedded pair does not start");
    };
    for case in &cases {
        mimi_conformance::runner::run_case(case, &prepared.session);
    }
    let observer = prepared.observer().unwrap();
    assert!(
        observer.exchanges_seen() > 20,
        "the two-provider cases send their link-B traffic through the observer: {} exchange(s)",
        observer.exchanges_seen()
    );
    let findings = observer.findings();
    assert!(findings.is_empty(), "false findings:\n{}", show(&findings));
}

/// Hostile bytes through the observer: a malformed body is forwarded, recorded undecoded and
/// blamed on its sender; an oversized one is refused with a 502 that says why; the observer
/// keeps serving.
#[test]
fn hostile_requests_are_recorded_and_blamed_not_fatal() {
    let prepared = pair(Faults::none());
    let observer = prepared.observer().unwrap();
    let profile = &prepared.session.connections[0].profile;
    let tls = mimi_pki::tls::client_config(
        &profile.trust_roots_pem,
        Some((&profile.harness.cert_pem, &profile.harness.key_pem)),
    )
    .unwrap();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .resolve("b.example", observer.addr)
        .build()
        .unwrap();
    let url = format!(
        "https://b.example:{}/v1/notify/mimi%3A%2F%2Fa.example%2Fr%2Fhostile",
        observer.addr.port()
    );
    let send = |body: Vec<u8>| {
        let request = client
            .post(&url)
            .header("from", "mimi@harness.example")
            .body(body);
        prepared.session.runtime.block_on(async move {
            let response = request.send().await.expect("the observer answers");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        })
    };
    let (status, _) = send(vec![0xff; 64]);
    assert!(
        (400..500).contains(&status),
        "forwarded, and the follower refused it: {status}"
    );
    let (status, why) = send(vec![0; 5 << 20]);
    assert_eq!(status, 502);
    assert!(why.contains("could not be read whole"), "{why}");
    let (status, _) = send(vec![0x00, 0x01, 0x02]);
    assert!((400..500).contains(&status), "still serving: {status}");
    let exchanges = observer.exchanges_for_room("mimi://a.example/r/hostile");
    assert_eq!(exchanges.len(), 3);
    assert!(exchanges[0].request.decode_error.is_some());
    assert!(exchanges[1].failure.is_some() && exchanges[1].status.is_none());
    let findings = observer.findings_for_room("mimi://a.example/r/hostile");
    assert!(
        findings
            .iter()
            .all(|f| f.provider == "harness.example" && f.requirement == "FAN-48"),
        "{}",
        show(&findings)
    );
    assert_eq!(findings.len(), 2);
}

/// A notify the hub sends after a case's steps ended (here each a second after the hub accepted
/// its message: the variant `late-fanout`) is still the case's: its traffic is taken once the
/// providers say they have nothing left to send, not after a quiet spell, so the finding on it
/// (the hub fans the message out without its frank) is counted whenever it crosses.
#[test]
fn a_notify_that_crosses_after_the_case_ended_is_still_tied_to_it() {
    let prepared = match prepare(
        with_behaviour(
            Faults::with(Fault::NoFrank),
            Variants::with(Variant::LateFanout),
        ),
        EventSink::discard(),
        false,
        &[],
        Default::default(),
    ) {
        Ok(p) => p,
        Err(_) => panic!("the embedded pair does not start"),
    };
    let session = &prepared.session;
    let drivers: Vec<DriverClient> = session
        .connections
        .iter()
        .map(|c| {
            let d = c.profile.driver.as_ref().expect("a driver");
            DriverClient::new(&d.url, &d.token().unwrap(), &c.profile.trust_roots_pem).unwrap()
        })
        .collect();
    let (a, b) = (&drivers[0], &drivers[1]);
    let run = format!("late{}", std::process::id());
    let started = mimi_conformance::observer::unix_ms();
    let room = session
        .runtime
        .block_on(async {
            let ann = call(
                a,
                "createUser",
                &[],
                json!({"name": format!("ann-{run}")}),
                201,
            )
            .await?;
            let ben = call(
                b,
                "createUser",
                &[],
                json!({"name": format!("ben-{run}")}),
                201,
            )
            .await?;
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let ann_client = text(&ann["clients"][0]);
            let ben_client = text(&ben["clients"][0]);
            let room =
                room_with(a, &ann_client, format!("late-{run}"), &text(&ben["user"])).await?;
            until(
                b,
                "roomState",
                &[("client", &ben_client), ("room", &room)],
                epoch_is(1),
            )
            .await?;
            // The case ends as soon as the hub accepted the message: its notify is still to come.
            let message = json!({"client": ann_client, "text": "late"});
            call(a, "sendMessage", &[("room", &room)], message, 200).await?;
            Ok::<_, String>(room)
        })
        .expect("the scenario runs");
    let traffic = mimi_conformance::runner::blame::settled_traffic(
        session,
        &mimi_conformance::observer::CaseTie {
            run: &run,
            names: &Default::default(),
            from_ms: started,
            to_ms: mimi_conformance::observer::unix_ms(),
        },
    )
    .expect("the embedded pair has an observer");
    let unfranked: Vec<&Finding> = traffic
        .findings
        .iter()
        .filter(|f| f.requirement == "SUB-41")
        .collect();
    assert_eq!(
        unfranked.len(),
        1,
        "the late notify of {room} and its finding are the case's:\n{}",
        show(&traffic.findings)
    );
    assert_eq!(unfranked[0].provider, "a.example");
    assert_eq!(unfranked[0].room.as_deref(), Some(room.as_str()));
}

/// One shipped case (or a changed copy of it, in `root`) run against `prepared`.
fn run_one(prepared: &Prepared, root: &std::path::Path, id_path: &str) -> CaseRecord {
    let catalogue = mimi_conformance::session::load_catalogue(root).expect("the catalogue loads");
    let file = root.join(format!("{id_path}.yaml"));
    let case = mimi_conformance::case::load_case(root, &file, &catalogue)
        .unwrap_or_else(|e| panic!("{}: {}", file.display(), e[0]));
    mimi_conformance::runner::run_case(&case, &prepared.session)
}

fn blame_of(record: &CaseRecord, id: &str) -> Vec<Blame> {
    record
        .requirements
        .iter()
        .find(|r| r.requirement.id == id)
        .unwrap_or_else(|| panic!("{} does not judge {id}", record.id))
        .blame
        .clone()
}

/// A hub that fans messages out newest first fails the follower's check on link C; the
/// observer saw the hub send them out of order, so the verdict names the hub and link B.
#[test]
fn a_case_failing_on_the_followers_link_is_blamed_on_the_hub_the_observer_saw() {
    let prepared = pair(Faults::with(Fault::FanoutOutOfOrder));
    let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let record = run_one(&prepared, &cases, "A/rooms/fan-out-in-order");
    assert_eq!(record.verdict, Verdict::Fail, "{record:#?}");
    let hub = Blame {
        link: "B".into(),
        provider: "a.example".into(),
        role: Some("hub".into()),
        basis: BlameBasis::Observed,
    };
    assert_eq!(blame_of(&record, "FAN-48"), vec![hub]);
    assert!(
        record
            .observed
            .iter()
            .any(|f| f.requirement == "FAN-48" && f.provider == "a.example"),
        "{}",
        show(&record.observed)
    );
    let text = mimi_conformance::report::console::failure_message(&record);
    assert!(
        text.contains("broken by a.example (hub) on link B: seen by the observer"),
        "{text}"
    );
    assert!(text.contains("seen on link B by the observer:"), "{text}");
}

/// The same check failing against a correct pair (the case asks for a message nobody sent):
/// the observer saw the hub's fan-out on link B in order, so link B is cleared and the hop
/// where the check failed, the follower's link C, is named.
#[test]
fn a_clean_link_b_points_at_the_hop_where_the_check_failed() {
    let dir = std::env::temp_dir().join(format!("mimi-observer-hop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    std::fs::create_dir_all(dir.join("A/rooms")).unwrap();
    std::fs::create_dir_all(dir.join("fragments")).unwrap();
    for entry in std::fs::read_dir(cases.join("fragments")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("fragments").join(entry.file_name())).unwrap();
    }
    std::fs::copy(
        cases.join("requirements.yaml"),
        dir.join("requirements.yaml"),
    )
    .unwrap();
    let case = std::fs::read_to_string(cases.join("A/rooms/fan-out-in-order.yaml")).unwrap();
    assert!(case.contains("messages: {len: 3}"));
    std::fs::write(
        dir.join("A/rooms/fan-out-in-order.yaml"),
        case.replace("messages: {len: 3}", "messages: {len: 4}"),
    )
    .unwrap();
    let prepared = pair(Faults::none());
    let record = run_one(&prepared, &dir, "A/rooms/fan-out-in-order");
    assert_eq!(record.verdict, Verdict::Fail);
    assert!(record.observed.is_empty(), "{}", show(&record.observed));
    assert_eq!(
        blame_of(&record, "FAN-48"),
        vec![Blame {
            link: "C".into(),
            provider: "b.example".into(),
            role: Some("follower".into()),
            basis: BlameBasis::Step,
        }]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `run` against two served providers whose profiles route link B through an observer
/// (`serve --peers-via`): the run starts it, ties what it saw to the case, blames the hub that
/// fanned out messages without their frank on link B (not the follower whose client found
/// them unfranked), and writes observer.json.
#[test]
fn a_run_starts_the_observer_its_profiles_name_and_blames_the_hop_it_saw() {
    use std::process::{Command, Stdio};
    let binary = env!("CARGO_BIN_EXE_mimi-conformance");
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("mimi-observed-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string()
    };
    let served = dir.join("served");
    let token = "observed-run-token";
    let mut serve = Command::new(binary)
        .args(["serve", "--out", served.to_str().unwrap()])
        .args(["--peers-via", &port(), "--fault", "no-frank@a.example"])
        .args(["--driver-token", token, "--for", "300"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (a, b) = (
        served.join("profile-a.example.yaml"),
        served.join("profile-b.example.yaml"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let reports = dir.join("reports");
    let run = Command::new(binary)
        .args(["run", "--provider", a.to_str().unwrap()])
        .args(["--provider", b.to_str().unwrap()])
        .args(["--reports", reports.to_str().unwrap()])
        .args(["A::rooms::fan-out-in-order", "--exact"])
        .env("MIMI_DRIVER_TOKEN", token)
        .env("INSTA_UPDATE", "no")
        .current_dir(workspace)
        .output()
        .unwrap();
    serve.kill().unwrap();
    let _ = serve.wait();
    let said = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{said}");
    // The case charges its Frank to SUB-41 and FAN-51; the observer saw the hub break SUB-41 (no
    // frank) in the case's traffic, so both are blamed on the hub on link B, as seen, and the
    // follower's link C is not blamed.
    assert!(
        said.contains("SUB-41 (MUST")
            && said.contains("broken by a.example (hub) on link B: seen by the observer")
            && !said.contains("on link C"),
        "{said}"
    );
    let results: Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    let case = &results["cases"][0];
    for id in ["SUB-41", "FAN-51"] {
        let verdict = case["requirement_verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap();
        assert_eq!(
            verdict["blame"],
            json!([{"link": "B", "provider": "a.example", "role": "hub", "basis": "observed"}]),
            "{id}"
        );
    }
    assert!(case["observed"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["provider"] == "a.example"));
    let observed: Value =
        serde_json::from_slice(&std::fs::read(reports.join("observer.json")).unwrap()).unwrap();
    assert!(observed["exchanges_seen"].as_u64().unwrap() > 0);
    assert!(reports.join("index.html").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
