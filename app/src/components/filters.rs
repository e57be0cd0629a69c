use super::bulk::BulkBar;
use super::table::VmTable;
use crate::i18n::texts;
use crate::state::{ConsoleState, Entry};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortBy {
    Name,
    State,
}

impl SortBy {
    fn parse(value: &str) -> SortBy {
        if value == "state" {
            SortBy::State
        } else {
            SortBy::Name
        }
    }
}

/// Namespace filter, text search and sort, over the live table. The controls are a plain GET form,
/// so they work without JavaScript; once hydrated they filter as you type.
#[component]
pub fn FilteredTable() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    let query = use_query_map().get_untracked();
    let initial_search = query.get("q").unwrap_or_default();
    let namespace = RwSignal::new(query.get("namespace").unwrap_or_default());
    let search = RwSignal::new(initial_search.clone());
    let sort = RwSignal::new(SortBy::parse(&query.get("sort").unwrap_or_default()));

    let namespaces = Memo::new(move |_| {
        state.rows.with(|rows| {
            rows.keys()
                .map(|k| k.namespace.clone())
                .collect::<BTreeSet<_>>()
        })
    });
    let filter = Signal::derive(move || wukong_view::Filter {
        namespace: namespace.get(),
        search: search.get(),
    });
    let visible = Memo::new(move |_| {
        let filter = filter.get();
        let mut entries: Vec<Entry> = state.rows.with(|rows| {
            rows.values()
                .filter(|e| filter.matches(&e.row.key))
                .cloned()
                .collect()
        });
        if sort.get() == SortBy::State {
            entries.sort_by(|a, b| (a.row.state, &a.row.key).cmp(&(b.row.state, &b.row.key)));
        } else {
            entries.sort_by(|a, b| {
                (&a.row.key.name, &a.row.key.namespace)
                    .cmp(&(&b.row.key.name, &b.row.key.namespace))
            });
        }
        entries
    });
    let total = move || state.rows.with(|r| r.len());

    view! {
        <form class="filters" method="get" action="/" on:submit=move |ev| {
            if state.hydrated.get_untracked() { ev.prevent_default(); }
        }>
            <label>
                <span>{t.namespace}</span>
                <select name="namespace" data-testid="namespace-filter" on:change=move |ev| namespace.set(event_target_value(&ev))>
                    <option value="" selected=move || namespace.with(String::is_empty)>{t.all_namespaces}</option>
                    <For each=move || namespaces.get() key=|ns| ns.clone() let:ns>
                        <option value=ns.clone() selected={
                            let ns = ns.clone();
                            move || namespace.with(|n| *n == ns)
                        }>{ns.clone()}</option>
                    </For>
                </select>
            </label>
            <label>
                <span>{t.search}</span>
                <input type="search" name="q" data-testid="search" placeholder=t.search_placeholder
                    value=initial_search
                    on:input=move |ev| search.set(event_target_value(&ev))/>
            </label>
            <label>
                <span>{t.sort}</span>
                <select name="sort" data-testid="sort" on:change=move |ev| sort.set(SortBy::parse(&event_target_value(&ev)))>
                    <option value="name" selected=move || sort.get() == SortBy::Name>{t.sort_by_name}</option>
                    <option value="state" selected=move || sort.get() == SortBy::State>{t.sort_by_state}</option>
                </select>
            </label>
            <button type="submit" class="secondary" hidden=move || state.hydrated.get()>{t.apply_filters}</button>
            <span class="count" data-testid="vm-count">{move || visible.with(Vec::len)}" / "{total}" "{t.vm_count}</span>
        </form>
        <BulkBar visible filter/>
        <VmTable rows=visible/>
        {move || {
            let message = if total() == 0 {
                // A signed-in person with no rows: most likely RBAC, so say so.
                Some(if state.viewer.with_value(|v| v.name.is_some()) { t.empty_no_access } else { t.empty })
            } else if visible.with(Vec::is_empty) {
                Some(t.no_match)
            } else {
                None
            };
            message.map(|m| view! { <p class="empty-state" data-testid="empty-state">{m}</p> })
        }}
    }
}
