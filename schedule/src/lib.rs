//! Power schedules, pure (issue 17): "run weekdays 08:00–20:00 in Asia/Shanghai", holiday
//! calendars that turn a workday off or an off day into a workday (China's 调休 among them), and
//! one-off exceptions ("keep running until tomorrow 22:00", "skip the next start"). From them,
//! [`next_edges`] says when to act: the latest edge at or before now and the next one after it.
//!
//! One decision, one place: the controller (which acts on the edges), the sandbox (which runs
//! schedules on its simulated VMs) and the console (which shows "stops today 20:00 UTC+8") all
//! call this crate.
//!
//! Time zones come from jiff's bundled IANA database (the images have no
//! `/usr/share/zoneinfo`). Across a daylight-saving change, a local time the change skips fires at
//! the first instant after the gap (the transition itself), and a local time it repeats fires
//! once, at its first occurrence.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub mod request;

/// A day of the week, as written in a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    fn of(weekday: Weekday) -> Day {
        match weekday {
            Weekday::Monday => Day::Monday,
            Weekday::Tuesday => Day::Tuesday,
            Weekday::Wednesday => Day::Wednesday,
            Weekday::Thursday => Day::Thursday,
            Weekday::Friday => Day::Friday,
            Weekday::Saturday => Day::Saturday,
            Weekday::Sunday => Day::Sunday,
        }
    }
}

/// A weekly window: on each of `days`, the VMs run from `start` to `stop` (local times, `HH:MM`,
/// or `HH:MM:SS` where seconds matter).
/// A `stop` at or before `start` is on the next day (an overnight window).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Window {
    pub days: Vec<Day>,
    pub start: String,
    pub stop: String,
}

/// What a calendar says about one date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CalendarDate {
    /// `YYYY-MM-DD`, in the schedule's time zone.
    pub date: String,
    /// `DayOff`: no window that day. `Workday`: the windows of `like` apply that day, whatever
    /// weekday it is (a make-up workday: 调休).
    pub kind: DateKind,
    /// For a workday: whose windows it gets (default Monday).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like: Option<Day>,
    /// What the date is (shown to people): "国庆节", "Christmas".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum DateKind {
    /// No window that day (not `Off`: YAML 1.1 reads an unquoted Off as false).
    DayOff,
    Workday,
}

/// What an edge does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum EdgeAction {
    Start,
    Stop,
}

impl fmt::Display for EdgeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EdgeAction::Start => "start",
            EdgeAction::Stop => "stop",
        })
    }
}

/// A one-off change to a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Exception {
    /// Skip the edge of this action on `date` (`YYYY-MM-DD`, local): "skip next start".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<SkipEdge>,
    /// No stop before this instant (RFC 3339); if the schedule has the VMs off then, they are
    /// stopped at it: "keep running until tomorrow 22:00".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_running_until: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SkipEdge {
    pub action: EdgeAction,
    pub date: String,
}

/// When to act, and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub at: Timestamp,
    pub action: EdgeAction,
}

/// Why a schedule cannot be followed (a message a person can act on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError(pub String);

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScheduleError {}

fn error(message: impl Into<String>) -> ScheduleError {
    ScheduleError(message.into())
}

/// A schedule checked and ready to compute with.
#[derive(Clone, Debug)]
pub struct Plan {
    zone: TimeZone,
    windows: Vec<(Vec<Day>, Time, Time)>,
    dates: BTreeMap<Date, (DateKind, Day)>,
    skips: Vec<(EdgeAction, Date)>,
    keep_running_until: Vec<Timestamp>,
}

fn parse_time(text: &str) -> Result<Time, ScheduleError> {
    let bad = || {
        error(format!(
            "{text:?} is not a time of day (HH:MM from 00:00 to 23:59, e.g. 08:00; HH:MM:SS for seconds)"
        ))
    };
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let number = |p: &str| p.parse::<i8>().map_err(|_| bad());
    let (h, m) = (number(parts[0])?, number(parts[1])?);
    let s = match parts.get(2) {
        Some(p) => number(p)?,
        None => 0,
    };
    if !(0..=23).contains(&h) || !(0..=59).contains(&m) || !(0..=59).contains(&s) {
        return Err(bad());
    }
    Time::new(h, m, s, 0).map_err(|_| bad())
}

fn parse_date(text: &str) -> Result<Date, ScheduleError> {
    text.parse::<Date>()
        .map_err(|_| error(format!("{text:?} is not a date (YYYY-MM-DD)")))
}

impl Plan {
    /// Checks a schedule: its zone exists, its times and dates are well formed, it has a window.
    pub fn new(
        time_zone: &str,
        windows: &[Window],
        calendars: &[&[CalendarDate]],
        exceptions: &[Exception],
    ) -> Result<Plan, ScheduleError> {
        let zone = TimeZone::get(time_zone).map_err(|_| {
            error(format!(
                "{time_zone:?} is not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin)"
            ))
        })?;
        if windows.is_empty() {
            return Err(error("a schedule needs at least one window"));
        }
        let mut parsed = Vec::new();
        for w in windows {
            if w.days.is_empty() {
                return Err(error("a window needs at least one day"));
            }
            let (start, stop) = (parse_time(&w.start)?, parse_time(&w.stop)?);
            if start == stop {
                return Err(error(format!(
                    "a window from {} to {} never stops (for always on, use no schedule)",
                    w.start, w.stop
                )));
            }
            parsed.push((w.days.clone(), start, stop));
        }
        let mut dates = BTreeMap::new();
        for calendar in calendars {
            for d in *calendar {
                let like = d.like.unwrap_or(Day::Monday);
                dates.insert(parse_date(&d.date)?, (d.kind, like));
            }
        }
        let mut skips = Vec::new();
        let mut keep = Vec::new();
        for e in exceptions {
            if let Some(skip) = &e.skip {
                skips.push((skip.action, parse_date(&skip.date)?));
            }
            if let Some(until) = &e.keep_running_until {
                keep.push(until.parse::<Timestamp>().map_err(|_| {
                    error(format!(
                        "{until:?} is not an instant (RFC 3339, e.g. 2026-12-04T22:00:00+08:00)"
                    ))
                })?);
            }
        }
        Ok(Plan {
            zone,
            windows: parsed,
            dates,
            skips,
            keep_running_until: keep,
        })
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The zone's offset from UTC at `at`, in seconds (+28800 in Asia/Shanghai), to show an
    /// edge's time as the schedule means it.
    pub fn offset_seconds_at(&self, at: Timestamp) -> i32 {
        self.zone.to_offset(at).seconds()
    }

    /// The instant a local date and time names: a skipped time is the instant after the gap
    /// (the transition), a repeated one its first occurrence.
    fn instant(&self, date: Date, time: Time) -> Timestamp {
        let dt = DateTime::from_parts(date, time);
        let ambiguous = self.zone.to_ambiguous_timestamp(dt);
        let offset = match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Fold { before, .. } => before,
            AmbiguousOffset::Gap { before, .. } => {
                // With the offset before the gap, the local time lands after the transition:
                // the transition before that is the gap's end.
                let past = before.to_timestamp(dt).unwrap_or(Timestamp::MAX);
                return self
                    .zone
                    .preceding(past)
                    .next()
                    .map(|t| t.timestamp())
                    .unwrap_or(past);
            }
        };
        offset.to_timestamp(dt).unwrap_or(Timestamp::MAX)
    }

    /// The windows' raw (start, stop) instants of windows beginning on `date`.
    fn windows_on(&self, date: Date) -> Vec<(Timestamp, Timestamp)> {
        let day = match self.dates.get(&date) {
            Some((DateKind::DayOff, _)) => return Vec::new(),
            Some((DateKind::Workday, like)) => *like,
            None => Day::of(date.weekday()),
        };
        self.windows
            .iter()
            .filter(|(days, _, _)| days.contains(&day))
            .map(|(_, start, stop)| {
                let stop_date = if stop <= start {
                    date.tomorrow().unwrap_or(date)
                } else {
                    date
                };
                (self.instant(date, *start), self.instant(stop_date, *stop))
            })
            .collect()
    }

    fn local_date(&self, at: Timestamp) -> Date {
        at.to_zoned(self.zone.clone()).date()
    }

    /// The schedule's edges in `[from, to]`, in order, exceptions applied. Overlapping windows
    /// merge: the VMs start when the first opens and stop when the last closes.
    pub fn edges_between(&self, from: Timestamp, to: Timestamp) -> Vec<Edge> {
        if to < from {
            return Vec::new();
        }
        let first = self
            .local_date(from)
            .checked_sub(3.days())
            .unwrap_or(Date::MIN);
        let last = self
            .local_date(to)
            .checked_add(1.days())
            .unwrap_or(Date::MAX);
        // Every window opening (+1) and closing (-1) from a few days before `from` on.
        let mut marks: Vec<(Timestamp, i32)> = Vec::new();
        let mut date = first;
        while date <= last {
            for (start, stop) in self.windows_on(date) {
                if start < stop {
                    marks.push((start, 1));
                    marks.push((stop, -1));
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        // An opening before a closing at the same instant: back-to-back windows join (no stop and
        // start at 12:00 between 08:00-12:00 and 12:00-20:00).
        marks.sort_by_key(|(at, change)| (*at, -*change));
        let mut open = 0;
        let mut edges = Vec::new();
        for (at, change) in marks {
            let was = open;
            open = (open + change).max(0);
            let edge = match (was, open) {
                (0, 1..) => Some(EdgeAction::Start),
                (1.., 0) => Some(EdgeAction::Stop),
                _ => None,
            };
            if let Some(action) = edge {
                edges.push(Edge { at, action });
            }
        }
        let mut edges: Vec<Edge> = edges
            .into_iter()
            .filter(|e| {
                !self
                    .skips
                    .iter()
                    .any(|(action, date)| *action == e.action && self.local_date(e.at) == *date)
            })
            .collect();
        for until in &self.keep_running_until {
            // No stop before it; a stop at it if the schedule has the VMs off by then.
            let off_then = edges
                .iter()
                .rev()
                .find(|e| e.at <= *until)
                .is_some_and(|e| e.action == EdgeAction::Stop);
            edges.retain(|e| !(e.action == EdgeAction::Stop && e.at < *until));
            if off_then {
                edges.push(Edge {
                    at: *until,
                    action: EdgeAction::Stop,
                });
            }
        }
        edges.sort();
        edges.dedup();
        edges.retain(|e| e.at >= from && e.at <= to);
        edges
    }
}

/// Where a schedule stands at `now`: its latest edge at or before `now` (within the last eight
/// days), and its next edge after `now` (within the next eight days).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edges {
    pub last: Option<Edge>,
    pub next: Option<Edge>,
}

/// When to act: the latest edge at or before `now` and the next one after it. The controller
/// acts on `last` once (and only if it is younger than its catch-up limit: after downtime it
/// never replays a day of edges); the console shows `next`.
pub fn next_edges(plan: &Plan, now: Timestamp) -> Edges {
    const LOOK: i64 = 8 * 24;
    let back = now.checked_sub(LOOK.hours()).unwrap_or(Timestamp::MIN);
    let ahead = now.checked_add(LOOK.hours()).unwrap_or(Timestamp::MAX);
    let edges = plan.edges_between(back, ahead);
    Edges {
        last: edges.iter().rev().find(|e| e.at <= now).copied(),
        next: edges.iter().find(|e| e.at > now).copied(),
    }
}

/// What a schedule's controller does now about its edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing: no edge yet, or the latest one was acted on (or written off) already.
    Nothing,
    /// Act on this edge now: write its request on each selected VM not already as it wants.
    Act(Edge),
    /// This edge was missed by more than the catch-up limit (the controller was down): record it
    /// as seen without acting, so it is never replayed.
    Missed(Edge),
}

/// The one decision about a schedule's edges, for the controller and the sandbox alike: given
/// the latest edge it recorded (`done`: acted on or missed), act on the latest edge at or before
/// `now` once, and only if it is at most `catch_up` old. Only the latest edge counts: after
/// downtime a day of edges is never replayed, just its last one (if young enough). A schedule
/// that has recorded no edge yet passes its creation time as `done`: it does not act on edges
/// from before it existed.
pub fn due(
    edges: &Edges,
    done: Option<Timestamp>,
    now: Timestamp,
    catch_up: jiff::SignedDuration,
) -> Due {
    let Some(last) = edges.last else {
        return Due::Nothing;
    };
    if done.is_some_and(|done| done >= last.at) {
        return Due::Nothing;
    }
    if now.duration_since(last.at) > catch_up {
        Due::Missed(last)
    } else {
        Due::Act(last)
    }
}

#[cfg(test)]
mod tests;
