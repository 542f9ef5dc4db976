//! Renders plans and apply reports for people (text) and machines. Writes to `impl Write`,
//! decides nothing.

mod text;

pub use text::{render_plan_text, TextOptions};
