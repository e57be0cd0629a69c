use super::bulk::BulkBar;
use super::table::VmTable;
use crate::i18n::texts;
use crate::state::ConsoleState;
use leptos::prelude::*;
use wukong_view::{SortBy, View};

/// Page sizes offered (any size from `MIN_PAGE_SIZE` to `MAX_PAGE_SIZE` works in the address).
const PAGE_SIZES: [u32; 5] = [25, 50, 100, 200, 500];

/// Namespace filter, text search, sort and pages. The server filters, sorts and pages, so the
/// browser holds one page however many VMs there are. The controls are a plain GET form, so they
/// work without JavaScript; once hydrated, a change is sent on the live socket and the page is
/// replaced when the server answers.
#[component]
pub fn FilteredTable() -> impl IntoView {
    let state = expect_context::<ConsoleState>();
    let t = texts();
    let view = state.view;
    // Any change of filter, sort or size starts again at the first page.
    let change = move |edit: fn(&mut View, String), value: String| {
        view.update(|v| {
            edit(v, value);
            v.page = 0;
            *v = v.clone().normalized();
        });
    };
    let hydrated = move || state.hydrated.get_untracked();
    let go_to = move |ev: leptos::ev::MouseEvent, page: u32| {
        if hydrated() {
            ev.prevent_default();
            view.update(|v| v.page = page);
        }
    };
    let matching = state.matching;
    let pages = move || view.with(|v| v.pages(matching.get()));
    let page = move || view.with(|v| v.page);
    let at_last = move || page() + 1 >= pages();
    let range = move || {
        let shown = state.rows.with(Vec::len) as u64;
        let first = view.with(|v| v.offset() as u64);
        if shown == 0 {
            t.page_range_empty(u64::from(matching.get()))
        } else {
            t.page_range(first + 1, first + shown, u64::from(matching.get()))
        }
    };
    let initial = view.get_untracked();

    view! {
        <form class="filters" method="get" action="/" on:submit=move |ev| {
            if hydrated() { ev.prevent_default(); }
        }>
            <label>
                <span>{t.namespace}</span>
                <select name="namespace" data-testid="namespace-filter"
                    on:change=move |ev| change(|v, ns| v.filter.namespace = ns, event_target_value(&ev))>
                    <option value="" selected=move || view.with(|v| v.filter.namespace.is_empty())>{t.all_namespaces}</option>
                    <For each=move || state.namespaces.get() key=|ns| ns.clone() let:ns>
                        <option value=ns.clone() translate="no" selected={
                            let ns = ns.clone();
                            move || view.with(|v| v.filter.namespace == ns)
                        }>{ns.clone()}</option>
                    </For>
                </select>
            </label>
            <label>
                <span>{t.search}</span>
                <input type="search" name="q" data-testid="search" placeholder=t.search_placeholder
                    value=initial.filter.search.clone()
                    on:input=move |ev| change(|v, q| v.filter.search = q, event_target_value(&ev))/>
            </label>
            <label>
                <span>{t.sort}</span>
                <select name="sort" data-testid="sort"
                    on:change=move |ev| change(|v, s| v.sort = SortBy::parse(&s), event_target_value(&ev))>
                    <option value="name" selected=move || view.with(|v| v.sort == SortBy::Name)>{t.sort_by_name}</option>
                    <option value="state" selected=move || view.with(|v| v.sort == SortBy::State)>{t.sort_by_state}</option>
                </select>
            </label>
            <label>
                <span>{t.page_size}</span>
                <select name="size" data-testid="page-size"
                    on:change=move |ev| change(|v, s| v.page_size = s.parse().unwrap_or(v.page_size), event_target_value(&ev))>
                    // The sizes offered, and the current one if the address asked for another.
                    {PAGE_SIZES.into_iter()
                        .chain((!PAGE_SIZES.contains(&initial.page_size)).then_some(initial.page_size))
                        .map(|size| view! {
                        <option value=size.to_string() selected=move || view.with(|v| v.page_size == size)>{size}</option>
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" class="secondary" hidden=move || state.hydrated.get()>{t.apply_filters}</button>
            <span class="count" data-testid="vm-count">{move || t.matching_of_total(u64::from(matching.get()), state.total.get() as u64)}</span>
            <span class="pager" data-testid="pager">
                // Submit buttons carry the page without JavaScript; hydrated, they just switch it.
                <button type="submit" name="page" class="secondary" data-testid="page-previous"
                    value=move || page().to_string()
                    disabled=move || page() == 0
                    on:click=move |ev| go_to(ev, page().saturating_sub(1))>{t.page_previous}</button>
                <span data-testid="page-range">{range}</span>
                <button type="submit" name="page" class="secondary" data-testid="page-next"
                    value=move || (page() + 2).to_string()
                    disabled=at_last
                    on:click=move |ev| go_to(ev, page() + 1)>{t.page_next}</button>
            </span>
        </form>
        <BulkBar/>
        // Narrower than the table's least width, the table scrolls in this box, not the page.
        <div class="table-wrap"><VmTable/></div>
        {move || {
            // Unknown is not "no": say which namespaces could not be checked, rows or not.
            let unchecked = state.unchecked.get();
            (!unchecked.is_empty()).then(|| view! {
                <p class="notice error" role="alert" data-testid="permissions-unchecked">
                    {t.unchecked}{unchecked.join(", ")}". "{t.unchecked_hint}
                </p>
            })
        }}
        {move || {
            let message = if state.total.get() == 0 && !state.unchecked.with(Vec::is_empty) {
                None
            } else if state.total.get() == 0 {
                // A signed-in person with no rows: most likely RBAC, so say so.
                Some(if state.viewer.with_value(|v| v.name.is_some()) { t.empty_no_access } else { t.empty })
            } else if matching.get() == 0 {
                Some(t.no_match)
            } else if state.rows.with(Vec::is_empty) {
                Some(t.page_empty)
            } else {
                None
            };
            message.map(|m| view! { <p class="empty-state" data-testid="empty-state">{m}</p> })
        }}
    }
}
