//! Repository rules, checked as ordinary tests (as rust-analyzer's tidy does).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    assert!(files.len() > 10);
    let missing: Vec<_> = files
        .iter()
        .filter(|p| {
            !std::fs::read_to_string(p)
                .unwrap()
                .trim_start()
                .starts_with("//!")
        })
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! module doc: {missing:?}"
    );
}

#[test]
fn code_is_formatted() {
    let out = std::process::Command::new("cargo")
        .args(["fmt", "--all", "--", "--check"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "run `cargo fmt`:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn crates_depend_only_downstream() {
    // testkit (dev-only) → model → ledger → synth / ingest → engine → metrics → score → forecast →
    // state → server → pipewise: no crate may depend on one to its right.
    let order = [
        "pipewise-testkit",
        "pipewise-model",
        "pipewise-ledger",
        "pipewise-synth",
        "pipewise-ingest",
        "pipewise-engine",
        "pipewise-metrics",
        "pipewise-score",
        "pipewise-forecast",
        "pipewise-state",
        "pipewise-server",
        "pipewise",
    ];
    // [dependencies] and [dev-dependencies] alike: a test may not reach
    // downstream either (a dependency named any way: `x.workspace = true`,
    // `x = { path = … }`).
    let deps_in = |toml: &str, section: &str| -> Vec<String> {
        toml.split(&format!("[{section}]"))
            .nth(1)
            .unwrap_or("")
            .split("\n[")
            .next()
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split(['.', '=', ' ']).next().map(str::to_string))
            .collect()
    };
    for (i, krate) in order.iter().enumerate() {
        let toml =
            std::fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml")).unwrap();
        for section in ["dependencies", "dev-dependencies"] {
            let deps = deps_in(&toml, section);
            assert!(
                section == "dev-dependencies" || !deps.is_empty() || *krate == "pipewise-testkit",
                "{krate}: no [{section}] read"
            );
            // the test kit is for tests only
            if section == "dependencies" {
                assert!(
                    !deps.iter().any(|d| d == "pipewise-testkit"),
                    "{krate}: pipewise-testkit is a dev-dependency only"
                );
            }
            for later in &order[i + 1..] {
                assert!(
                    !deps.iter().any(|d| d == later),
                    "{krate} depends on {later} in [{section}]"
                );
            }
            for d in deps.iter().filter(|d| d.starts_with("pipewise")) {
                assert!(order.contains(&d.as_str()), "{krate}: unknown crate {d}");
            }
        }
    }
}

#[test]
fn heavy_dependencies_stay_in_their_one_crate() {
    // DataFusion in the engine, the HTTP stack in the server, the database
    // driver in the state crate: the other crates build and test without them.
    for (dep, home) in [
        ("datafusion", "pipewise-engine"),
        ("axum", "pipewise-server"),
        ("sqlx", "pipewise-state"),
    ] {
        for entry in std::fs::read_dir(root().join("crates")).unwrap() {
            let dir = entry.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            let Ok(toml) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
                continue;
            };
            let names_it = toml.lines().any(|l| {
                let l = l.trim();
                l.starts_with(&format!("{dep}.")) || l.starts_with(&format!("{dep} "))
            });
            assert!(
                !names_it || name == home,
                "{name} names {dep}, which only {home} may"
            );
        }
    }
}
