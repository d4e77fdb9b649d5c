//! The resource schemas this service implements (RFC 7643 §4, §8.7): one
//! table of attributes per schema. Filters and PATCH read their
//! characteristics here (multi-valued, case-exact, mutability), and the
//! `/Schemas` discovery endpoint renders the same table, so what the service
//! says it does and what it does cannot drift apart.

/// The kind of resource an endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    User,
    Group,
}

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Binary,
    Complex,
}

/// RFC 7643 §7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// RFC 7643 §7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition.
#[derive(Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: Type,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    /// For a `Reference`: what it may point to (RFC 7643 §7
    /// `referenceTypes`: a resource type name, "external" or "uri").
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
    pub description: &'static str,
}

impl Attribute {
    /// The sub-attribute called `name` (case-insensitive, RFC 7643 §2.1).
    pub fn sub_attribute(&'static self, name: &str) -> Option<&'static Attribute> {
        find(self.sub_attributes, name)
    }
}

/// One schema (RFC 7643 §7): its URN and its attribute table. The common
/// attributes `id`, `externalId` and `meta` belong to no schema (§3.1); they
/// are in [`COMMON_ATTRIBUTES`].
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
}

// The tables are built from these few constructors so that each row says
// only how it differs from RFC 7643 §2.2's defaults (a readWrite, optional,
// single-valued, case-insensitive string, returned by default, not unique).

const fn string(name: &'static str, description: &'static str) -> Attribute {
    Attribute {
        name,
        kind: Type::String,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
        description,
    }
}

const fn boolean(name: &'static str, description: &'static str) -> Attribute {
    Attribute {
        kind: Type::Boolean,
        ..string(name, description)
    }
}

const fn reference(
    name: &'static str,
    reference_types: &'static [&'static str],
    description: &'static str,
) -> Attribute {
    Attribute {
        kind: Type::Reference,
        reference_types,
        ..string(name, description)
    }
}

const fn complex(
    name: &'static str,
    sub_attributes: &'static [Attribute],
    description: &'static str,
) -> Attribute {
    Attribute {
        kind: Type::Complex,
        sub_attributes,
        ..string(name, description)
    }
}

/// A multi-valued complex attribute with RFC 7643 §2.4's default
/// sub-attributes `value`, `display`, `type` and `primary`.
const fn multi(
    name: &'static str,
    sub_attributes: &'static [Attribute],
    description: &'static str,
) -> Attribute {
    Attribute {
        multi_valued: true,
        ..complex(name, sub_attributes, description)
    }
}

/// `value`, `display`, `type` (with its canonical values), `primary`.
macro_rules! plural_subs {
    ($value:expr, [$($canonical:expr),*]) => {
        &[
            $value,
            string("display", "A human-readable name, primarily used for display purposes."),
            Attribute {
                canonical_values: &[$($canonical),*],
                ..string("type", "A label indicating the attribute's function.")
            },
            boolean(
                "primary",
                "A Boolean value indicating the 'primary' or preferred attribute value.",
            ),
        ]
    };
}

/// `id`, `externalId`, `meta` (RFC 7643 §3.1): every resource has them.
pub static COMMON_ATTRIBUTES: &[Attribute] = &[
    Attribute {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        returned: Returned::Always,
        uniqueness: Uniqueness::Server,
        ..string(
            "id",
            "A unique identifier for the resource, assigned by the service provider.",
        )
    },
    Attribute {
        case_exact: true,
        ..string(
            "externalId",
            "An identifier for the resource as defined by the provisioning client.",
        )
    },
    Attribute {
        mutability: Mutability::ReadOnly,
        ..complex(
            "meta",
            &[
                Attribute {
                    case_exact: true,
                    mutability: Mutability::ReadOnly,
                    ..string(
                        "resourceType",
                        "The name of the resource type of the resource.",
                    )
                },
                Attribute {
                    kind: Type::DateTime,
                    mutability: Mutability::ReadOnly,
                    ..string(
                        "created",
                        "When the resource was added to the service provider.",
                    )
                },
                Attribute {
                    kind: Type::DateTime,
                    mutability: Mutability::ReadOnly,
                    ..string("lastModified", "When the resource was last modified.")
                },
                Attribute {
                    case_exact: true,
                    mutability: Mutability::ReadOnly,
                    ..reference("location", &["uri"], "The URI of the resource.")
                },
                Attribute {
                    case_exact: true,
                    mutability: Mutability::ReadOnly,
                    ..string("version", "The version (entity tag) of the resource.")
                },
            ],
            "Resource metadata, maintained by the service provider.",
        )
    },
];

const fn value(description: &'static str) -> Attribute {
    string("value", description)
}

/// RFC 7643 §4.1 and §8.7.1.
pub static USER_SCHEMA: Schema = Schema {
    id: USER,
    name: "User",
    description: "User Account",
    attributes: &[
        Attribute {
            required: true,
            uniqueness: Uniqueness::Server,
            ..string(
                "userName",
                "Unique identifier for the User, used by the user to authenticate.",
            )
        },
        complex(
            "name",
            &[
                string("formatted", "The full name, formatted for display."),
                string("familyName", "The family name of the User."),
                string("givenName", "The given name of the User."),
                string("middleName", "The middle name(s) of the User."),
                string("honorificPrefix", "The honorific prefix(es) of the User."),
                string("honorificSuffix", "The honorific suffix(es) of the User."),
            ],
            "The components of the user's real name.",
        ),
        string(
            "displayName",
            "The name of the User, suitable for display to end-users.",
        ),
        string(
            "nickName",
            "The casual way to address the user in real life.",
        ),
        reference(
            "profileUrl",
            &["external"],
            "A fully qualified URL pointing to the User's online profile.",
        ),
        string("title", "The user's title, such as \"Vice President\"."),
        string(
            "userType",
            "The relationship between the organization and the user.",
        ),
        string(
            "preferredLanguage",
            "The User's preferred written or spoken language.",
        ),
        string("locale", "The User's default location for localization."),
        string(
            "timezone",
            "The User's time zone in the 'Olson' time zone database format.",
        ),
        boolean(
            "active",
            "A Boolean value indicating the User's administrative status.",
        ),
        Attribute {
            case_exact: true,
            mutability: Mutability::WriteOnly,
            returned: Returned::Never,
            ..string("password", "The User's cleartext password.")
        },
        multi(
            "emails",
            plural_subs!(
                value("Email address for the user."),
                ["work", "home", "other"]
            ),
            "Email addresses for the user.",
        ),
        multi(
            "phoneNumbers",
            plural_subs!(
                value("Phone number of the User."),
                ["work", "home", "mobile", "fax", "pager", "other"]
            ),
            "Phone numbers for the User.",
        ),
        multi(
            "ims",
            plural_subs!(
                value("Instant messaging address for the User."),
                ["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]
            ),
            "Instant messaging addresses for the User.",
        ),
        multi(
            "photos",
            plural_subs!(
                reference("value", &["external"], "URL of a photo of the User."),
                ["photo", "thumbnail"]
            ),
            "URLs of photos of the User.",
        ),
        multi(
            "addresses",
            &[
                string(
                    "formatted",
                    "The full mailing address, formatted for display.",
                ),
                string("streetAddress", "The full street address component."),
                string("locality", "The city or locality component."),
                string("region", "The state or region component."),
                string("postalCode", "The zip code or postal code component."),
                string("country", "The country name component."),
                Attribute {
                    canonical_values: &["work", "home", "other"],
                    ..string("type", "A label indicating the attribute's function.")
                },
                boolean("primary", "Whether this is the primary mailing address."),
            ],
            "A physical mailing address for this User.",
        ),
        Attribute {
            mutability: Mutability::ReadOnly,
            ..multi(
                "groups",
                &[
                    Attribute {
                        mutability: Mutability::ReadOnly,
                        ..value("The identifier of the User's group.")
                    },
                    Attribute {
                        mutability: Mutability::ReadOnly,
                        ..reference("$ref", &["User", "Group"], "The URI of the Group resource.")
                    },
                    Attribute {
                        mutability: Mutability::ReadOnly,
                        ..string(
                            "display",
                            "A human-readable name, primarily used for display purposes.",
                        )
                    },
                    Attribute {
                        mutability: Mutability::ReadOnly,
                        canonical_values: &["direct", "indirect"],
                        ..string("type", "How the membership was derived.")
                    },
                ],
                "The groups the user belongs to, as the service provider derives them.",
            )
        },
        multi(
            "entitlements",
            plural_subs!(value("The value of an entitlement."), []),
            "Entitlements for the User.",
        ),
        multi(
            "roles",
            plural_subs!(value("The value of a role."), []),
            "Roles for the User.",
        ),
        multi(
            "x509Certificates",
            plural_subs!(
                Attribute {
                    kind: Type::Binary,
                    ..value("The value of an X.509 certificate (base64 DER).")
                },
                []
            ),
            "X.509 certificates issued to the User.",
        ),
    ],
};

/// RFC 7643 §4.3 and §8.7.1.
pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[
        string(
            "employeeNumber",
            "Numeric or alphanumeric identifier assigned to a person.",
        ),
        string("costCenter", "Identifies the name of a cost center."),
        string("organization", "Identifies the name of an organization."),
        string("division", "Identifies the name of a division."),
        string("department", "Identifies the name of a department."),
        complex(
            "manager",
            &[
                value("The id of the SCIM resource representing the User's manager."),
                reference(
                    "$ref",
                    &["User"],
                    "The URI of the SCIM resource representing the User's manager.",
                ),
                Attribute {
                    mutability: Mutability::ReadOnly,
                    ..string("displayName", "The displayName of the User's manager.")
                },
            ],
            "The User's manager.",
        ),
    ],
};

/// RFC 7643 §4.2 and §8.7.1.
pub static GROUP_SCHEMA: Schema = Schema {
    id: GROUP,
    name: "Group",
    description: "Group",
    attributes: &[
        Attribute {
            required: true,
            ..string("displayName", "A human-readable name for the Group.")
        },
        multi(
            "members",
            &[
                Attribute {
                    mutability: Mutability::Immutable,
                    ..value("Identifier of the member of this Group.")
                },
                Attribute {
                    mutability: Mutability::Immutable,
                    ..reference(
                        "$ref",
                        &["User", "Group"],
                        "The URI of the member resource.",
                    )
                },
                // RFC 7643 §8.7.1 lists no `display` for members; §4.2 names
                // it. It is only a label, so a client may correct it.
                string("display", "A human-readable name for the member."),
                Attribute {
                    mutability: Mutability::Immutable,
                    canonical_values: &["User", "Group"],
                    ..string("type", "The type of the member resource.")
                },
            ],
            "A list of members of the Group.",
        ),
    ],
};

/// The schema whose attributes sit at the top level of a `kind` resource.
pub fn core(kind: Kind) -> &'static Schema {
    match kind {
        Kind::User => &USER_SCHEMA,
        Kind::Group => &GROUP_SCHEMA,
    }
}

/// The extension schemas a `kind` resource may carry; each one's attributes
/// sit in an object under the schema's URN (RFC 7643 §3.3).
pub fn extensions(kind: Kind) -> &'static [&'static Schema] {
    static USER_EXTENSIONS: [&Schema; 1] = [&ENTERPRISE_USER_SCHEMA];
    match kind {
        Kind::User => &USER_EXTENSIONS,
        Kind::Group => &[],
    }
}

/// The URNs a `kind` resource's `schemas` may list, the core one first.
pub fn schemas(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::User => &[USER, ENTERPRISE_USER],
        Kind::Group => &[GROUP],
    }
}

/// Every schema this service implements, as `/Schemas` lists them.
pub fn all() -> [&'static Schema; 3] {
    [&USER_SCHEMA, &ENTERPRISE_USER_SCHEMA, &GROUP_SCHEMA]
}

/// The schema with this URN (case-insensitive, RFC 7643 §2.1).
pub fn by_urn(urn: &str) -> Option<&'static Schema> {
    all().into_iter().find(|s| s.id.eq_ignore_ascii_case(urn))
}

/// An attribute path resolved against a resource kind's tables.
#[derive(Debug, Clone, Copy)]
pub struct Located {
    /// The extension URN under which the attribute is stored, or `None` for
    /// core and common attributes, which sit at the top level.
    pub extension: Option<&'static str>,
    pub attribute: &'static Attribute,
    /// Set for a `parent.sub` path.
    pub sub_attribute: Option<&'static Attribute>,
}

impl Located {
    /// The attribute the path ends at: the sub-attribute if there is one.
    pub fn target(&self) -> &'static Attribute {
        self.sub_attribute.unwrap_or(self.attribute)
    }
}

/// Resolves `path` (`attr` or `attr.sub`, optionally prefixed by one of
/// `kind`'s schema URNs and a colon) against `kind`'s tables,
/// case-insensitively (RFC 7643 §2.1, RFC 7644 §3.10). Extension attributes
/// need their URN prefix; an unprefixed name means a core or common
/// attribute. Value filters (`emails[type eq "work"]`) are not attribute
/// paths: the PATCH path parser strips them first.
pub fn lookup(kind: Kind, path: &str) -> Option<Located> {
    let (scope, rest) = split_urn(kind, path)?;
    // After the URN (whose "2.0" holds a dot) the first dot separates the
    // sub-attribute.
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    let (extension, attribute) = match scope {
        Some(schema) if schema.id != core(kind).id => {
            (Some(schema.id), find(schema.attributes, name)?)
        }
        _ => (
            None,
            find(core(kind).attributes, name).or_else(|| find(COMMON_ATTRIBUTES, name))?,
        ),
    };
    let sub_attribute = match sub {
        Some(sub) => Some(attribute.sub_attribute(sub)?),
        None => None,
    };
    Some(Located {
        extension,
        attribute,
        sub_attribute,
    })
}

/// The attribute definition `path` ends at (see [`lookup`]).
pub fn attribute(kind: Kind, path: &str) -> Option<&'static Attribute> {
    lookup(kind, path).map(|l| l.target())
}

/// Splits a leading schema URN of `kind` off `path`: `(Some(schema), rest)`,
/// or `(None, path)` when there is no URN. `None` for a URN that is not one
/// of `kind`'s or has nothing after it.
fn split_urn(kind: Kind, path: &str) -> Option<(Option<&'static Schema>, &str)> {
    let has_urn = path
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    if !has_urn {
        return Some((None, path));
    }
    let schema = std::iter::once(core(kind))
        .chain(extensions(kind).iter().copied())
        .find(|s| {
            path.len() > s.id.len() + 1
                && path[..s.id.len()].eq_ignore_ascii_case(s.id)
                && path.as_bytes()[s.id.len()] == b':'
        })?;
    Some((Some(schema), &path[schema.id.len() + 1..]))
}

fn find(table: &'static [Attribute], name: &str) -> Option<&'static Attribute> {
    table.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_resolve_to_the_canonical_spelling() {
        assert_eq!(attribute(Kind::User, "USERNAME").unwrap().name, "userName");
        assert_eq!(
            attribute(Kind::User, "name.FAMILYNAME").unwrap().name,
            "familyName"
        );
        assert_eq!(attribute(Kind::User, "emails.value").unwrap().name, "value");
        assert_eq!(
            attribute(Kind::Group, "Members.Value").unwrap().mutability,
            Mutability::Immutable
        );
    }

    #[test]
    fn a_urn_prefix_selects_the_schema() {
        let l = lookup(
            Kind::User,
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        )
        .unwrap();
        assert_eq!((l.extension, l.attribute.name), (None, "userName"));
        let l = lookup(
            Kind::User,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .unwrap();
        assert_eq!(
            (l.extension, l.attribute.name),
            (Some(ENTERPRISE_USER), "department")
        );
        let l = lookup(
            Kind::User,
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:manager.value",
        )
        .unwrap();
        assert_eq!((l.attribute.name, l.target().name), ("manager", "value"));
    }

    #[test]
    fn unknown_or_misplaced_names_resolve_to_nothing() {
        assert!(attribute(Kind::User, "shoeSize").is_none());
        assert!(attribute(Kind::User, "name.shoeSize").is_none());
        // Extension attributes need their URN; a Group has no enterprise extension.
        assert!(attribute(Kind::User, "department").is_none());
        assert!(
            attribute(
                Kind::Group,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
            )
            .is_none()
        );
        assert!(attribute(Kind::Group, "userName").is_none());
        assert!(attribute(Kind::User, ENTERPRISE_USER).is_none());
        assert!(attribute(Kind::User, "urn:x:y").is_none());
    }

    #[test]
    fn common_attributes_have_their_rfc_characteristics() {
        for kind in [Kind::User, Kind::Group] {
            let id = attribute(kind, "id").unwrap();
            assert_eq!(
                (id.mutability, id.returned, id.case_exact),
                (Mutability::ReadOnly, Returned::Always, true)
            );
            assert!(attribute(kind, "externalId").unwrap().case_exact);
            assert_eq!(
                attribute(kind, "meta.lastModified").unwrap().kind,
                Type::DateTime
            );
        }
    }

    #[test]
    fn user_and_group_attributes_have_their_rfc_characteristics() {
        let user_name = attribute(Kind::User, "userName").unwrap();
        assert!(user_name.required && !user_name.case_exact);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);
        let password = attribute(Kind::User, "password").unwrap();
        assert_eq!(
            (password.mutability, password.returned),
            (Mutability::WriteOnly, Returned::Never)
        );
        assert_eq!(attribute(Kind::User, "active").unwrap().kind, Type::Boolean);
        assert_eq!(
            attribute(Kind::User, "groups").unwrap().mutability,
            Mutability::ReadOnly
        );
        for plural in [
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "groups",
            "entitlements",
            "roles",
            "x509Certificates",
        ] {
            assert!(
                attribute(Kind::User, plural).unwrap().multi_valued,
                "{plural}"
            );
        }
        assert!(attribute(Kind::Group, "displayName").unwrap().required);
        assert!(attribute(Kind::Group, "members").unwrap().multi_valued);
        assert_eq!(
            attribute(Kind::Group, "members.$ref").unwrap().kind,
            Type::Reference
        );
    }

    #[test]
    fn the_tables_are_consistent() {
        fn check(a: &Attribute) {
            assert_eq!(
                a.kind == Type::Reference,
                !a.reference_types.is_empty(),
                "{}",
                a.name
            );
            assert_eq!(
                a.kind == Type::Complex,
                !a.sub_attributes.is_empty(),
                "{}",
                a.name
            );
            a.sub_attributes.iter().for_each(check);
        }
        all()
            .iter()
            .flat_map(|s| s.attributes)
            .chain(COMMON_ATTRIBUTES)
            .for_each(check);
    }

    #[test]
    fn each_kind_lists_its_schemas_core_first() {
        assert_eq!(schemas(Kind::User), [USER, ENTERPRISE_USER]);
        assert_eq!(schemas(Kind::Group), [GROUP]);
        assert_eq!(
            by_urn("urn:ietf:params:scim:schemas:core:2.0:group")
                .unwrap()
                .name,
            "Group"
        );
    }
}
