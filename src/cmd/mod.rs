//! One module per subcommand.

pub mod bench;
pub mod detect;
pub mod eval;
pub mod map;
pub mod model;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod solve;
pub mod train;
pub mod train_classifier;
