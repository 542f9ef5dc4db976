//! Renders plans for people (text, Markdown) and machines (JSON). Every renderer reads the
//! same view model ([`view::PlanView`]); renderers write to `impl Write` and decide nothing.

#[cfg(test)]
mod adversarial;
mod apply;
#[cfg(test)]
mod deletion_path_tests;
mod dot;
mod json;
#[cfg(test)]
pub(crate) mod kept_tests;
mod markdown;
pub mod redact;
pub mod safe;
mod text;
pub mod view;

pub use apply::{
    render_confirmation, render_drift_text, render_report_text, report_json,
    report_json_with_checklist,
};
pub use dot::render_plan_dot;
pub use json::{render_plan_json, render_plan_json_with, ActionWriter, JSON_FORMAT_VERSION};
pub use markdown::{
    render_plan_markdown, render_plan_markdown_with, MarkdownOptions, MarkdownTally,
};
pub use safe::{safe, safe_lines, write_json, Safe};
pub use text::{
    checklist_passes, render_plan_text, render_plan_text_with, write_action_text, TextOptions,
};
pub(crate) use view::action_view;
pub use view::{plan_view, plan_view_of, plan_view_using, PlanView, ViewOptions};
