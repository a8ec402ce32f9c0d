//! Mail as the tests receive it: the loopback SMTP server tests/run.sh starts (aiosmtpd),
//! the Maildir it stores into, and each message parsed by a MIME parser, never by the code
//! under test.

use std::path::{Path, PathBuf};

/// The loopback SMTP server started by tests/run.sh: (host, port).
pub fn smtp_server() -> (String, u16) {
    let addr = std::env::var("RESTORE_DRILL_TEST_SMTP").unwrap_or_else(|_| {
        panic!("RESTORE_DRILL_TEST_SMTP is not set: the mail tests need aiosmtpd; run them with `tests/run.sh`, which installs and starts it")
    });
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    (host.to_string(), port.parse().expect("port"))
}

/// The Maildir that server stores into.
pub fn maildir() -> PathBuf {
    PathBuf::from(
        std::env::var("RESTORE_DRILL_TEST_MAILDIR").unwrap_or_else(|_| {
            panic!("RESTORE_DRILL_TEST_MAILDIR is not set: run the mail tests with `tests/run.sh`")
        }),
    )
}

/// One message as it arrived, parsed by a MIME parser.
#[derive(Debug)]
pub struct Received {
    /// Envelope recipients, from the X-RcptTo header aiosmtpd adds.
    pub rcpt_to: String,
    pub subject: String,
    pub to: Vec<String>,
    pub text: String,
    pub html: String,
    /// (file name, content type, body)
    pub attachments: Vec<(String, String, Vec<u8>)>,
    pub headers: Vec<(String, String)>,
    pub raw: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one message file.
pub fn parse_mail(raw: Vec<u8>) -> Received {
    use mail_parser::{MessageParser, MimeHeaders};
    let message = MessageParser::default()
        .parse(&raw)
        .expect("a parsable MIME message");
    let headers = message
        .headers()
        .iter()
        .map(|h| {
            let value = match h.value() {
                mail_parser::HeaderValue::Text(t) => t.to_string(),
                other => format!("{other:?}"),
            };
            (h.name().to_string(), value)
        })
        .collect::<Vec<_>>();
    let rcpt_to = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("X-RcptTo"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let to = message
        .to()
        .map(|list| {
            list.iter()
                .filter_map(|a| a.address().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let attachments = message
        .attachments()
        .map(|a| {
            let ct = a
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
                .unwrap_or_default();
            (
                a.attachment_name().unwrap_or_default().to_string(),
                ct,
                a.contents().to_vec(),
            )
        })
        .collect();
    Received {
        rcpt_to,
        subject: message.subject().unwrap_or_default().to_string(),
        to,
        text: message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        html: message
            .body_html(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        attachments,
        headers,
        raw,
    }
}

/// Every message in `maildir` whose envelope recipients contain `tag`.
pub fn mail_for(maildir: &Path, tag: &str) -> Vec<Received> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let received = parse_mail(std::fs::read(entry.path()).unwrap());
            if received.rcpt_to.contains(tag) {
                out.push(received);
            }
        }
    }
    out
}
