//! The live websocket: a snapshot, then deltas in order, heartbeats, and a fresh snapshot for a
//! client that fell behind (it never slows anyone else down).

use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use wukong_cluster::LiveStore;
use wukong_view::{LiveMessage, Snapshot};

const HEARTBEAT: Duration = Duration::from_secs(10);
/// A client that cannot take a frame within this long is disconnected (it will reconnect).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    let store = state.console.store.clone();
    ws.on_upgrade(move |socket| serve(socket, store))
}

async fn serve(socket: WebSocket, store: std::sync::Arc<LiveStore>) {
    let (mut sink, mut incoming) = socket.split();
    let send = async move {
        let (snapshot, mut frames) = store.subscribe();
        let mut seq = snapshot.seq;
        send_text(&mut sink, snapshot_json(snapshot)?).await?;
        let mut heartbeat =
            tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        loop {
            let text = tokio::select! {
                frame = frames.recv() => match frame {
                    Ok(frame) if frame.seq <= seq => continue,
                    Ok(frame) => {
                        seq = frame.seq;
                        frame.json.to_string()
                    }
                    Err(RecvError::Lagged(_)) => {
                        let (snapshot, fresh) = store.subscribe();
                        frames = fresh;
                        seq = snapshot.seq;
                        snapshot_json(snapshot)?
                    }
                    Err(RecvError::Closed) => return Some(()),
                },
                _ = heartbeat.tick() => serde_json::to_string(&LiveMessage::Heartbeat).ok()?,
            };
            send_text(&mut sink, text).await?;
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

fn snapshot_json(snapshot: Snapshot) -> Option<String> {
    serde_json::to_string(&LiveMessage::Snapshot(snapshot)).ok()
}

async fn send_text<S>(sink: &mut S, text: String) -> Option<()>
where
    S: futures::Sink<Message> + Unpin,
{
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Some(()),
        _ => None,
    }
}
