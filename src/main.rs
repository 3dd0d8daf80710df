//! The `qunguan` binary: parse the command line, run the subcommand, print what went wrong.
//! Every subcommand lives in `qunguan::cli`, one file each.

use std::process::ExitCode;

use clap::Parser;
use qunguan::cli::{Cli, dispatch};

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qunguan: {}", qunguan::cli::error_text(&e));
            ExitCode::FAILURE
        }
    }
}
