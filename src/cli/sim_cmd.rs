//! `closeout sim`: reset simulated tenants and play the administrator's portal steps.

use super::args::SimCommand;
use super::connect::{open_sim_store, sim_state_file};
use super::error::{CliError, ExitCode};

pub async fn run(cmd: SimCommand) -> Result<ExitCode, CliError> {
    match cmd {
        SimCommand::Reset(t) => {
            let file = sim_state_file(&t.snapshot, t.state_dir.as_deref())?;
            graph_sim::Store::reset(&file)
                .map_err(|e| CliError::msg(format!("{}: cannot reset: {e}", file.display())))?;
            println!(
                "Simulated tenant {} reset: the next run starts from the snapshot.",
                t.snapshot.display()
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
        SimCommand::DeleteTenant(t) => {
            let store = open_sim_store(&t.snapshot, t.state_dir.as_deref())?;
            store.portal_delete_tenant().map_err(|e| {
                CliError::msg(format!(
                    "Entra admin center refused to delete the tenant: {e}"
                ))
            })?;
            println!("Tenant deleted (Entra admin center > Manage tenants > Delete).");
        }
    }
    Ok(ExitCode::Ok)
}
