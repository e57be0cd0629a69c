//! Power schedules in the console (issue 17): the schedules and calendars every replica follows
//! through one watch (like the rows'), each VM's next scheduled action, and the forms people
//! write schedules with. When to act is `wukong_schedule`'s (pure) and what a schedule is
//! `wukong_api`'s; this module only puts them together for the page.

use crate::ClusterError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use wukong_api::{ScheduledStop, WukongCalendar, WukongSchedule, WukongScheduleSpec};
use wukong_schedule::request::action_of;
use wukong_schedule::{
    next_edges, CalendarDate, Day, Edge, EdgeAction, Exception, Plan, SkipEdge, Window,
};
use wukong_view::{
    validate_dns1123_label, validate_dns1123_subdomain, Action, ExceptionForm, ScheduleChange,
    ScheduleForm, ScheduleView, ScheduledNext, SchedulesPage, WindowForm,
};

/// Every schedule and calendar the console can see, as its watch last listed them.
#[derive(Clone, Debug, Default)]
pub struct ScheduleSet {
    pub schedules: Vec<WukongSchedule>,
    pub calendars: Vec<WukongCalendar>,
}

/// The schedules as of one instant: which are followed, and their next edges.
#[derive(Clone, Debug, Default)]
pub struct Book {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
struct Entry {
    schedule: WukongSchedule,
    /// Why it is not followed.
    problem: Option<String>,
    /// Its next edge and the zone's offset then.
    next: Option<(Edge, i32)>,
}

impl Book {
    pub fn new(set: &ScheduleSet, now: Timestamp) -> Book {
        let entries = set
            .schedules
            .iter()
            .map(|schedule| {
                let namespace = schedule.metadata.namespace.as_deref();
                let plan = schedule.plan(|name| {
                    set.calendars
                        .iter()
                        .find(|c| {
                            c.metadata.namespace.as_deref() == namespace
                                && c.metadata.name.as_deref() == Some(name)
                        })
                        .map(|c| &c.spec)
                });
                let (problem, next) = match (schedule.spec.suspend, plan) {
                    (true, _) => (None, None),
                    (false, Err(e)) => (Some(e.to_string()), None),
                    (false, Ok(plan)) => (
                        None,
                        next_edges(&plan, now)
                            .next
                            .map(|e| (e, plan.offset_seconds_at(e.at))),
                    ),
                };
                Entry {
                    schedule: schedule.clone(),
                    problem,
                    next,
                }
            })
            .collect();
        Book { entries }
    }

    /// The earliest next edge of any schedule: the rows' next actions change then.
    pub fn earliest(&self) -> Option<Timestamp> {
        self.entries
            .iter()
            .filter_map(|e| e.next.map(|(edge, _)| edge.at))
            .min()
    }

    /// The next scheduled action on a VM: the earliest next edge of the schedules that run it.
    pub fn next_for(
        &self,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Option<ScheduledNext> {
        self.entries
            .iter()
            .filter(|e| e.schedule.selects_vm(namespace, name, labels))
            .filter_map(|e| Some((e, e.next?)))
            .min_by_key(|(_, (edge, _))| edge.at)
            .map(|(e, next)| next_of(&e.schedule, next))
    }

    /// A schedule as the page lists it. `selected`: the VMs of its namespace it runs now.
    pub fn view(&self, schedule: &WukongSchedule, selected: Vec<String>) -> ScheduleView {
        let entry = self
            .entries
            .iter()
            .find(|e| e.schedule.metadata.uid == schedule.metadata.uid);
        ScheduleView {
            form: form_of(schedule),
            uid: schedule.metadata.uid.clone().unwrap_or_default(),
            owner: schedule.spec.owner.clone(),
            next: entry.and_then(|e| Some(next_of(schedule, e.next?))),
            problem: entry.and_then(|e| e.problem.clone()),
            message: schedule.status.as_ref().and_then(|s| s.message.clone()),
            selected,
            version: schedule
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default(),
        }
    }
}

fn next_of(schedule: &WukongSchedule, (edge, offset): (Edge, i32)) -> ScheduledNext {
    ScheduledNext {
        action: action_of(edge.action, schedule.spec.stop.force),
        at_ms: edge.at.as_millisecond(),
        offset_seconds: offset,
        schedule: schedule.metadata.name.clone().unwrap_or_default(),
    }
}

fn day_name(day: Day) -> &'static str {
    wukong_view::DAYS[day as usize]
}

fn day_of(name: &str) -> Result<Day, String> {
    const ALL: [Day; 7] = [
        Day::Monday,
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
        Day::Saturday,
        Day::Sunday,
    ];
    wukong_view::DAYS
        .iter()
        .position(|d| *d == name)
        .map(|i| ALL[i])
        .ok_or_else(|| format!("{name:?} is not a day of the week (Monday … Sunday)"))
}

fn edge_action(action: Action) -> Result<EdgeAction, String> {
    match action {
        Action::Start => Ok(EdgeAction::Start),
        Action::Stop | Action::ForceStop => Ok(EdgeAction::Stop),
        other => Err(format!(
            "a schedule starts and stops VMs; it cannot skip a {other}"
        )),
    }
}

/// What a schedule says, as the page's form.
pub fn form_of(schedule: &WukongSchedule) -> ScheduleForm {
    let spec = &schedule.spec;
    ScheduleForm {
        namespace: schedule.metadata.namespace.clone().unwrap_or_default(),
        name: schedule.metadata.name.clone().unwrap_or_default(),
        time_zone: spec.time_zone.clone(),
        windows: spec
            .windows
            .iter()
            .map(|w| WindowForm {
                days: w.days.iter().map(|d| day_name(*d).to_owned()).collect(),
                start: w.start.clone(),
                stop: w.stop.clone(),
            })
            .collect(),
        match_labels: spec
            .selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect(),
        vms: spec.vms.clone(),
        grace_period_seconds: spec
            .stop
            .grace_period_seconds
            .and_then(|g| u32::try_from(g).ok()),
        force: spec.stop.force,
        suspend: spec.suspend,
        calendars: spec.calendars.clone(),
        exceptions: spec
            .exceptions
            .iter()
            .flat_map(|e| {
                let skip = e.skip.as_ref().map(|s| ExceptionForm::Skip {
                    action: match s.action {
                        EdgeAction::Start => Action::Start,
                        EdgeAction::Stop => Action::Stop,
                    },
                    date: s.date.clone(),
                });
                let keep = e
                    .keep_running_until
                    .clone()
                    .map(ExceptionForm::KeepRunningUntil);
                skip.into_iter().chain(keep)
            })
            .collect(),
    }
}

/// The schedule a person's form makes, owned by them (`owner`, `groups`: whoever writes it, as
/// the owner policy demands), checked as the controller will read it: every error is one a
/// person can act on, and nothing is written until the whole form is right. `previous`: the
/// schedule being edited, whose label expressions (which the form does not show) are kept.
pub fn schedule_from_form(
    form: &ScheduleForm,
    owner: &str,
    groups: &[String],
    previous: Option<&WukongSchedule>,
) -> Result<WukongSchedule, ClusterError> {
    let invalid = ClusterError::Invalid;
    validate_dns1123_label("namespace", &form.namespace).map_err(invalid)?;
    validate_dns1123_subdomain("schedule name", &form.name).map_err(invalid)?;
    for vm in &form.vms {
        validate_dns1123_subdomain("VM name", vm).map_err(invalid)?;
    }
    for calendar in &form.calendars {
        validate_dns1123_subdomain("calendar name", calendar).map_err(invalid)?;
    }
    for (key, value) in &form.match_labels {
        validate_label(key, value).map_err(invalid)?;
    }
    if form.vms.is_empty()
        && form.match_labels.is_empty()
        && previous_expressions(previous).is_none()
    {
        return Err(invalid(
            "name the VMs the schedule runs: by name, or by label (key=value)".into(),
        ));
    }
    if let Some(grace) = form.grace_period_seconds {
        wukong_lifecycle::validate_grace_period(i64::from(grace))
            .map_err(|e| invalid(e.to_string()))?;
    }
    let windows = form
        .windows
        .iter()
        .map(|w| {
            Ok(Window {
                days: w
                    .days
                    .iter()
                    .map(|d| day_of(d))
                    .collect::<Result<_, String>>()?,
                start: w.start.trim().to_owned(),
                stop: w.stop.trim().to_owned(),
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(invalid)?;
    let exceptions = form
        .exceptions
        .iter()
        .map(|e| {
            Ok(match e {
                ExceptionForm::Skip { action, date } => Exception {
                    skip: Some(SkipEdge {
                        action: edge_action(*action)?,
                        date: date.trim().to_owned(),
                    }),
                    keep_running_until: None,
                },
                ExceptionForm::KeepRunningUntil(until) => Exception {
                    skip: None,
                    keep_running_until: Some(instant_in(until.trim(), form.time_zone.trim())),
                },
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(invalid)?;
    let time_zone = form.time_zone.trim().to_owned();
    // The zone, times, dates and instants, exactly as the controller will check them (calendars
    // are looked up there; here any name passes).
    let empty: &[CalendarDate] = &[];
    Plan::new(&time_zone, &windows, &[empty], &exceptions).map_err(|e| invalid(e.to_string()))?;
    let mut selector = previous
        .and_then(|p| p.spec.selector.clone())
        .unwrap_or_default();
    selector.match_labels =
        (!form.match_labels.is_empty()).then(|| form.match_labels.iter().cloned().collect());
    let selector = (selector.match_labels.is_some() || selector.match_expressions.is_some())
        .then_some(selector);
    Ok(WukongSchedule {
        metadata: ObjectMeta {
            name: Some(form.name.clone()),
            namespace: Some(form.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: WukongScheduleSpec {
            owner: owner.to_owned(),
            owner_groups: groups.to_vec(),
            selector,
            vms: form.vms.clone(),
            time_zone,
            windows,
            stop: ScheduledStop {
                grace_period_seconds: form.grace_period_seconds.map(i64::from),
                force: form.force,
            },
            suspend: form.suspend,
            calendars: form.calendars.clone(),
            exceptions,
        },
        status: None,
    })
}

/// An instant as written: RFC 3339 as it is; a local date and time (`2026-12-04T22:00`, what a
/// browser's date-time field gives) in the schedule's zone, made RFC 3339 with that zone's
/// offset. Anything else is left for `Plan::new` to refuse with its message.
fn instant_in(text: &str, zone: &str) -> String {
    if text.parse::<Timestamp>().is_ok() {
        return text.to_owned();
    }
    let local = text
        .parse::<k8s_openapi::jiff::civil::DateTime>()
        .ok()
        .zip(k8s_openapi::jiff::tz::TimeZone::get(zone).ok())
        .and_then(|(dt, tz)| dt.to_zoned(tz).ok());
    match local {
        Some(zoned) => zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        None => text.to_owned(),
    }
}

/// The schedules `who` may read in `namespaces`, as the page lists them.
pub async fn views(
    cluster: &dyn crate::Cluster,
    access: &dyn crate::Access,
    store: &crate::LiveStore,
    who: &crate::Identity,
    namespaces: Vec<String>,
) -> Result<SchedulesPage, ClusterError> {
    let mut page = SchedulesPage::default();
    for namespace in &namespaces {
        match cluster.list_schedules(who, namespace).await {
            Ok(mut listed) => {
                listed.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
                page.schedules.extend(store.schedule_views(&listed));
            }
            Err(ClusterError::ScheduleForbidden { .. }) => {
                page.unreadable.push(namespace.clone());
                continue;
            }
            Err(e) => return Err(e),
        }
        let may = |verb| access.may_schedules(who, namespace, verb);
        let (create, update, delete) = futures::join!(may("create"), may("update"), may("delete"));
        // Unknown is not a no: offered, and the apiserver answers the write.
        for (allowed, list) in [
            (create, &mut page.creatable),
            (update, &mut page.changeable),
            (delete, &mut page.deletable),
        ] {
            if allowed.unwrap_or(true) {
                list.push(namespace.clone());
            }
        }
    }
    page.namespaces = namespaces;
    Ok(page)
}

/// The schedule of that name as `who` reads it now.
async fn read(
    cluster: &dyn crate::Cluster,
    who: &crate::Identity,
    namespace: &str,
    name: &str,
) -> Result<WukongSchedule, ClusterError> {
    cluster
        .list_schedules(who, namespace)
        .await?
        .into_iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .ok_or_else(|| ClusterError::ScheduleConflict {
            schedule: format!("{namespace}/{name}"),
        })
}

/// Creates (`version` none) or replaces a schedule from a person's form, as them, owned by
/// them. A replace keeps the schedule's own metadata (labels, annotations) and is written only
/// if it is still at `version`.
pub async fn save(
    cluster: &dyn crate::Cluster,
    who: &crate::Identity,
    form: &ScheduleForm,
    version: Option<String>,
) -> Result<(), ClusterError> {
    let previous = match &version {
        Some(_) => Some(read(cluster, who, &form.namespace, &form.name).await?),
        None => None,
    };
    let (owner, groups) = cluster.writer(who).await;
    let mut schedule = schedule_from_form(form, &owner, &groups, previous.as_ref())?;
    if let Some(previous) = previous {
        schedule.metadata = previous.metadata;
        schedule.metadata.resource_version = version;
    }
    cluster.write_schedule(who, schedule).await
}

/// A change that needs no form, on the schedule as it is now (tried twice if someone else
/// changes it at the same moment). Whoever changes a schedule becomes its owner.
pub async fn change(
    cluster: &dyn crate::Cluster,
    who: &crate::Identity,
    namespace: &str,
    name: &str,
    change: &ScheduleChange,
) -> Result<(), ClusterError> {
    let mut last = None;
    for _ in 0..2 {
        let current = read(cluster, who, namespace, name).await?;
        let mut form = form_of(&current);
        match change {
            ScheduleChange::Suspend(suspend) => form.suspend = *suspend,
            ScheduleChange::AddException(e) => form.exceptions.push(e.clone()),
            ScheduleChange::RemoveException(i) => {
                if *i < form.exceptions.len() {
                    form.exceptions.remove(*i);
                }
            }
            ScheduleChange::AddVms(vms) => {
                for vm in vms {
                    if !form.vms.contains(vm) {
                        form.vms.push(vm.clone());
                    }
                }
            }
        }
        match save(
            cluster,
            who,
            &form,
            current.metadata.resource_version.clone(),
        )
        .await
        {
            Err(e @ ClusterError::ScheduleConflict { .. }) => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or(ClusterError::ScheduleConflict {
        schedule: format!("{namespace}/{name}"),
    }))
}

fn previous_expressions(previous: Option<&WukongSchedule>) -> Option<&LabelSelector> {
    previous?
        .spec
        .selector
        .as_ref()
        .filter(|s| s.match_expressions.as_ref().is_some_and(|e| !e.is_empty()))
}

/// A label as Kubernetes accepts it: an optional DNS prefix and a name of up to 63 characters;
/// a value of up to 63 (may be empty).
fn validate_label(key: &str, value: &str) -> Result<(), String> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) => {
            validate_dns1123_subdomain("label prefix", prefix)?;
            name
        }
        None => key,
    };
    if !name_ok(name) {
        return Err(format!(
            "label key {key:?}: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    if !(value.is_empty() || name_ok(value)) {
        return Err(format!(
            "label value {value:?}: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ScheduleForm {
        ScheduleForm {
            namespace: "team-a".into(),
            name: "dev-hours".into(),
            time_zone: "Asia/Shanghai".into(),
            windows: vec![WindowForm {
                days: ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
                    .map(String::from)
                    .to_vec(),
                start: "08:00".into(),
                stop: "20:00".into(),
            }],
            match_labels: vec![("team".into(), "dev".into())],
            grace_period_seconds: Some(120),
            ..ScheduleForm::default()
        }
    }

    fn schedule(form: &ScheduleForm) -> WukongSchedule {
        let mut s = schedule_from_form(form, "alice", &["devs".into()], None).expect("valid");
        s.metadata.uid = Some("u-1".into());
        s
    }

    #[test]
    fn a_form_round_trips_and_is_owned_by_its_writer() {
        let mut f = form();
        f.exceptions = vec![
            ExceptionForm::Skip {
                action: Action::Start,
                date: "2026-12-07".into(),
            },
            ExceptionForm::KeepRunningUntil("2026-12-04T22:00:00+08:00".into()),
        ];
        let s = schedule(&f);
        assert_eq!(s.spec.owner, "alice");
        assert_eq!(s.spec.owner_groups, vec!["devs".to_owned()]);
        assert_eq!(form_of(&s), f);
    }

    #[test]
    fn keep_running_until_a_local_time_means_the_schedules_zone() {
        let mut f = form();
        f.exceptions = vec![ExceptionForm::KeepRunningUntil("2026-12-04T22:00".into())];
        let s = schedule(&f);
        assert_eq!(
            s.spec.exceptions[0].keep_running_until.as_deref(),
            Some("2026-12-04T22:00:00+08:00")
        );
    }

    /// A change that spoils a good form, and what its error must say.
    type Spoiled = (Box<dyn Fn(&mut ScheduleForm)>, &'static str);

    #[test]
    fn bad_forms_say_what_to_fix_and_nothing_is_made() {
        let cases: Vec<Spoiled> = vec![
            (
                Box::new(|f| f.time_zone = "Asia/Beijing".into()),
                "IANA time zone",
            ),
            (
                Box::new(|f| f.windows[0].start = "8 am".into()),
                "time of day",
            ),
            (
                Box::new(|f| f.windows[0].days = vec!["Funday".into()]),
                "day of the week",
            ),
            (Box::new(|f| f.windows.clear()), "at least one window"),
            (Box::new(|f| f.match_labels.clear()), "name the VMs"),
            (
                Box::new(|f| f.match_labels = vec![("team".into(), "dev ops".into())]),
                "label value",
            ),
            (Box::new(|f| f.name = "Dev Hours".into()), "schedule name"),
            (Box::new(|f| f.grace_period_seconds = Some(7200)), "3600"),
            (
                Box::new(|f| {
                    f.exceptions = vec![ExceptionForm::KeepRunningUntil("tomorrow 22:00".into())]
                }),
                "RFC 3339",
            ),
        ];
        for (change, says) in cases {
            let mut f = form();
            change(&mut f);
            let e = schedule_from_form(&f, "alice", &[], None)
                .expect_err("refused")
                .to_string();
            assert!(e.contains(says), "{e:?} should say {says:?}");
        }
    }

    #[test]
    fn a_vms_next_action_is_the_earliest_of_its_schedules_in_the_schedules_zone() {
        let office = schedule(&form());
        let mut late = form();
        late.name = "late".into();
        late.match_labels = vec![];
        late.vms = vec!["vm-1".into()];
        late.windows[0].stop = "18:00".into();
        late.force = true;
        let mut late = schedule(&late);
        late.metadata.uid = Some("u-2".into());
        let set = ScheduleSet {
            schedules: vec![office.clone(), late],
            calendars: vec![],
        };
        // Thursday 2026-12-03 10:00 in Shanghai.
        let now: Timestamp = "2026-12-03T02:00:00Z".parse().expect("instant");
        let book = Book::new(&set, now);
        let dev = BTreeMap::from([("team".to_owned(), "dev".to_owned())]);
        let next = book.next_for("team-a", "vm-1", &dev).expect("scheduled");
        assert_eq!(next.schedule, "late");
        assert_eq!(next.action, Action::ForceStop);
        assert_eq!(next.offset_seconds, 8 * 3600);
        assert_eq!(
            next.at_ms,
            "2026-12-03T10:00:00Z"
                .parse::<Timestamp>()
                .expect("instant")
                .as_millisecond()
        );
        let next = book.next_for("team-a", "vm-2", &dev).expect("scheduled");
        assert_eq!(
            (next.schedule.as_str(), next.action),
            ("dev-hours", Action::Stop)
        );
        assert_eq!(
            book.next_for("team-b", "vm-2", &dev),
            None,
            "another namespace"
        );
        assert_eq!(book.next_for("team-a", "vm-3", &BTreeMap::new()), None);
        let view = book.view(&office, vec!["vm-1".into(), "vm-2".into()]);
        assert_eq!(view.next.map(|n| n.action), Some(Action::Stop));
        assert_eq!(view.problem, None);
    }

    #[test]
    fn a_missing_calendar_is_a_problem_shown_and_a_suspended_schedule_has_no_next() {
        let mut f = form();
        f.calendars = vec!["cn-2026".into()];
        let with_calendar = schedule(&f);
        let mut g = form();
        g.suspend = true;
        let suspended = schedule(&g);
        let now: Timestamp = "2026-12-03T02:00:00Z".parse().expect("instant");
        let book = Book::new(
            &ScheduleSet {
                schedules: vec![with_calendar.clone()],
                calendars: vec![],
            },
            now,
        );
        let view = book.view(&with_calendar, vec![]);
        assert!(view.problem.unwrap_or_default().contains("cn-2026"));
        assert_eq!(view.next, None);
        let book = Book::new(
            &ScheduleSet {
                schedules: vec![suspended.clone()],
                calendars: vec![],
            },
            now,
        );
        assert_eq!(book.view(&suspended, vec![]).next, None);
        assert_eq!(book.earliest(), None);
    }
}
