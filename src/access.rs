//! Who may use an account on this host now. The sshd gate (`roster
//! principals`), PAM account and PAM session all decide here, from one
//! compiled snapshot generation, so they can never disagree.

use ssh_key::{Certificate, PublicKey};
use std::fmt;
use std::net::IpAddr;

use crate::cert::{self, CertError, Revocations, Rules, VerifiedCert};
use crate::compiled::{FormatError, HostPolicy, UserEntry, View};
use crate::snapshot::{Kind, Role, State};
use crate::time::{UnixTime, format_duration, format_rfc3339};

/// Why someone may not use an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The snapshot file is damaged.
    Corrupt(FormatError),
    /// No successful sync within `max_age`.
    Stale {
        confirmed_at: Option<UnixTime>,
        max_age_secs: u64,
    },
    /// The snapshot's own `valid_until` has passed.
    Expired {
        valid_until: UnixTime,
    },
    /// The account is not a snapshot user.
    UnknownAccount,
    Disabled,
    NoRole,
    Certificate(CertError),
    /// The certificate does not name the account (persons, service accounts).
    NotAPrincipal,
    /// No principal of the certificate is a person granted this shared account.
    NotGranted,
    /// A service account's certificate must carry `source-address`.
    ServiceWithoutSourceAddress,
    /// sudo needs the admin role now.
    NotAdmin,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt(e) => write!(f, "snapshot is corrupt: {e}"),
            Self::Stale {
                confirmed_at: Some(t),
                max_age_secs,
            } => write!(
                f,
                "snapshot is stale: last confirmed {}, max_age is {}",
                format_rfc3339(*t),
                format_duration(*max_age_secs)
            ),
            Self::Stale {
                confirmed_at: None, ..
            } => f.write_str("snapshot is stale: never confirmed by a sync"),
            Self::Expired { valid_until } => {
                write!(f, "snapshot expired at {}", format_rfc3339(*valid_until))
            }
            Self::UnknownAccount => f.write_str("not a user of the snapshot"),
            Self::Disabled => f.write_str("account is disabled"),
            Self::NoRole => f.write_str("account has no role on this host"),
            Self::Certificate(e) => write!(f, "certificate refused: {e}"),
            Self::NotAPrincipal => f.write_str("certificate does not name this account"),
            Self::NotGranted => {
                f.write_str("no principal of the certificate is granted this shared account")
            }
            Self::ServiceWithoutSourceAddress => {
                f.write_str("service account certificate has no source-address")
            }
            Self::NotAdmin => {
                f.write_str("no sudo: neither the admin role nor a sudo rule applies")
            }
        }
    }
}

impl std::error::Error for Denial {}

impl From<FormatError> for Denial {
    fn from(e: FormatError) -> Denial {
        Denial::Corrupt(e)
    }
}

/// Who got in: the account, and the accountable person behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub account: String,
    /// The person (for a shared account, the one whose certificate it was;
    /// otherwise the account itself).
    pub person: String,
    pub kind: Kind,
    pub role: Role,
    pub uid: u32,
    pub cert: VerifiedCert,
}

impl Revocations for View<'_> {
    fn revoked(&self, serial: u64, key_id: &str, key_fingerprint: &str) -> bool {
        // A damaged revocation list revokes everything: fail closed.
        self.is_revoked(serial, key_id, key_fingerprint)
            .unwrap_or(true)
    }
}

/// The account-level checks, without a certificate (PAM's account phase has
/// none): the snapshot is fresh and the user active with a role.
/// `Ok(None)`: not a snapshot user at all (local accounts are not ours).
pub fn check_account<'a>(
    view: &View<'a>,
    account: &str,
    confirmed_at: Option<UnixTime>,
    now: UnixTime,
) -> Result<Option<UserEntry<'a>>, Denial> {
    let Some(user) = view.user_by_name(account.as_bytes())? else {
        return Ok(None);
    };
    check_fresh(view, &view.host_policy()?, confirmed_at, now)?;
    check_user(&user)?;
    Ok(Some(user))
}

/// sudo's account phase: the account checks and the admin role (or a sudo
/// rule that applies to the user), held now.
/// A process keeps its kernel groups after a role is removed, so the admin
/// group seen by sudo is not enough: the live snapshot decides.
pub fn check_sudo<'a>(
    view: &View<'a>,
    account: &str,
    confirmed_at: Option<UnixTime>,
    now: UnixTime,
) -> Result<Option<UserEntry<'a>>, Denial> {
    let user = check_account(view, account, confirmed_at, now)?;
    match user {
        // A sudo rule lets a user run its commands; sudo's policy limits which.
        Some(u) if u.role != Role::Admin && !u.sudo_rules => Err(Denial::NotAdmin),
        other => Ok(other),
    }
}

fn check_fresh(
    view: &View<'_>,
    host: &HostPolicy,
    confirmed_at: Option<UnixTime>,
    now: UnixTime,
) -> Result<(), Denial> {
    let max_age_secs = host.max_age_secs;
    let fresh = confirmed_at
        .is_some_and(|t| now.saturating_sub(t) <= i64::try_from(max_age_secs).unwrap_or(i64::MAX));
    if !fresh {
        return Err(Denial::Stale {
            confirmed_at,
            max_age_secs,
        });
    }
    let valid_until = view.header().valid_until;
    if now >= valid_until {
        return Err(Denial::Expired { valid_until });
    }
    Ok(())
}

fn check_user(user: &UserEntry<'_>) -> Result<(), Denial> {
    if user.state != State::Active {
        return Err(Denial::Disabled);
    }
    if user.role == Role::None {
        return Err(Denial::NoRole);
    }
    Ok(())
}

/// The full decision for a login with a certificate: account checks, every
/// certificate rule, and who the certificate may act as.
pub fn authorize(
    view: &View<'_>,
    certificate: &Certificate,
    account: &str,
    client: Option<IpAddr>,
    confirmed_at: Option<UnixTime>,
    now: UnixTime,
) -> Result<Access, Denial> {
    let user = check_account(view, account, confirmed_at, now)?.ok_or(Denial::UnknownAccount)?;
    let host = view.host_policy()?;
    let cas = trusted_cas(view)?;
    let rules = Rules {
        cas: &cas,
        host: &host,
        revoked: view,
        now,
        client,
    };
    let cert = cert::verify(certificate, &rules).map_err(Denial::Certificate)?;
    let named = |name: &str| cert.principals.iter().any(|p| p == name);
    let person = match user.kind {
        Kind::Person | Kind::Service if !named(account) => return Err(Denial::NotAPrincipal),
        Kind::Service if cert.source_address.is_none() => {
            return Err(Denial::ServiceWithoutSourceAddress);
        }
        Kind::Person | Kind::Service => account.to_owned(),
        Kind::Shared => granted_person(view, account, &cert)?,
    };
    Ok(Access {
        account: account.to_owned(),
        person,
        kind: user.kind,
        role: user.role,
        uid: user.uid,
        cert,
    })
}

/// The snapshot's user CAs as keys. The lines were validated when the
/// snapshot was compiled, so none is expected to fail parsing.
fn trusted_cas(view: &View<'_>) -> Result<Vec<PublicKey>, FormatError> {
    let lines = view.user_cas()?;
    Ok(lines
        .iter()
        .filter_map(|l| PublicKey::from_openssh(l).ok())
        .collect())
}

/// One line of `roster explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub step: String,
    pub ok: bool,
    pub detail: String,
}

/// Why `account` may or may not log in now (with `cert`, if given) and
/// whether they would get sudo, step by step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub steps: Vec<Step>,
    pub allowed: bool,
    pub sudo: bool,
}

/// Every check of [`check_account`], [`authorize`] and [`check_sudo`], each
/// reported, in the order they apply.
pub fn explain(
    view: &View<'_>,
    account: &str,
    certificate: Option<&Certificate>,
    client: Option<IpAddr>,
    confirmed_at: Option<UnixTime>,
    now: UnixTime,
) -> Explanation {
    let mut steps = Vec::new();
    let mut add = |step: &str, result: Result<String, String>| {
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| e);
        steps.push(Step {
            step: step.to_owned(),
            ok,
            detail,
        });
        ok
    };
    let host = match view.host_policy() {
        Ok(h) => h,
        Err(e) => {
            add("snapshot", Err(Denial::Corrupt(e).to_string()));
            return Explanation {
                steps,
                allowed: false,
                sudo: false,
            };
        }
    };
    let fresh = add(
        "snapshot",
        check_fresh(view, &host, confirmed_at, now)
            .map_err(|d| d.to_string())
            .map(|()| {
                let ago = confirmed_at.map_or(0, |t| now.saturating_sub(t).max(0) as u64);
                format!(
                    "serial {}, last sync {} ago (max_age {}), valid until {}",
                    view.header().serial,
                    format_duration(ago),
                    format_duration(host.max_age_secs),
                    format_rfc3339(view.header().valid_until)
                )
            }),
    );
    let user = match view.user_by_name(account.as_bytes()) {
        Ok(Some(u)) => u,
        Ok(None) => {
            add(
                "account",
                Err(format!(
                    "{account} is not in the snapshot (a local account, or unknown)"
                )),
            );
            return Explanation {
                steps,
                allowed: false,
                sudo: false,
            };
        }
        Err(e) => {
            add("account", Err(Denial::Corrupt(e).to_string()));
            return Explanation {
                steps,
                allowed: false,
                sudo: false,
            };
        }
    };
    let kind = match user.kind {
        Kind::Person => "person",
        Kind::Shared => "shared account",
        Kind::Service => "service account",
    };
    add(
        "account",
        Ok(format!("{account}: {kind}, uid {}", user.uid)),
    );
    let active = add(
        "state",
        match user.state {
            State::Active => Ok("active".into()),
            State::Disabled => Err(Denial::Disabled.to_string()),
        },
    );
    let role = add(
        "role",
        match user.role {
            Role::Admin => Ok("admin".into()),
            Role::User => Ok("user".into()),
            Role::None => Err(Denial::NoRole.to_string()),
        },
    );
    let mut allowed = fresh && active && role;
    if let Some(cert) = certificate {
        let cas = trusted_cas(view).unwrap_or_default();
        let rules = Rules {
            cas: &cas,
            host: &host,
            revoked: view,
            now,
            client,
        };
        for s in cert::steps(cert, &rules) {
            let ok = add(
                &format!("certificate {}", s.rule),
                s.outcome.map_err(|e| e.to_string()),
            );
            allowed &= ok;
        }
        if allowed {
            let who = authorize(view, cert, account, client, confirmed_at, now);
            allowed = add(
                "logs in as",
                who.map(|a| match a.kind {
                    Kind::Shared => format!("{account}, on behalf of {}", a.person),
                    _ => account.to_owned(),
                })
                .map_err(|d| d.to_string()),
            );
        }
    }
    let sudo = allowed && (user.role == Role::Admin || user.sudo_rules);
    add(
        "sudo",
        if user.role == Role::Admin {
            Ok("admin role: sudo allowed, re-checked on every sudo".into())
        } else if user.sudo_rules {
            Ok("sudo rules of the snapshot apply: only their commands".into())
        } else {
            Err(Denial::NotAdmin.to_string())
        },
    );
    for rule in crate::sudoers::explain_rules(view, &user) {
        add("sudo rule", rule);
    }
    Explanation {
        steps,
        allowed,
        sudo,
    }
}

/// The first principal of `cert`, in certificate order, that is a person
/// granted `account` and may log in now.
fn granted_person(view: &View<'_>, account: &str, cert: &VerifiedCert) -> Result<String, Denial> {
    let granted = view.grant(account)?.unwrap_or_default();
    for principal in cert
        .principals
        .iter()
        .filter(|p| granted.contains(&p.as_str()))
    {
        if let Some(person) = view.user_by_name(principal.as_bytes())?
            && person.kind == Kind::Person
            && check_user(&person).is_ok()
        {
            return Ok(principal.clone());
        }
    }
    Err(Denial::NotGranted)
}

#[cfg(test)]
mod tests;
