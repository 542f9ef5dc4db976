//! `closeout sim`: reset simulated tenants and play the administrator's portal steps.

use super::args::SimCommand;
use super::connect::{check_snapshot_file, open_sim_store, sim_state_file, state_dir};
use super::error::{CliError, ExitCode};

pub async fn run(cmd: SimCommand) -> Result<ExitCode, CliError> {
    match cmd {
        SimCommand::Reset(t) => {
            // Only a snapshot is reset: a plan file, a journal or a typo is refused before
            // anything is forgotten. The file goes through the input-file bounds first (a
            // FIFO, a device, a huge or deeply nested file is refused at once).
            check_snapshot_file(&t.simulate)?;
            let snapshot = graph_sim::load_snapshot(&t.simulate).map_err(|e| {
                CliError::msg(format!(
                    "{}: not a tenant snapshot, nothing was reset: {}",
                    t.simulate.display(),
                    crate::render::safe_lines(&e.to_string())
                ))
            })?;
            let file = sim_state_file(&t.simulate, t.state_dir.as_deref())?;
            graph_sim::Store::reset(&file)
                .map_err(|e| CliError::msg(format!("{}: cannot reset: {e}", file.display())))?;
            let tenant_id = snapshot
                .organization
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let forgotten = forget_journals(&state_dir(t.state_dir.as_deref())?, &tenant_id)?;
            println!(
                "Simulated tenant {} reset: the next run starts from the snapshot.{}",
                t.simulate.display(),
                forgotten.map_or(String::new(), |to| format!(
                    "\nIts apply journals were moved aside to {} (a later apply of the same plan starts afresh).",
                    to.display()
                ))
            );
        }
        SimCommand::CancelSubscription(o) => {
            let store = open_sim_store(&o.simulate, o.state_dir.as_deref())?;
            store
                .portal_cancel_subscription(&o.id)
                .map_err(|e| CliError::msg(format!("admin center refused: {e}")))?;
            println!("Subscription {} cancelled (admin center).", o.id);
        }
        SimCommand::DeleteSubscription(o) => {
            let store = open_sim_store(&o.simulate, o.state_dir.as_deref())?;
            store
                .portal_delete_subscription(&o.id)
                .map_err(|e| CliError::msg(format!("admin center refused: {e}")))?;
            println!("Subscription {} deleted (admin center).", o.id);
        }
        SimCommand::SupportDeleteSubscription(o) => {
            let store = open_sim_store(&o.simulate, o.state_dir.as_deref())?;
            store
                .portal_support_delete_subscription(&o.id)
                .map_err(|e| CliError::msg(format!("Microsoft support refused: {e}")))?;
            println!("Subscription {} deleted by Microsoft support.", o.id);
        }
        SimCommand::RemoveSelfServiceProduct(o) => {
            let store = open_sim_store(&o.simulate, o.state_dir.as_deref())?;
            store
                .portal_remove_self_service_product(&o.id)
                .map_err(|e| CliError::msg(format!("Entra admin center refused: {e}")))?;
            println!(
                "Self-service sign-up product {} deleted (Entra admin center > Licenses > Self-service sign-up products).",
                o.id
            );
        }
        SimCommand::SupportRemoveSku(o) => {
            let store = open_sim_store(&o.simulate, o.state_dir.as_deref())?;
            store
                .portal_support_remove_sku(&o.id)
                .map_err(|e| CliError::msg(format!("Microsoft support refused: {e}")))?;
            println!("SKU {} removed by Microsoft support.", o.id);
        }
        SimCommand::DeleteTenant(t) => {
            let store = open_sim_store(&t.simulate, t.state_dir.as_deref())?;
            store.portal_delete_tenant().map_err(|e| {
                CliError::msg(format!(
                    "Entra admin center refused to delete the tenant: {e}"
                ))
            })?;
            println!("Tenant deleted (Entra admin center > Manage tenants > Delete).");
        }
        SimCommand::CancelAzureSubscription(o) => {
            let store = open_sim_store(&o.simulate, o.state_dir.as_deref())?;
            store
                .portal_cancel_azure_subscription(&o.id)
                .map_err(|e| CliError::msg(format!("Azure portal refused: {e}")))?;
            println!(
                "Azure subscription {} cancelled (Azure portal): Disabled.",
                o.id
            );
        }
        SimCommand::DeleteAzureSubscription(o) => {
            let store = open_sim_store(&o.simulate, o.state_dir.as_deref())?;
            store
                .portal_delete_azure_subscription(&o.id)
                .map_err(|e| CliError::msg(format!("Azure portal refused: {e}")))?;
            println!("Azure subscription {} deleted (Azure portal).", o.id);
        }
        SimCommand::DeleteAzureResourceGroup(o) => {
            let store = open_sim_store(&o.simulate, o.state_dir.as_deref())?;
            store
                .portal_delete_azure_resource_group(&o.id, &o.name)
                .map_err(|e| CliError::msg(format!("Azure portal refused: {e}")))?;
            println!(
                "Resource group {} of Azure subscription {} deleted (Azure portal).",
                o.name, o.id
            );
        }
    }
    Ok(ExitCode::Ok)
}

/// Moves the apply journals of tenant `tenant_id` aside (to `journals/.forgotten/`), so
/// plans applied to the reset simulation start afresh; moved, not deleted, because a
/// snapshot exported from a real tenant shares its tenant id. `None` when there were none.
fn forget_journals(
    state: &std::path::Path,
    tenant_id: &str,
) -> Result<Option<std::path::PathBuf>, CliError> {
    let dir = crate::apply::journal::journal_path(state, tenant_id, "x")
        .parent()
        .map(std::path::Path::to_path_buf);
    let Some(dir) = dir.filter(|d| d.is_dir()) else {
        return Ok(None);
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = state
        .join("journals")
        .join(".forgotten")
        .join(format!("{name}-{stamp}"));
    let moved = aside
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::rename(&dir, &aside));
    moved.map_err(|e| {
        CliError::msg(format!(
            "{}: cannot move the journals aside: {e}",
            dir.display()
        ))
    })?;
    Ok(Some(aside))
}
