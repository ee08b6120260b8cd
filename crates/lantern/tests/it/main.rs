//! Black-box tests of the `lantern` binary: it runs as a child process, as an operator runs it.

mod cli;
mod cluster;
mod cluster_http;
mod kill;
mod outage;
mod serve;
mod support;
mod surge;
