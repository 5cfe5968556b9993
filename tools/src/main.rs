//! `mynah`: inspect, sample, evaluate and benchmark mynah models.
//!
//! This file only parses arguments and dispatches; each subcommand lives in `cmd/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Debug, Parser)]
#[command(
    name = "mynah",
    version,
    about = "Inspect, sample, evaluate and benchmark mynah models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a model file and print its header, vocabulary and tensors.
    Inspect(cmd::inspect::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `mynah inspect m.mynah | head` closing the pipe early is not a failure.
        Err(e) if e.chain().any(mynah_tools::is_broken_pipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
