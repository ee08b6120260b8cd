//! HTTP/2 long polls for the waiting-room test: what a phone behind a modern load balancer
//! speaks. Many waiters share one connection as streams, so a waiter costs the server a stream
//! and a parked handler, not a socket with HTTP/1 buffers, and the open-file limit stops
//! bounding how many can wait.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// Streams the test opens per connection: half of hyper's server default of 200 concurrent
/// streams, so no stream waits for another to finish.
pub const STREAMS_PER_CONNECTION: usize = 100;

/// A cleartext HTTP/2 connection (prior knowledge, as a load balancer speaks to its backends);
/// clone the sender for each stream.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when every sender is dropped or the server closes it.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends `GET path` as a new stream; `on_sent` runs once the request is handed to the
/// connection (the poll is open from then on). Returns the status and the body.
pub async fn get(
    sender: &mut SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
    on_sent: impl FnOnce(),
) -> anyhow::Result<(u16, Vec<u8>)> {
    sender.ready().await?;
    let request = hyper::Request::get(format!("http://{addr}{path}")).body(Empty::<Bytes>::new())?;
    let answer = sender.send_request(request);
    on_sent();
    let response = answer.await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}
