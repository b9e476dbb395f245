//! The binary as users run it: exit codes, reports, listing, and the pki subcommand.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
        .args(args)
        .current_dir(workspace())
        .env("INSTA_UPDATE", "no")
        .env("MIMI_DRIVER_TOKEN", SERVE_TOKEN)
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mimi-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn run_passes_on_the_embedded_providers_and_writes_reports() {
    let reports = temp_dir("reports");
    let out = harness(&["run", "--reports", reports.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("junit.xml parses as JUnit");
    let cases: usize = junit.test_suites.iter().map(|s| s.test_cases.len()).sum();
    let case_files = mimi_conformance::case::case_files(&workspace().join("cases")).unwrap();
    assert_eq!(cases, case_files.len(), "one testcase per case");
    assert!(junit
        .test_suites
        .iter()
        .all(|s| s.name.starts_with("link ")));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["cases"].as_array().unwrap().len(), case_files.len());
    assert!(results["cases"][0]["requirements"]
        .as_array()
        .is_some_and(|r| !r.is_empty()));
}

#[test]
fn a_failing_case_exits_1() {
    let reports = temp_dir("failing");
    let out = harness(&[
        "run",
        "--cases",
        "fixtures/selftest/must-fail",
        "--reports",
        reports.to_str().unwrap(),
        "--exact",
        "B::keyMaterial::wrong-user-status",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("wrong-user-status.yaml:19:21"), "{stdout}");
    let junit = quick_junit::Report::deserialize_from_str(
        &std::fs::read_to_string(reports.join("junit.xml")).unwrap(),
    )
    .unwrap();
    assert_eq!(junit.failures, 1);
}

#[test]
fn a_malformed_case_exits_2_with_its_location_and_sends_nothing() {
    let out = harness(&["run", "--cases", "fixtures/selftest/parse-error"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("unknown-key.yaml:11:5: unknown field `expct`"),
        "{err}"
    );
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing but libtest-mimic writes to stdout"
    );
}

#[test]
fn list_prints_every_case_and_nothing_else() {
    let out = harness(&["run", "--list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("B::keyMaterial::one-time: test"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .all(|l| l.is_empty() || l.ends_with(": test") || l.contains("tests,")),
        "{stdout}"
    );
}

/// A lab PKI from `pki`, with the profile pointed at a port where nothing listens.
#[test]
fn an_unreachable_provider_exits_3_and_a_broken_profile_exits_2() {
    let lab = temp_dir("pki");
    let out = harness(&[
        "pki",
        "--out",
        lab.to_str().unwrap(),
        "--domain",
        "vendor.example",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for file in [
        "ca.pem",
        "vendor.example.pem",
        "vendor.example.key.pem",
        "harness.example.pem",
        "profile-vendor.example.yaml",
    ] {
        assert!(lab.join(file).exists(), "pki wrote {file}");
    }
    let profile = lab.join("profile-vendor.example.yaml");
    let text = std::fs::read_to_string(&profile).unwrap().replace(
        "address-overrides: {}",
        "address-overrides: {vendor.example: \"127.0.0.1:1\"}",
    );
    std::fs::write(&profile, text).unwrap();
    let out = harness(&["run", "--provider", profile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be reached"),
        "{}",
        stderr(&out)
    );

    let broken = lab.join("broken.yaml");
    std::fs::write(&broken, "name: x\ndomain: x.example\nunknown-setting: 1\n").unwrap();
    let out = harness(&["run", "--provider", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("broken.yaml:3:1"), "{}", stderr(&out));
}

#[test]
fn decode_renders_every_content_example_with_its_message_id() {
    let dir = workspace().join("fixtures/vectors/mimi-content");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "cbor") || path.ends_with("implied-original.cbor") {
            continue;
        }
        for draft in ["07", "08"] {
            let out = harness(&[
                "decode",
                path.to_str().unwrap(),
                "--type",
                "MimiContent",
                "--content-draft",
                draft,
            ]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {}",
                path.display(),
                stderr(&out)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("messageId: 01") && text.contains("violations: []"),
                "{}: {text}",
                path.display()
            );
        }
    }
}

#[test]
fn decode_guesses_the_type_and_reads_hex_and_base64() {
    let original =
        std::fs::read(workspace().join("fixtures/vectors/mimi-content/original.cbor")).unwrap();
    let file = temp_dir("decode").join("original.hex");
    std::fs::write(&file, hex::encode(&original)).unwrap();
    let out = harness(&["decode", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("MimiContent:"));
    use base64::Engine;
    std::fs::write(
        &file,
        base64::engine::general_purpose::STANDARD.encode(&original),
    )
    .unwrap();
    let out = harness(&[
        "decode",
        file.to_str().unwrap(),
        "--input",
        "base64",
        "--type",
        "MimiContent",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn decode_of_a_broken_body_exits_2_with_the_field_and_offset() {
    let file = temp_dir("decode-bad").join("bad.hex");
    std::fs::write(&file, "0100").unwrap();
    let out = harness(&[
        "decode",
        file.to_str().unwrap(),
        "--type",
        "KeyMaterialResponse",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("IdentifierUri.uri at byte offset 2"),
        "{}",
        stderr(&out)
    );
}

/// A lab profile for `vendor.example`, reached at `address`.
fn lab_profile(name: &str, address: &str) -> PathBuf {
    let lab = temp_dir(name);
    let out = harness(&[
        "pki",
        "--out",
        lab.to_str().unwrap(),
        "--domain",
        "vendor.example",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let profile = lab.join("profile-vendor.example.yaml");
    let text = std::fs::read_to_string(&profile).unwrap().replace(
        "address-overrides: {}",
        &format!("address-overrides: {{vendor.example: \"{address}\"}}"),
    );
    std::fs::write(&profile, text).unwrap();
    profile
}

#[test]
fn a_template_the_profile_cannot_fill_exits_2_before_any_traffic() {
    // Nothing listens at port 1: any traffic would make this exit 3 instead.
    let profile = lab_profile("template", "127.0.0.1:1");
    let out = harness(&[
        "run",
        "--provider",
        profile.to_str().unwrap(),
        "--cases",
        "fixtures/selftest/template-error",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown-attribute.yaml:14:24"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn step_and_case_timeouts_end_a_provider_that_never_answers() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    // Accept and hold every connection without a byte in answer.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let profile = lab_profile("silent", &address);
    let started = std::time::Instant::now();
    let out = harness(&[
        "run",
        "--provider",
        profile.to_str().unwrap(),
        "--cases",
        "fixtures/selftest/timeouts",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("no answer within the step's timeout"),
        "{stdout}"
    );
    assert!(
        stdout.contains("did not finish within its timeout of 1s"),
        "{stdout}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the timeouts ended it"
    );
}

/// The driver token `serve` is given in these tests.
const SERVE_TOKEN: &str = "cli-test-driver-token";

/// `serve` in the background, until the returned child is killed; the profiles of
/// `vendor.example` and of its peer `peer.example`.
fn serve(name: &str, extra: &[&str]) -> (std::process::Child, PathBuf, PathBuf) {
    let out_dir = temp_dir(name);
    let server = Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
        .args([
            "serve",
            "--out",
            out_dir.to_str().unwrap(),
            "--domain",
            "vendor.example",
            "--domain",
            "peer.example",
            "--driver-token",
            SERVE_TOKEN,
            "--for",
            "60",
        ])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let profile = out_dir.join("profile-vendor.example.yaml");
    let peer = out_dir.join("profile-peer.example.yaml");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // The profiles are written once every provider listens.
    while !peer.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (server, profile, peer)
}

/// `serve` starts reference providers and writes profiles that `run --provider` can use: the
/// whole suite passes against them (snapshots of a provider other than the embedded one are
/// recorded on a first run, not failed).
#[test]
fn serve_writes_profiles_that_run_passes_against() {
    // The harness serves link B where the served providers expect it.
    let harness_listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (mut server, profile, peer) = serve("serve", &["--harness-listen", &harness_listen]);
    let reports = profile.parent().unwrap().join("reports");
    let out = harness(&[
        "run",
        "--provider",
        profile.to_str().unwrap(),
        "--provider",
        peer.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
    ]);
    server.kill().unwrap();
    let _ = server.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    // Rooms span the two served providers, through their driver APIs.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for case in ["A::rooms::external-join", "B::notify::welcome-routing"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("test {case} ")) && l.ends_with("... ok")),
            "{case} did not pass: {stdout}"
        );
    }
}

/// A broken derived requirement is informational: the run passes, and the grade is shown on
/// the console and in JUnit. (The suite's catalogue has no derived requirement left, so the
/// self-test brings a catalogue of its own.)
#[test]
fn a_broken_derived_requirement_is_reported_as_info_without_failing() {
    let reports = temp_dir("derived").join("reports");
    let out = harness(&[
        "run",
        "--cases",
        "fixtures/selftest/derived",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("info: B::keyMaterial::wrong-on-purpose\nINFO (derived)"),
        "{}",
        stderr(&out)
    );
    let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(xml.contains(r#"name="verdict" value="info""#), "{xml}");
}

#[test]
fn coverage_counts_the_requirements_the_cases_cite() {
    let out = harness(&["coverage", "--results", "/nonexistent/results.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let cases = mimi_conformance::cli::load_cases(&workspace().join("cases")).unwrap();
    let cited: std::collections::BTreeSet<String> = cases
        .iter()
        .flat_map(|c| c.requirements.iter().map(|r| r.id.clone()))
        .collect();
    let total = mimi_conformance::cli::load_catalogue(&workspace().join("cases"))
        .unwrap()
        .requirements
        .len();
    let last = text.lines().last().unwrap();
    assert_eq!(
        last,
        format!(
            "coverage: {}/{total} requirements ({}%)",
            cited.len(),
            cited.len() * 100 / total
        )
    );
    assert!(text.contains("B::keyMaterial::one-time: not run"), "{text}");
}

fn expectations(name: &str, yaml: &str) -> PathBuf {
    let path = temp_dir(name).join("expectations.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn a_known_failure_does_not_fail_the_run_and_is_reported() {
    let file = expectations("known-failing", "known-failing:\n  - cases: \"B::keyMaterial::wrong-*\"\n    reason: the case is wrong on purpose\n");
    let reports = file.parent().unwrap().join("reports");
    let out = harness(&[
        "run",
        "--cases",
        "fixtures/selftest/must-fail",
        "--exact",
        "B::keyMaterial::wrong-user-status",
        "--expectations",
        file.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "known failure: B::keyMaterial::wrong-user-status (fail): the case is wrong on purpose"
        ),
        "{}",
        stderr(&out)
    );
    let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        xml.contains("known failure: the case is wrong on purpose"),
        "{xml}"
    );
}

#[test]
fn a_listed_case_that_passes_fails_the_run_so_stale_entries_cannot_hide() {
    let file = expectations(
        "stale",
        "known-failing:\n  - cases: \"B::keyMaterial::unknown-*\"\n    reason: fixed in 2.3\n",
    );
    let out = harness(&[
        "run",
        "--exact",
        "B::keyMaterial::unknown-user",
        "--expectations",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is listed as known-failing (\"B::keyMaterial::unknown-*\": fixed in 2.3) but passes: remove the entry"));
}

#[test]
fn a_known_flaky_case_may_pass_or_fail() {
    let file = expectations("flaky", "known-flaky:\n  - cases: \"B::keyMaterial::*\"\n    reason: the lab network drops packets\n");
    for (cases, exact) in [
        (
            "fixtures/selftest/must-fail",
            "B::keyMaterial::wrong-user-status",
        ),
        ("cases", "B::keyMaterial::unknown-user"),
    ] {
        let out = harness(&[
            "run",
            "--cases",
            cases,
            "--exact",
            exact,
            "--expectations",
            file.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{exact}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("known flaky: {exact}")),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn an_expectation_without_a_reason_is_invalid() {
    let file = expectations(
        "no-reason",
        "known-failing:\n  - cases: \"B::*\"\n    reason: \"\"\n",
    );
    let out = harness(&["run", "--expectations", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("expectations.yaml:2:5: the entry for \"B::*\" needs a reason"),
        "{}",
        stderr(&out)
    );
}
