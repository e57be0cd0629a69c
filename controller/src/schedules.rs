//! Power schedules (issue 17), carried out by the leader as ordinary requests.
//!
//! One loop per leader: reflector stores of `WukongSchedule`s and `WukongCalendar`s, woken by any
//! change to either and at the earliest next edge (at least once a minute). For each schedule it
//! asks the pure `wukong_schedule` what is due ([`wukong_schedule::due`]: the latest edge, once,
//! and only if younger than `--schedule-catch-up`) and, for an edge to act on, each selected
//! Wukong in turn:
//!
//! 1. a SubjectAccessReview: may the schedule's owner (with the groups recorded with them) patch
//!    this Wukong? If not, no request and a Warning Event on the Wukong;
//! 2. [`wukong_schedule::request::for_vm`] on a fresh read: the lifecycle rules as for a click (a
//!    VM already as the edge wants it gets no request), and a request written at or after the edge
//!    wins until the next one;
//! 3. the request, written as a person's is (`LifecycleAction::merge_patch`, conditional on the
//!    uid and version decided on; on a conflict, decided again on a fresh read), with
//!    `requestedBy: schedule:<namespace>/<name> for <owner>` and a request id made from the
//!    schedule's uid and the edge, so a controller that restarts halfway through an edge writes
//!    no request twice. From there the reconciler carries it out like any other.
//!
//! The edge is then recorded in the schedule's status (`lastEdge`, `nextEdge`, `message`), with an
//! Event on the schedule saying what it did.

use crate::events::{EventWriter, NewEvent};
use crate::metrics::Metrics;
use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{info, warn};
use wukong_api::{Preconditions, Wukong, WukongCalendar, WukongSchedule, WukongScheduleStatus};
use wukong_schedule::request::{summary, ForVm, Outcome};
use wukong_schedule::Edge;

/// How long after an edge a controller that was down still acts on it, unless configured
/// otherwise (`--schedule-catch-up`).
pub const DEFAULT_CATCH_UP: Duration = Duration::from_secs(3600);

/// The longest the loop sleeps: a clock step or a missed watch event costs at most this.
const LOOK_AT_LEAST_EVERY: Duration = Duration::from_secs(60);

/// How many of a schedule's Wukongs are asked at once.
const AT_ONCE: usize = 16;

/// How often a request is decided again after a conflicting write.
const TRIES: usize = 3;

pub struct Scheduler {
    client: Client,
    events: EventWriter,
    metrics: Arc<Metrics>,
    catch_up: SignedDuration,
}

impl Scheduler {
    pub fn new(
        client: Client,
        events: EventWriter,
        metrics: Arc<Metrics>,
        catch_up: Duration,
    ) -> Scheduler {
        Scheduler {
            client,
            events,
            metrics,
            catch_up: SignedDuration::try_from(catch_up).unwrap_or(SignedDuration::MAX),
        }
    }
}

/// Follows every schedule of `namespace` (all namespaces if `None`) until dropped.
pub async fn run(scheduler: Arc<Scheduler>, namespace: Option<&str>) {
    let client = scheduler.client.clone();
    let (schedules_api, calendars_api) = match namespace {
        Some(ns) => (
            Api::<WukongSchedule>::namespaced(client.clone(), ns),
            Api::<WukongCalendar>::namespaced(client, ns),
        ),
        None => (
            Api::<WukongSchedule>::all(client.clone()),
            Api::<WukongCalendar>::all(client),
        ),
    };
    let (schedules, schedule_writer) = reflector::store();
    let (calendars, calendar_writer) = reflector::store();
    let wake = Arc::new(Notify::new());
    let schedule_events = {
        let wake = wake.clone();
        watcher(schedules_api, watcher::Config::default())
            .backoff(wukong_api::watch::backoff())
            .reflect(schedule_writer)
            .for_each(move |event| {
                if let Err(e) = event {
                    warn!(error = %e, "watching WukongSchedules");
                }
                wake.notify_one();
                futures::future::ready(())
            })
    };
    let calendar_events = {
        let wake = wake.clone();
        watcher(calendars_api, watcher::Config::default())
            .backoff(wukong_api::watch::backoff())
            .reflect(calendar_writer)
            .for_each(move |event| {
                if let Err(e) = event {
                    warn!(error = %e, "watching WukongCalendars");
                }
                wake.notify_one();
                futures::future::ready(())
            })
    };
    let follow = async {
        if schedules.wait_until_ready().await.is_err()
            || calendars.wait_until_ready().await.is_err()
        {
            return;
        }
        loop {
            let now = Timestamp::now();
            let mut sleep = LOOK_AT_LEAST_EVERY;
            for schedule in schedules.state() {
                if let Some(next) = scheduler.tend(&schedule, &calendars, now).await {
                    let until = Duration::try_from(next.duration_since(Timestamp::now()))
                        .unwrap_or(Duration::ZERO);
                    sleep = sleep.min(until);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = wake.notified() => {}
            }
        }
    };
    tokio::select! {
        () = schedule_events => {}
        () = calendar_events => {}
        () = follow => {}
    }
}

impl Scheduler {
    /// Brings one schedule up to `now` (`WukongSchedule::tend` decides): acts on its due edge,
    /// records it. Returns its next edge.
    async fn tend(
        &self,
        schedule: &WukongSchedule,
        calendars: &Store<WukongCalendar>,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let namespace = schedule.namespace()?;
        let named: Vec<Arc<WukongCalendar>> = schedule
            .spec
            .calendars
            .iter()
            .filter_map(|name| calendars.get(&ObjectRef::new(name).within(&namespace)))
            .collect();
        let mut tended = schedule.tend(
            |name| {
                named
                    .iter()
                    .find(|c| c.metadata.name.as_deref() == Some(name))
                    .map(|c| &c.spec)
            },
            now,
            self.catch_up,
        );
        if tended.missed.is_some() {
            self.metrics.count_schedule_edge("missed");
            self.event(
                schedule,
                true,
                "ScheduleMissedEdge",
                tended.status.message.clone(),
            )
            .await;
        }
        if let Some(edge) = tended.act {
            let message = self.carry_out(schedule, &namespace, &edge).await;
            tended.status.message = Some(message.clone());
            self.metrics.count_schedule_edge("acted");
            self.event(schedule, false, "ScheduleEdge", Some(message))
                .await;
        }
        if Some(&tended.status) != schedule.status.as_ref() {
            self.write_status(schedule, &namespace, &tended.status)
                .await;
        }
        tended.next
    }

    /// The edge's request on each selected Wukong; a line saying what happened.
    async fn carry_out(&self, schedule: &WukongSchedule, namespace: &str, edge: &Edge) -> String {
        let name = schedule.name_any();
        let wukongs = match self.selected(schedule, namespace).await {
            Ok(w) => w,
            Err(e) => {
                warn!(schedule = %name, %namespace, error = %e, "cannot list the schedule's Wukongs");
                return format!(
                    "the {} at {} found no VMs: listing them failed ({e})",
                    edge.action, edge.at
                );
            }
        };
        let outcomes: Vec<(String, Outcome)> = futures::stream::iter(wukongs)
            .map(|wukong| async move {
                let vm = wukong.name_any();
                let outcome = self.one(schedule, namespace, edge, wukong).await;
                self.metrics.count_schedule_request(outcome.label());
                (vm, outcome)
            })
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
        let line = summary(edge, &outcomes);
        info!(schedule = %name, %namespace, "{line}");
        line
    }

    /// The Wukongs a schedule names or selects, read fresh.
    async fn selected(
        &self,
        schedule: &WukongSchedule,
        namespace: &str,
    ) -> Result<Vec<Wukong>, kube::Error> {
        let api = Api::<Wukong>::namespaced(self.client.clone(), namespace);
        let mut found: BTreeMap<String, Wukong> = BTreeMap::new();
        if let Some(selector) = schedule.label_selector() {
            let params = ListParams::default().labels_from(&selector);
            for w in api.list(&params).await?.items {
                found.insert(w.name_any(), w);
            }
        }
        for name in &schedule.spec.vms {
            if !found.contains_key(name) {
                if let Some(w) = api.get_opt(name).await? {
                    found.insert(name.to_string(), w);
                }
            }
        }
        Ok(found
            .into_values()
            .filter(|w| schedule.selects(w) && w.metadata.deletion_timestamp.is_none())
            .collect())
    }

    /// The edge on one Wukong.
    async fn one(
        &self,
        schedule: &WukongSchedule,
        namespace: &str,
        edge: &Edge,
        mut wukong: Wukong,
    ) -> Outcome {
        let name = wukong.name_any();
        match self.owner_may_patch(schedule, namespace, &name).await {
            Ok(true) => {}
            Ok(false) => {
                let note = format!(
                    "schedule {} did not {} this VM: its owner {} may not patch wukongs/{name} in namespace {namespace}",
                    schedule.name_any(),
                    edge.action,
                    schedule.spec.owner
                );
                self.publish(
                    true,
                    "ScheduleNotPermitted",
                    Some(note),
                    wukong.object_ref(&()),
                )
                .await;
                return Outcome::NotPermitted;
            }
            Err(e) => {
                warn!(vm = %name, %namespace, error = %e, "cannot check the schedule owner's rights");
                return Outcome::Failed;
            }
        }
        let api = Api::<Wukong>::namespaced(self.client.clone(), namespace);
        for _ in 0..TRIES {
            let decision = schedule.decide_for(edge, &wukong);
            let action = match decision {
                ForVm::Request(action) => action,
                done => return Option::<Outcome>::from(done).unwrap_or(Outcome::LeftAlone),
            };
            let Some(request) = schedule.request_for(edge, action, Timestamp::now()) else {
                return Outcome::LeftAlone;
            };
            let patch = request.merge_patch(&Preconditions {
                uid: wukong.uid(),
                resource_version: wukong.resource_version(),
            });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Outcome::Requested,
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    match api.get_opt(&name).await {
                        Ok(Some(fresh)) if fresh.uid() == wukong.uid() => wukong = fresh,
                        Ok(_) => return Outcome::LeftAlone,
                        Err(e) => {
                            warn!(vm = %name, %namespace, error = %e, "cannot read the Wukong again");
                            return Outcome::Failed;
                        }
                    }
                }
                Err(e) => {
                    warn!(vm = %name, %namespace, error = %e, "cannot write the schedule's request");
                    return Outcome::Failed;
                }
            }
        }
        Outcome::Failed
    }

    /// May the schedule's owner patch this Wukong? (They would need to, to click the button.)
    async fn owner_may_patch(
        &self,
        schedule: &WukongSchedule,
        namespace: &str,
        name: &str,
    ) -> Result<bool, kube::Error> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(schedule.spec.owner.clone()),
                groups: (!schedule.spec.owner_groups.is_empty())
                    .then(|| schedule.spec.owner_groups.clone()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(Wukong::group(&()).into_owned()),
                    resource: Some(Wukong::plural(&()).into_owned()),
                    verb: Some("patch".into()),
                    namespace: Some(namespace.to_owned()),
                    name: Some(name.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    /// Replaces the schedule's status (a JSON patch: fields that went away are removed, which a
    /// merge patch of the struct would leave behind).
    async fn write_status(
        &self,
        schedule: &WukongSchedule,
        namespace: &str,
        status: &WukongScheduleStatus,
    ) {
        let api = Api::<WukongSchedule>::namespaced(self.client.clone(), namespace);
        let ops = serde_json::json!([
            { "op": "test", "path": "/metadata/uid", "value": schedule.uid() },
            { "op": "add", "path": "/status", "value": status },
        ]);
        let patch = match serde_json::from_value::<json_patch::Patch>(ops) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "cannot build the schedule's status patch");
                return;
            }
        };
        // The status is the edge's only record: a write lost to a blip would have the next look
        // decide the edge again (writing no request twice, but a second Event saying "left
        // alone"), so a failed write is tried again at once, a few times. A 422 (the uid test: the
        // schedule was deleted and made again) is final.
        let patch = Patch::<()>::Json(patch);
        for wait in [
            Some(Duration::from_secs(1)),
            Some(Duration::from_secs(2)),
            None,
        ] {
            match api
                .patch_status(&schedule.name_any(), &PatchParams::default(), &patch)
                .await
            {
                Ok(_) => return,
                Err(kube::Error::Api(status)) if matches!(status.code, 404 | 422) => {
                    warn!(schedule = %schedule.name_any(), %namespace, code = status.code, "the schedule went away before its status was written");
                    return;
                }
                Err(e) => match wait {
                    Some(wait) => {
                        warn!(schedule = %schedule.name_any(), %namespace, error = %e, "cannot write the schedule's status; trying again");
                        tokio::time::sleep(wait).await;
                    }
                    None => {
                        warn!(schedule = %schedule.name_any(), %namespace, error = %e, "cannot write the schedule's status; the next look tries again");
                    }
                },
            }
        }
    }

    async fn event(
        &self,
        schedule: &WukongSchedule,
        warning: bool,
        reason: &str,
        note: Option<String>,
    ) {
        self.publish(warning, reason, note, schedule.object_ref(&()))
            .await;
    }

    async fn publish(
        &self,
        warning: bool,
        reason: &str,
        note: Option<String>,
        regarding: k8s_openapi::api::core::v1::ObjectReference,
    ) {
        let event = NewEvent {
            warning,
            reason,
            action: "Schedule",
            note,
            says: None,
        };
        if let Err(e) = self.events.publish(event, &regarding).await {
            warn!(error = %e, reason, "cannot write an Event");
        }
    }
}
