//! The SCIM resources (RFC 7644 §3): create, get, list, replace, patch and
//! delete Users and Groups over the [`Store`]. Every rule a request must
//! follow is here, and every refusal is a [`ScimError`]; the HTTP layer only
//! moves bytes.
//!
//! A user's login on the hosts comes from `userName` (see [`login_name`]);
//! before a change is committed, the user as the hosts would get it is run
//! through the hosts' own validator, so nothing the service accepts is
//! dropped by a host.

use serde_json::{Map, Value, json};

use super::config::Config;
use super::error::{ScimError, ScimType};
use super::filter::{self, Filter};
use super::patch;
use super::schema::{self, Kind};
use super::store::{GroupRow, Index, Query, Store, StoreError, Table, Taken, UserRow, Writer};
use crate::snapshot::compose::{self, Account, Layout};
use crate::snapshot::schema::Document;
use crate::snapshot::{AccountKind, AccountState, FORMAT, Role, validate};
use crate::time::{UnixTime, format_rfc3339};

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        ScimError::status(500, e.to_string())
    }
}

/// A list request's parameters (RFC 7644 §3.4.2).
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub filter: Option<String>,
    /// 1-based; values below 1 are read as 1.
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

/// The resources of the service, over its database.
pub struct Directory<'c> {
    pub config: &'c Config,
}

impl Directory<'_> {
    fn location(&self, kind: Kind, id: &str) -> String {
        let endpoint = match kind {
            Kind::User => "Users",
            Kind::Group => "Groups",
        };
        format!("{}/{endpoint}/{id}", self.config.base_url)
    }

    // --- reading ---

    pub fn get(
        &self,
        store: &Store,
        kind: Kind,
        id: &str,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        let r = store.read();
        let resource = match kind {
            Kind::User => r.user(id)?.map(|u| self.render_user(&r, &u)).transpose()?,
            Kind::Group => r
                .group(id)?
                .map(|g| self.render_group(&r, &g))
                .transpose()?,
        };
        let resource = resource.ok_or_else(|| ScimError::not_found(format!("{kind:?} {id}")))?;
        Ok(project_attributes(resource, q))
    }

    pub fn list(&self, store: &Store, kind: Kind, q: &ListQuery) -> Result<Value, ScimError> {
        let limits = &self.config.limits;
        let filter = match &q.filter {
            Some(f) if f.len() > limits.max_filter_bytes => {
                return Err(ScimError::new(
                    ScimType::InvalidFilter,
                    format!(
                        "the filter is longer than {} bytes",
                        limits.max_filter_bytes
                    ),
                ));
            }
            Some(f) => Some(filter::parse(f)?),
            None => None,
        };
        let start = q.start_index.unwrap_or(1).max(1) as usize;
        let count = q
            .count
            .unwrap_or(limits.max_results as i64)
            .clamp(0, limits.max_results as i64) as usize;
        let r = store.read();
        let render = |page: Option<(usize, usize)>, hint| -> Result<Vec<Value>, ScimError> {
            match kind {
                Kind::User => r
                    .users(hint, page)?
                    .iter()
                    .map(|u| self.render_user(&r, u))
                    .collect(),
                Kind::Group => r
                    .groups(hint, page)?
                    .iter()
                    .map(|g| self.render_group(&r, g))
                    .collect(),
            }
        };
        // Without a filter the database pages; with one, the matches are
        // found (narrowed by an index where the filter allows) and paged here.
        let (total, page) = match &filter {
            None => {
                let table = match kind {
                    Kind::User => Table::Users,
                    Kind::Group => Table::Groups,
                };
                (r.count(table)?, render(Some((start - 1, count)), None)?)
            }
            Some(f) => {
                let mut found = render(None, index_hint(kind, f))?;
                found.retain(|v| f.matches(v, &|path| case_exact(kind, path)));
                let total = found.len();
                (
                    total,
                    found.into_iter().skip(start - 1).take(count).collect(),
                )
            }
        };
        let page: Vec<Value> = page.into_iter().map(|v| project_attributes(v, q)).collect();
        Ok(json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": page.len(),
            "Resources": page,
        }))
    }

    fn meta(&self, kind: Kind, id: &str, created: &str, modified: &str) -> Value {
        json!({
            "resourceType": super::discovery::resource_type_name(kind),
            "created": created,
            "lastModified": modified,
            "location": self.location(kind, id),
            "version": format!("W/\"{modified}\""),
        })
    }

    fn render_user(&self, r: &impl Query, u: &UserRow) -> Result<Value, ScimError> {
        let mut v = u.body.clone();
        let groups: Vec<Value> = r
            .groups_of(&u.id)?
            .into_iter()
            .map(|(id, name)| {
                json!({"value": id, "display": name, "$ref": self.location(Kind::Group, &id), "type": "direct"})
            })
            .collect();
        let o = object(&mut v);
        o.insert("id".into(), u.id.clone().into());
        if !groups.is_empty() {
            o.insert("groups".into(), groups.into());
        }
        o.insert(
            "meta".into(),
            self.meta(Kind::User, &u.id, &u.created, &u.modified),
        );
        Ok(v)
    }

    fn render_group(&self, r: &impl Query, g: &GroupRow) -> Result<Value, ScimError> {
        let mut v = g.body.clone();
        let members: Vec<Value> = r
            .members(&g.id)?
            .into_iter()
            .map(|(id, name)| {
                json!({"value": id, "display": name, "$ref": self.location(Kind::User, &id), "type": "User"})
            })
            .collect();
        let o = object(&mut v);
        o.insert("id".into(), g.id.clone().into());
        o.insert("members".into(), members.into());
        o.insert(
            "meta".into(),
            self.meta(Kind::Group, &g.id, &g.created, &g.modified),
        );
        Ok(v)
    }

    // --- writing ---

    /// POST: a new resource, its id chosen here.
    pub fn create(
        &self,
        store: &mut Store,
        kind: Kind,
        body: Value,
        now: UnixTime,
    ) -> Result<Value, ScimError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.write(store, kind, &id, body, now, true)
    }

    /// PUT: the whole resource replaced (readOnly attributes kept).
    pub fn replace(
        &self,
        store: &mut Store,
        kind: Kind,
        id: &str,
        body: Value,
        now: UnixTime,
    ) -> Result<Value, ScimError> {
        self.exists(store, kind, id)?;
        self.write(store, kind, id, body, now, false)
    }

    /// PATCH: the operations applied to the stored resource, then the
    /// result checked and stored as a PUT would be.
    pub fn patch(
        &self,
        store: &mut Store,
        kind: Kind,
        id: &str,
        request: &Value,
        now: UnixTime,
    ) -> Result<Value, ScimError> {
        let mut current = self.get(store, kind, id, &ListQuery::default())?;
        let value_filter = |text: &str, attribute: &str, element: &Value| {
            let f = filter::parse_within(attribute, text)?;
            Ok(f.matches(element, &|path| case_exact(kind, path)))
        };
        patch::apply(&mut current, request, kind, &value_filter)?;
        self.write(store, kind, id, current, now, false)
    }

    pub fn delete(&self, store: &mut Store, kind: Kind, id: &str) -> Result<(), ScimError> {
        let table = match kind {
            Kind::User => Table::Users,
            Kind::Group => Table::Groups,
        };
        match store.write(|w| Ok::<_, ScimError>(w.delete(table, id)?))? {
            true => Ok(()),
            false => Err(ScimError::not_found(format!("{kind:?} {id}"))),
        }
    }

    fn exists(&self, store: &Store, kind: Kind, id: &str) -> Result<(), ScimError> {
        let r = store.read();
        let found = match kind {
            Kind::User => r.user(id)?.is_some(),
            Kind::Group => r.group(id)?.is_some(),
        };
        found
            .then_some(())
            .ok_or_else(|| ScimError::not_found(format!("{kind:?} {id}")))
    }

    fn write(
        &self,
        store: &mut Store,
        kind: Kind,
        id: &str,
        body: Value,
        now: UnixTime,
        new: bool,
    ) -> Result<Value, ScimError> {
        let stamp = format_rfc3339(now);
        store.write(|w| match kind {
            Kind::User => self.write_user(w, id, body, &stamp, new),
            Kind::Group => self.write_group(w, id, body, &stamp, new),
        })?;
        self.get(store, kind, id, &ListQuery::default())
    }

    fn write_user(
        &self,
        w: &mut Writer<'_>,
        id: &str,
        body: Value,
        stamp: &str,
        new: bool,
    ) -> Result<(), ScimError> {
        let Incoming {
            mut attributes,
            name: user_name,
            external_id,
        } = incoming(Kind::User, body)?;
        let o = &mut attributes;
        // Absent means active (the hosts need a state); kept as sent, with
        // Entra's "True"/"False" as booleans.
        let active = match o.get("active") {
            None | Some(Value::Null) => true,
            Some(v) => boolean(v).ok_or_else(|| {
                ScimError::new(
                    ScimType::InvalidValue,
                    format!("active must be a boolean, not {v}"),
                )
            })?,
        };
        if o.get("active").is_some_and(|v| !v.is_null()) {
            o.insert("active".into(), active.into());
        }
        // The service keeps no passwords: people log in with certificates.
        o.remove("password");
        let login = login_name(&user_name)?;
        let gecos = gecos(o);
        match w.taken(&user_name, &login, id)? {
            Some(Taken::UserName(other)) => {
                return Err(ScimError::new(
                    ScimType::Uniqueness,
                    format!("userName {other:?} is taken"),
                ));
            }
            Some(Taken::Login {
                login,
                user_name: other,
            }) => {
                return Err(ScimError::new(
                    ScimType::Uniqueness,
                    format!(
                        "userName {user_name:?} gives the login {login:?}, which {other:?} has"
                    ),
                ));
            }
            None => {}
        }
        let existing = w.user(id)?;
        let accounts = &self.config.accounts;
        let local = &accounts.local;
        let uid = w
            .allocate(
                &format!("user:{id}"),
                accounts.first_id,
                accounts.policy.min_uid,
                &|i| local.uids.contains(&i) || local.gids.contains(&i),
            )?
            .ok_or_else(|| ScimError::status(507, "the id ledger has run out of ids"))?;
        self.hosts_accept(&login, uid, &gecos)?;
        let created = created(existing.map(|u| u.created), new, stamp);
        w.put_user(&UserRow {
            id: id.to_owned(),
            user_name,
            login,
            external_id,
            uid,
            active,
            gecos,
            created,
            modified: stamp.to_owned(),
            body: Value::Object(attributes),
        })?;
        Ok(())
    }

    fn write_group(
        &self,
        w: &mut Writer<'_>,
        id: &str,
        body: Value,
        stamp: &str,
        new: bool,
    ) -> Result<(), ScimError> {
        let Incoming {
            mut attributes,
            name: display_name,
            external_id,
        } = incoming(Kind::Group, body)?;
        let o = &mut attributes;
        let members = match o.remove("members") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list,
            Some(other) => {
                return Err(ScimError::new(
                    ScimType::InvalidValue,
                    format!("members must be a list, not {other}"),
                ));
            }
        };
        if members.len() > self.config.limits.max_members {
            return Err(ScimError::new(
                ScimType::InvalidValue,
                format!(
                    "a group has at most {} members",
                    self.config.limits.max_members
                ),
            ));
        }
        let mut ids = Vec::with_capacity(members.len());
        for m in &members {
            let Some(value) = m.get("value").and_then(Value::as_str) else {
                return Err(ScimError::new(
                    ScimType::InvalidValue,
                    format!("member {m} has no value"),
                ));
            };
            if w.user(value)?.is_none() {
                return Err(ScimError::new(
                    ScimType::InvalidValue,
                    format!(
                        "member {value:?} is not a user of this service (groups hold users only)"
                    ),
                ));
            }
            let display = m.get("display").and_then(Value::as_str).map(str::to_owned);
            ids.push((value.to_owned(), display));
        }
        let created = created(w.group(id)?.map(|g| g.created), new, stamp);
        w.put_group(&GroupRow {
            id: id.to_owned(),
            display_name,
            external_id,
            created,
            modified: stamp.to_owned(),
            body: Value::Object(attributes),
        })?;
        w.set_members(id, &ids)?;
        Ok(())
    }

    /// Refuses a user the hosts would drop: the hosts' validator, on a
    /// document holding just this user, with the hosts' policy and the
    /// fleet's local accounts.
    fn hosts_accept(&self, login: &str, uid: u32, gecos: &str) -> Result<(), ScimError> {
        let accounts = &self.config.accounts;
        let account = Account {
            name: login,
            gecos,
            kind: AccountKind::Person,
            role: Role::User,
            state: AccountState::Active,
            id: uid,
            groups: Vec::new(),
            persons: Vec::new(),
        };
        let layout = Layout {
            home: &accounts.home,
            shell: &accounts.shell,
        };
        let composed =
            compose::compose(&[account], layout, |_| Ok::<u32, ()>(0)).unwrap_or_default();
        let document: Document<'_> = Document {
            format: FORMAT.into(),
            grants: Vec::new(),
            groups: composed.groups,
            issued_at: format_rfc3339(0),
            revoked: None,
            serial: 1,
            sudo: Vec::new(),
            user_cas: Vec::new(),
            users: composed.users,
            valid_until: format_rfc3339(UnixTime::from(i32::MAX)),
        };
        let json = serde_json::to_vec(&document).unwrap_or_default();
        let checked = validate(&json, &accounts.policy, &accounts.local, 0)
            .map_err(|e| ScimError::status(500, e.to_string()))?;
        match checked.findings.first() {
            None => Ok(()),
            Some(f) => Err(ScimError::new(
                ScimType::InvalidValue,
                format!("the hosts would refuse it: {}", f.reason),
            )),
        }
    }
}

/// The login on the hosts for `userName`: the part before any `@`,
/// lowercased, with every character outside `[a-z0-9_-]` made `_`
/// (`Alice.Liddell@example.com` → `alice_liddell`). Refused when that is
/// not a name the hosts serve.
pub fn login_name(user_name: &str) -> Result<String, ScimError> {
    let local = user_name.split('@').next().unwrap_or_default();
    let login: String = local
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    crate::snapshot::valid_name(&login).map_err(|_| {
        ScimError::new(
            ScimType::InvalidValue,
            format!(
                "userName {user_name:?} gives the login {login:?}, which the hosts cannot serve: \
                 it must start with a letter or '_' and be at most 32 characters"
            ),
        )
    })?;
    Ok(login)
}

/// The GECOS field: displayName, or the formatted name, or given and family
/// names; without control characters or `:` (the hosts' rules), at most
/// 256 bytes.
fn gecos(o: &Map<String, Value>) -> String {
    let name = o.get("name");
    let part = |k: &str| {
        name.and_then(|n| n.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let text = o
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            name.and_then(|n| n.get("formatted"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            format!("{} {}", part("givenName"), part("familyName"))
                .trim()
                .to_owned()
        });
    let mut clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == ':' { ' ' } else { c })
        .collect();
    while clean.len() > 256 {
        clean.pop();
    }
    clean
}

/// A request body as it is stored, and what names the resource.
#[derive(Debug)]
struct Incoming {
    /// The body's attributes in the schema's spelling, without what the
    /// service sets (`id`, `meta`, and a user's `groups`); its `schemas`
    /// names the resource's core schema.
    attributes: Map<String, Value>,
    /// `userName`, or a group's `displayName`: required, not blank.
    name: String,
    external_id: Option<String>,
}

fn incoming(kind: Kind, mut body: Value) -> Result<Incoming, ScimError> {
    let Value::Object(o) = &mut body else {
        return Err(ScimError::new(
            ScimType::InvalidSyntax,
            "the body must be a JSON object",
        ));
    };
    let core = schema::schemas(kind)[0];
    let names_core = o.get("schemas").and_then(Value::as_array).is_some_and(|s| {
        s.iter()
            .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(core)))
    });
    if !names_core {
        return Err(ScimError::new(
            ScimType::InvalidSyntax,
            format!("schemas must list {core}"),
        ));
    }
    let mut out = Map::new();
    for (key, value) in std::mem::take(o) {
        let canonical = match schema::attribute(kind, &key) {
            Some(a) => a.name.to_owned(),
            None => key,
        };
        match canonical.as_str() {
            "id" | "meta" => continue,
            "groups" if kind == Kind::User => continue,
            _ => {}
        }
        out.insert(canonical, value);
    }
    let naming = match kind {
        Kind::User => "userName",
        Kind::Group => "displayName",
    };
    Ok(Incoming {
        name: required_string(&out, naming)?,
        external_id: optional_string(&out, "externalId")?,
        attributes: out,
    })
}

/// When a resource was created: now for a POST or a PUT that creates it,
/// else when it first was.
fn created(existing: Option<String>, new: bool, stamp: &str) -> String {
    match existing {
        Some(created) if !new => created,
        _ => stamp.to_owned(),
    }
}

fn object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(o) => o,
        _ => unreachable!("made an object above"),
    }
}

fn required_string(o: &Map<String, Value>, key: &str) -> Result<String, ScimError> {
    match o.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(ScimError::new(
            ScimType::InvalidValue,
            format!("{key} is required: a non-empty string"),
        )),
    }
}

fn optional_string(o: &Map<String, Value>, key: &str) -> Result<Option<String>, ScimError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ScimError::new(
            ScimType::InvalidValue,
            format!("{key} must be a string, not {other}"),
        )),
    }
}

/// A boolean, or Entra ID's `"True"`/`"False"` strings.
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Whether the attribute at `path` ("username", "emails.value") compares
/// case-exactly (unknown attributes: no).
fn case_exact(kind: Kind, path: &str) -> bool {
    schema::attribute(kind, path).is_some_and(|a| a.case_exact)
}

/// The index a filter can be narrowed by: an `eq` every match satisfies,
/// on an indexed column of this kind.
fn index_hint(kind: Kind, f: &Filter) -> Option<(Index, &str)> {
    let (path, value) = f.equality()?;
    let index = match (kind, path) {
        (_, "id") => Index::Id,
        (_, "externalid") => Index::ExternalId,
        (Kind::User, "username") => Index::UserName,
        (Kind::Group, "displayname") => Index::DisplayName,
        _ => return None,
    };
    Some((index, value))
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) on a top-level
/// basis: `id` and `schemas` are always returned.
fn project_attributes(mut v: Value, q: &ListQuery) -> Value {
    let names = |list: &Option<String>| -> Option<Vec<String>> {
        list.as_ref().map(|l| {
            l.split(',')
                .map(|a| {
                    a.trim()
                        .rsplit(':')
                        .next()
                        .unwrap_or("")
                        .split('.')
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase()
                })
                .filter(|a| !a.is_empty())
                .collect()
        })
    };
    let Value::Object(o) = &mut v else { return v };
    if let Some(keep) = names(&q.attributes) {
        o.retain(|k, _| {
            matches!(k.as_str(), "id" | "schemas") || keep.contains(&k.to_ascii_lowercase())
        });
    } else if let Some(drop) = names(&q.excluded_attributes) {
        o.retain(|k, _| {
            matches!(k.as_str(), "id" | "schemas") || !drop.contains(&k.to_ascii_lowercase())
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_is_the_lowercased_local_part_with_other_characters_made_underscores() {
        assert_eq!(
            login_name("Alice.Liddell@Example.com").unwrap(),
            "alice_liddell"
        );
        assert_eq!(login_name("bob").unwrap(), "bob");
        assert_eq!(login_name("o'brien+ops@x.org").unwrap(), "o_brien_ops");
        let refused = login_name("1password@example.com").unwrap_err();
        assert_eq!(refused.scim_type, Some(ScimType::InvalidValue));
        assert!(
            refused.detail.contains("gives the login \"1password\""),
            "{refused}"
        );
        assert!(login_name(&format!("{}@x.org", "a".repeat(33))).is_err());
        assert!(login_name("@example.com").is_err());
    }

    #[test]
    fn the_gecos_is_the_display_name_cleaned_for_passwd() {
        let o = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(gecos(&o(json!({"displayName": "Ann: Ops\n"}))), "Ann  Ops");
        assert_eq!(gecos(&o(json!({"name": {"formatted": "Dr. B"}}))), "Dr. B");
        assert_eq!(
            gecos(&o(json!({"name": {"givenName": "C", "familyName": "D"}}))),
            "C D"
        );
        assert_eq!(gecos(&o(json!({}))), "");
        assert_eq!(
            gecos(&o(json!({"displayName": "é".repeat(200)}))).len(),
            256
        );
    }

    #[test]
    fn a_body_keeps_what_the_client_may_write_in_the_schemas_spelling() {
        let body = json!({"schemas": [schema::USER], "USERNAME": "a@x", "id": "mine",
                          "meta": {}, "groups": [], "urn:x:custom": 1});
        let v = incoming(Kind::User, body).unwrap();
        assert_eq!(
            Value::Object(v.attributes),
            json!({"schemas": [schema::USER], "userName": "a@x", "urn:x:custom": 1})
        );
        assert_eq!((v.name.as_str(), v.external_id), ("a@x", None));
        let e = incoming(Kind::User, json!({"userName": "a@x"})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        assert!(incoming(Kind::Group, json!([])).is_err());
    }

    #[test]
    fn entra_strings_are_booleans() {
        assert_eq!(boolean(&json!("False")), Some(false));
        assert_eq!(boolean(&json!("TRUE")), Some(true));
        assert_eq!(boolean(&json!(true)), Some(true));
        assert_eq!(boolean(&json!("no")), None);
        assert_eq!(boolean(&json!(0)), None);
    }

    #[test]
    fn attributes_and_excluded_attributes_keep_id_and_schemas() {
        let v = json!({"id": "1", "schemas": [], "userName": "a", "name": {"givenName": "A"}, "emails": []});
        let only = ListQuery {
            attributes: Some(
                "userName, urn:ietf:params:scim:schemas:core:2.0:User:name.givenName".into(),
            ),
            ..ListQuery::default()
        };
        assert_eq!(
            project_attributes(v.clone(), &only),
            json!({"id": "1", "schemas": [], "userName": "a", "name": {"givenName": "A"}})
        );
        let without = ListQuery {
            excluded_attributes: Some("members,emails".into()),
            ..ListQuery::default()
        };
        assert_eq!(
            project_attributes(v, &without),
            json!({"id": "1", "schemas": [], "userName": "a", "name": {"givenName": "A"}})
        );
    }
}
