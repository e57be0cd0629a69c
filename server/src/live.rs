//! The live websocket: forwards `LiveStore::client_frames` (snapshot, ordered deltas, heartbeats,
//! resync after lag) and drops a client that cannot keep up.

use crate::auth::{Gate, SessionId};
use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use wukong_cluster::{Audience, Identity, LiveStore};
use wukong_view::Viewer;

const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often an open socket checks that its session still exists.
const SESSION_CHECK: Duration = Duration::from_secs(2);
/// A client that cannot take a frame within this long is disconnected (it will reconnect).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The identity comes from the authentication middleware: each socket carries only what that
/// person may see.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Extension(viewer): Extension<Viewer>,
    session: Option<Extension<SessionId>>,
) -> Response {
    let store = state.console.store.clone();
    let audience = Audience {
        who,
        viewer,
        access: state.console.access.clone(),
    };
    let gate = state.gate.clone();
    ws.on_upgrade(move |socket| serve(socket, store, audience, gate, session.map(|s| s.0)))
}

async fn serve(
    socket: WebSocket,
    store: Arc<LiveStore>,
    audience: Audience,
    gate: Arc<Gate>,
    session: Option<SessionId>,
) {
    let (mut sink, mut incoming) = socket.split();
    let mut frames = store.client_frames(audience, HEARTBEAT);
    let send = async move {
        while let Some(text) = frames.next().await {
            let message = Message::Text(text.as_ref().into());
            match tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
    };
    // The browser sends nothing we need; reading notices when it goes away.
    let receive = async move {
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                break;
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
