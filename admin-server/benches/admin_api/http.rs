//! A minimal HTTP/1.1 client for the harness: one keep-alive connection,
//! each request written and its response read on the calling task, the way
//! sqlx talks to Postgres on the direct side. A general client (reqwest)
//! hands every request to a connection task and the response back through
//! channels; those hand-offs are the client's cost, not the server's, and
//! on two cores they are a good part of a sub-millisecond round trip (the
//! harness prints both clients' round trips, so the difference is visible,
//! and `--client reqwest` times every shape with reqwest instead).

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The client the harness times the server with (`--client lean|reqwest`).
pub enum Client {
    Lean(Http),
    Reqwest {
        client: reqwest::Client,
        addr: std::net::SocketAddr,
    },
}

impl Client {
    pub async fn connect(kind: ClientKind, addr: std::net::SocketAddr) -> anyhow::Result<Client> {
        Ok(match kind {
            ClientKind::Lean => Client::Lean(Http::connect(addr).await?),
            ClientKind::Reqwest => Client::Reqwest {
                client: reqwest::Client::new(),
                addr,
            },
        })
    }

    pub async fn get(&mut self, path: &str, token: &str) -> anyhow::Result<Response> {
        match self {
            Client::Lean(http) => http.get(path, token).await,
            Client::Reqwest { client, addr } => {
                let response = client
                    .get(format!("http://{addr}{path}"))
                    .bearer_auth(token)
                    .send()
                    .await?;
                Ok(Response {
                    status: response.status().as_u16(),
                    body: response.bytes().await?.to_vec(),
                })
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Lean,
    Reqwest,
}

impl std::str::FromStr for ClientKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<ClientKind> {
        match s {
            "lean" => Ok(ClientKind::Lean),
            "reqwest" => Ok(ClientKind::Reqwest),
            other => bail!("--client takes `lean` or `reqwest`, not `{other}`"),
        }
    }
}

pub struct Http {
    stream: TcpStream,
    host: String,
    buffer: Vec<u8>,
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Http {
    pub async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Http> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http {
            stream,
            host: addr.to_string(),
            buffer: Vec::with_capacity(1 << 20),
        })
    }

    /// `GET path` with a bearer token; the body is read in full.
    pub async fn get(&mut self, path: &str, token: &str) -> anyhow::Result<Response> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\n\r\n",
            self.host
        );
        self.stream.write_all(request.as_bytes()).await?;
        self.buffer.clear();
        let head_len = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at + 4;
            }
            self.read_more().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_len]).context("response head")?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("status line")?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())
                    .flatten()
            })
            .context("the server always sends content-length")?;
        while self.buffer.len() < head_len + length {
            self.read_more().await?;
        }
        if self.buffer.len() > head_len + length {
            bail!("bytes after the response");
        }
        Ok(Response {
            status,
            body: self.buffer[head_len..].to_vec(),
        })
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        if self.stream.read_buf(&mut self.buffer).await? == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
