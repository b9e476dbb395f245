//! The interop matrix and the HTML reports, as users run them: `serve` starts providers (some
//! with faults, their link B routed through the harness's observer), `matrix` runs every
//! provider alone and every ordered pair, each faulty provider's cells are red on the link it
//! broke, naming it and the requirement; the matrix run in shards and merged equals the one run
//! whole; `matrix diff` lists what changed. Then Chromium loads the sites from the file system
//! and what it renders is checked: the table, a failing cell's link, a filtered view, a case
//! page, and a provider's body holding a script, shown as text.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "matrix-test-token";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
        .args(args)
        .current_dir(workspace())
        .env("INSTA_UPDATE", "no")
        .env("MIMI_DRIVER_TOKEN", TOKEN)
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mimi-matrix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Providers `serve` runs until dropped, reaching one another through an observer's address.
struct Served {
    child: Child,
    profiles: Vec<PathBuf>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, domains: &[&str], faults: &[&str]) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mimi-conformance"));
    command.args([
        "serve",
        "--out",
        path(dir),
        "--driver-token",
        TOKEN,
        "--for",
        "900",
    ]);
    command.args([
        "--harness-listen",
        &free_port(),
        "--peers-via",
        &free_port(),
    ]);
    for d in domains {
        command.args(["--domain", d]);
    }
    for f in faults {
        command.args(["--fault", f]);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profiles: Vec<PathBuf> = domains
        .iter()
        .map(|d| dir.join(format!("profile-{d}.yaml")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !profiles.iter().all(|p| p.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    Served { child, profiles }
}

fn matrix(served: &Served, reports: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["matrix"];
    for p in &served.profiles {
        args.extend(["--provider", path(p)]);
    }
    args.extend(["--reports", path(reports)]);
    args.extend(extra);
    harness(&args)
}

fn read_json(file: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

/// A result without its `timing` objects: what must not change with how the cells were run,
/// what the observer found in each case (`observed`, with its `count`) included.
fn verdicts(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("timing");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// Where two JSON values differ, by path.
fn differences(a: &Value, b: &Value, at: &str) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .flat_map(|k| {
                    differences(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        &format!("{at}.{k}"),
                    )
                })
                .collect()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .flat_map(|(i, (p, q))| {
                let name = p["id"].as_str().map_or(i.to_string(), str::to_string);
                differences(p, q, &format!("{at}[{name}]"))
            })
            .collect(),
        _ if a == b => Vec::new(),
        _ => vec![format!("{at}: {a} / {b}")],
    }
}

fn cell<'a>(m: &'a Value, id: &str) -> &'a Value {
    m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no cell {id}"))
}

fn blamed(m: &Value, cell_id: &str, link: &str, provider: &str) -> Vec<String> {
    cell(m, cell_id)["links"][link]["blamed"][provider]
        .as_array()
        .map(|ids| {
            ids.iter()
                .map(|i| i.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_matrix_blames_each_faulty_provider_on_its_link_and_shards_merge_into_the_whole() {
    let dir = temp_dir("shards");
    let served = serve(
        &dir.join("served"),
        &["a.example", "b.example", "c.example"],
        &["no-frank@b.example", "wrong-user-uri@c.example"],
    );
    let whole = dir.join("whole");
    let out = matrix(&served, &whole, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "faulty providers fail it: {}",
        text(&out)
    );
    let m = read_json(&whole.join("matrix.json"));
    assert_eq!(
        mimi_conformance::report::matrix::schema_violation(&m),
        None,
        "matrix.json meets harness/conformance/schemas/matrix.schema.json"
    );
    assert_eq!(m["cells"].as_array().unwrap().len(), 9, "3 alone, 6 pairs");
    assert_eq!(m["cells_total"], 9);
    // The correct provider alone passes; each faulty one alone is red on link B, naming itself
    // and the requirement its fault breaks.
    assert_eq!(cell(&m, "a.example")["verdict"], "pass");
    assert_eq!(cell(&m, "b.example")["links"]["B"]["verdict"], "fail");
    assert!(blamed(&m, "b.example", "B", "b.example").contains(&"SUB-42".to_string()));
    assert_eq!(cell(&m, "c.example")["links"]["B"]["verdict"], "fail");
    assert!(blamed(&m, "c.example", "B", "c.example").contains(&"KM-9".to_string()));
    // As a hub that fans messages out without their frank, b is caught by the observer on
    // link B, whichever provider follows; the correct follower is not blamed.
    for follower in ["a.example", "c.example"] {
        let id = format!("b.example__{follower}");
        assert_eq!(cell(&m, &id)["verdict"], "fail", "{id}");
        assert!(
            blamed(&m, &id, "B", "b.example").contains(&"SUB-41".to_string()),
            "{id}: {:#}",
            cell(&m, &id)["links"]
        );
    }
    // Every message the hub accepted crossed link B unfranked, and each is counted against the
    // case, the last one too, which the follower may read before the observer has recorded it.
    let unfranked = |cell_id: &str, case: &str| {
        let case = cell(&m, cell_id)["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == case)
            .unwrap_or_else(|| panic!("{cell_id} has no case {case}"));
        case["observed"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["requirement"] == "SUB-41" && o["provider"] == "b.example")
            .map(|o| o["count"].as_u64().unwrap())
            .sum::<u64>()
    };
    for follower in ["a.example", "c.example"] {
        let id = format!("b.example__{follower}");
        assert_eq!(unfranked(&id, "A::rooms::fan-out-in-order"), 3, "{id}");
        assert_eq!(
            unfranked(&id, "A::rooms::fan-out-to-every-follower"),
            1,
            "{id}"
        );
    }
    // As a follower whose KeyPackages name another user, c passes the hub's cases, but the
    // observer saw it break KM-9 on link B: its cells are red there, against c.
    for hub in ["a.example", "b.example"] {
        let id = format!("{hub}__c.example");
        assert_eq!(cell(&m, &id)["links"]["B"]["verdict"], "fail", "{id}");
        assert!(
            blamed(&m, &id, "B", "c.example").contains(&"KM-9".to_string()),
            "{id}: {:#}",
            cell(&m, &id)["links"]
        );
    }
    // Nothing in any cell is blamed on the correct provider.
    for c in m["cells"].as_array().unwrap() {
        for (link, result) in c["links"].as_object().unwrap() {
            assert!(
                result["blamed"].get("a.example").is_none(),
                "{} blames a.example on link {link}: {:#}",
                c["id"],
                result
            );
        }
    }
    assert!(whole.join("matrix.md").exists() && whole.join("index.html").exists());
    assert!(whole.join("cells/b.example__a.example/index.html").exists());
    assert!(whole
        .join("cells/b.example__a.example/results.json")
        .exists());
    assert!(whole.join("observer.json").exists());

    // Three shards, one after another (each serves the observer's address), then merged.
    let mut shard_dirs = Vec::new();
    for k in 1..=3 {
        let shard = dir.join(format!("shard-{k}"));
        let out = matrix(&served, &shard, &["--shard", &format!("{k}/3")]);
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", text(&out));
        let held = read_json(&shard.join("matrix.json"));
        assert!(!held["cells"].as_array().unwrap().is_empty(), "shard {k}");
        shard_dirs.push(shard);
    }
    let merged = dir.join("merged");
    let mut args = vec!["matrix", "merge", "--reports", path(&merged)];
    // In any order.
    args.extend(shard_dirs.iter().rev().map(|d| path(d)));
    let out = harness(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the merged matrix fails as the whole: {}",
        text(&out)
    );
    let joined = read_json(&merged.join("matrix.json"));
    let differences = differences(&verdicts(joined), &verdicts(m.clone()), "");
    assert!(
        differences.is_empty(),
        "three shards merged are the matrix run whole, but for:\n{}",
        differences.join("\n")
    );
    for c in ["a.example", "b.example__c.example", "c.example__a.example"] {
        assert!(merged.join(format!("cells/{c}/index.html")).exists(), "{c}");
    }
    assert!(merged.join("index.html").exists() && merged.join("matrix.md").exists());
    let out = harness(&[
        "matrix",
        "diff",
        path(&whole.join("matrix.json")),
        path(&merged.join("matrix.json")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    // A shard missing is refused, naming it.
    let out = harness(&[
        "matrix",
        "merge",
        "--reports",
        path(&dir.join("partial")),
        path(&shard_dirs[0]),
        path(&shard_dirs[1]),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("missing shard(s): 3/3"),
        "{}",
        text(&out)
    );
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn matrix_diff_lists_what_changed_per_cell() {
    let dir = temp_dir("diff");
    let served = serve(&dir.join("served"), &["a.example"], &[]);
    let before = dir.join("before");
    let out = matrix(&served, &before, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    drop(served);
    let mut m = read_json(&before.join("matrix.json"));
    let case = &mut m["cells"][0]["cases"][0];
    let id = case["id"].as_str().unwrap().to_string();
    case["verdict"] = "fail".into();
    case["requirements"][0]["verdict"] = "fail".into();
    let after = dir.join("after.json");
    std::fs::write(&after, serde_json::to_vec(&m).unwrap()).unwrap();
    let out = harness(&[
        "matrix",
        "diff",
        path(&before.join("matrix.json")),
        path(&after),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("cell a.example: pass → pass\n"), "{said}");
    assert!(said.contains(&format!("  {id}: pass → fail\n")), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Debian's chromium, or MIMI_CHROMIUM; None only when MIMI_NO_BROWSER says to do without.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("MIMI_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        });
    match found {
        Some(p) => Some(p),
        None if std::env::var_os("MIMI_NO_BROWSER").is_some() => {
            eprintln!("MIMI_NO_BROWSER is set and no Chromium is installed: the site is not checked in a browser");
            None
        }
        None => panic!(
            "the HTML reports are checked in headless Chromium: install it (apt-get install \
             chromium), or name it with MIMI_CHROMIUM; MIMI_NO_BROWSER=1 skips this check"
        ),
    }
}

/// Chromium, headless, with a fresh profile and nothing fetched from the network.
fn browser(chromium: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn url(file: &Path, query: &str) -> String {
    format!("file://{}{query}", file.canonicalize().unwrap().display())
}

/// The element with this id, as the browser rendered it (its opening tag and what follows).
fn element<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id} in the page"));
    let start = dom[..at].rfind('<').unwrap();
    let end = dom[at..].find("</td>").map_or(dom.len(), |e| at + e);
    &dom[start..end]
}

#[test]
fn the_sites_render_in_chromium_and_a_providers_script_is_text() {
    let Some(chromium) = chromium() else { return };
    let dir = temp_dir("browser");
    let profile = dir.join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let shots = dir.join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    // A matrix of two: b fans messages out without their frank.
    let served = serve(
        &dir.join("served"),
        &["a.example", "b.example"],
        &["no-frank@b.example"],
    );
    let site = dir.join("matrix");
    let out = matrix(&served, &site, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    drop(served);
    let index = site.join("index.html");
    let dom = browser(&chromium, &profile, &["--dump-dom"], &url(&index, ""));
    assert!(dom.contains("<table class=\"matrix\">"), "{dom}");
    let failing = element(&dom, "cell-b.example__a.example");
    assert!(failing.contains("cell-v-fail"), "{failing}");
    assert!(
        failing.contains("href=\"cells/b.example__a.example/index.html\""),
        "the failing cell links to its page: {failing}"
    );
    assert!(
        failing.contains("B: ") && failing.contains("SUB-41") && failing.contains("by b.example"),
        "{failing}"
    );
    let passing = element(&dom, "cell-a.example");
    assert!(
        passing.contains("cell-v-pass") && !passing.contains("dimmed"),
        "{passing}"
    );
    assert!(
        dom.contains("<form id=\"filters\">"),
        "the script shows the filters"
    );
    // Filtered to failures on link B: the passing cell is dimmed, the failing one is not, and
    // the address keeps the filter.
    let filtered = browser(
        &chromium,
        &profile,
        &["--dump-dom"],
        &url(&index, "?link=B&verdict=fail"),
    );
    assert!(element(&filtered, "cell-a.example").contains("dimmed"));
    assert!(element(&filtered, "cell-a.example__b.example").contains("dimmed"));
    assert!(!element(&filtered, "cell-b.example__a.example").contains("dimmed"));
    assert!(
        filtered.contains("data-filtered=\"link=B&amp;verdict=fail\""),
        "{filtered}"
    );
    // Without JavaScript the page is as written (headless Chromium cannot render a page with
    // scripts off): every cell shows, the filters stay hidden.
    let written = std::fs::read_to_string(&index).unwrap();
    assert!(written.contains("<form id=\"filters\" hidden>"));
    assert!(!written.contains("dimmed") && !written.contains("<td hidden"));
    // The failing case's page: its requirements with who broke them, what the observer saw.
    let case = site.join("cells/b.example__a.example/cases/A--rooms--fan-out-in-order.html");
    let page = browser(&chromium, &profile, &["--dump-dom"], &url(&case, ""));
    assert!(page.contains("Seen on link B by the observer"), "{page}");
    // The case charges its franked expectation to SUB-41 and FAN-51; the observer saw the hub
    // fan out without franks (SUB-41), so the hub is blamed on link B, not the follower's link C.
    assert!(
        page.contains("SUB-41 (MUST): b.example (hub) on link B, observed"),
        "{page}"
    );
    assert!(!page.contains("on link C"), "{page}");
    assert!(page.contains("id=\"exchange-1\""), "{page}");
    browser(
        &chromium,
        &profile,
        &[
            "--window-size=1400,1000",
            &format!("--screenshot={}", shots.join("matrix-index.png").display()),
        ],
        &url(&index, ""),
    );
    browser(
        &chromium,
        &profile,
        &[
            "--window-size=1400,1800",
            &format!("--screenshot={}", shots.join("matrix-case.png").display()),
        ],
        &url(&case, ""),
    );

    // A run whose provider answers with a script: the page shows it, and it does not run.
    let run = dir.join("run");
    let out = harness(&[
        "run",
        "--only-cases",
        "fixtures/selftest/html",
        "--reports",
        path(&run),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let hostile = run.join("cases/B--proxyDownload--script-in-asset.html");
    let page = browser(&chromium, &profile, &["--dump-dom"], &url(&hostile, ""));
    assert!(
        page.contains("&lt;script&gt;document.body.setAttribute('data-pwned','yes')&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"),
        "the provider's body shows as text: {page}"
    );
    assert!(
        !page.contains("data-pwned=\"yes\""),
        "the provider's script ran: {page}"
    );
    assert!(
        !page.contains("<b>bold</b>"),
        "the provider's markup was rendered: {page}"
    );
    let run_index = browser(
        &chromium,
        &profile,
        &["--dump-dom"],
        &url(&run.join("index.html"), ""),
    );
    assert!(
        run_index.contains("href=\"cases/B--proxyDownload--script-in-asset.html\""),
        "{run_index}"
    );
    browser(
        &chromium,
        &profile,
        &[
            "--window-size=1400,1100",
            &format!("--screenshot={}", shots.join("run-case.png").display()),
        ],
        &url(&hostile, ""),
    );
    for shot in ["matrix-index.png", "matrix-case.png", "run-case.png"] {
        let bytes = std::fs::read(shots.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is a PNG");
    }
    // Kept when asked for, to look at.
    if let Some(keep) = std::env::var_os("MIMI_SCREENSHOTS") {
        std::fs::create_dir_all(&keep).unwrap();
        for entry in std::fs::read_dir(&shots).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), Path::new(&keep).join(entry.file_name())).unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C stops a matrix as it stops a run: the previous matrix is replaced as it starts, no
/// case starts after the signal, and what it wrote says it was interrupted, with the cases it
/// did not run as not run; such a shard is not merged.
#[test]
fn an_interrupted_matrix_says_so_and_is_not_merged() {
    let dir = temp_dir("interrupted");
    let served = serve(
        &dir.join("served"),
        &["a.example", "b.example", "c.example"],
        &[],
    );
    let reports = dir.join("shard");
    std::fs::create_dir_all(&reports).unwrap();
    // A stale green matrix from an earlier run.
    std::fs::write(reports.join("matrix.json"), "{\"stale\": true}").unwrap();
    let mut args: Vec<String> = vec!["matrix".into()];
    for p in &served.profiles {
        args.extend(["--provider".into(), path(p).into()]);
    }
    args.extend(["--reports".into(), path(&reports).into()]);
    args.extend(["--shard".into(), "1/1".into()]);
    let child = Command::new(env!("CARGO_BIN_EXE_mimi-conformance"))
        .args(&args)
        .current_dir(workspace())
        .env("MIMI_DRIVER_TOKEN", TOKEN)
        .env("INSTA_UPDATE", "no")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The signal handlers are in place before the in-progress matrix is written.
    let deadline = Instant::now() + Duration::from_secs(120);
    let in_progress = || {
        std::fs::read(reports.join("matrix.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|m| m["state"] == "in-progress")
            // The site is written just after matrix.json: wait for both.
            && std::fs::read_to_string(reports.join("index.html"))
                .is_ok_and(|i| i.contains("in-progress"))
    };
    while !in_progress() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        in_progress(),
        "the stale matrix is replaced as the run starts"
    );
    let index = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(index.contains("in-progress"), "{index}");
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{said}");
    let m = read_json(&reports.join("matrix.json"));
    assert_eq!(
        mimi_conformance::report::matrix::schema_violation(&m),
        None,
        "{m:#}"
    );
    assert_eq!(m["state"], "interrupted", "{said}");
    let cases: Vec<&Value> = m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["cases"].as_array().unwrap())
        .collect();
    assert_eq!(
        m["cells"].as_array().unwrap().len(),
        9,
        "every cell is there"
    );
    assert!(
        cases.iter().any(|c| c["verdict"] == "not-run"),
        "the cases after the signal are not run: {said}"
    );
    let index = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(index.contains("interrupted"), "{index}");
    let out = harness(&[
        "matrix",
        "merge",
        "--reports",
        path(&dir.join("merged")),
        path(&reports),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("shard 1/1 did not finish (interrupted"),
        "{}",
        text(&out)
    );
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
}
