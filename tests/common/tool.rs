//! The `sse` example binary (examples/sse.rs), built once per test run with
//! the features this test binary was built with.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

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

/// The example binary, built (or found up to date) once per test run.
///
/// `cargo test` builds examples next to the test binaries
/// (`target/<profile>/examples/`), but `cargo test --test NAME` alone does
/// not, so build it explicitly, with this build's features so that every test
/// binary that runs the tool builds the same one (a different feature set would
/// rebuild the crate and replace the binary another test is about to run);
/// cargo releases its build lock before running tests, so this does not
/// deadlock.
pub fn tool() -> &'static PathBuf {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/<test>-<hash>
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("test binary lives in target/<profile>/deps");
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "--example", "sse"])
            .args(features())
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        // Cargo gives a test process the package's own variables; some build
        // scripts (ring's) rerun when those change, so building with them
        // would make the next `cargo test` rebuild half the tree, and so on.
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || matches!(
                    name,
                    "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                        | "OUT_DIR"
                )
            {
                build.env_remove(name);
            }
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build --example sse failed");
        let bin = profile_dir
            .join("examples")
            .join(format!("sse{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} not found", bin.display());
        bin
    })
}
