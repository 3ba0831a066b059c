//! `skypod-loadgen`: load generators for the side-by-side benchmarks in docs/benchmarks.md.
//! Kept out of the `skypod` binary: users never run it, and it reads other processes' `/proc`.

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
}

/// Each socket is a file descriptor on both ends: raise the soft limit to the hard limit.
fn raise_fd_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Signaling(args) => signaling::run(args).await,
        }
    })
}
