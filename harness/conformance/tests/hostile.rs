//! The harness against a provider that misbehaves on purpose (`hostile/server.rs`), in every way
//! it knows: for each, the verdicts (no must-refuse check may pass), the words of the message,
//! a hang bound on the run's wall time, and the reports. Each run is the binary as users run
//! it, on the cases in fixtures/hostile. The wall times are printed (`-- --nocapture`).

#[path = "hostile/server.rs"]
mod server;

use server::{Behaviour, DOMAIN};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// What one run of the harness left.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    results: serde_json::Value,
    junit: quick_junit::Report,
    elapsed: Duration,
}

impl Run {
    fn verdict(&self, case: &str) -> (String, String) {
        let found = self.results["cases"]
            .as_array()
            .and_then(|cases| cases.iter().find(|c| c["id"] == case))
            .unwrap_or_else(|| panic!("{case} is in results.json: {}", self.results));
        (
            found["verdict"].as_str().unwrap_or_default().to_string(),
            found["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    fn everything(&self) -> String {
        format!("{}\n{}\n{}", self.stdout, self.stderr, self.results)
    }
}

/// A lab for the fixture: a CA, the fixture's certificate, the harness's, and a profile that
/// reaches the fixture at its address.
fn run_against(behaviour: Behaviour, from_start: bool) -> Run {
    run_cases(behaviour, from_start, "fixtures/hostile")
}

/// As `run_against`, with the cases of another folder.
fn run_cases(behaviour: Behaviour, from_start: bool, cases: &str) -> Run {
    let name = format!(
        "{}{}",
        behaviour.name(),
        if from_start { "-from-start" } else { "" }
    );
    let dir = std::env::temp_dir().join(format!("mimi-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = mimi_pki::ca::TestCa::generate("hostile lab CA").unwrap();
    let vendor = ca.issue(DOMAIN).unwrap();
    let harness = ca.issue("harness.example").unwrap();
    // The fixture asks for a client certificate but serves a peer without one: a provider that
    // misbehaves must not pass TLS-1 by misbehaving.
    let mut tls = mimi_pki::tls::server_config(
        &vendor.cert_pem,
        &vendor.key_pem,
        std::slice::from_ref(&ca.cert_pem),
        false,
    )
    .unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let hostile = server::start(behaviour, from_start, tls);
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
    std::fs::write(dir.join("harness.pem"), &harness.cert_pem).unwrap();
    std::fs::write(dir.join("harness.key.pem"), &harness.key_pem).unwrap();
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: hostile {name}\ndomain: {DOMAIN}\naddress-overrides: {{{DOMAIN}: \"{}\"}}\ntrust-roots: [ca.pem]\nharness: {{domain: harness.example, certificate: harness.pem, key: harness.key.pem}}\nroles: [target]\nendpoints: [keyMaterial]\nusers: {{carol: \"mimi://{DOMAIN}/u/carol\"}}\n",
            hostile.addr
        ),
    )
    .unwrap();
    let reports = dir.join("reports");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
        .args(["run", "--provider"])
        .arg(&profile)
        .args(["--only-cases", cases, "--reports"])
        .arg(&reports)
        .current_dir(workspace())
        .output()
        .expect("the binary runs");
    let elapsed = started.elapsed();
    drop(hostile);
    let results = serde_json::from_slice(
        &std::fs::read(reports.join("results.json")).expect("results.json is written"),
    )
    .expect("results.json is JSON");
    let junit = quick_junit::Report::deserialize_from_str(
        &std::fs::read_to_string(reports.join("junit.xml")).expect("junit.xml is written"),
    )
    .expect("junit.xml is JUnit");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        results,
        junit,
        elapsed,
    };
    let verdicts: Vec<String> = run.results["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {}",
                c["id"].as_str().unwrap_or_default(),
                c["verdict"].as_str().unwrap_or_default()
            )
        })
        .collect();
    eprintln!(
        "hostile {name}: exit {:?}, {} ms; {}",
        run.code,
        run.elapsed.as_millis(),
        verdicts.join(", ")
    );
    // Whatever a provider sends, nothing it sends reaches a terminal or a log as a control byte.
    let everything = run.everything();
    assert!(
        !everything.contains('\u{1b}') && !everything.contains('\u{7}'),
        "control bytes in the output: {everything}"
    );
    run
}

/// The set-up's bound: the directory fetch (10 s), then the cases, one at a time at worst
/// (8 s each), and slack for a loaded machine. A hang detector, not a speed check.
const HANG: Duration = Duration::from_secs(10 + 4 * 8 + 30);

const CLAIM: &str = "B::keyMaterial::claim";
/// The cases that must refuse.
const MUST_REFUSE: [&str; 3] = [
    "B::keyMaterial::bad-signature",
    "B::transport::from-mismatch",
    "B::transport::no-client-certificate",
];

/// A misbehaviour after the directory: the run completes, every case fails (none passes), and
/// each message says what happened in `claim`'s words (and, for the must-refuse cases, in
/// `refusal`'s).
fn misbehaves(behaviour: Behaviour, claim: &str, refusal: &str) {
    let run = run_against(behaviour, false);
    assert!(run.elapsed < HANG, "{:?}: the run hung", run.elapsed);
    assert_eq!(run.code, Some(1), "{}", run.everything());
    let (verdict, message) = run.verdict(CLAIM);
    assert!(
        verdict == "fail" || verdict == "error",
        "{CLAIM}: {verdict}: {message}"
    );
    assert!(message.contains(claim), "{CLAIM}: {message}");
    for case in MUST_REFUSE {
        let (verdict, message) = run.verdict(case);
        // KM-18 is a derived requirement: broken, it is informational; never a pass.
        assert_ne!(verdict, "pass", "{case} must not pass: {message}");
        assert!(
            message.contains("expected the provider to refuse the request"),
            "{case}: {message}"
        );
        assert!(message.contains(refusal), "{case}: {message}");
    }
    assert_eq!(run.results["run"]["state"], "finished");
    assert_eq!(run.junit.tests, 4);
    let failing = run.results["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["verdict"] == "fail" || c["verdict"] == "error")
        .count();
    assert_eq!(run.junit.failures + run.junit.errors, failing);
}

/// A misbehaviour from the first connection: one set-up error, exit 3, reports that say why.
fn cannot_start(behaviour: Behaviour, words: &str) {
    let run = run_against(behaviour, true);
    assert!(run.elapsed < HANG, "{:?}: the run hung", run.elapsed);
    assert_eq!(run.code, Some(3), "{}", run.everything());
    assert!(run.stderr.contains(words), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("cannot be read").count(),
        1,
        "one set-up error, not one per case: {}",
        run.stderr
    );
    assert_eq!(run.results["run"]["state"], "could-not-start");
    assert!(
        run.results["run"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(words)),
        "{}",
        run.results
    );
    assert_eq!(run.results["cases"].as_array().map(Vec::len), Some(0));
    assert_eq!(run.junit.errors, 1, "the run suite's one error");
}

#[test]
fn refuses_properly_is_the_control_the_must_refuse_cases_pass_against() {
    let run = run_against(Behaviour::RefusesProperly, false);
    assert_eq!(run.code, Some(1), "{}", run.everything());
    for case in MUST_REFUSE {
        let (verdict, message) = run.verdict(case);
        assert_eq!(verdict, "pass", "{case}: {message}");
    }
    let (verdict, message) = run.verdict(CLAIM);
    assert_eq!(verdict, "fail");
    assert!(
        message.contains("expected 200, got 403 (refused:"),
        "{message}"
    );
}

#[test]
fn silent() {
    misbehaves(
        Behaviour::Silent,
        "accepted the TCP connection and then sent nothing for 2 s",
        "accepted the TCP connection and then sent nothing for 2 s",
    );
}

#[test]
fn silent_from_the_start_is_one_set_up_error() {
    cannot_start(
        Behaviour::Silent,
        "accepted the TCP connection and then sent nothing for 10 s",
    );
}

#[test]
fn close_at_once() {
    // A close with the harness's ClientHello unread may reach it as a reset (RST) rather than a
    // close (FIN), as the kernel decides: either is said as it happened, before any TLS byte.
    misbehaves(
        Behaviour::CloseAtOnce,
        "the connection before sending any TLS byte",
        "the connection before sending any TLS byte",
    );
}

#[test]
fn tls_garbage() {
    misbehaves(
        Behaviour::TlsGarbage,
        "the server sent bytes that are not TLS",
        "the server sent bytes that are not TLS",
    );
}

#[test]
fn tls_garbage_from_the_start_is_one_set_up_error() {
    cannot_start(
        Behaviour::TlsGarbage,
        "the server sent bytes that are not TLS",
    );
}

#[test]
fn plain_http() {
    misbehaves(
        Behaviour::PlainHttp,
        "the server speaks plain HTTP on the HTTPS port",
        "the server speaks plain HTTP on the HTTPS port",
    );
}

#[test]
fn plain_http_from_the_start_is_one_set_up_error() {
    cannot_start(
        Behaviour::PlainHttp,
        "the server speaks plain HTTP on the HTTPS port: it answered the TLS handshake with \"HTTP/1.1 400 Bad Request\"",
    );
}

#[test]
fn not_http() {
    misbehaves(
        Behaviour::NotHttp,
        "answered with bytes that are not an HTTP response",
        "answered with bytes that are not an HTTP response",
    );
}

#[test]
fn reset_before_status() {
    misbehaves(
        Behaviour::ResetBeforeStatus,
        "the provider reset the connection before any response byte",
        "the provider reset the connection before any response byte",
    );
}

#[test]
fn close_before_status() {
    misbehaves(
        Behaviour::CloseBeforeStatus,
        "the provider closed the connection before any response byte",
        "the provider closed the connection before any response byte",
    );
}

#[test]
fn close_before_status_from_the_start_is_one_set_up_error() {
    cannot_start(
        Behaviour::CloseBeforeStatus,
        "closed the connection before any response byte",
    );
}

#[test]
fn reset_after_status() {
    misbehaves(
        Behaviour::ResetAfterStatus,
        "the connection was reset after 17 bytes of the response head",
        "the connection was reset after 17 bytes of the response head",
    );
}

#[test]
fn short_body_then_close() {
    misbehaves(
        Behaviour::ShortBodyClose,
        "the provider answered 200, then the connection closed after 5 bytes of the 100 bytes its Content-Length announced",
        "the provider answered 200, then the connection closed after 5 bytes",
    );
}

#[test]
fn close_delimited_short_answer() {
    misbehaves(
        Behaviour::CloseDelimited,
        "body",
        "the provider answered 200",
    );
}

#[test]
fn stalled_body() {
    misbehaves(
        Behaviour::StalledBody,
        "its body stalled: 10 bytes of 1000 bytes arrived, then nothing for",
        "its body stalled",
    );
}

#[test]
fn endless_body() {
    misbehaves(
        Behaviour::EndlessBody,
        "its body was still arriving when the timeout of 2 s ran out",
        "its body was still arriving",
    );
}

#[test]
fn oversized_body() {
    misbehaves(
        Behaviour::OversizedBody,
        "sent a body longer than the 4.0 MiB the harness reads",
        "sent a body longer than the 4.0 MiB the harness reads",
    );
}

#[test]
fn huge_content_length() {
    misbehaves(
        Behaviour::HugeContentLength,
        "declared a body of 1.0 TiB (Content-Length: 1099511627776)",
        "declared a body of 1.0 TiB",
    );
}

#[test]
fn no_response() {
    misbehaves(
        Behaviour::NoResponse,
        "the request was sent; no response came within 2 s",
        "the request was sent; no response came within 2 s",
    );
}

#[test]
fn no_response_from_the_start_is_one_set_up_error() {
    cannot_start(
        Behaviour::NoResponse,
        "the request was sent; no response came within 10 s",
    );
}

#[test]
fn redirect_loop() {
    misbehaves(
        Behaviour::RedirectLoop,
        "expected 200, got 302 (a redirect to https://vendor.example/v1/keyMaterial/",
        "the provider answered 302",
    );
}

#[test]
fn off_host_redirect() {
    misbehaves(
        Behaviour::OffHostRedirect,
        "expected 200, got 307 (a redirect to https://evil.example/collect, which the harness does not follow)",
        "the provider answered 307",
    );
}

#[test]
fn control_bytes() {
    misbehaves(Behaviour::ControlBytes, "body", "the provider answered 200");
}

#[test]
fn huge_retry_after() {
    misbehaves(
        Behaviour::HugeRetryAfter,
        "expected 200, got 503 (come back in three thousand years)",
        "the provider answered 503",
    );
}

#[test]
fn header_flood() {
    misbehaves(
        Behaviour::HeaderFlood,
        "the response head is larger than the harness reads",
        "the response head is larger than the harness reads",
    );
}

#[test]
fn directory_huge() {
    cannot_start(
        Behaviour::DirectoryHuge,
        "declared a body of 5.0 MiB (Content-Length: 5242964), more than the 4.0 MiB the harness reads",
    );
}

#[test]
fn directory_not_json() {
    cannot_start(Behaviour::DirectoryNotJson, "the directory is not JSON");
}

#[test]
fn directory_of_the_wrong_types() {
    cannot_start(
        Behaviour::DirectoryWrongTypes,
        "the directory is not a JSON object",
    );
}

#[test]
fn directory_unavailable() {
    cannot_start(
        Behaviour::DirectoryUnavailable,
        "the provider answered 503 instead of the directory: \"down for maintenance\"",
    );
}

/// Against a provider that serves its directory and then never answers: the step's timeout
/// ends one case, the case's (shorter) timeout the other, and each message says which, with
/// the step and the operation that was waiting.
#[test]
fn step_and_case_timeouts_name_what_was_waiting() {
    let run = run_cases(Behaviour::NoResponse, false, "fixtures/selftest/timeouts");
    assert!(run.elapsed < HANG, "{:?}: the run hung", run.elapsed);
    assert_eq!(run.code, Some(1), "{}", run.everything());
    let (verdict, message) = run.verdict("B::step-timeout");
    assert_eq!(verdict, "fail", "{message}");
    assert!(
        message.contains("the request was sent; no response came within 500 ms"),
        "{message}"
    );
    let (verdict, message) = run.verdict("B::case-timeout");
    assert_eq!(verdict, "error", "{message}");
    assert!(
        message.contains(&format!(
            "the case did not finish within its timeout of 1 s: it was in step \"fetch the directory\", waiting for the response to GET https://{DOMAIN}/.well-known/mimi-protocol-directory"
        )),
        "{message}"
    );
}

/// The TLS outcomes a correct provider produces, against the embedded reference provider: a
/// handshake refused for want of a certificate (a refusal), a client certificate it does not
/// trust (not a refusal: the harness's set-up), and a server certificate the harness does not
/// trust.
#[test]
fn tls_refusals_and_certificates_are_told_apart() {
    use mimi_conformance::drivers::link_b::{Connection, Failure, Request};
    let prepared =
        mimi_conformance::reference::prepare_embedded().expect("the embedded providers start");
    let session = &prepared.session;
    let profile = session.connections[0].profile.clone();
    let other = mimi_pki::ca::TestCa::generate("another CA").unwrap();
    let request = |client_certificate| Request {
        method: reqwest::Method::GET,
        url: profile.directory_url.clone(),
        headers: vec![("from".into(), format!("mimi@{}", profile.harness.domain))],
        body: Vec::new(),
        client_certificate,
        timeout: Duration::from_secs(10),
    };
    let send = |profile: mimi_conformance::profile::Profile, client_certificate| {
        session.runtime.block_on(async {
            let connection = Connection::new(profile).await.unwrap();
            connection.send(&request(client_certificate)).await
        })
    };

    let failure = send(profile.clone(), false).expect_err("no certificate, no directory");
    assert_eq!(
        failure.kind,
        Failure::TlsRefused {
            alert: Some("certificate_required".into()),
            presented_certificate: false
        },
        "{}",
        failure.message
    );
    assert!(failure.refused());
    assert!(
        failure
            .message
            .contains("the harness presented no client certificate"),
        "{}",
        failure.message
    );

    let mut untrusted_harness = profile.clone();
    let stranger = other.issue(&profile.harness.domain).unwrap();
    untrusted_harness.harness.cert_pem = stranger.cert_pem;
    untrusted_harness.harness.key_pem = stranger.key_pem;
    let failure = send(untrusted_harness, true).expect_err("an untrusted certificate");
    // In TLS 1.3 the provider's alert can lose the race with the request (its close turns into
    // a reset); either way the message points at the harness's certificate.
    match failure.kind {
        Failure::TlsRefused {
            presented_certificate: true,
            ..
        } => assert!(
            failure
                .message
                .contains("it did not accept the harness's client certificate"),
            "{}",
            failure.message
        ),
        Failure::ClosedBeforeResponse { .. } => assert!(
            failure
                .message
                .contains("does not accept the harness's client certificate"),
            "{}",
            failure.message
        ),
        _ => panic!("{failure:?}"),
    }
    assert!(
        !failure.refused(),
        "the harness's own set-up, not a refusal"
    );

    let mut untrusted_provider = profile.clone();
    untrusted_provider.trust_roots_pem = vec![other.cert_pem.clone()];
    let failure = send(untrusted_provider, true).expect_err("an untrusted server");
    assert_eq!(
        failure.kind,
        Failure::ServerCertificate,
        "{}",
        failure.message
    );
    assert!(
        failure
            .message
            .contains("it is not issued by any of the profile's trust roots"),
        "{}",
        failure.message
    );
}
