//! `lantern mcp`: Lantern's MCP server over stdio, for an assistant that starts it as a
//! subprocess (Claude Desktop, an `mcp.json`).
//!
//! It runs its own gateway in this process over a data directory (`--demo` seeds the demo
//! shops and campaign into a new one) and acts for one shopper. It does not talk to a running
//! `lantern serve`: the journal allows one writer, so a gateway that is already running is
//! reached over Streamable HTTP at its `/mcp` instead, with the shopper's bearer token.

use std::path::PathBuf;

use anyhow::Context;
use lantern_core::ShopperId;

use crate::serve::{Opened, open};

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// The shopper the assistant buys for.
    #[arg(long, default_value = "shp_1")]
    shopper: String,
    /// Data directory (default ./lantern-data; must not be in use by a running `lantern serve`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Seed the demo shops and the Spring Festival campaign when the data directory is new.
    #[arg(long)]
    demo: bool,
    /// Configuration file (TOML), as for `lantern serve`.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// How long the shopper's in-process token lasts (the session is one process's life).
const TOKEN_TTL_MS: u64 = 30 * 24 * 60 * 60 * 1000;

pub fn run(args: &McpArgs) -> anyhow::Result<()> {
    let shopper = ShopperId::parse(&args.shopper).context("--shopper takes an id like shp_1")?;
    let Opened { gateway_config, clock, sequencer, signer, .. } =
        open(args.config.as_deref(), args.data.as_deref(), args.demo, |_| {})?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(async {
        let app = lantern_gateway::App::new(gateway_config, sequencer.handle(), signer, clock);
        tracing::info!(shopper = %shopper, "mcp serving on stdio");
        lantern_gateway::mcp::serve_stdio(&app, shopper, TOKEN_TTL_MS).await
    });
    // Commit and answer whatever is still queued.
    sequencer.stop();
    served.map_err(|error| anyhow::anyhow!("mcp over stdio failed: {error}"))
}
