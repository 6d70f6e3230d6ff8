//! One module per subcommand.

pub mod eval;
pub mod map;
pub mod bench;
pub mod solve;
pub mod simulate;
pub mod model;
