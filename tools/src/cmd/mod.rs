//! One module per subcommand: each has `Args` (clap) and `run`.

pub mod bench;
pub mod eval;
pub mod inspect;
pub mod quantize;
pub mod sample;
