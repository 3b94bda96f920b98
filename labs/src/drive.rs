//! Carrying out effects in a real lab: actors' actions through labd's control APIs, jobs and
//! exec sessions through `docker exec`, and mitigations through the Docker API, the gateway's
//! block rules and web's admin API, each confirmed against the real state afterwards.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use bollard::Docker;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerUpdateBody, EndpointSettings, ExecConfig, NetworkConnectRequest,
    NetworkDisconnectRequest,
};
use bollard::query_parameters::{RestartContainerOptionsBuilder, StopContainerOptionsBuilder};
use bulkhead_engine::Action;
use futures_util::StreamExt;
use serde_json::json;

use crate::spec::{CONTROL_PORT, SERVICE_PORT};

/// The header that marks a call to web's admin API as the range's console's.
const CONSOLE: (&str, &str) = ("X-Bulkhead-Source", "console");

/// What a driver call came to: `Ok(detail)` when done and confirmed, `Err(detail)` otherwise.
pub type Done = Result<String, String>;

/// The JSON body of labd's `POST /act` for an actor's action (`None` for actions that are not
/// an actor's: jobs and exec sessions), sent to `gateway` (`host:port`: the gateway in front of
/// the action's web tier).
pub fn act_body(
    trace: u64,
    action: &Action,
    passwords: &BTreeMap<String, String>,
    flood_seconds: u32,
    gateway: &str,
) -> Option<serde_json::Value> {
    let who = |identity: &str| {
        (
            identity.to_string(),
            passwords.get(identity).cloned().unwrap_or_default(),
        )
    };
    let (identity, source, what) = match action {
        Action::Login {
            identity, source, ..
        } => (Some(who(identity)), source, json!({"kind": "login"})),
        Action::Request {
            identity,
            source,
            endpoint,
            ..
        } => (
            identity.as_deref().map(who),
            source,
            json!({"kind": "request", "endpoint": endpoint}),
        ),
        Action::ReadData {
            identity,
            source,
            dataset,
            records,
            ..
        } => (
            Some(who(identity)),
            source,
            json!({"kind": "read_data", "dataset": dataset, "records": records}),
        ),
        Action::CreateKey {
            identity, source, ..
        } => (Some(who(identity)), source, json!({"kind": "create_key"})),
        Action::Flood {
            source,
            rps,
            endpoint,
            ..
        } => (
            None,
            source,
            json!({"kind": "flood", "rps": rps, "seconds": flood_seconds, "endpoint": endpoint}),
        ),
        Action::Exec { .. }
        | Action::Hog { .. }
        | Action::Backup { .. }
        | Action::Pivot { .. }
        | Action::Scan { .. }
        | Action::Exfiltrate { .. } => return None,
    };
    let mut body = json!({"trace": trace, "source": source, "gateway": gateway, "do": what});
    if let Some((identity, password)) = identity {
        body["identity"] = json!(identity);
        body["password"] = json!(password);
    }
    Some(body)
}

/// HTTP to labd's APIs: straight to the lab addresses, which the host reaches even on internal
/// networks, or, for a lab on another Swarm node, through pipe execs on its engine (`tunnel`).
#[derive(Debug, Clone)]
pub struct Labd {
    path: Path,
}

#[derive(Debug, Clone)]
enum Path {
    Direct(reqwest::Client),
    // Boxed: the pooling client is large, and a lab holds one `Labd` for its life.
    Exec(Box<crate::tunnel::Tunnel>),
}

/// How long one call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

impl Default for Labd {
    fn default() -> Self {
        Self::new()
    }
}

impl Labd {
    /// Straight to the lab addresses.
    pub fn new() -> Self {
        // Lab addresses are local: never through a proxy from the environment.
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .unwrap_or_default();
        Labd {
            path: Path::Direct(http),
        }
    }

    /// Through pipe execs in session `session`'s containers on the engine `docker`.
    pub fn through(docker: Docker, session: &str) -> Self {
        Labd {
            path: Path::Exec(Box::new(crate::tunnel::Tunnel::new(docker, session))),
        }
    }

    /// One call (`body`: sent as JSON; `bearer`: an `Authorization` token): labd's answer, or
    /// why there was none.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<crate::tunnel::Answer, String> {
        match &self.path {
            Path::Direct(http) => {
                let mut request = http.request(method, url);
                if let Some(body) = body {
                    request = request.json(body);
                }
                if let Some(token) = bearer {
                    request = (request.bearer_auth(token)).header(CONSOLE.0, CONSOLE.1);
                }
                let r = request.send().await.map_err(|e| e.to_string())?;
                let status = r.status();
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                Ok(crate::tunnel::Answer { status, body })
            }
            Path::Exec(tunnel) => {
                let mut request = hyper::Request::builder().method(method).uri(url);
                if body.is_some() {
                    request = request.header("content-type", "application/json");
                }
                if let Some(token) = bearer {
                    request = (request.header("authorization", format!("Bearer {token}")))
                        .header(CONSOLE.0, CONSOLE.1);
                }
                let bytes = body.map(|b| b.to_string()).unwrap_or_default();
                let request =
                    (request.body(http_body_util::Full::from(bytes))).map_err(|e| e.to_string())?;
                match tokio::time::timeout(CALL_TIMEOUT, tunnel.send(request)).await {
                    Ok(answer) => answer,
                    Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
                }
            }
        }
    }

    /// Whether labd at `address` answers `GET /healthz` with 200.
    pub async fn healthy(&self, address: Ipv4Addr) -> bool {
        let url = format!("http://{address}:{CONTROL_PORT}/healthz");
        let answer = self.call(reqwest::Method::GET, &url, None, None).await;
        answer.is_ok_and(|a| a.status.is_success())
    }

    pub async fn act(&self, executor: Ipv4Addr, body: &serde_json::Value) -> Done {
        let url = format!("http://{executor}:{CONTROL_PORT}/act");
        match self
            .call(reqwest::Method::POST, &url, None, Some(body))
            .await
        {
            Ok(r) if r.status.is_success() => Ok("accepted".into()),
            Ok(r) => Err(format!("executor answered {}", r.status)),
            Err(e) => Err(format!("executor unreachable: {e}")),
        }
    }

    pub async fn block(&self, gateway: Ipv4Addr, source: &str, block: bool) -> Done {
        let base = format!("http://{gateway}:{CONTROL_PORT}/blocks");
        let sent = if block {
            let body = json!({"source": source});
            self.call(reqwest::Method::POST, &base, None, Some(&body))
                .await
        } else {
            let url = format!("{base}/{source}");
            self.call(reqwest::Method::DELETE, &url, None, None).await
        };
        let answer: serde_json::Value = match sent {
            Ok(r) if r.status.is_success() => r.json()?,
            Ok(r) => return Err(format!("gateway answered {}", r.status)),
            Err(e) => return Err(format!("gateway unreachable: {e}")),
        };
        if answer["changed"] == json!(false) {
            return Err(if block {
                "already blocked".into()
            } else {
                "not blocked".into()
            });
        }
        // Confirm against the gateway's rule list.
        let list: Vec<String> = self.list(&base).await?;
        match (block, list.iter().any(|s| s == source)) {
            (true, true) => Ok(format!("gateway blocks {source} (confirmed)")),
            (false, false) => Ok(format!("gateway lets {source} through again (confirmed)")),
            _ => Err("the gateway's rule list does not show the change".into()),
        }
    }

    /// A control API's list (the gateway's blocks, a firewall's segments), read back to
    /// confirm a change.
    async fn list<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<Vec<T>, String> {
        let answer = (self.call(reqwest::Method::GET, url, None, None).await)
            .map_err(|e| format!("cannot confirm: {e}"))?;
        answer.json().map_err(|e| format!("cannot confirm: {e}"))
    }

    /// Close (or reopen) the route `from` → `to` at a firewall, confirmed against its list.
    pub async fn segment(&self, firewall: Ipv4Addr, from: &str, to: &str, close: bool) -> Done {
        let base = format!("http://{firewall}:{CONTROL_PORT}/segments");
        let sent = if close {
            let body = json!({"from": from, "to": to});
            self.call(reqwest::Method::POST, &base, None, Some(&body))
                .await
        } else {
            let url = format!("{base}/{from}/{to}");
            self.call(reqwest::Method::DELETE, &url, None, None).await
        };
        match sent {
            Ok(r) if r.status.is_success() => {}
            Ok(r) if close && r.status == reqwest::StatusCode::CONFLICT => {
                return Err("already segmented".into());
            }
            Ok(r) if !close && r.status == reqwest::StatusCode::NOT_FOUND => {
                return Err("not segmented".into());
            }
            Ok(r) => return Err(format!("firewall answered {}", r.status)),
            Err(e) => return Err(format!("firewall unreachable: {e}")),
        }
        let list: Vec<serde_json::Value> = self.list(&base).await?;
        let listed = list.iter().any(|p| p["from"] == from && p["to"] == to);
        if listed == close {
            Ok(format!(
                "the firewall {} the route from {from} to {to}",
                if close { "closed" } else { "reopened" }
            ))
        } else {
            Err("the firewall's segment list does not show the change".into())
        }
    }

    /// A call to web's admin API as the range's console (`body`: a POST with it, else a GET):
    /// its JSON answer, or why there was none.
    async fn admin(
        &self,
        web: Ipv4Addr,
        token: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let url = format!("http://{web}:{SERVICE_PORT}/admin/{path}");
        let method = if body.is_some() {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let r = (self.call(method, &url, Some(token), body.as_ref()).await)
            .map_err(|e| format!("web unreachable: {e}"))?;
        if !r.status.is_success() {
            return Err(format!("web's admin API answered {}", r.status));
        }
        r.json()
    }

    /// The strings of a list in an admin API's answer (`{"accounts": [...]}`).
    fn listed(answer: &serde_json::Value, key: &str) -> Result<Vec<String>, String> {
        let list = (answer[key].as_array())
            .ok_or_else(|| format!("web's admin API answered {answer}, without {key}"))?;
        Ok((list.iter())
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect())
    }

    /// The accounts at `web` (not revoked) that log in with one of `candidates`, as its admin
    /// API reports them (`POST /admin/password-audit`).
    pub async fn password_audit(
        &self,
        web: Ipv4Addr,
        token: &str,
        candidates: &[&str],
    ) -> Result<Vec<String>, String> {
        let body = json!({ "candidates": candidates });
        let answer = self.admin(web, token, "password-audit", Some(body)).await?;
        Self::listed(&answer, "accounts")
    }

    /// The management endpoints `web` answers to anyone, as its admin API reports them
    /// (`GET /admin/management`).
    pub async fn management(&self, web: Ipv4Addr, token: &str) -> Result<Vec<String>, String> {
        let answer = self.admin(web, token, "management", None).await?;
        Self::listed(&answer, "endpoints")
    }

    /// Give `identity` at `web` the password `password` (`POST /admin/rotate`): `Ok(how many
    /// of its sessions ended)`.
    pub async fn rotate(
        &self,
        web: Ipv4Addr,
        token: &str,
        identity: &str,
        password: &str,
    ) -> Result<u64, String> {
        let body = json!({ "identity": identity, "password": password });
        let answer = self.admin(web, token, "rotate", Some(body)).await?;
        Ok(answer["ended"].as_u64().unwrap_or_default())
    }

    pub async fn revoke(&self, web: Ipv4Addr, token: &str, identity: &str) -> Done {
        let body = json!({ "identity": identity });
        let answer = self.admin(web, token, "revoke", Some(body)).await?;
        let status = (self.admin(web, token, &format!("status?identity={identity}"), None))
            .await
            .map_err(|e| format!("cannot confirm: {e}"))?;
        if status["revoked"] == json!(true) {
            Ok(format!(
                "revoked {} credential(s) and session(s) of {identity} (confirmed)",
                answer["revoked"]
            ))
        } else {
            Err("web does not show the identity as revoked".into())
        }
    }
}

/// Run a command in a container and wait for it; `Ok(output)` when it exits 0.
pub async fn exec(
    docker: &Docker,
    container: &str,
    cmd: Vec<String>,
    on_created: impl FnOnce(&str),
) -> Done {
    let created = docker
        .create_exec(
            container,
            ExecConfig {
                cmd: Some(cmd),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("cannot exec: {e}"))?;
    on_created(&created.id);
    let mut output = String::new();
    match docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| format!("cannot exec: {e}"))?
    {
        StartExecResults::Attached {
            output: mut stream, ..
        } => {
            while let Some(Ok(chunk)) = stream.next().await {
                output.push_str(&chunk.to_string());
            }
        }
        StartExecResults::Detached => {}
    }
    let inspect = docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| e.to_string())?;
    match inspect.exit_code {
        Some(0) => Ok(output.trim().to_string()),
        code => Err(format!("exited {code:?}: {}", output.trim())),
    }
}

/// Start a worker job through `labd ctl` inside the container.
pub async fn job(
    docker: &Docker,
    container: &str,
    path: &str,
    body: &serde_json::Value,
    on_created: impl FnOnce(&str),
) -> Done {
    let cmd = vec!["/labd".into(), "ctl".into(), path.into(), body.to_string()];
    exec(docker, container, cmd, on_created).await
}

async fn lab_networks_of(
    docker: &Docker,
    container: &str,
    lab_networks: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let inspect = docker
        .inspect_container(container, None)
        .await
        .map_err(|e| e.to_string())?;
    let attached = inspect
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default();
    Ok(lab_networks
        .values()
        .filter(|id| {
            attached
                .values()
                .any(|ep| ep.network_id.as_deref() == Some(id.as_str()))
        })
        .cloned()
        .collect())
}

/// Disconnect a container from every network of its lab, then confirm.
pub async fn isolate(
    docker: &Docker,
    container: &str,
    lab_networks: &BTreeMap<String, String>,
) -> Done {
    let attached = lab_networks_of(docker, container, lab_networks).await?;
    if attached.is_empty() {
        return Err("already isolated".into());
    }
    for net in &attached {
        docker
            .disconnect_network(
                net,
                NetworkDisconnectRequest {
                    container: container.to_string(),
                    force: Some(true),
                },
            )
            .await
            .map_err(|e| format!("disconnect failed: {e}"))?;
    }
    if lab_networks_of(docker, container, lab_networks)
        .await?
        .is_empty()
    {
        Ok(format!(
            "disconnected from {} network(s) (confirmed)",
            attached.len()
        ))
    } else {
        Err("still attached after disconnecting".into())
    }
}

/// Connect a container back to its zones' networks (with its service id as alias), then confirm.
pub async fn reconnect(
    docker: &Docker,
    container: &str,
    service: &str,
    zones: &[String],
    lab_networks: &BTreeMap<String, String>,
) -> Done {
    let attached = lab_networks_of(docker, container, lab_networks).await?;
    if !attached.is_empty() {
        return Err("not isolated".into());
    }
    for zone in zones {
        let Some(net) = lab_networks.get(zone) else {
            continue;
        };
        docker
            .connect_network(
                net,
                NetworkConnectRequest {
                    container: container.to_string(),
                    endpoint_config: Some(EndpointSettings {
                        aliases: Some(vec![service.to_string()]),
                        ..Default::default()
                    }),
                },
            )
            .await
            .map_err(|e| format!("connect failed: {e}"))?;
    }
    let now = lab_networks_of(docker, container, lab_networks)
        .await?
        .len();
    if now == zones.len() {
        Ok(format!("reconnected to {now} network(s) (confirmed)"))
    } else {
        Err(format!("attached to {now} of {} networks", zones.len()))
    }
}

/// The lab's network of `zone`, and whether the container is attached to it now.
async fn zone_network<'a>(
    docker: &Docker,
    container: &str,
    zone: &str,
    lab_networks: &'a BTreeMap<String, String>,
) -> Result<(&'a String, bool), String> {
    let net = lab_networks
        .get(zone)
        .ok_or_else(|| format!("the lab has no {zone} network"))?;
    let attached = lab_networks_of(docker, container, lab_networks).await?;
    Ok((net, attached.contains(net)))
}

/// Disconnect a container from one zone's network of its lab (its others stay), then confirm.
pub async fn detach(
    docker: &Docker,
    container: &str,
    zone: &str,
    lab_networks: &BTreeMap<String, String>,
) -> Done {
    let (net, attached) = zone_network(docker, container, zone, lab_networks).await?;
    if !attached {
        return Err(format!(
            "not attached to {zone} (already detached or isolated)"
        ));
    }
    let request = NetworkDisconnectRequest {
        container: container.to_string(),
        force: Some(true),
    };
    docker
        .disconnect_network(net, request)
        .await
        .map_err(|e| format!("disconnect failed: {e}"))?;
    let now = lab_networks_of(docker, container, lab_networks).await?;
    if now.contains(net) {
        Err(format!("still attached to {zone} after disconnecting"))
    } else {
        let left = now.len();
        Ok(format!(
            "disconnected from the {zone} network, {left} network(s) left (confirmed)"
        ))
    }
}

/// Connect a container to one zone's network again (with its service id as alias), then
/// confirm.
pub async fn attach(
    docker: &Docker,
    container: &str,
    service: &str,
    zone: &str,
    lab_networks: &BTreeMap<String, String>,
) -> Done {
    let (net, attached) = zone_network(docker, container, zone, lab_networks).await?;
    if attached {
        return Err(format!("already attached to {zone}"));
    }
    let request = NetworkConnectRequest {
        container: container.to_string(),
        endpoint_config: Some(EndpointSettings {
            aliases: Some(vec![service.to_string()]),
            ..Default::default()
        }),
    };
    docker
        .connect_network(net, request)
        .await
        .map_err(|e| format!("connect failed: {e}"))?;
    if lab_networks_of(docker, container, lab_networks)
        .await?
        .contains(net)
    {
        Ok(format!("connected to the {zone} network again (confirmed)"))
    } else {
        Err(format!("not attached to {zone} after connecting"))
    }
}

/// Lower a container's limits. On cgroup v1 the kernel refuses a memory limit below what the
/// container uses; then the container is restarted under the new limits (what an operator does),
/// which ends whatever was hogging it.
pub async fn cap(
    docker: &Docker,
    container: &str,
    cpu_cores: Option<f32>,
    memory_mib: Option<u32>,
    pids: Option<u32>,
) -> Done {
    let body = ContainerUpdateBody {
        nano_cpus: cpu_cores.map(|c| (f64::from(c) * 1e9) as i64),
        memory: memory_mib.map(|m| i64::from(m) * 1024 * 1024),
        memory_swap: memory_mib.map(|m| i64::from(m) * 1024 * 1024),
        pids_limit: pids.map(i64::from),
        ..Default::default()
    };
    let mut restarted = false;
    if let Err(first) = docker.update_container(container, body.clone()).await {
        if memory_mib.is_none() {
            return Err(format!("update refused: {first}"));
        }
        docker
            .stop_container(
                container,
                Some(StopContainerOptionsBuilder::default().t(1).build()),
            )
            .await
            .map_err(|e| format!("update refused ({first}) and stop failed: {e}"))?;
        docker
            .update_container(container, body)
            .await
            .map_err(|e| format!("update refused even when stopped: {e}"))?;
        docker
            .start_container(
                container,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(|e| format!("restart failed: {e}"))?;
        restarted = true;
    }
    let host = docker
        .inspect_container(container, None)
        .await
        .map_err(|e| e.to_string())?
        .host_config
        .unwrap_or_default();
    let cpu_ok = cpu_cores.is_none_or(|c| host.nano_cpus == Some((f64::from(c) * 1e9) as i64));
    let mem_ok = memory_mib.is_none_or(|m| host.memory == Some(i64::from(m) * 1024 * 1024));
    let pids_ok = pids.is_none_or(|p| host.pids_limit == Some(i64::from(p)));
    if cpu_ok && mem_ok && pids_ok {
        Ok(if restarted {
            "limits applied (confirmed); its memory was above the new limit, so it was restarted under it".into()
        } else {
            "limits applied (confirmed)".into()
        })
    } else {
        Err("inspect does not show the new limits".into())
    }
}

/// Pause, unpause, stop or restart, then confirm the state by inspect.
pub async fn set_state(docker: &Docker, container: &str, verb: &str) -> Done {
    let state = || async {
        docker
            .inspect_container(container, None)
            .await
            .map_err(|e| e.to_string())
            .map(|i| i.state.unwrap_or_default())
    };
    let before = state().await?;
    let running = before.running == Some(true);
    let paused = before.paused == Some(true);
    let result = match verb {
        "pause" if !running || paused => return Err("not running".into()),
        "unpause" if !paused => return Err("not paused".into()),
        "stop" if !running => return Err("already stopped".into()),
        "pause" => docker.pause_container(container).await,
        "unpause" => docker.unpause_container(container).await,
        "stop" => {
            docker
                .stop_container(
                    container,
                    Some(StopContainerOptionsBuilder::default().t(2).build()),
                )
                .await
        }
        _ => {
            docker
                .restart_container(
                    container,
                    Some(RestartContainerOptionsBuilder::default().t(2).build()),
                )
                .await
        }
    };
    result.map_err(|e| format!("{verb} failed: {e}"))?;
    let after = state().await?;
    let confirmed = match verb {
        "pause" => after.paused == Some(true),
        "unpause" => after.paused != Some(true) && after.running == Some(true),
        "stop" => after.running != Some(true),
        _ => after.running == Some(true),
    };
    if confirmed {
        Ok(format!("{verb} done (confirmed)"))
    } else {
        Err(format!("inspect does not confirm the {verb}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_become_labd_act_bodies_with_the_run_s_password() {
        let passwords = BTreeMap::from([("alice".to_string(), "s3cret".to_string())]);
        let read = Action::ReadData {
            identity: "alice".into(),
            source: "198.51.100.23".into(),
            dataset: "customers".into(),
            records: 250,
            via: Some("partner-portal".into()),
        };
        let body = act_body(17, &read, &passwords, 3, "partner-gateway:8080").unwrap();
        assert_eq!(body["trace"], 17);
        assert_eq!(body["gateway"], "partner-gateway:8080");
        assert_eq!(body["password"], "s3cret");
        assert_eq!(body["do"]["kind"], "read_data");
        assert_eq!(body["do"]["records"], 250);
        let flood = Action::Flood {
            source: "203.0.113.9".into(),
            rps: 300,
            seconds: 30,
            endpoint: "/public/catalog".into(),
            via: None,
        };
        let body = act_body(2, &flood, &passwords, 3, "gateway:8080").unwrap();
        assert_eq!(body["do"]["seconds"], 3, "durations are wall seconds");
        assert!(body.get("identity").is_none());
        assert!(
            act_body(
                1,
                &Action::Backup {
                    service: "tenant-b".into(),
                    seconds: 5
                },
                &passwords,
                1,
                "gateway:8080"
            )
            .is_none()
        );
    }
}
