//! Connecting to the Docker daemon: one place that decides where the daemon is, checks that it
//! answers (quickly, so a missing daemon is an error message and not a hang), and the helper
//! that Docker-backed tests use to skip loudly or fail where Docker is required (and the loud
//! skip line every skipping test prints).

use std::time::Duration;

use bollard::Docker;

use crate::error::LabError;

/// How long a ping may take before the daemon counts as absent. A local daemon answers in
/// milliseconds; a hung socket must not stall `bulkhead` start-up.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the daemon is expected, for messages: `DOCKER_HOST` or the local socket.
pub fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Connect to the local daemon (or `DOCKER_HOST`) and check that it answers.
pub async fn connect() -> Result<Docker, LabError> {
    let unreachable = |detail: String| LabError::DockerUnreachable {
        endpoint: endpoint(),
        detail,
    };
    // Local defaults cover `unix://` DOCKER_HOST values too; `tcp://`/`http://` hosts need the
    // generic constructor.
    let docker = match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.starts_with("unix://") => Docker::connect_with_defaults(),
        _ => Docker::connect_with_local_defaults(),
    }
    .map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {PING_TIMEOUT:?}"))),
    }
}

/// The daemon's version and API version, e.g. `("20.10.24", "1.41")`.
pub async fn api_version(docker: &Docker) -> Result<(String, String), LabError> {
    let v = docker
        .version()
        .await
        .map_err(|e| LabError::docker("read the version of", "the daemon", e))?;
    Ok((
        v.version.unwrap_or_else(|| "?".into()),
        v.api_version.unwrap_or_else(|| "?".into()),
    ))
}

/// For tests that need a real daemon: `Some(docker)` when one answers. When none does, panic if
/// `BULKHEAD_REQUIRE_DOCKER=1` (CI), else print a loud skip line and return `None`.
pub async fn docker_or_skip(test: &str) -> Option<Docker> {
    match connect().await {
        Ok(docker) => Some(docker),
        Err(e) => {
            if std::env::var("BULKHEAD_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
                panic!("{test}: BULKHEAD_REQUIRE_DOCKER=1 but Docker is unusable: {e}");
            }
            announce_skip(
                test,
                &format!("no Docker daemon ({e})"),
                "This test did NOT run; set BULKHEAD_REQUIRE_DOCKER=1 to make it fail instead",
            );
            None
        }
    }
}

/// For tests that need a Swarm manager: `Some(docker)` when this engine is one. When it is
/// not, panic if `BULKHEAD_REQUIRE_SWARM=1` (CI, which makes a one-node swarm), else print a
/// loud skip line and return `None`.
pub async fn swarm_or_skip(test: &str) -> Option<Docker> {
    let docker = docker_or_skip(test).await?;
    let state = match docker.info().await {
        Ok(info) => info.swarm.unwrap_or_default(),
        Err(e) => panic!("{test}: Docker answered, then not: {e}"),
    };
    if state.control_available == Some(true) {
        return Some(docker);
    }
    if std::env::var("BULKHEAD_REQUIRE_SWARM").is_ok_and(|v| v == "1") {
        panic!("{test}: BULKHEAD_REQUIRE_SWARM=1 but this engine is not a Swarm manager");
    }
    announce_skip(
        test,
        "this Docker engine is not a Swarm manager",
        "This test did NOT run; `scripts/one-node-swarm.sh up` makes one (as root), and \
         BULKHEAD_REQUIRE_SWARM=1 makes this a failure instead",
    );
    None
}

/// The engine of a second node of this machine's swarm (`BULKHEAD_SECOND_NODE`, else the one
/// `scripts/second-node.sh up` makes), with the manager; `None` (skipped, visibly) where there
/// is none, a failure where `BULKHEAD_REQUIRE_SECOND_NODE=1`.
pub async fn second_node_or_skip(test: &str) -> Option<(Docker, String)> {
    let manager = swarm_or_skip(test).await?;
    if let Some(endpoint) = second_node(test) {
        return Some((manager, endpoint));
    }
    announce_skip(
        test,
        "the swarm has no second node whose engine answers here",
        "This test did NOT run; `scripts/second-node.sh up` adds one on this machine (as root), \
         and BULKHEAD_REQUIRE_SECOND_NODE=1 makes this a failure instead",
    );
    None
}

/// The engine of a second node of this machine's swarm, where there is one (for tests that
/// also run on one node); a failure where `BULKHEAD_REQUIRE_SECOND_NODE=1` and there is none.
pub fn second_node(test: &str) -> Option<String> {
    let endpoint = std::env::var("BULKHEAD_SECOND_NODE")
        .unwrap_or_else(|_| format!("unix://{SECOND_NODE_SOCKET}"));
    let here = match endpoint.strip_prefix("unix://") {
        Some(path) => std::path::Path::new(path).exists(),
        None => true,
    };
    if here {
        return Some(endpoint);
    }
    if std::env::var("BULKHEAD_REQUIRE_SECOND_NODE").is_ok_and(|v| v == "1") {
        panic!("{test}: BULKHEAD_REQUIRE_SECOND_NODE=1 but there is no second node at {endpoint}");
    }
    None
}

/// Where `scripts/second-node.sh` puts its node's Docker socket.
const SECOND_NODE_SOCKET: &str = "/run/bh-node2.sock";

/// Tell whoever runs the tests that `test` did not prove what it is for, why, and how to make
/// that a failure (`help`, a sentence). Written
/// straight to the process's stderr: libtest captures the `eprintln!` of passing tests (and a
/// skipped test passes), but not writes through `std::io::stderr()`, so this shows in a plain
/// `cargo test`. Shared by every test that skips (Docker, render, host shield).
pub fn announce_skip(test: &str, why: &str, help: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!! SKIPPED {test}: {why}.\n!!!!! {help}.\n"
    );
}
