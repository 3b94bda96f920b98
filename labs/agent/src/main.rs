//! `labd <role>`: reads the environment, binds, runs the role until SIGTERM. Also the
//! `health`, `probe`, `ctl` and `pipe` subcommands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use labd::config::Env;
use labd::log::Log;
use labd::roles::{self, Configured, Listeners, Role};

#[derive(Parser)]
#[command(
    name = "labd",
    version,
    about = "The agent inside every Bulkhead lab container"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Clone)]
enum Command {
    /// Storefront, login, API, data and admin API.
    Web,
    /// Reverse proxy with source blocks and per-second flow logs.
    Gateway,
    /// Relay between trust zones along allowed routes, with segments and crossing logs.
    Firewall,
    /// Synthetic records per dataset.
    Datastore,
    /// CPU, memory and pids hog on request.
    Worker,
    /// Benign client actions on request.
    Traffic,
    /// Attacker client actions on request.
    Attacker,
    /// Exit 0 when this container's /healthz answers 200 within 1 s, else 1.
    Health,
    /// Print `uid=<uid>` and exit.
    Probe,
    /// POST a JSON body to this container's control API (e.g. `ctl /hog '{"seconds":5}'`,
    /// `ctl /pivot '{"to":"data-store:8080","path":"/records/customers"}'`).
    Ctl { path: String, body: String },
    /// Join stdin and stdout to this container's TCP port `port` (the driver's path to labd
    /// on a Swarm node it cannot route to).
    Pipe { port: u16 },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            let asked = std::env::args_os()
                .nth(1)
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            eprintln!(
                "labd: unknown role `{asked}`; expected one of: web, gateway, firewall, datastore, \
                 worker, traffic, attacker, health, probe, ctl, pipe"
            );
            return ExitCode::from(2);
        }
        // Help and version exit 0, other usage errors 2, as clap decides.
        Err(e) => e.exit(),
    };
    let env = match Env::from_process() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("labd: {e}");
            return ExitCode::from(2);
        }
    };
    let role = match cli.command {
        Command::Probe => {
            return match labd::checks::uid() {
                Some(uid) => {
                    // What a node check reads too: whether the daemon sets no-new-privileges.
                    let nnp = labd::checks::no_new_privs()
                        .map_or("unknown", |on| ["0", "1"][usize::from(on)]);
                    println!("uid={uid} no_new_privs={nnp}");
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("labd: cannot read the uid from /proc/self/status");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Ctl { path, body } => {
            let ok = one_thread()
                .is_ok_and(|rt| rt.block_on(labd::checks::control(env.control_port, &path, &body)));
            return if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::Pipe { port } => {
            return match labd::pipe::pipe(port) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("labd pipe: port {port}: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Health => {
            let healthy =
                one_thread().is_ok_and(|rt| rt.block_on(labd::checks::health(env.control_port)));
            return if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::Web => Role::Web,
        Command::Gateway => Role::Gateway,
        Command::Firewall => Role::Firewall,
        Command::Datastore => Role::Datastore,
        Command::Worker => Role::Worker,
        Command::Traffic => Role::Traffic,
        Command::Attacker => Role::Attacker,
    };
    if env.require_no_new_privs && labd::checks::no_new_privs() != Some(true) {
        eprintln!(
            "labd: refusing to run: this container may gain privileges (NoNewPrivs is not 1 in \
             /proc/self/status), and every lab container must run with no-new-privileges\n  \
             help: on a Swarm node, start the Docker daemon with no-new-privileges \
             (\"no-new-privileges\": true in /etc/docker/daemon.json); services cannot set it"
        );
        return ExitCode::from(3);
    }
    // Two workers: the roles are I/O bound, and every thread is a pid under the container's
    // pids limit (which the worker role is there to exhaust on purpose).
    let rt = match runtime(2) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(serve(role, env));
    // Exit now rather than wait for in-flight work (a DNS lookup, a hog thread) to finish.
    rt.shutdown_background();
    code
}

/// The runtime of a short command the driver runs through `docker exec` (`ctl`, `health`): one
/// thread, so the range's own machinery adds a single pid to the container it pokes, not a
/// pool of them that the detector would see as a burst of processes.
fn one_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(8)
        // Name lookups run on blocking threads; idle ones go after a second rather than ten,
        // so a few lookups leave no lasting crowd of pids in the container's count.
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .enable_all()
        .build()
}

async fn serve(role: Role, env: Env) -> ExitCode {
    // Configuration first: a role that cannot start says why even when its ports are taken.
    let configured = match Configured::from_env(role, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("labd {}: {e}", role.name());
            return ExitCode::from(2);
        }
    };
    let listeners = match Listeners::from_env(&env).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "labd: cannot listen on ports {} and {}: {e}",
                env.port, env.control_port
            );
            return ExitCode::FAILURE;
        }
    };
    let log = Log::stdout(&env.service);
    if let Some(every) = env.metrics_every {
        tokio::spawn(labd::metrics::report(log.clone(), every));
    }
    tokio::select! {
        () = roles::run(configured, log, listeners) => {
            eprintln!("labd {}: a server stopped unexpectedly", role.name());
            ExitCode::FAILURE
        }
        () = terminated() => ExitCode::SUCCESS,
    }
}

/// Resolves on SIGTERM (how containers are stopped) or SIGINT. As PID 1 in a container the
/// default action for SIGTERM is to ignore it, so without this handler `docker stop` would
/// wait out its grace period and SIGKILL.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handling the role still serves; it just cannot stop gracefully.
        _ => std::future::pending().await,
    }
}
