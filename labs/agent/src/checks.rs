//! The one-shot subcommands: `labd health` (the image's `HEALTHCHECK`), `labd ctl` (a control
//! request from inside the container) and `labd probe` (what an exec session runs to show who
//! it is).

use std::time::Duration;

use hyper::Method;
use hyper::body::Bytes;

use crate::http::Client;

/// `GET http://127.0.0.1:<control_port>/healthz` within 1 s; true on `200`.
pub async fn health(control_port: u16) -> bool {
    let client = Client::new(Duration::from_secs(1));
    let host = format!("127.0.0.1:{control_port}");
    matches!(
        client.call(Method::GET, &host, "/healthz", &[], Bytes::new()).await,
        Ok(a) if a.status == hyper::StatusCode::OK
    )
}

/// `POST http://127.0.0.1:<control_port><path>` with a JSON body: how the driver starts jobs
/// through `docker exec`, which works even when the container is cut off from every network.
/// Prints the answer; true on a 2xx.
pub async fn control(control_port: u16, path: &str, body: &str) -> bool {
    // Longer than anything a control endpoint waits for (a pivot: 2 s), so that the endpoint's
    // own answer is printed rather than this client's timeout.
    let client = Client::new(Duration::from_secs(5));
    let host = format!("127.0.0.1:{control_port}");
    let body = Bytes::from(body.to_string());
    match client.call(Method::POST, &host, path, &[], body).await {
        Ok(a) => {
            println!("{} {}", a.status.as_u16(), String::from_utf8_lossy(&a.body));
            a.status.is_success()
        }
        Err(e) => {
            eprintln!("labd: {path}: {e}");
            false
        }
    }
}

/// The real uid of this process, read from procfs: the workspace forbids `unsafe`, so
/// `getuid(2)` is out of reach, and a `FROM scratch` image has no `id` to run.
pub fn uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_uid(&status)
}

/// Whether this process runs with no-new-privileges (`NoNewPrivs: 1` in procfs): set per
/// container on a Docker host, and only by the daemon's option on a Swarm node (API 1.41 has no
/// per-service setting). `None`: procfs does not say.
pub fn no_new_privs() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_no_new_privs(&status)
}

pub fn parse_no_new_privs(status: &str) -> Option<bool> {
    match status
        .lines()
        .find_map(|l| l.strip_prefix("NoNewPrivs:"))?
        .trim()
    {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

pub fn parse_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_the_real_uid_column() {
        assert_eq!(
            parse_uid("Name:\tlabd\nUid:\t10001\t10001\t10001\t10001\n"),
            Some(10001)
        );
        assert_eq!(parse_uid("Name:\tlabd\n"), None);
    }

    #[test]
    fn no_new_privs_is_read_from_its_own_line() {
        let status = "Uid:\t10001\t10001\t10001\t10001\nNoNewPrivs:\t1\nSeccomp:\t2\n";
        assert_eq!(parse_no_new_privs(status), Some(true));
        assert_eq!(parse_no_new_privs("NoNewPrivs:\t0\n"), Some(false));
        assert_eq!(parse_no_new_privs("NoNewPrivs:\tx\n"), None);
        assert_eq!(parse_no_new_privs("Uid:\t0\n"), None);
    }

    #[test]
    fn this_process_has_a_uid() {
        assert!(uid().is_some());
    }

    #[tokio::test]
    async fn health_fails_when_nothing_listens() {
        // Bind then drop, so the port is very likely free for the check.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(!health(port).await);
    }
}
