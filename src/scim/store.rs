//! The service's state in SQLite: users and groups as their SCIM JSON, the
//! columns the service looks them up by, group memberships, the id ledger
//! and the serial each project's snapshot was last published with.
//!
//! One connection, one writer: the HTTP layer holds the store behind a
//! mutex. WAL journal with `synchronous = FULL`, so a change acknowledged
//! to the identity provider has reached the disk, and a crash (kill -9,
//! power) loses no acknowledged change. Every write bumps `change`, which
//! the publisher compares with what it last published.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;
use std::fmt;
use std::path::Path;

use crate::snapshot::check_id;

/// The schema, one migration per version; applied in order on open.
const MIGRATIONS: [&str; 1] = [r#"
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        login TEXT NOT NULL UNIQUE,
        external_id TEXT,
        uid INTEGER NOT NULL UNIQUE,
        active INTEGER NOT NULL,
        gecos TEXT NOT NULL,
        created TEXT NOT NULL,
        modified TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX users_external_id ON users(external_id);
    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        external_id TEXT,
        created TEXT NOT NULL,
        modified TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX groups_display_name ON groups(display_name COLLATE NOCASE);
    CREATE INDEX groups_external_id ON groups(external_id);
    CREATE TABLE members (
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        -- the member's display as the identity provider sent it, if it did
        display TEXT,
        PRIMARY KEY (group_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX members_user ON members(user_id);
    -- Every id ever handed out, and to whom: rows are never deleted, so an
    -- id is never handed to anyone else.
    CREATE TABLE ids (
        id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL UNIQUE
    );
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE published (
        project TEXT PRIMARY KEY,
        serial INTEGER NOT NULL
    );
    INSERT INTO counters VALUES ('change', 0);
"#];

/// A failure of the database itself (not of a request): the request gets
/// a 500 and the change is not acknowledged.
#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// A user row: the columns and the SCIM body (without `id`, `meta`, `groups`).
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: String,
    pub user_name: String,
    pub login: String,
    pub external_id: Option<String>,
    pub uid: u32,
    pub active: bool,
    pub gecos: String,
    pub created: String,
    pub modified: String,
    pub body: Value,
}

/// What a snapshot needs of a user (no body to parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub login: String,
    pub uid: u32,
    pub active: bool,
    pub gecos: String,
}

/// A group row (members are in their own table).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created: String,
    pub modified: String,
    pub body: Value,
}

/// What a conflicting write collides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    UserName(String),
    Login { login: String, user_name: String },
}

/// Indexed lookups a filter can be narrowed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Id,
    UserName,
    ExternalId,
    DisplayName,
}

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Store::setup(conn)
    }

    /// A private in-memory database, for tests.
    #[cfg(test)]
    pub fn memory() -> Store {
        Store::setup(Connection::open_in_memory().unwrap()).unwrap()
    }

    fn setup(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > MIGRATIONS.len() {
            return Err(StoreError(format!(
                "schema version {version} is newer than this roster-scim knows ({}): \
                 downgrading is not supported; restore the backup taken before the upgrade",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(Store { conn })
    }

    /// Runs `f` in one transaction, committed (durably) if it returns Ok.
    /// Every write of the service goes through here.
    pub fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let mut w = Writer { tx };
        let out = f(&mut w)?;
        w.tx.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'change'",
            [],
        )
        .map_err(StoreError::from)?;
        w.tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    pub fn read(&self) -> Reader<'_> {
        Reader { conn: &self.conn }
    }

    /// Reserves the next serial of `project`'s snapshot (committed before
    /// the snapshot is written, so no serial is ever handed out twice, even
    /// across a crash). `floor` is the lowest acceptable (the time, so a
    /// restored backup still goes up).
    pub fn next_serial(&mut self, project: &str, floor: u64) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT serial FROM published WHERE project = ?",
                [project],
                |r| r.get(0),
            )
            .optional()?;
        let next = (last.unwrap_or(0) as u64 + 1).max(floor);
        tx.execute(
            "INSERT INTO published VALUES (?1, ?2) ON CONFLICT(project) DO UPDATE SET serial = ?2",
            params![project, next as i64],
        )?;
        tx.commit()?;
        Ok(next)
    }

    /// Writes a consistent copy of the database to `to` (SQLite's online
    /// backup: the service keeps running).
    pub fn backup(&self, to: &Path) -> Result<(), StoreError> {
        let mut dst = Connection::open(to)?;
        let backup = rusqlite::backup::Backup::new(&self.conn, &mut dst)?;
        backup.run_to_completion(1024, std::time::Duration::from_millis(0), None)?;
        Ok(())
    }
}

/// Reads, outside any write.
pub struct Reader<'a> {
    conn: &'a Connection,
}

/// Writes, inside [`Store::write`]'s transaction.
pub struct Writer<'a> {
    tx: Transaction<'a>,
}

/// The value, limit and offset of a [`Query::users`] or [`Query::groups`].
fn page_params(by: Option<(Index, &str)>, page: Option<(usize, usize)>) -> (String, i64, i64) {
    let (offset, limit) = page.map_or((0, -1), |(o, l)| (o as i64, l as i64));
    (
        by.map_or(String::new(), |(_, v)| v.to_owned()),
        limit,
        offset,
    )
}

const USER_COLUMNS: &str =
    "id, user_name, login, external_id, uid, active, gecos, created, modified, body";
const GROUP_COLUMNS: &str = "id, display_name, external_id, created, modified, body";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        user_name: r.get(1)?,
        login: r.get(2)?,
        external_id: r.get(3)?,
        uid: r.get(4)?,
        active: r.get(5)?,
        gecos: r.get(6)?,
        created: r.get(7)?,
        modified: r.get(8)?,
        body: json_column(r, 9)?,
    })
}

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupRow> {
    Ok(GroupRow {
        id: r.get(0)?,
        display_name: r.get(1)?,
        external_id: r.get(2)?,
        created: r.get(3)?,
        modified: r.get(4)?,
        body: json_column(r, 5)?,
    })
}

fn json_column(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Value> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Queries both a reader and a writer can make.
pub trait Query {
    fn conn(&self) -> &Connection;

    fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        Ok(self.conn().query_row(&sql, [id], user_row).optional()?)
    }

    fn group(&self, id: &str) -> Result<Option<GroupRow>, StoreError> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = ?");
        Ok(self.conn().query_row(&sql, [id], group_row).optional()?)
    }

    /// Users in creation order; `by` narrows to an indexed value, `page`
    /// to `(offset, limit)`.
    fn users(
        &self,
        by: Option<(Index, &str)>,
        page: Option<(usize, usize)>,
    ) -> Result<Vec<UserRow>, StoreError> {
        let condition = match by {
            None | Some((Index::DisplayName, _)) => "?1 = ?1",
            Some((Index::Id, _)) => "id = ?1",
            Some((Index::UserName, _)) => "user_name = ?1",
            Some((Index::ExternalId, _)) => "external_id = ?1",
        };
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {condition} ORDER BY rowid LIMIT ?2 OFFSET ?3"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(page_params(by, page), user_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Groups, as [`Query::users`].
    fn groups(
        &self,
        by: Option<(Index, &str)>,
        page: Option<(usize, usize)>,
    ) -> Result<Vec<GroupRow>, StoreError> {
        let condition = match by {
            None | Some((Index::UserName, _)) => "?1 = ?1",
            Some((Index::Id, _)) => "id = ?1",
            Some((Index::DisplayName, _)) => "display_name = ?1 COLLATE NOCASE",
            Some((Index::ExternalId, _)) => "external_id = ?1",
        };
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE {condition} ORDER BY rowid LIMIT ?2 OFFSET ?3"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(page_params(by, page), group_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many rows `table` has.
    fn count(&self, table: Table) -> Result<usize, StoreError> {
        let sql = match table {
            Table::Users => "SELECT count(*) FROM users",
            Table::Groups => "SELECT count(*) FROM groups",
        };
        let n: i64 = self.conn().query_row(sql, [], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Every user, as a snapshot needs them, in creation order.
    fn persons(&self) -> Result<Vec<Person>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT id, login, uid, active, gecos FROM users ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| {
            Ok(Person {
                id: r.get(0)?,
                login: r.get(1)?,
                uid: r.get(2)?,
                active: r.get(3)?,
                gecos: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The members of a group: (user id, the display the identity provider
    /// gave, else the userName), in userName order.
    fn members(&self, group: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT u.id, coalesce(m.display, u.user_name) FROM members m \
             JOIN users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY u.user_name",
        )?;
        let rows = stmt.query_map([group], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The groups a user is in: (group id, displayName).
    fn groups_of(&self, user: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT g.id, g.display_name FROM members m JOIN groups g ON g.id = m.group_id \
             WHERE m.user_id = ? ORDER BY g.display_name",
        )?;
        let rows = stmt.query_map([user], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every membership as (group displayName, user id).
    fn memberships(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT g.display_name, m.user_id FROM members m JOIN groups g ON g.id = m.group_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The id ledger entry of `owner` (`group:NAME`, `shared:NAME`, `user:ID`).
    fn id_of(&self, owner: &str) -> Result<Option<u32>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT id FROM ids WHERE owner = ?", [owner], |r| r.get(0))
            .optional()?)
    }

    /// How many writes were ever committed.
    fn change(&self) -> Result<u64, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT value FROM counters WHERE name = 'change'",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// The last serial reserved for `project`.
    fn serial(&self, project: &str) -> Result<Option<u64>, StoreError> {
        let s: Option<i64> = self
            .conn()
            .query_row(
                "SELECT serial FROM published WHERE project = ?",
                [project],
                |r| r.get(0),
            )
            .optional()?;
        Ok(s.map(|s| s as u64))
    }

    /// Who holds `user_name` (case-insensitively) or `login`, other than `except`.
    fn taken(
        &self,
        user_name: &str,
        login: &str,
        except: &str,
    ) -> Result<Option<Taken>, StoreError> {
        let found: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT user_name, login FROM users WHERE (user_name = ?1 OR login = ?2) AND id != ?3",
                params![user_name, login, except],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(found.map(|(name, their_login)| {
            if name.eq_ignore_ascii_case(user_name) {
                Taken::UserName(name)
            } else {
                Taken::Login {
                    login: their_login,
                    user_name: name,
                }
            }
        }))
    }
}

impl Query for Reader<'_> {
    fn conn(&self) -> &Connection {
        self.conn
    }
}

impl Query for Writer<'_> {
    fn conn(&self) -> &Connection {
        &self.tx
    }
}

impl Writer<'_> {
    pub fn put_user(&mut self, u: &UserRow) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO users VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT(id) DO UPDATE SET user_name = ?2, login = ?3, external_id = ?4, \
             active = ?6, gecos = ?7, modified = ?9, body = ?10",
            params![
                u.id,
                u.user_name,
                u.login,
                u.external_id,
                u.uid,
                u.active,
                u.gecos,
                u.created,
                u.modified,
                u.body.to_string()
            ],
        )?;
        Ok(())
    }

    pub fn put_group(&mut self, g: &GroupRow) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO groups VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT(id) DO UPDATE SET display_name = ?2, external_id = ?3, \
             modified = ?5, body = ?6",
            params![
                g.id,
                g.display_name,
                g.external_id,
                g.created,
                g.modified,
                g.body.to_string()
            ],
        )?;
        Ok(())
    }

    /// Makes the group's members exactly `users` (id, display).
    pub fn set_members(
        &mut self,
        group: &str,
        users: &[(String, Option<String>)],
    ) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM members WHERE group_id = ?", [group])?;
        let mut insert = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO members VALUES (?1, ?2, ?3)")?;
        for (user, display) in users {
            insert.execute(params![group, user, display])?;
        }
        Ok(())
    }

    /// Deletes a user or group row (memberships go with it; ids stay in
    /// the ledger). Whether there was one.
    pub fn delete(&mut self, table: Table, id: &str) -> Result<bool, StoreError> {
        let sql = match table {
            Table::Users => "DELETE FROM users WHERE id = ?",
            Table::Groups => "DELETE FROM groups WHERE id = ?",
        };
        Ok(self.tx.execute(sql, [id])? == 1)
    }

    /// The id of `owner`, handing out the next free one the first time: at
    /// or above `first`, one the hosts accept (`check_id` with `min`), not in
    /// `taken` (the hosts' local ids), never handed out before.
    pub fn allocate(
        &mut self,
        owner: &str,
        first: u32,
        min: u32,
        taken: &dyn Fn(u32) -> bool,
    ) -> Result<Option<u32>, StoreError> {
        if let Some(id) = self.id_of(owner)? {
            return Ok(Some(id));
        }
        let highest: Option<u32> = self
            .tx
            .query_row("SELECT max(id) FROM ids", [], |r| r.get(0))?;
        let start = highest.map_or(first, |h| h.saturating_add(1).max(first));
        let Some(id) = (start..=i32::MAX as u32)
            .find(|id| check_id("uid", i64::from(*id), min).is_ok() && !taken(*id))
        else {
            return Ok(None);
        };
        self.tx
            .execute("INSERT INTO ids VALUES (?1, ?2)", params![id, owner])?;
        Ok(Some(id))
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Table {
    Users,
    Groups,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn user(id: &str, name: &str, uid: u32) -> UserRow {
        UserRow {
            id: id.into(),
            user_name: format!("{name}@example.com"),
            login: name.into(),
            external_id: None,
            uid,
            active: true,
            gecos: String::new(),
            created: "2026-12-03T10:00:00Z".into(),
            modified: "2026-12-03T10:00:00Z".into(),
            body: json!({"userName": format!("{name}@example.com")}),
        }
    }

    #[test]
    fn ids_are_never_handed_out_twice_and_skip_what_hosts_refuse() {
        let mut s = Store::memory();
        let local = |id| id == 10_001;
        let ids = s
            .write(|w| {
                Ok::<_, StoreError>([
                    w.allocate("user:a", 10_000, 10_000, &local)?,
                    w.allocate("user:b", 10_000, 10_000, &local)?,
                    w.allocate("user:a", 10_000, 10_000, &local)?,
                ])
            })
            .unwrap();
        assert_eq!(ids, [Some(10_000), Some(10_002), Some(10_000)]);
        // a deleted user's id stays theirs
        s.write(|w| {
            w.put_user(&user("a", "alice", 10_000))?;
            w.delete(Table::Users, "a")
        })
        .unwrap();
        let c = s
            .write(|w| w.allocate("user:c", 10_000, 10_000, &local))
            .unwrap();
        assert_eq!(c, Some(10_003));
        // systemd's dynamic range and 65534/65535 are skipped
        let d = s
            .write(|w| w.allocate("user:d", 61_000, 10_000, &local))
            .unwrap();
        assert_eq!(d, Some(61_000));
        let mut s = Store::memory();
        let e = s
            .write(|w| w.allocate("user:e", 61_184, 10_000, &local))
            .unwrap();
        assert_eq!(e, Some(65_520));
    }

    #[test]
    fn names_are_unique_case_insensitively_and_logins_exactly() {
        let mut s = Store::memory();
        s.write(|w| w.put_user(&user("a", "alice", 10_000)))
            .unwrap();
        let r = s.read();
        assert_eq!(
            r.taken("ALICE@example.com", "x", "b").unwrap(),
            Some(Taken::UserName("alice@example.com".into()))
        );
        assert_eq!(
            r.taken("alice@other.org", "alice", "b").unwrap(),
            Some(Taken::Login {
                login: "alice".into(),
                user_name: "alice@example.com".into()
            })
        );
        assert_eq!(r.taken("alice@example.com", "alice", "a").unwrap(), None);
    }

    #[test]
    fn memberships_go_with_the_user_and_every_write_counts() {
        let mut s = Store::memory();
        s.write(|w| {
            w.put_user(&user("a", "alice", 10_000))?;
            w.put_group(&GroupRow {
                id: "g".into(),
                display_name: "SRE".into(),
                external_id: None,
                created: String::new(),
                modified: String::new(),
                body: json!({}),
            })?;
            w.set_members("g", &[("a".into(), None)])
        })
        .unwrap();
        assert_eq!(
            s.read().memberships().unwrap(),
            [("SRE".into(), "a".into())]
        );
        s.write(|w| w.delete(Table::Users, "a")).unwrap();
        assert!(s.read().memberships().unwrap().is_empty());
        assert_eq!(s.read().change().unwrap(), 2);
        assert_eq!(
            s.read()
                .groups(Some((Index::DisplayName, "sre")), None)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn serials_only_go_up() {
        let mut s = Store::memory();
        assert_eq!(s.next_serial("web", 0).unwrap(), 1);
        assert_eq!(s.next_serial("web", 0).unwrap(), 2);
        assert_eq!(s.next_serial("web", 100).unwrap(), 100);
        assert_eq!(s.next_serial("web", 5).unwrap(), 101);
        assert_eq!(s.read().serial("web").unwrap(), Some(101));
    }
}
