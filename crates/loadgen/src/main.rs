//! `skypod-loadgen`: load generators for the side-by-side benchmarks in docs/benchmarks.md.
//! Kept out of the `skypod` binary: users never run it, and it reads other processes' `/proc`.

mod failover;
mod signaling;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "skypod-loadgen",
    version,
    about = "Load generators for Skypod's benchmarks (bench/signaling/run.sh)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signaling load: N sockets in M rooms/realms, broadcasts at increasing rates, and idle
    /// sockets held (memory per socket from the server's RSS).
    Signaling(signaling::SignalingArgs),
    /// Cluster failover: SIGKILL one node, time `peer-left` on the others and the victim's
    /// members authenticated again on a survivor (bench/cluster/run.sh).
    Failover(failover::FailoverArgs),
}

fn main() -> anyhow::Result<()> {
    // One fd per socket: bench/signaling/run.sh raises the limit (`ulimit -n`) first.
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Signaling(args) => signaling::run(args).await,
            Command::Failover(args) => failover::run(args).await,
        }
    })
}
