//! Every string the console shows, in one place. English now; zh-CN is a second `Texts` value.
//! `data-*` attributes (state and action names) stay English whatever the language.

use wukong_view::{Action, VmState};

pub struct Texts {
    pub title: &'static str,
    pub sandbox_banner: &'static str,
    pub connected_to: &'static str,
    pub live: &'static str,
    pub reconnecting: &'static str,
    pub namespace: &'static str,
    pub all_namespaces: &'static str,
    pub search: &'static str,
    pub search_placeholder: &'static str,
    pub sort: &'static str,
    pub sort_by_name: &'static str,
    pub sort_by_state: &'static str,
    pub apply_filters: &'static str,
    pub col_name: &'static str,
    pub col_namespace: &'static str,
    pub col_state: &'static str,
    pub col_last_action: &'static str,
    pub col_message: &'static str,
    pub col_resources: &'static str,
    pub col_node: &'static str,
    pub col_actions: &'static str,
    pub empty: &'static str,
    pub no_match: &'static str,
    pub load_failed: &'static str,
    pub cancel: &'static str,
    pub close: &'static str,
    pub stop_title: &'static str,
    pub stop_body: &'static str,
    pub grace_label: &'static str,
    pub grace_hint: &'static str,
    pub grace_invalid: &'static str,
    pub force_label: &'static str,
    pub force_stop_title: &'static str,
    pub force_stop_body: &'static str,
    pub delete_title: &'static str,
    pub delete_body: &'static str,
    pub forced_in: &'static str,
    pub working: &'static str,
    pub vm_count: &'static str,
    pub vcpu: &'static str,
    pub not_known: &'static str,
    pub loading: &'static str,
    pub not_found: &'static str,
}

pub const EN: Texts = Texts {
    title: "Wukong Console",
    sandbox_banner: "Sandbox: simulated cluster. Nothing here touches real VMs; changes vanish when the server restarts.",
    connected_to: "Cluster",
    live: "Live",
    reconnecting: "Reconnecting…",
    namespace: "Namespace",
    all_namespaces: "All namespaces",
    search: "Search",
    search_placeholder: "VM name",
    sort: "Sort",
    sort_by_name: "Name",
    sort_by_state: "State",
    apply_filters: "Apply",
    col_name: "Name",
    col_namespace: "Namespace",
    col_state: "State",
    col_last_action: "Last action",
    col_message: "Message",
    col_resources: "CPU / memory",
    col_node: "Node",
    col_actions: "Actions",
    empty: "No virtual machines to show. Wukong resources you are allowed to see will appear here as soon as they exist.",
    no_match: "No virtual machine matches the filter.",
    load_failed: "The VM list could not be loaded",
    cancel: "Cancel",
    close: "Dismiss",
    stop_title: "Stop",
    stop_body: "The guest is asked to shut down (ACPI). If it is still running when the grace period ends, it is switched off.",
    grace_label: "Grace period (seconds)",
    grace_hint: "0–3600; 0 stops at once",
    grace_invalid: "Enter a whole number of seconds from 0 to 3600.",
    force_label: "Force: switch off now, without waiting for the guest",
    force_stop_title: "Force stop",
    force_stop_body: "The VM is switched off at once. Unsaved data in the guest is lost.",
    delete_title: "Delete",
    delete_body: "The VM is stopped and its Wukong resource deleted. This cannot be undone.",
    forced_in: "forced in",
    working: "working…",
    vm_count: "VMs",
    vcpu: "vCPU",
    not_known: "—",
    loading: "Loading…",
    not_found: "Page not found.",
};

impl Texts {
    pub fn state(&self, state: VmState) -> &'static str {
        state.as_str()
    }

    pub fn action(&self, action: Action) -> &'static str {
        match action {
            Action::Start => "Start",
            Action::Stop => "Stop",
            Action::ForceStop => "Force stop",
            Action::Restart => "Restart",
            Action::Suspend => "Suspend",
            Action::Resume => "Resume",
            Action::Delete => "Delete",
        }
    }
}

/// The texts for the page. One language today; chosen here when the second arrives.
pub fn texts() -> &'static Texts {
    &EN
}
