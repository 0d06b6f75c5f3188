//! `menara`: the Menara node and wallet.
mod agents;
mod cli;
mod compute;
mod contract;
mod governance;
mod inference;
mod model;
mod node;
mod show;
mod units;
mod wallet;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // libp2p's swarm repeats the local peer id at info level (the node prints it once),
        // and Kademlia warns that it has no peers to bootstrap from whenever a listen
        // address appears before any peer is known (every start of a lone node).
        tracing_subscriber::EnvFilter::new(
            cli.log
                .clone()
                .unwrap_or_else(|| "info,libp2p_swarm=warn,libp2p_kad=error".into()),
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
