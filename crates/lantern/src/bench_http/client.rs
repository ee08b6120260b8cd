//! A minimal HTTP/1.1 client over tokio `TcpStream`s, for the load generator.
//!
//! One request at a time per connection, kept alive between requests. It knows just what the
//! gateway sends back (a status line, `Content-Length` or chunked bodies, `Retry-After`,
//! `Connection: close`), so that tens of thousands of open connections cost the generator
//! a socket and a small buffer each, and a request costs a write and a read or two.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

/// Read buffer a connection starts with: an order's answer (about 700 bytes) fits.
const BUFFER_BYTES_INITIAL: usize = 2_048;
/// Largest answer read (head and body): the gateway's answers to the benchmark are small.
const ANSWER_BYTES_MAX: usize = 1 << 20;

/// One keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` read and not yet consumed.
    filled: usize,
    reusable: bool,
}

/// An answer: status, whether it carried `Retry-After`, and its (decoded) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub retry_after: bool,
    /// How long the gateway held the request in line before serving it, by `Lantern-Waited-Ms`
    /// (0 without the header: it was not held).
    pub waited_ms: u64,
    pub body: Vec<u8>,
}

/// What the head of an answer says about the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes of the status line and headers, including the blank line.
    pub head_bytes: usize,
    pub content_length: Option<usize>,
    pub chunked: bool,
    pub retry_after: bool,
    pub waited_ms: u64,
    pub close: bool,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: vec![0; BUFFER_BYTES_INITIAL], filled: 0, reusable: true })
    }

    /// Whether the server left the connection open for another request.
    pub fn reusable(&self) -> bool {
        self.reusable
    }

    /// Sends one whole request (see [`request`]) and reads its answer.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<Answer> {
        self.write(request).await?;
        self.read().await
    }

    /// Sends one whole request; [`Conn::read`] reads its answer.
    pub async fn write(&mut self, request: &[u8]) -> io::Result<()> {
        self.reusable = false;
        let mut rest = request;
        while !rest.is_empty() {
            self.stream.writable().await?;
            match self.stream.try_write(rest) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the server stopped reading")),
                Ok(n) => rest = &rest[n..],
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Reads the answer to the request written last.
    pub async fn read(&mut self) -> io::Result<Answer> {
        let head = loop {
            if let Some(head) = parse_head(&self.buf[..self.filled])? {
                break head;
            }
            self.fill().await?;
        };
        let body = if let Some(length) = head.content_length {
            let end = head.head_bytes.checked_add(length).filter(|end| *end <= ANSWER_BYTES_MAX);
            let end = end.ok_or_else(|| invalid("the answer is too large"))?;
            while self.filled < end {
                self.fill().await?;
            }
            let body = self.buf[head.head_bytes..end].to_vec();
            self.consume(end);
            body
        } else if head.chunked {
            loop {
                if let Some((body, used)) = decode_chunked(&self.buf[head.head_bytes..self.filled])? {
                    self.consume(head.head_bytes + used);
                    break body;
                }
                self.fill().await?;
            }
        } else if matches!(head.status, 100..=199 | 204 | 304) {
            self.consume(head.head_bytes);
            Vec::new()
        } else {
            // Delimited by the end of the connection.
            loop {
                match self.fill().await {
                    Ok(_) => {}
                    Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(error) => return Err(error),
                }
            }
            let body = self.buf[head.head_bytes..self.filled].to_vec();
            self.filled = 0;
            return Ok(Answer {
                status: head.status,
                retry_after: head.retry_after,
                waited_ms: head.waited_ms,
                body,
            });
        };
        self.reusable = !head.close;
        Ok(Answer { status: head.status, retry_after: head.retry_after, waited_ms: head.waited_ms, body })
    }

    /// Reads more bytes; the end of the stream is an error (an answer was still expected).
    async fn fill(&mut self) -> io::Result<()> {
        if self.filled == self.buf.len() {
            if self.buf.len() >= ANSWER_BYTES_MAX {
                return Err(invalid("the answer is too large"));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = loop {
            self.stream.readable().await?;
            match self.stream.try_read(&mut self.buf[self.filled..]) {
                Ok(n) => break n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        };
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        self.filled += n;
        Ok(())
    }

    fn consume(&mut self, used: usize) {
        self.buf.copy_within(used..self.filled, 0);
        self.filled -= used;
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// A whole HTTP/1.1 request. `Content-Length` is sent for every POST and every body.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(128 + path.len() + body.len() + headers.len() * 64);
    bytes.extend_from_slice(method.as_bytes());
    bytes.push(b' ');
    bytes.extend_from_slice(path.as_bytes());
    bytes.extend_from_slice(b" HTTP/1.1\r\nhost: lantern\r\n");
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == "POST" {
        bytes.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

/// The answer's head, once `buf` holds all of it (`None` until then).
pub fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let Some(end) = buf.windows(4).position(|window| window == b"\r\n\r\n") else {
        if buf.len() >= ANSWER_BYTES_MAX {
            return Err(invalid("the answer's head is too large"));
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| invalid("the answer's head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(invalid("the answer is not HTTP/1.x"));
    }
    let status: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("the status line has no status"))?;
    let mut head = Head {
        status,
        head_bytes: end + 4,
        content_length: None,
        chunked: false,
        retry_after: false,
        waited_ms: 0,
        close: version == "HTTP/1.0",
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            head.content_length = Some(value.parse().map_err(|_| invalid("bad Content-Length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = !value.is_empty();
        } else if name.eq_ignore_ascii_case("lantern-waited-ms") {
            // Present means held, whatever the value says.
            head.waited_ms = value.parse().unwrap_or(1).max(1);
        } else if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value.contains("close") {
                head.close = true;
            } else if value.contains("keep-alive") {
                head.close = false;
            }
        }
    }
    if head.chunked {
        head.content_length = None;
    }
    Ok(Some(head))
}

/// A chunked body decoded, and the bytes it took, once `buf` holds all of it (no trailers).
pub fn decode_chunked(buf: &[u8]) -> io::Result<Option<(Vec<u8>, usize)>> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_len) = buf[at..].windows(2).position(|window| window == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at..at + line_len]).map_err(|_| invalid("bad chunk size"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        at += line_len + 2;
        if size == 0 {
            // The last chunk, then (without trailers) one more CRLF.
            if buf.len() < at + 2 {
                return Ok(None);
            }
            if &buf[at..at + 2] != b"\r\n" {
                return Err(invalid("trailers are not supported"));
            }
            return Ok(Some((body, at + 2)));
        }
        if body.len() + size > ANSWER_BYTES_MAX {
            return Err(invalid("the answer is too large"));
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_a_length_for_posts() {
        let bytes = request("POST", "/v1/x", &[("idempotency-key", "k1")], b"{}");
        assert_eq!(
            String::from_utf8(bytes).expect("ascii"),
            "POST /v1/x HTTP/1.1\r\nhost: lantern\r\nidempotency-key: k1\r\ncontent-length: 2\r\n\r\n{}"
        );
        let bytes = request("GET", "/readyz", &[], b"");
        assert_eq!(String::from_utf8(bytes).expect("ascii"), "GET /readyz HTTP/1.1\r\nhost: lantern\r\n\r\n");
    }

    #[test]
    fn heads_are_parsed_once_complete() {
        let text = b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nRetry-After: 2\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(parse_head(&text[..40]).expect("partial"), None);
        let head = parse_head(text).expect("valid").expect("complete");
        assert_eq!(head.status, 429);
        assert_eq!(head.content_length, Some(5));
        assert!(head.retry_after && !head.chunked && !head.close);
        assert_eq!(&text[head.head_bytes..], b"hello");
        let head = parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(head.chunked && head.close && !head.retry_after);
        assert!(parse_head(b"SSH-2.0-x\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_bodies_are_decoded_once_complete() {
        let text = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\nnext";
        let (body, used) = decode_chunked(text).expect("valid").expect("complete");
        assert_eq!(body, b"hello, world");
        assert_eq!(&text[used..], b"next");
        assert_eq!(decode_chunked(&text[..20]).expect("partial"), None);
        assert_eq!(decode_chunked(b"0\r\n").expect("partial"), None);
    }
}
