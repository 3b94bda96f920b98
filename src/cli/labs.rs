//! `bulkhead labs prune`: remove every lab object whose session is over (expired, or its
//! process gone).

use super::{EXIT_FAILURE, Exit};

pub fn prune() -> Result<(), Exit> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start an async runtime: {e}");
            Exit(EXIT_FAILURE)
        })?;
    let report = runtime.block_on(async {
        let docker = bulkhead_labs::docker::connect().await?;
        bulkhead_labs::reaper::reap(&docker).await
    });
    match report {
        Ok(r) => {
            println!(
                "removed {} container(s) and {} network(s) of finished sessions",
                r.containers_removed(),
                r.networks_removed()
            );
            Ok(())
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(Exit(EXIT_FAILURE))
        }
    }
}
