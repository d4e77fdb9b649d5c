//! PATCH (RFC 7644 §3.5.2): a list of add, remove and replace operations
//! applied to a stored resource, all or none.
//!
//! The resource is SCIM's canonical JSON (what GET returns): core and common
//! attributes at the top level, each extension's attributes in an object
//! under its URN. Every operation is checked against the attribute tables in
//! [`super::schema`]: names are matched case-insensitively and written in the
//! table's spelling, values are checked against the attribute's type, and
//! read-only and immutable attributes refuse changes.
//!
//! Besides the RFC's own shapes, this accepts what Okta and Microsoft Entra
//! ID really send (the tests show each, with the document it comes from):
//! operation names in any case ("Replace"), Booleans as the strings "True"
//! and "False", `remove` of group members by a `value` list instead of a
//! filter, and path expressions as the keys of a path-less operation's value
//! (`{"emails[type eq \"work\"].value": "x"}`).
//!
//! Value filters (`members[value eq "2819c223"]`) are evaluated by the
//! caller's [`ValueFilter`], so this module does not depend on the filter
//! parser.

use super::error::{ScimError, ScimType};
use super::schema::{self, Attribute, Kind, Located, Mutability, Type};
use serde_json::{Map, Value};

pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Decides whether one value of a multi-valued attribute matches a value
/// filter: the text between the brackets of `emails[type eq "work"]`.
///
/// Any `Fn(&str, &str, &Value) -> Result<bool, ScimError>` is one, so the
/// service plugs in its filter module with a closure such as
///
/// ```text
/// &|text: &str, attribute: &str, element: &Value| {
///     Ok(filter::parse(text)?.matches(element, kind, attribute))
/// }
/// ```
///
/// (the parameter types spelt out, so the closure is inferred as one that
/// takes references of any lifetime).
pub trait ValueFilter {
    /// Whether `element`, one value of the multi-valued attribute named
    /// `attribute` (canonical spelling, e.g. "emails"), matches `filter`.
    /// An unparsable filter is an error (`invalidFilter`).
    fn matches(&self, filter: &str, attribute: &str, element: &Value) -> Result<bool, ScimError>;
}

impl<F> ValueFilter for F
where
    F: Fn(&str, &str, &Value) -> Result<bool, ScimError>,
{
    fn matches(&self, filter: &str, attribute: &str, element: &Value) -> Result<bool, ScimError> {
        self(filter, attribute, element)
    }
}

/// Applies the PATCH request body `request` to `resource`, a stored `kind`
/// resource. On error `resource` is unchanged: the operations run on a copy,
/// which replaces the original only when all of them succeeded.
///
/// The caller keeps `meta.lastModified` (and `meta.version`) up to date and
/// checks uniqueness (`userName`, a group's `displayName`) afterwards; this
/// function refuses any write to `meta` that changes it.
pub fn apply(
    resource: &mut Value,
    request: &Value,
    kind: Kind,
    filter: &dyn ValueFilter,
) -> Result<(), ScimError> {
    let operations = parse_request(request)?;
    let mut patched = resource.clone();
    if !patched.is_object() {
        return Err(ScimError::status(
            500,
            "the stored resource is not a JSON object",
        ));
    }
    for (index, operation) in operations.iter().enumerate() {
        apply_operation(&mut patched, operation, kind, filter).map_err(|e| ScimError {
            detail: format!("Operations[{index}]: {}", e.detail),
            ..e
        })?;
    }
    tidy_extensions(&mut patched, kind);
    *resource = patched;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Replace,
}

struct Operation<'r> {
    op: Op,
    path: Option<&'r str>,
    value: Option<&'r Value>,
}

/// The request's shape (RFC 7644 §3.5.2): the PatchOp schema and a
/// non-empty `Operations` array of `{op, path?, value?}`.
fn parse_request(request: &Value) -> Result<Vec<Operation<'_>>, ScimError> {
    let body = request
        .as_object()
        .ok_or_else(|| syntax("the body is not a JSON object"))?;
    let is_patch = get(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP)))
        });
    if !is_patch {
        return Err(syntax(format!("\"schemas\" must list {PATCH_OP}")));
    }
    let operations = get(body, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| syntax("\"Operations\" must be a non-empty array"))?;
    operations
        .iter()
        .enumerate()
        .map(|(index, operation)| {
            parse_operation(operation).map_err(|e| ScimError {
                detail: format!("Operations[{index}]: {}", e.detail),
                ..e
            })
        })
        .collect()
}

fn parse_operation(operation: &Value) -> Result<Operation<'_>, ScimError> {
    let operation = operation
        .as_object()
        .ok_or_else(|| syntax("an operation is not a JSON object"))?;
    // Entra ID capitalises the operation ("Replace"); RFC 7644 §3.5.2 spells
    // it in lower case but the names are not meant to be case-sensitive.
    let op = match get(operation, "op").and_then(Value::as_str) {
        Some(op) if op.eq_ignore_ascii_case("add") => Op::Add,
        Some(op) if op.eq_ignore_ascii_case("remove") => Op::Remove,
        Some(op) if op.eq_ignore_ascii_case("replace") => Op::Replace,
        _ => return Err(syntax("\"op\" must be \"add\", \"remove\" or \"replace\"")),
    };
    let path = match get(operation, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.trim()),
        Some(_) => return Err(syntax("\"path\" must be a string")),
    };
    let value = get(operation, "value");
    if op != Op::Remove && value.is_none() {
        return Err(syntax("add and replace need a \"value\""));
    }
    Ok(Operation { op, path, value })
}

fn apply_operation(
    resource: &mut Value,
    operation: &Operation<'_>,
    kind: Kind,
    filter: &dyn ValueFilter,
) -> Result<(), ScimError> {
    match (operation.op, operation.path, operation.value) {
        // RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails
        // with HTTP status code 400 and a "scimType" error code of "noTarget"."
        (Op::Remove, None, _) => Err(ScimError::new(
            ScimType::NoTarget,
            "remove needs a \"path\"",
        )),
        // A path naming an extension schema (the enterprise User) is its
        // whole object: removed, or its attributes added or replaced.
        (Op::Remove, Some(path), _) if extension(kind, path).is_some() => {
            if let (Some(o), Some(urn)) = (resource.as_object_mut(), extension(kind, path)) {
                o.retain(|k, _| !k.eq_ignore_ascii_case(urn));
            }
            Ok(())
        }
        (op, Some(path), Some(value)) if extension(kind, path).is_some() => {
            let urn = extension(kind, path).unwrap_or(path);
            let wrapped = serde_json::json!({ urn: value });
            for (path, value) in members_of(kind, &wrapped)? {
                set(resource, op, &path, value, filter, Lenience::PathAsKey)?;
            }
            Ok(())
        }
        (Op::Remove, Some(path), value) => {
            remove(resource, &parse_path(kind, path)?, value, filter)
        }
        (op, Some(path), Some(value)) => {
            let path = parse_path(kind, path)?;
            set(resource, op, &path, value, filter, Lenience::Rfc)
        }
        // Without a path the value is an object of attributes to add or
        // replace (RFC 7644 §3.5.2.1, §3.5.2.3). Entra ID writes path
        // expressions as its keys (see `members_of`).
        (op, None, Some(value)) => {
            for (path, value) in members_of(kind, value)? {
                set(resource, op, &path, value, filter, Lenience::PathAsKey)?;
            }
            Ok(())
        }
        (_, _, None) => Err(syntax("add and replace need a \"value\"")),
    }
}

/// The URN of the extension schema `path` names, if it names one.
fn extension(kind: Kind, path: &str) -> Option<&'static str> {
    schema::extensions(kind)
        .iter()
        .map(|s| s.id)
        .find(|id| id.eq_ignore_ascii_case(path))
}

/// A parsed PATCH path (RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`).
#[derive(Debug)]
struct Path {
    /// The attribute and, for `attr.sub` or `attr[filter].sub`, the
    /// sub-attribute.
    at: Located,
    /// For `attr[filter]`: the filter's text.
    filter: Option<String>,
}

fn parse_path(kind: Kind, text: &str) -> Result<Path, ScimError> {
    let unknown = || ScimError::new(ScimType::InvalidPath, format!("no attribute {text:?}"));
    let Some(open) = text.find('[') else {
        let at = schema::lookup(kind, text).ok_or_else(unknown)?;
        if at.sub_attribute.is_some() && at.attribute.multi_valued {
            return Err(ScimError::new(
                ScimType::InvalidPath,
                format!(
                    "{} is multi-valued: select its values with a filter, as in {}[type eq \"work\"].value",
                    at.attribute.name, at.attribute.name
                ),
            ));
        }
        return Ok(Path { at, filter: None });
    };
    let close = closing_bracket(text, open).ok_or_else(|| {
        ScimError::new(
            ScimType::InvalidPath,
            format!("unbalanced brackets in {text:?}"),
        )
    })?;
    let filter = text[open + 1..close].trim();
    let sub = match &text[close + 1..] {
        "" => None,
        rest => Some(rest.strip_prefix('.').ok_or_else(unknown)?),
    };
    let mut at = schema::lookup(kind, &text[..open]).ok_or_else(unknown)?;
    if at.sub_attribute.is_some() || !at.attribute.multi_valued || filter.is_empty() {
        return Err(ScimError::new(
            ScimType::InvalidPath,
            format!("{text:?}: a value filter selects values of a multi-valued attribute"),
        ));
    }
    if let Some(sub) = sub {
        at.sub_attribute = Some(at.attribute.sub_attribute(sub).ok_or_else(unknown)?);
    }
    Ok(Path {
        at,
        filter: Some(filter.to_owned()),
    })
}

/// The index of the `]` closing the `[` at `open`, skipping brackets inside
/// the filter's quoted strings.
fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in text[open + 1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ']' if !quoted => return Some(open + 1 + i),
            '[' if !quoted => return None,
            _ => {}
        }
    }
    None
}

/// The (path, value) pairs of a path-less add or replace: each key of the
/// value object is an attribute, an extension's URN (whose value is an
/// object of that extension's attributes), or, as Entra ID sends them, a
/// whole path expression (`name.givenName`, `emails[type eq "work"].value`,
/// `urn:…:enterprise:2.0:User:employeeNumber`).
///
/// A `schemas` key is skipped: the service maintains `schemas` itself from
/// the extension attributes the resource holds (see `tidy_extensions`).
fn members_of(kind: Kind, value: &Value) -> Result<Vec<(Path, &Value)>, ScimError> {
    let object = value.as_object().ok_or_else(|| {
        ScimError::new(
            ScimType::InvalidValue,
            "without a \"path\", \"value\" must be an object of attributes",
        )
    })?;
    let mut members = Vec::new();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let extension = schema::extensions(kind)
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(key));
        match extension {
            Some(extension) => {
                let inner = value.as_object().ok_or_else(|| {
                    ScimError::new(
                        ScimType::InvalidValue,
                        format!("{} must be an object of its attributes", extension.id),
                    )
                })?;
                for (name, value) in inner {
                    if name.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    let path = parse_path(kind, &format!("{}:{name}", extension.id))?;
                    members.push((path, value));
                }
            }
            None => members.push((parse_path(kind, key)?, value)),
        }
    }
    Ok(members)
}

/// How a filtered add or replace treats a filter that matches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lenience {
    /// The request named the path: an add creates the value the filter
    /// describes, a replace fails with `noTarget` (RFC 7644 §3.5.2.3).
    Rfc,
    /// The path was a key of a path-less value (Entra ID's way to say "set
    /// the work email"): both add and replace create the value.
    PathAsKey,
}

/// Add or replace `value` at `path`.
fn set(
    resource: &mut Value,
    op: Op,
    path: &Path,
    value: &Value,
    filter: &dyn ValueFilter,
    lenience: Lenience,
) -> Result<(), ScimError> {
    let attribute = path.at.attribute;
    let container = container(resource, path.at.extension)?;
    let old = container.get(attribute.name).cloned();
    let new = match (&path.filter, path.at.sub_attribute) {
        (None, None) if attribute.multi_valued => {
            let values = coerce_values(attribute, value)?;
            match op {
                // Replacing a multi-valued attribute replaces all its values
                // (RFC 7644 §3.5.2.3).
                Op::Replace => non_empty(values),
                // Adding appends the values not already there (§3.5.2.1).
                _ => {
                    let mut list = as_list(old.as_ref());
                    let mut written = Vec::new();
                    for value in values {
                        if !list.iter().any(|v| same_value(attribute, v, &value)) {
                            written.push(list.len());
                            list.push(value);
                        }
                    }
                    one_primary(&mut list, &written);
                    non_empty(list)
                }
            }
        }
        // A single-valued attribute: add and replace both set it; a complex
        // one keeps the sub-attributes the value does not mention.
        (None, None) => match (attribute.kind, value) {
            (_, Value::Null) if op == Op::Add => return Ok(()),
            (_, Value::Null) => None,
            (Type::Complex, _) => {
                merge(attribute, old.as_ref(), &complex_value(attribute, value)?)?
            }
            _ => coerce(attribute, value)?,
        },
        // `name.givenName`: a sub-attribute of a single-valued complex one.
        (None, Some(sub)) => {
            let new_sub = coerce(sub, value)?;
            if new_sub.is_none() && op == Op::Add {
                return Ok(());
            }
            let mut subs = old
                .as_ref()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            check_write(sub, subs.get(sub.name), new_sub.as_ref())?;
            put(&mut subs, sub.name, new_sub);
            (!subs.is_empty()).then_some(Value::Object(subs))
        }
        (Some(text), _) => {
            let create = op == Op::Add || lenience == Lenience::PathAsKey;
            let list = set_filtered(path, text, old.as_ref(), value, op, create, filter)?;
            non_empty(list)
        }
    };
    check_write(attribute, old.as_ref(), new.as_ref())?;
    put(container, attribute.name, new);
    Ok(())
}

/// Add or replace at `attr[filter]` or `attr[filter].sub`: the new list.
fn set_filtered(
    path: &Path,
    text: &str,
    old: Option<&Value>,
    value: &Value,
    op: Op,
    create: bool,
    filter: &dyn ValueFilter,
) -> Result<Vec<Value>, ScimError> {
    let (attribute, sub) = (path.at.attribute, path.at.sub_attribute);
    let mut list = as_list(old);
    let mut hits = matching(attribute, &list, text, filter)?;
    let seeded = hits.is_empty();
    if seeded {
        if !create {
            return Err(no_match(attribute, text));
        }
        // Entra ID adds a first work email as `add emails[type eq "work"].value`;
        // a Microsoft engineer's answer (https://learn.microsoft.com/en-us/answers/questions/120490/patch-request-in-scim-with-azure-ad)
        // says to create the value then. Its sub-attributes come from the
        // filter, which must therefore be a plain `sub eq literal`.
        let element = seed(attribute, text).ok_or_else(|| no_match(attribute, text))?;
        hits.push(list.len());
        list.push(Value::Object(element));
    }
    for &i in &hits {
        let element = list[i].as_object().cloned().unwrap_or_default();
        list[i] = match sub {
            Some(sub) => {
                let new_sub = coerce(sub, value)?;
                let mut element = element;
                check_write(sub, element.get(sub.name), new_sub.as_ref())?;
                put(&mut element, sub.name, new_sub);
                Value::Object(element)
            }
            None => {
                let subs = complex_value(attribute, value)?;
                // Replace swaps each matched value for the new one (RFC 7644
                // §3.5.2.3); add merges into it.
                let base = (op == Op::Add || seeded).then_some(Value::Object(element));
                merge(attribute, base.as_ref(), &subs)?.unwrap_or_else(|| Value::Object(Map::new()))
            }
        };
    }
    one_primary(&mut list, &hits);
    list.retain(|v| v.as_object().is_none_or(|o| !o.is_empty()));
    Ok(list)
}

/// Remove at `path`.
fn remove(
    resource: &mut Value,
    path: &Path,
    value: Option<&Value>,
    filter: &dyn ValueFilter,
) -> Result<(), ScimError> {
    let attribute = path.at.attribute;
    let container = container(resource, path.at.extension)?;
    let old = container.get(attribute.name).cloned();
    let new = match (&path.filter, path.at.sub_attribute) {
        // Entra ID removes group members with `"path": "members"` and the
        // members to remove as the value, instead of a filter: remove the
        // listed values only. Without a value the attribute goes.
        (None, None) => match value.filter(|v| !v.is_null()) {
            Some(value) if attribute.multi_valued => {
                let gone = coerce_values(attribute, value)?;
                let mut list = as_list(old.as_ref());
                list.retain(|v| !gone.iter().any(|g| same_value(attribute, v, g)));
                non_empty(list)
            }
            _ => None,
        },
        (None, Some(sub)) => {
            let mut subs = old
                .as_ref()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            check_write(sub, subs.get(sub.name), None)?;
            subs.remove(sub.name);
            (!subs.is_empty()).then_some(Value::Object(subs))
        }
        // A filter that matches nothing is `noTarget` (RFC 7644 §3.12,
        // "the specified path value contains a filter that yields no match").
        (Some(text), sub) => {
            let mut list = as_list(old.as_ref());
            let hits = matching(attribute, &list, text, filter)?;
            if hits.is_empty() {
                return Err(no_match(attribute, text));
            }
            match sub {
                None => {
                    list = (list.into_iter().enumerate())
                        .filter(|(i, _)| !hits.contains(i))
                        .map(|(_, v)| v)
                        .collect();
                }
                Some(sub) => {
                    for &i in &hits {
                        if let Some(element) = list[i].as_object_mut() {
                            check_write(sub, element.get(sub.name), None)?;
                            element.remove(sub.name);
                        }
                    }
                    list.retain(|v| v.as_object().is_none_or(|o| !o.is_empty()));
                }
            }
            non_empty(list)
        }
    };
    check_write(attribute, old.as_ref(), new.as_ref())?;
    put(container, attribute.name, new);
    Ok(())
}

/// The refusals of RFC 7644 §3.5.2 for writing `new` where `old` was (`None`
/// is unassigned). An unchanged value is always allowed: Okta renames a
/// group with a path-less replace of `{"id": …, "displayName": …}`, and
/// Entra ID may send `id` along in a path-less replace too; RFC 7643 §7 only
/// forbids *changing* a readOnly attribute, so the same `id` is harmless and
/// a different one is refused.
fn check_write(
    attribute: &Attribute,
    old: Option<&Value>,
    new: Option<&Value>,
) -> Result<(), ScimError> {
    if old == new {
        return Ok(());
    }
    match attribute.mutability {
        Mutability::ReadOnly => Err(ScimError::new(
            ScimType::Mutability,
            format!("{} is read-only", attribute.name),
        )),
        // "a client MAY "add" a value to an "immutable" attribute if the
        // attribute had no previous value" (RFC 7644 §3.5.2).
        Mutability::Immutable if old.is_some() => Err(ScimError::new(
            ScimType::Mutability,
            format!("{} is immutable: it cannot change once set", attribute.name),
        )),
        _ if attribute.required && new.is_none() => Err(ScimError::new(
            ScimType::InvalidValue,
            format!("{} is required: it cannot be removed", attribute.name),
        )),
        _ => Ok(()),
    }
}

/// `value` as a value of `attribute` (one value, for a multi-valued one),
/// in the table's spelling; `None` for null, which SCIM treats as
/// unassigned (RFC 7643 §2.5).
fn coerce(attribute: &'static Attribute, value: &Value) -> Result<Option<Value>, ScimError> {
    let value = match (attribute.kind, value) {
        (_, Value::Null) => return Ok(None),
        (Type::String | Type::Reference | Type::DateTime | Type::Binary, Value::String(_)) => {
            value.clone()
        }
        (Type::Boolean, Value::Bool(_)) => value.clone(),
        // Entra ID sends Booleans as "True"/"False" (its SCIM compatibility
        // page, see the tests); only a Boolean attribute takes them so.
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        (Type::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => value.clone(),
        (Type::Decimal, Value::Number(_)) => value.clone(),
        (Type::Complex, _) => {
            let mut subs = Map::new();
            for (name, value) in &complex_value(attribute, value)? {
                let sub = sub_attribute_of(attribute, name)?;
                // Entra ID sends `"$ref": null` in each member it adds.
                if let Some(value) = coerce(sub, value)? {
                    subs.insert(sub.name.to_owned(), value);
                }
            }
            if subs.is_empty() {
                return Ok(None);
            }
            Value::Object(subs)
        }
        (kind, _) => return Err(invalid_value(attribute, type_phrase(kind))),
    };
    Ok(Some(value))
}

/// The values of a multi-valued attribute: an array, or one value alone.
fn coerce_values(attribute: &'static Attribute, value: &Value) -> Result<Vec<Value>, ScimError> {
    let values = match value {
        Value::Array(values) => values.as_slice(),
        one => std::slice::from_ref(one),
    };
    let mut out = Vec::new();
    for value in values {
        out.extend(coerce(attribute, value)?);
    }
    Ok(out)
}

/// `subs` (as the request spelt them) written over the sub-attributes of
/// `old`, each write checked; a null sub-attribute is removed. `None` when
/// no sub-attribute is left.
fn merge(
    attribute: &'static Attribute,
    old: Option<&Value>,
    subs: &Map<String, Value>,
) -> Result<Option<Value>, ScimError> {
    let mut merged = old.and_then(Value::as_object).cloned().unwrap_or_default();
    for (name, value) in subs {
        let sub = sub_attribute_of(attribute, name)?;
        let value = coerce(sub, value)?;
        check_write(sub, merged.get(sub.name), value.as_ref())?;
        put(&mut merged, sub.name, value);
    }
    Ok((!merged.is_empty()).then_some(Value::Object(merged)))
}

/// The sub-attribute a value's member `name` stands for.
fn sub_attribute_of(
    attribute: &'static Attribute,
    name: &str,
) -> Result<&'static Attribute, ScimError> {
    attribute.sub_attribute(name).ok_or_else(|| {
        ScimError::new(
            ScimType::InvalidValue,
            format!("{} has no sub-attribute {name:?}", attribute.name),
        )
    })
}

/// The sub-attributes a value for the complex `attribute` gives: the
/// object's members, or, for an attribute with a `value` sub-attribute, a
/// bare string as that `value` (Entra ID may write the enterprise `manager`
/// as the manager's id alone; a member may be named by its id alone).
fn complex_value(attribute: &Attribute, value: &Value) -> Result<Map<String, Value>, ScimError> {
    match value {
        Value::Object(subs) => Ok(subs.clone()),
        Value::String(_) if attribute.sub_attributes.iter().any(|s| s.name == "value") => {
            let mut subs = Map::new();
            subs.insert("value".to_owned(), value.clone());
            Ok(subs)
        }
        _ => Err(invalid_value(attribute, "an object of its sub-attributes")),
    }
}

/// Whether two values of a multi-valued attribute are the same value: the
/// same `value` sub-attribute when both have one (a member is the same
/// member whatever its `display`), else equal.
fn same_value(attribute: &'static Attribute, a: &Value, b: &Value) -> bool {
    let key = attribute.sub_attribute("value");
    match (key, a.get("value"), b.get("value")) {
        (Some(key), Some(Value::String(x)), Some(Value::String(y))) if !key.case_exact => {
            x.eq_ignore_ascii_case(y)
        }
        (Some(_), Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// After writing the values at `written`, at most one value is primary: a
/// written primary value takes the mark from the others (RFC 7644 §3.5.2).
fn one_primary(list: &mut [Value], written: &[usize]) {
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    let Some(&winner) = written.iter().rev().find(|&&i| is_primary(&list[i])) else {
        return;
    };
    for (i, value) in list.iter_mut().enumerate() {
        if i != winner && is_primary(value) {
            value["primary"] = Value::Bool(false);
        }
    }
}

/// The indices of the values of `list` that `text` selects.
fn matching(
    attribute: &Attribute,
    list: &[Value],
    text: &str,
    filter: &dyn ValueFilter,
) -> Result<Vec<usize>, ScimError> {
    let mut hits = Vec::new();
    for (i, element) in list.iter().enumerate() {
        if filter.matches(text, attribute.name, element)? {
            hits.push(i);
        }
    }
    Ok(hits)
}

/// The value a filter of the form `sub eq literal` describes, e.g.
/// `{"type": "work"}` for `type eq "work"`; `None` for any other filter.
fn seed(attribute: &'static Attribute, text: &str) -> Option<Map<String, Value>> {
    let (name, rest) = text.trim().split_once(char::is_whitespace)?;
    let (op, literal) = rest.trim_start().split_once(char::is_whitespace)?;
    if !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let sub = attribute.sub_attribute(name)?;
    let literal: Value = serde_json::from_str(literal.trim()).ok()?;
    let mut element = Map::new();
    element.insert(sub.name.to_owned(), coerce(sub, &literal).ok()??);
    Some(element)
}

/// The object holding the attributes of `extension` (`None`: the top
/// level), created if missing; `tidy_extensions` drops it again if it stays
/// empty.
fn container<'r>(
    resource: &'r mut Value,
    extension: Option<&'static str>,
) -> Result<&'r mut Map<String, Value>, ScimError> {
    let top = resource
        .as_object_mut()
        .ok_or_else(|| ScimError::status(500, "the stored resource is not a JSON object"))?;
    let Some(urn) = extension else {
        return Ok(top);
    };
    top.entry(urn)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| ScimError::status(500, format!("the stored {urn} is not an object")))
}

/// Keeps `schemas` in step with the extensions: an extension object left
/// empty goes, with its URN; one with attributes has its URN listed.
fn tidy_extensions(resource: &mut Value, kind: Kind) {
    let Some(top) = resource.as_object_mut() else {
        return;
    };
    for extension in schema::extensions(kind) {
        let holds = match top.get(extension.id) {
            None => continue,
            Some(object) => object.as_object().is_none_or(|o| !o.is_empty()),
        };
        if !holds {
            top.remove(extension.id);
        }
        let schemas = top
            .entry("schemas")
            .or_insert_with(|| Value::Array(vec![schema::core(kind).id.into()]));
        if let Some(schemas) = schemas.as_array_mut() {
            let listed = |u: &Value| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(extension.id))
            };
            match (holds, schemas.iter().any(listed)) {
                (true, false) => schemas.push(extension.id.into()),
                (false, true) => schemas.retain(|u| !listed(u)),
                _ => {}
            }
        }
    }
}

fn put(object: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    match value {
        Some(value) => {
            object.insert(name.to_owned(), value);
        }
        None => {
            object.remove(name);
        }
    }
}

fn as_list(value: Option<&Value>) -> Vec<Value> {
    value.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// An empty multi-valued attribute is unassigned (RFC 7644 §3.5.2.2).
fn non_empty(list: Vec<Value>) -> Option<Value> {
    (!list.is_empty()).then_some(Value::Array(list))
}

/// A member of `object` by case-insensitive name (RFC 7644 §3.5.2 member
/// names as Okta and Entra ID send them are lower case, but nothing says so).
fn get<'o>(object: &'o Map<String, Value>, name: &str) -> Option<&'o Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn type_phrase(kind: Type) -> &'static str {
    match kind {
        Type::String | Type::Reference | Type::DateTime | Type::Binary => "a string",
        Type::Boolean => "a Boolean",
        Type::Integer => "an integer",
        Type::Decimal => "a number",
        Type::Complex => "an object of its sub-attributes",
    }
}

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::new(ScimType::InvalidSyntax, detail)
}

fn invalid_value(attribute: &Attribute, expected: &str) -> ScimError {
    ScimError::new(
        ScimType::InvalidValue,
        format!("{} must be {expected}", attribute.name),
    )
}

fn no_match(attribute: &Attribute, text: &str) -> ScimError {
    ScimError::new(
        ScimType::NoTarget,
        format!("no value of {} matches [{text}]", attribute.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER, GROUP, USER};
    use serde_json::json;

    // Where the vendor shapes below come from:
    const OKTA: &str = "https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20";
    const ENTRA: &str = "https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups";
    const ENTRA_COMPAT: &str = "https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility";

    /// A stand-in for the filter module, for `attr eq "literal"` only.
    fn eq_only(filter: &str, _attribute: &str, element: &Value) -> Result<bool, ScimError> {
        let (name, literal) = filter
            .split_once(" eq ")
            .ok_or_else(|| ScimError::new(ScimType::InvalidFilter, filter))?;
        let literal: Value = serde_json::from_str(literal.trim())
            .map_err(|_| ScimError::new(ScimType::InvalidFilter, filter))?;
        let actual = element
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name.trim())))
            .map(|(_, v)| v);
        Ok(match (actual, &literal) {
            (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (Some(a), b) => a == b,
            (None, _) => false,
        })
    }

    fn patch(operations: Value) -> Value {
        json!({"schemas": [PATCH_OP], "Operations": operations})
    }

    fn user() -> Value {
        json!({
            "schemas": [USER],
            "id": "2819c223",
            "externalId": "bjensen",
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"},
            ],
            "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z",
                     "lastModified": "2026-01-01T00:00:00Z"},
        })
    }

    fn group() -> Value {
        json!({
            "schemas": [GROUP],
            "id": "e9e30dba",
            "displayName": "Tour Guides",
            "members": [{"value": "2819c223", "display": "Babs Jensen"}],
            "meta": {"resourceType": "Group"},
        })
    }

    fn apply_to(mut resource: Value, kind: Kind, request: Value) -> Result<Value, ScimError> {
        apply(&mut resource, &request, kind, &eq_only)?;
        Ok(resource)
    }

    /// The error of a refused request, after checking the resource is unchanged.
    fn refusal(resource: Value, kind: Kind, request: Value) -> ScimType {
        let mut patched = resource.clone();
        let e = apply(&mut patched, &request, kind, &eq_only).expect_err("refused");
        assert_eq!(patched, resource, "a refused PATCH changes nothing");
        e.scim_type.unwrap()
    }

    // --- Okta ---

    #[test]
    fn okta_deactivates_with_a_pathless_replace() {
        let _ = OKTA; // "Update a specific User (PATCH)"
        let request = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}]
        });
        let patched = apply_to(user(), Kind::User, request).unwrap();
        assert_eq!(patched["active"], false);
        assert_eq!(patched["userName"], "bjensen@example.com");
    }

    #[test]
    fn okta_adds_and_removes_group_members() {
        let _ = OKTA; // "Update a specific Group membership (PATCH)"
        let add = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{
                "op": "add",
                "path": "members",
                "value": [{"value": "23a35c27-23d3-4c03-b4c5-6443c09e7173", "display": "test.user@okta.local"}]
            }]
        });
        let patched = apply_to(group(), Kind::Group, add.clone()).unwrap();
        assert_eq!(patched["members"].as_array().unwrap().len(), 2);
        // Adding a member again changes nothing (RFC 7644 §3.5.2.1).
        assert_eq!(
            apply_to(patched.clone(), Kind::Group, add).unwrap(),
            patched
        );

        let remove = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{
                "op": "remove",
                "path": "members[value eq \"23a35c27-23d3-4c03-b4c5-6443c09e7173\"]"
            }]
        });
        assert_eq!(apply_to(patched, Kind::Group, remove).unwrap(), group());
    }

    #[test]
    fn okta_renames_a_group_with_its_unchanged_id_in_the_value() {
        let _ = OKTA; // "Update a specific Group name"
        let request = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"id": "e9e30dba", "displayName": "Test SCIMv2"}}]
        });
        let patched = apply_to(group(), Kind::Group, request).unwrap();
        assert_eq!(patched["displayName"], "Test SCIMv2");
        assert_eq!(patched["id"], "e9e30dba");
        // A different id is a change to a readOnly attribute.
        let request =
            patch(json!([{"op": "replace", "value": {"id": "other", "displayName": "x"}}]));
        assert_eq!(refusal(group(), Kind::Group, request), ScimType::Mutability);
    }

    // --- Microsoft Entra ID ---

    #[test]
    fn entra_disables_a_user_with_a_capitalised_op_and_a_string_boolean() {
        let _ = ENTRA_COMPAT; // "PATCH ... "value": "False"" (string Booleans, PascalCase op)
        let request = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
        });
        assert_eq!(
            apply_to(user(), Kind::User, request).unwrap()["active"],
            false
        );
        // Only a Boolean attribute turns "True" into true.
        let request = patch(json!([{"op": "Replace", "path": "title", "value": "True"}]));
        assert_eq!(
            apply_to(user(), Kind::User, request).unwrap()["title"],
            "True"
        );
        let request = patch(json!([{"op": "Replace", "path": "active", "value": "yes"}]));
        assert_eq!(refusal(user(), Kind::User, request), ScimType::InvalidValue);
    }

    #[test]
    fn entra_updates_multi_and_single_valued_properties() {
        let _ = ENTRA; // "Update User [Multi-valued properties]", "[Single-valued properties]"
        let request = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {"op": "Replace", "path": "userName", "value": "5b50642d@testuser.com"}
            ]
        });
        let patched = apply_to(user(), Kind::User, request).unwrap();
        assert_eq!(
            patched["emails"],
            json!([
                {"value": "updatedEmail@microsoft.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"},
            ])
        );
        assert_eq!(
            patched["name"],
            json!({"givenName": "Barbara", "familyName": "updatedFamilyName"})
        );
        assert_eq!(patched["userName"], "5b50642d@testuser.com");
    }

    #[test]
    fn entra_adds_a_first_work_email_through_a_filtered_path() {
        // Entra sends Add with a filter for a value the user lacks; Microsoft's
        // answer: https://learn.microsoft.com/en-us/answers/questions/120490/patch-request-in-scim-with-azure-ad
        let mut bare = user();
        bare.as_object_mut().unwrap().remove("emails");
        let request = patch(json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "bjensen@example.com"},
            {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "Columbus"}
        ]));
        let patched = apply_to(bare, Kind::User, request).unwrap();
        assert_eq!(
            patched["emails"],
            json!([{"type": "work", "value": "bjensen@example.com"}])
        );
        assert_eq!(
            patched["addresses"],
            json!([{"type": "work", "formatted": "Columbus"}])
        );
    }

    #[test]
    fn entra_adds_and_removes_group_members_by_value_list() {
        let _ = ENTRA; // "Update Group [Add Members]", "Update Group [Remove Members]"
        let add = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]
        });
        let patched = apply_to(group(), Kind::Group, add).unwrap();
        assert_eq!(
            patched["members"],
            json!([{"value": "2819c223", "display": "Babs Jensen"}, {"value": "f648f8d5ea4e4cd38e9c"}])
        );
        let remove = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]
        });
        assert_eq!(apply_to(patched, Kind::Group, remove).unwrap(), group());
    }

    #[test]
    fn entra_renames_a_group() {
        let _ = ENTRA; // "Update Group [Non-member attributes]"
        let request = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "displayName", "value": "1879db59updatedDisplayName"}]
        });
        assert_eq!(
            apply_to(group(), Kind::Group, request).unwrap()["displayName"],
            "1879db59updatedDisplayName"
        );
    }

    #[test]
    fn entra_writes_path_expressions_as_keys_of_a_pathless_value() {
        let _ = ENTRA_COMPAT; // "Requests to replace multiple attributes" without the flag
        let request = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{
                "op": "Replace",
                "value": {
                    "displayName": "Pvlo",
                    "emails[type eq \"work\"].value": "TestBcwqnm@test.microsoft.com",
                    "name.givenName": "Gtfd",
                    "name.familyName": "Pkqf",
                    "externalId": "Eqpj",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Eqpj"
                }
            }]
        });
        let patched = apply_to(user(), Kind::User, request).unwrap();
        assert_eq!(patched["displayName"], "Pvlo");
        assert_eq!(
            patched["emails"][0]["value"],
            "TestBcwqnm@test.microsoft.com"
        );
        assert_eq!(
            patched["name"],
            json!({"givenName": "Gtfd", "familyName": "Pkqf"})
        );
        assert_eq!(patched["externalId"], "Eqpj");
        assert_eq!(patched[ENTERPRISE_USER], json!({"employeeNumber": "Eqpj"}));
        assert_eq!(patched["schemas"], json!([USER, ENTERPRISE_USER]));

        // The same as an Add, for a user without a work email, creates one.
        let mut bare = user();
        bare.as_object_mut().unwrap().remove("emails");
        let request = patch(
            json!([{"op": "Add", "value": {"emails[type eq \"work\"].value": "x@example.com", "nickName": "Babs"}}]),
        );
        let patched = apply_to(bare, Kind::User, request).unwrap();
        assert_eq!(
            patched["emails"],
            json!([{"type": "work", "value": "x@example.com"}])
        );
        assert_eq!(patched["nickName"], "Babs");
    }

    #[test]
    fn entra_sets_and_removes_the_enterprise_manager() {
        let _ = ENTRA; // enterprise extension attribute paths
        let request = patch(json!([
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
             "value": {"value": "26118915-6090-4610-87a4-2e1c4e3d7a44"}},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
             "value": "Tour Operations"}
        ]));
        let patched = apply_to(user(), Kind::User, request).unwrap();
        assert_eq!(
            patched[ENTERPRISE_USER],
            json!({"manager": {"value": "26118915-6090-4610-87a4-2e1c4e3d7a44"}, "department": "Tour Operations"})
        );
        assert_eq!(patched["schemas"], json!([USER, ENTERPRISE_USER]));
        // A bare id is taken as the manager's `value`.
        let request = patch(json!([{"op": "Replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "boss"}]));
        assert_eq!(
            apply_to(patched.clone(), Kind::User, request).unwrap()[ENTERPRISE_USER]["manager"],
            json!({"value": "boss"})
        );
        // Removing the last extension attributes drops the extension and its URN.
        let request = patch(json!([
            {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
            {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
        ]));
        assert_eq!(apply_to(patched, Kind::User, request).unwrap(), user());
    }

    // --- RFC 7644 §3.5.2 ---

    #[test]
    fn names_are_case_insensitive_and_stored_in_the_canonical_spelling() {
        let request = patch(json!([
            {"op": "add", "path": "NICKNAME", "value": "Babs"},
            {"op": "add", "path": "Name.MiddleName", "value": "J"},
            {"op": "add", "value": {"PhoneNumbers": [{"VALUE": "555-1234", "Type": "work"}]}}
        ]));
        let patched = apply_to(user(), Kind::User, request).unwrap();
        assert_eq!(patched["nickName"], "Babs");
        assert_eq!(patched["name"]["middleName"], "J");
        assert_eq!(
            patched["phoneNumbers"],
            json!([{"value": "555-1234", "type": "work"}])
        );
    }

    #[test]
    fn add_to_a_single_valued_attribute_replaces_it() {
        let request = patch(json!([{"op": "add", "path": "userName", "value": "babs"}]));
        assert_eq!(
            apply_to(user(), Kind::User, request).unwrap()["userName"],
            "babs"
        );
    }

    #[test]
    fn replace_of_a_multi_valued_attribute_replaces_all_its_values() {
        let request = patch(
            json!([{"op": "replace", "path": "emails", "value": [{"value": "new@example.com"}]}]),
        );
        assert_eq!(
            apply_to(user(), Kind::User, request).unwrap()["emails"],
            json!([{"value": "new@example.com"}])
        );
    }

    #[test]
    fn replace_of_a_complex_attribute_keeps_the_sub_attributes_not_mentioned() {
        let request =
            patch(json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}]));
        assert_eq!(
            apply_to(user(), Kind::User, request).unwrap()["name"],
            json!({"givenName": "Babs", "familyName": "Jensen"})
        );
    }

    #[test]
    fn a_null_sub_attribute_is_removed_and_the_others_kept() {
        let request = patch(
            json!([{"op": "replace", "path": "name", "value": {"givenName": null, "middleName": "J"}}]),
        );
        assert_eq!(
            apply_to(user(), Kind::User, request).unwrap()["name"],
            json!({"familyName": "Jensen", "middleName": "J"})
        );
    }

    #[test]
    fn a_new_primary_value_takes_the_mark_from_the_others() {
        let request = patch(
            json!([{"op": "add", "path": "emails", "value": [{"value": "b@example.com", "primary": true}]}]),
        );
        let emails = apply_to(user(), Kind::User, request).unwrap()["emails"].clone();
        assert_eq!(emails[0]["primary"], false);
        assert_eq!(emails[2]["primary"], true);
    }

    #[test]
    fn remove_deletes_attributes_sub_attributes_and_filtered_values() {
        let request = patch(json!([
            {"op": "remove", "path": "name.givenName"},
            {"op": "remove", "path": "emails[type eq \"home\"]"},
            {"op": "remove", "path": "emails[type eq \"work\"].primary"},
            {"op": "remove", "path": "title"}
        ]));
        let patched = apply_to(user(), Kind::User, request).unwrap();
        assert_eq!(patched["name"], json!({"familyName": "Jensen"}));
        assert_eq!(
            patched["emails"],
            json!([{"value": "bjensen@example.com", "type": "work"}])
        );
        // Removing the last value leaves the attribute unassigned.
        let request = patch(json!([{"op": "remove", "path": "members[value eq \"2819c223\"]"}]));
        assert!(
            apply_to(group(), Kind::Group, request)
                .unwrap()
                .get("members")
                .is_none()
        );
    }

    #[test]
    fn a_filtered_add_merges_into_the_matches_or_makes_the_value() {
        let request = patch(json!([
            {"op": "add", "path": "emails[type eq \"home\"]", "value": {"display": "Babs at home"}},
            {"op": "add", "path": "emails[type eq \"other\"]", "value": {"value": "b@other.example"}}
        ]));
        let emails = apply_to(user(), Kind::User, request).unwrap()["emails"].clone();
        assert_eq!(
            emails,
            json!([
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home", "display": "Babs at home"},
                {"type": "other", "value": "b@other.example"},
            ])
        );
    }

    #[test]
    fn a_filtered_replace_swaps_the_matched_values() {
        let request = patch(json!([{"op": "replace", "path": "emails[type eq \"home\"]",
                                    "value": {"value": "new@jensen.org", "type": "home"}}]));
        assert_eq!(
            apply_to(user(), Kind::User, request).unwrap()["emails"][1],
            json!({"value": "new@jensen.org", "type": "home"})
        );
    }

    #[test]
    fn remove_without_a_path_is_no_target() {
        let request = patch(json!([{"op": "remove"}]));
        assert_eq!(refusal(user(), Kind::User, request), ScimType::NoTarget);
    }

    #[test]
    fn a_filter_that_matches_nothing_is_no_target_for_replace_and_remove() {
        for op in ["replace", "remove"] {
            let request =
                patch(json!([{"op": op, "path": "emails[type eq \"other\"].value", "value": "x"}]));
            assert_eq!(
                refusal(user(), Kind::User, request),
                ScimType::NoTarget,
                "{op}"
            );
        }
        // An add with a filter it cannot turn into a value, too.
        let request =
            patch(json!([{"op": "add", "path": "emails[value co \"x\"].type", "value": "work"}]));
        let mut resource = user();
        let e = apply(
            &mut resource,
            &request,
            Kind::User,
            &|_: &str, _: &str, _: &Value| Ok(false),
        );
        assert_eq!(e.unwrap_err().scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn read_only_and_immutable_attributes_refuse_changes() {
        for request in [
            json!([{"op": "replace", "path": "id", "value": "other"}]),
            json!([{"op": "remove", "path": "id"}]),
            json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            json!([{"op": "add", "path": "groups", "value": [{"value": "e9e30dba"}]}]),
        ] {
            assert_eq!(
                refusal(user(), Kind::User, patch(request)),
                ScimType::Mutability
            );
        }
        // A member's value is immutable: the member can go, but not change.
        let request = patch(
            json!([{"op": "replace", "path": "members[value eq \"2819c223\"].value", "value": "x"}]),
        );
        assert_eq!(refusal(group(), Kind::Group, request), ScimType::Mutability);
        // Writing an unchanged read-only value is harmless.
        let request = patch(json!([{"op": "replace", "path": "id", "value": "2819c223"}]));
        assert_eq!(apply_to(user(), Kind::User, request).unwrap(), user());
    }

    #[test]
    fn required_attributes_cannot_be_removed() {
        let request = patch(json!([{"op": "remove", "path": "userName"}]));
        assert_eq!(refusal(user(), Kind::User, request), ScimType::InvalidValue);
        let request = patch(json!([{"op": "replace", "path": "displayName", "value": null}]));
        assert_eq!(
            refusal(group(), Kind::Group, request),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn bad_paths_are_invalid_path() {
        for path in [
            "shoeSize",
            "name.shoeSize",
            "emails.value",
            "emails[type eq \"work\"",
            "userName[type eq \"work\"]",
            "emails[type eq \"work\"]value",
            "department",
            "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
        ] {
            let request = patch(json!([{"op": "replace", "path": path, "value": "x"}]));
            assert_eq!(
                refusal(user(), Kind::User, request),
                ScimType::InvalidPath,
                "{path}"
            );
        }
    }

    #[test]
    fn wrong_types_are_invalid_value() {
        for request in [
            json!([{"op": "replace", "path": "userName", "value": 7}]),
            json!([{"op": "replace", "path": "name", "value": "Barbara"}]),
            json!([{"op": "add", "path": "emails", "value": [{"value": "x", "colour": "red"}]}]),
            json!([{"op": "replace", "value": "active"}]),
        ] {
            assert_eq!(
                refusal(user(), Kind::User, patch(request)),
                ScimType::InvalidValue
            );
        }
    }

    #[test]
    fn malformed_requests_are_invalid_syntax() {
        for request in [
            json!({"Operations": [{"op": "replace", "path": "title", "value": "x"}]}),
            json!({"schemas": [PATCH_OP]}),
            json!({"schemas": [PATCH_OP], "Operations": []}),
            patch(json!([{"op": "move", "path": "title"}])),
            patch(json!([{"op": "add", "path": "title"}])),
            patch(json!([{"op": "add", "path": 7, "value": "x"}])),
            json!([]),
        ] {
            assert_eq!(
                refusal(user(), Kind::User, request),
                ScimType::InvalidSyntax
            );
        }
    }

    #[test]
    fn the_operations_are_all_or_nothing() {
        let request = patch(json!([
            {"op": "replace", "path": "title", "value": "Tour Guide"},
            {"op": "replace", "path": "id", "value": "other"}
        ]));
        assert_eq!(refusal(user(), Kind::User, request), ScimType::Mutability);
    }

    #[test]
    fn errors_name_the_operation() {
        let request = patch(json!([
            {"op": "replace", "path": "title", "value": "x"},
            {"op": "replace", "path": "shoeSize", "value": "x"}
        ]));
        let e = apply(&mut user(), &request, Kind::User, &eq_only).unwrap_err();
        assert!(e.detail.starts_with("Operations[1]: "), "{}", e.detail);
    }

    #[test]
    fn filter_errors_pass_through() {
        let request = patch(json!([{"op": "remove", "path": "emails[type zz \"work\"]"}]));
        assert_eq!(
            refusal(user(), Kind::User, request),
            ScimType::InvalidFilter
        );
    }
}
