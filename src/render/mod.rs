//! Renders plans and apply reports for people (text) and machines. Writes to `impl Write`,
//! decides nothing.

mod apply;
mod text;

pub use apply::{render_drift_text, render_report_text, report_json};
pub use text::{render_plan_text, TextOptions};
