//! The `/metrics` listener: a minimal HTTP/1.1 server for one endpoint,
//! `GET /metrics`, one request per connection. Built on tokio alone (no
//! HTTP framework) because it serves one static route; what it needs is
//! bounded resources: at most [`MAX_CONNECTIONS`] connections at once, each
//! with deadlines, and a growing pause when `accept` fails (out of
//! descriptors), instead of retrying at once and spinning a core.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::telemetry::Telemetry;

/// Connections served at once. Prometheus scrapes with one; the rest are
/// operators' curls. Past it, connections wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 16;

/// How long a client may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client may take to read the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The first pause after a failed `accept`; it doubles per failure in a row.
const BACKOFF_FIRST: Duration = Duration::from_millis(10);

/// The longest pause after a failed `accept`.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Largest request head read; anything longer is not a scrape.
const MAX_HEAD: usize = 4096;

/// Serves `GET /metrics` (and nothing else) on the listener, forever.
pub async fn serve(listener: TcpListener, telemetry: Arc<Telemetry>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff: Option<Duration> = None;
    loop {
        // A permit before accepting: over the cap, a connection costs this
        // process nothing (it waits in the listen backlog).
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff = None;
                let telemetry = telemetry.clone();
                tokio::spawn(async move {
                    handle(stream, &telemetry).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE, ENFILE, ENOMEM: the connection stays queued, so an
                // immediate retry fails again at once. Log once per streak.
                let pause = match backoff {
                    None => {
                        tracing::warn!(error = %e, "metrics listener cannot accept; backing off");
                        BACKOFF_FIRST
                    }
                    Some(p) => (p * 2).min(BACKOFF_MAX),
                };
                backoff = Some(pause);
                drop(permit);
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Reads one request head and answers it; every step has a deadline.
async fn handle(mut stream: TcpStream, telemetry: &Telemetry) {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        while len < buf.len() {
            let n = stream.read(&mut buf[len..]).await?;
            if n == 0 {
                break;
            }
            len += n;
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    let request = String::from_utf8_lossy(&buf[..len]);
    let (status, body) = match request.split_whitespace().take(2).collect::<Vec<_>>()[..] {
        ["GET", "/metrics"] => ("200 OK", telemetry.render()),
        ["GET", _] => ("404 Not Found", "not found; try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "only GET\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}
