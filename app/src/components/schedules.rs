//! The power schedules page, `/schedules` (issue 17): the schedules a person may read, with
//! each one's next action, the VMs it runs and its one-off exceptions; create, edit, suspend,
//! resume and delete them, add an exception, and apply one to the VMs ticked on the list
//! (`/schedules?apply=ns/name,…`). Everything is read and written as the person; the server
//! checks every form as the controller will read it. A split-off piece of the WASM
//! (`#[lazy_route]`): the list's first load does not pay for it.

use crate::api::schedules;
use crate::i18n::texts;
use crate::ConsoleError;
use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};
use wukong_view::{
    format_at, Action, ExceptionForm, Lang, ScheduleChange, ScheduleForm, ScheduleOp, ScheduleView,
    SchedulesPage, WindowForm, DAYS,
};

pub struct SchedulesRoute;

#[lazy_route]
impl LazyRoute for SchedulesRoute {
    fn data() -> Self {
        SchedulesRoute
    }

    fn view(_this: Self) -> AnyView {
        view! { <Schedules/> }.into_any()
    }
}

/// The page's words (only this page uses them, so they live in its split-off piece).
struct Words {
    title: &'static str,
    intro: &'static str,
    new: &'static str,
    none: &'static str,
    edit: &'static str,
    suspend: &'static str,
    resume: &'static str,
    suspended: &'static str,
    delete: &'static str,
    confirm_delete: &'static str,
    save: &'static str,
    cancel: &'static str,
    name: &'static str,
    namespace: &'static str,
    zone: &'static str,
    zone_hint: &'static str,
    window: &'static str,
    add_window: &'static str,
    remove: &'static str,
    start: &'static str,
    stop: &'static str,
    labels: &'static str,
    labels_hint: &'static str,
    vms: &'static str,
    vms_hint: &'static str,
    grace: &'static str,
    force: &'static str,
    calendars: &'static str,
    runs: &'static str,
    owner: &'static str,
    no_next: &'static str,
    exceptions: &'static str,
    skip_next: &'static str,
    keep_until: &'static str,
    keep_add: &'static str,
    skip_on: &'static str,
    keep_running_until: &'static str,
    apply_title: &'static str,
    apply: &'static str,
    apply_done: &'static str,
    owner_note: &'static str,
    unreadable: &'static str,
    read_only: &'static str,
    days: [&'static str; 7],
}

const EN: Words = Words {
    title: "Power schedules",
    intro: "A schedule starts and stops VMs at the edges of weekly windows, as requests in its name with the rights of its owner: whoever last saved it. A click between two edges wins until the next one.",
    new: "New schedule",
    none: "No schedules yet.",
    edit: "Edit",
    suspend: "Suspend",
    resume: "Resume",
    suspended: "Suspended",
    delete: "Delete",
    confirm_delete: "Delete for good?",
    save: "Save",
    cancel: "Cancel",
    name: "Name",
    namespace: "Namespace",
    zone: "Time zone (IANA)",
    zone_hint: "e.g. Asia/Shanghai, Europe/Berlin, UTC",
    window: "Runs",
    add_window: "Add a window",
    remove: "Remove",
    start: "from",
    stop: "to",
    labels: "VMs with labels",
    labels_hint: "key=value, comma-separated",
    vms: "VMs by name",
    vms_hint: "comma-separated",
    grace: "Stop grace period (s)",
    force: "Force stop (no grace period)",
    calendars: "Holiday calendars",
    runs: "VMs",
    owner: "Owner",
    no_next: "No next action",
    exceptions: "Exceptions",
    skip_next: "Skip the next action",
    keep_until: "Keep running until",
    keep_add: "Add",
    skip_on: "Skip the",
    keep_running_until: "Keep running until",
    apply_title: "Apply a schedule to the VMs ticked on the list",
    apply: "Apply",
    apply_done: "Applied.",
    owner_note: "Saving makes you its owner: it acts with your rights.",
    unreadable: "You may not read the schedules of:",
    read_only: "You may read this schedule but not change it.",
    days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
};

const ZH_CN: Words = Words {
    title: "开关机计划",
    intro: "计划在每周时间窗的起止时刻启动和停止虚拟机：以计划的名义发出请求，使用其所有者（最后保存它的人）的权限。两次动作之间的手动操作一直有效，直到下一次动作。",
    new: "新建计划",
    none: "还没有计划。",
    edit: "编辑",
    suspend: "暂停",
    resume: "恢复",
    suspended: "已暂停",
    delete: "删除",
    confirm_delete: "确定永久删除？",
    save: "保存",
    cancel: "取消",
    name: "名称",
    namespace: "命名空间",
    zone: "时区（IANA）",
    zone_hint: "例如 Asia/Shanghai、Europe/Berlin、UTC",
    window: "运行时段",
    add_window: "添加时段",
    remove: "移除",
    start: "从",
    stop: "到",
    labels: "按标签选择虚拟机",
    labels_hint: "key=value，用逗号分隔",
    vms: "按名称选择虚拟机",
    vms_hint: "用逗号分隔",
    grace: "停止宽限期（秒）",
    force: "强制停止（无宽限期）",
    calendars: "节假日日历",
    runs: "虚拟机",
    owner: "所有者",
    no_next: "没有下一次动作",
    exceptions: "例外",
    skip_next: "跳过下一次动作",
    keep_until: "保持运行直到",
    keep_add: "添加",
    skip_on: "跳过",
    keep_running_until: "保持运行直到",
    apply_title: "把计划应用到列表中勾选的虚拟机",
    apply: "应用",
    apply_done: "已应用。",
    owner_note: "保存后你将成为它的所有者：计划以你的权限执行。",
    unreadable: "你无权读取以下命名空间的计划：",
    read_only: "你可以查看此计划，但无权更改。",
    days: ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
};

fn words() -> &'static Words {
    match texts().lang {
        Lang::ZhCn => &ZH_CN,
        Lang::En => &EN,
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split([',', '，'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Sends `op`; then `done` (the page lists again), or the page says why not.
fn send(op: ScheduleOp, error: RwSignal<Option<String>>, done: impl FnOnce() + 'static) {
    leptos::task::spawn_local(async move {
        match schedules(op).await {
            Ok(_) => {
                error.set(None);
                done();
            }
            Err(e) => error.set(Some(said(&e))),
        }
    });
}

fn said(e: &ConsoleError) -> String {
    texts().said(&e.said, &e.message)
}

fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

/// What the page's address asks to apply: `?apply=ns/name,ns/name`.
fn to_apply() -> Vec<(String, String)> {
    let query = leptos_router::hooks::use_query_map().get_untracked();
    query
        .get("apply")
        .map(|list| {
            list.split(',')
                .filter_map(|k| {
                    let (ns, name) = k.split_once('/')?;
                    Some((ns.to_owned(), name.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[component]
fn Schedules() -> impl IntoView {
    let w = words();
    let page = Resource::new_blocking(
        || (),
        |_| async {
            schedules(ScheduleOp::List)
                .await
                .map(Option::unwrap_or_default)
        },
    );
    let editing = RwSignal::new(None::<(ScheduleForm, Option<String>)>);
    let error = RwSignal::new(None::<String>);
    // Outlives the list it is shown in: applying a schedule lists the schedules again.
    let applied = RwSignal::new(false);
    let refresh = move || page.refetch();
    // Only in the browser: tells tests (and nothing else) that the page's buttons work now.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        super::mark_hydrated();
    });
    view! {
        <main class="console schedules" data-testid="schedules-page">
            <nav class="crumbs"><a href="/" data-testid="back-to-list">{texts().vm_back}</a></nav>
            <h2>{w.title}</h2>
            <p class="muted">{w.intro}</p>
            {move || error.get().map(|e| view! { <p class="row-error" role="alert" data-testid="schedule-error">{e}</p> })}
            <Suspense fallback=|| view! { <p class="loading">{texts().loading}</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(e) => view! { <p class="row-error" role="alert">{said(&e)}</p> }.into_any(),
                        Ok(p) => view! { <Listed page=p editing error applied refresh/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn Listed(
    page: SchedulesPage,
    editing: RwSignal<Option<(ScheduleForm, Option<String>)>>,
    error: RwSignal<Option<String>>,
    applied: RwSignal<bool>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let w = words();
    // Only what RBAC lets this person do is offered (the apiserver still decides each write).
    let namespaces = page.creatable.clone();
    let first_ns = namespaces.first().cloned().unwrap_or_default();
    let apply = to_apply();
    let schedules: Vec<ScheduleView> = page
        .schedules
        .iter()
        .filter(|s| page.changeable.contains(&s.form.namespace))
        .cloned()
        .collect();
    let unreadable = page.unreadable.clone();
    let may_create = !namespaces.is_empty();
    let new = move |_| {
        editing.set(Some((
            ScheduleForm {
                namespace: first_ns.clone(),
                time_zone: "UTC".into(),
                windows: vec![WindowForm {
                    days: DAYS[..5].iter().map(|d| (*d).to_owned()).collect(),
                    start: "08:00".into(),
                    stop: "20:00".into(),
                }],
                ..ScheduleForm::default()
            },
            None,
        )))
    };
    view! {
        {(!apply.is_empty()).then(|| view! { <Apply apply=apply.clone() schedules=schedules.clone() error done=applied refresh/> })}
        {(!unreadable.is_empty()).then(|| view! { <p class="muted">{w.unreadable}" "{unreadable.join(", ")}</p> })}
        {may_create.then(|| view! {
            <p><button type="button" class="act" data-testid="new-schedule" on:click=new.clone()>{w.new}</button></p>
        })}
        {move || editing.get().map(|(form, version)| view! {
            <Editor form version namespaces=namespaces.clone() editing error refresh/>
        })}
        {if page.schedules.is_empty() {
            view! { <p data-testid="no-schedules">{w.none}</p> }.into_any()
        } else {
            page.schedules
                .into_iter()
                .map(|s| {
                    let may_change = page.changeable.contains(&s.form.namespace);
                    let may_delete = page.deletable.contains(&s.form.namespace);
                    view! { <Card s may_change may_delete editing error refresh/> }
                })
                .collect_view()
                .into_any()
        }}
    }
}

#[component]
fn Card(
    s: ScheduleView,
    /// RBAC lets the person update schedules in its namespace (edit, suspend, exceptions).
    may_change: bool,
    may_delete: bool,
    editing: RwSignal<Option<(ScheduleForm, Option<String>)>>,
    error: RwSignal<Option<String>>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let w = words();
    let t = texts();
    let f = s.form.clone();
    let (ns, name) = (f.namespace.clone(), f.name.clone());
    let run = move |change: ScheduleChange| {
        let (ns, name) = (ns.clone(), name.clone());
        send(
            ScheduleOp::Change {
                namespace: ns,
                name,
                change,
            },
            error,
            refresh,
        );
    };
    let windows = f
        .windows
        .iter()
        .map(|win| {
            let days: Vec<&str> = win
                .days
                .iter()
                .filter_map(|d| DAYS.iter().position(|x| x == d).map(|i| w.days[i]))
                .collect();
            format!("{} {}–{}", days.join(" "), win.start, win.stop)
        })
        .collect::<Vec<_>>()
        .join("; ");
    let next = s.next.clone();
    // The next edge's local date, for "skip the next action".
    let skip = next.as_ref().map(|n| {
        let date = format_at(n.at_ms, n.offset_seconds)[..10].to_owned();
        let action = if n.action == Action::Start {
            Action::Start
        } else {
            Action::Stop
        };
        (action, date)
    });
    let keep = RwSignal::new(String::new());
    let confirming = RwSignal::new(false);
    let suspended = f.suspend;
    let exceptions = f.exceptions.clone();
    let edit = {
        let form = f.clone();
        let version = s.version.clone();
        move |_| editing.set(Some((form.clone(), Some(version.clone()))))
    };
    let remove = {
        let (ns, name, uid) = (f.namespace.clone(), f.name.clone(), s.uid.clone());
        move |_| {
            if !confirming.get_untracked() {
                confirming.set(true);
                return;
            }
            let (ns, name, uid) = (ns.clone(), name.clone(), uid.clone());
            send(
                ScheduleOp::Delete {
                    namespace: ns,
                    name,
                    uid,
                },
                error,
                refresh,
            );
        }
    };
    let run_skip = run.clone();
    let run_keep = run.clone();
    let run_suspend = run.clone();
    view! {
        <section class="schedule" data-testid="schedule" data-name=f.name.clone() data-namespace=f.namespace.clone()
            aria-label=f.name.clone()>
            <h3><span translate="no">{f.name.clone()}</span>" "<span class="muted" translate="no">{f.namespace.clone()}</span>
                {suspended.then(|| view! { " "<span class="badge" data-testid="schedule-suspended">{w.suspended}</span> })}
            </h3>
            <p>{w.window}": "<span translate="no">{windows}" ("{f.time_zone.clone()}")"</span></p>
            <p data-testid="schedule-next">{match &next {
                Some(n) => t.next_action(n, now_ms()),
                None => w.no_next.to_owned(),
            }}</p>
            <p>{w.runs}": "<span translate="no" data-testid="schedule-vms">{s.selected.join(", ")}</span></p>
            <p class="muted">{w.owner}": "<span translate="no">{s.owner.clone()}</span></p>
            {s.problem.clone().map(|p| view! { <p class="row-error" role="alert" data-testid="schedule-problem">{p}</p> })}
            {s.message.clone().map(|m| view! { <p class="muted" translate="no" data-testid="schedule-message">{m}</p> })}
            {(!exceptions.is_empty()).then(|| view! {
                <h4>{w.exceptions}</h4>
                <ul data-testid="schedule-exceptions">
                    {exceptions.iter().enumerate().map(|(i, e)| {
                        let text = match e {
                            ExceptionForm::Skip { action, date } => format!("{} {} {date}", w.skip_on, t.action(*action)),
                            ExceptionForm::KeepRunningUntil(until) => format!("{} {until}", w.keep_running_until),
                        };
                        let run = run.clone();
                        view! {
                            <li data-testid="schedule-exception">{text}" "
                                {may_change.then(|| view! {
                                    <button type="button" class="act link" on:click=move |_| run(ScheduleChange::RemoveException(i))>{w.remove}</button>
                                })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
            {(!may_change && !may_delete).then(|| view! { <p class="muted" data-testid="schedule-read-only">{w.read_only}</p> })}
            <div class="actions">
                {may_change.then(|| view! {
                <button type="button" class="act" data-testid="edit-schedule" on:click=edit>{w.edit}</button>
                <button type="button" class="act" data-testid="suspend-schedule"
                    on:click=move |_| run_suspend(ScheduleChange::Suspend(!suspended))>
                    {if suspended { w.resume } else { w.suspend }}
                </button>
                {skip.map(|(action, date)| view! {
                    <button type="button" class="act" data-testid="skip-next"
                        on:click=move |_| run_skip(ScheduleChange::AddException(ExceptionForm::Skip { action, date: date.clone() }))>
                        {w.skip_next}
                    </button>
                })}
                <label>{w.keep_until}" "
                    <input type="datetime-local" data-testid="keep-until" prop:value=keep
                        on:input=move |ev| keep.set(event_target_value(&ev))/>
                </label>
                <button type="button" class="act" data-testid="keep-add"
                    on:click=move |_| {
                        let until = keep.get_untracked();
                        if !until.is_empty() {
                            run_keep(ScheduleChange::AddException(ExceptionForm::KeepRunningUntil(until)));
                        }
                    }>{w.keep_add}</button>
                })}
                {may_delete.then(|| view! {
                <button type="button" class="act destructive" data-testid="delete-schedule" on:click=remove>
                    {move || if confirming.get() { w.confirm_delete } else { w.delete }}
                </button>
                })}
            </div>
        </section>
    }
}

#[component]
fn Editor(
    form: ScheduleForm,
    version: Option<String>,
    namespaces: Vec<String>,
    editing: RwSignal<Option<(ScheduleForm, Option<String>)>>,
    error: RwSignal<Option<String>>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let w = words();
    let creating = version.is_none();
    // An edit stays in the schedule's namespace.
    let namespaces = if creating {
        namespaces
    } else {
        vec![form.namespace.clone()]
    };
    let name = RwSignal::new(form.name.clone());
    let namespace = RwSignal::new(form.namespace.clone());
    let zone = RwSignal::new(form.time_zone.clone());
    let windows = RwSignal::new(form.windows.clone());
    let labels = RwSignal::new(
        form.match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let vms = RwSignal::new(form.vms.join(", "));
    let grace = RwSignal::new(
        form.grace_period_seconds
            .map(|g| g.to_string())
            .unwrap_or_default(),
    );
    let force = RwSignal::new(form.force);
    let calendars = RwSignal::new(form.calendars.join(", "));
    let problem = RwSignal::new(None::<String>);
    let form_ns = form.namespace.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut match_labels = Vec::new();
        for pair in split_list(&labels.get_untracked()) {
            match pair.split_once('=') {
                Some((k, v)) => match_labels.push((k.trim().to_owned(), v.trim().to_owned())),
                None => match_labels.push((pair, String::new())),
            }
        }
        let grace_text = grace.get_untracked();
        let grace_period_seconds = match grace_text.trim() {
            "" => None,
            g => match g.parse::<u32>() {
                Ok(g) => Some(g),
                Err(_) => {
                    problem.set(Some(texts().grace_invalid.to_owned()));
                    return;
                }
            },
        };
        let new = ScheduleForm {
            namespace: namespace.get_untracked(),
            name: name.get_untracked().trim().to_owned(),
            time_zone: zone.get_untracked(),
            windows: windows.get_untracked(),
            match_labels,
            vms: split_list(&vms.get_untracked()),
            grace_period_seconds,
            force: force.get_untracked(),
            calendars: split_list(&calendars.get_untracked()),
            ..form.clone()
        };
        let version = version.clone();
        leptos::task::spawn_local(async move {
            match schedules(ScheduleOp::Save { form: new, version }).await {
                Ok(_) => {
                    problem.set(None);
                    error.set(None);
                    editing.set(None);
                    refresh();
                }
                Err(e) => problem.set(Some(said(&e))),
            }
        });
    };
    let window_rows = move || {
        windows
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, win)| {
                let day_boxes = DAYS
                    .iter()
                    .enumerate()
                    .map(|(d, day)| {
                        let checked = win.days.iter().any(|x| x == day);
                        view! {
                            <label class="day">
                                <input type="checkbox" data-testid="window-day" data-day=*day prop:checked=checked
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        windows.update(|ws| {
                                            let days = &mut ws[i].days;
                                            days.retain(|x| x != day);
                                            if on {
                                                days.push((*day).to_owned());
                                                days.sort_by_key(|x| DAYS.iter().position(|y| y == x));
                                            }
                                        });
                                    }/>
                                {w.days[d]}
                            </label>
                        }
                    })
                    .collect_view();
                view! {
                    <fieldset class="window" data-testid="window">
                        <legend>{w.window}</legend>
                        {day_boxes}
                        <label>{w.start}" "<input type="time" data-testid="window-start" prop:value=win.start.clone()
                            on:change=move |ev| { let v = event_target_value(&ev); windows.update(|ws| ws[i].start = v); }/></label>
                        <label>{w.stop}" "<input type="time" data-testid="window-stop" prop:value=win.stop.clone()
                            on:change=move |ev| { let v = event_target_value(&ev); windows.update(|ws| ws[i].stop = v); }/></label>
                        <button type="button" class="act link" on:click=move |_| windows.update(|ws| { ws.remove(i); })>{w.remove}</button>
                    </fieldset>
                }
            })
            .collect_view()
    };
    view! {
        <form class="schedule-editor" data-testid="schedule-editor" on:submit=submit>
            <label>{w.name}" "<input data-testid="schedule-name" required prop:value=name disabled=!creating
                on:input=move |ev| name.set(event_target_value(&ev))/></label>
            <label>{w.namespace}" "
                <select data-testid="schedule-namespace" disabled=!creating
                    on:change=move |ev| namespace.set(event_target_value(&ev))>
                    {namespaces.into_iter().map(|ns| {
                        let selected = ns == form_ns;
                        view! { <option value=ns.clone() selected=selected>{ns.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>{w.zone}" "<input data-testid="schedule-zone" prop:value=zone placeholder=w.zone_hint
                on:input=move |ev| zone.set(event_target_value(&ev))/></label>
            {window_rows}
            <button type="button" class="act link" data-testid="add-window"
                on:click=move |_| windows.update(|ws| ws.push(WindowForm { days: vec![], start: "08:00".into(), stop: "20:00".into() }))>
                {w.add_window}
            </button>
            <label>{w.labels}" "<input data-testid="schedule-labels" prop:value=labels placeholder=w.labels_hint
                on:input=move |ev| labels.set(event_target_value(&ev))/></label>
            <label>{w.vms}" "<input data-testid="schedule-vms-input" prop:value=vms placeholder=w.vms_hint
                on:input=move |ev| vms.set(event_target_value(&ev))/></label>
            <label>{w.grace}" "<input data-testid="schedule-grace" inputmode="numeric" prop:value=grace
                on:input=move |ev| grace.set(event_target_value(&ev))/></label>
            <label><input type="checkbox" data-testid="schedule-force" prop:checked=force
                on:change=move |ev| force.set(event_target_checked(&ev))/>" "{w.force}</label>
            <label>{w.calendars}" "<input data-testid="schedule-calendars" prop:value=calendars
                on:input=move |ev| calendars.set(event_target_value(&ev))/></label>
            <p class="muted">{w.owner_note}</p>
            {move || problem.get().map(|p| view! { <p class="row-error" role="alert" data-testid="schedule-form-error">{p}</p> })}
            <button type="submit" class="act" data-testid="save-schedule">{w.save}</button>
            <button type="button" class="act link" on:click=move |_| editing.set(None)>{w.cancel}</button>
        </form>
    }
}

/// "Apply a schedule to the VMs ticked on the list": they join its `vms` (those of its
/// namespace; a schedule runs VMs of its own namespace only).
#[component]
fn Apply(
    apply: Vec<(String, String)>,
    schedules: Vec<ScheduleView>,
    error: RwSignal<Option<String>>,
    done: RwSignal<bool>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let w = words();
    let chosen = RwSignal::new(
        schedules
            .first()
            .map(|s| format!("{}/{}", s.form.namespace, s.form.name))
            .unwrap_or_default(),
    );
    let listed = apply
        .iter()
        .map(|(ns, name)| format!("{ns}/{name}"))
        .collect::<Vec<_>>()
        .join(", ");
    let go = move |_| {
        let Some((ns, name)) = chosen
            .get_untracked()
            .split_once('/')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        else {
            return;
        };
        let vms: Vec<String> = apply
            .iter()
            .filter(|(vm_ns, _)| *vm_ns == ns)
            .map(|(_, vm)| vm.clone())
            .collect();
        send(
            ScheduleOp::Change {
                namespace: ns,
                name,
                change: ScheduleChange::AddVms(vms),
            },
            error,
            move || {
                done.set(true);
                refresh();
            },
        );
    };
    view! {
        <section class="apply-schedule" data-testid="apply-schedule">
            <h3>{w.apply_title}</h3>
            <p translate="no">{listed}</p>
            <select data-testid="apply-schedule-choice" on:change=move |ev| chosen.set(event_target_value(&ev))>
                {schedules.iter().map(|s| {
                    let key = format!("{}/{}", s.form.namespace, s.form.name);
                    view! { <option value=key.clone()>{key.clone()}</option> }
                }).collect_view()}
            </select>
            <button type="button" class="act" data-testid="apply-schedule-go" on:click=go>{w.apply}</button>
            {move || done.get().then(|| view! { <span role="status" data-testid="apply-schedule-done">{w.apply_done}</span> })}
        </section>
    }
}
