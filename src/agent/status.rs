//! `roster status`: what the last syncs did and whether the installed
//! snapshot is usable, with the health judged by the same
//! [`crate::host::freshness`] rule the logins use.

use std::fmt;

use super::Error;
use super::config::Config;
use super::state::History;
use super::sync::{Health, installed_serial};
use crate::paths::SNAPSHOT_FILE;
use crate::time::{UnixTime, format_duration, format_rfc3339};

/// The host's sync status at `now`.
pub struct Status<'c> {
    config: &'c Config,
    history: History,
    installed: Option<u64>,
    health: Health,
    now: UnixTime,
}

impl Status<'_> {
    pub fn of(config: &Config, now: UnixTime) -> Result<Status<'_>, Error> {
        let history = History::load(&config.state_dir).map_err(Error::History)?;
        let snapshot = config.state_dir.join(SNAPSHOT_FILE);
        Ok(Status {
            config,
            history,
            installed: installed_serial(&snapshot),
            health: Health::of(&snapshot, config.host.max_age_secs, now),
            now,
        })
    }

    /// 0 fresh, 1 stale (older than max_age), 2 no usable snapshot.
    pub fn exit_code(&self) -> u8 {
        self.health.exit_code()
    }

    /// The state file's fields, with the health, the installed serial and
    /// max_age added.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(&self.history).unwrap_or_default();
        v["health"] = self.health.word().into();
        v["installed_serial"] = self.installed.into();
        v["max_age_secs"] = self.config.host.max_age_secs.into();
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}

impl fmt::Display for Status<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, word) = (&self.history, self.health.word());
        let when = |t: Option<UnixTime>| match t {
            Some(t) => format!(
                "{} ({} ago)",
                format_rfc3339(t),
                format_duration(self.now.saturating_sub(t).max(0) as u64)
            ),
            None => "never".to_owned(),
        };
        match self.health {
            Health::Usable(freshness) => writeln!(
                f,
                "health:        {word}: {freshness} (max_age {})",
                format_duration(self.config.host.max_age_secs)
            )?,
            Health::Unusable => writeln!(f, "health:        {word}")?,
        }
        writeln!(f, "source:        {}", self.config.source.url)?;
        match self.installed {
            Some(serial) => writeln!(
                f,
                "serial:        {serial}, {} users, {} groups",
                s.users, s.groups
            )?,
            None => writeln!(f, "serial:        none installed")?,
        }
        writeln!(f, "last success:  {}", when(s.last_success))?;
        writeln!(f, "last change:   {}", when(s.last_change))?;
        writeln!(f, "last attempt:  {}", when(s.last_attempt))?;
        writeln!(
            f,
            "last error:    {}",
            s.last_error.as_deref().unwrap_or("none")
        )?;
        if let Some(e) = &s.sudoers_error {
            writeln!(f, "sudo rules:    {e}")?;
        }
        if let Some(signer) = &s.signer {
            writeln!(f, "signed by:     {signer}")?;
        }
        if let Some(t) = s.valid_until {
            writeln!(f, "valid until:   {}", format_rfc3339(t))?;
        }
        writeln!(f, "dropped:       {} entries", s.dropped.len())?;
        for line in &s.dropped {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}
