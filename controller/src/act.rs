//! Act: every write the controller makes for one Wukong, and nothing else. What to write was
//! decided by `wukong_lifecycle::decide`; here it is carried out.
//!
//! Every write to the Wukong (finalizer, status) is a JSON patch that `test`s its uid, so a
//! decision made on one Wukong never lands on a new one of the same name (`Error::Replaced`).
//! The VM is deleted with its uid as precondition.

use crate::events::NewEvent;
use crate::observe::Observer;
use crate::reconcile::{Context, Error, FIELD_MANAGER};
use crate::vm;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn, Instrument};
use wukong_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use wukong_api::{Wukong, WukongStatus, FINALIZER};
use wukong_lifecycle::decide::Note;

/// The Wukong one reconcile is for, and the APIs to write it and its VM.
pub struct Target<'a> {
    pub ctx: &'a Context,
    pub wukongs: Api<Wukong>,
    pub vms: Api<VirtualMachine>,
    pub vmis: Api<VirtualMachineInstance>,
    pub namespace: String,
    pub name: String,
    /// The uid of the Wukong this reconcile is for: what a VM must be controlled by to be
    /// touched, and the precondition of every write to the Wukong.
    pub uid: String,
}

/// How a VM create went.
pub enum Created {
    New,
    /// 409: something already has the name (someone else's VM, or ours from a create whose answer
    /// was lost); only a fresh look at its ownerReference says which.
    NameTaken,
}

/// How a VM delete went.
pub enum VmDeleted {
    /// Deleted, or already gone.
    Gone,
    /// Another VM took the name since it was looked at (the uid precondition failed).
    Replaced,
}

impl Target<'_> {
    /// An unacknowledged request the cache may not show our last write for: read the Wukong
    /// afresh, so a stale cache never makes us act on a request twice. The fresh read must be the
    /// same Wukong (uid) whose VM we looked at.
    pub async fn fresh(&self) -> Result<Wukong, Error> {
        let fresh = match self.wukongs.get_status(&self.name).await {
            Ok(fresh) => fresh,
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(Error::Replaced),
            Err(e) => return Err(e.into()),
        };
        if fresh.uid().as_deref() != Some(self.uid.as_str()) {
            return Err(Error::Replaced);
        }
        Ok(fresh)
    }

    /// The VirtualMachine for a new Wukong: same name, controlled by the Wukong, from its spec. A
    /// create answered 409 is not taken as success: the name may be someone else's VM.
    pub async fn create_vm(&self, wukong: &Wukong) -> Result<Created, Error> {
        // Never create a VM without our controller reference: it would not be ours to touch.
        let mut owner: OwnerReference = wukong.controller_owner_ref(&()).ok_or(Error::NoUid)?;
        owner.block_owner_deletion = Some(true);
        let vm = vm::desired(wukong, owner, &self.ctx.copy_annotation_prefixes)
            .map_err(|e| Error::Kube(kube::Error::SerdeError(e)))?;
        match self.vms.create(&PostParams::default(), &vm).await {
            Ok(_) => {
                info!(
                    run_strategy = wukong.spec.run_strategy.as_str(),
                    "created the VirtualMachine"
                );
                Ok(Created::New)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Created::NameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the VM looked at (`vm_uid`) and only that one.
    pub async fn delete_vm(&self, vm_uid: Option<String>) -> Result<VmDeleted, Error> {
        let delete = DeleteParams {
            preconditions: Some(Preconditions {
                uid: vm_uid,
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match self.vms.delete(&self.name, &delete).await {
            Ok(_) => Ok(VmDeleted::Gone),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(VmDeleted::Gone),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                info!("the VirtualMachine was replaced before it could be deleted; looking again");
                Ok(VmDeleted::Replaced)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds the finalizer, only to the Wukong this reconcile is for (a JSON patch `test` of the
    /// uid: the apiserver refuses the whole patch if the name now holds another Wukong).
    pub async fn add_finalizer(&self, wukong: &Wukong) -> Result<(), Error> {
        let add = if wukong.metadata.finalizers.is_none() {
            json!({ "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] })
        } else {
            json!({ "op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER })
        };
        let patch = json_patch(json!([self.uid_test(), add]))?;
        self.ctx.written.writing(&self.uid);
        let result = self
            .wukongs
            .patch(&self.name, &params(), &Patch::<()>::Json(patch))
            .await;
        self.landed(result).await?;
        Ok(())
    }

    pub async fn remove_finalizer(&self, wukong: &Wukong) -> Result<(), Error> {
        let Some(index) = wukong.finalizers().iter().position(|f| f == FINALIZER) else {
            return Ok(());
        };
        let path = format!("/metadata/finalizers/{index}");
        let patch = json_patch(json!([
            self.uid_test(),
            { "op": "test", "path": path, "value": FINALIZER },
            { "op": "remove", "path": path },
        ]))?;
        self.ctx.written.writing(&self.uid);
        let result = self
            .wukongs
            .patch(&self.name, &params(), &Patch::<()>::Json(patch))
            .await;
        match result {
            // Gone: nothing left to release.
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            result => self.landed(result).await.map(|_| ()),
        }
    }

    /// Notes that the API server answered with `wukong` (a status write, a fresh read): once the
    /// cache shows it, a request is decided on the cache ([`crate::written::Written`]).
    pub fn knew(&self, wukong: &Wukong, observer: &Observer) {
        if let Some(version) = &wukong.metadata.resource_version {
            let acknowledged = wukong
                .lifecycle_state()
                .and_then(|s| s.observed_request_id.as_deref());
            self.ctx
                .written
                .known(&self.uid, version, acknowledged, || {
                    observer.cached_version(&self.namespace, &self.name, &self.uid)
                });
        }
    }

    fn uid_test(&self) -> serde_json::Value {
        json!({ "op": "test", "path": "/metadata/uid", "value": self.uid })
    }

    /// The answer to a write carrying the Wukong's uid as a precondition. The apiserver refuses
    /// such a write to a re-created Wukong with 422 Invalid (the same as for a failed finalizer
    /// `test`), and a write to a deleted one with 404, so a fresh read tells a stale write from a
    /// replaced Wukong: gone or another uid is `Error::Replaced`, not a retry.
    async fn landed<T>(&self, result: Result<T, kube::Error>) -> Result<T, Error> {
        match result {
            Ok(v) => Ok(v),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::Replaced),
            Err(kube::Error::Api(s)) if matches!(s.code, 409 | 422) => {
                match self.wukongs.get_opt(&self.name).await? {
                    Some(now) if now.uid().as_deref() == Some(self.uid.as_str()) => {
                        Err(Error::Kube(kube::Error::Api(s)))
                    }
                    _ => Err(Error::Replaced),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the whole status under the controller's field manager, skipped when nothing
    /// changed; only to the Wukong this reconcile is for. A JSON patch whose `test` of the uid
    /// fails is refused whole, while server-side apply to the status subresource ignores a
    /// `metadata.uid` in its body (kube-apiserver 1.37 applied it to a Wukong with another uid).
    /// Returns the Wukong as stored, or `None` when nothing was written.
    pub async fn write_status(
        &self,
        wukong: &Wukong,
        status: &WukongStatus,
    ) -> Result<Option<Wukong>, Error> {
        if wukong.status.as_ref() == Some(status) {
            return Ok(None);
        }
        let status =
            serde_json::to_value(status).map_err(|e| Error::Kube(kube::Error::SerdeError(e)))?;
        let patch = json_patch(json!([
            self.uid_test(),
            { "op": "add", "path": "/status", "value": status },
        ]))?;
        self.ctx.written.writing(&self.uid);
        let result = self
            .wukongs
            .patch_status(&self.name, &params(), &Patch::<()>::Json(patch))
            .await;
        self.landed(result).await.map(Some)
    }

    /// Records an Event on the Wukong without holding up the reconcile (the status write, which
    /// the person is waiting for, goes first). Who asked is added to the note of an Event about a
    /// request (the history reads it from status; the Event is for `kubectl describe`).
    pub fn event(&self, wukong: &Wukong, note: Note) {
        let message = wukong.event_note(&note);
        let events = self.ctx.events.clone();
        let reference = wukong.object_ref(&());
        tokio::spawn(
            async move {
                let event = NewEvent {
                    warning: note.reason.is_warning(),
                    reason: note.reason.as_str(),
                    action: note.action,
                    note: message,
                    says: note.says.as_ref(),
                };
                if let Err(e) = events.publish(event, &reference).await {
                    warn!(error = %e, "could not record an Event");
                }
            }
            .in_current_span(),
        );
    }
}

fn json_patch(ops: serde_json::Value) -> Result<json_patch::Patch, Error> {
    serde_json::from_value(ops).map_err(|e| Error::Kube(kube::Error::SerdeError(e)))
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}
