//! The discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig`,
//! `/ResourceTypes` and `/Schemas`, whose bodies RFC 7643 §5–7 defines.
//! Every schema body is rendered from the tables in [`super::schema`], the
//! same ones PATCH and filters obey, so the service cannot advertise one thing
//! and do another.

use super::schema::{self, Attribute, Kind, Mutability, Returned, Schema, Type, Uniqueness};
use serde_json::{Value, json};

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// `GET /ServiceProviderConfig` (RFC 7643 §5). `max_results` is the most
/// resources one filtered list returns.
pub fn service_provider_config(base_url: &str, max_results: u32) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": true},
        // No /Bulk endpoint: RFC 7643 §5 has the limits say so too.
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token in the Authorization header (RFC 6750).",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

/// `GET /ResourceTypes`: a ListResponse of both resource types.
pub fn resource_types(base_url: &str) -> Value {
    list(
        [Kind::User, Kind::Group]
            .into_iter()
            .map(|kind| resource_type_body(base_url, kind))
            .collect(),
    )
}

/// `GET /ResourceTypes/{name}` ("User" or "Group", case-insensitive);
/// `None` for any other name (a 404).
pub fn resource_type(base_url: &str, name: &str) -> Option<Value> {
    let kind = [Kind::User, Kind::Group]
        .into_iter()
        .find(|&k| resource_type_name(k).eq_ignore_ascii_case(name))?;
    Some(resource_type_body(base_url, kind))
}

/// `GET /Schemas`: a ListResponse of every schema.
pub fn schemas(base_url: &str) -> Value {
    list(
        schema::all()
            .into_iter()
            .map(|s| schema_body(base_url, s))
            .collect(),
    )
}

/// `GET /Schemas/{urn}` (case-insensitive); `None` for an unknown URN.
pub fn schema(base_url: &str, urn: &str) -> Option<Value> {
    schema::by_urn(urn).map(|s| schema_body(base_url, s))
}

/// The resource type's name, which is also its `id` and, pluralised, its
/// endpoint.
pub fn resource_type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "User",
        Kind::Group => "Group",
    }
}

fn resource_type_body(base_url: &str, kind: Kind) -> Value {
    let name = resource_type_name(kind);
    let core = schema::core(kind);
    // RFC 7643 §6: an extension is "required" when every resource of the
    // type must carry it; ours are all optional.
    let extensions: Vec<Value> = schema::extensions(kind)
        .iter()
        .map(|s| json!({"schema": s.id, "required": false}))
        .collect();
    let mut body = json!({
        "schemas": [RESOURCE_TYPE],
        "id": name,
        "name": name,
        "endpoint": format!("/{name}s"),
        "description": core.description,
        "schema": core.id,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base_url}/ResourceTypes/{name}"),
        },
    });
    if !extensions.is_empty() {
        body["schemaExtensions"] = extensions.into();
    }
    body
}

/// A schema resource (RFC 7643 §7). The common attributes (`id`,
/// `externalId`, `meta`) are not listed: §3.1 puts them outside every schema.
fn schema_body(base_url: &str, s: &Schema) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(attribute_body).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base_url}/Schemas/{}", s.id),
        },
    })
}

fn attribute_body(a: &Attribute) -> Value {
    let mut body = json!({
        "name": a.name,
        "type": type_name(a.kind),
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": mutability_name(a.mutability),
        "returned": returned_name(a.returned),
        "uniqueness": uniqueness_name(a.uniqueness),
    });
    if !a.canonical_values.is_empty() {
        body["canonicalValues"] = a.canonical_values.into();
    }
    if a.kind == Type::Reference {
        body["referenceTypes"] = a.reference_types.into();
    }
    if a.kind == Type::Complex {
        body["subAttributes"] = a
            .sub_attributes
            .iter()
            .map(attribute_body)
            .collect::<Vec<_>>()
            .into();
    }
    body
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

// The keywords of RFC 7643 §7.

fn type_name(t: Type) -> &'static str {
    match t {
        Type::String => "string",
        Type::Boolean => "boolean",
        Type::Decimal => "decimal",
        Type::Integer => "integer",
        Type::DateTime => "dateTime",
        Type::Reference => "reference",
        Type::Binary => "binary",
        Type::Complex => "complex",
    }
}

fn mutability_name(m: Mutability) -> &'static str {
    match m {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    }
}

fn returned_name(r: Returned) -> &'static str {
    match r {
        Returned::Always => "always",
        Returned::Never => "never",
        Returned::Default => "default",
        Returned::Request => "request",
    }
}

fn uniqueness_name(u: Uniqueness) -> &'static str {
    match u {
        Uniqueness::None => "none",
        Uniqueness::Server => "server",
        Uniqueness::Global => "global",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER, GROUP, USER};

    const BASE: &str = "https://scim.example.com/scim/v2";

    #[test]
    fn the_service_provider_config_states_what_the_service_supports() {
        assert_eq!(
            service_provider_config(BASE, 200),
            json!({
                "schemas": [SERVICE_PROVIDER_CONFIG],
                "patch": {"supported": true},
                "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
                "filter": {"supported": true, "maxResults": 200},
                "changePassword": {"supported": false},
                "sort": {"supported": false},
                "etag": {"supported": false},
                "authenticationSchemes": [{
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "Authentication with a bearer token in the Authorization header (RFC 6750).",
                    "primary": true,
                }],
                "meta": {
                    "resourceType": "ServiceProviderConfig",
                    "location": "https://scim.example.com/scim/v2/ServiceProviderConfig",
                },
            })
        );
    }

    #[test]
    fn resource_types_name_their_endpoint_schema_and_extensions() {
        let list = resource_types(BASE);
        assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
        assert_eq!(list["totalResults"], 2);
        let user = &list["Resources"][0];
        assert_eq!(
            user,
            &json!({
                "schemas": [RESOURCE_TYPE],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "description": "User Account",
                "schema": USER,
                "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
                "meta": {
                    "resourceType": "ResourceType",
                    "location": "https://scim.example.com/scim/v2/ResourceTypes/User",
                },
            })
        );
        let group = resource_type(BASE, "group").unwrap();
        assert_eq!(group["endpoint"], "/Groups");
        assert_eq!(group["schema"], GROUP);
        assert!(group.get("schemaExtensions").is_none());
        assert!(resource_type(BASE, "Device").is_none());
    }

    #[test]
    fn schemas_are_rendered_from_the_tables() {
        let list = schemas(BASE);
        assert_eq!(list["totalResults"], 3);
        let user = schema(BASE, USER).unwrap();
        assert_eq!(user["meta"]["location"], format!("{BASE}/Schemas/{USER}"));
        let attrs = user["attributes"].as_array().unwrap();
        assert_eq!(attrs.len(), schema::USER_SCHEMA.attributes.len());
        assert_eq!(
            attrs[0],
            json!({
                "name": "userName", "type": "string", "multiValued": false,
                "description": "Unique identifier for the User, used by the user to authenticate.",
                "required": true, "caseExact": false, "mutability": "readWrite",
                "returned": "default", "uniqueness": "server",
            })
        );
        let emails = attrs.iter().find(|a| a["name"] == "emails").unwrap();
        assert_eq!(emails["multiValued"], true);
        let email_type = &emails["subAttributes"][2];
        assert_eq!(
            email_type["canonicalValues"],
            json!(["work", "home", "other"])
        );
        let password = attrs.iter().find(|a| a["name"] == "password").unwrap();
        assert_eq!(
            (&password["mutability"], &password["returned"]),
            (&json!("writeOnly"), &json!("never"))
        );
        // The common attributes are outside every schema (RFC 7643 §3.1).
        assert!(attrs.iter().all(|a| a["name"] != "id"));
    }

    #[test]
    fn the_group_schema_has_members_with_references() {
        let group = schema(BASE, "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP").unwrap();
        let members = &group["attributes"][1];
        assert_eq!(members["name"], "members");
        let r#ref = &members["subAttributes"][1];
        assert_eq!(
            (&r#ref["name"], &r#ref["type"], &r#ref["referenceTypes"]),
            (
                &json!("$ref"),
                &json!("reference"),
                &json!(["User", "Group"])
            )
        );
        assert!(schema(BASE, "urn:example:nope").is_none());
    }
}
