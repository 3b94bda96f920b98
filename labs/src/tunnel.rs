//! The driver's path to labd on a Swarm node whose lab addresses it cannot route to: HTTP over
//! `docker exec <container> /labd pipe <port>` on that node's engine. The node's Docker API,
//! which the driver needs anyway for mitigations and telemetry, carries it, so the path needs
//! no port, secret or agent of its own and is as safe as that API's transport (a local socket,
//! or one an SSH tunnel forwards). Connections are pooled: one exec per connection, not per call.

use std::net::Ipv4Addr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::ListContainersOptionsBuilder;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::io::StreamReader;

use crate::labels;

/// The command a pipe exec runs; `events` knows it for the driver's own plumbing.
pub const PIPE_COMMAND: &str = "/labd pipe";

/// How long a pooled connection (and its exec, two pids in the container) may stay idle.
const IDLE_FOR: Duration = Duration::from_secs(20);

/// Calls in flight at once per lab, so connections (each two pids under a container's limit
/// of 64, which the detector also watches) stay few; more wait their turn.
const CALLS_AT_ONCE: usize = 4;

/// Idle connections kept per container.
const IDLE_PER_CONTAINER: usize = 2;

/// HTTP to the labs of one session on one node's engine, through pipe execs.
#[derive(Clone)]
pub struct Tunnel {
    client: Client<ExecConnector, Full<Bytes>>,
    calls: std::sync::Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tunnel")
    }
}

/// One answer from labd: status and body.
pub struct Answer {
    pub status: hyper::StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("not the JSON expected: {e}"))
    }
}

impl Tunnel {
    /// The path to session `session`'s containers on the engine `docker`.
    pub fn new(docker: Docker, session: &str) -> Self {
        let connector = ExecConnector {
            docker,
            session: session.to_owned(),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_FOR)
            .pool_max_idle_per_host(IDLE_PER_CONTAINER)
            .build(connector);
        Tunnel {
            client,
            calls: std::sync::Arc::new(tokio::sync::Semaphore::new(CALLS_AT_ONCE)),
        }
    }

    /// Send `request` (an `http://<lab address>:<port>/…` URI) and read the whole answer.
    pub async fn send(&self, request: hyper::Request<Full<Bytes>>) -> Result<Answer, String> {
        let _turn = (self.calls.acquire().await).map_err(|e| e.to_string())?;
        let response = (self.client.request(request).await).map_err(|e| describe(&e))?;
        let status = response.status();
        let body = (response.into_body().collect().await)
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Answer { status, body })
    }
}

/// A client error with its causes: hyper-util's own says only "client error (Connect)".
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Opens a connection to `<lab address>:<port>` as a pipe exec in the container holding the
/// address, found among the session's running containers when the connection opens (a fix or
/// a reconnect may have moved the address since the last one).
#[derive(Clone)]
pub struct ExecConnector {
    docker: Docker,
    session: String,
}

impl tower_service::Service<Uri> for ExecConnector {
    type Response = TokioIo<ExecStream>;
    type Error = std::io::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.open(&uri).await.map(TokioIo::new) })
    }
}

impl ExecConnector {
    async fn open(&self, uri: &Uri) -> std::io::Result<ExecStream> {
        let address: Ipv4Addr = (uri.host().unwrap_or_default().parse())
            .map_err(|_| invalid(format!("{uri}: not a lab address")))?;
        let port = uri.port_u16().unwrap_or(80);
        let container = self.container_at(address).await?;
        let config = ExecConfig {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(false),
            cmd: Some(vec!["/labd".into(), "pipe".into(), port.to_string()]),
            ..Default::default()
        };
        let exec = (self.docker.create_exec(&container, config).await).map_err(io)?;
        let started = self.docker.start_exec(&exec.id, None::<StartExecOptions>);
        match started.await.map_err(io)? {
            StartExecResults::Attached { output, input } => Ok(ExecStream {
                output: StreamReader::new(Box::pin(output.filter_map(stdout_bytes))),
                input,
            }),
            StartExecResults::Detached => Err(std::io::Error::other("the exec did not attach")),
        }
    }

    /// The id of the session's running container holding `address` on one of its networks.
    async fn container_at(&self, address: Ipv4Addr) -> std::io::Result<String> {
        let filters = std::collections::HashMap::from([(
            "label",
            vec![format!("{}={}", labels::SESSION, self.session)],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .filters(&filters)
            .build();
        let listed = (self.docker.list_containers(Some(options)).await).map_err(io)?;
        let wanted = address.to_string();
        (listed.into_iter())
            .find(|c| {
                let networks = c
                    .network_settings
                    .as_ref()
                    .and_then(|n| n.networks.as_ref());
                (networks.into_iter().flat_map(|n| n.values()))
                    .any(|e| e.ip_address.as_deref() == Some(wanted.as_str()))
            })
            .and_then(|c| c.id)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    format!("no running container of the lab holds {address}"),
                )
            })
    }
}

/// What the pipe wrote to stdout, as bytes for the reader (its stderr is not part of the
/// answer and goes unread).
async fn stdout_bytes(
    item: Result<LogOutput, bollard::errors::Error>,
) -> Option<std::io::Result<Bytes>> {
    match item {
        Ok(LogOutput::StdOut { message }) => Some(Ok(message)),
        Ok(_) => None,
        Err(e) => Some(Err(io(e))),
    }
}

fn io(e: bollard::errors::Error) -> std::io::Error {
    std::io::Error::other(e)
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, what)
}

type Output = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// One pipe exec as a byte stream: its stdout to read, its stdin to write.
pub struct ExecStream {
    output: StreamReader<Output, Bytes>,
    input: Pin<Box<dyn AsyncWrite + Send>>,
}

impl Connection for ExecStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for ExecStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.output).poll_read(cx, buf)
    }
}

impl AsyncWrite for ExecStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.input.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.input.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.input.as_mut().poll_shutdown(cx)
    }
}
