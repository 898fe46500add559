//! The `outdial` command: wiring only.

use clap::{Parser, Subcommand};
use outdial::clock::{Clock, SystemClock};
use outdial::config::Config;
use outdial::sim::{simulate, Scenario};
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
    /// Run a scenario through the scheduler on a virtual clock against a
    /// simulated carrier and report waits per priority band (capacity
    /// planning; needs no engine config).
    Simulate {
        /// The scenario file (TOML).
        #[arg(long)]
        scenario: PathBuf,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
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
    let config = match &cli.command {
        Command::Serve { config } | Command::CheckConfig { config } => config,
        Command::Simulate { scenario, json } => return run_simulation(scenario, *json),
    };
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

fn run_simulation(path: &std::path::Path, json: bool) -> ExitCode {
    let scenario = match Scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("outdial: {e}");
            return ExitCode::from(2);
        }
    };
    let report = simulate(&scenario, SystemClock.instant()).report;
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("outdial: cannot write the report as JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    ExitCode::SUCCESS
}
