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
    // model → ledger → synth / ingest → engine → metrics → score → forecast → pipewise: no crate may depend on one to its right.
    let order = [
        "pipewise-model",
        "pipewise-ledger",
        "pipewise-synth",
        "pipewise-ingest",
        "pipewise-engine",
        "pipewise-metrics",
        "pipewise-score",
        "pipewise-forecast",
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
                section == "dev-dependencies" || !deps.is_empty(),
                "{krate}: no [{section}] read"
            );
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
