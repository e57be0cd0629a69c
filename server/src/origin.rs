//! Cross-origin requests are refused where they could change something or read live data: every
//! request that is not GET/HEAD (the server functions) and the `/live` websocket handshake.
//!
//! A browser says where a request comes from: `Sec-Fetch-Site` (anything but `same-origin` or
//! `none` is refused) and `Origin` (it must name this server's `Host`). Requests carrying neither
//! come from non-browser clients, which a page elsewhere cannot make a person's browser send.

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn same_origin_only(request: Request, next: Next) -> Response {
    let guarded =
        !matches!(*request.method(), Method::GET | Method::HEAD) || request.uri().path() == "/live";
    if guarded {
        if let Some(reason) = cross_origin(&request) {
            tracing::warn!(path = %request.uri().path(), %reason, "cross-origin request refused");
            return (
                StatusCode::FORBIDDEN,
                format!("cross-origin request refused: {reason}"),
            )
                .into_response();
        }
    }
    next.run(request).await
}

fn cross_origin(request: &Request) -> Option<String> {
    let headers = request.headers();
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return Some(format!("Sec-Fetch-Site is {site}"));
        }
    }
    let origin = text(header::ORIGIN.as_str())?;
    let host = text(header::HOST.as_str()).unwrap_or_default();
    // Origin is scheme://host[:port]; compare its authority with Host.
    let authority = origin
        .split_once("://")
        .map_or(origin, |(_, authority)| authority);
    if origin == "null" || !authority.eq_ignore_ascii_case(host) {
        return Some(format!("Origin {origin} is not this server ({host})"));
    }
    None
}
