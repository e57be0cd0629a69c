//! Property tests of the live websocket's edge (issue 12, item 11), on a loopback listener: any
//! handshake query gets a socket or a 4xx, never a 5xx; any message a client sends either is a
//! view (the socket answers with that view's page and stays open) or ends the socket with a close
//! frame coded 1007 or 1008 and a reason. 64 cases per property; a few seconds in all.

mod common;

use common::{
    console_router, listen, loopback, open_live, percent_encode_some, run, runtime, sandbox,
    serve_in_background, Socket,
};
use futures::{SinkExt, StreamExt};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use server::auth::{Gate, Mode};
use server::sockets::SocketLimits;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use wukong_cluster::{Console, OpenAccess};
use wukong_view::{ClientMessage, LiveMessage, View};

/// The most a browser's message may be (server/src/live.rs).
const MAX_INCOMING: usize = 4096;

struct Served {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
}

fn serve() -> Served {
    let runtime = runtime();
    let addr = runtime.block_on(async {
        let console = Console::open(sandbox());
        console.store.wait_ready().await;
        let (listener, addr) = listen().await;
        // Limits high enough that only the message decides how a socket ends.
        let limits = SocketLimits {
            per_person: 10_000,
            views_per_second: 10_000,
            max_age: Duration::from_secs(600),
        };
        let gate = Gate::with_socket_limits(Mode::None, Arc::new(OpenAccess), limits);
        serve_in_background(
            listener,
            console_router(console, gate, loopback(Some(addr.port()))),
        );
        addr
    });
    Served { runtime, addr }
}

/// Opens `/live?{query}`: the socket, or the refusal's status and body.
async fn open(addr: SocketAddr, query: &str) -> Result<Socket, (u16, String)> {
    match open_live(addr, &format!("?{query}"), &[]).await {
        Ok(socket) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("handshake with {query:?}: {e}"),
    }
}

/// How a socket answered one message.
#[derive(Debug)]
enum Answer {
    /// A page for this view (the message was a view).
    Page(View),
    Closed(CloseCode, String),
    /// Closed without a close frame, or nothing within the time.
    Dropped(#[allow(dead_code, reason = "read in failure messages, through Debug")] String),
}

/// Reads until the socket closes or sends a page for `want` (the first page, for the handshake's
/// view, is skipped when another is wanted).
async fn answer(socket: &mut Socket, want: Option<&View>) -> Answer {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return Answer::Dropped("no answer within 5 s".into()),
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return Answer::Closed(frame.code, frame.reason.to_string())
            }
            Ok(Some(Ok(Message::Close(None)))) => {
                return Answer::Dropped("a close without a code".into())
            }
            Ok(None) => return Answer::Dropped("the connection ended".into()),
            Ok(Some(Err(e))) => return Answer::Dropped(e.to_string()),
            Ok(Some(Ok(Message::Text(text)))) => {
                if let Ok(LiveMessage::Snapshot(page)) = serde_json::from_str(text.as_str()) {
                    if want.is_none_or(|v| *v == page.view) {
                        return Answer::Page(page.view);
                    }
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// What a client may put on the socket.
#[derive(Clone, Debug)]
enum Sent {
    Text(String),
    Binary(Vec<u8>),
    /// A text frame whose bytes are not UTF-8 (a client library would not send it; a script can).
    BadText(Vec<u8>),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "view|state|name".prop_map(Value::String),
    ];
    let keys = vec![
        "type",
        "filter",
        "namespace",
        "search",
        "sort",
        "page",
        "page_size",
    ];
    common::json_value(leaf, keys, 3, 24, 5)
}

/// A view message with one field replaced: sometimes still a view, mostly not.
fn mutated_view_message() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(vec!["type", "filter", "sort", "page", "page_size"]),
        json_value(),
    )
        .prop_map(|(field, value)| {
            let mut message = serde_json::to_value(ClientMessage::View(View::default()))
                .expect("a view message is JSON");
            message[field] = value;
            message.to_string()
        })
}

/// A well-formed view message for any view (page and size out of range included).
fn view_message() -> impl Strategy<Value = String> {
    (
        "[a-z0-9-]{0,12}",
        any::<String>(),
        any::<bool>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(namespace, search, by_state, page, page_size)| {
            serde_json::json!({
                "type": "view",
                "filter": {"namespace": namespace, "search": search},
                "sort": if by_state { "state" } else { "name" },
                "page": page,
                "page_size": page_size,
            })
            .to_string()
        })
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        any::<String>().prop_map(Sent::Text),
        json_value().prop_map(|v| Sent::Text(v.to_string())),
        mutated_view_message().prop_map(Sent::Text),
        view_message().prop_map(Sent::Text),
        // Over the size limit.
        (MAX_INCOMING + 1..3 * MAX_INCOMING).prop_map(|n| Sent::Text("x".repeat(n))),
        vec(any::<u8>(), 0..2 * MAX_INCOMING).prop_map(Sent::Binary),
        vec(any::<u8>(), 1..64)
            .prop_filter("not UTF-8", |b| std::str::from_utf8(b).is_err())
            .prop_map(Sent::BadText),
    ]
}

/// What the server must do with `sent`: `Some(view)` if it is a view to show, else close.
fn expected_view(sent: &Sent) -> Option<View> {
    match sent {
        Sent::Text(text) if text.len() <= MAX_INCOMING => {
            match serde_json::from_str::<ClientMessage>(text) {
                Ok(ClientMessage::View(view)) => Some(view.normalized()),
                Err(_) => None,
            }
        }
        _ => None,
    }
}

async fn send(socket: &mut Socket, sent: &Sent) {
    let message = match sent.clone() {
        Sent::Text(text) => Message::text(text),
        Sent::Binary(bytes) => Message::binary(bytes),
        Sent::BadText(bytes) => {
            Message::Frame(Frame::message(bytes, OpCode::Data(Data::Text), true))
        }
    };
    // The server may already have closed on an earlier frame; the answer says what happened.
    let _ = socket.send(message).await;
}

fn check(sent: &Sent, answer: Answer) -> Result<(), TestCaseError> {
    match (expected_view(sent), answer) {
        (Some(want), Answer::Page(view)) => prop_assert_eq!(view, want),
        (None, Answer::Closed(code, reason)) => {
            prop_assert!(
                matches!(code, CloseCode::Invalid | CloseCode::Policy),
                "{:?}: closed with {:?} {}",
                sent,
                code,
                reason
            );
            prop_assert!(!reason.is_empty(), "{:?}: closed without a reason", sent);
        }
        (want, answer) => prop_assert!(false, "{:?}: wanted {:?}, got {:?}", sent, want, answer),
    }
    Ok(())
}

#[test]
fn every_message_is_a_view_or_ends_in_1007_or_1008_with_a_reason() {
    let served = serve();
    run(64, sent(), |sent| {
        served.runtime.block_on(async {
            let mut socket = open(served.addr, "").await.expect("a socket");
            // The handshake's page first, so the socket is being served.
            let first = answer(&mut socket, None).await;
            prop_assert!(matches!(first, Answer::Page(_)), "{:?}", first);
            send(&mut socket, &sent).await;
            let want = expected_view(&sent);
            let result = check(&sent, answer(&mut socket, want.as_ref()).await);
            let _ = socket.close(None).await;
            result
        })
    });
}

/// Raw query bytes as a hostile client writes them: the URL's special characters and `%` as they
/// are, everything else encoded.
fn raw_query() -> impl Strategy<Value = String> {
    prop_oneof![
        vec(any::<u8>(), 0..200).prop_map(|bytes| percent_encode_some(&bytes)),
        btree_map(
            proptest::sample::select(vec!["namespace", "q", "sort", "page", "size", "x"]),
            any::<String>(),
            0..6
        )
        .prop_map(|m| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(m)
                .finish()
        }),
    ]
}

#[test]
fn any_handshake_query_gets_a_page_or_a_4xx_with_a_reason() {
    let served = serve();
    run(64, raw_query(), |query| {
        served.runtime.block_on(async {
            match open(served.addr, &query).await {
                Ok(mut socket) => {
                    let first = answer(&mut socket, None).await;
                    let _ = socket.close(None).await;
                    prop_assert!(matches!(first, Answer::Page(_)), "{:?}: {:?}", query, first);
                }
                Err((status, body)) => {
                    prop_assert!(
                        (400..500).contains(&status),
                        "{:?}: {} {}",
                        query,
                        status,
                        body
                    );
                    prop_assert!(
                        !body.trim().is_empty(),
                        "{:?}: {} without a reason",
                        query,
                        status
                    );
                }
            }
            Ok(())
        })
    });
}

/// Found by the property above: a text frame that is not UTF-8 and a message over the size limit
/// ended the connection without a close frame (the socket library's read error was taken for the
/// browser going away).
#[test]
fn a_frame_the_socket_cannot_read_is_closed_with_a_code_and_a_reason() {
    let served = serve();
    served.runtime.block_on(async {
        for (sent, code) in [
            (Sent::BadText(vec![0xff, 0xfe, 0xfd]), CloseCode::Invalid),
            (Sent::Text("x".repeat(MAX_INCOMING + 1)), CloseCode::Policy),
            (Sent::Binary(vec![0; MAX_INCOMING * 2]), CloseCode::Policy),
        ] {
            let mut socket = open(served.addr, "").await.expect("a socket");
            assert!(matches!(answer(&mut socket, None).await, Answer::Page(_)));
            send(&mut socket, &sent).await;
            match answer(&mut socket, None).await {
                Answer::Closed(got, reason) => {
                    assert_eq!(got, code, "{reason}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{:?}: {other:?}", &sent),
            }
        }
    });
}
