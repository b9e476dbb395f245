//! The binary as users run it: exit codes, reports, listing, and the pki subcommand.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn harness(args: &[&str]) -> Output {
    harness_writing_snapshots(args, "no")
}

/// The binary with INSTA_UPDATE set to `update`.
fn harness_writing_snapshots(args: &[&str], update: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
        .args(args)
        .current_dir(workspace())
        .env("INSTA_UPDATE", update)
        .env_remove("CI")
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
    assert_eq!(
        mimi_conformance::report::results::schema_violation(&results),
        None,
        "results.json meets harness/conformance/schemas/results.schema.json"
    );
    // Every case passes, so every requirement a case charges was reached and judged.
    let out = harness(&[
        "coverage",
        "--results",
        reports.join("results.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let (charged, total) = (cited_requirements(), catalogued_requirements());
    assert!(
        text.ends_with(&format!(
            "coverage: {charged}/{total} requirements ({}%)\n",
            charged * 100 / total
        )),
        "{text}"
    );
    assert!(
        text.contains("    B::keyMaterial::one-time: pass (step \"claim again\": pass)"),
        "{text}"
    );
}

fn catalogued_requirements() -> usize {
    mimi_conformance::session::load_catalogue(&workspace().join("cases"))
        .unwrap()
        .requirements
        .len()
}

/// How many requirements the shipped cases charge an expectation to.
fn cited_requirements() -> usize {
    let cases = mimi_conformance::session::load_cases(&workspace().join("cases")).unwrap();
    let cited: std::collections::BTreeSet<String> = cases
        .iter()
        .flat_map(|c| c.requirements.iter().map(|r| r.id.clone()))
        .collect();
    cited.len()
}

#[test]
fn a_failing_case_exits_1() {
    let reports = temp_dir("failing");
    let out = harness(&[
        "run",
        "--only-cases",
        "fixtures/selftest/must-fail",
        "--reports",
        reports.to_str().unwrap(),
        "--exact",
        "B::keyMaterial::wrong-user-status",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("wrong-user-status.yaml:20:21"), "{stdout}");
    let junit = quick_junit::Report::deserialize_from_str(
        &std::fs::read_to_string(reports.join("junit.xml")).unwrap(),
    )
    .unwrap();
    assert_eq!(junit.failures, 1);
}

#[test]
fn a_malformed_case_exits_2_with_its_location_and_sends_nothing() {
    let out = harness(&["run", "--only-cases", "fixtures/selftest/parse-error"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("unknown-key.yaml:11:5: unknown key `expct`"),
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
        stderr(&out).contains(
            "nothing accepts connections for vendor.example at 127.0.0.1:1 (connection refused)"
        ),
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
        "--only-cases",
        "fixtures/selftest/template-error",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown-attribute.yaml:15:24"),
        "{}",
        stderr(&out)
    );
}

/// A provider that never answers is one set-up error, said once, within the directory's
/// timeout, and the reports say so; the cases are not each left to time out (the step and
/// case timeouts are tested against the hostile fixture, tests/hostile.rs).
#[test]
fn a_provider_that_never_answers_is_one_set_up_error() {
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
    let reports = profile.parent().unwrap().join("reports");
    let started = std::time::Instant::now();
    let out = harness(&[
        "run",
        "--provider",
        profile.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
    ]);
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("accepted the TCP connection and then sent nothing for 10 s: no TLS handshake")
            .count(),
        1,
        "{err}"
    );
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["state"], "could-not-start");
    assert_eq!(run["exit_code"], 3);
    // A hang detector (the directory's 10 s, and slack), not a speed check.
    assert!(elapsed < std::time::Duration::from_secs(60), "{elapsed:?}");
    eprintln!("silent provider: exit 3 after {} ms", elapsed.as_millis());
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
    let out = harness_writing_snapshots(
        &[
            "run",
            "--provider",
            profile.to_str().unwrap(),
            "--provider",
            peer.to_str().unwrap(),
            "--reports",
            reports.to_str().unwrap(),
        ],
        "new",
    );
    server.kill().unwrap();
    let _ = server.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    // Their snapshots are recorded with the reports, never in the cases tree.
    let recorded = reports
        .join("snapshots/cases/B/keyMaterial/snapshots/success__claim@vendor.example.snap.new");
    assert!(recorded.exists(), "{} was not recorded", recorded.display());
    assert!(!workspace()
        .join("cases/B/keyMaterial/snapshots/success__claim@vendor.example.snap.new")
        .exists());
    // Rooms span the two served providers, through their driver APIs.
    assert_passed(
        &out,
        &["A::rooms::external-join", "B::notify::welcome-routing"],
    );
}

/// Each of the cases passed in the run.
fn assert_passed(out: &Output, cases: &[&str]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    for case in cases {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("test {case} ")) && l.ends_with("... ok")),
            "{case} did not pass: {stdout}"
        );
    }
}

/// `serve --variant consent-required` serves providers whose users need consent, and writes a
/// profile that names the requester they granted it to: the claims stay conclusive and pass.
#[test]
fn serve_describes_a_variant_in_the_profile_it_writes() {
    let (mut server, profile, _) = serve("serve-consent", &["--variant", "consent-required"]);
    let reports = profile.parent().unwrap().join("reports");
    let text = std::fs::read_to_string(&profile).unwrap();
    let out = harness(&[
        "run",
        "--provider",
        profile.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
        "B::keyMaterial",
    ]);
    server.kill().unwrap();
    let _ = server.wait();
    assert!(
        text.contains("consent:") && text.contains("requester: mimi://harness.example/u/consented"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_passed(
        &out,
        &["B::keyMaterial::success", "B::keyMaterial::no-consent"],
    );
}

/// `keypackage` mints KeyPackages for a test user, one hex line each.
#[test]
fn keypackage_mints_key_packages_for_a_test_user() {
    let out = harness(&[
        "keypackage",
        "--user",
        "mimi://vendor.example/u/bob",
        "--clients",
        "2",
        "--count",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 6);
    let kp =
        mimi_wire::mls_objects::KeyPackage::from_bytes(&hex::decode(&lines[3]).unwrap()).unwrap();
    use mimi_wire::Render;
    assert_eq!(
        kp.render()["leaf_node"]["credential"]["basic"],
        "mimi://vendor.example/d/bob/2"
    );
    let refused = harness(&["keypackage", "--user", "bob"]);
    assert_eq!(refused.status.code(), Some(2));
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

/// Citing a requirement covers nothing: without a run, no requirement was judged.
#[test]
fn coverage_counts_only_requirements_a_run_judged() {
    let out = harness(&["coverage", "--results", "/nonexistent/results.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().last().unwrap(),
        format!(
            "coverage: 0/{} requirements (0%)",
            catalogued_requirements()
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
        "--only-cases",
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
            "--only-cases",
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

/// `run` as `cargo install` leaves it, in a folder with no cases/: `--list` names exactly the
/// shipped cases, which are built into the binary.
fn list_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
        .args(["run", "--list"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn listed(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_shipped_cases_are_built_in_and_run_from_any_folder() {
    let elsewhere = temp_dir("elsewhere");
    let out = list_in(&elsewhere, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shipped = mimi_conformance::case::case_files(&workspace().join("cases")).unwrap();
    let names = listed(&out);
    assert_eq!(names.len(), shipped.len(), "{names:?}");
    assert!(names.iter().any(|n| n == "B::keyMaterial::one-time"));
    assert!(
        !elsewhere.join("cases").exists(),
        "nothing is written where it runs"
    );
}

#[test]
fn cases_adds_a_folder_and_only_cases_replaces_the_built_in_ones() {
    let mine = temp_dir("my-cases");
    std::fs::create_dir_all(mine.join("B/mine")).unwrap();
    std::fs::copy(
        workspace().join("cases/B/keyMaterial/unknown-user.yaml"),
        mine.join("B/mine/unknown-again.yaml"),
    )
    .unwrap();
    let elsewhere = temp_dir("cases-flags");
    let shipped = listed(&list_in(&elsewhere, &[]));
    let added = list_in(&elsewhere, &["--cases", mine.to_str().unwrap()]);
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    let added = listed(&added);
    assert_eq!(added.len(), shipped.len() + 1);
    assert!(added.iter().any(|n| n == "B::mine::unknown-again"));
    let only = list_in(&elsewhere, &["--only-cases", mine.to_str().unwrap()]);
    assert_eq!(
        listed(&only),
        ["B::mine::unknown-again"],
        "{}",
        stderr(&only)
    );
    // A folder whose cases are named like built-in ones is refused, naming both files.
    let twice = list_in(
        &elsewhere,
        &["--cases", workspace().join("cases").to_str().unwrap()],
    );
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        stderr(&twice).contains("case names must be unique in a run"),
        "{}",
        stderr(&twice)
    );
}

/// A provider that needs consent before every claim answers `noConsent`, as P-06 §5.2 lets it:
/// the claims cases are inconclusive with what would make them conclusive, never failed, and
/// the run passes unless --strict.
#[test]
fn claims_refused_with_no_consent_are_inconclusive_not_failures() {
    let (mut server, profile, _) = serve("serve-consent", &[]);
    // The test users the cases claim are all dora, who has consented to nobody.
    let text = std::fs::read_to_string(&profile).unwrap();
    // The users block: its key line and the indented lines under it.
    let mut lines = text.lines().skip_while(|l| !l.starts_with("users:"));
    let users: Vec<&str> = lines
        .next()
        .into_iter()
        .chain(lines.take_while(|l| l.starts_with(' ')))
        .collect();
    let dora = "users: {bob: \"mimi://vendor.example/u/dora\", carol: \"mimi://vendor.example/u/dora\", dora: \"mimi://vendor.example/u/dora\"}\n";
    std::fs::write(&profile, text.replace(&(users.join("\n") + "\n"), dora)).unwrap();
    let reports = profile.parent().unwrap().join("reports");
    let run = |strict: bool| {
        let mut args = vec![
            "run",
            "--provider",
            profile.to_str().unwrap(),
            "--reports",
            reports.to_str().unwrap(),
            "B::keyMaterial::",
        ];
        args.extend(strict.then_some("--strict"));
        harness(&args)
    };
    let out = run(false);
    let strict = run(true);
    server.kill().unwrap();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", stderr(&out));
    for case in ["one-time", "success", "expired"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("test B::keyMaterial::{case} "))
                    && l.contains("ignored (inconclusive: the provider answered noConsent")),
            "{case}: {stdout}"
        );
    }
    assert!(
        stderr(&out).contains("to make it conclusive: give the harness's requester consent"),
        "{}",
        stderr(&out)
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    let one_time = results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "B::keyMaterial::one-time")
        .unwrap();
    assert_eq!(one_time["verdict"], "inconclusive");
    assert!(one_time["requirement_verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["verdict"] == "inconclusive"));
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
}

/// A cases folder written for one test: `(path below the folder, YAML)`.
fn cases_folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = temp_dir(name);
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    dir
}

/// A case that fetches the embedded provider's directory, as a building block.
const QUICK_CASE: &str = "title: The directory is served\nchecks: [DIR-7]\nlinks: [B]\nactors:\n  providers: {target: under-test, hub: harness}\nsteps:\n  - name: fetch the directory\n    by: hub\n    on: target\n    call: directory\n    expect: {status: 200}\n";

/// Reports of the last run, still green, must not survive a run that cannot start.
fn green_reports(name: &str) -> PathBuf {
    let reports = temp_dir(name);
    std::fs::write(
        reports.join("junit.xml"),
        r#"<testsuites name="old" tests="1" failures="0" errors="0"><testsuite name="old" tests="1"><testcase name="old"/></testsuite></testsuites>"#,
    )
    .unwrap();
    std::fs::write(reports.join("results.json"), r#"{"cases": []}"#).unwrap();
    reports
}

fn run_state(reports: &Path) -> serde_json::Value {
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(
        &std::fs::read_to_string(reports.join("junit.xml")).unwrap(),
    )
    .expect("junit.xml is JUnit");
    assert!(
        junit.test_suites.iter().all(|s| s.name.as_str() != "old"),
        "the stale report survived"
    );
    results["run"].clone()
}

/// Nothing passes by accident: a cases folder with no case, an empty one, a case file given
/// for the folder, and a case file at the top of the folder (outside the link folders) are
/// each exit 2 with the reason, and the reports say the run could not start.
#[test]
fn a_cases_folder_without_cases_exits_2_and_says_why() {
    let empty = temp_dir("no-cases-empty");
    let only_catalogue = cases_folder(
        "no-cases-catalogue",
        &[("README.md", "notes\n"), ("B/notes.txt", "not a case\n")],
    );
    let named_like_a_case = cases_folder("no-cases-named", &[("one-time.yaml/README.md", "x\n")]);
    let at_the_top = cases_folder(
        "no-cases-top",
        &[
            ("B/x/quick.yaml", QUICK_CASE),
            ("bad.yaml", "title: [unclosed\n"),
        ],
    );
    let file = workspace().join("cases/B/keyMaterial/one-time.yaml");
    for (folder, words) in [
        (&empty, "no case file in this folder"),
        (&only_catalogue, "no case file in this folder"),
        (
            &named_like_a_case.join("one-time.yaml"),
            "no case file in this folder",
        ),
        (&file, "--cases takes the folder of cases, not a case file"),
        (&at_the_top, "bad.yaml:1:"),
    ] {
        let reports = green_reports("no-cases-reports");
        let out = harness(&[
            "run",
            "--only-cases",
            folder.to_str().unwrap(),
            "--reports",
            reports.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {}",
            folder.display(),
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(words),
            "{}: {}",
            folder.display(),
            stderr(&out)
        );
        let run = run_state(&reports);
        assert_eq!(run["state"], "could-not-start", "{run}");
        assert!(run["reason"].as_str().unwrap().contains(words), "{run}");
    }
    // A well-formed case at the top is refused too: it is in no link folder.
    let top = cases_folder("top-case", &[("quick.yaml", QUICK_CASE)]);
    let out = harness(&["run", "--cases", top.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("quick.yaml: a case file must be in a link folder"),
        "{}",
        stderr(&out)
    );
}

/// A filter that selects none of the cases says so (and is not an error: it was asked for).
#[test]
fn a_filter_that_selects_nothing_says_so() {
    let reports = green_reports("filter-none");
    let out = harness(&[
        "run",
        "no-such-case",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the filter selected none of the"),
        "{}",
        stderr(&out)
    );
    let run = run_state(&reports);
    assert_eq!(run["state"], "finished");
    assert!(run["reason"].as_str().unwrap().contains("nothing was run"));
}

/// Every profile value is checked at load: a wrong one is exit 2 at its line and column, never
/// a provider failure (exit 1) or an unreachable provider (exit 3).
#[test]
fn every_profile_value_is_checked_with_its_location() {
    let profile = lab_profile("profile-values", "127.0.0.1:1");
    let lab = profile.parent().unwrap().to_path_buf();
    let original = std::fs::read_to_string(&profile).unwrap();
    std::fs::write(lab.join("empty.pem"), "no certificate here\n").unwrap();
    // A certificate for the wrong domain, and a key of another certificate.
    let out = harness(&[
        "pki",
        "--out",
        lab.join("other").to_str().unwrap(),
        "--domain",
        "other.example",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line_of = |needle: &str| {
        original
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} in {original}"))
            + 1
    };
    let harness_cert = "certificate: harness.example.pem";
    let harness_key = "key: harness.example.key.pem";
    for (from, to, line, words) in [
        (
            "roles: [target]",
            "roles: [emperor]",
            line_of("roles:"),
            "\"emperor\" is not a role",
        ),
        (
            "endpoints: [",
            "endpoints: [teleport, ",
            line_of("endpoints:"),
            "\"teleport\" is not a MIMI endpoint",
        ),
        (
            "trust-roots: [ca.pem]",
            "trust-roots: []",
            line_of("trust-roots:"),
            "trust-roots must name at least one PEM file",
        ),
        (
            "trust-roots: [ca.pem]",
            "trust-roots: [empty.pem]",
            line_of("trust-roots:"),
            "trust root empty.pem holds no PEM certificate",
        ),
        (
            harness_cert,
            "certificate: other/other.example.pem",
            line_of(harness_cert),
            "authenticates other.example, not harness.domain harness.example",
        ),
        (
            harness_key,
            "key: other/harness.example.key.pem",
            line_of(harness_key),
            "is not the key of the certificate in harness.example.pem",
        ),
        (
            "vendor.example: \"127.0.0.1:1\"",
            "vendor.example: \"127.0.0.1\"",
            line_of("address-overrides:"),
            "\"127.0.0.1\" has no port",
        ),
    ] {
        let text = original.replacen(from, to, 1);
        assert_ne!(text, original, "{from}");
        std::fs::write(&profile, &text).unwrap();
        let out = harness(&["run", "--provider", profile.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{to}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(words), "{to}: {err}");
        assert!(
            err.contains(&format!("profile-vendor.example.yaml:{line}:")),
            "{to}: line {line}: {err}"
        );
    }
    for (extra, words) in [
        (
            "draft: \"99\"\n",
            "draft \"99\" is not a draft the harness knows",
        ),
        (
            "users: {bob: 42}\n",
            "a test user is a mimi:// URI, or a map",
        ),
        (
            "users: {bob: \"mimi://elsewhere.example/u/bob\"}\n",
            "is not a user of vendor.example",
        ),
        (
            "driver: {url: \"http://127.0.0.1:1\", token-env: MIMI_NO_SUCH_TOKEN_VARIABLE}\n",
            "$MIMI_NO_SUCH_TOKEN_VARIABLE, which is not set",
        ),
        ("quiet-period: soon\n", "quiet-period: duration \"soon\""),
    ] {
        let key = extra.split(':').next().unwrap();
        let text: String = original
            .lines()
            .filter(|l| !l.starts_with(&format!("{key}:")))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            + extra;
        std::fs::write(&profile, &text).unwrap();
        let out = harness(&["run", "--provider", profile.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{extra}: {}", stderr(&out));
        let err = stderr(&out);
        let line = text.lines().count();
        assert!(err.contains(words), "{extra}: {err}");
        assert!(
            err.contains(&format!("profile-vendor.example.yaml:{line}:")),
            "{extra}: line {line}: {err}"
        );
    }
}

/// Zero is no timeout and no interval: refused at load, at its line.
#[test]
fn zero_durations_are_refused() {
    let timeout = QUICK_CASE.replace("title:", "timeout: 0s\ntitle:");
    let every = QUICK_CASE.replace(
        "expect: {status: 200}",
        "expect: {status: 200, eventually: {within: 1s, every: 0ms}}",
    );
    let cases = cases_folder(
        "zero",
        &[("B/x/timeout.yaml", &timeout), ("B/x/every.yaml", &every)],
    );
    let out = harness(&["run", "--cases", cases.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("timeout.yaml:1:10: duration \"0s\" is zero"),
        "{err}"
    );
    assert!(err.contains("every.yaml:11:"), "{err}");
    assert!(err.contains("duration \"0ms\" is zero"), "{err}");
}

/// Input that is not text, or one enormous line: located by byte offset, and the error stays
/// a few lines long.
#[test]
fn bad_bytes_and_huge_lines_give_short_located_errors() {
    let mut binary = QUICK_CASE.as_bytes().to_vec();
    binary.splice(7..7, [0xff, 0xfe]);
    let huge = format!("title: x\nchecks: [{}]\n", "A".repeat(1 << 20));
    let dir = cases_folder("bad-bytes", &[("B/x/huge.yaml", &huge)]);
    std::fs::write(dir.join("B/x/binary.yaml"), &binary).unwrap();
    let out = harness(&["run", "--cases", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("binary.yaml:1:8: the case file is not UTF-8 text: byte offset 7 is 0xff"),
        "{err}"
    );
    assert!(err.contains("huge.yaml:2:"), "{err}");
    assert!(err.len() < 8 << 10, "{} bytes of stderr", err.len());
    let profile = temp_dir("bad-bytes-profile").join("profile.yaml");
    std::fs::write(&profile, b"name: x\ndomain: \xc3\x28\n").unwrap();
    let out = harness(&["run", "--provider", profile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "profile.yaml:2:9: the provider profile is not UTF-8 text: byte offset 16 is 0xc3"
        ),
        "{}",
        stderr(&out)
    );
}

/// Logs written to a file (stderr is not a terminal) carry no colour codes.
#[test]
fn logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let out = Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
        .args(["run", "--exact", "B::directory::well-formed"])
        .current_dir(workspace())
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!out.stderr.is_empty(), "debug logs were written");
    assert!(!out.stderr.contains(&0x1b), "{}", stderr(&out));
}

/// The binary in the background, its stdout read as it comes.
struct Running {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
            .args(args)
            .current_dir(workspace())
            .env("INSTA_UPDATE", "no")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stdout.take().unwrap();
        let seen = stdout.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self { child, stdout }
    }

    /// Waits until stdout shows `text` (a hang detector bounds the wait).
    fn wait_for(&self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !self.stdout.lock().unwrap().contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "{text:?} never showed: {}",
                self.stdout.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn finish(self) -> (Option<i32>, String) {
        let out = self.child.wait_with_output().unwrap();
        (out.status.code(), stderr(&out))
    }
}

/// SIGINT stops the run: no case starts after it, the running one finishes, and the reports
/// are complete (every case, the rest marked not run) and valid; the exit code is 130.
#[test]
fn sigint_leaves_complete_reports_with_not_run_cases() {
    let reports = green_reports("sigint");
    let running = Running::start(&[
        "run",
        "--test-threads",
        "1",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    running.wait_for("... ok");
    running.signal("INT");
    let (code, err) = running.finish();
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("the run was interrupted (SIGINT)"), "{err}");
    let run = run_state(&reports);
    assert_eq!(run["state"], "interrupted");
    assert_eq!(run["exit_code"], 130);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    let cases = results["cases"].as_array().unwrap();
    let case_files = mimi_conformance::case::case_files(&workspace().join("cases")).unwrap();
    assert_eq!(cases.len(), case_files.len(), "every case is in the report");
    let passed = cases.iter().filter(|c| c["verdict"] == "pass").count();
    let not_run: Vec<&serde_json::Value> =
        cases.iter().filter(|c| c["verdict"] == "not-run").collect();
    assert!(passed >= 1, "{results}");
    assert!(!not_run.is_empty(), "{results}");
    assert!(not_run.iter().all(|c| c["message"]
        .as_str()
        .unwrap()
        .contains("interrupted (SIGINT)")));
    let junit = quick_junit::Report::deserialize_from_str(
        &std::fs::read_to_string(reports.join("junit.xml")).unwrap(),
    )
    .unwrap();
    let testcases: usize = junit.test_suites.iter().map(|s| s.test_cases.len()).sum();
    assert_eq!(
        testcases,
        case_files.len() + 1,
        "every case, and the run's own"
    );
}

/// SIGTERM stops a run whose case waits for a minute: the case gets its grace, is then
/// cancelled and reported as not run with what it was waiting on, the case after it never
/// starts, and the exit code is 143.
#[test]
fn sigterm_cancels_a_waiting_case_after_its_grace() {
    // It waits for a notify that must arrive: one that must not would end as soon as the
    // provider says it has nothing left to send (awaitIdle).
    let waiting = "title: Waits for a notify that never comes\nchecks: [DIR-7]\nlinks: [B]\nactors:\n  providers: {hub: under-test, follower: harness}\nneeds: [harness-server]\nsteps:\n  - name: wait for a notify\n    receive: notify\n    by: hub\n    on: follower\n    path: {roomId: \"nowhere-{{ run }}\"}\n    timeout: 50s\n";
    let cases = cases_folder(
        "sigterm-cases",
        &[
            ("B/slow/a-wait.yaml", waiting),
            ("B/slow/b-quick.yaml", QUICK_CASE),
        ],
    );
    let reports = green_reports("sigterm");
    let running = Running::start(&[
        "run",
        "--cases",
        cases.to_str().unwrap(),
        "--test-threads",
        "1",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    running.wait_for("test B::slow::a-wait");
    // The case is under way (a start-up that raced the signal would show as a not-run case
    // with no step, which the assertions below refuse).
    std::thread::sleep(std::time::Duration::from_millis(500));
    running.signal("TERM");
    let (code, err) = running.finish();
    assert_eq!(code, Some(143), "{err}");
    let run = run_state(&reports);
    assert_eq!(run["state"], "terminated");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    let message = |id: &str| {
        let case = results["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id}: {results}"));
        assert_eq!(case["verdict"], "not-run", "{case}");
        case["error"].as_str().unwrap().to_string()
    };
    let waited = message("B::slow::a-wait");
    assert!(
        waited.contains("not run to its end: the run was terminated (SIGTERM), in step \"wait for a notify\", waiting for a notify request"),
        "{waited}"
    );
    assert_eq!(
        message("B::slow::b-quick"),
        "not run: the run was terminated (SIGTERM)"
    );
}

/// `--run-timeout` bounds the run: when it runs out, what has not run is reported as not
/// run, the reports say the run timed out, and the run fails.
#[test]
fn run_timeout_bounds_the_whole_run() {
    let reports = green_reports("run-timeout");
    let out = harness(&[
        "run",
        "--run-timeout",
        "1ms",
        "--reports",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the run's timeout of 1 ms ran out"),
        "{}",
        stderr(&out)
    );
    let run = run_state(&reports);
    assert_eq!(run["state"], "timed-out");
    assert!(run["not_run"].as_u64().unwrap() >= 1, "{run}");
    let out = harness(&["run", "--run-timeout", "0s"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// `serve` stops cleanly on SIGTERM, as on Ctrl-C.
#[test]
fn serve_stops_cleanly_on_sigterm() {
    let out_dir = temp_dir("serve-sigterm");
    let mut server = Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
        .args([
            "serve",
            "--out",
            out_dir.to_str().unwrap(),
            "--driver-token",
            SERVE_TOKEN,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !out_dir.join("profile-b.example.yaml").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve never wrote its profiles"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut err = String::new();
    use std::io::Read;
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("serve stopped: terminated (SIGTERM)"), "{err}");
}
