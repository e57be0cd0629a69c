//! Every string the console shows, in one place: one `Texts` value per language. What a text
//! says with numbers in it (plurals, counts) is a method, so each language words it its own way.
//! `data-*` attributes (state and action names) stay English whatever the language.
//!
//! Why not leptos_i18n: two languages whose plural rules are "one/other" and "other" need no ICU
//! data, and the WASM bundle has about 20 KiB left under its 400 KiB budget. A table is a few KiB.

use leptos::prelude::*;
use wukong_view::{
    group_digits, Action, Ago, BulkHolds, Hold, Lang, Refusal, Said, Says, SignedOutWhy, VmKey,
    VmState,
};

#[cfg_attr(test, derive(serde::Serialize))]
pub struct Texts {
    pub lang: Lang,
    /// Why a button is disabled that the rules allow but the person's roles do not.
    pub reason_role: &'static str,
    /// "Cluster: " before the cluster's name.
    pub cluster: &'static str,
    /// Ends a question (the dialogs' titles).
    pub question: &'static str,
    pub title: &'static str,
    /// The link to the power schedules page, and the bulk bar's way there.
    pub schedules: &'static str,
    pub apply_schedule: &'static str,
    pub sandbox_banner: &'static str,
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
    pub working: &'static str,
    pub vcpu: &'static str,
    pub not_known: &'static str,
    pub loading: &'static str,
    pub not_found: &'static str,
    pub signed_in_as: &'static str,
    pub open_sandbox_note: &'static str,
    pub sign_out: &'static str,
    pub open_banner: &'static str,
    pub empty_no_access: &'static str,
    /// Followed by the namespaces, comma-separated.
    pub unchecked: &'static str,
    pub unchecked_hint: &'static str,
    pub controller_absent: &'static str,
    /// Followed by how many rows of the page wait.
    pub controller_unanswered: &'static str,
    pub waiting_for_controller: &'static str,
    /// The server was upgraded while this tab stayed open.
    pub upgraded: &'static str,
    pub reload: &'static str,
    pub login_title: &'static str,
    pub login_intro: &'static str,
    pub login_token: &'static str,
    pub login_submit: &'static str,
    pub login_invalid: &'static str,
    pub login_unavailable: &'static str,
    pub login_required: &'static str,
    pub login_idle: &'static str,
    pub login_expired: &'static str,
    pub login_revoked: &'static str,
    pub login_ended: &'static str,
    pub login_through_proxy: &'static str,
    pub login_proxy_named_no_one: &'static str,
    pub login_signed_out: &'static str,
    pub bulk_all_matching: &'static str,
    pub bulk_clear: &'static str,
    pub bulk_confirm_body: &'static str,
    pub bulk_running: &'static str,
    /// The title of a bulk action the server refused as a whole.
    pub bulk_failed: &'static str,
    pub select_row: &'static str,
    pub select_all_visible: &'static str,
    pub history: &'static str,
    pub history_empty: &'static str,
    pub history_by: &'static str,
    pub theme_label: &'static str,
    pub bulk_counting: &'static str,
    pub theme_system: &'static str,
    pub theme_light: &'static str,
    pub theme_dark: &'static str,
    /// The VM page's link back to the list.
    pub vm_back: &'static str,
    pub vm_not_found: &'static str,
    pub vm_gone: &'static str,
    pub vm_state_actions: &'static str,
    pub kubevirt_title: &'static str,
    pub kubevirt_unreadable: &'static str,
    pub no_vm: &'static str,
    pub no_vmi: &'static str,
    pub f_printable_status: &'static str,
    pub f_run_strategy: &'static str,
    pub f_ready: &'static str,
    pub f_phase: &'static str,
    pub f_ip_addresses: &'static str,
    pub f_conditions: &'static str,
    pub f_type: &'static str,
    pub f_reason: &'static str,
    pub f_object: &'static str,
    pub f_from: &'static str,
    pub f_count: &'static str,
    pub f_time: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub spec_title: &'static str,
    pub events_title: &'static str,
    pub events_empty: &'static str,
    pub events_unreadable: &'static str,
    pub history_unreadable: &'static str,
    pub event_warning: &'static str,
    pub event_normal: &'static str,
    pub yaml_title: &'static str,
    pub page_previous: &'static str,
    pub page_next: &'static str,
    pub page_size: &'static str,
    pub page_empty: &'static str,
}

pub const EN: Texts = Texts {
    lang: Lang::En,
    reason_role: "your Kubernetes role does not allow this action on this VM",
    cluster: "Cluster: ",
    question: "?",
    title: "Wukong Console",
    schedules: "Schedules",
    apply_schedule: "Apply schedule…",
    sandbox_banner: "Sandbox: simulated cluster. Nothing here touches real VMs; changes vanish when the server restarts.",
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
    working: "working…",
    vcpu: "vCPU",
    not_known: "—",
    loading: "Loading…",
    not_found: "Page not found.",
    signed_in_as: "Signed in as",
    open_sandbox_note: " No sign-in: everyone who opens this page may do everything.",
    sign_out: "Sign out",
    open_banner: "No sign-in: everyone who can open this page acts with the console's own Kubernetes account. Start the console with --auth=token or --auth=proxy before sharing it.",
    unchecked: "Your permissions could not be checked in namespace(s): ",
    unchecked_hint: "The cluster did not answer the access check, so their virtual machines are not shown (this is not a refusal). The page updates by itself when the check succeeds; reload to try now.",
    controller_absent: "No lifecycle controller is running. Requests are kept and carried out once one starts; until then nothing changes on the VMs.",
    controller_unanswered: "The lifecycle controller has not taken up these requests for over 15 seconds (it may be busy, stopped, or not allowed in their namespace). Waiting on this page: ",
    waiting_for_controller: "waiting for the controller",
    upgraded: "A different version of Wukong Console now serves this page (it was upgraded since the page was loaded). Reload the page to use it; until then some actions may fail.",
    reload: "Reload",
    empty_no_access: "Your Kubernetes roles let you see no virtual machines here. Ask an administrator of your team's namespace for a role that can list wukongs (vm.novasphere.dev).",
    login_title: "Sign in to Wukong Console",
    login_intro: "Paste a Kubernetes bearer token: a ServiceAccount token (kubectl create token NAME) or your OIDC ID token. The cluster checks it; the console keeps it only in its memory and never shows it again.",
    login_token: "Token",
    login_submit: "Sign in",
    login_invalid: "The cluster did not accept that token: it is wrong, expired or revoked.",
    login_unavailable: "The cluster could not check the token just now; try again in a moment.",
    login_required: "Sign in to see your virtual machines.",
    login_idle: "Your session ended after a period of inactivity; sign in again.",
    login_expired: "Your session reached its maximum length; sign in again.",
    login_revoked: "The cluster no longer accepts your token (it expired or was revoked); sign in with a new one.",
    login_ended: "Your session has ended; sign in again.",
    login_through_proxy: "This console is signed in to through its authenticating proxy; open it through the proxy.",
    login_proxy_named_no_one: "The authenticating proxy did not name a user; ask whoever runs it.",
    login_signed_out: "You are signed out.",
    bulk_all_matching: "Select all matching the filter",
    bulk_clear: "Clear selection",
    bulk_confirm_body: "Each VM is checked on its own: those whose state or your role does not allow it are refused and listed with the reason.",
    bulk_running: "Sending…",
    bulk_failed: "The bulk action was not carried out",
    select_row: "Select",
    select_all_visible: "Select all shown",
    history: "History",
    history_empty: "No requests recorded yet.",
    history_by: "by",
    theme_label: "Theme",
    bulk_counting: "Counting the VMs that match the filter…",
    theme_system: "Auto",
    theme_light: "Light",
    theme_dark: "Dark",
    vm_back: "All VMs",
    vm_not_found: "No such VM",
    vm_gone: "This VM no longer exists.",
    vm_state_actions: "State and actions",
    kubevirt_title: "What KubeVirt says",
    kubevirt_unreadable: "KubeVirt's objects could not be read:",
    no_vm: "No VirtualMachine exists for this Wukong.",
    no_vmi: "No VMI: the VM is not running.",
    f_printable_status: "Status",
    f_run_strategy: "Run strategy",
    f_ready: "Ready",
    f_phase: "Phase",
    f_ip_addresses: "IP addresses",
    f_conditions: "Conditions",
    f_type: "Type",
    f_reason: "Reason",
    f_object: "Object",
    f_from: "From",
    f_count: "Count",
    f_time: "Time",
    yes: "yes",
    no: "no",
    spec_title: "Spec",
    events_title: "Events",
    events_empty: "No Events.",
    events_unreadable: "Events could not be read:",
    history_unreadable: "The request history could not be read:",
    event_warning: "Warning",
    event_normal: "Normal",
    yaml_title: "YAML (read-only)",
    page_previous: "Previous",
    page_next: "Next",
    page_size: "Rows per page",
    page_empty: "This page is past the end of the list.",
};

pub const ZH_CN: Texts = Texts {
    lang: Lang::ZhCn,
    reason_role: "你的 Kubernetes 角色不允许对此虚拟机执行该操作",
    cluster: "集群：",
    question: "？",
    title: "Wukong 控制台",
    schedules: "开关机计划",
    apply_schedule: "应用计划…",
    sandbox_banner: "沙箱：模拟的集群。这里的操作不会触及真实的虚拟机；服务器重启后，所有更改都会消失。",
    live: "实时",
    reconnecting: "正在重新连接…",
    namespace: "命名空间",
    all_namespaces: "全部命名空间",
    search: "搜索",
    search_placeholder: "虚拟机名称",
    sort: "排序",
    sort_by_name: "名称",
    sort_by_state: "状态",
    apply_filters: "应用",
    col_name: "名称",
    col_namespace: "命名空间",
    col_state: "状态",
    col_last_action: "上次操作",
    col_message: "消息",
    col_resources: "CPU / 内存",
    col_node: "节点",
    col_actions: "操作",
    empty: "没有可显示的虚拟机。你有权查看的 Wukong 资源一经创建，就会出现在这里。",
    no_match: "没有与筛选条件匹配的虚拟机。",
    load_failed: "无法加载虚拟机列表",
    cancel: "取消",
    close: "关闭",
    stop_title: "停止",
    stop_body: "将请求客户机关机（ACPI）。如果宽限期结束时它仍在运行，就会被强制断电。",
    grace_label: "宽限期（秒）",
    grace_hint: "0–3600；0 表示立即停止",
    grace_invalid: "请输入 0 到 3600 之间的整数秒数。",
    force_label: "强制：立即断电，不等待客户机关机",
    force_stop_title: "强制停止",
    force_stop_body: "虚拟机将被立即断电，客户机中未保存的数据会丢失。",
    delete_title: "删除",
    delete_body: "虚拟机将被停止，其 Wukong 资源将被删除。此操作无法撤销。",
    working: "处理中…",
    vcpu: "vCPU",
    not_known: "—",
    loading: "加载中…",
    not_found: "页面不存在。",
    signed_in_as: "当前用户",
    open_sandbox_note: "无需登录：打开此页面的任何人都可以执行所有操作。",
    sign_out: "退出登录",
    open_banner: "未启用登录：能打开此页面的任何人，都以控制台自身的 Kubernetes 账号执行操作。分享之前，请以 --auth=token 或 --auth=proxy 启动控制台。",
    unchecked: "无法检查你在以下命名空间中的权限：",
    unchecked_hint: "集群没有回应访问检查，因此未显示这些命名空间中的虚拟机（这不是拒绝）。检查成功后页面会自动更新；也可以刷新页面立即重试。",
    controller_absent: "没有正在运行的生命周期控制器。请求会被保留，待控制器启动后执行；在此之前，虚拟机不会有任何变化。",
    controller_unanswered: "生命周期控制器已超过 15 秒未处理这些请求（它可能正忙、已停止，或无权访问这些命名空间）。本页中等待的虚拟机：",
    waiting_for_controller: "等待控制器",
    upgraded: "本页面打开后，Wukong 控制台已升级，现由另一个版本提供服务。请刷新页面以使用该版本；刷新之前，部分操作可能会失败。",
    reload: "刷新",
    empty_no_access: "你的 Kubernetes 角色不允许你在这里查看任何虚拟机。请联系团队命名空间的管理员，申请一个可以列出 wukongs（vm.novasphere.dev）的角色。",
    login_title: "登录 Wukong 控制台",
    login_intro: "粘贴一个 Kubernetes 持有者令牌：ServiceAccount 令牌（kubectl create token 名称）或你的 OIDC ID 令牌。令牌由集群校验；控制台只把它保存在内存中，不会再次显示。",
    login_token: "令牌",
    login_submit: "登录",
    login_invalid: "集群不接受该令牌：令牌有误、已过期或已被吊销。",
    login_unavailable: "集群暂时无法校验令牌，请稍后再试。",
    login_required: "请登录以查看你的虚拟机。",
    login_idle: "由于长时间未操作，你的会话已结束，请重新登录。",
    login_expired: "你的会话已达到最长时限，请重新登录。",
    login_revoked: "集群不再接受你的令牌（已过期或已被吊销），请使用新令牌登录。",
    login_ended: "你的会话已结束，请重新登录。",
    login_through_proxy: "此控制台通过其认证代理登录；请经由该代理打开。",
    login_proxy_named_no_one: "认证代理没有提供用户名；请联系代理的管理员。",
    login_signed_out: "你已退出登录。",
    bulk_all_matching: "选择所有匹配筛选条件的虚拟机",
    bulk_clear: "清除选择",
    bulk_confirm_body: "每台虚拟机单独检查：状态或你的角色不允许该操作的会被拒绝，并列出原因。",
    bulk_running: "正在发送…",
    bulk_failed: "批量操作没有执行",
    select_row: "选择",
    select_all_visible: "选择所有显示的虚拟机",
    history: "历史",
    history_empty: "尚无请求记录。",
    history_by: "请求者",
    theme_label: "主题",
    bulk_counting: "正在统计符合筛选条件的虚拟机……",
    theme_system: "自动",
    theme_light: "浅色",
    theme_dark: "深色",
    vm_back: "全部虚拟机",
    vm_not_found: "找不到该虚拟机",
    vm_gone: "该虚拟机已不存在。",
    vm_state_actions: "状态与操作",
    kubevirt_title: "KubeVirt 的状态",
    kubevirt_unreadable: "无法读取 KubeVirt 对象：",
    no_vm: "此 Wukong 没有对应的 VirtualMachine。",
    no_vmi: "没有 VMI：虚拟机未在运行。",
    f_printable_status: "状态",
    f_run_strategy: "运行策略",
    f_ready: "就绪",
    f_phase: "阶段",
    f_ip_addresses: "IP 地址",
    f_conditions: "条件",
    f_type: "类型",
    f_reason: "原因",
    f_object: "对象",
    f_from: "来源",
    f_count: "次数",
    f_time: "时间",
    yes: "是",
    no: "否",
    spec_title: "规格",
    events_title: "事件",
    events_empty: "没有事件。",
    events_unreadable: "无法读取事件：",
    history_unreadable: "无法读取请求历史：",
    event_warning: "警告",
    event_normal: "正常",
    yaml_title: "YAML（只读）",
    page_previous: "上一页",
    page_next: "下一页",
    page_size: "每页行数",
    page_empty: "此页已超出列表末尾。",
};

impl Texts {
    /// A state's name (`data-state` keeps the English one).
    pub fn state(&self, state: VmState) -> &'static str {
        match self.lang {
            Lang::En => state.as_str(),
            Lang::ZhCn => match state {
                VmState::Starting => "启动中",
                VmState::Running => "运行中",
                VmState::Stopping => "停止中",
                VmState::Stopped => "已停止",
                VmState::Restarting => "重启中",
                VmState::Suspending => "暂停中",
                VmState::Suspended => "已暂停",
                VmState::Resuming => "恢复中",
                VmState::Provisioning => "准备存储中",
                VmState::Migrating => "迁移中",
                VmState::Failed => "已失败",
                VmState::Error => "错误",
                VmState::Deleting => "删除中",
                VmState::Unknown => "未知",
            },
        }
    }

    /// A VM's next scheduled action, unambiguous about the zone: "Stops today 20:00 UTC+8,
    /// schedule dev-hours".
    pub fn next_action(&self, next: &wukong_view::ScheduledNext, now_ms: i64) -> String {
        let (days, date, time, zone) = wukong_view::when(next.at_ms, next.offset_seconds, now_ms);
        let name = &next.schedule;
        match self.lang {
            Lang::En => {
                let verb = match next.action {
                    Action::Start => "Starts",
                    Action::ForceStop => "Force-stops",
                    _ => "Stops",
                };
                let day = match days {
                    0 => "today".to_owned(),
                    1 => "tomorrow".to_owned(),
                    _ => format!("on {date}"),
                };
                format!("{verb} {day} {time} {zone}, schedule {name}")
            }
            Lang::ZhCn => {
                let day = match days {
                    0 => "今天".to_owned(),
                    1 => "明天".to_owned(),
                    _ => date,
                };
                format!(
                    "{day} {time}（{zone}）{}，计划 {name}",
                    self.action(next.action)
                )
            }
        }
    }

    /// An action's name, as on its button (`data-action` keeps the English one).
    pub fn action(&self, action: Action) -> &'static str {
        match (self.lang, action) {
            (Lang::En, Action::Start) => "Start",
            (Lang::En, Action::Stop) => "Stop",
            (Lang::En, Action::ForceStop) => "Force stop",
            (Lang::En, Action::Restart) => "Restart",
            (Lang::En, Action::Suspend) => "Suspend",
            (Lang::En, Action::Resume) => "Resume",
            (Lang::En, Action::Delete) => "Delete",
            (Lang::ZhCn, Action::Start) => "启动",
            (Lang::ZhCn, Action::Stop) => "停止",
            (Lang::ZhCn, Action::ForceStop) => "强制停止",
            (Lang::ZhCn, Action::Restart) => "重启",
            (Lang::ZhCn, Action::Suspend) => "暂停",
            (Lang::ZhCn, Action::Resume) => "恢复",
            (Lang::ZhCn, Action::Delete) => "删除",
        }
    }

    /// What the live region says when a VM the person acted on changes state.
    pub fn announce_state(&self, name: &str, state: VmState) -> String {
        match self.lang {
            Lang::En => format!("{name}: {}", self.state(state)),
            Lang::ZhCn => format!("{name}：{}", self.state(state)),
        }
    }

    /// A colour theme's name on the switch.
    pub fn theme(&self, theme: wukong_view::Theme) -> &'static str {
        match theme {
            wukong_view::Theme::System => self.theme_system,
            wukong_view::Theme::Light => self.theme_light,
            wukong_view::Theme::Dark => self.theme_dark,
        }
    }

    /// A history line's action as the controller recorded it (`stop`, `create`, ...).
    pub fn recorded_action(&self, recorded: &str) -> String {
        match (recorded.parse::<Action>(), self.lang) {
            (Ok(action), _) => self.action(action).to_owned(),
            (Err(_), Lang::ZhCn) if recorded == "create" => "创建".to_owned(),
            (Err(_), _) => recorded.to_owned(),
        }
    }

    /// A history line's outcome: the controller's Event reason (`Accepted`, `ForcedStop`, ...).
    pub fn outcome(&self, reason: &str) -> String {
        let chinese = match reason {
            "Accepted" => "已接受",
            "Refused" => "已拒绝",
            "KubeVirtRefused" => "KubeVirt 拒绝",
            "ForcedStop" => "已强制断电",
            "AutoStartRefused" => "自动启动被拒绝",
            "VirtualMachineNotOwned" => "虚拟机不属于此 Wukong",
            other => other,
        };
        match self.lang {
            Lang::En => reason.to_owned(),
            Lang::ZhCn => chinese.to_owned(),
        }
    }

    /// What the server said, in this language. `english` is the server's own English of it
    /// (`Said`'s `Display`, sent beside the code): one wording for the page, logs and other
    /// clients, and none of it in the WASM bundle. The cluster's `detail`s stay as they came.
    pub fn said(&self, said: &Said, english: &str) -> String {
        if self.lang == Lang::En {
            return english.to_owned();
        }
        let n = |v: u64| group_digits(v);
        match said {
            Said::Accepted => "已接受".to_owned(),
            Said::Refused { action, vm, reason } => {
                format!("无法{} {vm}：{}", self.action(*action), self.refusal(reason))
            }
            Said::Gone { vm } => format!("{vm} 已不存在"),
            Said::Replaced { vm } => format!(
                "{vm} 在你查看之后被删除并重新创建；没有对新的虚拟机执行任何操作：请先查看，再重新请求"
            ),
            Said::Conflict { vm, detail } => format!("{vm} 同时被他人修改，请重试（{detail}）"),
            Said::Forbidden { action, vm, detail } => {
                format!("你无权{} {vm}：{detail}", self.action(*action))
            }
            Said::NoAccess { namespace } => format!("你无权访问命名空间 {namespace}（RBAC）"),
            Said::AccessUnknown { namespace, detail } => {
                format!("无法检查你在命名空间 {namespace} 中的权限（{detail}），请重试")
            }
            Said::TooManyActions {
                per_minute,
                retry_after_seconds,
            } => format!(
                "你在过去一分钟内请求的操作超过了 {} 次；{} 秒后可以再次操作",
                n(u64::from(*per_minute)),
                n(*retry_after_seconds)
            ),
            Said::BulkTooManyKeys { listed, max } => format!(
                "一次批量操作最多只能列出 {} 台虚拟机（本次为 {} 台）；请改用“选择所有匹配筛选条件的虚拟机”",
                n(*max),
                n(*listed)
            ),
            Said::BulkTooLarge { vms, max } => format!(
                "此批量操作将修改 {} 台虚拟机，而一次最多只能修改 {} 台；请缩小筛选范围（命名空间或搜索），分批执行",
                n(*vms),
                n(*max)
            ),
            Said::BulkOverAllowance {
                vms,
                per_minute,
                retry_after_seconds,
            } => format!(
                "此批量操作将修改 {} 台虚拟机，超出了你剩余的批量额度（每分钟 {} 台）；没有执行任何操作；{} 秒后可以执行整个操作",
                n(*vms),
                n(u64::from(*per_minute)),
                n(*retry_after_seconds)
            ),
            Said::NothingSelected => "没有选择任何虚拟机".to_owned(),
            Said::SignedOut { why } => self.signed_out(*why).to_owned(),
            Said::ClusterSlow { seconds } => {
                format!("集群在 {seconds} 秒内没有回应；它回应后，列表就会出现")
            }
            Said::NotConnected => "控制台没有连接到任何集群".to_owned(),
            Said::ClusterUnreachable { detail } => format!("无法连接集群：{detail}"),
            Said::ClusterRejected { detail } => format!("集群拒绝了该请求：{detail}"),
            Said::InvalidRequest { detail } => format!("请求无效：{detail}"),
            Said::ServerUnreachable { detail } => format!("无法连接控制台服务器：{detail}"),
            Said::Other { detail } => detail.clone(),
        }
    }

    /// What the lifecycle controller says, in this language. `english` is its own English of it
    /// (status `message`, sent beside the code): none of the English wording is in the bundle.
    /// KubeVirt's words (`detail`) and names stay as they came.
    pub fn says(&self, says: &Says, english: &str) -> String {
        if self.lang == Lang::En {
            return english.to_owned();
        }
        let act = |a: &Action| self.action(*a);
        match says {
            Says::Accepted { action, force, grace } => match action {
                Action::Stop if *grace == 0 => "立即停止（宽限期为 0）".to_owned(),
                Action::Stop => format!(
                    "已发送 ACPI 关机信号；{} 秒后仍在运行则强制断电",
                    group_digits(u64::from(*grace))
                ),
                Action::ForceStop => "正在强制停止".to_owned(),
                Action::Restart if *force => "正在强制重启".to_owned(),
                Action::Restart => "正在重启".to_owned(),
                Action::Start => "正在启动".to_owned(),
                Action::Suspend => "正在暂停".to_owned(),
                Action::Resume => "正在恢复".to_owned(),
                Action::Delete => "删除中：先停止虚拟机".to_owned(),
            },
            Says::Refused { action, refusal } => {
                format!("{}被拒绝：{}", act(action), self.refusal(refusal))
            }
            Says::KubeVirtRbac { action, detail } => format!(
                "{}被拒绝：生命周期控制器无权调用 KubeVirt 的{}（RBAC）：{detail}",
                act(action),
                act(action)
            ),
            Says::KubeVirtOwn403 { action, detail } => {
                format!("KubeVirt 本身拒绝了{}（403，不是权限问题）：{detail}", act(action))
            }
            Says::KubeVirtRefused { action, code, detail } => {
                format!("KubeVirt 拒绝了{}（{code}）：{detail}", act(action))
            }
            Says::Settled { state } => format!("虚拟机当前状态：{}", self.state(*state)),
            Says::KubeVirtProblem { detail } => detail.clone(),
            Says::GuestFailed => "客户机已失败（KubeVirt 报告 VMI 失败）".to_owned(),
            Says::ForcedOff => "已强制断电：宽限期结束时客户机仍在运行".to_owned(),
            Says::Deleting { grace } => format!(
                "删除中：正在关闭客户机（{} 秒后强制断电）",
                group_digits(u64::from(*grace))
            ),
            Says::DeletingForced => "删除中：宽限期已过，正在强制关闭客户机".to_owned(),
            Says::DeletingVm => "删除中：客户机已关闭，正在删除 VirtualMachine".to_owned(),
            Says::AutoStarted => "已在创建时自动启动".to_owned(),
            Says::AutoStartRefused { detail } => format!("KubeVirt 拒绝了自动启动：{detail}"),
            Says::NotOwned { namespace, name } => {
                format!("VirtualMachine {namespace}/{name} 已存在，且不由此 Wukong 管理")
            }
            Says::NotOwnedRefused {
                action,
                namespace,
                name,
            } => format!(
                "{}被拒绝：VirtualMachine {namespace}/{name} 已存在，且不由此 Wukong 管理",
                act(action)
            ),
            Says::Unexplained { from, to } => format!(
                "{} → {}，并非来自控制台的请求：KubeVirt 显示为{}（客户机内部关机、virtctl 或其他客户端）",
                self.state(*from),
                self.state(*to),
                self.state(*to)
            ),
        }
    }

    /// A controller message as the page shows it: in this language when it came with a code,
    /// else its English; and whether all its words are the console's (else it quotes KubeVirt's
    /// or is the English: marked `translate="no"`).
    pub fn controller_words(&self, says: Option<&Says>, english: &str) -> (String, bool) {
        match says {
            Some(says) => {
                let quotes_kubevirt = matches!(
                    says,
                    Says::KubeVirtRbac { .. }
                        | Says::KubeVirtOwn403 { .. }
                        | Says::KubeVirtRefused { .. }
                        | Says::KubeVirtProblem { .. }
                        | Says::AutoStartRefused { .. }
                );
                (self.says(says, english), !quotes_kubevirt)
            }
            None => (english.to_owned(), false),
        }
    }

    /// Why the lifecycle rules refuse an action now (English: the rule's own words).
    pub fn refusal(&self, refusal: &Refusal) -> String {
        if self.lang == Lang::En {
            return refusal.to_string();
        }
        match refusal {
            Refusal::Deleting => "虚拟机正在被删除".to_owned(),
            Refusal::RequestPending => "此虚拟机的上一个请求仍在执行，请等待它完成".to_owned(),
            Refusal::AlreadyRunning => "虚拟机已在运行".to_owned(),
            Refusal::ManualStartUnsupported(rs) => {
                format!("运行策略 {rs} 不支持手动启动；KubeVirt 会自行启动虚拟机")
            }
            Refusal::NotRunning(state) => {
                format!("虚拟机没有在运行（当前状态：{}）", self.state(*state))
            }
            Refusal::InTransition(state) => {
                format!("虚拟机当前状态为“{}”，请等待它完成", self.state(*state))
            }
            Refusal::AlreadyStopping => {
                "虚拟机已在正常停止中；如需立即结束宽限期，请使用强制停止".to_owned()
            }
            Refusal::Halted => {
                "运行策略 Halted 已在停止此虚拟机；如需立即停止，请使用强制停止".to_owned()
            }
            Refusal::NoManualRestart(rs) => format!("运行策略 {rs} 不支持手动重启"),
            Refusal::RerunOnFailureFailed => {
                "运行策略 RerunOnFailure 不会启动客户机已失败的虚拟机；请使用重启".to_owned()
            }
            Refusal::AlreadySuspended => "虚拟机已暂停".to_owned(),
            Refusal::NotSuspended(state) => {
                format!("虚拟机没有暂停（当前状态：{}）", self.state(*state))
            }
            Refusal::StateUnknown => "虚拟机的状态未知；请在集群中检查该虚拟机".to_owned(),
        }
    }

    /// Why the person has to sign in (again): the sign-in page's notice.
    pub fn signed_out(&self, why: SignedOutWhy) -> &'static str {
        match why {
            SignedOutWhy::Required => self.login_required,
            SignedOutWhy::Idle => self.login_idle,
            SignedOutWhy::Expired => self.login_expired,
            SignedOutWhy::Revoked => self.login_revoked,
            SignedOutWhy::Ended => self.login_ended,
            SignedOutWhy::ThroughProxy => self.login_through_proxy,
            SignedOutWhy::ProxyNamedNoOne => self.login_proxy_named_no_one,
        }
    }

    /// "3 minutes ago" / "3 分钟前".
    pub fn ago(&self, ago: Ago) -> String {
        let plural = |n: u64, unit: &str| {
            if n == 1 {
                format!("1 {unit} ago")
            } else {
                format!("{} {unit}s ago", group_digits(n))
            }
        };
        match (self.lang, ago) {
            (Lang::En, Ago::JustNow) => "just now".to_owned(),
            (Lang::En, Ago::Minutes(n)) => plural(n, "minute"),
            (Lang::En, Ago::Hours(n)) => plural(n, "hour"),
            (Lang::En, Ago::Days(n)) => plural(n, "day"),
            (Lang::ZhCn, Ago::JustNow) => "刚刚".to_owned(),
            (Lang::ZhCn, Ago::Minutes(n)) => format!("{} 分钟前", group_digits(n)),
            (Lang::ZhCn, Ago::Hours(n)) => format!("{} 小时前", group_digits(n)),
            (Lang::ZhCn, Ago::Days(n)) => format!("{} 天前", group_digits(n)),
        }
    }

    /// "3 VMs" / "3 台虚拟机".
    pub fn vms(&self, n: u64) -> String {
        let count = group_digits(n);
        match self.lang {
            Lang::En if n == 1 => "1 VM".to_owned(),
            Lang::En => format!("{count} VMs"),
            Lang::ZhCn => format!("{count} 台虚拟机"),
        }
    }

    /// The count beside the filters: how many match of how many there are.
    pub fn matching_of_total(&self, matching: u64, total: u64) -> String {
        format!("{} / {}", group_digits(matching), self.vms(total))
    }

    /// Where this page is in the list: "6–10 of 40".
    pub fn page_range(&self, first: u64, last: u64, of: u64) -> String {
        let (first, last, of) = (group_digits(first), group_digits(last), group_digits(of));
        match self.lang {
            Lang::En => format!("{first}–{last} of {of}"),
            Lang::ZhCn => format!("第 {first}–{last} 台，共 {of} 台"),
        }
    }

    /// The range of an empty page.
    pub fn page_range_empty(&self, of: u64) -> String {
        let of = group_digits(of);
        match self.lang {
            Lang::En => format!("0 of {of}"),
            Lang::ZhCn => format!("0 台，共 {of} 台"),
        }
    }

    /// The countdown of a graceful stop: "forced in 12 s".
    pub fn forced_in(&self, seconds: i64) -> String {
        match self.lang {
            Lang::En => format!("forced in {seconds} s"),
            Lang::ZhCn => format!("{seconds} 秒后强制断电"),
        }
    }

    /// How many rows are ticked for a bulk action.
    pub fn selected(&self, n: u64) -> String {
        match self.lang {
            Lang::En => format!("{} selected", group_digits(n)),
            Lang::ZhCn => format!("已选择 {} 台", group_digits(n)),
        }
    }

    /// "All matching the filter (40)".
    pub fn all_matching(&self, n: u64) -> String {
        match self.lang {
            Lang::En => format!("all matching the filter ({})", group_digits(n)),
            Lang::ZhCn => format!("所有匹配筛选条件的虚拟机（{} 台）", group_digits(n)),
        }
    }

    /// The bulk confirmation's title: "Stop 3 VMs?".
    pub fn bulk_question(&self, action: Action, n: u64) -> String {
        format!("{} {}{}", self.action(action), self.vms(n), self.question)
    }

    /// Why one VM does not offer an action.
    pub fn hold(&self, hold: &Hold) -> String {
        match hold {
            Hold::Rule(refusal) => self.refusal(refusal),
            Hold::Role => self.reason_role.to_owned(),
        }
    }

    /// Each reason with its count: "the VM is already running (2); your Kubernetes role ... (1)".
    fn holds_list(&self, holds: &BulkHolds) -> String {
        let separator = match self.lang {
            Lang::En => "; ",
            Lang::ZhCn => "；",
        };
        holds
            .held
            .iter()
            .map(|(hold, n)| match self.lang {
                Lang::En => format!("{} ({})", self.hold(hold), group_digits(u64::from(*n))),
                Lang::ZhCn => format!("{}（{} 台）", self.hold(hold), group_digits(u64::from(*n))),
            })
            .collect::<Vec<_>>()
            .join(separator)
    }

    /// A bulk button none of the selected VMs can take: "None of the 3 selected VMs can start: …".
    pub fn bulk_none_can(&self, action: Action, holds: &BulkHolds) -> String {
        let total = group_digits(u64::from(holds.total));
        let list = self.holds_list(holds);
        match self.lang {
            Lang::En => format!(
                "None of the {total} selected VMs can {}: {list}",
                self.action(action).to_lowercase()
            ),
            Lang::ZhCn => format!(
                "所选的 {total} 台虚拟机都无法{}：{list}",
                self.action(action)
            ),
        }
    }

    /// Some of a bulk action's VMs cannot take it: "2 of the 5 VMs cannot start and will be
    /// refused: …".
    pub fn bulk_some_held(&self, action: Action, holds: &BulkHolds) -> String {
        let total = group_digits(u64::from(holds.total));
        let held = group_digits(u64::from(holds.held_count()));
        let list = self.holds_list(holds);
        match self.lang {
            Lang::En => format!(
                "{held} of the {total} VMs cannot {} and will be refused: {list}",
                self.action(action).to_lowercase()
            ),
            Lang::ZhCn => format!(
                "{total} 台中有 {held} 台无法{}，将被拒绝：{list}",
                self.action(action)
            ),
        }
    }

    /// The title while a bulk action is sent: "Stop 3 VMs".
    pub fn bulk_sending(&self, action: Action, n: u64) -> String {
        format!("{} {}", self.action(action), self.vms(n))
    }

    /// "2 accepted · 1 refused".
    pub fn bulk_summary(&self, accepted: u64, refused: u64) -> String {
        let (a, r) = (group_digits(accepted), group_digits(refused));
        match self.lang {
            Lang::En => format!("{a} accepted · {r} refused"),
            Lang::ZhCn => format!("已接受 {a} 台 · 已拒绝 {r} 台"),
        }
    }

    /// A failed request on screen: "Stop team-a/vm-1: <why>".
    pub fn action_failed(&self, action: Action, key: &VmKey, why: &str) -> String {
        let colon = match self.lang {
            Lang::En => ": ",
            Lang::ZhCn => "：",
        };
        format!("{} {key}{colon}{why}", self.action(action))
    }
}

/// The language of the page being rendered: on the server, the request's (its `wukong-lang`
/// cookie, else `Accept-Language`, else English); in the browser, the one the server wrote in
/// `<html lang>`. Both sides read the same answer, so hydration agrees.
pub fn page_lang() -> Lang {
    if let Some(lang) = use_context::<Lang>() {
        return lang;
    }
    detect()
}

#[cfg(feature = "ssr")]
fn detect() -> Lang {
    let cookies = crate::request::cookies();
    let accept = crate::request::header_text(http::header::ACCEPT_LANGUAGE, ", ");
    Lang::negotiate(cookies.as_deref(), accept.as_deref())
}

#[cfg(feature = "hydrate")]
fn detect() -> Lang {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.get_attribute("lang"))
        .and_then(|tag| Lang::from_tag(&tag))
        .unwrap_or_default()
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn detect() -> Lang {
    Lang::default()
}

/// The texts of the page's language.
pub fn texts() -> &'static Texts {
    texts_for(page_lang())
}

pub fn texts_for(lang: Lang) -> &'static Texts {
    match lang {
        Lang::En => &EN,
        Lang::ZhCn => &ZH_CN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The texts a language table may share with English: product and technical names.
    const SAME_IN_BOTH: [&str; 2] = ["vcpu", "not_known"];

    fn table(t: &Texts) -> BTreeMap<String, String> {
        let value = serde_json::to_value(t).expect("the table serializes");
        let serde_json::Value::Object(fields) = value else {
            panic!("a table is an object")
        };
        fields
            .into_iter()
            .filter(|(k, _)| k != "lang")
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    #[test]
    fn every_text_is_translated() {
        let (en, zh) = (table(&EN), table(&ZH_CN));
        for (key, english) in &en {
            let chinese = &zh[key];
            assert!(!chinese.is_empty(), "{key} is empty in zh-CN");
            if !SAME_IN_BOTH.contains(&key.as_str()) {
                assert_ne!(english, chinese, "{key} is not translated");
            }
        }
        for state in VmState::ALL {
            assert_ne!(EN.state(state), ZH_CN.state(state));
        }
        for action in Action::ALL {
            assert_ne!(EN.action(action), ZH_CN.action(action));
        }
    }

    #[test]
    fn counts_read_right_in_both_languages() {
        assert_eq!(EN.vms(1), "1 VM");
        assert_eq!(EN.vms(0), "0 VMs");
        assert_eq!(EN.vms(10_000), "10,000 VMs");
        assert_eq!(ZH_CN.vms(1), "1 台虚拟机");
        assert_eq!(EN.bulk_question(Action::Stop, 1), "Stop 1 VM?");
        assert_eq!(ZH_CN.bulk_question(Action::Stop, 3), "停止 3 台虚拟机？");
        assert_eq!(EN.page_range(6, 10, 1200), "6–10 of 1,200");
        assert_eq!(ZH_CN.forced_in(12), "12 秒后强制断电");
        assert_eq!(EN.ago(Ago::Minutes(1)), "1 minute ago");
        assert_eq!(EN.ago(Ago::Hours(3)), "3 hours ago");
        assert_eq!(ZH_CN.ago(Ago::Days(2)), "2 天前");
    }

    #[test]
    fn what_the_server_says_is_worded_in_chinese_with_its_parameters() {
        let vm = VmKey::new("team-a", "web-01");
        let refused = Said::Refused {
            action: Action::Stop,
            vm: vm.clone(),
            reason: Refusal::NotRunning(VmState::Stopped),
        };
        let said = |t: &Texts, s: &Said| t.said(s, &s.to_string());
        assert_eq!(
            said(&ZH_CN, &refused),
            "无法停止 team-a/web-01：虚拟机没有在运行（当前状态：已停止）"
        );
        assert_eq!(said(&EN, &refused), refused.to_string());
        let wait = Said::TooManyActions {
            per_minute: 1000,
            retry_after_seconds: 42,
        };
        assert_eq!(
            said(&ZH_CN, &wait),
            "你在过去一分钟内请求的操作超过了 1,000 次；42 秒后可以再次操作"
        );
        // The cluster's own words stay as they came.
        let other = Said::ClusterRejected {
            detail: "spec.x: Invalid value".into(),
        };
        assert!(said(&ZH_CN, &other).ends_with("spec.x: Invalid value"));
        let idle = Said::SignedOut {
            why: SignedOutWhy::Idle,
        };
        assert_eq!(said(&ZH_CN, &idle), ZH_CN.login_idle);
    }

    #[test]
    fn every_controller_message_is_worded_in_chinese() {
        // One of each code, from parameters enough for all of them (extra ones are ignored).
        let params: BTreeMap<String, String> = [
            ("action", "stop"),
            ("force", "false"),
            ("grace", "1000"),
            ("refusal", "AlreadyRunning"),
            ("code", "409"),
            ("detail", "KUBEVIRT-SAYS"),
            ("state", "Running"),
            ("namespace", "NS"),
            ("name", "NAME"),
            ("from", "Running"),
            ("to", "Stopped"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let technical = [
            "ACPI",
            "KubeVirt",
            "RBAC",
            "VirtualMachine",
            "Wukong",
            "VMI",
            "virtctl",
        ];
        for code in Says::CODES {
            let says = Says::from_parts(code, &params).unwrap_or_else(|| panic!("{code}"));
            let english = says.to_string();
            assert_eq!(EN.says(&says, &english), english);
            let chinese = ZH_CN.says(&says, &english);
            let (shown, ours) = ZH_CN.controller_words(Some(&says), &english);
            assert_eq!(shown, chinese);
            assert_eq!(
                ours,
                !chinese.contains("KUBEVIRT-SAYS"),
                "{code}: {chinese}"
            );
            let words = chinese
                .replace("KUBEVIRT-SAYS", "")
                .replace("NS", "")
                .replace("NAME", "");
            for word in words
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| !w.is_empty())
            {
                assert!(
                    technical.contains(&word),
                    "{code}: English {word:?} in {chinese}"
                );
            }
        }
        let stop = Says::Accepted {
            action: Action::Stop,
            force: false,
            grace: 1000,
        };
        assert_eq!(
            ZH_CN.says(&stop, &stop.to_string()),
            "已发送 ACPI 关机信号；1,000 秒后仍在运行则强制断电"
        );
        // Without a code (a status written before them): the English, marked as not ours.
        assert_eq!(ZH_CN.controller_words(None, "up"), ("up".to_owned(), false));
    }

    /// `end2end/strings.json` is what the Playwright tests check pages against (no English left
    /// on a Chinese page). It is this table; `WUKONG_BLESS=1 cargo test -p app` rewrites it.
    #[test]
    fn the_string_table_for_the_browser_tests_is_current() {
        let mut out = BTreeMap::new();
        for lang in Lang::ALL {
            let t = texts_for(lang);
            let mut strings = table(t);
            for state in VmState::ALL {
                strings.insert(
                    format!("state.{}", state.as_str()),
                    t.state(state).to_owned(),
                );
            }
            for action in Action::ALL {
                strings.insert(
                    format!("action.{}", action.as_str()),
                    t.action(action).to_owned(),
                );
            }
            out.insert(lang.tag(), strings);
        }
        let json = serde_json::to_string_pretty(&out).expect("json") + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/strings.json");
        if std::env::var_os("WUKONG_BLESS").is_some() {
            std::fs::write(path, &json).expect("write end2end/strings.json");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == json,
            "end2end/strings.json is out of date: run WUKONG_BLESS=1 cargo test -p app"
        );
    }
}
