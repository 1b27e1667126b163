//! Example binaries (`sse`, examples/sse.rs; `demo`, examples/demo.rs), each
//! built once per test run with the features this test binary was built with.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The `cargo build` flags for the features of this build: `--all-features`
/// when all are on (what CI runs, and then the example `cargo test` built is
/// up to date), else the list.
fn features() -> Vec<String> {
    let on = [
        ("json", cfg!(feature = "json")),
        ("stream", cfg!(feature = "stream")),
        ("live", cfg!(feature = "live")),
        ("hyper", cfg!(feature = "hyper")),
        ("axum", cfg!(feature = "axum")),
        ("redis", cfg!(feature = "redis")),
        ("client", cfg!(feature = "client")),
    ];
    if on.iter().all(|(_, on)| *on) {
        return vec!["--all-features".into()];
    }
    let list: Vec<&str> = on
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
    vec![
        "--no-default-features".into(),
        "--features".into(),
        list.join(","),
    ]
}

/// The `sse` tool (examples/sse.rs), built (or found up to date) once per
/// test run.
pub fn tool() -> PathBuf {
    example("sse")
}

/// The binary of example `name`, built (or found up to date) once per test
/// run.
///
/// `cargo test` builds examples next to the test binaries
/// (`target/<profile>/examples/`), but `cargo test --test NAME` alone does
/// not, so build it explicitly, with this build's features so that every test
/// binary that runs the tool builds the same one (a different feature set would
/// rebuild the crate and replace the binary another test is about to run);
/// cargo releases its build lock before running tests, so this does not
/// deadlock. The lock here is held for the build, so that tests of one binary
/// that need it at once build it once.
pub fn example(name: &'static str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<&'static str, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(bin) = built.get(name) {
        return bin.clone();
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--example", name])
        .args(features())
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // Cargo gives a test process the package's own variables; some build
    // scripts (ring's) rerun when those change, so building with them
    // would make the next `cargo test` rebuild half the tree, and so on.
    for (var, _) in std::env::vars_os() {
        let Some(var) = var.to_str() else { continue };
        if var.starts_with("CARGO_PKG_")
            || var.starts_with("CARGO_MANIFEST_")
            || matches!(
                var,
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            )
        {
            build.env_remove(var);
        }
    }
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build --example {name} failed");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} not found", bin.display());
    built.insert(name, bin.clone());
    bin
}
