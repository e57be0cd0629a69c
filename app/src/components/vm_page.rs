//! The VM page, `/vm/{namespace}/{name}`: the VM's row with its live state and buttons (the
//! list's own row, on the same socket), what KubeVirt says (kept live by a watch on the VM and
//! VMI as the person), its Wukong's spec, its Events and request history, and the YAML.
//! Server-rendered whole, so it reads without JavaScript.

use super::history::HistoryList;
use super::moment::Moment;
use crate::api::vm_page;
use crate::i18n::texts;
use crate::state::ConsoleState;
use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};
use wukong_view::{Condition, EventLine, HistoryEntry, KubeVirtFacts, VmDetail, VmKey};

/// The VM page's route. Its data (the server function) is in the main bundle, so it loads at
/// once; its view is a split-off piece of the WASM (`#[lazy_route]`, `cargo leptos --split`),
/// fetched only by those who open a VM page, so the list's first load does not pay for it.
pub struct VmRoute;

#[lazy_route]
impl LazyRoute for VmRoute {
    fn data() -> Self {
        VmRoute
    }

    fn view(_this: Self) -> AnyView {
        let params = leptos_router::hooks::use_params_map().get_untracked();
        let key = VmKey::new(
            params.get("namespace").unwrap_or_default(),
            params.get("name").unwrap_or_default(),
        );
        let detail =
            Resource::new_blocking(move || key.clone(), |key| vm_page(key.namespace, key.name));
        view! {
            <Suspense fallback=|| view! { <p class="loading">{texts().loading}</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(detail) => view! { <VmConsole detail/> }.into_any(),
                        Err(e) => view! { <NotFound e/> }.into_any(),
                    }
                })}
            </Suspense>
        }
        .into_any()
    }
}

/// The page for a VM that cannot be shown, with the HTTP status of why: a VM the person may
/// not see is a 404, like one that does not exist.
#[component]
fn NotFound(e: crate::ConsoleError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = http::StatusCode::from_u16(e.status()) {
            response.set_status(status);
        }
    }
    let t = texts();
    let not_found = e.kind == crate::ErrorKind::NotFound;
    view! {
        <main class="console">
            <nav class="crumbs"><a href="/" data-testid="back-to-list">{t.vm_back}</a></nav>
            <div class="error-state" role="alert" data-testid=if not_found { "vm-not-found" } else { "load-error" }>
                <h2>{if not_found { t.vm_not_found } else { t.load_failed }}</h2>
                <p>{t.said(&e.said, &e.message)}</p>
            </div>
        </main>
    }
}

/// Events and history: fetched again when the VM changes.
#[derive(Clone)]
struct Activity {
    events: Vec<EventLine>,
    events_unreadable: Option<String>,
    history: Vec<HistoryEntry>,
    history_unreadable: Option<String>,
}

#[component]
fn VmConsole(detail: VmDetail) -> impl IntoView {
    let t = texts();
    let VmDetail {
        snapshot,
        spec,
        kubevirt,
        events,
        events_unreadable,
        history,
        history_unreadable,
        yaml,
    } = detail;
    let key = snapshot
        .rows
        .first()
        .map(|row| row.key.clone())
        .unwrap_or_else(|| VmKey::new("", ""));
    let state = ConsoleState::new(snapshot);
    state.kubevirt.set(Some(kubevirt));
    provide_context(state);
    let activity = RwSignal::new(Activity {
        events,
        events_unreadable,
        history,
        history_unreadable,
    });
    Effect::new({
        #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
        let key = key.clone();
        move |_| {
            #[cfg(feature = "hydrate")]
            {
                state.hydrated.set(true);
                crate::live_client::connect(state);
                super::start_clock(state);
                super::mark_hydrated();
                follow_activity(state, key.clone(), activity);
            }
        }
    });
    let gone = move || state.rows.with(Vec::is_empty);
    let back = format!("/?namespace={}", key.namespace);
    view! {
        <super::topbar::TopBar/>
        <main class="console vm-page" data-testid="vm-page" data-namespace=key.namespace.clone() data-name=key.name.clone()>
            <nav class="crumbs"><a href=back data-testid="back-to-list">{t.vm_back}</a></nav>
            <h2 class="vm-title">
                <span translate="no">{key.name.clone()}</span>" "
                <span class="muted" translate="no">{key.namespace.clone()}</span>
            </h2>
            {move || gone().then(|| view! {
                <p class="banner" role="status" data-testid="vm-gone">{t.vm_gone}</p>
            })}
            <section aria-labelledby="vm-state-title">
                <h3 id="vm-state-title">{t.vm_state_actions}</h3>
                <div class="table-wrap"><super::table::VmTable selectable=false/></div>
            </section>
            <section aria-labelledby="kubevirt-title" data-testid="kubevirt">
                <h3 id="kubevirt-title">{t.kubevirt_title}</h3>
                {move || state.kubevirt.get().map(|facts| view! { <KubeVirt facts/> })}
            </section>
            <section aria-labelledby="spec-title">
                <h3 id="spec-title">{t.spec_title}</h3>
                <dl class="facts" data-testid="spec" translate="no">
                    {spec.into_iter().map(|(field, value)| view! {
                        <dt>{field}</dt><dd>{value}</dd>
                    }).collect_view()}
                </dl>
            </section>
            <section aria-labelledby="events-title">
                <h3 id="events-title">{t.events_title}</h3>
                {move || activity.with(|a| view! {
                    <Events events=a.events.clone() unreadable=a.events_unreadable.clone()/>
                })}
            </section>
            <section aria-labelledby="vm-history-title" data-testid="vm-history">
                <h3 id="vm-history-title">{t.history}</h3>
                {move || activity.with(|a| if let Some(why) = a.history_unreadable.clone() {
                    view! {
                        <p class="row-error" data-testid="history-unreadable">{t.history_unreadable}" "<span translate="no">{why}</span></p>
                    }.into_any()
                } else if a.history.is_empty() {
                    view! { <p class="muted">{t.history_empty}</p> }.into_any()
                } else {
                    view! { <HistoryList list=a.history.clone()/> }.into_any()
                })}
            </section>
            <section aria-labelledby="yaml-title">
                <h3 id="yaml-title">{t.yaml_title}</h3>
                <pre class="yaml" data-testid="yaml" translate="no" tabindex="0" aria-labelledby="yaml-title"><code>{yaml}</code></pre>
            </section>
        </main>
        <super::dialog::ConfirmDialog/>
        <super::history::HistoryPanel/>
        <super::toasts::Toasts/>
    }
}

/// Reads the Events and the history again a moment after the VM changes (the controller
/// records its Event just after its status write).
#[cfg(feature = "hydrate")]
fn follow_activity(state: ConsoleState, key: VmKey, activity: RwSignal<Activity>) {
    let revision = move || state.rows.with(|rows| rows.first().map(|e| e.rev));
    Effect::new(move |seen: Option<Option<u64>>| {
        let now = revision();
        if seen.is_some_and(|seen| seen != now) {
            let key = key.clone();
            leptos::task::spawn_local(async move {
                gloo_timers::future::TimeoutFuture::new(1_000).await;
                if let Ok(detail) = vm_page(key.namespace, key.name).await {
                    activity.set(Activity {
                        events: detail.events,
                        events_unreadable: detail.events_unreadable,
                        history: detail.history,
                        history_unreadable: detail.history_unreadable,
                    });
                }
            });
        }
        now
    });
}

#[component]
fn KubeVirt(facts: KubeVirtFacts) -> impl IntoView {
    let t = texts();
    let yes_no = move |b: bool| if b { t.yes } else { t.no };
    let unreadable = facts.unreadable.map(|why| {
        view! {
            <p class="row-error" role="alert" data-testid="kubevirt-unreadable">
                {t.kubevirt_unreadable}" "<span translate="no">{why}</span>
            </p>
        }
    });
    let vm = match facts.vm {
        Some(vm) => view! {
            <h4 translate="no">"VirtualMachine"</h4>
            <dl class="facts">
                <dt>{t.f_printable_status}</dt>
                <dd translate="no" data-testid="printable-status">{vm.printable_status.unwrap_or_default()}</dd>
                <dt>{t.f_run_strategy}</dt>
                <dd translate="no">{vm.run_strategy.unwrap_or_default()}</dd>
                <dt>{t.f_ready}</dt>
                <dd>{vm.ready.map(yes_no).unwrap_or(t.not_known)}</dd>
            </dl>
            <Conditions list=vm.conditions testid="vm-conditions"/>
        }
        .into_any(),
        None => view! { <p class="muted" data-testid="no-vm">{t.no_vm}</p> }.into_any(),
    };
    let vmi = match facts.vmi {
        Some(vmi) => view! {
            <h4 translate="no">"VirtualMachineInstance"</h4>
            <dl class="facts">
                <dt>{t.f_phase}</dt>
                <dd translate="no" data-testid="vmi-phase">{vmi.phase.unwrap_or_default()}</dd>
                <dt>{t.col_node}</dt>
                <dd translate="no" data-testid="vmi-node">{vmi.node.unwrap_or_else(|| t.not_known.to_owned())}</dd>
                <dt>{t.f_ip_addresses}</dt>
                <dd translate="no">
                    {if vmi.ip_addresses.is_empty() {
                        view! { <span>{t.not_known}</span> }.into_any()
                    } else {
                        vmi.ip_addresses.into_iter().map(|ip| view! {
                            <code class="ip" data-testid="vmi-ip">{ip}</code>" "
                        }).collect_view().into_any()
                    }}
                </dd>
            </dl>
            <Conditions list=vmi.conditions testid="vmi-conditions"/>
        }
        .into_any(),
        None => view! { <p class="muted" data-testid="no-vmi">{t.no_vmi}</p> }.into_any(),
    };
    view! { {unreadable} {vm} {vmi} }
}

#[component]
fn Conditions(list: Vec<Condition>, testid: &'static str) -> impl IntoView {
    let t = texts();
    (!list.is_empty()).then(|| {
        view! {
            <table class="facts-table" data-testid=testid>
                <caption>{t.f_conditions}</caption>
                <thead><tr>
                    <th scope="col">{t.f_type}</th><th scope="col">{t.f_printable_status}</th>
                    <th scope="col">{t.f_reason}</th><th scope="col">{t.col_message}</th>
                </tr></thead>
                <tbody translate="no">
                    {list.into_iter().map(|c| { let kind = c.kind.clone(); view! {
                        <tr data-condition=kind>
                            <td>{c.kind}</td><td>{c.status}</td>
                            <td>{c.reason.unwrap_or_default()}</td><td>{c.message.unwrap_or_default()}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        }
    })
}

#[component]
fn Events(events: Vec<EventLine>, unreadable: Option<String>) -> impl IntoView {
    let t = texts();
    if let Some(why) = unreadable {
        return view! {
            <p class="row-error" data-testid="events-unreadable">{t.events_unreadable}" "<span translate="no">{why}</span></p>
        }
        .into_any();
    }
    if events.is_empty() {
        return view! { <p class="muted" data-testid="events-empty">{t.events_empty}</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
        <table class="facts-table" data-testid="events">
            <thead><tr>
                <th scope="col">{t.f_time}</th><th scope="col">{t.f_type}</th>
                <th scope="col">{t.f_object}</th><th scope="col">{t.f_reason}</th>
                <th scope="col">{t.col_message}</th><th scope="col">{t.f_from}</th>
                <th scope="col">{t.f_count}</th>
            </tr></thead>
            <tbody>
                {events.into_iter().map(|e| { let reason = e.reason.clone(); view! {
                    <tr data-testid="event" data-reason=reason data-warning=e.warning.then_some("true")>
                        <td>{e.at_ms.map(|at_ms| view! { <Moment at_ms/> })}</td>
                        <td class=if e.warning { "warning" } else { "" }>{if e.warning { t.event_warning } else { t.event_normal }}</td>
                        <td translate="no">{e.object}</td>
                        <td translate="no">{e.reason}</td>
                        {
                            let (text, ours) = t.controller_words(e.says.as_ref(), &e.message);
                            let by = e.requested_by;
                            view! {
                                <td translate=if ours { "yes" } else { "no" }>
                                    {text}
                                    {by.map(|by| view! { " "<span>{t.history_by}" "<span translate="no">{by}</span></span> })}
                                </td>
                            }
                        }
                        <td translate="no">{e.source.unwrap_or_default()}</td>
                        <td>{e.count}</td>
                    </tr>
                }}).collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}
