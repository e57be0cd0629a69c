//! The live websocket: forwards `LiveStore::client_frames` (snapshot, ordered deltas, heartbeats,
//! resync after lag) and drops a client that cannot keep up.

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
/// A client that cannot take a frame within this long is disconnected (it will reconnect).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The identity comes from the authentication middleware: each socket carries only what that
/// person may see.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Extension(viewer): Extension<Viewer>,
) -> Response {
    let store = state.console.store.clone();
    let audience = Audience {
        who,
        viewer,
        access: state.console.access.clone(),
    };
    ws.on_upgrade(move |socket| serve(socket, store, audience))
}

async fn serve(socket: WebSocket, store: Arc<LiveStore>, audience: Audience) {
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
    tokio::select! {
        _ = send => {}
        _ = receive => {}
    }
}
