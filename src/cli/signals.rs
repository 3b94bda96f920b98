//! Ctrl+C and SIGTERM for verbs that hold a lab: the first signal asks the session to stop (the
//! caller tears the lab down and leaves with 130 or 143); a second one quits at once and says how
//! to clean up what is left.
//!
//! Why a flag and not an exit in the handler: the lab is owned by the session loop (or the game's
//! session thread), and only its owner can tear it down; the loop checks the flag every tick.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A stop signal the user (or a supervisor) sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: Ctrl+C on the terminal.
    Interrupt,
    /// SIGTERM: `kill`, a service manager, a closing terminal multiplexer.
    Terminate,
}

impl Stop {
    fn from_raw(signal: i32) -> Option<Stop> {
        match signal {
            SIGINT => Some(Stop::Interrupt),
            SIGTERM => Some(Stop::Terminate),
            _ => None,
        }
    }

    /// The shell's convention: 128 + the signal number.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }
}

/// Which stop signal arrived first, if any. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicI32>);

impl StopFlag {
    pub fn signal(&self) -> Option<Stop> {
        Stop::from_raw(self.0.load(Ordering::SeqCst))
    }
}

/// Catch SIGINT and SIGTERM from now on. `on_first` runs on the signal thread when the first one
/// arrives (the game uses it to close its window); the loop that owns the lab polls the flag.
/// Where the handlers cannot be installed, a warning says so and the signals keep their default
/// (immediate death; the reaper removes the lab on the next start or `bulkhead labs prune`).
pub fn install(on_first: impl Fn(Stop) + Send + 'static) -> StopFlag {
    let flag = StopFlag::default();
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(
                "cannot catch Ctrl+C/SIGTERM ({e}): a stopped run leaves its lab to `bulkhead labs prune`"
            );
            return flag;
        }
    };
    let shared = flag.0.clone();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for raw in signals.forever() {
                let Some(stop) = Stop::from_raw(raw) else {
                    continue;
                };
                if shared
                    .compare_exchange(0, raw, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    eprintln!(
                        "\n{}: stopping and tearing the lab down (press Ctrl+C again to quit at once)",
                        stop.name()
                    );
                    on_first(stop);
                } else {
                    force_exit(stop);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the signal thread ({e}): Ctrl+C will not stop runs cleanly");
    }
    flag
}

/// The user insisted: leave now, without waiting for the teardown, and say what is left to do.
fn force_exit(stop: Stop) -> ! {
    eprintln!(
        "{}: quitting without finishing the teardown; lab containers may still run.\n  help: run `bulkhead labs prune` to remove them",
        stop.name()
    );
    std::process::exit(stop.exit_code().into())
}
