//! A fault-injecting HTTP proxy for the storage fault cases: it sits on loopback between the
//! runner and the S3 server and, per request, forwards, cuts, delays or answers in the
//! server's place. Every request is made to close its connection (`Connection: close`), so
//! each one passes through the fault logic. Bounded in time: sockets time out, delays are
//! finite, and dropping the proxy stops it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const SOCKET_TIMEOUT: Duration = Duration::from_secs(20);

/// What the proxy does to requests whose path contains `pattern` (all requests for
/// `Status` and `Forbidden`).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Forward the request, then close the connection after this many response bytes.
    CutAfter { bytes: usize, pattern: String },
    /// Forward the request, and hold the response this long first.
    Delay { by: Duration, pattern: String },
    /// Answer every `every`th request with `status` (a 5xx: retryable) in the server's place.
    Status { status: u16, every: usize },
    /// Answer every request with 403 AccessDenied, as for wrong credentials.
    Forbidden,
    /// Answer GETs with 404 NoSuchKey: the object was deleted after the listing.
    Gone { pattern: String },
}

pub struct Proxy {
    pub endpoint: String,
    /// Requests seen, faulted or not.
    pub requests: Arc<AtomicUsize>,
    /// Requests the fault applied to.
    pub faulted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    port: u16,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, fault: Fault) -> Proxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let faulted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, f, s) = (requests.clone(), faulted.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (upstream, fault, r, f) =
                    (upstream.clone(), fault.clone(), r.clone(), f.clone());
                std::thread::spawn(move || {
                    let _ = handle(client, &upstream, &fault, &r, &f);
                });
            }
        });
        Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            requests,
            faulted,
            stop,
            port,
            accept: Some(accept),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn handle(
    mut client: TcpStream,
    upstream: &str,
    fault: &Fault,
    requests: &AtomicUsize,
    faulted: &AtomicUsize,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    client.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    let Some((head, rest)) = read_head(&mut client)? else {
        return Ok(());
    };
    let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let is_object_get = method == "GET" && !path.contains("list-type") && !path.ends_with('/');
    let matches = |pattern: &str| path.contains(pattern);

    let answer = |client: &mut TcpStream, status: u16, code: &str| -> std::io::Result<()> {
        faulted.fetch_add(1, Ordering::SeqCst);
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{code} (injected by the test proxy)</Message></Error>"
        );
        write!(
            client,
            "HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        client.flush()
    };
    match fault {
        Fault::Status { status, every } if n.is_multiple_of(*every) => {
            return answer(&mut client, *status, "SlowDown");
        }
        Fault::Forbidden => return answer(&mut client, 403, "AccessDenied"),
        Fault::Gone { pattern } if is_object_get && matches(pattern) => {
            return answer(&mut client, 404, "NoSuchKey");
        }
        _ => {}
    }

    let mut server = TcpStream::connect(upstream)?;
    server.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    server.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    server.write_all(close_after(&head).as_bytes())?;
    // The request body, if any: what came with the head, then the rest of Content-Length.
    let length = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    server.write_all(&rest)?;
    let mut left = length.saturating_sub(rest.len());
    let mut buf = vec![0u8; 64 << 10];
    while left > 0 {
        let take = left.min(buf.len());
        let got = client.read(&mut buf[..take])?;
        if got == 0 {
            break;
        }
        server.write_all(&buf[..got])?;
        left -= got;
    }

    let (cut, delay) = match fault {
        Fault::CutAfter { bytes, pattern } if is_object_get && matches(pattern) => {
            faulted.fetch_add(1, Ordering::SeqCst);
            (Some(*bytes), None)
        }
        Fault::Delay { by, pattern } if matches(pattern) => {
            faulted.fetch_add(1, Ordering::SeqCst);
            (None, Some(*by))
        }
        _ => (None, None),
    };
    if let Some(by) = delay {
        std::thread::sleep(by);
    }
    let mut sent = 0usize;
    loop {
        let got = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(got) => got,
        };
        let allowed = cut.map_or(got, |c| got.min(c - sent));
        client.write_all(&buf[..allowed])?;
        sent += allowed;
        if cut.is_some_and(|c| sent >= c) {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// Reads up to the end of the request head; returns it and any body bytes read with it.
fn read_head(client: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end + 4]).into_owned();
            return Ok(Some((head, data[end + 4..].to_vec())));
        }
        if data.len() > 64 << 10 {
            return Ok(None);
        }
        let got = client.read(&mut buf)?;
        if got == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buf[..got]);
    }
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The head with `Connection: close`, so the server ends the connection after one answer.
fn close_after(head: &str) -> String {
    let mut out = String::new();
    for line in head.trim_end_matches("\r\n").split("\r\n") {
        if line
            .split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}
