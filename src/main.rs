use std::process::ExitCode;

use clap::Parser;
use hangar_cli::cli::{Cli, Command};
use hangar_cli::commands::{
    backup, execute, exit, keys, metrics, migrate, models, operators, pools, roots, runs, serve, task_exec, users,
    validate, worker,
};
use hangar_cli::home::Home;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {}", describe(&err));
            ExitCode::from(exit::FAILED)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Validate { files } => Ok(validate::run(files, &hangar_cli::registry()?, cli.json)),
        Command::Operators => {
            operators::run(&hangar_cli::registry()?, cli.json);
            Ok(exit::OK)
        }
        Command::Run(args) => execute::run(args, &Home::resolve(cli.home.as_deref())?, cli.json).await,
        Command::Resume(args) => execute::resume(args, &Home::resolve(cli.home.as_deref())?, cli.json).await,
        Command::Runs(args) => runs::run(args, &Home::resolve(cli.home.as_deref())?, cli.json).await,
        Command::Migrate => migrate::run(&Home::resolve(cli.home.as_deref())?, cli.json).await,
        Command::Worker(args) => worker::run(args, &Home::resolve(cli.home.as_deref())?).await,
        Command::Pools { command } => {
            pools::run(command.as_ref(), &Home::resolve(cli.home.as_deref())?, cli.json).await
        }
        Command::Roots { command } => {
            roots::run(command.as_ref(), &Home::resolve(cli.home.as_deref())?, cli.json).await
        }
        Command::Models { command } => {
            models::run(command.as_ref(), &Home::resolve(cli.home.as_deref())?, cli.json).await
        }
        Command::TaskExec => task_exec::run(&Home::resolve(cli.home.as_deref())?).await,
        Command::Serve(args) => serve::run(args, &Home::resolve(cli.home.as_deref())?).await,
        Command::Users { command } => users::run(command, &Home::resolve(cli.home.as_deref())?, cli.json).await,
        Command::Keys { command } => keys::run(command, &Home::resolve(cli.home.as_deref())?, cli.json).await,
        Command::Metrics { command } => metrics::run(command),
        Command::Backup(args) => backup::back_up(args, &Home::resolve(cli.home.as_deref())?, cli.json).await,
        Command::Restore(args) => backup::restore(args, &Home::resolve(cli.home.as_deref())?, cli.json).await,
    }
}

/// The error and its causes, each cause only once: our errors already
/// quote their source in their own message.
fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Logs go to stderr; `HANGAR_LOG` (or `RUST_LOG`) selects the level, e.g.
/// `HANGAR_LOG=info`. Commands are quiet by default; the server logs at
/// `info` as JSON lines (one per request, with its request id, and with
/// run and task ids), or as text with `HANGAR_LOG_FORMAT=text`.
fn init_tracing(command: &Command) {
    let server = matches!(command, Command::Serve(_));
    // A task's process writes warnings only: its stderr becomes the task's log.
    let filter = std::env::var("HANGAR_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .filter(|_| !matches!(command, Command::TaskExec))
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(if server { "info" } else { "warn" }));
    let json = match std::env::var("HANGAR_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => server,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ =
        if json { builder.json().with_current_span(true).with_span_list(false).try_init() } else { builder.try_init() };
}
