//! The live websocket: forwards `LiveStore::client_frames` (a page snapshot, ordered deltas for it,
//! heartbeats, resync after lag) and drops a client that cannot keep up. The browser opens it with
//! its page's view in the query (`/live?namespace=&q=&sort=&page=&size=`) and sends
//! `ClientMessage::View` whenever the person changes filter, sort or page.

use crate::auth::{Gate, SessionId};
use crate::sockets::ViewRate;
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wukong_cluster::{Audience, Console, Identity, LiveStore};
use wukong_view::{ClientMessage, LiveMessage, View, Viewer, VmKey};

const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often an open socket checks that its session still exists (its token is reviewed again
/// only once every `--token-recheck-seconds`).
const SESSION_CHECK: Duration = Duration::from_secs(2);
/// A person at their socket limit may try again after this long (tabs closing free places).
const SOCKET_RETRY_AFTER_SECONDS: &str = "30";
/// A client that cannot take a frame within this long is disconnected (it will reconnect).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A view message is a few hundred bytes; nothing the browser sends needs more.
const MAX_INCOMING: usize = 4096;
const READ_BUFFER: usize = 4096;

/// The identity comes from the authentication middleware: each socket carries only what that
/// person may see. A person already holding their most sockets gets a 429 before the upgrade.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Extension(viewer): Extension<Viewer>,
    session: Option<Extension<SessionId>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if state.gate.sockets().is_closing() {
        // Another replica takes it (the browser retries).
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "this console is shutting down; reconnect",
        )
            .into_response();
    }
    let admitted = match state.gate.sockets().admit(&who) {
        Ok(admitted) => admitted,
        Err(message) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, SOCKET_RETRY_AFTER_SECONDS)],
                message,
            )
                .into_response()
        }
    };
    let view = View::from_query(|name| query.get(name).cloned());
    let console = state.console.clone();
    let store = state.console.store.clone();
    let audience = Audience {
        who,
        viewer,
        access: state.console.access.clone(),
    };
    let gate = state.gate.clone();
    let build = state.build.clone();
    // A thousand open sockets at tungstenite's default 128 KiB read buffer each would be 128 MB
    // for reading a few hundred bytes: small buffers (every send is flushed anyway).
    ws.max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |mut socket| async move {
            let session = session.map(|s| s.0);
            // First, which build answers: a tab from another build is asked to reload (`LiveMessage::Hello`).
            if let Some(build) = build {
                let hello = LiveMessage::Hello {
                    build: build.to_string(),
                };
                if let Ok(text) = serde_json::to_string(&hello) {
                    let sent = socket.send(Message::Text(text.into()));
                    if !matches!(tokio::time::timeout(SEND_TIMEOUT, sent).await, Ok(Ok(()))) {
                        return;
                    }
                }
            }
            let kubevirt = kubevirt_frames(&console, &audience, &view).await;
            serve(socket, store, audience, view, kubevirt, gate, session).await;
            drop(admitted);
        })
}

/// Why a socket ended, and what the browser is told.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// The browser closed it or went away: nothing to say.
    ClientGone,
    /// It could not take a frame in time; it reconnects.
    TooSlow,
    /// A message that is not a `ClientMessage` (1007).
    Unreadable(String),
    /// A message over `MAX_INCOMING` bytes (1008).
    TooLarge,
    /// More view changes than allowed (1008).
    TooManyViews(u32),
    /// Its session ended: signed out, timed out, or the token revoked (1008).
    SignedOut,
    /// It reached `--socket-max-minutes` (1001); the browser reconnects and is checked again.
    TooOld,
    /// The process is shutting down (1001); the browser reconnects, to another replica.
    ShuttingDown,
}

impl Ending {
    /// A frame the socket library could not read. Text that is not UTF-8 and a message over the
    /// limit are the browser's mistakes and are answered with a close frame, like any other bad
    /// message; anything else (a reset, broken framing) means nobody is there to read one.
    fn from_read_error(error: axum::Error) -> Ending {
        match error
            .into_inner()
            .downcast::<tungstenite::Error>()
            .map(|e| *e)
        {
            Ok(tungstenite::Error::Utf8(_)) => Ending::Unreadable("text that is not UTF-8".into()),
            Ok(tungstenite::Error::Capacity(_)) => Ending::TooLarge,
            _ => Ending::ClientGone,
        }
    }

    fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            Ending::ClientGone | Ending::TooSlow => return None,
            Ending::Unreadable(why) => (1007, format!("not a view message: {why}")),
            Ending::TooLarge => (
                1008,
                format!("not a view message: more than {MAX_INCOMING} bytes"),
            ),
            Ending::TooManyViews(limit) => {
                (1008, format!("more than {limit} view changes a second"))
            }
            Ending::SignedOut => (1008, "your session has ended".to_owned()),
            Ending::TooOld => (1001, "connection renewed; reconnect".to_owned()),
            Ending::ShuttingDown => (1001, "this console is shutting down; reconnect".to_owned()),
        };
        // A close reason may be at most 123 bytes.
        let mut reason = reason;
        while reason.len() > 123 {
            reason.pop();
        }
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

/// A VM page's socket (its view names one VM: `?namespace=&name=`) also carries what KubeVirt
/// says about that VM, from a watch on its VM and VMI made as the person while the socket is
/// open. Nothing for a list's socket, or for a namespace the person may not list (the page was
/// a 404 there).
async fn kubevirt_frames(
    console: &Console,
    audience: &Audience,
    view: &View,
) -> BoxStream<'static, Arc<str>> {
    let filter = &view.filter;
    if filter.name.is_empty() || filter.namespace.is_empty() {
        return futures::stream::empty().boxed();
    }
    match audience
        .access
        .grants(&audience.who, &filter.namespace)
        .await
    {
        Ok(grants) if grants.list => {}
        _ => return futures::stream::empty().boxed(),
    }
    let key = VmKey::new(filter.namespace.clone(), filter.name.clone());
    console
        .cluster
        .follow_kubevirt(audience.who.clone(), key)
        .filter_map(|facts| {
            let text = serde_json::to_string(&LiveMessage::KubeVirt(facts)).ok();
            futures::future::ready(text.map(Arc::from))
        })
        .boxed()
}

async fn serve(
    socket: WebSocket,
    store: Arc<LiveStore>,
    audience: Audience,
    view: View,
    mut kubevirt: BoxStream<'static, Arc<str>>,
    gate: Arc<Gate>,
    session: Option<SessionId>,
) {
    let limits = gate.sockets().limits;
    let sockets = gate.sockets().clone();
    let (mut sink, mut incoming) = socket.split();
    // Views the browser asks for; a small buffer, so a flood waits on the socket, not in memory.
    let (views_in, views) = futures::channel::mpsc::channel::<View>(4);
    let mut frames = store.client_frames(audience, view, HEARTBEAT, views.boxed());
    let ending = {
        let send = async {
            loop {
                let text = tokio::select! {
                    text = frames.next() => match text {
                        Some(text) => text,
                        None => break,
                    },
                    Some(text) = kubevirt.next() => text,
                };
                let message = Message::Text(text.as_ref().into());
                match tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Ending::ClientGone,
                    Err(_) => return Ending::TooSlow,
                }
            }
            Ending::ClientGone
        };
        // The browser sends its view changes; reading also notices when it goes away.
        let receive = async move {
            let mut views_in = views_in;
            let mut rate = ViewRate::new(limits.views_per_second);
            while let Some(message) = incoming.next().await {
                let message = match message {
                    Ok(message) => message,
                    Err(e) => return Ending::from_read_error(e),
                };
                match message {
                    Message::Close(_) => break,
                    Message::Text(text) => {
                        let view = match serde_json::from_str::<ClientMessage>(text.as_str()) {
                            Ok(ClientMessage::View(view)) => view,
                            Err(e) => return Ending::Unreadable(e.to_string()),
                        };
                        if !rate.take(Instant::now()) {
                            return Ending::TooManyViews(limits.views_per_second);
                        }
                        if views_in.send(view).await.is_err() {
                            break;
                        }
                    }
                    Message::Binary(_) => {
                        return Ending::Unreadable("binary frames are not views".into())
                    }
                    _ => {}
                }
            }
            Ending::ClientGone
        };
        // Signing out, a session timing out or its token being revoked closes the socket too.
        let session_ends = async move {
            let Some(session) = session else {
                return std::future::pending().await;
            };
            while gate.still_signed_in(&session).await {
                tokio::time::sleep(SESSION_CHECK).await;
            }
            Ending::SignedOut
        };
        tokio::select! {
            () = sockets.closed() => Ending::ShuttingDown,
            ending = send => ending,
            ending = receive => ending,
            ending = session_ends => ending,
            () = tokio::time::sleep(limits.max_age) => Ending::TooOld,
        }
    };
    if let Some(frame) = ending.close_frame() {
        tracing::debug!(code = frame.code, reason = %frame.reason, "closing a live socket");
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ending_the_browser_did_not_cause_says_why() {
        let code = |e: Ending| e.close_frame().map(|f| f.code);
        assert_eq!(code(Ending::Unreadable("x".into())), Some(1007));
        assert_eq!(code(Ending::TooLarge), Some(1008));
        assert_eq!(code(Ending::TooManyViews(20)), Some(1008));
        assert_eq!(code(Ending::SignedOut), Some(1008));
        assert_eq!(code(Ending::ShuttingDown), Some(1001));
        assert_eq!(code(Ending::TooOld), Some(1001));
        assert_eq!(code(Ending::ClientGone), None);
        let long = Ending::Unreadable("é".repeat(200))
            .close_frame()
            .expect("a frame");
        assert!(long.reason.len() <= 123);
    }
}
