//! A request refused before its body is read does not cost the client its connection.
//!
//! Every MCP client's sign-in starts with a POST to `/mcp` refused with 401 before
//! its body is read, and reuses the connection at once for the next step. Over plain
//! sockets against the real binary, with the body arriving after the refusal was
//! decided (as it does on a loaded machine): a small body is read to its end and the
//! connection serves the next request; a large one, one of unknown length, or one the
//! client holds back behind `Expect: 100-continue` gets `Connection: close` on the
//! refusal, so the client knows not to reuse it, and the server closes it.

mod nodes;

use nodes::{Node, ORG, serve};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

struct Reply {
    head: String,
}

impl Reply {
    fn status(&self) -> u16 {
        self.head[9..12].parse().unwrap()
    }

    fn closes(&self) -> bool {
        self.head
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n")
    }
}

fn connect(node: &Node) -> TcpStream {
    let stream = TcpStream::connect(node.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// The next response on `stream` (its body read by its length), or `None` when the
/// server closed the connection instead.
fn reply(stream: &mut TcpStream) -> Option<Reply> {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return None,
            Ok(_) => received.push(byte[0]),
        }
    }
    let head = String::from_utf8(received).unwrap();
    let length = head
        .to_ascii_lowercase()
        .lines()
        .find_map(|line| line.strip_prefix("content-length: ").map(str::to_string))
        .map_or(0, |length| length.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some(Reply { head })
}

/// Whether the server closes `stream` without sending anything more (a read timeout,
/// the connection left open, is not).
fn closed(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset && rest.is_empty(),
    }
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

fn post_head(node: &Node, length: &str, more: &str) -> String {
    let host = node.url.trim_start_matches("http://");
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n{length}{more}\r\n"
    )
}

/// The next reply is a 401 saying `Connection: close`, and the server closes.
fn refused_then_closed(stream: &mut TcpStream) {
    let refused = reply(stream).expect("the refusal");
    assert_eq!(refused.status(), 401, "{}", refused.head);
    assert!(refused.closes(), "{}", refused.head);
    assert!(closed(stream));
}

fn health(node: &Node, stream: &mut TcpStream) -> Option<Reply> {
    let host = node.url.trim_start_matches("http://");
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .ok()?;
    reply(stream)
}

#[test]
fn a_refusal_before_the_body_arrived_keeps_or_closes_the_connection_as_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("moat.toml");
    std::fs::write(&config, ORG).unwrap();
    let node = serve(&config, "");

    // A small body sent after the server has decided: read to its end, and the
    // connection answers the next request.
    let mut stream = connect(&node);
    let head = post_head(
        &node,
        &format!("Content-Length: {}\r\n", INITIALIZE.len()),
        "",
    );
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(INITIALIZE.as_bytes()).unwrap();
    let refused = reply(&mut stream).expect("the refusal");
    assert_eq!(refused.status(), 401, "{}", refused.head);
    assert!(!refused.closes(), "{}", refused.head);
    let next = health(&node, &mut stream).expect("the same connection answers the next request");
    assert_eq!(next.status(), 200, "{}", next.head);

    // Declared larger than is worth reading: the refusal says the connection closes,
    // and it does.
    let mut stream = connect(&node);
    let large = 200 * 1024;
    stream
        .write_all(post_head(&node, &format!("Content-Length: {large}\r\n"), "").as_bytes())
        .unwrap();
    refused_then_closed(&mut stream);

    // Of unknown length (chunked), never finished: the same.
    let mut stream = connect(&node);
    stream
        .write_all(post_head(&node, "Transfer-Encoding: chunked\r\n", "").as_bytes())
        .unwrap();
    stream.write_all(b"10\r\n{\"jsonrpc\":\"2.0\",").unwrap();
    refused_then_closed(&mut stream);

    // Held back behind `Expect: 100-continue`: refused without asking for the body
    // (no 100 Continue first), and the connection closes.
    let mut stream = connect(&node);
    let head = post_head(
        &node,
        &format!("Content-Length: {}\r\n", INITIALIZE.len()),
        "Expect: 100-continue\r\n",
    );
    stream.write_all(head.as_bytes()).unwrap();
    refused_then_closed(&mut stream);

    // A small body that never comes: after the wait, the refusal closes.
    let mut stream = connect(&node);
    stream
        .write_all(post_head(&node, "Content-Length: 100\r\n", "").as_bytes())
        .unwrap();
    stream.write_all(b"{").unwrap();
    refused_then_closed(&mut stream);
}
