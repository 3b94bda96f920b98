//! The web tier's accounts on the Docker lab: which password the driver logs in with where, and
//! the fix of factory passwords, which rotates them through the tier's admin API. Its own
//! module because both the fix and the recovery of a recreated tier (which starts from its
//! environment's factory passwords again) rotate them.

use std::collections::BTreeMap;

use bulkhead_engine::format::scenario::DEFAULT_PASSWORDS;

use super::Shared;
use crate::drive::Done;

impl Shared {
    /// Identity → the password it logs in with at the web tier `web` now: its factory one
    /// there until a fix rotated it, else the one generated for the run.
    pub(super) fn passwords_at(&self, web: &str) -> BTreeMap<String, String> {
        let mut passwords = self.lab.credentials.passwords.clone();
        if let Ok(factory) = self.factory.lock() {
            for ((tier, identity), password) in factory.iter() {
                if tier == web {
                    passwords.insert(identity.clone(), password.clone());
                }
            }
        }
        passwords
    }
}

/// `DefaultPassword`: every account the web tier reports with a factory password gets the
/// password generated for it at the lab's start (which the range's own traffic already uses
/// elsewhere), through the admin API; its sessions there end. Not under the fix lock: a
/// recreated web tier starts with its factory passwords again (its environment), and the
/// recreation rotates them again through this while it holds the lock.
pub(super) async fn rotate_factory_passwords(shared: &Shared, service: &str) -> Done {
    let web = (shared.address(service)).ok_or_else(|| format!("no address for {service}"))?;
    let credentials = &shared.lab.credentials;
    let token = &credentials.admin_token;
    let accounts = (shared.labd)
        .password_audit(web, token, &DEFAULT_PASSWORDS)
        .await?;
    let mut rotated = Vec::with_capacity(accounts.len());
    for identity in accounts {
        let password = (credentials.passwords.get(&identity))
            .ok_or_else(|| format!("no password was generated for {identity}"))?;
        let ended = shared.labd.rotate(web, token, &identity, password).await?;
        if let Ok(mut factory) = shared.factory.lock() {
            factory.remove(&(service.to_owned(), identity.clone()));
        }
        rotated.push(format!("{identity} ({ended} session(s) ended)"));
    }
    Ok(format!(
        "rotated the password of {} at {service}",
        rotated.join(", ")
    ))
}
