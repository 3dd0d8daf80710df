//! The `qunguan` binary: parse the command line (with help in the operator's language), run the subcommand, print what went wrong.
//! Every subcommand lives in `qunguan::cli`, one file each.

use std::process::ExitCode;

use qunguan::cli::{dispatch, parse};

fn main() -> ExitCode {
    match dispatch(parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qunguan: {}", qunguan::cli::error_text(&e));
            ExitCode::FAILURE
        }
    }
}
