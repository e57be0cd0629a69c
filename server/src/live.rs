//! The live websocket: forwards `LiveStore::client_frames` (snapshot, ordered deltas, heartbeats,
//! resync after lag) and drops a client that cannot keep up.

use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use wukong_cluster::LiveStore;

const HEARTBEAT: Duration = Duration::from_secs(10);
/// A client that cannot take a frame within this long is disconnected (it will reconnect).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    let store = state.console.store.clone();
    ws.on_upgrade(move |socket| serve(socket, store))
}

async fn serve(socket: WebSocket, store: Arc<LiveStore>) {
    let (mut sink, mut incoming) = socket.split();
    let mut frames = store.client_frames(HEARTBEAT);
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
