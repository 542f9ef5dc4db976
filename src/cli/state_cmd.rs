//! `closeout state export`: the live tenant as a snapshot, to rehearse a closure on.

use std::io::Write;

use super::args::{ExportArgs, StateCommand};
use super::connect::connect;
use super::error::{CliError, ExitCode};
use super::progress::ReadReporter;
use crate::graph::read_raw_tenant;

pub async fn run(cmd: StateCommand) -> Result<ExitCode, CliError> {
    match cmd {
        StateCommand::Export(a) => export(a).await,
    }
}

async fn export(args: ExportArgs) -> Result<ExitCode, CliError> {
    let conn = connect(&args.target).await?;
    let reporter = ReadReporter::start("Exporting the tenant");
    let raw = read_raw_tenant(&conn.client, &reporter).await;
    reporter.finish();
    conn.close().await;
    let raw = raw?;
    let doc = raw.to_snapshot();
    let as_json = args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let bytes = if as_json {
        serde_json::to_vec_pretty(&doc).map_err(|e| CliError::msg(e.to_string()))?
    } else {
        let mut y = String::from(
            "# Tenant snapshot written by `closeout state export` (format: snapshot-format.md).\n\
             # Rehearse the closure on it with: closeout plan --simulate THIS_FILE --keep UPN\n",
        );
        y.push_str(&serde_yaml::to_string(&doc).map_err(|e| CliError::msg(e.to_string()))?);
        y.into_bytes()
    };
    let tmp = args.out.with_extension("export.tmp");
    let io = |e: std::io::Error| {
        CliError::msg(format!(
            "{}: cannot write the snapshot: {e}",
            args.out.display()
        ))
    };
    // A failed write leaves no `*.export.tmp` behind.
    if let Err(e) = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &args.out)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    let name = raw
        .organization
        .get("displayName")
        .and_then(|v| v.as_str())
        .unwrap_or("the tenant");
    let name = crate::render::Safe(name);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Exported {name}: {} users, {} in the recycle bin, {} subscriptions, {} applications, {} service principals, {} domains.\n\
         Wrote {}. Rehearse the closure on the copy first:\n  closeout plan --simulate {} --keep UPN",
        raw.users.len(),
        raw.deleted_users.len(),
        raw.subscriptions.len(),
        raw.applications.len(),
        raw.service_principals.len(),
        raw.domains.len(),
        args.out.display(),
        args.out.display()
    );
    Ok(ExitCode::Ok)
}
