//! Progress while reading a tenant and while applying: a spinner or a bar (indicatif) on a
//! terminal, plain lines on stderr elsewhere (CI logs). Implements the library's progress
//! traits; stdout stays free for the rendered plan.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::apply::{ApplyProgress, Outcome};
use crate::graph::ReadProgress;

fn on_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Reports each collection read: above a spinner on a terminal, as a line otherwise.
pub struct ReadReporter {
    bar: Option<ProgressBar>,
}

impl ReadReporter {
    /// Starts reporting; `what` names the read, e.g. `Reading tenant`.
    pub fn start(what: &str) -> ReadReporter {
        let bar = on_terminal().then(|| {
            let b = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                b.set_style(style);
            }
            b.set_message(format!("{what} through Microsoft Graph"));
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        ReadReporter { bar }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for ReadReporter {
    fn drop(&mut self) {
        self.finish();
    }
}

impl ReadProgress for ReadReporter {
    fn collection_read(&self, what: &str, count: usize) {
        match &self.bar {
            Some(b) => b.println(format!("  read {count} {what}")),
            None => eprintln!("read {count} {what}"),
        }
    }
}

/// Draws a bar over the plan's actions on a terminal and lets `inner` print each finished
/// action (above the bar); off a terminal it is `inner` alone.
pub struct ApplyBar<P> {
    bar: Option<ProgressBar>,
    inner: P,
}

impl<P: ApplyProgress> ApplyBar<P> {
    /// A bar over `total` actions.
    pub fn new(total: usize, inner: P) -> ApplyBar<P> {
        let bar = on_terminal().then(|| {
            let b = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40.cyan/blue} {pos}/{len} actions ({elapsed}, {eta} left) {wide_msg}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.enable_steady_tick(Duration::from_millis(250));
            b
        });
        ApplyBar { bar, inner }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl<P: ApplyProgress> ApplyProgress for ApplyBar<P> {
    fn finished(&self, address: &str, outcome: &Outcome) {
        match &self.bar {
            Some(b) => {
                b.suspend(|| self.inner.finished(address, outcome));
                b.inc(1);
                b.set_message(crate::render::safe(address).into_owned());
            }
            None => self.inner.finished(address, outcome),
        }
    }
}
