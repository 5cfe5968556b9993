//! Host-side code shared by the `mynah` command line subcommands.
//!
//! The binary (`src/main.rs`) only parses arguments and dispatches to `src/cmd/*`;
//! anything worth testing or reusing without a process lives here.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod inspect;
pub mod quant_info;
pub mod tables;

use std::io;

/// Whether `err` (or anything in its source chain) is a broken pipe, e.g. from
/// `mynah inspect m.mynah | head`; the command line treats that as success.
pub fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        cur = e.source();
    }
    false
}
