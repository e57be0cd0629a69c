//! `next_edges` and `edges_between` across daylight-saving changes (Europe/Berlin,
//! America/New_York), a fixed offset (Asia/Shanghai), leap days, holiday calendars and exceptions.

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().expect("a test instant")
}

fn window(days: &[Day], start: &str, stop: &str) -> Window {
    Window {
        days: days.to_vec(),
        start: start.into(),
        stop: stop.into(),
    }
}

const WEEKDAYS: [Day; 5] = [
    Day::Monday,
    Day::Tuesday,
    Day::Wednesday,
    Day::Thursday,
    Day::Friday,
];
const EVERY_DAY: [Day; 7] = [
    Day::Monday,
    Day::Tuesday,
    Day::Wednesday,
    Day::Thursday,
    Day::Friday,
    Day::Saturday,
    Day::Sunday,
];

fn plan(zone: &str, windows: &[Window]) -> Plan {
    Plan::new(zone, windows, &[], &[]).expect("a valid schedule")
}

fn edges(plan: &Plan, from: &str, to: &str) -> Vec<(String, EdgeAction)> {
    plan.edges_between(at(from), at(to))
        .into_iter()
        .map(|e| (e.at.to_string(), e.action))
        .collect()
}

fn e(at: &str, action: EdgeAction) -> (String, EdgeAction) {
    (at.to_owned(), action)
}

use EdgeAction::{Start, Stop};

#[test]
fn weekdays_in_shanghai_a_fixed_offset() {
    let p = plan("Asia/Shanghai", &[window(&WEEKDAYS, "08:00", "20:00")]);
    // Monday 2026-12-07 to the next Monday, UTC+8 all year.
    let week = edges(&p, "2026-12-06T16:00:00Z", "2026-12-13T16:00:00Z");
    assert_eq!(week.len(), 10, "{week:?}");
    assert_eq!(week[0], e("2026-12-07T00:00:00Z", Start));
    assert_eq!(week[1], e("2026-12-07T12:00:00Z", Stop));
    assert_eq!(week[9], e("2026-12-11T12:00:00Z", Stop));
}

#[test]
fn a_time_skipped_in_spring_fires_at_the_first_instant_after_the_gap_in_berlin() {
    let p = plan("Europe/Berlin", &[window(&EVERY_DAY, "02:30", "06:00")]);
    // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00Z); 02:30 does not exist that night.
    assert_eq!(
        edges(&p, "2026-03-28T00:00:00Z", "2026-03-29T12:00:00Z"),
        [
            e("2026-03-28T01:30:00Z", Start),
            e("2026-03-28T05:00:00Z", Stop),
            e("2026-03-29T01:00:00Z", Start),
            e("2026-03-29T04:00:00Z", Stop),
        ]
    );
}

#[test]
fn a_time_repeated_in_autumn_fires_once_at_its_first_occurrence_in_berlin() {
    let p = plan("Europe/Berlin", &[window(&EVERY_DAY, "02:30", "06:00")]);
    // 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00Z); 02:30 happens at 00:30Z and 01:30Z.
    assert_eq!(
        edges(&p, "2026-10-24T22:00:00Z", "2026-10-25T12:00:00Z"),
        [
            e("2026-10-25T00:30:00Z", Start),
            e("2026-10-25T05:00:00Z", Stop)
        ]
    );
}

#[test]
fn new_york_both_changes() {
    let spring = plan("America/New_York", &[window(&EVERY_DAY, "02:15", "05:00")]);
    // 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00Z).
    assert_eq!(
        edges(&spring, "2026-03-08T05:00:00Z", "2026-03-08T12:00:00Z"),
        [
            e("2026-03-08T07:00:00Z", Start),
            e("2026-03-08T09:00:00Z", Stop)
        ]
    );
    let autumn = plan("America/New_York", &[window(&EVERY_DAY, "01:30", "04:00")]);
    // 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00Z); 01:30 happens at 05:30Z and 06:30Z.
    assert_eq!(
        edges(&autumn, "2026-11-01T04:00:00Z", "2026-11-01T12:00:00Z"),
        [
            e("2026-11-01T05:30:00Z", Start),
            e("2026-11-01T09:00:00Z", Stop)
        ]
    );
    // A window around the fold is as long as the clock says plus the repeated hour.
    let around = plan(
        "America/New_York",
        &[window(&[Day::Sunday], "00:00", "03:00")],
    );
    assert_eq!(
        edges(&around, "2026-11-01T00:00:00Z", "2026-11-01T12:00:00Z"),
        [
            e("2026-11-01T04:00:00Z", Start),
            e("2026-11-01T08:00:00Z", Stop)
        ]
    );
}

#[test]
fn leap_days_and_overnight_windows() {
    let p = plan(
        "UTC",
        &[
            window(&[Day::Tuesday], "09:00", "17:00"),
            window(&[Day::Monday], "22:00", "06:00"),
        ],
    );
    // 2028-02-28 is a Monday, 2028-02-29 a Tuesday.
    assert_eq!(
        edges(&p, "2028-02-28T00:00:00Z", "2028-03-01T00:00:00Z"),
        [
            e("2028-02-28T22:00:00Z", Start),
            e("2028-02-29T06:00:00Z", Stop),
            e("2028-02-29T09:00:00Z", Start),
            e("2028-02-29T17:00:00Z", Stop),
        ]
    );
    // And a calendar may name the leap day.
    let off = [CalendarDate {
        date: "2028-02-29".into(),
        kind: DateKind::DayOff,
        like: None,
        name: Some("leap day".into()),
    }];
    let p = Plan::new(
        "UTC",
        &[window(&[Day::Tuesday], "09:00", "17:00")],
        &[&off],
        &[],
    )
    .expect("valid");
    assert!(edges(&p, "2028-02-28T00:00:00Z", "2028-03-01T00:00:00Z").is_empty());
}

#[test]
fn holiday_calendars_turn_days_off_and_make_up_workdays() {
    // China 2026: National Day (Thursday 10-01) off; Saturday 10-10 a make-up workday (调休).
    let cn = [
        CalendarDate {
            date: "2026-10-01".into(),
            kind: DateKind::DayOff,
            like: None,
            name: Some("国庆节".into()),
        },
        CalendarDate {
            date: "2026-10-10".into(),
            kind: DateKind::Workday,
            like: Some(Day::Friday),
            name: Some("调休".into()),
        },
    ];
    let p = Plan::new(
        "Asia/Shanghai",
        &[window(&WEEKDAYS, "08:00", "20:00")],
        &[&cn],
        &[],
    )
    .expect("valid");
    assert!(edges(&p, "2026-09-30T16:00:00Z", "2026-10-01T15:59:00Z").is_empty());
    assert_eq!(
        edges(&p, "2026-10-09T16:00:00Z", "2026-10-10T15:59:00Z"),
        [
            e("2026-10-10T00:00:00Z", Start),
            e("2026-10-10T12:00:00Z", Stop)
        ]
    );
    // A later calendar wins for the same date.
    let work_anyway = [CalendarDate {
        date: "2026-10-01".into(),
        kind: DateKind::Workday,
        like: None,
        name: None,
    }];
    let p = Plan::new(
        "Asia/Shanghai",
        &[window(&WEEKDAYS, "08:00", "20:00")],
        &[&cn, &work_anyway],
        &[],
    )
    .expect("valid");
    assert_eq!(
        edges(&p, "2026-09-30T16:00:00Z", "2026-10-01T15:59:00Z").len(),
        2
    );
}

#[test]
fn exceptions_skip_an_edge_or_keep_running_until_an_instant() {
    let weekdays = [window(&WEEKDAYS, "08:00", "20:00")];
    let skip = Exception {
        skip: Some(SkipEdge {
            action: Start,
            date: "2026-12-08".into(),
        }),
        keep_running_until: None,
    };
    let p = Plan::new("Asia/Shanghai", &weekdays, &[], &[skip]).expect("valid");
    assert_eq!(
        edges(&p, "2026-12-07T16:00:00Z", "2026-12-08T15:59:00Z"),
        [e("2026-12-08T12:00:00Z", Stop)]
    );
    let keep = Exception {
        skip: None,
        keep_running_until: Some("2026-12-08T22:00:00+08:00".into()),
    };
    let p = Plan::new("Asia/Shanghai", &weekdays, &[], &[keep]).expect("valid");
    assert_eq!(
        edges(&p, "2026-12-06T16:00:00Z", "2026-12-09T15:59:00Z"),
        [
            e("2026-12-07T00:00:00Z", Start),
            e("2026-12-08T00:00:00Z", Start),
            e("2026-12-08T14:00:00Z", Stop),
            e("2026-12-09T00:00:00Z", Start),
            e("2026-12-09T12:00:00Z", Stop),
        ]
    );
    // Kept running into a window: no stop at the exception's end.
    let into_window = Exception {
        skip: None,
        keep_running_until: Some("2026-12-09T09:00:00+08:00".into()),
    };
    let p = Plan::new("Asia/Shanghai", &weekdays, &[], &[into_window]).expect("valid");
    assert_eq!(
        edges(&p, "2026-12-08T16:00:00Z", "2026-12-09T15:59:00Z"),
        [
            e("2026-12-09T00:00:00Z", Start),
            e("2026-12-09T12:00:00Z", Stop)
        ]
    );
}

#[test]
fn windows_back_to_back_or_overlapping_make_one_run() {
    let p = plan(
        "UTC",
        &[
            window(&[Day::Monday], "08:00", "12:00"),
            window(&[Day::Monday], "12:00", "14:00"),
            window(&[Day::Monday], "13:00", "20:00"),
        ],
    );
    assert_eq!(
        edges(&p, "2026-12-07T00:00:00Z", "2026-12-08T00:00:00Z"),
        [
            e("2026-12-07T08:00:00Z", Start),
            e("2026-12-07T20:00:00Z", Stop)
        ]
    );
}

#[test]
fn next_edges_are_the_latest_past_one_and_the_coming_one() {
    let p = plan("Asia/Shanghai", &[window(&WEEKDAYS, "08:00", "20:00")]);
    let monday_evening = next_edges(&p, at("2026-12-07T10:00:00Z"));
    assert_eq!(
        monday_evening.last,
        Some(Edge {
            at: at("2026-12-07T00:00:00Z"),
            action: Start
        })
    );
    assert_eq!(
        monday_evening.next,
        Some(Edge {
            at: at("2026-12-07T12:00:00Z"),
            action: Stop
        })
    );
    // On Saturday: Friday's stop, then Monday's start.
    let saturday = next_edges(&p, at("2026-12-12T10:00:00Z"));
    assert_eq!(
        saturday.last.map(|e| e.at),
        Some(at("2026-12-11T12:00:00Z"))
    );
    assert_eq!(
        saturday.next.map(|e| e.at),
        Some(at("2026-12-14T00:00:00Z"))
    );
    // Exactly at an edge: it is the latest one (acted on now), not the next.
    let on_the_dot = next_edges(&p, at("2026-12-07T12:00:00Z"));
    assert_eq!(on_the_dot.last.map(|e| e.action), Some(Stop));
    assert_eq!(
        on_the_dot.next.map(|e| e.at),
        Some(at("2026-12-08T00:00:00Z"))
    );
}

#[test]
fn bad_schedules_are_refused_with_what_to_fix() {
    let w = [window(&WEEKDAYS, "08:00", "20:00")];
    let message = |r: Result<Plan, ScheduleError>| r.err().map(|e| e.0).unwrap_or_default();
    assert!(message(Plan::new("Mars/Olympus", &w, &[], &[])).contains("IANA time zone"));
    assert!(message(Plan::new("UTC", &[], &[], &[])).contains("at least one window"));
    for (start, stop) in [
        ("8:00", "20:00"),
        ("08:00", "24:00"),
        ("08:60", "20:00"),
        ("ab:cd", "20:00"),
        ("08:00:60", "20:00"),
        ("08:00:", "20:00"),
        ("+8:00", "20:00"),
    ] {
        assert!(
            message(Plan::new(
                "UTC",
                &[window(&WEEKDAYS, start, stop)],
                &[],
                &[]
            ))
            .contains("time of day")
                || message(Plan::new(
                    "UTC",
                    &[window(&WEEKDAYS, start, stop)],
                    &[],
                    &[]
                ))
                .contains("not a number"),
            "{start}-{stop}"
        );
    }
    let seconds = Plan::new(
        "UTC",
        &[window(&WEEKDAYS, "08:00:30", "20:00:05")],
        &[],
        &[],
    )
    .expect("seconds are allowed");
    assert_eq!(
        seconds
            .edges_between(at("2026-12-07T00:00:00Z"), at("2026-12-07T23:59:59Z"))
            .iter()
            .map(|e| e.at)
            .collect::<Vec<_>>(),
        vec![at("2026-12-07T08:00:30Z"), at("2026-12-07T20:00:05Z")]
    );
    assert!(message(Plan::new(
        "UTC",
        &[window(&WEEKDAYS, "08:00", "08:00")],
        &[],
        &[]
    ))
    .contains("never stops"));
    assert!(
        message(Plan::new("UTC", &[window(&[], "08:00", "20:00")], &[], &[]))
            .contains("at least one day")
    );
    let bad_date = [CalendarDate {
        date: "2026-02-30".into(),
        kind: DateKind::DayOff,
        like: None,
        name: None,
    }];
    assert!(message(Plan::new("UTC", &w, &[&bad_date], &[])).contains("not a date"));
    let bad_until = Exception {
        skip: None,
        keep_running_until: Some("tomorrow".into()),
    };
    assert!(message(Plan::new("UTC", &w, &[], &[bad_until])).contains("RFC 3339"));
}

#[test]
fn an_edge_is_acted_on_once_and_a_missed_one_only_if_young_enough() {
    let p = plan("Asia/Shanghai", &[window(&WEEKDAYS, "08:00", "20:00")]);
    let hour = jiff::SignedDuration::from_hours(1);
    let start = at("2026-12-07T00:00:00Z");
    // A minute after Monday's start: act on it.
    let now = at("2026-12-07T00:01:00Z");
    let edges = next_edges(&p, now);
    assert_eq!(
        due(&edges, None, now, hour),
        Due::Act(Edge {
            at: start,
            action: Start
        })
    );
    // Recorded: nothing more until the next edge, even after a restart.
    assert_eq!(due(&edges, Some(start), now, hour), Due::Nothing);
    // The controller was down from Friday to Monday 10:00 (two hours late): Monday's start is
    // written off; Friday's stop and the edges between are never replayed.
    let late = at("2026-12-07T02:00:00Z");
    let friday_stop = at("2026-12-04T12:00:00Z");
    assert_eq!(
        due(&next_edges(&p, late), Some(friday_stop), late, hour),
        Due::Missed(Edge {
            at: start,
            action: Start
        })
    );
    // Down across several edges but back within the hour of the latest: only the latest is acted on.
    let back = at("2026-12-08T12:30:00Z");
    assert_eq!(
        due(
            &next_edges(&p, back),
            Some(at("2026-12-07T00:00:00Z")),
            back,
            hour
        ),
        Due::Act(Edge {
            at: at("2026-12-08T12:00:00Z"),
            action: Stop
        })
    );
    // A schedule created at 20:30 does not act on the 20:00 stop before it existed: its creation
    // time is what it has "done" until its first edge.
    let created = at("2026-12-07T12:30:00Z");
    assert_eq!(
        due(&next_edges(&p, created), Some(created), created, hour),
        Due::Nothing
    );
    // Saturday: no edge for a weekdays schedule since Friday's stop, long recorded.
    let saturday = at("2026-12-12T10:00:00Z");
    assert_eq!(
        due(
            &next_edges(&p, saturday),
            Some(at("2026-12-11T12:00:00Z")),
            saturday,
            hour
        ),
        Due::Nothing
    );
}
