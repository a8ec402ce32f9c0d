//! A hostile S3 endpoint on loopback, written for the faults of issue 16's Medium 6: it
//! answers ListObjectsV2 and GETs of one bucket itself (no real server behind it) and lies
//! the way an attacker's endpoint would: a body trickled a byte at a time, longer or shorter
//! than the listing says, or list pages without end. One request per connection
//! (`Connection: close`); every socket times out and dropping the server stops it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const SOCKET_TIMEOUT: Duration = Duration::from_secs(20);
/// What every listed object is said to weigh.
pub const LISTED: u64 = 1024;

/// How the endpoint lies.
#[derive(Clone, Debug)]
pub enum Lie {
    /// Lists `objects` objects of [`LISTED`] bytes in one set, and sends each a byte every
    /// `every` (the head at once): under any stall timeout, never ending in practice.
    Trickle { objects: usize, every: Duration },
    /// Lists one object of [`LISTED`] bytes and sends bytes without end (64 GiB announced).
    Longer,
    /// Lists one object of [`LISTED`] bytes and sends half of them (as its whole body).
    Shorter,
    /// Lists one object whose key is not valid UTF-8 (a `\xff` byte in the XML).
    NotUtf8,
    /// Lists page after page, each with `per_page` keys in new set folders and a
    /// continuation token: a listing without end.
    EndlessPages { per_page: usize },
}

pub struct FakeS3 {
    pub endpoint: String,
    /// List requests answered.
    pub pages: Arc<AtomicU64>,
    /// Object bytes sent, across every GET.
    pub sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    port: u16,
    accept: Option<JoinHandle<()>>,
}

impl FakeS3 {
    pub fn start(lie: Lie) -> FakeS3 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let pages = Arc::new(AtomicU64::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, b, s) = (pages.clone(), sent.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (lie, p, b, s) = (lie.clone(), p.clone(), b.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = answer(client, &lie, &p, &b, &s);
                });
            }
        });
        FakeS3 {
            endpoint: format!("http://127.0.0.1:{port}"),
            pages,
            sent,
            stop,
            port,
            accept: Some(accept),
        }
    }
}

impl Drop for FakeS3 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn answer(
    mut client: TcpStream,
    lie: &Lie,
    pages: &AtomicU64,
    sent: &AtomicU64,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    client.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    let Some(head) = read_head(&mut client)? else {
        return Ok(());
    };
    let line = head.lines().next().unwrap_or_default().to_string();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or(""));
    if target.contains("list-type=2") {
        let n = pages.fetch_add(1, Ordering::SeqCst);
        let mut body = list_page(lie, n, target.contains("continuation-token")).into_bytes();
        if let Lie::NotUtf8 = lie {
            let at = body.windows(5).position(|w| w == b"-utf8").unwrap();
            body[at] = 0xff;
        }
        return reply(
            &mut client,
            "200 OK",
            "application/xml",
            body.len() as u64,
            &body,
        );
    }
    let (length, body): (u64, Vec<u8>) = match lie {
        Lie::Shorter => (LISTED / 2, vec![b's'; (LISTED / 2) as usize]),
        Lie::Longer => (64 << 30, Vec::new()),
        Lie::Trickle { .. } => (LISTED, Vec::new()),
        Lie::NotUtf8 => (LISTED, vec![b'o'; LISTED as usize]),
        Lie::EndlessPages { .. } => (LISTED, vec![b'o'; LISTED as usize]),
    };
    if method == "HEAD" {
        return reply(
            &mut client,
            "200 OK",
            "application/octet-stream",
            LISTED,
            b"",
        );
    }
    reply(
        &mut client,
        "200 OK",
        "application/octet-stream",
        length,
        &body,
    )?;
    sent.fetch_add(body.len() as u64, Ordering::SeqCst);
    match lie {
        Lie::Trickle { every, .. } => {
            for _ in 0..LISTED {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                client.write_all(b"t")?;
                client.flush()?;
                sent.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(*every);
            }
        }
        Lie::Longer => {
            let chunk = vec![b'l'; 64 << 10];
            while !stop.load(Ordering::SeqCst) {
                client.write_all(&chunk)?;
                sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
        _ => {}
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// Page `n` of the listing; `next` when the request carried a continuation token.
fn list_page(lie: &Lie, n: u64, next: bool) -> String {
    let entry = |key: &str| {
        format!(
            "<Contents><Key>{key}</Key><LastModified>2026-11-25T00:00:00.000Z</LastModified>\
             <ETag>\"e\"</ETag><Size>{LISTED}</Size><StorageClass>STANDARD</StorageClass></Contents>"
        )
    };
    let (contents, truncated) = match lie {
        Lie::EndlessPages { per_page } => {
            let keys: String = (0..*per_page)
                .map(|i| {
                    entry(&format!(
                        "data/set-{n:08}-{i:05}/object-with-a-long-name.bin"
                    ))
                })
                .collect();
            (keys, true)
        }
        Lie::Trickle { objects, .. } if !next => {
            let keys: String = (0..*objects)
                .map(|i| entry(&format!("data/2026-11-25/object-{i}.bin")))
                .collect();
            (keys, false)
        }
        Lie::NotUtf8 if !next => (entry("data/2026-11-25/not-utf8.bin"), false),
        _ if !next => (entry("data/2026-11-25/object-0.bin"), false),
        _ => (String::new(), false),
    };
    let token = if truncated {
        format!(
            "<NextContinuationToken>page-{}</NextContinuationToken>",
            n + 1
        )
    } else {
        String::new()
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>hostile</Name>\
         <Prefix>data/</Prefix><MaxKeys>1000</MaxKeys><IsTruncated>{truncated}</IsTruncated>\
         {token}{contents}</ListBucketResult>"
    )
}

fn reply(
    client: &mut TcpStream,
    status: &str,
    kind: &str,
    length: u64,
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        client,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {length}\r\n\
         Last-Modified: Wed, 25 Nov 2026 00:00:00 GMT\r\nETag: \"e\"\r\nConnection: close\r\n\r\n"
    )?;
    client.write_all(body)?;
    client.flush()
}

fn read_head(client: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(String::from_utf8_lossy(&data[..end + 4]).into_owned()));
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
