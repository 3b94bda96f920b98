//! `bulkhead doctor`: what this machine can run (Docker, lab images, rendering), and for each
//! problem what to do.

use super::{EXIT_FAILURE, Exit};

pub fn doctor(nodes: &[String]) -> Result<(), Exit> {
    bulkhead_labs::swarm::nodes::use_engines(nodes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start an async runtime: {e}");
            Exit(EXIT_FAILURE)
        })?;
    let checks = runtime.block_on(bulkhead_labs::doctor::diagnose());
    let mut problems = 0;
    for c in &checks {
        println!(
            "{} {:<28} {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
        if !c.ok {
            problems += 1;
            if let Some(fix) = &c.fix {
                println!("     {:<28} fix: {fix}", "");
            }
        }
    }
    if problems == 0 {
        println!("everything is in place");
    } else {
        println!("{problems} problem(s); the simulated lab (--backend sim) works regardless");
    }
    Ok(())
}
