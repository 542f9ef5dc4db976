//! The command line: clap arguments -> validated options -> a command; maps every error to
//! a message and an exit code. The only layer that prints.

mod apply_cmd;
mod args;
mod commerce;
mod connect;
mod error;
mod plan_cmd;
mod progress;
#[cfg(test)]
mod show_tests;
mod sim_cmd;
mod state_cmd;
mod status_cmd;
mod waits;

pub use args::Cli;
pub use error::{CliError, ExitCode};

use clap::{CommandFactory, Parser};

/// Parses the command line, runs the command, prints errors; returns the exit code.
/// How a command uses memory, for an allocator that can be tuned ([`run_tuned`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryUse {
    /// Peak resident memory first (`plan`, `apply`, ...): freed pages go back at once.
    Peak,
    /// Time first (`show`, `graph`: read a plan file on several threads and free most
    /// of what they read as they go; returning each freed page costs every thread).
    Throughput,
}

/// Runs the command line; the process's exit code.
pub fn run() -> i32 {
    run_tuned(&|_| {})
}

/// [`run`], telling `tune` how the command chosen uses memory before it starts (the
/// binary sets its allocator's page return accordingly).
pub fn run_tuned(tune: &dyn Fn(MemoryUse)) -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Error
            } else {
                ExitCode::Ok
            };
            let _ = e.print();
            return code as i32;
        }
    };
    // A file-size limit (`ulimit -f`) makes a write fail with EFBIG, which every writer
    // reports (or, for show's spools, falls back from), instead of killing the process
    // with SIGXFSZ and no message.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to "ignore" while single-threaded.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    tune(match cli.command {
        args::Command::Show(_) | args::Command::Graph(_) => MemoryUse::Throughput,
        _ => MemoryUse::Peak,
    });
    if cli.no_color {
        // One switch for every writer of colour (anstream, indicatif's console): set while
        // the process is still single-threaded, before the runtime starts.
        std::env::set_var("NO_COLOR", "1");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::Error as i32;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code as i32,
        Err(e) => {
            // Errors quote tenant text and Graph's messages: neutralised for the terminal.
            eprintln!("Error: {}", crate::render::safe_lines(&e.to_string()));
            e.code() as i32
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode, CliError> {
    use args::Command;
    match cli.command {
        Command::Plan(a) => plan_cmd::run(a).await,
        Command::Apply(a) => apply_cmd::run(a).await,
        Command::Show(a) => plan_cmd::show(a),
        Command::Graph(a) => plan_cmd::graph(a),
        Command::Sim(a) => sim_cmd::run(a).await,
        Command::State(a) => state_cmd::run(a).await,
        Command::Status(a) => status_cmd::status(a).await,
        Command::Validate(a) => status_cmd::validate(a),
        Command::Completions(a) => {
            clap_complete::generate(
                a.shell,
                &mut Cli::command(),
                "closeout",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::Ok)
        }
    }
}
