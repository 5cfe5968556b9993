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
    /// Generate text (INT8 and INT4 files on the integer runtime, FLOAT files on the f32
    /// reference).
    Sample(cmd::sample::Args),
    /// Score a corpus: nats/char and bits/char by the evaluation convention.
    Eval(cmd::eval::Args),
    /// Time sampling: microseconds per character.
    Bench(cmd::bench::Args),
    /// Quantize a FLOAT model file to INT8 or INT4, with the token table or factored (what
    /// `mynah-train export --dtype int8|int4 [--factored]` does).
    Quantize(cmd::quantize::Args),
}

fn main() -> ExitCode {
    // A bad argument exits 1 like every other error (clap's own code is 2); --help and
    // --version still print and exit 0.
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        if !e.use_stderr() {
            let _ = e.print();
            std::process::exit(0);
        }
        let _ = e.print();
        std::process::exit(1)
    });
    let result = match &cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Sample(args) => cmd::sample::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Quantize(args) => cmd::quantize::run(args),
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
