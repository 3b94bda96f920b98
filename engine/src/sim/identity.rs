//! Web's side of identity, as labd's web role does it: logins, sessions, API keys, requests and
//! data reads by an identity, and the trainee's revocation of every credential of one.

use rand::Rng;

use super::{ApiKey, Door, SimLab};
use crate::action::Cause;
use crate::format::topology::Role;
use crate::observation::{CredentialChange, LogEvent, Millis};

impl SimLab {
    /// Why a credential was rejected: revoked by the trainee, or never valid.
    pub(super) fn auth_cause(&self, identity: &str) -> Cause {
        if self.revoked.contains(identity) {
            Cause::Revoked {
                identity: identity.into(),
            }
        } else {
            Cause::Refused
        }
    }

    /// Authenticate: an existing session, a login with the password, or an API key.
    fn authenticate(
        &mut self,
        t: Millis,
        (hostile, door): (bool, Door),
        identity: &str,
        source: &str,
        trace: u64,
    ) -> Result<String, String> {
        let web = self.services[door.web].id.clone();
        let key = (hostile, identity.to_string(), door.web);
        if self.sessions.contains(&key) && !self.revoked.contains(identity) {
            return Ok("session".into());
        }
        if !self.revoked.contains(identity) && self.topology.identity(identity).is_some() {
            self.sessions.insert(key);
            self.observe(
                t,
                LogEvent::Login {
                    service: web,
                    identity: identity.into(),
                    source: source.into(),
                    ok: true,
                    trace: Some(trace),
                },
            );
            return Ok("password".into());
        }
        self.observe(
            t,
            LogEvent::Login {
                service: web,
                identity: identity.into(),
                source: source.into(),
                ok: false,
                trace: Some(trace),
            },
        );
        if let Some(k) = self.keys.iter().find(|k| {
            k.identity == identity && k.hostile == hostile && k.web == door.web && !k.revoked
        }) {
            return Ok(k.id.clone());
        }
        Err("401 credential rejected".into())
    }

    pub(super) fn login(
        &mut self,
        t: Millis,
        effect: u64,
        (hostile, door): (bool, Door),
        identity: &str,
        source: &str,
    ) {
        if let Err((d, cause)) = self.reach_web((hostile, door), source, (t, effect, "/login")) {
            return self.failed(t, effect, d, cause);
        }
        let ok = !self.revoked.contains(identity);
        if ok {
            self.sessions
                .insert((hostile, identity.to_owned(), door.web));
        }
        self.observe(
            t,
            LogEvent::Login {
                service: self.services[door.web].id.clone(),
                identity: identity.to_owned(),
                source: source.to_owned(),
                ok,
                trace: Some(effect),
            },
        );
        if ok {
            self.outcome(t, effect, true, 0, "logged in");
        } else {
            let cause = self.auth_cause(identity);
            self.failed(t, effect, "401 credential rejected", cause);
        }
    }

    /// A request to a web tier's API, anonymous or as `identity`; `/admin` needs an admin.
    pub(super) fn request(
        &mut self,
        t: Millis,
        effect: u64,
        (hostile, door): (bool, Door),
        (identity, source, endpoint): (Option<&str>, &str, &str),
    ) {
        if let Err((d, cause)) = self.reach_web((hostile, door), source, (t, effect, endpoint)) {
            return self.failed(t, effect, d, cause);
        }
        let (status, cause) = match identity {
            // As labd's web role answers: public pages, and a refusal for everything else.
            None => {
                let management = self.management_at(door.web);
                let status = super::movement::anonymous_status(endpoint, management.as_deref());
                (status, (status >= 400).then_some(Cause::Refused))
            }
            Some(id) => match self.authenticate(t, (hostile, door), id, source, effect) {
                Err(_) => (401, Some(self.auth_cause(id))),
                Ok(_) => {
                    let admin = self.topology.identity(id).is_some_and(|i| i.admin);
                    if endpoint.starts_with("/admin") && !admin {
                        (403, Some(Cause::Refused))
                    } else {
                        (200, None)
                    }
                }
            },
        };
        self.observe(
            t,
            LogEvent::Request {
                service: self.services[door.web].id.clone(),
                identity: identity.map(str::to_owned),
                source: source.to_owned(),
                endpoint: endpoint.to_owned(),
                status,
                trace: Some(effect),
            },
        );
        match cause {
            Some(cause) => self.failed(t, effect, format!("{status}"), cause),
            None => self.outcome(t, effect, true, 0, format!("{status}")),
        }
    }

    /// `records` of `dataset` read through a web tier as `identity`: needs the credential and
    /// the datastore behind that tier; the bytes show on both tiers.
    pub(super) fn read_data(
        &mut self,
        t: Millis,
        effect: u64,
        (hostile, door): (bool, Door),
        source: &str,
        (identity, dataset, records): (&str, &str, u32),
    ) {
        if let Err((d, cause)) = self.reach_web(
            (hostile, door),
            source,
            (t, effect, &format!("/data/{dataset}")),
        ) {
            return self.failed(t, effect, d, cause);
        }
        let w = door.web;
        let web = self.services[w].id.clone();
        let auth = self.authenticate(t, (hostile, door), identity, source, effect);
        // The validator puts every dataset a tier reads in the store behind it.
        let Some(ds) = self.store_behind(w) else {
            return self.failed(t, effect, "no datastore behind web", Cause::Lab);
        };
        let store = &self.services[ds];
        let store_down = if store.reachable() {
            // Up but unable to work (its fix took what it needs): refused, as if down.
            store.refusal().or_else(|| self.link_cut(w, ds))
        } else {
            Some(store.down_cause())
        };
        let ok = auth.is_ok() && store_down.is_none();
        let got = if ok { records } else { 0 };
        if auth.is_ok() {
            self.observe(
                t,
                LogEvent::DataAccess {
                    service: web.clone(),
                    identity: identity.to_owned(),
                    source: source.to_owned(),
                    dataset: dataset.to_owned(),
                    records: got,
                    ok,
                    trace: Some(effect),
                },
            );
            self.services[ds].tx_bytes += got as f32 * 100.0;
            self.services[w].tx_bytes += got as f32 * 100.0;
        }
        let status = if auth.is_err() {
            401
        } else if ok {
            200
        } else {
            502
        };
        self.observe(
            t,
            LogEvent::Request {
                service: web,
                identity: Some(identity.to_owned()),
                source: source.to_owned(),
                endpoint: format!("/data/{dataset}"),
                status,
                trace: Some(effect),
            },
        );
        if ok {
            self.outcome(t, effect, true, got, format!("{status}"));
        } else if auth.is_err() {
            let cause = self.auth_cause(identity);
            self.failed(t, effect, format!("{status}"), cause);
        } else {
            let cause = store_down.unwrap_or(Cause::Lab);
            self.failed(t, effect, format!("{status}"), cause);
        }
    }

    /// An API key created by `identity` for itself (persistence, when the attacker does it).
    pub(super) fn create_key(
        &mut self,
        t: Millis,
        effect: u64,
        (hostile, door): (bool, Door),
        identity: &str,
        source: &str,
    ) {
        if let Err((d, cause)) = self.reach_web((hostile, door), source, (t, effect, "/keys")) {
            return self.failed(t, effect, d, cause);
        }
        let web = self.services[door.web].id.clone();
        let request = |status| LogEvent::Request {
            service: web.clone(),
            identity: Some(identity.to_owned()),
            source: source.to_owned(),
            endpoint: "/keys".into(),
            status,
            trace: Some(effect),
        };
        if let Err(d) = self.authenticate(t, (hostile, door), identity, source, effect) {
            self.observe(t, request(401));
            let cause = self.auth_cause(identity);
            return self.failed(t, effect, d, cause);
        }
        let id = format!("key-{:04x}", self.rng.random::<u16>());
        self.keys.push(ApiKey {
            id: id.clone(),
            identity: identity.to_owned(),
            hostile,
            revoked: false,
            web: door.web,
        });
        self.observe(t, request(200));
        self.observe(
            t,
            LogEvent::Credential {
                service: web,
                identity: identity.to_owned(),
                by: identity.to_owned(),
                credential: id.clone(),
                change: CredentialChange::Created,
                source: source.to_owned(),
                trace: Some(effect),
            },
        );
        self.outcome(t, effect, true, 0, format!("created {id}"));
    }

    /// Rotate the password of `identity` at the web tier `web` (a fix of its default
    /// password), as labd's web role does: its sessions there end, and the change is logged.
    pub(super) fn rotate(&mut self, t: Millis, web: usize, identity: &str) -> String {
        let before = self.sessions.len();
        self.sessions
            .retain(|(_, i, w)| !(i == identity && *w == web));
        let ended = before - self.sessions.len();
        let service = self.services[web].id.clone();
        self.observe(
            t,
            LogEvent::Credential {
                service: service.clone(),
                identity: identity.to_owned(),
                by: "admin".into(),
                credential: "password".into(),
                change: CredentialChange::Rotated,
                source: "console".into(),
                trace: None,
            },
        );
        format!(
            "rotated the password of {identity} at {service} and ended {ended} session(s); a fresh audit no longer finds it"
        )
    }

    /// Revoke every credential of `identity` at every web tier (the admin revokes company
    /// accounts everywhere): its password (and so its sessions) and its keys.
    pub(super) fn revoke(&mut self, t: Millis, identity: &str) -> Result<String, String> {
        if self.topology.identity(identity).is_none() {
            return Err(format!("no identity {identity}"));
        }
        self.revoked.insert(identity.to_owned());
        self.sessions.retain(|(_, i, _)| i != identity);
        let tiers: Vec<usize> = (0..self.services.len())
            .filter(|&i| self.services[i].role == Role::Web)
            .collect();
        let mut n = 0;
        for w in tiers {
            let web = self.services[w].id.clone();
            let keys: Vec<String> = self
                .keys
                .iter_mut()
                .filter(|k| k.identity == identity && k.web == w && !k.revoked)
                .map(|k| {
                    k.revoked = true;
                    k.id.clone()
                })
                .collect();
            for credential in std::iter::once("password".to_string()).chain(keys) {
                n += 1;
                self.observe(
                    t,
                    LogEvent::Credential {
                        service: web.clone(),
                        identity: identity.to_owned(),
                        by: "admin".into(),
                        credential,
                        change: CredentialChange::Revoked,
                        source: "console".into(),
                        trace: None,
                    },
                );
            }
        }
        Ok(format!("revoked {n} credential(s) of {identity}"))
    }
}
