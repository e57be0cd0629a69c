//! Who is asking (`--auth=token|proxy|none`), decided once per request by [`identify`].
//!
//! - `token`: the sign-in page posts a Kubernetes bearer token to `/auth/login`; the cluster
//!   reviews it (TokenReview) and the person gets a server-side session behind a random 128-bit
//!   id in an HttpOnly, SameSite=Strict cookie (`__Host-` prefixed and Secure over HTTPS). Every
//!   sign-in gets a new id and ends the session the browser came with. Sessions end on sign-out,
//!   after the idle or absolute timeout, or when the token stops being accepted (it is reviewed
//!   again every `token_recheck`). The session (the person, their token, its times) is kept in a
//!   `SessionStore`: one Secret per session in the console's namespace with `--session-store
//!   secrets` (`wukong_cluster::sessions`), so any replica serves any person, a restart signs
//!   nobody out, and a sign-out or a revoked token ends it on every replica. The token never
//!   goes to the browser.
//! - `proxy`: an authenticating reverse proxy names the person in headers; they are believed only
//!   from the configured source addresses, and a request from anywhere else carrying them is
//!   refused outright. The user and groups headers must appear once at most; Kubernetes' reserved `system:` names are
//!   refused (the user, `system:masters`) or dropped (other groups) unless allowed explicitly,
//!   because the console's ServiceAccount may impersonate any of them.
//! - `none`: everyone is the console itself (allowed only with the sandbox or on loopback).
//!
//! Sign-in attempts are limited per client address (each is a TokenReview on the apiserver): over
//! the limit, `/auth/login` answers 429 with `Retry-After` and a page saying when to try again.
//! The address is the connection's peer, or, when the peer is a reverse proxy named by
//! `--forwarded-trusted`, the client its `X-Forwarded-For` names ([`client_address`]); from
//! anyone else that header is not believed (anyone could send it).
//!
//! The request then carries an [`Identity`] (for RBAC and impersonation) and a [`Viewer`] (what
//! the page says about them) as extensions; nothing past this point looks at cookies or headers.

use crate::sockets::{SocketLimits, Sockets};
use app::ConsoleError;
use axum::extract::{ConnectInfo, Form, FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wukong_cluster::access::BearerToken;
use wukong_cluster::sessions::{
    session_key, MemorySessions, SessionRecord, SessionStore, SEEN_EVERY_MS,
};
use wukong_cluster::{Access, ActionBudget, Identity, Person};
use wukong_view::SignedOutWhy;
use wukong_view::{SignIn, Viewer};

pub const SESSION_COOKIE: &str = "wukong_session";
/// Over HTTPS: browsers keep a `__Host-` cookie only if it is Secure, has Path=/ and no Domain, so
/// no other host (a sibling subdomain) can set or shadow it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-wukong_session";

/// How sessions of `--auth=token` behave.
#[derive(Clone, Debug)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
    /// How often a session's token is reviewed again (a revoked or expired token ends it).
    pub token_recheck: Duration,
    /// Mark the cookie `Secure` (the console is served over TLS, usually by a proxy in front).
    pub secure_cookie: bool,
}

impl SessionPolicy {
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookie {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// The `Set-Cookie` value for a session id (empty with `max_age` 0: clears it).
    fn cookie(&self, id: &str, max_age: Duration) -> String {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.cookie_name(),
            max_age.as_secs()
        )
    }
}

/// Which headers an authenticating proxy names the person in, and whom to believe.
#[derive(Clone, Debug)]
pub struct ProxyPolicy {
    pub trusted: Vec<IpNet>,
    pub user_header: String,
    pub groups_header: String,
    /// Believe `system:` user names and groups from the proxy (`--auth-proxy-allow-system-names`).
    pub allow_system_names: bool,
}

#[derive(Clone, Debug)]
pub enum Mode {
    None,
    Token(SessionPolicy),
    Proxy(ProxyPolicy),
}

/// What one replica knows of a session beyond the store: when it last had the token reviewed
/// (and who the cluster said it was then), and the last request it served.
#[derive(Clone, Debug)]
struct Local {
    reviewed: Instant,
    person: Person,
    last_seen_ms: i64,
}

/// Wall-clock milliseconds: sessions are shared by replicas, so their times are the wall clock's.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Where a session stands against the policy's timeouts, at `now`.
fn timed_out(
    policy: &SessionPolicy,
    record: &SessionRecord,
    last_seen_ms: i64,
    now: i64,
) -> Option<SignedOutWhy> {
    if now.saturating_sub(record.created_ms) >= ms(policy.absolute) {
        Some(SignedOutWhy::Expired)
    } else if now.saturating_sub(last_seen_ms.max(record.last_seen_ms)) >= ms(policy.idle) {
        Some(SignedOutWhy::Idle)
    } else {
        None
    }
}

/// Authentication for one console process.
pub struct Gate {
    mode: Mode,
    access: Arc<dyn Access>,
    /// Where sessions are kept (shared by every replica with `SecretSessions`), by key
    /// (`session_key` of the id).
    sessions: Arc<dyn SessionStore>,
    /// This replica's own knowledge of the sessions it has served, by key.
    local: Mutex<HashMap<String, Local>>,
    /// When this replica last swept expired sessions out of the store (ms).
    swept_ms: std::sync::atomic::AtomicI64,
    /// Live websockets per person, and their limits.
    sockets: Arc<Sockets>,
    /// Sign-in attempts per client address (`--sign-in-attempts-per-minute`).
    sign_in_attempts: ActionBudget,
}

/// Sign-in attempts per client address per minute unless configured otherwise: enough for a
/// person who mistypes, too few to try tokens or to flood the apiserver with TokenReviews.
pub const DEFAULT_SIGN_IN_ATTEMPTS_PER_MINUTE: u32 = 10;

/// The session a request came with (token mode): open websockets close when it ends.
#[derive(Clone, Debug)]
pub struct SessionId(String);

/// Why a request has no identity.
#[derive(Debug)]
enum Refusal {
    /// Sign in (again), and why (its English is `SignedOutWhy`'s `Display`; the page words it).
    SignIn(SignedOutWhy),
    /// Identity headers from an address that may not send them.
    Forged(String),
    /// Identity headers that cannot be read one way only (a repeated user header, not text): 400.
    Malformed(String),
    /// A name reserved for Kubernetes itself, which the proxy may not hand out: 403.
    Reserved(String),
    /// The session could not be read (the store's apiserver did not answer): 503, try again. Not
    /// "signed out": the session may well be there, and signing in again would need the token.
    Unavailable(String),
}

impl Gate {
    pub fn new(mode: Mode, access: Arc<dyn Access>) -> Arc<Gate> {
        Gate::with_socket_limits(mode, access, SocketLimits::default())
    }

    pub fn with_socket_limits(
        mode: Mode,
        access: Arc<dyn Access>,
        limits: SocketLimits,
    ) -> Arc<Gate> {
        Gate::with_limits(mode, access, limits, DEFAULT_SIGN_IN_ATTEMPTS_PER_MINUTE)
    }

    pub fn with_limits(
        mode: Mode,
        access: Arc<dyn Access>,
        sockets: SocketLimits,
        sign_in_attempts_per_minute: u32,
    ) -> Arc<Gate> {
        Gate::with_sessions(
            mode,
            access,
            sockets,
            sign_in_attempts_per_minute,
            Arc::new(MemorySessions::default()),
        )
    }

    /// A gate keeping its sessions in `sessions` (Secrets: any replica serves any person).
    pub fn with_sessions(
        mode: Mode,
        access: Arc<dyn Access>,
        sockets: SocketLimits,
        sign_in_attempts_per_minute: u32,
        sessions: Arc<dyn SessionStore>,
    ) -> Arc<Gate> {
        Arc::new(Gate {
            mode,
            access,
            sessions,
            local: Mutex::new(HashMap::new()),
            swept_ms: std::sync::atomic::AtomicI64::new(0),
            sockets: Sockets::new(sockets),
            sign_in_attempts: ActionBudget::new(sign_in_attempts_per_minute.max(1)),
        })
    }

    pub fn sockets(&self) -> &Arc<Sockets> {
        &self.sockets
    }

    /// Whether the sessions kept before this process started are loaded (`/readyz`).
    pub fn sessions_synced(&self) -> bool {
        self.sessions.synced()
    }

    /// Shutting down: `/readyz` says so and every live socket closes.
    pub fn is_closing(&self) -> bool {
        self.sockets.is_closing()
    }

    pub fn sign_in(&self) -> SignIn {
        match self.mode {
            Mode::None => SignIn::Open,
            Mode::Token(_) => SignIn::Token,
            Mode::Proxy(_) => SignIn::Proxy,
        }
    }

    fn cookie_name(&self) -> &'static str {
        match &self.mode {
            Mode::Token(policy) => policy.cookie_name(),
            _ => SESSION_COOKIE,
        }
    }

    fn local(&self) -> MutexGuard<'_, HashMap<String, Local>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends a session everywhere: the store's copy (every replica drops it) and this one's.
    async fn end(&self, key: &str) {
        self.local().remove(key);
        wukong_cluster::metrics::metrics().sessions_ended.inc();
        if let Err(e) = self.sessions.remove(key).await {
            tracing::warn!(error = %e, "cannot delete an ended session; it stays refused by its timeouts");
        }
    }

    async fn identify(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<(Identity, Viewer), Refusal> {
        match &self.mode {
            Mode::None => Ok((Identity::Console, Viewer::default())),
            Mode::Proxy(policy) => {
                let person = from_proxy(policy, peer, headers)?;
                let viewer = Viewer {
                    name: Some(person.user.clone()),
                    sign_in: SignIn::Proxy,
                };
                Ok((Identity::Person(person), viewer))
            }
            Mode::Token(policy) => {
                let id = session_id(headers, policy.cookie_name())
                    .ok_or(Refusal::SignIn(SignedOutWhy::Required))?;
                let person = self.session(policy, &id).await?;
                let viewer = Viewer {
                    name: Some(person.user.clone()),
                    sign_in: SignIn::Token,
                };
                Ok((Identity::Person(person), viewer))
            }
        }
    }

    /// The session's person, if the session is still good (timeouts, token still accepted), and
    /// the request written down as activity.
    async fn session(&self, policy: &SessionPolicy, id: &str) -> Result<Person, Refusal> {
        let key = session_key(id);
        let record = match self.sessions.get(&key).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                self.local().remove(&key);
                return Err(Refusal::SignIn(SignedOutWhy::Ended));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a session; the person is asked to try again");
                return Err(Refusal::Unavailable(format!(
                    "your session could not be checked ({e}); try again in a few seconds"
                )));
            }
        };
        let now = now_ms();
        let local = self.local().get(&key).cloned();
        let last_seen = local.as_ref().map_or(0, |l| l.last_seen_ms);
        if let Some(why) = timed_out(policy, &record, last_seen, now) {
            self.end(&key).await;
            return Err(Refusal::SignIn(why));
        }
        // Written down for the other replicas at most every SEEN_EVERY_MS (a quarter of the idle
        // timeout when that is shorter), so the idle timeout holds across them.
        if now.saturating_sub(record.last_seen_ms) >= SEEN_EVERY_MS.min(ms(policy.idle) / 4) {
            if let Err(e) = self.sessions.seen(&key, now).await {
                tracing::warn!(error = %e, "cannot write a session's activity down");
            }
        }
        if let Some(local) = &local {
            if local.reviewed.elapsed() < policy.token_recheck {
                if let Some(l) = self.local().get_mut(&key) {
                    l.last_seen_ms = now;
                }
                return Ok(local.person.clone());
            }
        }
        // Due for review, or the first request this replica serves for it.
        match self.access.review_token(record.token.expose()).await {
            Ok(Some(person)) => {
                self.local().insert(
                    key,
                    Local {
                        reviewed: Instant::now(),
                        person: person.clone(),
                        last_seen_ms: now,
                    },
                );
                Ok(person)
            }
            Ok(None) => {
                self.end(&key).await;
                Err(Refusal::SignIn(SignedOutWhy::Revoked))
            }
            // The cluster could not answer: keep the session and ask again on the next request
            // (every write is still authorized by the apiserver as this person).
            Err(e) => {
                tracing::warn!(error = %e, "cannot review a session's token again; will retry");
                Ok(local.map_or_else(|| record.person(), |l| l.person))
            }
        }
    }

    /// For an open websocket: whether its session still exists (a sign-out on any replica ends
    /// it), is within its timeouts, and (once every `token_recheck`) its token is still accepted
    /// by the cluster. Does not count as activity. A revoked token ends the session here, so the
    /// socket closes within `token_recheck` even if the person makes no request. If the cluster
    /// cannot answer, the socket stays (as a request would) and the review is tried again next
    /// time.
    pub async fn still_signed_in(&self, id: &SessionId) -> bool {
        let Mode::Token(policy) = &self.mode else {
            return true;
        };
        let key = session_key(&id.0);
        let Some(record) = self.sessions.peek(&key) else {
            self.local().remove(&key);
            return false;
        };
        let local = self.local().get(&key).cloned();
        let last_seen = local.as_ref().map_or(0, |l| l.last_seen_ms);
        if timed_out(policy, &record, last_seen, now_ms()).is_some() {
            return false;
        }
        if local
            .as_ref()
            .is_some_and(|l| l.reviewed.elapsed() < policy.token_recheck)
        {
            return true;
        }
        match self.access.review_token(record.token.expose()).await {
            Ok(Some(person)) => {
                let mut locals = self.local();
                let entry = locals.entry(key).or_insert_with(|| Local {
                    reviewed: Instant::now(),
                    person: person.clone(),
                    last_seen_ms: 0,
                });
                entry.reviewed = Instant::now();
                entry.person = person;
                true
            }
            // The session stays (its review is due) so that the person's next request reviews it
            // again and says why it ended, then removes it.
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot review a socket's token again; will retry");
                true
            }
        }
    }

    /// Whether a session still exists and is within its timeouts (does not count as activity).
    pub fn alive(&self, id: &SessionId) -> bool {
        let Mode::Token(policy) = &self.mode else {
            return true;
        };
        let key = session_key(&id.0);
        let last_seen = self.local().get(&key).map_or(0, |l| l.last_seen_ms);
        self.sessions
            .peek(&key)
            .is_some_and(|r| timed_out(policy, &r, last_seen, now_ms()).is_none())
    }

    /// A new session for `person`, kept in the store; its id, or `None` if it cannot be kept.
    async fn new_session(
        &self,
        policy: &SessionPolicy,
        person: Person,
        token: String,
    ) -> Option<String> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let key = session_key(&id);
        let now = now_ms();
        self.sweep(policy, now).await;
        let record = SessionRecord {
            user: person.user.clone(),
            groups: person.groups.clone(),
            token: BearerToken::new(token),
            created_ms: now,
            last_seen_ms: now,
        };
        if let Err(e) = self.sessions.insert(&key, record).await {
            tracing::warn!(error = %e, "cannot keep a new session");
            return None;
        }
        self.local().insert(
            key,
            Local {
                reviewed: Instant::now(),
                person,
                last_seen_ms: now,
            },
        );
        Some(id)
    }

    /// Sweeps expired sessions out of the store every minute while the process runs (with
    /// `--auth=token`): their Secrets hold people's tokens, so they do not wait for a sign-in.
    pub fn sweep_every_minute(self: &Arc<Self>) {
        let Mode::Token(policy) = self.mode.clone() else {
            return;
        };
        let gate = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(
                u64::try_from(SEEN_EVERY_MS).unwrap_or(60_000),
            ));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(gate) = gate.upgrade() else { return };
                gate.sweep(&policy, now_ms()).await;
            }
        });
    }

    /// Deletes sessions past their timeouts (at most once a minute per replica; any replica may).
    /// A session counts as idle here only once its last written-down request is older than the
    /// idle timeout plus the interval at which requests are written down, so a session another
    /// replica served a moment ago is never swept.
    async fn sweep(&self, policy: &SessionPolicy, now: i64) {
        let last = self.swept_ms.load(std::sync::atomic::Ordering::Relaxed);
        if now.saturating_sub(last) < SEEN_EVERY_MS.min(ms(policy.idle)) {
            return;
        }
        self.swept_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
        let margin = SEEN_EVERY_MS.min(ms(policy.idle) / 4);
        let expired: Vec<String> = self
            .sessions
            .all()
            .into_iter()
            .filter(|(_, r)| {
                now.saturating_sub(r.created_ms) >= ms(policy.absolute)
                    || now.saturating_sub(r.last_seen_ms) >= ms(policy.idle).saturating_add(margin)
            })
            .map(|(key, _)| key)
            .collect();
        for key in &expired {
            self.end(key).await;
        }
        if !expired.is_empty() {
            tracing::info!(sessions = expired.len(), "removed expired sessions");
        }
        let known: std::collections::HashSet<String> =
            self.sessions.all().into_iter().map(|(k, _)| k).collect();
        self.local().retain(|k, _| known.contains(k));
    }
}

/// The person the proxy names, if the request comes from a trusted proxy.
fn from_proxy(
    policy: &ProxyPolicy,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Person, Refusal> {
    let users = headers.get_all(policy.user_header.as_str());
    let groups = headers.get_all(policy.groups_header.as_str());
    let trusted = peer.is_some_and(|ip| within(&policy.trusted, ip));
    if !trusted {
        let named = users.iter().next().is_some() || groups.iter().next().is_some();
        return Err(if named {
            Refusal::Forged(format!(
                "identity headers ({}, {}) are only accepted from the authenticating proxy, not from {}",
                policy.user_header,
                policy.groups_header,
                peer.map_or("an unknown address".to_owned(), |p| p.to_string()),
            ))
        } else {
            Refusal::SignIn(SignedOutWhy::ThroughProxy)
        });
    }
    // Two user headers (one the proxy's, one passed through from the browser) could be read
    // differently by the proxy and by us: refuse rather than pick one.
    let mut users = users.iter();
    let user = match (users.next(), users.next()) {
        (Some(user), None) => user,
        (None, _) => {
            return Err(Refusal::SignIn(SignedOutWhy::ProxyNamedNoOne))
        }
        (Some(_), Some(_)) => {
            return Err(Refusal::Malformed(format!(
                "the request names its user more than once ({} is repeated); the authenticating proxy must send it exactly once and remove any it receives from the browser",
                policy.user_header
            )))
        }
    };
    let user = user
        .to_str()
        .map_err(|_| {
            Refusal::Malformed(format!(
                "{} is not printable ASCII; the authenticating proxy must send the user name as plain text",
                policy.user_header
            ))
        })?
        .trim();
    if user.is_empty() {
        return Err(Refusal::SignIn(SignedOutWhy::ProxyNamedNoOne));
    }
    if is_reserved(user) && !policy.allow_system_names {
        return Err(Refusal::Reserved(format!(
            "the user name {user:?} is reserved for Kubernetes itself (system:…); the console acts as such names for its proxy only when started with --auth-proxy-allow-system-names"
        )));
    }
    Ok(Person {
        user: user.to_owned(),
        groups: proxy_groups(policy, groups)?,
        // A proxy passes no Kubernetes token on: the console impersonates this person.
        token: None,
    })
}

/// The groups header, once at most and comma-separated: as the proxy sent it, minus Kubernetes'
/// reserved groups, plus `system:authenticated`. A repeated groups header is refused as a repeated
/// user header is: a proxy that adds its header to one the browser sent would pass the browser's
/// groups on.
fn proxy_groups(
    policy: &ProxyPolicy,
    headers: axum::http::header::GetAll<'_, HeaderValue>,
) -> Result<Vec<String>, Refusal> {
    if headers.iter().nth(1).is_some() {
        return Err(Refusal::Malformed(format!(
            "the request names its groups more than once ({} is repeated); the authenticating proxy must send them in one header, comma-separated, and remove any it receives from the browser",
            policy.groups_header
        )));
    }
    let mut groups: Vec<String> = Vec::new();
    for value in headers {
        let text = value.to_str().map_err(|_| {
            Refusal::Malformed(format!(
                "{} is not printable ASCII; the authenticating proxy must send group names as plain text",
                policy.groups_header
            ))
        })?;
        for group in text.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            if is_reserved(group) && !policy.allow_system_names {
                // system:masters bypasses RBAC altogether: a request asking for it is refused
                // whole, not quietly downgraded. Other system: groups (system:serviceaccounts,
                // system:nodes, …) are the cluster's to assign, not the proxy's.
                if group.eq_ignore_ascii_case("system:masters") {
                    return Err(Refusal::Reserved(format!(
                        "the group system:masters is not accepted from {}; the console passes it on only when started with --auth-proxy-allow-system-names",
                        policy.groups_header
                    )));
                }
                tracing::debug!(%group, "dropped a system: group named by the proxy");
                continue;
            }
            if !groups.iter().any(|g| g == group) {
                groups.push(group.to_owned());
            }
        }
    }
    // As the apiserver does for every authenticated request.
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".to_owned());
    }
    Ok(groups)
}

/// Kubernetes reserves the `system:` prefix for its own users and groups (compared without case,
/// so a look-alike is refused too).
fn is_reserved(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("system:"))
}

fn session_id(headers: &HeaderMap, cookie_name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| wukong_view::cookie_value(v, cookie_name))
        .map(str::to_owned)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Paths anyone may fetch: health and metrics (counts only, nothing about any VM), the static site, the sign-in page and its form, and the language and theme switches.
fn is_public(path: &str) -> bool {
    path == "/healthz"
        || path == "/readyz"
        || path == "/metrics"
        || path == "/login"
        || path == "/auth/login"
        || path == "/auth/logout"
        || path == "/lang"
        || path == "/theme"
        || path.starts_with("/pkg/")
        || path == "/favicon.ico"
}

/// Middleware: attaches `Identity` and `Viewer` to the request, or answers for it: a page
/// request is sent to the sign-in page, a server function or websocket gets 401 with the reason,
/// forged proxy headers get 403.
pub async fn identify(State(gate): State<Arc<Gate>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if is_public(&path) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = request.headers().clone();
    let method = request.method().clone();
    match gate.identify(&headers, peer).await {
        Ok((who, viewer)) => {
            if let Some(id) = session_id(&headers, gate.cookie_name()) {
                request.extensions_mut().insert(SessionId(id));
            }
            request.extensions_mut().insert(who);
            request.extensions_mut().insert(viewer);
            next.run(request).await
        }
        Err(Refusal::Forged(message)) => {
            tracing::warn!(%path, %message, "refused identity headers from an untrusted address");
            (StatusCode::FORBIDDEN, message).into_response()
        }
        Err(Refusal::Malformed(message)) => {
            tracing::warn!(%path, %message, "refused ambiguous identity headers");
            (StatusCode::BAD_REQUEST, message).into_response()
        }
        Err(Refusal::Reserved(message)) => {
            tracing::warn!(target: "audit", %path, %message, "refused a reserved name from the proxy");
            (StatusCode::FORBIDDEN, message).into_response()
        }
        Err(Refusal::Unavailable(detail)) => {
            let here = request
                .uri()
                .path_and_query()
                .map_or(path.as_str(), |p| p.as_str());
            session_unavailable(&method, here, detail)
        }
        Err(Refusal::SignIn(why)) => {
            let page = method == axum::http::Method::GET && path == "/";
            match (&gate.mode, page) {
                (Mode::Token(_), true) => {
                    Redirect::to(&format!("/login?reason={}", why.code())).into_response()
                }
                _ => {
                    let error = ConsoleError::new(
                        app::ErrorKind::SignedOut,
                        wukong_view::Said::SignedOut { why },
                    );
                    let body = serde_json::to_string(&error).unwrap_or_default();
                    (
                        StatusCode::UNAUTHORIZED,
                        [(header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                        .into_response()
                }
            }
        }
    }
}

/// How long a person whose session could not be read waits before trying again.
const SESSION_RETRY_SECONDS: u64 = 5;

/// The answer when a session could not be read: 503 with `Retry-After`; a page for a page (the
/// person reloads), the console's error for anything else (a server function shows it, the live
/// socket retries).
fn session_unavailable(method: &axum::http::Method, here: &str, detail: String) -> Response {
    let retry = [(
        header::RETRY_AFTER,
        HeaderValue::from(SESSION_RETRY_SECONDS),
    )];
    if method == axum::http::Method::GET && !here.starts_with("/api/") && !here.starts_with("/live")
    {
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Session not checked</title></head><body><main>\
             <h1>Your session could not be checked</h1>\
             <p data-testid=\"session-unavailable\">The cluster did not answer in time ({}). You are \
             still signed in: <a href=\"{}\">reload the page</a> in {SESSION_RETRY_SECONDS} seconds.</p>\
             </main></body></html>",
            html_escape::encode_text(&detail),
            html_escape::encode_double_quoted_attribute(here),
        );
        let html = [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )];
        return (StatusCode::SERVICE_UNAVAILABLE, retry, html, page).into_response();
    }
    let error = ConsoleError::new(
        app::ErrorKind::Unavailable,
        wukong_view::Said::ClusterUnreachable { detail },
    );
    let body = serde_json::to_string(&error).unwrap_or_default();
    let json = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )];
    (StatusCode::SERVICE_UNAVAILABLE, retry, json, body).into_response()
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
}

/// Whether `ip` is in one of `nets`: an IPv4 peer may arrive as `::ffff:a.b.c.d` (a dual-stack
/// listener), and a network may be written either way.
fn within(nets: &[IpNet], ip: IpAddr) -> bool {
    let v4 = ip.to_canonical();
    let mapped = match v4 {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    };
    nets.iter()
        .any(|net| net.contains(&v4) || net.contains(&mapped))
}

/// Who sent a request: the connection's peer, unless the peer is one of the trusted `forwarders`
/// (reverse proxies, ingress controllers). Then `X-Forwarded-For` is read from the right (each
/// proxy appends the address it received from), past the addresses of trusted proxies, and the
/// first other address is the client: whatever a client put in the header itself is further
/// left and never reached. Anything unreadable on the way gives the peer.
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    forwarders: &[IpNet],
) -> Option<IpAddr> {
    let trusted = |ip: &IpAddr| within(forwarders, *ip);
    if !peer.is_some_and(|ip| trusted(&ip)) {
        return peer;
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        hops.extend(value.split(','));
    }
    for hop in hops.iter().rev() {
        let hop = hop.trim();
        let Some(ip) = hop
            .parse::<IpAddr>()
            .ok()
            .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        else {
            return peer;
        };
        if !trusted(&ip) {
            return Some(ip);
        }
    }
    peer
}

/// Whose allowance a sign-in attempt counts against: the client's address; an IPv6 client by its
/// /64 (one host usually holds a whole /64, so single addresses would be free to rotate).
fn sign_in_key(peer: Option<IpAddr>) -> String {
    match peer.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => match IpNet::new(IpAddr::V6(v6), 64) {
            Ok(net) => net.trunc().to_string(),
            Err(_) => v6.to_string(),
        },
        Some(v4) => v4.to_string(),
        // Without connection info (only in tests) everyone shares one allowance.
        None => "unknown".to_owned(),
    }
}

/// The answer to one sign-in attempt too many: 429, `Retry-After`, and a plain page (the
/// sign-in form works without JavaScript, so must this) saying when to try again.
fn too_many_sign_ins(per_minute: u32, wait: Duration) -> Response {
    let seconds = ConsoleError::retry_seconds(wait);
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Too many sign-in attempts</title></head><body><main>\
         <h1>Too many sign-in attempts</h1>\
         <p data-testid=\"sign-in-throttled\">There were more than {per_minute} sign-in attempts from your \
         address in the last minute. Wait {seconds} seconds, then \
         <a href=\"/login\">sign in again</a>.</p></main></body></html>"
    );
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::RETRY_AFTER, HeaderValue::from(seconds)),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
        ],
        page,
    )
        .into_response()
}

/// `POST /auth/login`: reviews the token and starts a session.
pub async fn login(
    State(gate): State<Arc<Gate>>,
    State(edge): State<crate::Edge>,
    request: Request,
) -> Response {
    let Mode::Token(policy) = &gate.mode else {
        return (
            StatusCode::NOT_FOUND,
            "this console does not use token sign-in",
        )
            .into_response();
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = request.headers().clone();
    let peer = client_address(peer, &headers, &edge.forwarders);
    let Form(form) = match Form::<LoginForm>::from_request(request, &()).await {
        Ok(form) => form,
        Err(rejection) => return rejection.into_response(),
    };
    // Counted before the TokenReview: every attempt costs the apiserver one.
    if let Err(wait) = gate.sign_in_attempts.take(&sign_in_key(peer)) {
        tracing::info!(target: "audit", peer = ?peer, "sign-in refused: too many attempts from this address");
        return too_many_sign_ins(gate.sign_in_attempts.per_minute(), wait);
    }
    let token = form.token.trim();
    if token.is_empty() || token.len() > 16 * 1024 || token.chars().any(char::is_whitespace) {
        return Redirect::to("/login?error=invalid").into_response();
    }
    match gate.access.review_token(token).await {
        Ok(Some(person)) => {
            let user = person.user.clone();
            // A new id at every sign-in, and the session the browser came with ended: an id
            // someone planted or saw before sign-in is worth nothing after it.
            if let Some(old) = session_id(&headers, policy.cookie_name()) {
                gate.end(&session_key(&old)).await;
            }
            let Some(id) = gate.new_session(policy, person, token.to_owned()).await else {
                return Redirect::to("/login?error=unavailable").into_response();
            };
            tracing::info!(target: "audit", %user, "signed in");
            let cookie = policy.cookie(&id, policy.absolute);
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(None) => {
            tracing::info!(target: "audit", "sign-in refused: the cluster did not accept the token");
            Redirect::to("/login?error=invalid").into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot review a sign-in token");
            Redirect::to("/login?error=unavailable").into_response()
        }
    }
}

/// `POST /auth/logout`: ends the session (if any) and clears the cookie.
pub async fn logout(State(gate): State<Arc<Gate>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers, gate.cookie_name()) {
        let key = session_key(&id);
        if let Some(session) = gate.sessions.peek(&key) {
            tracing::info!(target: "audit", user = %session.user, "signed out");
        }
        gate.end(&key).await;
    }
    let mut response = Redirect::to("/login?reason=signed-out").into_response();
    // A `__Host-` cookie is only replaced by one with the same attributes (Secure included).
    let clear = match &gate.mode {
        Mode::Token(policy) => policy.cookie("", Duration::ZERO),
        _ => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_is_read_from_the_right_past_trusted_proxies_only() {
        let nets: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let xff = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            h
        };
        let one = xff(&["198.51.100.1, 192.0.2.7"]);
        assert_eq!(client_address(ip("10.1.2.3"), &one, &nets), ip("192.0.2.7"));
        // Not from a trusted proxy: the peer, whatever the header says.
        assert_eq!(
            client_address(ip("192.0.2.66"), &one, &nets),
            ip("192.0.2.66")
        );
        assert_eq!(client_address(ip("10.1.2.3"), &one, &[]), ip("10.1.2.3"));
        // Several proxies, several headers, ports, IPv6 and IPv4-mapped peers.
        let chain = xff(&["192.0.2.1", "[2001:db8::5]:4711, 10.9.9.9"]);
        assert_eq!(
            client_address(ip("fd00::1"), &chain, &nets),
            ip("2001:db8::5")
        );
        assert_eq!(
            client_address(ip("::ffff:10.0.0.1"), &xff(&["192.0.2.4:80"]), &nets),
            ip("192.0.2.4")
        );
        // Nothing to go on: the peer.
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &nets),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &xff(&["10.0.0.2"]), &nets),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &xff(&["nonsense"]), &nets),
            ip("10.0.0.1")
        );
        // A client's own garbage left of the proxy's entry is never reached.
        assert_eq!(
            client_address(ip("10.0.0.1"), &xff(&["nonsense, 192.0.2.9"]), &nets),
            ip("192.0.2.9")
        );
        assert_eq!(client_address(None, &one, &nets), None);
        // A network written as IPv4-mapped IPv6 still names an IPv4 proxy.
        let mapped: Vec<IpNet> = vec!["::ffff:10.0.0.0/104".parse().unwrap()];
        assert_eq!(
            client_address(ip("10.0.0.1"), &one, &mapped),
            ip("192.0.2.7")
        );
    }

    use super::*;

    fn policy() -> ProxyPolicy {
        ProxyPolicy {
            trusted: vec!["127.0.0.2/32".parse().unwrap()],
            user_header: "x-forwarded-user".into(),
            groups_header: "x-forwarded-groups".into(),
            allow_system_names: false,
        }
    }

    fn headers(user: Option<&str>, groups: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(u) = user {
            h.insert("x-forwarded-user", u.parse().unwrap());
        }
        if let Some(g) = groups {
            h.insert("x-forwarded-groups", g.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_proxy_is_believed_only_from_its_own_address() {
        let trusted = Some("127.0.0.2".parse().unwrap());
        let other = Some("127.0.0.3".parse().unwrap());
        let person = from_proxy(
            &policy(),
            trusted,
            &headers(Some("ann"), Some("team-a, ops")),
        )
        .expect("trusted proxy");
        assert_eq!(person.user, "ann");
        assert_eq!(person.groups, ["team-a", "ops", "system:authenticated"]);
        assert!(matches!(
            from_proxy(&policy(), other, &headers(Some("ann"), None)),
            Err(Refusal::Forged(_))
        ));
        assert!(matches!(
            from_proxy(&policy(), other, &headers(None, Some("system:masters"))),
            Err(Refusal::Forged(_))
        ));
        assert!(matches!(
            from_proxy(&policy(), None, &headers(Some("ann"), None)),
            Err(Refusal::Forged(_))
        ));
        assert!(matches!(
            from_proxy(&policy(), trusted, &headers(None, None)),
            Err(Refusal::SignIn(_))
        ));
        assert!(matches!(
            from_proxy(&policy(), trusted, &headers(Some("  "), None)),
            Err(Refusal::SignIn(_))
        ));
    }

    #[test]
    fn only_well_formed_session_cookies_are_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=b; wukong_session=0123456789abcdef0123456789abcdef"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            session_id(&h, SESSION_COOKIE).as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        // Over HTTPS only the __Host- cookie counts (a sibling host could set the plain one).
        assert_eq!(session_id(&h, SECURE_SESSION_COOKIE), None);
        h.insert(header::COOKIE, "wukong_session=../../etc".parse().unwrap());
        assert_eq!(session_id(&h, SESSION_COOKIE), None);
    }

    #[test]
    fn groups_come_from_one_groups_header_without_reserved_ones() {
        let trusted = Some("127.0.0.2".parse().unwrap());
        let h = headers(Some("ann"), Some("team-a, system:nodes,ops, ops,team-b"));
        let person = from_proxy(&policy(), trusted, &h).expect("trusted proxy");
        assert_eq!(
            person.groups,
            ["team-a", "ops", "team-b", "system:authenticated"]
        );
        // A second groups header: refused whole, whatever it says.
        let mut h = headers(Some("ann"), Some("team-a"));
        h.append("x-forwarded-groups", "team-b".parse().unwrap());
        assert!(matches!(
            from_proxy(&policy(), trusted, &h),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            from_proxy(
                &policy(),
                trusted,
                &headers(Some("ann"), Some("ops,System:Masters"))
            ),
            Err(Refusal::Reserved(_))
        ));
        let allowed = ProxyPolicy {
            allow_system_names: true,
            ..policy()
        };
        let person = from_proxy(
            &allowed,
            trusted,
            &headers(
                Some("system:serviceaccount:a:b"),
                Some("system:serviceaccounts"),
            ),
        )
        .expect("allowed system names");
        assert_eq!(
            person.groups,
            ["system:serviceaccounts", "system:authenticated"]
        );
    }

    #[test]
    fn sign_in_attempts_count_per_address_and_per_ipv6_64() {
        let key = |s: &str| sign_in_key(Some(s.parse().unwrap()));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(sign_in_key(None), "unknown");
    }

    #[test]
    fn tokens_do_not_print() {
        assert_eq!(format!("{:?}", BearerToken::new("abc")), "BearerToken(..)");
    }
}
