//! The browser's end of the live stream: one websocket per tab, reconnected with backoff, a
//! snapshot on every (re)connect, and a silence timeout that notices a dead connection.

use crate::state::ConsoleState;
use futures::future::{select, Either};
use futures::StreamExt;
use gloo_net::websocket::{futures::WebSocket, Message};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use wukong_view::LiveMessage;

/// The server sends a heartbeat every 10 s; three missed ones mean the connection is dead.
const SILENCE_LIMIT_MS: u32 = 30_000;
const FIRST_RETRY_MS: u32 = 500;
const MAX_RETRY_MS: u32 = 10_000;

pub fn connect(state: ConsoleState) {
    leptos::task::spawn_local(async move {
        let mut retry_ms = FIRST_RETRY_MS;
        loop {
            if let Some(url) = live_url() {
                let received = match WebSocket::open(&url) {
                    Ok(socket) => run(state, socket).await,
                    Err(_) => false,
                };
                if received {
                    retry_ms = FIRST_RETRY_MS;
                } else if signed_out(state).await {
                    return;
                }
            }
            state.socket_open.set(false);
            // Jitter keeps a thousand tabs from reconnecting in the same millisecond.
            let jitter = (js_sys::Math::random() * f64::from(retry_ms) / 2.0) as u32;
            TimeoutFuture::new(retry_ms + jitter).await;
            retry_ms = (retry_ms * 2).min(MAX_RETRY_MS);
        }
    });
}

/// After a refused connection: if the person's session has ended, go to the sign-in page.
async fn signed_out(state: ConsoleState) -> bool {
    if state.viewer.with_value(|v| v.sign_in) != wukong_view::SignIn::Token {
        return false;
    }
    if let Err(crate::ConsoleError::SignedOut(_)) = crate::api::session().await {
        if let Some(window) = web_sys::window() {
            let _ = window.location().assign("/login?reason=ended");
        }
        return true;
    }
    false
}

/// Reads frames until the socket closes or goes silent. Returns whether any frame arrived.
async fn run(state: ConsoleState, socket: WebSocket) -> bool {
    let (_sink, mut frames) = socket.split();
    let mut received = false;
    loop {
        let next = frames.next();
        let silence = TimeoutFuture::new(SILENCE_LIMIT_MS);
        let frame = match select(next, silence).await {
            Either::Left((Some(Ok(frame)), _)) => frame,
            _ => return received,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Bytes(_) => continue,
        };
        match serde_json::from_str::<LiveMessage>(&text) {
            Ok(message) => {
                received = true;
                state.socket_open.set(true);
                state.apply(message);
            }
            Err(e) => leptos::logging::warn!("ignoring a live frame that does not parse: {e}"),
        }
    }
}

fn live_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/live", location.host().ok()?))
}
