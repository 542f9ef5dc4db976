//! Renders plans for people (text, Markdown) and machines (JSON). Every renderer reads the
//! same view model ([`view::PlanView`]); renderers write to `impl Write` and decide nothing.

mod apply;
mod json;
mod markdown;
pub mod redact;
mod text;
pub mod view;

pub use apply::{render_drift_text, render_report_text, report_json};
pub use json::{render_plan_json, JSON_FORMAT_VERSION};
pub use markdown::{render_plan_markdown, MarkdownOptions};
pub use text::{render_plan_text, TextOptions};
pub use view::{plan_view, PlanView, ViewOptions};
