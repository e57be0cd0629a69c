//! The live websocket: forwards `LiveStore::client_frames` (a page snapshot, ordered deltas for it,
//! heartbeats, resync after lag) and drops a client that cannot keep up. The browser opens it with
//! its page's view in the query (`/live?namespace=&q=&sort=&page=&size=`) and sends
//! `ClientMessage::View` whenever the person changes filter, sort or page.

use crate::auth::{Gate, SessionId};
use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wukong_cluster::{Audience, Identity, LiveStore};
use wukong_view::{ClientMessage, View, Viewer};

const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often an open socket checks that its session still exists.
const SESSION_CHECK: Duration = Duration::from_secs(2);
/// A client that cannot take a frame within this long is disconnected (it will reconnect).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A view message is a few hundred bytes; nothing the browser sends needs more.
const MAX_INCOMING: usize = 4096;
const READ_BUFFER: usize = 4096;

/// The identity comes from the authentication middleware: each socket carries only what that
/// person may see.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Extension(viewer): Extension<Viewer>,
    session: Option<Extension<SessionId>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let view = View::from_query(|name| query.get(name).cloned());
    let store = state.console.store.clone();
    let audience = Audience {
        who,
        viewer,
        access: state.console.access.clone(),
    };
    let gate = state.gate.clone();
    // A thousand open sockets at tungstenite's default 128 KiB read buffer each would be 128 MB
    // for reading a few hundred bytes: small buffers (every send is flushed anyway).
    ws.max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(socket, store, audience, view, gate, session.map(|s| s.0)))
}

async fn serve(
    socket: WebSocket,
    store: Arc<LiveStore>,
    audience: Audience,
    view: View,
    gate: Arc<Gate>,
    session: Option<SessionId>,
) {
    let (mut sink, mut incoming) = socket.split();
    // Views the browser asks for; a small buffer, so a flood waits on the socket, not in memory.
    let (views_in, views) = futures::channel::mpsc::channel::<View>(4);
    let mut frames = store.client_frames(audience, view, HEARTBEAT, views.boxed());
    let send = async move {
        while let Some(text) = frames.next().await {
            let message = Message::Text(text.as_ref().into());
            match tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
    };
    // The browser sends its view changes; reading also notices when it goes away.
    let receive = async move {
        let mut views_in = views_in;
        while let Some(Ok(message)) = incoming.next().await {
            match message {
                Message::Close(_) => break,
                Message::Text(text) => match serde_json::from_str::<ClientMessage>(text.as_str()) {
                    Ok(ClientMessage::View(view)) => {
                        if views_in.send(view).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "ignoring a browser message that does not parse")
                    }
                },
                _ => {}
            }
        }
    };
    // Signing out, or a session timing out, closes the socket too.
    let session_ends = async move {
        let Some(session) = session else {
            return std::future::pending().await;
        };
        while gate.alive(&session) {
            tokio::time::sleep(SESSION_CHECK).await;
        }
    };
    tokio::select! {
        _ = send => {}
        _ = receive => {}
        _ = session_ends => {}
    }
}
