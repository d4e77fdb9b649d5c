//! Who may use an account on this host now. The sshd gate (`roster
//! principals`), PAM account and PAM session all decide here, from one
//! compiled snapshot generation, so they can never disagree.

use ssh_key::{Certificate, PublicKey};
use std::fmt;
use std::net::IpAddr;

use crate::host::cert::{self, CertError, Revocations, Rules, VerifiedCert};
use crate::host::compiled::{FormatError, HostPolicy, UserEntry, View};
use crate::host::freshness::Freshness;
use crate::snapshot::{AccountKind, AccountState, Role};
use crate::time::{UnixTime, format_duration, format_rfc3339};

/// Why someone may not use an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The snapshot file is damaged.
    Corrupt(FormatError),
    /// The snapshot was issued longer than `max_age` ago, or has expired.
    NotFresh(Freshness),
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
    /// The process carries a snapshot group (in its kernel groups, set at
    /// login) that the live snapshot no longer gives the account: sudoers
    /// would grant by a group the person has lost.
    StaleGroup {
        group: String,
    },
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt(e) => write!(f, "snapshot is corrupt: {e}"),
            Self::NotFresh(freshness) => freshness.fmt(f),
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
            Self::StaleGroup { group } => write!(
                f,
                "no sudo: this session holds group {group}, which the snapshot no longer \
                 gives: log in again"
            ),
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
    pub kind: AccountKind,
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

/// A rule about the account itself: `Ok` with the words `roster explain`
/// shows when it holds, or the [`Denial`] whose words are the event's
/// reason, the log line and `roster explain`'s, all from its one `Display`.
type AccountRule = fn(&UserEntry<'_>) -> Result<String, Denial>;

/// The account rules, in the order they apply: [`check_account`] stops at
/// the first that fails; [`explain`] shows every one.
const ACCOUNT_RULES: [(&str, AccountRule); 2] = [("state", rule_state), ("role", rule_role)];

fn rule_state(user: &UserEntry<'_>) -> Result<String, Denial> {
    match user.state {
        AccountState::Active => Ok("active".into()),
        AccountState::Disabled => Err(Denial::Disabled),
    }
}

fn rule_role(user: &UserEntry<'_>) -> Result<String, Denial> {
    match user.role {
        Role::Admin => Ok("admin".into()),
        Role::User => Ok("user".into()),
        Role::None => Err(Denial::NoRole),
    }
}

/// sudo: the admin role, or a sudo rule of the snapshot that applies.
fn rule_sudo(user: &UserEntry<'_>) -> Result<String, Denial> {
    if user.role == Role::Admin {
        Ok("admin role: sudo allowed, re-checked on every sudo".into())
    } else if user.sudo_rules {
        // A sudo rule lets a user run its commands; sudo's policy limits which.
        Ok("sudo rules of the snapshot apply: only their commands".into())
    } else {
        Err(Denial::NotAdmin)
    }
}

/// The snapshot rule: issued within `max_age` and not expired
/// ([`Freshness`], the one definition `roster status` uses too).
fn rule_fresh(view: &View<'_>, host: &HostPolicy, now: UnixTime) -> Result<String, Denial> {
    let header = view.header();
    match Freshness::of(header, host.max_age_secs, now) {
        fresh @ Freshness::Fresh { .. } => Ok(format!(
            "serial {}, {fresh}, max_age {}, valid until {}",
            header.serial,
            format_duration(host.max_age_secs),
            format_rfc3339(header.valid_until)
        )),
        not => Err(Denial::NotFresh(not)),
    }
}

fn check_user(user: &UserEntry<'_>) -> Result<(), Denial> {
    for (_, rule) in ACCOUNT_RULES {
        rule(user)?;
    }
    Ok(())
}

/// The account-level checks, without a certificate (PAM's account phase has
/// none): the snapshot is fresh and every account rule holds.
/// `Ok(None)`: not a snapshot user at all (local accounts are not ours).
pub fn check_account<'a>(
    view: &View<'a>,
    account: &str,
    now: UnixTime,
) -> Result<Option<UserEntry<'a>>, Denial> {
    let Some(user) = view.user_by_name(account.as_bytes())? else {
        return Ok(None);
    };
    rule_fresh(view, &view.host_policy()?, now)?;
    check_user(&user)?;
    Ok(Some(user))
}

/// sudo's account phase: the account checks and the sudo rule, held now.
///
/// sudoers matches `%group` rules against the groups of the calling
/// process, which were set at login and survive any change to the snapshot
/// (a demoted admin's open session still holds the admin group). So the live
/// snapshot decides here: `process_groups` (the caller's kernel groups) may
/// hold no snapshot group the account has lost, or sudo is refused outright,
/// until the person logs in again with the groups they hold now.
pub fn check_sudo<'a>(
    view: &View<'a>,
    account: &str,
    process_groups: &[u32],
    now: UnixTime,
) -> Result<Option<UserEntry<'a>>, Denial> {
    let Some(user) = check_account(view, account, now)? else {
        return Ok(None);
    };
    for &gid in process_groups {
        if gid == user.gid || user.groups.clone().any(|g| g == gid) {
            continue;
        }
        if let Some(group) = view.group_by_gid(gid)? {
            return Err(Denial::StaleGroup {
                group: String::from_utf8_lossy(group.name).into_owned(),
            });
        }
    }
    rule_sudo(&user)?;
    Ok(Some(user))
}

/// The full decision for a login with a certificate at `now`: the snapshot
/// is fresh, and [`admit`] lets the certificate in.
pub fn authorize(
    view: &View<'_>,
    certificate: &Certificate,
    account: &str,
    client: Option<IpAddr>,
    now: UnixTime,
) -> Result<Access, Denial> {
    check_account(view, account, now)?.ok_or(Denial::UnknownAccount)?;
    admit(view, certificate, account, client, now)
}

/// Whether this snapshot admits `certificate` into `account` from `client`:
/// the account checks, every certificate rule with its validity window
/// judged at `cert_time`, and who the certificate may act as.
///
/// The one decision behind a new login ([`authorize`], at the time of the
/// login) and behind every open session after a sync ([`still_admitted`], at
/// the time the session opened): a session is kept only while the snapshot
/// would admit it.
pub fn admit(
    view: &View<'_>,
    certificate: &Certificate,
    account: &str,
    client: Option<IpAddr>,
    cert_time: UnixTime,
) -> Result<Access, Denial> {
    let user = view
        .user_by_name(account.as_bytes())?
        .ok_or(Denial::UnknownAccount)?;
    check_user(&user)?;
    let host = view.host_policy()?;
    let cas = trusted_cas(view)?;
    let rules = Rules {
        cas: &cas,
        host: &host,
        revoked: view,
        now: cert_time,
        client,
    };
    let cert = cert::verify(certificate, &rules).map_err(Denial::Certificate)?;
    let named = |name: &str| cert.principals.iter().any(|p| p == name);
    let person = match user.kind {
        AccountKind::Person | AccountKind::Service if !named(account) => {
            return Err(Denial::NotAPrincipal);
        }
        AccountKind::Service if cert.source_address.is_none() => {
            return Err(Denial::ServiceWithoutSourceAddress);
        }
        AccountKind::Person | AccountKind::Service => account.to_owned(),
        AccountKind::Shared => granted_person(view, account, &cert)?,
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

/// Whether the session `record` describes would be admitted by this
/// snapshot: [`admit`] with the certificate it opened with, its account and
/// client, at the time it opened. A certificate's validity window bounds
/// when a session may start, not how long it lasts (as in OpenSSH); what
/// the snapshot says — the person, their role and grants, revocations, the
/// trusted CAs — applies to every open session at once. Freshness is not
/// asked: a host that cannot sync refuses new logins, but ending every
/// session because the network is down would hand an attacker who cuts it
/// a way to end everyone's work.
pub fn still_admitted(
    view: &View<'_>,
    record: &crate::host::sessions::Record,
) -> Result<(), Denial> {
    let certificate =
        cert::parse(&record.cert_type, &record.certificate).map_err(Denial::Certificate)?;
    let access = admit(
        view,
        &certificate,
        &record.account,
        record.client,
        record.start,
    )?;
    // The same certificate could now name another granted person of a shared
    // account; the session is still the one person's it was opened as.
    if access.person != record.person {
        return Err(Denial::NotGranted);
    }
    Ok(())
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
        rule_fresh(view, &host, now).map_err(|d| d.to_string()),
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
        AccountKind::Person => "person",
        AccountKind::Shared => "shared account",
        AccountKind::Service => "service account",
    };
    add(
        "account",
        Ok(format!("{account}: {kind}, uid {}", user.uid)),
    );
    let mut allowed = fresh;
    for (step, rule) in ACCOUNT_RULES {
        allowed &= add(step, rule(&user).map_err(|d| d.to_string()));
    }
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
            let who = authorize(view, cert, account, client, now);
            allowed = add(
                "logs in as",
                who.map(|a| match a.kind {
                    AccountKind::Shared => format!("{account}, on behalf of {}", a.person),
                    _ => account.to_owned(),
                })
                .map_err(|d| d.to_string()),
            );
        }
    }
    let sudo = add("sudo", rule_sudo(&user).map_err(|d| d.to_string())) && allowed;
    for rule in sudo_rule_lines(view, &user) {
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
            && person.kind == AccountKind::Person
            && check_user(&person).is_ok()
        {
            return Ok(principal.clone());
        }
    }
    Err(Denial::NotGranted)
}

/// For `roster explain`: each sudo rule of the snapshot that applies to
/// `user` (a member of its group), one line each, saying which are
/// root-equivalent. `Err` when the compiled file is damaged.
fn sudo_rule_lines(view: &View<'_>, user: &UserEntry<'_>) -> Vec<Result<String, String>> {
    let applying = || -> Result<Vec<String>, FormatError> {
        let mut lines = Vec::new();
        for r in view.sudo_rules()? {
            let gid = view.group_by_name(r.group.as_bytes())?.map(|g| g.gid);
            let mut gids = user.groups;
            if !gid.is_some_and(|gid| gids.any(|g| g == gid)) {
                continue;
            }
            let mut line = format!("%{} as {}: {}", r.group, r.runas, r.commands.join(", "));
            if r.root_equivalent {
                line.push_str(&format!(
                    " (root-equivalent: in effect a shell as {})",
                    r.runas
                ));
            }
            lines.push(line);
        }
        Ok(lines)
    };
    match applying() {
        Ok(lines) => lines.into_iter().map(Ok).collect(),
        Err(e) => vec![Err(format!("snapshot is corrupt: {e}"))],
    }
}

#[cfg(test)]
pub(crate) mod tests;
