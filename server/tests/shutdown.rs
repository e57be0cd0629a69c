//! SIGTERM, as a kubelet sends it to a pod going away: the real `wukong-console` binary (sandbox,
//! loopback) closes its live sockets with 1001 so the browsers reconnect to another replica,
//! stops accepting connections, lets an action already on its way finish and be answered, and
//! exits 0 within its grace period. With `--log-json`, every line written for a request carries
//! its request id (the one answered in `X-Request-Id`), the audit line of the action included.

mod common;

use common::open_live;
use futures::StreamExt;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// The console process; killed if the test ends early.
struct Console(Child);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

#[tokio::test]
async fn sigterm_closes_sockets_with_1001_finishes_the_action_in_flight_and_exits() {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log_path = std::env::temp_dir().join(format!("wukong-shutdown-{}.log", addr.port()));
    let log = std::fs::File::create(&log_path).expect("a log file");
    let mut console = Console(
        Command::new(env!("CARGO_BIN_EXE_wukong-console"))
            .args(["--sandbox", "--addr", &addr.to_string()])
            .args(["--shutdown-seconds", "10", "--log-json"])
            .stdout(Stdio::from(log))
            .stderr(Stdio::null())
            .spawn()
            .expect("the console starts"),
    );
    let started = Instant::now();
    loop {
        if let Ok(answer) = get(addr, "/readyz").await {
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the console was not ready within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let origin = format!("http://{addr}");
    let mut socket = open_live(addr, "", &[("origin", &origin)])
        .await
        .expect("a live socket");

    // An action on its way: its head is in, its body not yet.
    let form = "namespace=team-b&name=worker-01&action=start";
    let mut action = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/request_action HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        form.len()
    );
    action.write_all(head.as_bytes()).await.expect("send");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = console.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());

    // The socket is closed with 1001 (going away), not dropped.
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => continue,
                Err(e) => panic!("the socket broke instead of closing: {e}"),
            }
        }
        None
    })
    .await
    .expect("a close frame within 5 s")
    .expect("a close frame with a code");
    assert_eq!(close.code, CloseCode::Away, "{close:?}");
    assert!(close.reason.contains("shutting down"), "{close:?}");

    // No new connection is taken.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = get(addr, "/healthz").await;
    assert!(
        refused.as_ref().map_or(true, |a| a.is_empty()),
        "a new connection was served while shutting down: {refused:?}"
    );

    // The action in flight is carried out and answered.
    action.write_all(form.as_bytes()).await.expect("send body");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), action.read_to_string(&mut answer))
        .await
        .expect("an answer within 5 s")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("request_id") || answer.contains("requestId"),
        "{answer}"
    );

    // And the process ends, well within its grace period.
    let waited = Instant::now();
    let status = loop {
        if let Some(status) = console.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");

    // The log: JSON lines; the action's audit line carries the id its answer was given.
    let id = answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("x-request-id: ")
                .or(l.strip_prefix("X-Request-Id: "))
        })
        .expect("an X-Request-Id on the answer")
        .trim()
        .to_owned();
    let text = std::fs::read_to_string(&log_path).expect("the log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let audit = lines
        .iter()
        .find(|l| l["target"] == "audit" && l["fields"]["result"] == "accepted")
        .unwrap_or_else(|| panic!("no audit line for the action:\n{text}"));
    assert_eq!(audit["span"]["request_id"], id.as_str(), "{audit}");
    // The lifecycle request's own id is named apart, and is the one the answer gave.
    let lifecycle = audit["fields"]["lifecycle_request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no lifecycle_request_id: {audit}"));
    assert!(!lifecycle.is_empty() && lifecycle != id, "{audit}");
    assert!(answer.contains(lifecycle), "{answer}");
    assert_eq!(audit["span"]["path"], "/api/request_action", "{audit}");
    let _ = std::fs::remove_file(&log_path);
}
