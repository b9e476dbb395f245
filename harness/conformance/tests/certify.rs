//! Self-certification as users run it: keygen, certify and verify, against the embedded and a
//! served provider, and from a finished run's reports; refusal of a faulty one and of one whose
//! MUSTs are inconclusive; and a bundle changed in each way failing verify with the message that
//! says what does not match.

use base64::Engine;
use mimi_conformance::certify::bundle::{Bundle, Member, EVIDENCE, RESULTS};
use mimi_conformance::certify::evidence::Evidence;
use mimi_conformance::certify::keys::{PublicKey, SigningKey};
use mimi_conformance::certify::recompute::Results;
use mimi_conformance::certify::statement::{
    ResourceDescriptor, Statement, TestResult, STATEMENT_TYPE, TEST_RESULT_TYPE,
};
use mimi_conformance::certify::{sha256_hex, verify};
use mimi_conformance::report::html::slug;
use mimi_conformance::session::CaseSources;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn cases() -> PathBuf {
    workspace().join("cases")
}

/// The driver token `serve` is given in these tests.
const SERVE_TOKEN: &str = "certify-test-driver-token";

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
    let dir = std::env::temp_dir().join(format!("mimi-certify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A key pair written by `keygen` in `dir`: (private, public).
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    let out = harness(&["keygen", "--out", path(&prefix)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (prefix.with_extension("key"), prefix.with_extension("pub"))
}

struct Certified {
    bundle: Bundle,
    key: SigningKey,
    public: PublicKey,
    /// The key files, and the reports of the run.
    files: (PathBuf, PathBuf),
    reports: PathBuf,
}

/// The embedded providers certified once for every test of this binary.
fn embedded() -> &'static Certified {
    static CERTIFIED: OnceLock<Certified> = OnceLock::new();
    CERTIFIED.get_or_init(|| {
        let dir = temp_dir("embedded");
        let (key, public) = keygen(&dir, "signer");
        let file = dir.join("bundle.json");
        let reports = dir.join("reports");
        let out = harness(&[
            "certify",
            "--key",
            path(&key),
            "--out",
            path(&file),
            "--reports",
            path(&reports),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let verified = harness(&["verify", path(&file), "--key", path(&public)]);
        assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
        let case_files = mimi_conformance::case::case_files(&cases()).unwrap();
        assert!(
            text(&verified).contains(&format!("{} case verdicts recomputed", case_files.len())),
            "{}",
            text(&verified)
        );
        Certified {
            bundle: Bundle::parse(&std::fs::read(&file).unwrap()).unwrap(),
            key: SigningKey::from_pem(&std::fs::read_to_string(&key).unwrap()).unwrap(),
            public: PublicKey::from_pem(&std::fs::read_to_string(&public).unwrap()).unwrap(),
            files: (key, public),
            reports,
        }
    })
}

/// Verify's messages for `bundle` against the embedded key and the case set `cases`.
fn failures(bundle: &Bundle, key: &PublicKey, cases: &Path) -> String {
    match verify::verify(bundle, key, &CaseSources::folder(cases)) {
        Ok(_) => panic!("the changed bundle verified"),
        Err(errors) => errors.join("\n"),
    }
}

/// Verify refuses `bundle` (against the embedded key and the cases), saying `said`.
fn refused_with(bundle: &Bundle, said: &str) {
    let message = failures(bundle, &embedded().public, &cases());
    assert!(message.contains(said), "{message}");
}

fn member_json(bundle: &Bundle, name: &str) -> Value {
    serde_json::from_slice(&bundle.member(name).unwrap().bytes().unwrap()).unwrap()
}

fn replace_member(bundle: &mut Bundle, name: &str, bytes: &[u8]) {
    let member = bundle.members.iter_mut().find(|m| m.name == name).unwrap();
    *member = Member::new(name, &member.media_type.clone(), bytes);
}

/// The embedded bundle with `edit` applied to a member and the Statement, signed again with
/// the same key: what a harness that lies, or a signer who edits the evidence, would produce.
fn resigned(
    name: &str,
    edit_member: impl FnOnce(&mut Value),
    edit_statement: impl FnOnce(&mut Statement),
) -> Bundle {
    let certified = embedded();
    resigned_from(
        &certified.bundle,
        &certified.key,
        name,
        edit_member,
        edit_statement,
    )
}

fn resigned_from(
    bundle: &Bundle,
    key: &SigningKey,
    name: &str,
    edit_member: impl FnOnce(&mut Value),
    edit_statement: impl FnOnce(&mut Statement),
) -> Bundle {
    let mut bundle = bundle.clone();
    let mut value = member_json(&bundle, name);
    edit_member(&mut value);
    let bytes = serde_json::to_vec(&value).unwrap();
    replace_member(&mut bundle, name, &bytes);
    let mut statement = bundle.unverified_statement().unwrap();
    for descriptor in statement
        .subject
        .iter_mut()
        .chain(statement.predicate.configuration.iter_mut())
        .filter(|d| d.name == name)
    {
        descriptor
            .digest
            .insert("sha256".into(), sha256_hex(&bytes));
    }
    edit_statement(&mut statement);
    Bundle::sign(&statement, bundle.members, key)
}

/// Where results.json has the first passing case with a check whose `status` expectation held
/// on a 200: that case, the check, and the exchange it judged.
fn first_status_check(results: &Value) -> (usize, usize, usize) {
    let holds_on_200 = |check: &Value| {
        (check["evaluation"]["expectations"]
            .as_array()
            .unwrap()
            .iter())
        .any(|e| e["keyword"] == "status" && e["actual"][0] == 200)
    };
    let cases = results["cases"].as_array().unwrap();
    for (c, case) in cases.iter().enumerate() {
        let checks = case["checks"].as_array().unwrap();
        let Some(k) = checks.iter().position(holds_on_200) else {
            continue;
        };
        if case["verdict"] != "pass" {
            continue;
        }
        let judged = &checks[k];
        let x = (case["exchanges"].as_array().unwrap().iter())
            .position(|e| {
                e["step_index"] == judged["step_index"]
                    && e["attempt"] == judged["evaluation"]["attempt"]
            })
            .expect("the exchange the check judged");
        return (c, k, x);
    }
    panic!("some case expects a 200")
}

#[test]
fn keygen_writes_pem_keys_and_never_overwrites_them() {
    let dir = temp_dir("keygen");
    let (key, public) = keygen(&dir, "k");
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let public = PublicKey::from_pem(&std::fs::read_to_string(&public).unwrap()).unwrap();
    assert_eq!(SigningKey::from_pem(&private).unwrap().public(), public);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only its owner reads the private key");
    }
    let again = harness(&["keygen", "--out", path(&dir.join("k"))]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again).contains("never overwrites"),
        "{}",
        text(&again)
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), private);
}

#[test]
fn an_embedded_bundle_verifies_and_says_what_it_certifies() {
    let certified = embedded();
    let sources = CaseSources::folder(&cases());
    let verified = verify::verify(&certified.bundle, &certified.public, &sources).unwrap();
    let predicate = &verified.statement.predicate;
    assert_eq!(predicate.result, "pass");
    assert!(predicate.failed_tests.is_empty());
    let mimi = &predicate.mimi_conformance;
    assert_eq!(mimi.result, "pass");
    assert!(mimi.provider.software_version.is_some());
    assert_eq!(mimi.requirements["KM-12"], "pass");
    assert!(mimi
        .scope
        .statement
        .contains("declares everything the cases need"));
}

#[test]
fn changed_evidence_fails_by_its_digest() {
    let certified = embedded();
    for name in [RESULTS, EVIDENCE] {
        let mut bundle = certified.bundle.clone();
        let mut bytes = bundle.member(name).unwrap().bytes().unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        replace_member(&mut bundle, name, &bytes);
        let message = failures(&bundle, &certified.public, &cases());
        assert!(
            message.contains(&format!("{name} does not match the signed statement")),
            "{message}"
        );
    }
}

#[test]
fn a_changed_response_signed_again_fails_recomputation() {
    let bundle = resigned(
        RESULTS,
        |results| {
            let (c, _, x) = first_status_check(results);
            // Still a success, so that the answer is decoded as before and only the status
            // differs from what the check recorded.
            results["cases"][c]["exchanges"][x]["response"]["status"] = 201.into();
        },
        |_| {},
    );
    refused_with(
        &bundle,
        "the recorded answer gives the actual value(s) [201], the record says [200]",
    );
}

#[test]
fn a_changed_expectation_result_signed_again_fails_recomputation() {
    let bundle = resigned(
        RESULTS,
        |results| {
            let (c, k, _) = first_status_check(results);
            let check = &mut results["cases"][c]["checks"][k];
            let expectations = check["evaluation"]["expectations"].as_array_mut().unwrap();
            let status = (expectations.iter_mut())
                .find(|e| e["keyword"] == "status")
                .unwrap();
            status["failure"] = "expected 200, got 200".into();
        },
        |_| {},
    );
    refused_with(
        &bundle,
        "on the recorded answer it held, but the record says it did not hold",
    );
}

#[test]
fn a_changed_verdict_signed_again_fails_recomputation() {
    let mut case = String::new();
    let bundle = resigned(
        RESULTS,
        |results| {
            let record = &mut results["cases"][0];
            case = record["id"].as_str().unwrap().to_string();
            record["verdict"] = "warn".into();
        },
        |_| {},
    );
    refused_with(
        &bundle,
        &format!("{case}: the evidence gives pass, but the bundle records warn"),
    );
}

/// A passing case's last check removed and the bundle signed again: the evidence then ends
/// before the case does, which only a case that could not be carried out shows.
#[test]
fn a_removed_check_signed_again_shows_a_case_that_ended_early() {
    let mut case = String::new();
    let bundle = resigned(
        RESULTS,
        |results| {
            let cases = results["cases"].as_array_mut().unwrap();
            let record = (cases.iter_mut()).find(|c| c["verdict"] == "pass").unwrap();
            case = record["id"].as_str().unwrap().to_string();
            record["checks"].as_array_mut().unwrap().pop();
        },
        |_| {},
    );
    refused_with(
        &bundle,
        &format!("{case}: the evidence gives error, but the bundle records pass"),
    );
}

#[test]
fn a_changed_outcome_signed_again_does_not_follow_from_the_evidence() {
    let bundle = resigned(
        RESULTS,
        |_| {},
        |statement| {
            let predicate = &mut statement.predicate;
            let case = predicate.passed_tests.pop().unwrap();
            predicate.failed_tests.push(case);
            predicate
                .mimi_conformance
                .requirements
                .insert("KM-12".into(), "fail".into());
        },
    );
    let message = failures(&bundle, &embedded().public, &cases());
    assert!(
        message.contains("the signed outcome does not follow from the evidence"),
        "{message}"
    );
    assert!(message.contains("predicate.failedTests"), "{message}");
    assert!(
        message.contains(r#"predicate.mimiConformance.requirements.KM-12: the statement says "fail", the evidence gives "pass""#),
        "{message}"
    );
}

/// A connection the provider refused, recorded as one it closed after the request and signed
/// again: `refused` is judged again from the kind of failure, and no longer holds.
#[test]
fn a_changed_connection_failure_signed_again_fails_recomputation() {
    let case = "B::transport::no-client-certificate";
    let bundle = resigned(
        RESULTS,
        |results| {
            let cases = results["cases"].as_array_mut().unwrap();
            let record = (cases.iter_mut()).find(|c| c["id"] == case).unwrap();
            let exchanges = record["exchanges"].as_array_mut().unwrap();
            let refused = (exchanges.iter_mut())
                .find(|x| x["failure"]["kind"] == "tls-refused")
                .expect("the provider refused the connection");
            refused["failure"]["kind"] = "closed".into();
        },
        |_| {},
    );
    let message = failures(&bundle, &embedded().public, &cases());
    assert!(message.contains(case), "{message}");
    assert!(message.contains("refused"), "{message}");
}

/// A run that was stopped is not certified, from its reports or in a bundle signed again.
#[test]
fn an_unfinished_run_is_not_certified() {
    let stopped = |results: &mut Value| {
        results["run"]["state"] = "interrupted".into();
        results["run"]["reason"] = "interrupted (SIGINT)".into();
    };
    let said = "the run did not finish (its state is interrupted: interrupted (SIGINT)): only a \
                finished run is certified";
    refused_with(&resigned(RESULTS, stopped, |_| {}), said);

    let (out, bundle) = certify_from(&edited_reports("unfinished", RESULTS, stopped));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(said), "{}", text(&out));
    assert!(!bundle.exists(), "no bundle is written");
}

/// A run that writes no evidence of its own (here, one that cannot start) leaves no earlier
/// run's beside its reports, where `--from-reports` would take it for this run's.
#[test]
fn a_run_removes_the_evidence_of_the_run_before() {
    let certified = embedded();
    let dir = temp_dir("stale-evidence");
    let reports = dir.join("reports");
    copy_dir(&certified.reports, &reports);
    let empty = dir.join("no-cases");
    std::fs::create_dir_all(&empty).unwrap();
    let out = harness(&[
        "run",
        "--only-cases",
        path(&empty),
        "--reports",
        path(&reports),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(reports.join(RESULTS).exists(), "the run wrote its reports");
    assert!(
        !reports.join(EVIDENCE).exists(),
        "the earlier run's evidence is gone"
    );
}

/// A run that compared the provider's answers with snapshots kept in its reports folder is not
/// certified from its reports: the bundle would not carry them.
#[test]
fn reports_with_kept_snapshots_are_not_certified() {
    // As the evidence of a run against vendor.example says.
    let reports = edited_reports("kept-snapshots", EVIDENCE, |evidence| {
        evidence["snapshotSuffix"] = "vendor.example".into();
    });
    let kept = reports.join("snapshots/cases/B/keyMaterial/snapshots");
    std::fs::create_dir_all(&kept).unwrap();
    let snapshot = kept.join("success__claim@vendor.example.snap");
    std::fs::write(snapshot, "---\n---\n").unwrap();
    let (out, bundle) = certify_from(&reports);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("with snapshots kept in its reports folder"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("success__claim@vendor.example.snap"),
        "{}",
        text(&out)
    );
    assert!(!bundle.exists(), "no bundle is written");
}

/// `verify --extract` writes the members once the bundle verifies, and never a member whose
/// name is a path, even in a bundle signed by the key it trusts.
#[test]
fn verify_extracts_the_members_and_no_path() {
    let certified = embedded();
    let dir = temp_dir("extract");
    let write = |name: &str, bundle: &Bundle| {
        let file = dir.join(name);
        std::fs::write(&file, serde_json::to_vec(bundle).unwrap()).unwrap();
        file
    };
    let public = path(&certified.files.1);
    let out_dir = dir.join("members");
    let file = write("bundle.json", &certified.bundle);
    let out = harness(&[
        "verify",
        path(&file),
        "--key",
        public,
        "--extract",
        path(&out_dir),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for name in [RESULTS, EVIDENCE] {
        let written = std::fs::read(out_dir.join(name)).unwrap();
        assert_eq!(
            written,
            certified.bundle.member(name).unwrap().bytes().unwrap()
        );
    }

    let mut escaping = certified.bundle.clone();
    let bytes = b"{}";
    escaping
        .members
        .push(Member::new("../escaped.json", "application/json", bytes));
    let mut statement = escaping.unverified_statement().unwrap();
    let mut subject = statement.subject[0].clone();
    subject.name = "../escaped.json".into();
    subject.digest.insert("sha256".into(), sha256_hex(bytes));
    statement.subject.push(subject);
    let escaping = Bundle::sign(&statement, escaping.members, &certified.key);
    let file = write("escaping.json", &escaping);
    let inner = dir.join("inner").join("members");
    let out = harness(&[
        "verify",
        path(&file),
        "--key",
        public,
        "--extract",
        path(&inner),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(r#"the bundle's member "../escaped.json" is not a file name"#),
        "{}",
        text(&out)
    );
    assert!(!dir.join("inner").join("escaped.json").exists());
}

/// Keys and bundles that are not what they should be: a located error, exit 2, nothing written.
#[test]
fn bad_keys_and_bundles_are_named() {
    let certified = embedded();
    let dir = temp_dir("bad-inputs");
    let (private, public) = &certified.files;
    let bundle = dir.join("bundle.json");
    std::fs::write(&bundle, serde_json::to_vec(&certified.bundle).unwrap()).unwrap();
    let out = harness(&["verify", path(&bundle), "--key", path(private)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("this is a private key, not a PUBLIC KEY: verify takes the public key"),
        "{}",
        text(&out)
    );
    let out_file = dir.join("new.json");
    let out = harness(&[
        "certify",
        "--from-reports",
        path(&certified.reports),
        "--key",
        path(public),
        "--out",
        path(&out_file),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("this is a public key, not a PRIVATE KEY: certify signs with"),
        "{}",
        text(&out)
    );
    assert!(!out_file.exists());
    let cut = dir.join("cut.json");
    let bytes = serde_json::to_vec(&certified.bundle).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = harness(&["verify", path(&cut), "--key", path(public)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "{}: not a mimi-conformance bundle (JSON): EOF",
            cut.display()
        )),
        "{}",
        text(&out)
    );
}

/// A copy of the embedded run's reports in a folder of its own, `edit` applied to its member
/// `name`.
fn edited_reports(folder: &str, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let reports = temp_dir(folder).join("reports");
    copy_dir(&embedded().reports, &reports);
    let file = reports.join(name);
    let mut value: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&file, serde_json::to_vec(&value).unwrap()).unwrap();
    reports
}

/// `certify --from-reports reports` with the embedded key: what it said, and where its bundle
/// would be.
fn certify_from(reports: &Path) -> (Output, PathBuf) {
    let bundle = reports.with_file_name("bundle.json");
    let out = harness(&[
        "certify",
        "--from-reports",
        path(reports),
        "--key",
        path(&embedded().files.0),
        "--out",
        path(&bundle),
    ]);
    (out, bundle)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_verifier_with_another_case_set_is_told_which_files_differ() {
    let certified = embedded();
    let dir = temp_dir("caseset").join("cases");
    copy_dir(&cases(), &dir);
    let changed = dir.join("B/keyMaterial/one-time.yaml");
    let mut yaml = std::fs::read_to_string(&changed).unwrap();
    yaml.push_str("# a comment changes the file's digest\n");
    std::fs::write(&changed, yaml).unwrap();
    std::fs::remove_file(dir.join("B/keyMaterial/expired.yaml")).unwrap();
    let message = failures(&certified.bundle, &certified.public, &dir);
    assert!(message.contains("is not the one the run used"), "{message}");
    assert!(
        message
            .contains("B/keyMaterial/one-time.yaml differs from the one the bundle was made with"),
        "{message}"
    );
    assert!(
        message.contains(
            "the bundle was made with 1 case file(s) this verifier does not have (a newer case set?): B/keyMaterial/expired.yaml"
        ),
        "{message}"
    );
}

#[test]
fn a_changed_profile_fails_by_digest_and_signed_again_by_what_it_declares() {
    let certified = embedded();
    let mut bundle = certified.bundle.clone();
    let mut evidence = member_json(&bundle, EVIDENCE);
    evidence["profiles"][0]["software-version"] = "9.9".into();
    replace_member(
        &mut bundle,
        EVIDENCE,
        &serde_json::to_vec(&evidence).unwrap(),
    );
    refused_with(&bundle, "evidence.json does not match the signed statement");
    // Signed again with the statement's digest of the profiles made to match, as a forger
    // would: what the profile declares is then what refuses it.
    let edited = std::cell::RefCell::new(Value::Null);
    let bundle = resigned(
        EVIDENCE,
        |evidence| {
            let endpoints = evidence["profiles"][0]["endpoints"].as_array_mut().unwrap();
            endpoints.retain(|e| e != "keyMaterial");
            *edited.borrow_mut() = evidence.clone();
        },
        |statement| {
            let evidence = serde_json::to_vec(&*edited.borrow()).unwrap();
            let evidence = mimi_conformance::certify::evidence::Evidence::parse(&evidence).unwrap();
            statement.predicate.configuration = verify::configuration(&evidence);
        },
    );
    refused_with(
        &bundle,
        "does not declare keyMaterial), so it cannot have run, yet the bundle records it pass",
    );
}

/// The evidence names the snapshot files verify reads by the provider's domain: a path there,
/// signed again, is refused before any file is read.
#[test]
fn a_snapshot_suffix_that_is_a_path_is_refused() {
    let bundle = resigned(
        EVIDENCE,
        |evidence| evidence["snapshotSuffix"] = "../../../etc/passwd".into(),
        |_| {},
    );
    refused_with(
        &bundle,
        r#"names the snapshot suffix "../../../etc/passwd", which is not a domain"#,
    );
}

#[test]
fn a_changed_signature_fails() {
    let certified = embedded();
    let mut bundle = certified.bundle.clone();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut signature = b64.decode(&bundle.envelope.signatures[0].sig).unwrap();
    signature[0] ^= 1;
    bundle.envelope.signatures[0].sig = b64.encode(signature);
    let message = failures(&bundle, &certified.public, &cases());
    assert!(message.contains("does not verify"), "{message}");
}

#[test]
fn a_bundle_signed_by_another_key_fails() {
    let certified = embedded();
    let dir = temp_dir("other-key");
    let (_, other) = keygen(&dir, "other");
    let out = harness(&[
        "verify",
        // The embedded bundle is written again: the test binary holds it parsed.
        path(&{
            let file = dir.join("bundle.json");
            std::fs::write(&file, serde_json::to_vec(&certified.bundle).unwrap()).unwrap();
            file
        }),
        "--key",
        path(&other),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the bundle is not signed by the key given"),
        "{}",
        text(&out)
    );
}

/// `serve`d providers (vendor.example, and peer.example as its peer), with the harness's
/// link-B server where they expect it, until dropped; a key pair to certify them with.
struct Served {
    server: std::process::Child,
    dir: PathBuf,
    profile: PathBuf,
    peer: PathBuf,
    key: PathBuf,
    public: PathBuf,
}

impl Served {
    /// The vendor's profile declares `version`.
    fn start(name: &str, extra: &[&str], version: Option<&str>) -> Self {
        let dir = temp_dir(name);
        let harness_listen = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let server = Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
            .args(["serve", "--out", path(&dir)])
            .args(["--domain", "vendor.example", "--domain", "peer.example"])
            .args(["--driver-token", SERVE_TOKEN, "--for", "300"])
            .args(["--harness-listen", &harness_listen])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (profile, peer) = (
            dir.join("profile-vendor.example.yaml"),
            dir.join("profile-peer.example.yaml"),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        // The profiles are written once every provider listens.
        while !peer.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if let Some(v) = version {
            let mut yaml = std::fs::read_to_string(&profile).unwrap();
            yaml.push_str(&format!("software-version: \"{v}\"\n"));
            std::fs::write(&profile, yaml).unwrap();
        }
        let (key, public) = keygen(&dir, "vendor");
        Self {
            server,
            dir,
            profile,
            peer,
            key,
            public,
        }
    }

    /// `certify` of the vendor (with its peer when `with_peer`) into `name`, and the bundle's
    /// path.
    fn certify(&self, name: &str, with_peer: bool, extra: &[&str]) -> (Output, PathBuf) {
        let bundle = self.dir.join(name);
        let reports = self.dir.join(format!("{name}.reports"));
        let mut args = vec!["certify", "--provider", path(&self.profile)];
        if with_peer {
            args.extend(["--provider", path(&self.peer)]);
        }
        args.extend(["--key", path(&self.key), "--out", path(&bundle)]);
        args.extend(["--reports", path(&reports)]);
        args.extend(extra);
        (harness(&args), bundle)
    }

    fn verify(&self, bundle: &Path) -> Output {
        harness(&["verify", path(bundle), "--key", path(&self.public)])
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[test]
fn a_served_provider_is_certified_and_its_bundle_holds_no_secret() {
    let served = Served::start("served", &[], Some("Vendor 2.3.1"));
    let (out, file) = served.certify("bundle.json", true, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("certified: vendor.example Vendor 2.3.1 — result pass"));
    let verified = served.verify(&file);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));

    // Neither the harness's private key nor the driver token is anywhere in the bundle: not in
    // its text, not in a member, not in the signed statement.
    let raw = std::fs::read(&file).unwrap();
    let bundle = Bundle::parse(&raw).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut texts = vec![raw, b64.decode(&bundle.envelope.payload).unwrap()];
    texts.extend(bundle.members.iter().map(|m| m.bytes().unwrap()));
    let key_pem = std::fs::read_to_string(served.dir.join("harness.example.key.pem")).unwrap();
    let mut secrets: Vec<String> = (key_pem.lines())
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect();
    assert!(!secrets.is_empty(), "the key has base64 lines to look for");
    secrets.push(SERVE_TOKEN.into());
    for text in &texts {
        let text = String::from_utf8_lossy(text);
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "the bundle holds {secret:?}"
            );
        }
    }
    let evidence = member_json(&bundle, EVIDENCE);
    assert_eq!(
        evidence["profiles"][0]["driver"]["token-env"],
        "MIMI_DRIVER_TOKEN"
    );
    assert_eq!(evidence["profiles"][0]["software-version"], "Vendor 2.3.1");
}

/// A broken SHOULD is certified as a warning, listed,
/// and recomputed by verify from the failing evidence; `--strict` refuses the SHOULD.
#[test]
fn warnings_are_certified_listed_and_recomputed_and_strict_refuses_them() {
    let served = Served::start(
        "warnings",
        &[
            // The only other SHOULD-only fault (notify-repeat-redelivered) ends its case before
            // the MUST it also checks, which certify rightly refuses as not shown to hold.
            "--fault",
            "retry-after-ignored",
        ],
        Some("Vendor 2.3.1"),
    );
    let (out, file) = served.certify("bundle.json", true, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("result warn ("), "{said}");
    assert!(said.contains(", 1 with warnings)"), "{said}");
    assert!(
        said.contains(
            "warn: B::notify::retry-after breaks FAN-47 (SHOULD) at B/notify/retry-after.yaml:"
        ),
        "{said}"
    );
    let verified = served.verify(&file);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    let bundle = Bundle::parse(&std::fs::read(&file).unwrap()).unwrap();
    let predicate = bundle.unverified_statement().unwrap().predicate;
    assert_eq!(
        predicate.result, "fail",
        "the predicate's pass allows no warning"
    );
    assert_eq!(predicate.mimi_conformance.result, "warn");
    assert!(predicate
        .warned_tests
        .contains(&"B::notify::retry-after".to_string()));
    assert_eq!(predicate.mimi_conformance.requirements["FAN-47"], "warn");

    // The warned case turned into a pass and signed again: its evidence still says otherwise.
    let key = SigningKey::from_pem(&std::fs::read_to_string(&served.key).unwrap()).unwrap();
    let forged = resigned_from(
        &bundle,
        &key,
        RESULTS,
        |results| {
            let cases = results["cases"].as_array_mut().unwrap();
            let case = (cases.iter_mut())
                .find(|c| c["id"] == "B::notify::retry-after")
                .unwrap();
            case["verdict"] = "pass".into();
        },
        |statement| {
            let predicate = &mut statement.predicate;
            predicate
                .warned_tests
                .retain(|c| c != "B::notify::retry-after");
            predicate.passed_tests.push("B::notify::retry-after".into());
        },
    );
    let message = failures(&forged, &key.public(), &cases());
    assert!(
        message.contains("B::notify::retry-after: the evidence gives warn ("),
        "{message}"
    );
    assert!(
        message.contains("delay (ms): expected at least 1000, got"),
        "{message}"
    );
    assert!(message.contains("but the bundle records pass"), "{message}");

    let (out, file) = served.certify("strict.json", true, &["--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out)
            .contains("B::notify::retry-after is warn on FAN-47 (SHOULD) and --strict fails on it"),
        "{}",
        text(&out)
    );
    assert!(!file.exists(), "no bundle is written");
}

#[test]
fn a_faulty_provider_is_refused_with_the_must_it_broke_and_no_bundle() {
    let served = Served::start(
        "faulty",
        &["--fault", "key-package-reused"],
        Some("Vendor 2.3.1"),
    );
    let (out, file) = served.certify("bundle.json", false, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("certification refused"), "{said}");
    assert!(
        said.contains("B::keyMaterial::one-time failed: KM-12 (MUST)"),
        "{said}"
    );
    assert!(!file.exists(), "no bundle is written");
}

#[test]
fn certify_needs_the_software_version_it_certifies() {
    let served = Served::start("no-version", &[], None);
    let (out, file) = served.certify("bundle.json", false, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("declares no software-version"),
        "{}",
        text(&out)
    );
    assert!(!file.exists());
}

/// The run writes what certifying it needs into its reports folder (`evidence.json`, with when
/// it started and ended, beside `results.json`): a finished run is certified from its reports
/// and its bundle verifies. The reports of a filtered run are refused.
#[test]
fn a_finished_run_is_certified_from_its_reports() {
    let certified = embedded();
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(certified.reports.join(EVIDENCE)).unwrap()).unwrap();
    let (started, finished) = (&evidence["startedMs"], &evidence["finishedMs"]);
    assert!(started.as_u64().unwrap() <= finished.as_u64().unwrap());
    let dir = temp_dir("from-reports");
    let (key, public) = &certified.files;
    let file = dir.join("bundle.json");
    let from = |reports: &Path, file: &Path| {
        harness(&[
            "certify",
            "--from-reports",
            path(reports),
            "--key",
            path(key),
            "--out",
            path(file),
        ])
    };
    let out = from(&certified.reports, &file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let verified = harness(&["verify", path(&file), "--key", path(public)]);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));

    let filtered = dir.join("filtered");
    let run = harness(&["run", "--reports", path(&filtered), "B::keyMaterial::"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let refused = dir.join("filtered.json");
    let out = from(&filtered, &refused);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("is in the case set but not in results.json (was the run filtered?)"),
        "{}",
        text(&out)
    );
    assert!(!refused.exists(), "no bundle is written");
}

/// A provider that answers noConsent to every claim (as P-06 §5.2 lets it) leaves the claim
/// cases inconclusive: their verdicts are recomputed, and certification is refused because a
/// MUST in scope was not shown to hold.
#[test]
fn a_must_left_inconclusive_refuses_certification() {
    let served = Served::start("inconclusive", &[], Some("Vendor 2.3.1"));
    // Every test user is dora, who granted consent to nobody.
    let yaml = std::fs::read_to_string(&served.profile).unwrap();
    let dora = "uri: mimi://vendor.example/u/dora";
    let everyone_dora = (yaml.replace("uri: mimi://vendor.example/u/bob", dora))
        .replace("uri: mimi://vendor.example/u/carol", dora);
    assert_ne!(
        yaml, everyone_dora,
        "the profile names its test users by uri"
    );
    std::fs::write(&served.profile, everyone_dora).unwrap();
    let (out, file) = served.certify("bundle.json", true, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("certification refused ("), "{said}");
    assert!(
        said.contains("MUST KM-9 is in scope but inconclusive: it was not shown to hold"),
        "{said}"
    );
    assert!(!file.exists(), "no bundle is written");
}

/// The bundle `certify` would sign of the run whose reports are in `dir`, were it not refused:
/// its outcome recomputed from the reports, signed with `key`.
fn signed_though_refused(dir: &Path, key: &SigningKey) -> Bundle {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let (results, evidence_bytes) = (read(RESULTS), read(EVIDENCE));
    let evidence = Evidence::parse(&evidence_bytes).unwrap();
    let run = verify::recompute_run(
        &evidence,
        &Results::parse(&results).unwrap(),
        &CaseSources::folder(&cases()),
    )
    .unwrap_or_else(|errors| panic!("the reports recompute: {}", errors.join("\n")));
    let json = "application/json";
    let statement = Statement {
        type_: STATEMENT_TYPE.into(),
        subject: [(RESULTS, &results), (EVIDENCE, &evidence_bytes)]
            .map(|(name, bytes)| ResourceDescriptor::sha256(name, sha256_hex(bytes), Some(json)))
            .to_vec(),
        predicate_type: TEST_RESULT_TYPE.into(),
        predicate: TestResult::of(&run.outcome, verify::configuration(&evidence)),
    };
    let members = vec![
        Member::new(RESULTS, json, &results),
        Member::new(EVIDENCE, json, &evidence_bytes),
    ];
    Bundle::sign(&statement, members, key)
}

/// A provider whose link-B requests carry no From: the harness's link-B server finds the breach
/// (TLS-5) in the claim it takes, records it with the request, and the step fails charged to
/// TLS-5. Its verdict is recomputed from the recorded request: certify refuses the run for the
/// MUST it broke (not for verdicts that do not follow), and verify of a bundle of the run
/// objects only to that; a recorded finding removed or altered, or the check it fails turned
/// into one that holds, signed again, does not verify.
#[test]
fn a_breach_the_harness_found_is_recomputed_from_the_recorded_request() {
    const CASE: &str = "B::transport::outgoing-claim";
    let served = Served::start(
        "finding",
        &["--fault", "outgoing-from-missing"],
        Some("Vendor 2.3.1"),
    );
    let (out, file) = served.certify("bundle.json", true, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("certification refused ("), "{said}");
    assert!(
        said.contains(&format!("{CASE} failed: TLS-5 (MUST)")),
        "{said}"
    );
    assert!(!file.exists(), "no bundle is written");

    let key = SigningKey::from_pem(&std::fs::read_to_string(&served.key).unwrap()).unwrap();
    let bundle = signed_though_refused(&served.dir.join("bundle.json.reports"), &key);
    let sources = CaseSources::folder(&cases());
    let errors = match verify::verify(&bundle, &key.public(), &sources) {
        Ok(_) => panic!("a bundle of a run that broke a MUST verified"),
        Err(errors) => errors,
    };
    assert_eq!(
        errors[0], "the evidence shows what certification refuses:",
        "{errors:#?}"
    );
    assert!(
        (errors.iter()).any(|e| e.starts_with(&format!("{CASE} failed: TLS-5 (MUST)"))),
        "{errors:#?}"
    );

    // Where the results record the claim the harness found without From, and its check.
    let results = member_json(&bundle, RESULTS);
    let case = (results["cases"].as_array().unwrap().iter())
        .position(|c| c["id"] == CASE)
        .unwrap();
    let exchanges = results["cases"][case]["exchanges"].as_array().unwrap();
    let x = (exchanges.iter())
        .position(|e| e["kind"] == "received" && e["endpoint"] == "keyMaterial")
        .unwrap();
    let check = (results["cases"][case]["checks"].as_array().unwrap().iter())
        .position(|c| c["step_index"] == exchanges[x]["step_index"])
        .unwrap();
    let judged = &results["cases"][case]["checks"][check];
    assert_eq!(judged["outcome"], "fail");
    assert_eq!(judged["requirements"], serde_json::json!(["TLS-5"]));
    let found = &exchanges[x]["request"]["findings"];
    assert_eq!(found[0]["requirement"], "TLS-5", "{found}");
    assert_eq!(
        found[0]["what"],
        "the request has no From header (P-06 §4.1)"
    );

    let forged = |edit: &dyn Fn(&mut Value)| {
        let message = failures(
            &resigned_from(&bundle, &key, RESULTS, |r| edit(r), |_| {}),
            &key.public(),
            &cases(),
        );
        assert!(message.contains(CASE), "{message}");
        message
    };
    let findings = format!("/cases/{case}/exchanges/{x}/request/findings");
    let removed = forged(&|r| *r.pointer_mut(&findings).unwrap() = serde_json::json!([]));
    assert!(
        removed.contains(
            "the harness's server finds that the recorded request breaks TLS-5 (the request has \
             no From header (P-06 §4.1)), but the record says it breaks nothing"
        ),
        "{removed}"
    );
    let altered = forged(&|r| r.pointer_mut(&findings).unwrap()[0]["requirement"] = "TLS-4".into());
    assert!(
        altered.contains("but the record says it breaks TLS-4 (the request has no From header"),
        "{altered}"
    );
    let held = forged(&|r| {
        let check = &mut r["cases"][case]["checks"][check];
        check["evaluation"]["expectations"][0]["failure"] = Value::Null;
    });
    assert!(
        held.contains("(received request (TLS-5) breaks): on the recorded answer it did not hold (the request has no From header (P-06 §4.1)), but the record says it held"),
        "{held}"
    );
}

/// `s` as the site's template engine writes text (minijinja's HTML escaping).
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// `verify FILE --html DIR` for `bundle` against the embedded key: its output and the site.
fn verify_html(name: &str, bundle: &Bundle) -> (Output, PathBuf) {
    let dir = temp_dir(name);
    let file = dir.join("bundle.json");
    std::fs::write(&file, serde_json::to_vec(bundle).unwrap()).unwrap();
    let site = dir.join("site");
    let public = path(&embedded().files.1);
    let out = harness(&[
        "verify",
        path(&file),
        "--key",
        public,
        "--html",
        path(&site),
    ]);
    (out, site)
}

/// `verify --html` writes a verified bundle as the site of the run it certifies: the index says
/// what it certifies and that the recomputed verdicts agree, beside a page per case (with its
/// transcript) and per requirement.
#[test]
fn verify_html_writes_the_certified_run_as_a_site() {
    let certified = embedded();
    let (out, site) = verify_html("html", &certified.bundle);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    let statement = certified.bundle.unverified_statement().unwrap();
    let mimi = &statement.predicate.mimi_conformance;
    let version = mimi.provider.software_version.as_deref().unwrap();
    let certifies = format!(
        "<strong>{}</strong> version <strong>{}</strong> ({}): <span class=\"v v-pass\">pass</span>",
        escaped(&mimi.provider.name),
        escaped(version),
        escaped(&mimi.provider.domain)
    );
    assert!(index.contains(&certifies), "{certifies}\n{index}");
    for shown in [
        mimi.scope.statement.as_str(),
        &certified.public.keyid(),
        "The recomputed verdicts agree with those the bundle records.",
    ] {
        assert!(index.contains(&escaped(shown)), "{shown}\n{index}");
    }
    let results = member_json(&certified.bundle, RESULTS);
    let cases = results["cases"].as_array().unwrap();
    assert_eq!(index.matches("<tr id=\"case-").count(), cases.len());
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let page = site.join(format!("cases/{}.html", slug(id)));
        let page =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        assert!(page.contains(&escaped(id)), "{id}");
        let exchanges = case["exchanges"].as_array().unwrap();
        if let Some(first) = exchanges.first() {
            let step = first["step"].as_str().unwrap();
            assert!(
                page.contains(&format!("step “{}”", escaped(step))),
                "{id}: its transcript"
            );
        }
    }
    let km12 = std::fs::read_to_string(site.join("requirements/KM-12.html")).unwrap();
    assert!(km12.contains("v-pass"), "{km12}");
}

/// A provider's body in the evidence that holds markup is shown as text: a bundle whose
/// driver answer carries `<script>` (its bytes and decoding alike, signed again, so that it
/// still verifies) has it escaped on the case's page, and no script but the site's own.
#[test]
fn verify_html_shows_markup_in_the_evidence_as_text() {
    let hostile = "<script>alert('mimi')</script>";
    let mut case = String::new();
    let bundle = resigned(
        RESULTS,
        |results| {
            let cases = results["cases"].as_array_mut().unwrap();
            let (record, exchange) = (cases.iter_mut())
                .find_map(|c| {
                    let id = c["id"].as_str().unwrap().to_string();
                    let exchanges = c["exchanges"].as_array_mut().unwrap();
                    let x = exchanges.iter_mut().find(|x| {
                        x["kind"] == "driver"
                            && x["response"]["body"]["message_type"] == "json"
                            && x["response"]["body"]["decoded"].is_object()
                    })?;
                    Some((id, x))
                })
                .expect("some case has a driver answer in JSON");
            case = record;
            let body = &mut exchange["response"]["body"];
            body["decoded"]["note"] = hostile.into();
            let bytes = serde_json::to_vec(&body["decoded"]).unwrap();
            body["bytes"] = hex::encode(bytes).into();
        },
        |_| {},
    );
    let (out, site) = verify_html("html-hostile", &bundle);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = std::fs::read_to_string(site.join(format!("cases/{}.html", slug(&case)))).unwrap();
    assert!(page.contains(&escaped(hostile)), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    assert_eq!(page.matches("<script").count(), 1, "only the site's own");
}

/// A bundle whose verdicts do not follow from its evidence gets no site of its verdicts: one
/// page that says it does not verify, and why.
#[test]
fn verify_html_of_a_bundle_that_does_not_verify_says_so_and_why() {
    let mut case = String::new();
    let bundle = resigned(
        RESULTS,
        |results| {
            let record = &mut results["cases"][0];
            case = record["id"].as_str().unwrap().to_string();
            record["verdict"] = "warn".into();
        },
        |_| {},
    );
    let (out, site) = verify_html("html-unverified", &bundle);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(index.contains("<strong>not certified</strong>"), "{index}");
    let why = format!("{case}: the evidence gives pass, but the bundle records warn");
    assert!(index.contains(&escaped(&why)), "{index}");
    assert!(!index.contains("What this bundle certifies"), "{index}");
    assert!(!site.join("cases").exists());
}
