//! Who is asking, and what Kubernetes RBAC lets them do.
//!
//! The console reads through one shared watch (its own ServiceAccount), so reads are filtered per
//! person here: [`Grants`] per person and namespace come from SubjectAccessReviews, cached for a
//! short while ([`KubeAccess`]). Writes are made *as* the person (impersonation, see
//! `KubeCluster`), so the apiserver has the last word even if this filter were wrong.

use crate::ClusterError;
use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use kube::Client;
use kube::Resource;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use wukong_api::{Wukong, WukongSchedule};
use wukong_view::{Action, VmRow};

/// A signed-in person, as Kubernetes knows them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Person {
    pub user: String,
    pub groups: Vec<String>,
    /// Their own bearer token (`--auth=token`): their reads and writes are sent with it, so the
    /// console needs no right to impersonate. `None` in proxy mode (a proxy has no Kubernetes
    /// token to pass on): then the console impersonates `user` and `groups`.
    pub token: Option<BearerToken>,
}

/// A person's bearer token. Never printed. It is how a person proves who they are, not part of
/// who they are: equality, hashing and order ignore it, so what is cached per person (RBAC
/// answers) is shared by all their sessions.
#[derive(Clone)]
pub struct BearerToken(Arc<str>);

impl BearerToken {
    pub fn new(token: impl Into<Arc<str>>) -> BearerToken {
        BearerToken(token.into())
    }

    /// The token itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl PartialEq for BearerToken {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for BearerToken {}

impl std::hash::Hash for BearerToken {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl PartialOrd for BearerToken {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BearerToken {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    /// No sign-in (`--auth=none`, sandbox or loopback only): the console acts with its own
    /// credentials and shows everything they can see.
    Console,
    Person(Person),
}

/// A person's groups as the apiserver sees them on their requests: with `system:authenticated`,
/// which it adds to every authenticated (and impersonated) user.
pub fn with_authenticated(groups: &[String]) -> Vec<String> {
    let mut groups = groups.to_vec();
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    groups
}

impl Identity {
    /// A person's name and groups as the apiserver sees them on their writes (what a schedule's
    /// `spec.owner`/`spec.ownerGroups` must be); `None` for the console itself, whose name only
    /// the cluster knows ([`crate::Cluster::writer`]).
    pub fn as_writer(&self) -> Option<(String, Vec<String>)> {
        match self {
            Identity::Person(p) => Some((p.user.clone(), with_authenticated(&p.groups))),
            Identity::Console => None,
        }
    }

    pub fn person(user: impl Into<String>, groups: Vec<String>) -> Identity {
        Identity::Person(Person {
            user: user.into(),
            groups,
            token: None,
        })
    }

    /// The name written into requests and audit lines.
    pub fn name(&self) -> &str {
        match self {
            Identity::Console => "wukong-console (no sign-in)",
            Identity::Person(p) => &p.user,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one identity may do with Wukongs in one namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// `list` (and so watch and see) Wukongs.
    pub list: bool,
    /// `patch` Wukongs: every lifecycle action.
    pub patch: bool,
    /// `delete` Wukongs.
    pub delete: bool,
    /// `list` power schedules (`WukongSchedule`): a row shows its next scheduled action only
    /// to people who may read the schedules of its namespace.
    pub schedules: bool,
}

impl Grants {
    pub const ALL: Grants = Grants {
        list: true,
        patch: true,
        delete: true,
        schedules: true,
    };
    pub const NONE: Grants = Grants {
        list: false,
        patch: false,
        delete: false,
        schedules: false,
    };

    /// The RBAC verb an action needs.
    pub fn verb(action: Action) -> &'static str {
        match action {
            Action::Delete => "delete",
            _ => "patch",
        }
    }

    pub fn allows(&self, action: Action) -> bool {
        match action {
            Action::Delete => self.delete,
            _ => self.patch,
        }
    }

    /// Whether [`Grants::mask`] changes rows: if not, a row goes out as serialized once for all.
    pub fn masks(&self) -> bool {
        !(self.patch && self.delete && self.schedules)
    }

    /// The row as this person may see it: only the actions RBAC also allows are offered, and
    /// the next scheduled action only to those who may read schedules.
    pub fn mask(&self, mut row: VmRow) -> VmRow {
        if !(self.patch && self.delete) {
            row.actions.retain(|a| self.allows(*a));
        }
        if !self.schedules {
            row.next = None;
        }
        row
    }
}

/// RBAC could not be asked (the apiserver throttled, failed or did not answer a review): the
/// person's rights in `namespace` are unknown. Never taken as "no" and never cached, so a slow
/// apiserver cannot make rows vanish or stick as refused; what the person sees says so instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("your permissions in namespace {namespace} could not be checked ({reason}); try again")]
pub struct AccessUnknown {
    pub namespace: String,
    pub reason: String,
}

/// Answers "who is this token" and "what may they do here". One per console process.
pub trait Access: Send + Sync + 'static {
    /// Grants of `who` in `namespace`, or [`AccessUnknown`] when RBAC could not be asked.
    fn grants<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Grants, AccessUnknown>>;

    /// The person a bearer token belongs to; `Ok(None)` when the cluster does not accept it.
    fn review_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Person>, ClusterError>>;

    /// How long an answer of [`Access::grants`] may be reused (live connections re-check this often).
    fn lifetime(&self) -> Duration;

    /// Whether `who` may `verb` (`create`, `update`, `delete`) power schedules in `namespace`:
    /// asked when the schedules page is listed, so it offers only what RBAC allows (the
    /// apiserver still decides each write). Cached like [`Access::grants`].
    fn may_schedules<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
        verb: &'a str,
    ) -> BoxFuture<'a, Result<bool, AccessUnknown>>;
}

fn review_counted(result: &str) {
    crate::metrics::metrics()
        .subject_access_reviews
        .get_or_create(&crate::metrics::ReviewLabels {
            result: result.to_owned(),
        })
        .inc();
}

/// Everyone may do everything: the sandbox, where there is no RBAC.
pub struct OpenAccess;

impl Access for OpenAccess {
    fn grants<'a>(
        &'a self,
        _: &'a Identity,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Grants, AccessUnknown>> {
        Box::pin(async { Ok(Grants::ALL) })
    }

    fn review_token<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<Person>, ClusterError>> {
        Box::pin(async {
            Err(ClusterError::Unavailable(
                "the sandbox has no accounts; token sign-in needs a Kubernetes cluster".into(),
            ))
        })
    }

    fn lifetime(&self) -> Duration {
        Duration::from_secs(3600)
    }

    fn may_schedules<'a>(
        &'a self,
        _: &'a Identity,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<bool, AccessUnknown>> {
        Box::pin(async { Ok(true) })
    }
}

/// RBAC answers from the apiserver: SubjectAccessReviews (and TokenReviews for sign-in) made with
/// the console's own credentials, which need `create` on both and nothing more for this.
pub struct KubeAccess {
    client: Client,
    lifetime: Duration,
    /// Answers per person × namespace for `lifetime`. moka's `try_get_with` makes concurrent
    /// callers for one key wait for the one review in flight (a page, its socket and a bulk action
    /// arriving together send three SARs, not nine), and does not keep errors.
    cache: moka::future::Cache<(Person, String), Reviewed>,
    /// The schedules page's questions (person × namespace × verb), kept and forgotten alike.
    schedule_rights: moka::future::Cache<(Person, String, String), bool>,
}

/// How many person × namespace answers are kept at most (each is a few dozen bytes).
const MAX_CACHED_ANSWERS: u64 = 100_000;

impl KubeAccess {
    pub fn new(client: Client, lifetime: Duration) -> Arc<KubeAccess> {
        Arc::new(KubeAccess {
            client,
            lifetime,
            cache: moka::future::Cache::builder()
                .max_capacity(MAX_CACHED_ANSWERS)
                .time_to_live(lifetime)
                .build(),
            schedule_rights: moka::future::Cache::builder()
                .max_capacity(MAX_CACHED_ANSWERS)
                .time_to_live(lifetime)
                .build(),
        })
    }

    /// Forgets every cached answer (after an RBAC change).
    pub fn forget(&self) {
        self.cache.invalidate_all();
        self.schedule_rights.invalidate_all();
    }

    /// Forgets every cached answer whenever a Role, RoleBinding, ClusterRole or ClusterRoleBinding
    /// changes, so an RBAC change shows at once rather than after the cache lifetime. Without
    /// `watch` on those (a tighter install), the lifetime alone bounds how stale answers get.
    pub fn forget_on_rbac_changes(self: Arc<Self>) {
        use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
        fn follow<K>(access: Arc<KubeAccess>)
        where
            K: kube::Resource<DynamicType = ()>
                + Clone
                + std::fmt::Debug
                + serde::de::DeserializeOwned
                + Send
                + 'static,
        {
            use futures::StreamExt;
            use kube::runtime::{watcher, WatchStreamExt};
            let api: Api<K> = Api::all(access.client.clone());
            tokio::spawn(async move {
                let mut changes = watcher(api, watcher::Config::default())
                    .backoff(wukong_api::watch::backoff())
                    .boxed();
                let mut warned = false;
                while let Some(change) = changes.next().await {
                    match change {
                        Ok(
                            watcher::Event::Apply(_)
                            | watcher::Event::Delete(_)
                            | watcher::Event::InitDone,
                        ) => access.forget(),
                        Ok(_) => {}
                        Err(e) if !warned => {
                            warned = true;
                            tracing::warn!(kind = %K::kind(&()), error = %e, "cannot watch RBAC objects; access answers expire after their lifetime instead");
                        }
                        Err(_) => {}
                    }
                }
            });
        }
        follow::<Role>(self.clone());
        follow::<RoleBinding>(self.clone());
        follow::<ClusterRole>(self.clone());
        follow::<ClusterRoleBinding>(self);
    }

    /// One SubjectAccessReview. An error (throttled, 5xx, timeout) is [`AccessUnknown`], not a no.
    async fn allowed(
        &self,
        person: &Person,
        namespace: &str,
        verb: &str,
        resource: &str,
    ) -> Result<bool, AccessUnknown> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(person.user.clone()),
                groups: Some(person.groups.clone()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(Wukong::group(&()).into_owned()),
                    resource: Some(resource.to_owned()),
                    namespace: Some(namespace.to_owned()),
                    verb: Some(verb.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        match Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
        {
            Ok(answer) => {
                let allowed = answer.status.is_some_and(|s| s.allowed);
                review_counted(if allowed { "allowed" } else { "denied" });
                Ok(allowed)
            }
            Err(e) => {
                review_counted("failed");
                tracing::warn!(user = %person.user, %namespace, verb, resource, error = %e, "access review failed; the answer is unknown (not cached)");
                let reason = match &e {
                    kube::Error::Api(status) => format!(
                        "the cluster answered {} {} to an access review",
                        status.code, status.reason
                    ),
                    _ => "the cluster did not answer an access review".to_owned(),
                };
                Err(AccessUnknown {
                    namespace: namespace.to_owned(),
                    reason,
                })
            }
        }
    }

    /// The four reviews of one person in one namespace, sent together. The Wukong reviews decide
    /// what the person sees and may do, so if any of them fails the rights are unknown. The
    /// schedules review only decides whether rows show their next scheduled action: if it alone
    /// fails, the answer hides that (the safe side) and says it is [`Reviewed::partial`], so it is
    /// not kept and the next ask reviews again.
    async fn review(&self, person: &Person, namespace: &str) -> Result<Reviewed, AccessUnknown> {
        let (wukongs, schedules) = (Wukong::plural(&()), WukongSchedule::plural(&()));
        let (list, patch, delete, schedules) = futures::join!(
            self.allowed(person, namespace, "list", &wukongs),
            self.allowed(person, namespace, "patch", &wukongs),
            self.allowed(person, namespace, "delete", &wukongs),
            self.allowed(person, namespace, "list", &schedules),
        );
        Ok(Reviewed {
            grants: Grants {
                list: list?,
                patch: patch?,
                delete: delete?,
                schedules: schedules.as_ref().is_ok_and(|allowed| *allowed),
            },
            partial: schedules.is_err(),
        })
    }
}

/// One person's reviewed rights in one namespace, as cached.
#[derive(Clone, Copy, Debug)]
struct Reviewed {
    grants: Grants,
    /// The schedules review failed: `grants.schedules` is a stand-in "no" that must not be kept.
    partial: bool,
}

impl Access for KubeAccess {
    fn grants<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Grants, AccessUnknown>> {
        Box::pin(async move {
            let Identity::Person(person) = who else {
                return Ok(Grants::ALL);
            };
            let key = (person.clone(), namespace.to_owned());
            let asked = std::sync::atomic::AtomicBool::new(false);
            let answer = self
                .cache
                .try_get_with(key.clone(), async {
                    asked.store(true, std::sync::atomic::Ordering::Relaxed);
                    self.review(person, namespace).await
                })
                .await
                .map_err(|shared| AccessUnknown::clone(&shared));
            if answer.as_ref().is_ok_and(|reviewed| reviewed.partial) {
                // Those waiting on this review share it; the next ask reviews again.
                self.cache.invalidate(&key).await;
            }
            let from = if asked.load(std::sync::atomic::Ordering::Relaxed) {
                "cluster"
            } else {
                "cache"
            };
            crate::metrics::metrics()
                .access_checks
                .get_or_create(&crate::metrics::AccessLabels {
                    answered_from: from.to_owned(),
                })
                .inc();
            answer.map(|reviewed| reviewed.grants)
        })
    }

    fn review_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Person>, ClusterError>> {
        Box::pin(async move {
            let review = TokenReview {
                spec: TokenReviewSpec {
                    token: token.to_owned(),
                    ..TokenReviewSpec::default()
                },
                ..TokenReview::default()
            };
            // The token is in the request body only; errors never echo it.
            let answer = Api::<TokenReview>::all(self.client.clone())
                .create(&PostParams::default(), &review)
                .await
                .map_err(|e| match e {
                    kube::Error::Api(status) => ClusterError::Unavailable(format!(
                        "the cluster cannot check tokens for the console ({} {}); it needs create on tokenreviews",
                        status.code, status.reason
                    )),
                    other => ClusterError::Unavailable(other.to_string()),
                })?;
            let Some(status) = answer.status.filter(|s| s.authenticated == Some(true)) else {
                return Ok(None);
            };
            Ok(status.user.and_then(|user| {
                Some(Person {
                    user: user.username.filter(|u| !u.is_empty())?,
                    groups: user.groups.unwrap_or_default(),
                    // The person's reads and writes go with the token they signed in with.
                    token: Some(BearerToken::new(token)),
                })
            }))
        })
    }

    fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn may_schedules<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
        verb: &'a str,
    ) -> BoxFuture<'a, Result<bool, AccessUnknown>> {
        Box::pin(async move {
            match who {
                // The console itself (no sign-in): the apiserver answers its writes.
                Identity::Console => Ok(true),
                Identity::Person(person) => {
                    let key = (person.clone(), namespace.to_owned(), verb.to_owned());
                    self.schedule_rights
                        .try_get_with(key, async {
                            self.allowed(person, namespace, verb, &WukongSchedule::plural(&()))
                                .await
                        })
                        .await
                        .map_err(|shared| AccessUnknown::clone(&shared))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// An apiserver that answers every SubjectAccessReview "allowed" after a short delay (so
    /// concurrent callers overlap), or 429 while `throttled` (or, for reviews about schedules,
    /// while `schedules_throttled`); it counts the reviews it gets.
    #[derive(Default)]
    struct StandIn {
        reviews: AtomicUsize,
        throttled: AtomicBool,
        schedules_throttled: AtomicBool,
    }

    fn access(apiserver: Arc<StandIn>) -> Arc<KubeAccess> {
        let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
            let apiserver = apiserver.clone();
            async move {
                use http_body_util::BodyExt;
                let body = request.into_body().collect().await?.to_bytes();
                let review: SubjectAccessReview = serde_json::from_slice(&body)?;
                let about_schedules = review
                    .spec
                    .resource_attributes
                    .and_then(|r| r.resource)
                    .is_some_and(|r| r == WukongSchedule::plural(&()));
                apiserver.reviews.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                let (code, body) = if apiserver.throttled.load(Ordering::SeqCst)
                    || (about_schedules && apiserver.schedules_throttled.load(Ordering::SeqCst))
                {
                    (
                        429,
                        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too many requests","reason":"TooManyRequests","code":429}"#,
                    )
                } else {
                    (
                        201,
                        r#"{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{},"status":{"allowed":true}}"#,
                    )
                };
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    http::Response::builder()
                        .status(code)
                        .header("content-type", "application/json")
                        .body(kube::client::Body::from(body.as_bytes().to_vec()))?,
                )
            }
        });
        KubeAccess::new(Client::new(service, "default"), Duration::from_secs(60))
    }

    fn ann() -> Identity {
        Identity::person("ann", vec!["team-a".into()])
    }

    #[tokio::test]
    async fn concurrent_askers_for_one_person_and_namespace_share_one_review() {
        let apiserver = Arc::new(StandIn::default());
        let access = access(apiserver.clone());
        let who = ann();
        let answers =
            futures::future::join_all((0..10).map(|_| access.grants(&who, "team-a"))).await;
        assert!(answers.iter().all(|a| *a == Ok(Grants::ALL)), "{answers:?}");
        assert_eq!(
            apiserver.reviews.load(Ordering::SeqCst),
            4,
            "list, patch, delete and list schedules once"
        );
        // Cached for its lifetime; another namespace is another question; forget() asks again.
        assert_eq!(access.grants(&who, "team-a").await, Ok(Grants::ALL));
        assert_eq!(apiserver.reviews.load(Ordering::SeqCst), 4);
        assert_eq!(access.grants(&who, "team-b").await, Ok(Grants::ALL));
        assert_eq!(apiserver.reviews.load(Ordering::SeqCst), 8);
        access.forget();
        assert_eq!(access.grants(&who, "team-a").await, Ok(Grants::ALL));
        assert_eq!(apiserver.reviews.load(Ordering::SeqCst), 12);
    }

    #[tokio::test]
    async fn a_failed_review_is_unknown_and_not_cached_as_no() {
        let apiserver = Arc::new(StandIn {
            throttled: AtomicBool::new(true),
            ..StandIn::default()
        });
        let access = access(apiserver.clone());
        let who = ann();
        let unknown = access
            .grants(&who, "team-a")
            .await
            .expect_err("a throttled apiserver gives no answer");
        assert_eq!(unknown.namespace, "team-a");
        assert!(
            unknown.to_string().contains("could not be checked"),
            "{unknown}"
        );
        assert!(unknown.reason.contains("429"), "{unknown:?}");
        // Not remembered: the next ask goes to the apiserver again, and gets the real answer.
        apiserver.throttled.store(false, Ordering::SeqCst);
        assert_eq!(access.grants(&who, "team-a").await, Ok(Grants::ALL));
        assert_eq!(apiserver.reviews.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_failed_schedules_review_hides_only_the_next_scheduled_action_and_is_asked_again() {
        let apiserver = Arc::new(StandIn {
            schedules_throttled: AtomicBool::new(true),
            ..StandIn::default()
        });
        let access = access(apiserver.clone());
        let who = ann();
        // Rows and actions stay as RBAC allows; only the schedule column is withheld.
        let without_schedules = Grants {
            schedules: false,
            ..Grants::ALL
        };
        assert_eq!(access.grants(&who, "team-a").await, Ok(without_schedules));
        assert_eq!(apiserver.reviews.load(Ordering::SeqCst), 4);
        // That stand-in "no" is not kept: the next ask reviews again, and gets the real answer,
        // which is kept.
        apiserver.schedules_throttled.store(false, Ordering::SeqCst);
        assert_eq!(access.grants(&who, "team-a").await, Ok(Grants::ALL));
        assert_eq!(apiserver.reviews.load(Ordering::SeqCst), 8);
        assert_eq!(access.grants(&who, "team-a").await, Ok(Grants::ALL));
        assert_eq!(apiserver.reviews.load(Ordering::SeqCst), 8);
    }
}
