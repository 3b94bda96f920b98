//! `bulkhead labs prune`: remove every lab object whose session is over (expired, or its
//! process gone), on this machine's engine and on the swarm's other nodes given.

use bulkhead_labs::reaper::reap;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, Exit};

pub fn prune(nodes: &[String]) -> Result<(), Exit> {
    bulkhead_labs::swarm::nodes::use_engines(nodes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start an async runtime: {e}");
            Exit(EXIT_FAILURE)
        })?;
    let report = runtime.block_on(async {
        let docker = bulkhead_labs::docker::connect().await?;
        // The manager first: it removes the services and Swarm networks; then each node what
        // is left of their labs there.
        let mut reports = vec![("this machine".to_owned(), reap(&docker).await?)];
        if !nodes.is_empty() {
            for engine in bulkhead_labs::swarm::nodes::connect_all(&docker).await? {
                let report = reap(&engine.docker).await?;
                reports.push((format!("node {}", engine.node.hostname), report));
            }
        }
        Ok::<_, bulkhead_labs::LabError>(reports)
    });
    match report {
        Ok(reports) => {
            for (where_, r) in reports {
                println!(
                    "{where_}: removed {} container(s) and {} network(s) of finished sessions",
                    r.containers_removed(),
                    r.networks_removed()
                );
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("error: {e}");
            // A --node that is no node of this swarm is the user's to fix.
            let bad_node = matches!(e, bulkhead_labs::LabError::NodeEngine { .. });
            Err(Exit(if bad_node {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILURE
            }))
        }
    }
}
