//! `mapfix map …`: info, import, demo-town.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum MapCommand {}

pub fn run(command: MapCommand) -> anyhow::Result<()> {
    match command {}
}
