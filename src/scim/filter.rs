//! SCIM filters (RFC 7644 §3.4.2.2): the `filter` query parameter of
//! `GET /Users` and `GET /Groups`, and the bracketed value filter of a PATCH
//! path (`members[value eq "2819c223"]`).
//!
//! [`parse`] turns the text into a [`Filter`] by recursive descent over the
//! grammar of the RFC's Figure 1, with errata 4690 and 7322 (a value filter
//! holds no nested value path, but may hold parentheses and `and`/`or`):
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER      ; "and" binds tighter
//! compValue = false / null / true / number / string   ; JSON (RFC 7159)
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! ATTRNAME  = ALPHA *(nameChar)                       ; or "$ref"
//! ```
//!
//! Keywords, operators and attribute names are case-insensitive. Besides the
//! RFC's grammar it accepts `valuePath "." subAttr compareOp compValue`
//! (`emails[type eq "work"].value eq "x"`), which Entra ID sends, and it is
//! lenient about whitespace: any run of ASCII whitespace (or none, where the
//! tokens cannot run together) stands for the grammar's `SP`.
//!
//! [`Filter::matches`] evaluates a filter on a resource as GET returns it.
//! The attribute table is not read here: whether an attribute compares
//! case-exactly is asked of the caller (see [`Filter::matches`]), so the
//! schema's table plugs in without this module depending on it.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::error::{ScimError, ScimType};
use super::schema;

/// The longest filter [`parse`] reads, in bytes. Identity providers send
/// filters of a few dozen bytes; the bound keeps a hostile query's parse and
/// evaluation cheap.
pub const MAX_FILTER_BYTES: usize = 4096;

/// The deepest nesting of parentheses, `not` and value paths [`parse`]
/// accepts. The parser recurses once per level, so the bound is what keeps
/// `((((…` from exhausting the stack.
pub const MAX_DEPTH: usize = 32;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every one holds (`a and b and c`, flattened).
    And(Vec<Filter>),
    /// Any one holds.
    Or(Vec<Filter>),
    Not(Box<Filter>),
    /// `attr pr`.
    Present(AttrPath),
    /// `attr op value`.
    Compare(AttrPath, CompareOp, CompValue),
    /// `attr[filter]`, and with `then`, `attr[filter].sub op value`: some
    /// element of `attr` satisfies `filter` (and `then`, which names the
    /// element's sub-attribute).
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
        then: Option<Box<Filter>>,
    },
}

/// An attribute path: `[urn:…:]name[.sub]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN of an extension attribute, as written (its attributes
    /// live in the resource under that URN). `None` for the core schemas,
    /// whose attributes are top-level.
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
    /// The path in lowercase, with an extension's URN, and prefixed with the
    /// enclosing attribute inside a value filter: `"username"`,
    /// `"emails.value"` (for `emails.value` and for `value` in
    /// `emails[value eq "x"]`),
    /// `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department"`.
    pub canonical: String,
}

/// RFC 7644 Table 3's comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

impl CompareOp {
    fn keyword(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Lt => "lt",
            Self::Ge => "ge",
            Self::Le => "le",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Lt | Self::Ge | Self::Le)
    }

    fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }
}

/// The value a comparison is made with.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    String(String),
    Number(Number),
    Bool(bool),
    Null,
}

/// Parses a `filter` query parameter.
pub fn parse(text: &str) -> Result<Filter, ScimError> {
    Parser::new(text, None).filter()
}

/// Parses the filter inside a PATCH path's brackets, `value eq "x"` in
/// `members[value eq "x"]`, with `parent` the attribute before the bracket
/// (`"members"`). Its attribute paths name the parent's sub-attributes, as in
/// a value path of a filter: the canonical paths (and so what `case_exact`
/// is asked and what [`Filter::equality`] returns) are `"members.value"`,
/// and a nested value path is refused. [`parse`] on the same text works
/// too, with the canonical paths relative to the element (`"value"`).
pub fn parse_within(parent: &str, text: &str) -> Result<Filter, ScimError> {
    Parser::new(text, Some(parent.to_ascii_lowercase())).filter()
}

impl Filter {
    /// Whether `resource` (a resource as GET returns it, or one element of a
    /// multi-valued attribute for a PATCH value filter) satisfies the filter.
    ///
    /// `case_exact` is asked, with an attribute's canonical path (see
    /// [`AttrPath::canonical`]; `"emails.value"` when a multi-valued complex
    /// attribute is compared through its `value`), whether its strings
    /// compare case-exactly; the schema's table answers it.
    ///
    /// Semantics (RFC 7644 §3.4.2.2, with the choices the RFC leaves open):
    /// - a multi-valued attribute matches if any of its values does;
    /// - an attribute that holds objects and is named without a
    ///   sub-attribute (`emails co "@x"`, `manager eq "26118915"`) is
    ///   compared through each object's `value`;
    /// - `ne` is `not eq`: an absent attribute is `ne` anything, and a
    ///   multi-valued one is `ne "x"` only if no value is `"x"`;
    /// - `pr`: present and not null, `""`, `[]` or `{}`; `eq null` is
    ///   `not pr` and `ne null` is `pr`;
    /// - strings compare case-insensitively (Unicode lowercase) unless
    ///   `case_exact` says otherwise; `gt`/`ge`/`lt`/`le` compare them by
    ///   code point, except that two RFC 3339 date-times (both sides) compare
    ///   by instant, offsets taken into account (`eq`/`ne` too);
    /// - numbers compare numerically, booleans only with `eq`/`ne`;
    /// - a value of another JSON type than the filter's value never matches
    ///   (`age eq "30"` does not match `30`).
    pub fn matches(&self, resource: &Value, case_exact: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Filter::And(all) => all.iter().all(|f| f.matches(resource, case_exact)),
            Filter::Or(any) => any.iter().any(|f| f.matches(resource, case_exact)),
            Filter::Not(f) => !f.matches(resource, case_exact),
            Filter::Present(path) => present(resource, path),
            Filter::Compare(path, op, CompValue::Null) => match op {
                CompareOp::Eq => !present(resource, path),
                _ => present(resource, path), // `ne`: the parser refuses the others
            },
            Filter::Compare(path, CompareOp::Ne, value) => {
                !compare_any(resource, path, CompareOp::Eq, value, case_exact)
            }
            Filter::Compare(path, op, value) => compare_any(resource, path, *op, value, case_exact),
            Filter::ValuePath { attr, filter, then } => elements(resource, attr).any(|element| {
                filter.matches(element, case_exact)
                    && then.as_ref().is_none_or(|t| t.matches(element, case_exact))
            }),
        }
    }

    /// An `attr eq "string"` every match satisfies, for the store to narrow
    /// the candidates by an index before evaluating the whole filter: the
    /// filter itself, a conjunct of a top-level `and`, or the same inside a
    /// value path (`emails[type eq "work" and value eq "x"]` gives
    /// `("emails.value", "x")`). The path is [`AttrPath::canonical`]; note
    /// that `emails eq "x"` gives `("emails", "x")`, which means
    /// `emails.value` for a multi-valued complex attribute. The value
    /// compares as the attribute does: case-insensitively unless the
    /// attribute is caseExact, so the index must too.
    pub fn equality(&self) -> Option<(&str, &str)> {
        match self {
            Filter::Compare(path, CompareOp::Eq, CompValue::String(s)) => {
                Some((&path.canonical, s))
            }
            Filter::And(all) => all.iter().find_map(Filter::equality),
            Filter::ValuePath { filter, then, .. } => then
                .as_deref()
                .and_then(Filter::equality)
                .or_else(|| filter.equality()),
            _ => None,
        }
    }
}

// --- Parsing -------------------------------------------------------------

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
    /// Inside a value filter: the enclosing attribute's canonical path.
    parent: Option<String>,
}

fn invalid(detail: String) -> ScimError {
    ScimError::new(ScimType::InvalidFilter, detail)
}

/// What a word token is made of: an attribute path's characters (URN
/// included), which also covers keywords and operators.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'-' | b'_' | b'$')
}

/// A bounded, quoted piece of the input for an error's detail.
fn quoted(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}…", &s[..end]),
        None => format!("{s:?}"),
    }
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, parent: Option<String>) -> Self {
        Parser {
            text,
            pos: 0,
            depth: 0,
            parent,
        }
    }

    fn filter(mut self) -> Result<Filter, ScimError> {
        if self.text.len() > MAX_FILTER_BYTES {
            return Err(invalid(format!(
                "the filter is {} bytes long; the limit is {MAX_FILTER_BYTES}",
                self.text.len()
            )));
        }
        if self.text.trim().is_empty() {
            return Err(invalid("the filter is empty".into()));
        }
        let f = self.or()?;
        self.skip_ws();
        if self.pos < self.text.len() {
            return Err(invalid(format!(
                "unexpected {} at offset {} after a complete filter",
                quoted(self.next_token()),
                self.pos
            )));
        }
        Ok(f)
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// The word at the current position (possibly empty), not consumed.
    fn word(&self) -> &'a str {
        let rest = self.rest();
        let end = rest
            .bytes()
            .position(|b| !is_word_byte(b))
            .unwrap_or(rest.len());
        &rest[..end]
    }

    /// The next token for an error message: a word, or one character.
    fn next_token(&self) -> &'a str {
        let word = self.word();
        if !word.is_empty() {
            return word;
        }
        let rest = self.rest();
        let end = rest.chars().next().map_or(0, char::len_utf8);
        &rest[..end]
    }

    /// `what` at the current position, or the end of the filter.
    fn found(&self) -> String {
        if self.pos >= self.text.len() {
            format!("the end of the filter at offset {}", self.pos)
        } else {
            format!("{} at offset {}", quoted(self.next_token()), self.pos)
        }
    }

    /// Consumes the keyword `kw` (`and`, `or`) if it is the next word.
    fn keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.word().eq_ignore_ascii_case(kw) {
            self.pos += kw.len();
            true
        } else {
            self.pos = save;
            false
        }
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(invalid(format!(
                "the filter nests deeper than {MAX_DEPTH} levels at offset {}",
                self.pos
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut any = vec![self.and()?];
        while self.keyword("or") {
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 {
            any.pop().expect("one element")
        } else {
            Filter::Or(any)
        })
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut all = vec![self.unary()?];
        while self.keyword("and") {
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one element")
        } else {
            Filter::And(all)
        })
    }

    /// `"(" FILTER ")"`, at the `(`.
    fn group(&mut self) -> Result<Filter, ScimError> {
        let open = self.pos;
        self.enter()?;
        self.pos += 1;
        let f = self.or()?;
        self.skip_ws();
        if self.peek() != Some(b')') {
            return Err(invalid(format!(
                "expected \")\" to close the \"(\" at offset {open}, found {}",
                self.found()
            )));
        }
        self.pos += 1;
        self.leave();
        Ok(f)
    }

    /// A parenthesised filter, `not (…)`, an attribute expression or a value
    /// path.
    fn unary(&mut self) -> Result<Filter, ScimError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some(b'(') {
            return self.group();
        }
        let word = self.word();
        if word.is_empty() {
            return Err(invalid(format!(
                "expected an attribute, \"(\" or \"not\", found {}",
                self.found()
            )));
        }
        self.pos += word.len();
        if word.eq_ignore_ascii_case("not") {
            // `not` is also a valid attribute name: it is the operator only
            // when a "(" follows.
            let after = self.pos;
            self.skip_ws();
            if self.peek() == Some(b'(') {
                return Ok(Filter::Not(Box::new(self.group()?)));
            }
            self.pos = after;
        }
        let path = self.attr_path(word, start)?;
        if self.peek() == Some(b'[') {
            return self.value_path(path);
        }
        self.attr_exp(path, word)
    }

    /// `attrPath "[" valFilter "]" ["." subAttr SP compareOp SP compValue]`,
    /// at the `[`.
    fn value_path(&mut self, attr: AttrPath) -> Result<Filter, ScimError> {
        let open = self.pos;
        if self.parent.is_some() {
            return Err(invalid(format!(
                "a value filter cannot hold another value path (\"[\" at offset {open})"
            )));
        }
        if attr.sub.is_some() {
            return Err(invalid(format!(
                "a value path's attribute has no sub-attribute: {} at offset {open}",
                quoted(&format!(
                    "{}.{}[",
                    attr.name,
                    attr.sub.as_deref().unwrap_or_default()
                ))
            )));
        }
        self.enter()?;
        self.pos += 1;
        self.parent = Some(attr.canonical.clone());
        let inner = self.or();
        self.parent = None;
        let filter = inner?;
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(invalid(format!(
                "expected \"]\" to close the \"[\" at offset {open}, found {}",
                self.found()
            )));
        }
        self.pos += 1;
        self.leave();
        let then = if self.peek() == Some(b'.') {
            // Entra ID's `emails[type eq "work"].value eq "x"`.
            self.pos += 1;
            let start = self.pos;
            let word = self.word();
            self.pos += word.len();
            let name = valid_name(word).ok_or_else(|| {
                invalid(format!(
                    "expected a sub-attribute after {} at offset {start}, found {}",
                    quoted(&format!("{}[…].", attr.name)),
                    quoted(word)
                ))
            })?;
            let sub = AttrPath {
                urn: None,
                name: name.to_owned(),
                sub: None,
                canonical: format!("{}.{}", attr.canonical, name.to_ascii_lowercase()),
            };
            let written = format!("{}[…].{name}", attr.name);
            Some(Box::new(self.attr_exp(sub, &written)?))
        } else {
            None
        };
        Ok(Filter::ValuePath {
            attr,
            filter: Box::new(filter),
            then,
        })
    }

    /// `SP "pr"` or `SP compareOp SP compValue`, after `path` (written as
    /// `written`).
    fn attr_exp(&mut self, path: AttrPath, written: &str) -> Result<Filter, ScimError> {
        self.skip_ws();
        let at = self.pos;
        let word = self.word();
        if word.is_empty() {
            return Err(invalid(format!(
                "expected an operator after {} at offset {at}",
                quoted(written)
            )));
        }
        let op = match word.to_ascii_lowercase().as_str() {
            "pr" => {
                self.pos += word.len();
                return Ok(Filter::Present(path));
            }
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "lt" => CompareOp::Lt,
            "ge" => CompareOp::Ge,
            "le" => CompareOp::Le,
            _ => {
                return Err(invalid(format!(
                    "unknown operator {} at offset {at}",
                    quoted(word)
                )));
            }
        };
        self.pos += word.len();
        self.skip_ws();
        let value_at = self.pos;
        let value = self.comp_value(op)?;
        let refuse = |what: &str| {
            Err(invalid(format!(
                "\"{}\" cannot compare with {what} (offset {value_at})",
                op.keyword()
            )))
        };
        // Booleans and null have no order and no substrings; numbers have
        // no substrings (RFC 7644 §3.4.2.2 refuses ordering booleans).
        match &value {
            CompValue::Null if op.is_ordering() || op.is_substring() => refuse("null"),
            CompValue::Bool(_) if op.is_ordering() || op.is_substring() => refuse("a boolean"),
            CompValue::Number(_) if op.is_substring() => refuse("a number"),
            _ => Ok(Filter::Compare(path, op, value)),
        }
    }

    /// `compValue`, at its first byte.
    fn comp_value(&mut self, op: CompareOp) -> Result<CompValue, ScimError> {
        let at = self.pos;
        let expected = || {
            invalid(format!(
                "expected a value (a string, number, true, false or null) after \"{}\", found {}",
                op.keyword(),
                self.found()
            ))
        };
        match self.peek() {
            Some(b'"') => self.string().map(CompValue::String),
            Some(b'-' | b'0'..=b'9') => {
                let rest = self.rest();
                let len = rest
                    .bytes()
                    .position(|b| {
                        !(b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
                    })
                    .unwrap_or(rest.len());
                let token = &rest[..len];
                let n = serde_json::from_str::<Number>(token).map_err(|_| {
                    invalid(format!("invalid number {} at offset {at}", quoted(token)))
                })?;
                self.pos += len;
                Ok(CompValue::Number(n))
            }
            Some(_) => {
                let word = self.word();
                let value = match word.to_ascii_lowercase().as_str() {
                    "true" => CompValue::Bool(true),
                    "false" => CompValue::Bool(false),
                    "null" => CompValue::Null,
                    _ => return Err(expected()),
                };
                self.pos += word.len();
                Ok(value)
            }
            None => Err(expected()),
        }
    }

    /// A JSON string literal, at its opening quote; serde_json decodes it.
    fn string(&mut self) -> Result<String, ScimError> {
        let at = self.pos;
        let bytes = self.text.as_bytes();
        let mut i = at + 1;
        loop {
            match bytes.get(i) {
                None => {
                    return Err(invalid(format!(
                        "unterminated string starting at offset {at}"
                    )));
                }
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let literal = &self.text[at..=i];
        let s = serde_json::from_str::<String>(literal).map_err(|e| {
            invalid(format!(
                "invalid string {} at offset {at}: {e}",
                quoted(literal)
            ))
        })?;
        self.pos = i + 1;
        Ok(s)
    }

    /// Checks and splits an attribute path word that starts at `at`.
    fn attr_path(&self, word: &str, at: usize) -> Result<AttrPath, ScimError> {
        let bad = |why: &str| {
            invalid(format!(
                "invalid attribute path {} at offset {at}: {why}",
                quoted(word)
            ))
        };
        let (urn, rest) = match word.rfind(':') {
            Some(colon) => {
                let urn = &word[..colon];
                if !urn.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
                    return Err(bad("a schema prefix is a URN (\"urn:…\")"));
                }
                if self.parent.is_some() {
                    return Err(bad("a value filter names sub-attributes, without a schema"));
                }
                (Some(urn), &word[colon + 1..])
            }
            None => (None, word),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        let name = valid_name(name).ok_or_else(|| {
            bad("an attribute name is a letter followed by letters, digits, \"-\" or \"_\"")
        })?;
        let sub = match sub {
            Some(_) if self.parent.is_some() => {
                return Err(bad("a value filter names sub-attributes, which have none"));
            }
            Some(sub) => Some(valid_name(sub).ok_or_else(|| {
                bad("a sub-attribute name is a letter followed by letters, digits, \"-\" or \"_\"")
            })?),
            None => None,
        };
        // The core schemas' attributes are the resource's top-level ones.
        let urn = urn.filter(|u| {
            !(u.eq_ignore_ascii_case(schema::USER) || u.eq_ignore_ascii_case(schema::GROUP))
        });
        let mut canonical = String::new();
        if let Some(parent) = &self.parent {
            canonical.push_str(parent);
            canonical.push('.');
        }
        if let Some(urn) = urn {
            canonical.push_str(&urn.to_ascii_lowercase());
            canonical.push(':');
        }
        canonical.push_str(&name.to_ascii_lowercase());
        if let Some(sub) = sub {
            canonical.push('.');
            canonical.push_str(&sub.to_ascii_lowercase());
        }
        Ok(AttrPath {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
            canonical,
        })
    }
}

/// `ATTRNAME = ALPHA *(nameChar)`, or `$ref`.
fn valid_name(name: &str) -> Option<&str> {
    let mut bytes = name.bytes();
    let ok = name.eq_ignore_ascii_case("$ref")
        || (bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    ok.then_some(name)
}

// --- Evaluation ----------------------------------------------------------

/// `obj[name]`, the name compared case-insensitively (RFC 7643 §2.1).
fn get<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The attribute `path.urn:path.name` of `ctx`, as stored.
fn attribute<'v>(ctx: &'v Value, path: &AttrPath) -> Option<&'v Value> {
    let mut obj = ctx.as_object()?;
    if let Some(urn) = &path.urn {
        obj = get(obj, urn)?.as_object()?;
    }
    get(obj, &path.name)
}

/// The elements of a (multi-valued) attribute: each value of an array, or
/// the single value.
fn elements<'v>(ctx: &'v Value, path: &AttrPath) -> impl Iterator<Item = &'v Value> {
    let v = attribute(ctx, path);
    let (many, one) = match v {
        Some(Value::Array(a)) => (a.as_slice(), None),
        other => (&[][..], other),
    };
    many.iter().chain(one)
}

/// The values `path` names, each with whether it was reached through an
/// object's `value` (a complex attribute named without a sub-attribute).
fn values<'v>(ctx: &'v Value, path: &AttrPath) -> Vec<(&'v Value, bool)> {
    let mut out = Vec::new();
    for element in elements(ctx, path) {
        match (&path.sub, element) {
            (Some(sub), Value::Object(o)) => match get(o, sub) {
                Some(Value::Array(a)) => out.extend(a.iter().map(|v| (v, false))),
                Some(v) => out.push((v, false)),
                None => {}
            },
            (Some(_), _) => {}
            (None, Value::Object(o)) => out.extend(get(o, "value").map(|v| (v, true))),
            (None, v) => out.push((v, false)),
        }
    }
    out
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(non_empty),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn present(ctx: &Value, path: &AttrPath) -> bool {
    match &path.sub {
        None => attribute(ctx, path).is_some_and(non_empty),
        Some(_) => values(ctx, path).into_iter().any(|(v, _)| non_empty(v)),
    }
}

fn compare_any(
    ctx: &Value,
    path: &AttrPath,
    op: CompareOp,
    expected: &CompValue,
    case_exact: &dyn Fn(&str) -> bool,
) -> bool {
    // Asked at most once each, and only for a string comparison.
    let mut exact: Option<bool> = None;
    let mut exact_value: Option<bool> = None;
    values(ctx, path).into_iter().any(|(actual, via_value)| {
        let exact = || {
            if via_value {
                *exact_value.get_or_insert_with(|| case_exact(&format!("{}.value", path.canonical)))
            } else {
                *exact.get_or_insert_with(|| case_exact(&path.canonical))
            }
        };
        compare(actual, op, expected, exact)
    })
}

/// One value against the filter's (`op` is neither `ne` nor a null
/// comparison: [`Filter::matches`] rewrites those).
fn compare(
    actual: &Value,
    op: CompareOp,
    expected: &CompValue,
    exact: impl FnOnce() -> bool,
) -> bool {
    match (actual, expected) {
        (Value::String(a), CompValue::String(e)) => {
            if !op.is_substring()
                && let (Some(x), Some(y)) = (instant(a), instant(e))
            {
                return ordered(x.cmp(&y), op);
            }
            let (a, e): (Cow<str>, Cow<str>) = if exact() {
                (a.into(), e.into())
            } else {
                (a.to_lowercase().into(), e.to_lowercase().into())
            };
            match op {
                CompareOp::Co => a.contains(&*e),
                CompareOp::Sw => a.starts_with(&*e),
                CompareOp::Ew => a.ends_with(&*e),
                _ => ordered(a.cmp(&e), op),
            }
        }
        (Value::Number(a), CompValue::Number(e)) => {
            number_cmp(a, e).is_some_and(|o| ordered(o, op))
        }
        (Value::Bool(a), CompValue::Bool(e)) => op == CompareOp::Eq && a == e,
        _ => false,
    }
}

fn ordered(o: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => o.is_eq(),
        CompareOp::Ne => o.is_ne(),
        CompareOp::Gt => o.is_gt(),
        CompareOp::Ge => o.is_ge(),
        CompareOp::Lt => o.is_lt(),
        CompareOp::Le => o.is_le(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// An RFC 3339 date-time (`2011-05-13T04:42:34Z`, `…34.5+02:00`) as UTC
/// seconds since 1970 and nanoseconds, for chronological comparison.
fn instant(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    let days = crate::time::days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset * 60;
    Some((secs, nanos))
}

#[cfg(test)]
mod tests;
