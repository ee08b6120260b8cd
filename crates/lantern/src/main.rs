//! `lantern`: the agentic shopping gateway's command-line entry point.
//!
//! Subcommands: `serve` runs the HTTP gateway and `token` issues development tokens; `demo` runs a small scripted campaign and prints what happened; `bench ledger`
//! measures coupon orders through the durable sequencer and `bench http` through the gateway; `loadgen` drives load and prints each
//! acknowledgement (the kill test's workload); `audit` re-reads a data directory and checks every
//! invariant; `chat`, `parse`, `eval` and `bench agent` are the shopping agent's;
//! `mcp` serves the MCP tools over stdio.

mod agent_cli;
mod audit;
mod backup_cli;
mod bench;
mod bench_http;
mod bench_nodes;
mod bench_restart;
mod bench_search;
mod cluster;
mod cluster_audit;
mod config;
mod demo;
mod loadgen;
mod mcp_cli;
mod node;
mod serve;
mod surge;
mod world;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// The ledger's hot path allocates small, short-lived values (quote lines, replies) from three
// threads at once; mimalloc's per-thread heaps measured faster than glibc's arenas here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lantern: an agentic shopping gateway that keeps working through a demand surge.
///
/// Shoppers buy by chat or through their own AI agent, operators run coupon campaigns with exact
/// budgets, and every acknowledged order is durable before it is acknowledged.
#[derive(Debug, Parser)]
#[command(name = "lantern", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Debug, Subcommand)]
enum CliCommand {
    /// Run the HTTP gateway: the JSON API (OpenAPI at /openapi.json), bearer-token auth,
    /// idempotency, admission control with a waiting room, /metrics, /healthz and /readyz.
    /// The port answers while the journal replays (503 `starting` with the progress and a
    /// Retry-After; /healthz 200 `starting`); `lantern listening on URL` is printed once ready.
    /// Stops on Ctrl-C or SIGTERM after draining requests and committing the ledger.
    Serve(serve::ServeArgs),
    /// Print a development bearer token signed with a data directory's secret.
    Token(serve::TokenArgs),
    /// Run a small scripted Spring Festival campaign against a fresh durable ledger and print
    /// what happened: claims, a referral bonus, quotes, orders, a replayed retry, a cancellation,
    /// a busy shop, the budget running out, and the final audit.
    Demo {
        /// Data directory to create (must not exist yet). Default: a new temporary directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Print the final figures as one JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
    /// Drive claims, quotes and orders against a data directory, printing one line per
    /// acknowledged claim or order, until killed or `--max-orders` is reached.
    ///
    /// Acknowledgement lines are printed only after the answer was durable, so a parent that
    /// kills this process at any moment can check that every printed line survived.
    Loadgen(loadgen::LoadgenArgs),
    /// Re-read a data directory's journal, rebuild the ledger and check every invariant: budget
    /// never exceeded, accounts balanced, no shopper over the cap, no coupon redeemed twice, and
    /// (with --acks) every acknowledged claim and order present.
    Audit(audit::AuditArgs),
    /// Back up a stopped gateway's data directory into a new folder (a data directory of its
    /// own, with the token secret): the copy `POST /v1/ops/backups` makes of a running one.
    Backup(backup_cli::BackupArgs),
    /// Talk to the shopping agent in the terminal (English or Chinese), over the demo shops in
    /// this process: search, cart, coupons, a quote to confirm, the order.
    Chat(agent_cli::ChatArgs),
    /// Print, as JSON, what the agent's fast path reads from one message against a menu file:
    /// the intent and the cart lines it would build (item, quantity, size, options added and
    /// removed). Nothing is placed.
    Parse(agent_cli::ParseArgs),
    /// Evaluate the fast path on the shared utterance sets (../shared/data): intent accuracy
    /// per set and intent, out-of-scope rejection, slot F1, train and held-out apart; and exact
    /// whole-cart match on our own order-parsing set.
    Eval(agent_cli::EvalArgs),
    /// Serve Lantern's shopping tools to an AI assistant over MCP on stdin/stdout (search,
    /// coupons, Agentic Commerce Protocol checkout, orders), acting for one shopper over this
    /// process's own gateway. A running `lantern serve` offers the same tools at /mcp over HTTP.
    Mcp(mcp_cli::McpArgs),
    /// Replay a campaign's rush (the Spring Festival: 10 M orders from 8 M shoppers over 9
    /// simulated hours, or `--profile` of your own) against the engine in this process or a
    /// gateway over HTTP, with shoppers who retry; then audit the store and write a report
    /// (Markdown, HTML with charts, JSON). `--scale 0.02` for a quick run.
    Surge(surge::SurgeArgs),
}

#[derive(Debug, Subcommand)]
enum BenchTarget {
    /// Coupon orders (claim + quote + place) through the durable sequencer, with 1, 64 and 1024
    /// concurrent producers, durable and with fsync off; then the surge volume (10 M orders from
    /// 8 M shoppers) unless --skip-surge.
    Ledger(bench::LedgerBenchArgs),
    /// Coupon orders over HTTP against `lantern serve` on loopback: capacity (closed loop, N
    /// connections) beside the Redis peer, overload (open loop at a multiple of capacity:
    /// goodput, p99 of admitted requests, every refusal with a ticket or a reason), and the
    /// waiting room's server memory per waiting shopper.
    Http(bench_http::HttpBenchArgs),
    /// Coupon orders/s of 1, 2 and 3 nodes over one private PostgreSQL (journal shards, budget
    /// leased in chunks from a central row), beside the plain-PostgreSQL peer
    /// (../shared/peers/postgres.sh: claim and order in one transaction on a hot budget row),
    /// measured in the same run; prints the ratio.
    Nodes(bench_nodes::NodesBenchArgs),
    /// Indexing shops for search: one commit per shop against the gateway's batches, in the
    /// same run (the ratio), and the gateway's start-up indexing over that many shops.
    Search(bench_search::SearchBenchArgs),
    /// A restart over a data directory, two ways in the same run: the read index of orders
    /// rebuilt after the replay, against recorded during it (as `lantern serve` does); prints
    /// replay, index and ready times and the ratio. Writes nothing.
    Restart(bench_restart::RestartBenchArgs),
    /// The agent's fast path against a 10,000-item catalog: turns per second on one core,
    /// latency percentiles, and model calls per completed order for a message mix.
    Agent(agent_cli::AgentBenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Logs go to stderr, lowercase messages with structured fields; LANTERN_LOG filters them
    // (default: info).
    let filter = tracing_subscriber::EnvFilter::try_from_env("LANTERN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    match cli.command {
        CliCommand::Serve(args) => serve::run(&args),
        CliCommand::Token(args) => serve::token(&args),
        CliCommand::Demo { data, json } => demo::run(data, json),
        CliCommand::Bench { target: BenchTarget::Ledger(args) } => bench::run(&args),
        CliCommand::Bench { target: BenchTarget::Http(args) } => bench_http::run(&args),
        CliCommand::Loadgen(args) => loadgen::run(&args),
        CliCommand::Audit(args) => audit::run(&args),
        CliCommand::Backup(args) => backup_cli::run(&args),
        CliCommand::Chat(args) => agent_cli::chat(&args),
        CliCommand::Parse(args) => agent_cli::parse(&args),
        CliCommand::Eval(args) => agent_cli::eval(&args),
        CliCommand::Mcp(args) => mcp_cli::run(&args),
        CliCommand::Bench { target: BenchTarget::Agent(args) } => agent_cli::bench(&args),
        CliCommand::Surge(args) => surge::run(&args),
        CliCommand::Bench { target: BenchTarget::Nodes(args) } => bench_nodes::run(&args),
        CliCommand::Bench { target: BenchTarget::Search(args) } => bench_search::run(&args),
        CliCommand::Bench { target: BenchTarget::Restart(args) } => bench_restart::run(&args),
    }
}
