//! The browser's end of the live stream: one websocket per tab, reconnected with backoff, a
//! snapshot of the page on every (re)connect, and a silence timeout that notices a dead
//! connection. The socket is opened for the page's view; when the person changes filter, sort or
//! page, the new view is sent on it (and put in the address bar) and the server answers with
//! that page.

use crate::state::ConsoleState;
use futures::channel::mpsc::{unbounded, UnboundedReceiver};
use futures::future::{select, Either};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use wukong_view::{ClientMessage, LiveMessage, View};

/// The server sends a heartbeat every 10 s; three missed ones mean the connection is dead.
const SILENCE_LIMIT_MS: u32 = 30_000;
const FIRST_RETRY_MS: u32 = 500;
const MAX_RETRY_MS: u32 = 10_000;

pub fn connect(state: ConsoleState) {
    let (views_out, mut views) = unbounded::<View>();
    // Every later change of the view goes to the socket and the address bar.
    Effect::new(move |seen: Option<()>| {
        let view = state.view.get();
        if seen.is_some() {
            show_in_address_bar(&view);
            let _ = views_out.unbounded_send(view);
        }
    });
    leptos::task::spawn_local(async move {
        let mut retry_ms = FIRST_RETRY_MS;
        loop {
            if let Some(url) = live_url(&state.view.get_untracked()) {
                let received = match WebSocket::open(&url) {
                    Ok(socket) => run(state, socket, &mut views).await,
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
    if let Err(crate::ConsoleError {
        kind: crate::error::ErrorKind::SignedOut,
        ..
    }) = crate::api::session().await
    {
        if let Some(window) = web_sys::window() {
            let _ = window.location().assign("/login?reason=ended");
        }
        return true;
    }
    false
}

/// Reads frames (and sends view changes) until the socket closes or goes silent. Returns
/// whether any frame arrived.
async fn run(state: ConsoleState, socket: WebSocket, views: &mut UnboundedReceiver<View>) -> bool {
    let (mut sink, mut frames) = socket.split();
    // The socket was opened for the current view: changes queued while it was down are stale.
    while views.try_recv().is_ok() {}
    let mut received = false;
    loop {
        let next = select(frames.next(), views.next());
        let silence = TimeoutFuture::new(SILENCE_LIMIT_MS);
        let frame = match select(next, silence).await {
            Either::Left((Either::Left((Some(Ok(frame)), _)), _)) => frame,
            Either::Left((Either::Right((Some(view), _)), _)) => {
                let Ok(text) = serde_json::to_string(&ClientMessage::View(view)) else {
                    continue;
                };
                if sink.send(Message::Text(text)).await.is_err() {
                    return received;
                }
                continue;
            }
            _ => return received,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Bytes(_) => continue,
        };
        match serde_json::from_str::<LiveMessage>(&text) {
            Ok(LiveMessage::Hello { build }) => {
                received = true;
                // Asked on every connection: during a rollout the socket may reach an old
                // replica, then the page's own build again (or the rollout is undone).
                let other = page_build().is_some_and(|ours| ours != build);
                if state.upgraded.get_untracked() != other {
                    state.upgraded.set(other);
                }
            }
            Ok(message) => {
                received = true;
                state.socket_open.set(true);
                state.apply(message);
            }
            Err(e) => leptos::logging::warn!("ignoring a live frame that does not parse: {e}"),
        }
    }
}

/// The build this page came from (`<meta name="wukong-build">`), if the server named one.
fn page_build() -> Option<String> {
    web_sys::window()?
        .document()?
        .query_selector("meta[name=wukong-build]")
        .ok()??
        .get_attribute("content")
}

/// Puts the view in the address bar (without a navigation), so reload and links keep it.
fn show_in_address_bar(view: &View) {
    let query = view.to_query();
    let url = if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{query}")
    };
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

fn live_url(view: &View) -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    let host = location.host().ok()?;
    let query = view.to_query();
    let query = if query.is_empty() {
        query
    } else {
        format!("?{query}")
    };
    Some(format!("{scheme}://{host}/live{query}"))
}
