//! Where the console keeps sign-in sessions (`--auth=token`), so that any replica serves any
//! person and a restart of all of them signs nobody out.
//!
//! - [`MemorySessions`]: one process's memory (the sandbox, tests, `--session-store=memory`).
//! - [`SecretSessions`]: one Secret per session in the console's own namespace. Every replica
//!   watches them (one watch, a label selector) and reads from that copy, so checking a session
//!   costs no request; a sign-out or a revoked token deletes the Secret and every replica drops
//!   the session as the deletion reaches its watch (milliseconds). Why Secrets: the person's
//!   bearer token must stay on the server (it is how the console acts as them), an OIDC token
//!   may be larger than a cookie may hold, and the cluster is already the one store every
//!   replica shares and the console's ServiceAccount can be given exactly this (a Role on
//!   Secrets in its namespace). Encrypt Secrets at rest as for any other Secret.
//!
//! A session is found by its id's SHA-256 (the Secret's name), never by the id itself: whoever
//! may list the Secrets learns no cookie value from their names. What a session is and when it
//! ends is decided by the console's gate (`server::auth`); this is only where it is kept.

use crate::access::{BearerToken, Person};
use crate::ClusterError;
use futures::future::BoxFuture;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What is kept about a signed-in person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: String,
    pub groups: Vec<String>,
    pub token: BearerToken,
    /// Unix milliseconds of the sign-in.
    pub created_ms: i64,
    /// Unix milliseconds of the last request any replica has written down (replicas write it at
    /// most every [`SEEN_EVERY_MS`]).
    pub last_seen_ms: i64,
}

impl SessionRecord {
    pub fn person(&self) -> Person {
        Person {
            user: self.user.clone(),
            groups: self.groups.clone(),
            token: Some(self.token.clone()),
        }
    }
}

/// How often a replica writes a session's last request down: an idle timeout is exact to this.
pub const SEEN_EVERY_MS: i64 = 60_000;

/// A session's key in the store: the SHA-256 of its id, hex (40 characters of it).
pub fn session_key(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

/// Where sessions are kept.
pub trait SessionStore: Send + Sync + 'static {
    /// The session, from what this replica has seen; `None` when it has not (yet).
    fn peek(&self, key: &str) -> Option<SessionRecord>;
    /// [`SessionStore::peek`], or asked of the store itself when not seen yet (a session another
    /// replica created a moment ago).
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, ClusterError>>;
    fn insert<'a>(
        &'a self,
        key: &'a str,
        record: SessionRecord,
    ) -> BoxFuture<'a, Result<(), ClusterError>>;
    /// Writes down a request at `at_ms`.
    fn seen<'a>(&'a self, key: &'a str, at_ms: i64) -> BoxFuture<'a, Result<(), ClusterError>>;
    /// Ends a session (gone already is fine).
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), ClusterError>>;
    /// Every session this replica knows of, with its key (for the sweep of expired ones).
    fn all(&self) -> Vec<(String, SessionRecord)>;
    /// Whether it has loaded what was kept before this process started (`/readyz`).
    fn synced(&self) -> bool;
}

/// Sessions in one process's memory.
#[derive(Default)]
pub struct MemorySessions {
    sessions: Mutex<HashMap<String, SessionRecord>>,
}

impl MemorySessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionRecord>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionStore for MemorySessions {
    fn peek(&self, key: &str) -> Option<SessionRecord> {
        self.lock().get(key).cloned()
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, ClusterError>> {
        Box::pin(async move { Ok(self.peek(key)) })
    }

    fn insert<'a>(
        &'a self,
        key: &'a str,
        record: SessionRecord,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        self.lock().insert(key.to_owned(), record);
        Box::pin(async { Ok(()) })
    }

    fn seen<'a>(&'a self, key: &'a str, at_ms: i64) -> BoxFuture<'a, Result<(), ClusterError>> {
        if let Some(record) = self.lock().get_mut(key) {
            record.last_seen_ms = record.last_seen_ms.max(at_ms);
        }
        Box::pin(async { Ok(()) })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), ClusterError>> {
        self.lock().remove(key);
        Box::pin(async { Ok(()) })
    }

    fn all(&self) -> Vec<(String, SessionRecord)> {
        self.lock()
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }

    fn synced(&self) -> bool {
        true
    }
}

/// The labels that mark a console's session Secrets (the watch selects on them).
pub const SESSION_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/managed-by", "wukong-console"),
    ("app.kubernetes.io/component", "session"),
];
/// The Secrets' type: nothing else mistakes one for its own.
pub const SESSION_SECRET_TYPE: &str = "vm.novasphere.dev/console-session";
const CREATED: &str = "vm.novasphere.dev/created-ms";
const LAST_SEEN: &str = "vm.novasphere.dev/last-seen-ms";
const FIELD_MANAGER: &str = "wukong-console-sessions";

fn secret_name(key: &str) -> String {
    format!("wukong-session-{key}")
}

/// Sessions as Secrets in one namespace, read from a watch of them.
pub struct SecretSessions {
    api: Api<Secret>,
    namespace: String,
    store: Store<Secret>,
    synced: Arc<AtomicBool>,
}

impl SecretSessions {
    /// Starts watching the session Secrets of `namespace`. Fails at once (with what to grant)
    /// when the console may not list them there.
    pub async fn start(
        client: kube::Client,
        namespace: &str,
    ) -> Result<Arc<SecretSessions>, ClusterError> {
        let api: Api<Secret> = Api::namespaced(client, namespace);
        let selector = selector();
        api.list_metadata(&ListParams::default().labels(&selector).limit(1))
            .await
            .map_err(|e| {
                ClusterError::Unavailable(format!(
                    "cannot keep sign-in sessions as Secrets in namespace {namespace}: {e} (the console's ServiceAccount needs get, list, watch, create, patch and delete on secrets there: deploy/base/rbac/console.yaml; or run one replica with --session-store=memory)"
                ))
            })?;
        let (store, writer) = reflector::store();
        let synced = Arc::new(AtomicBool::new(false));
        let stream = watcher(api.clone(), watcher::Config::default().labels(&selector))
            .default_backoff()
            .reflect(writer)
            .applied_objects();
        let ready = store.clone();
        let flag = synced.clone();
        tokio::spawn(async move {
            if ready.wait_until_ready().await.is_ok() {
                flag.store(true, Ordering::Relaxed);
            }
        });
        let watched_namespace = namespace.to_owned();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                if let Err(e) = event {
                    tracing::warn!(namespace = %watched_namespace, error = %e, "the watch of session Secrets failed; retrying");
                }
            }
        });
        Ok(Arc::new(SecretSessions {
            api,
            namespace: namespace.to_owned(),
            store,
            synced,
        }))
    }

    fn object_ref(&self, key: &str) -> ObjectRef<Secret> {
        ObjectRef::new(&secret_name(key)).within(&self.namespace)
    }
}

fn selector() -> String {
    SESSION_LABELS
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A session Secret back into a record; `None` for one that is not a whole session.
fn record_of(secret: &Secret) -> Option<SessionRecord> {
    if secret.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let data = secret.data.as_ref()?;
    let text = |name: &str| {
        data.get(name)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
    };
    let annotations = secret.metadata.annotations.as_ref()?;
    let ms = |name: &str| annotations.get(name).and_then(|v| v.parse::<i64>().ok());
    let created_ms = ms(CREATED)?;
    Some(SessionRecord {
        user: text("user")?,
        groups: serde_json::from_str(&text("groups")?).ok()?,
        token: BearerToken::new(text("token")?),
        created_ms,
        last_seen_ms: ms(LAST_SEEN).unwrap_or(created_ms),
    })
}

fn secret_of(key: &str, record: &SessionRecord) -> Secret {
    let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
    let mut secret = Secret::default();
    secret.metadata.name = Some(secret_name(key));
    secret.metadata.labels = Some(
        SESSION_LABELS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    secret.metadata.annotations = Some(BTreeMap::from([
        (CREATED.to_owned(), record.created_ms.to_string()),
        (LAST_SEEN.to_owned(), record.last_seen_ms.to_string()),
    ]));
    secret.type_ = Some(SESSION_SECRET_TYPE.to_owned());
    secret.data = Some(BTreeMap::from([
        ("user".to_owned(), bytes(&record.user)),
        (
            "groups".to_owned(),
            bytes(&serde_json::to_string(&record.groups).unwrap_or_else(|_| "[]".into())),
        ),
        ("token".to_owned(), bytes(record.token.expose())),
    ]));
    secret
}

fn unavailable(what: &str, e: kube::Error) -> ClusterError {
    ClusterError::Unavailable(format!("session store: {what}: {e}"))
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl SessionStore for SecretSessions {
    fn peek(&self, key: &str) -> Option<SessionRecord> {
        self.store
            .get(&self.object_ref(key))
            .and_then(|s| record_of(&s))
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, ClusterError>> {
        Box::pin(async move {
            if let Some(record) = self.peek(key) {
                return Ok(Some(record));
            }
            match self.api.get_opt(&secret_name(key)).await {
                Ok(secret) => Ok(secret.as_ref().and_then(record_of)),
                Err(e) => Err(unavailable("read", e)),
            }
        })
    }

    fn insert<'a>(
        &'a self,
        key: &'a str,
        record: SessionRecord,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            self.api
                .create(
                    &PostParams {
                        field_manager: Some(FIELD_MANAGER.into()),
                        ..PostParams::default()
                    },
                    &secret_of(key, &record),
                )
                .await
                .map(drop)
                .map_err(|e| unavailable("create", e))
        })
    }

    fn seen<'a>(&'a self, key: &'a str, at_ms: i64) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let patch = serde_json::json!({
                "metadata": { "annotations": { LAST_SEEN: at_ms.to_string() } }
            });
            match self
                .api
                .patch(
                    &secret_name(key),
                    &PatchParams {
                        field_manager: Some(FIELD_MANAGER.into()),
                        ..PatchParams::default()
                    },
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => Ok(()),
                // Ended meanwhile (signed out elsewhere): nothing to write down.
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(unavailable("write down a request", e)),
            }
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            match self
                .api
                .delete(&secret_name(key), &DeleteParams::default())
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(unavailable("delete", e)),
            }
        })
    }

    fn all(&self) -> Vec<(String, SessionRecord)> {
        self.store
            .state()
            .iter()
            .filter_map(|secret| {
                let key = secret
                    .metadata
                    .name
                    .as_deref()?
                    .strip_prefix("wukong-session-")?
                    .to_owned();
                Some((key, record_of(secret)?))
            })
            .collect()
    }

    fn synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SessionRecord {
        SessionRecord {
            user: "system:serviceaccount:team-a:lead".into(),
            groups: vec!["system:serviceaccounts".into(), "team-a".into()],
            token: BearerToken::new("a.b.c"),
            created_ms: 1_764_000_000_000,
            last_seen_ms: 1_764_000_060_000,
        }
    }

    #[test]
    fn a_record_survives_its_secret() {
        let secret = secret_of("abc", &record());
        assert_eq!(secret.metadata.name.as_deref(), Some("wukong-session-abc"));
        assert_eq!(secret.type_.as_deref(), Some(SESSION_SECRET_TYPE));
        let back = record_of(&secret).expect("a whole session");
        assert_eq!(back, record());
        assert_eq!(back.token.expose(), "a.b.c");
    }

    #[test]
    fn the_key_is_a_hash_not_the_id() {
        let id = "0123456789abcdef0123456789abcdef";
        let key = session_key(id);
        assert_eq!(key.len(), 40);
        assert!(!key.contains(id) && !id.contains(&key));
        assert_eq!(key, session_key(id));
        assert_ne!(key, session_key("0123456789abcdef0123456789abcdee"));
    }

    #[test]
    fn a_secret_being_deleted_or_not_whole_is_no_session() {
        let mut deleting = secret_of("abc", &record());
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert_eq!(record_of(&deleting), None);
        let mut partial = secret_of("abc", &record());
        partial.data.as_mut().map(|d| d.remove("token"));
        assert_eq!(record_of(&partial), None);
    }

    #[tokio::test]
    async fn memory_keeps_the_latest_request() {
        let store = MemorySessions::default();
        store.insert("k", record()).await.expect("insert");
        store.seen("k", 1).await.expect("seen");
        assert_eq!(
            store.peek("k").map(|r| r.last_seen_ms),
            Some(record().last_seen_ms)
        );
        store.seen("k", 1_764_000_120_000).await.expect("seen");
        assert_eq!(
            store.peek("k").map(|r| r.last_seen_ms),
            Some(1_764_000_120_000)
        );
        store.remove("k").await.expect("remove");
        assert_eq!(store.peek("k"), None);
    }
}
