//! Whether a lifecycle controller is there to carry out requests, read from its Lease: the
//! console's "waiting for the controller". One watch on one object (by name), re-judged every
//! second, because a holder that stops renewing sends no event: its Lease just runs out.

use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use std::time::Duration;
use tracing::warn;
use wukong_view::ControllerPresence;

/// Where the controller's Lease is (`--controller-lease NAMESPACE/NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRef {
    pub namespace: String,
    pub name: String,
}

impl LeaseRef {
    /// `NAMESPACE/NAME`, both DNS-1123 (a Lease's name may be a subdomain).
    pub fn parse(text: &str) -> Result<LeaseRef, String> {
        let (namespace, name) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?}: expected NAMESPACE/NAME"))?;
        wukong_view::validate_dns1123_label("the Lease's namespace", namespace)?;
        wukong_view::validate_dns1123_subdomain("the Lease's name", name)?;
        Ok(LeaseRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl Default for LeaseRef {
    fn default() -> Self {
        LeaseRef {
            namespace: wukong_api::lease::CONTROLLER_NAMESPACE.to_owned(),
            name: wukong_api::lease::CONTROLLER_LEASE_NAME.to_owned(),
        }
    }
}

/// How long a Lease that does not say is held: the controller's default `--lease-seconds`.
const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// How often an unchanged Lease is judged again (it may have run out).
const REJUDGE: Duration = Duration::from_secs(1);

/// What the Lease says: the current presence once the Lease (or its absence) is known, then each
/// change. `Unknown` while the console may not read it (a 403; RBAC in `deploy/base/rbac/console.yaml`).
pub fn presence(client: Client, lease: LeaseRef) -> BoxStream<'static, ControllerPresence> {
    let api: Api<Lease> = Api::namespaced(client, &lease.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", lease.name));
    let events = watcher(api, config)
        .backoff(wukong_api::watch::backoff())
        .boxed();
    let state = Watching {
        events,
        listing: None,
        lease: None,
        known: false,
        forbidden: false,
        last: None,
        tick: tokio::time::interval(REJUDGE),
        lease_ref: lease,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            tokio::select! {
                event = s.events.next() => match event? {
                    Ok(event) => s.apply(event),
                    Err(e) => s.failed(&e),
                },
                _ = s.tick.tick() => {}
            }
            let now = s.judge(Timestamp::now());
            if now.is_some() && now != s.last {
                s.last = now;
                return now.map(|p| (p, s));
            }
        }
    })
    .boxed()
}

struct Watching {
    events: BoxStream<'static, watcher::Result<watcher::Event<Lease>>>,
    /// A (re)list in progress: what it has found so far.
    listing: Option<Option<Lease>>,
    lease: Option<Lease>,
    /// A first list has completed.
    known: bool,
    forbidden: bool,
    last: Option<ControllerPresence>,
    tick: tokio::time::Interval,
    lease_ref: LeaseRef,
}

impl Watching {
    fn apply(&mut self, event: watcher::Event<Lease>) {
        self.forbidden = false;
        match event {
            watcher::Event::Init => self.listing = Some(None),
            watcher::Event::InitApply(lease) => self.listing = Some(Some(lease)),
            watcher::Event::InitDone => {
                self.lease = self.listing.take().flatten();
                self.known = true;
            }
            watcher::Event::Apply(lease) => self.lease = Some(lease),
            watcher::Event::Delete(_) => self.lease = None,
        }
    }

    fn failed(&mut self, error: &watcher::Error) {
        let forbidden = match error {
            watcher::Error::InitialListFailed(kube::Error::Api(s))
            | watcher::Error::WatchStartFailed(kube::Error::Api(s))
            | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 403,
            watcher::Error::WatchError(s) => s.code == 403,
            _ => false,
        };
        if forbidden && !self.forbidden {
            warn!(lease = ?self.lease_ref, "may not read the controller's Lease: the console cannot tell whether a controller runs (deploy/base/rbac/console.yaml grants it)");
        }
        self.forbidden = forbidden;
    }

    /// `None` until there is something to say.
    fn judge(&self, now: Timestamp) -> Option<ControllerPresence> {
        if self.forbidden {
            return Some(ControllerPresence::Unknown);
        }
        if !self.known {
            return None;
        }
        let held = self
            .lease
            .as_ref()
            .is_some_and(|l| wukong_api::lease::is_held(l, DEFAULT_LEASE, now));
        Some(if held {
            ControllerPresence::Leading
        } else {
            ControllerPresence::Absent
        })
    }
}

#[cfg(test)]
mod tests {
    use super::LeaseRef;

    #[test]
    fn a_lease_is_named_by_namespace_and_name() {
        assert_eq!(
            LeaseRef::parse("wukong-system/wukong-controller"),
            Ok(LeaseRef::default())
        );
        for bad in ["wukong-controller", "/x", "ns/", "Ns/x", "ns/x/y", "ns/a_b"] {
            assert!(LeaseRef::parse(bad).is_err(), "{bad}");
        }
    }
}
