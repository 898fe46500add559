//! The `outdial` command: wiring only.

use clap::{Parser, Subcommand};
use outdial::clock::SystemClock;
use outdial::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "outdial", version, about = "An outbound call engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine: REST API, scheduler and SIP.
    Serve {
        /// The configuration file.
        #[arg(long, default_value = "config/outdial.toml")]
        config: PathBuf,
    },
    /// Check a configuration file and exit.
    CheckConfig {
        #[arg(long, default_value = "config/outdial.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let (Command::Serve { config } | Command::CheckConfig { config }) = &cli.command;
    let config = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("outdial: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::CheckConfig { .. } = cli.command {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    let result =
        actix_web::rt::System::new().block_on(outdial::engine::run(config, Arc::new(SystemClock)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outdial: {e}");
            ExitCode::FAILURE
        }
    }
}
