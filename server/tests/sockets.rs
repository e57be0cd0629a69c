//! The live websocket's limits and lifetime, on a real loopback listener with a stand-in for the
//! cluster's TokenReview (against the real apiserver: `rbac.rs`): a bad message or a flood of view
//! changes closes the socket with a code and a reason, a person's sockets are counted, a socket
//! is renewed after its maximum age, and a revoked token closes an open socket within the
//! recheck interval.

mod common;

use axum::http::{header, StatusCode};
use common::{
    console_router, listen, loopback, open_live, sandbox, serve_in_background, session_policy,
    Socket, StandInAccess, GOOD_TOKEN,
};
use futures::{SinkExt, StreamExt};
use server::auth::{Gate, Mode, SessionPolicy};
use server::sockets::SocketLimits;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use wukong_cluster::Console;

struct Served {
    addr: SocketAddr,
    access: Arc<StandInAccess>,
}

async fn serve(limits: SocketLimits) -> Served {
    let access = Arc::new(StandInAccess::default());
    let console = Console::start(sandbox(), access.clone());
    console.store.wait_ready().await;
    let (listener, addr) = listen().await;
    let policy = SessionPolicy {
        token_recheck: Duration::from_secs(1),
        ..session_policy()
    };
    let gate = Gate::with_socket_limits(Mode::Token(policy), access.clone(), limits);
    let app = console_router(console, gate, loopback(Some(addr.port())));
    serve_in_background(listener, app);
    Served { addr, access }
}

async fn sign_in(addr: SocketAddr) -> String {
    let response = reqwest_free_post(addr, "/auth/login", &format!("token={GOOD_TOKEN}")).await;
    let cookie = response
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or(l.strip_prefix("Set-Cookie: "))
        })
        .expect("a session cookie");
    common::cookie_pair(cookie).to_owned()
}

/// A plain HTTP/1.1 POST over TCP (the answer's head and body as text).
async fn reqwest_free_post(addr: SocketAddr, path: &str, form: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}

async fn open(addr: SocketAddr, cookie: &str) -> Result<Socket, (StatusCode, String)> {
    let origin = format!("http://{addr}");
    match open_live(addr, "", &[("cookie", cookie), ("origin", &origin)]).await {
        Ok(socket) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let retry = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            Err((response.status(), retry))
        }
        Err(e) => panic!("websocket: {e}"),
    }
}

/// Reads until the server closes the socket; its close code and reason, within `within`.
async fn closed_with(socket: &mut Socket, within: Duration) -> (CloseCode, String) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Err(_) => panic!("still open after {within:?}"),
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return (frame.code, frame.reason.to_string())
            }
            Ok(Some(Ok(Message::Close(None)))) | Ok(None) | Ok(Some(Err(_))) => {
                panic!("closed without a code and a reason")
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

fn limits() -> SocketLimits {
    SocketLimits {
        per_person: 20,
        views_per_second: 5,
        max_age: Duration::from_secs(600),
    }
}

#[tokio::test]
async fn an_unreadable_message_closes_the_socket_with_1007_and_a_reason() {
    let served = serve(limits()).await;
    let cookie = sign_in(served.addr).await;
    for bad in [
        Message::text("not json"),
        Message::text(r#"{"View":{"page":"many"}}"#),
        Message::binary(vec![1, 2, 3]),
    ] {
        let mut socket = open(served.addr, &cookie).await.expect("open");
        socket.send(bad).await.expect("sent");
        let (code, reason) = closed_with(&mut socket, Duration::from_secs(5)).await;
        assert_eq!(code, CloseCode::Invalid, "{reason}");
        assert!(reason.starts_with("not a view message"), "{reason}");
    }
}

#[tokio::test]
async fn a_flood_of_view_changes_closes_the_socket_with_1008() {
    let served = serve(limits()).await;
    let cookie = sign_in(served.addr).await;
    let mut socket = open(served.addr, &cookie).await.expect("open");
    let view = serde_json::to_string(&wukong_view::ClientMessage::View(
        wukong_view::View::default(),
    ))
    .expect("JSON");
    for _ in 0..50 {
        if socket.send(Message::text(view.clone())).await.is_err() {
            break;
        }
    }
    let (code, reason) = closed_with(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("5 view changes a second"), "{reason}");
}

#[tokio::test]
async fn a_person_holds_at_most_their_sockets_and_hears_when_to_retry() {
    let served = serve(SocketLimits {
        per_person: 2,
        ..limits()
    })
    .await;
    let cookie = sign_in(served.addr).await;
    let first = open(served.addr, &cookie).await.expect("one");
    let _second = open(served.addr, &cookie).await.expect("two");
    let (status, retry) = open(served.addr, &cookie).await.expect_err("three");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry, "30");
    drop(first);
    // The server notices the closed socket and frees its place.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open(served.addr, &cookie).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "a closed socket never freed its place"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_socket_is_renewed_after_its_maximum_age() {
    let served = serve(SocketLimits {
        max_age: Duration::from_secs(1),
        ..limits()
    })
    .await;
    let cookie = sign_in(served.addr).await;
    let mut socket = open(served.addr, &cookie).await.expect("open");
    let (code, reason) = closed_with(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(code, CloseCode::Away, "{reason}");
    assert!(open(served.addr, &cookie).await.is_ok(), "and reconnects");
}

#[tokio::test]
async fn a_revoked_token_closes_an_open_socket_within_the_recheck() {
    let served = serve(limits()).await;
    let cookie = sign_in(served.addr).await;
    let mut socket = open(served.addr, &cookie).await.expect("open");
    served.access.revoked.store(true, Ordering::SeqCst);
    // Recheck every second, sessions looked at every 2 s: closed within about 3 s.
    let (code, reason) = closed_with(&mut socket, Duration::from_secs(6)).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("session has ended"), "{reason}");
    assert!(
        open(served.addr, &cookie).await.is_err(),
        "and cannot come back"
    );
}
