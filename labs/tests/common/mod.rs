//! What the Docker tests of the labs crate share: the Docker CLI as a test reads the host with
//! it, and a gateway's blocks asked of its control API. Each test file uses part of it.
#![allow(dead_code)]

use std::process::Command;

/// `docker ARGS`, which must succeed; its output, trimmed.
pub fn docker_out(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `docker inspect -f FORMAT CONTAINER`.
pub fn inspect(container: &str, format: &str) -> String {
    docker_out(&["inspect", "-f", format, container])
}

/// What the gateway in container `id` blocks, asked of its control API at its address now (a
/// restored container may have a new one).
pub fn gateway_blocks(id: &str) -> Vec<String> {
    let ips = inspect(
        id,
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
    );
    let ip = ips
        .split_whitespace()
        .next()
        .expect("the gateway has an address");
    let url = format!("http://{ip}:{}/blocks", bulkhead_labs::spec::CONTROL_PORT);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { reqwest::get(&url).await.unwrap().json().await.unwrap() })
}

/// Containers and networks of a session still on the host, found by its label.
pub fn leftovers(session: &str) -> usize {
    let label = format!("label={}={session}", bulkhead_labs::labels::SESSION);
    let count = |what: &[&str]| {
        let mut args = what.to_vec();
        args.extend(["--filter", &label, "-q"]);
        docker_out(&args).lines().count()
    };
    count(&["ps", "-a"]) + count(&["network", "ls"])
}
