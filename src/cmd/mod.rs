//! One module per subcommand.

pub mod map;
