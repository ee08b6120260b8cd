//! Black-box tests of the `lantern` binary: it runs as a child process, as an operator runs it.

mod cli;
mod cluster;
mod kill;
mod serve;
mod support;
mod surge;
