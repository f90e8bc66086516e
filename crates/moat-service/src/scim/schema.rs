//! The SCIM schemas Moat serves (RFC 7643): which attributes a User and a Group have,
//! their types and rules. Everything else an identity provider sends is not kept. The
//! same tables answer `/Schemas` and drive parsing, filters and PATCH.

use serde_json::{Value, json};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Moat's own extension: the person's repository-host logins (see `links`).
pub const MOAT: &str = "urn:ietf:params:scim:schemas:extension:moat:2.0:User";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Complex,
    Reference,
    DateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

/// One attribute of a schema.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub references: &'static [&'static str],
    pub subs: &'static [Attr],
}

const fn attr(name: &'static str, kind: Kind) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        canonical: &[],
        references: &[],
        subs: &[],
    }
}

const fn string(name: &'static str) -> Attr {
    attr(name, Kind::String)
}

const NAME_SUBS: &[Attr] = &[
    string("formatted"),
    string("familyName"),
    string("givenName"),
    string("middleName"),
    string("honorificPrefix"),
    string("honorificSuffix"),
];

const EMAIL_SUBS: &[Attr] = &[
    Attr {
        required: true,
        ..string("value")
    },
    string("display"),
    Attr {
        canonical: &["work", "home", "other"],
        ..string("type")
    },
    attr("primary", Kind::Boolean),
];

const USER_GROUP_SUBS: &[Attr] = &[
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..string("value")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        references: &["Group"],
        ..attr("$ref", Kind::Reference)
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..string("display")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        canonical: &["direct"],
        ..string("type")
    },
];

/// The core User attributes Moat keeps (besides `id`, `externalId` and `meta`).
pub const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..string("userName")
    },
    Attr {
        subs: NAME_SUBS,
        ..attr("name", Kind::Complex)
    },
    string("displayName"),
    string("title"),
    attr("active", Kind::Boolean),
    // Moat knows people by email, so a person needs one.
    Attr {
        multi: true,
        required: true,
        subs: EMAIL_SUBS,
        ..attr("emails", Kind::Complex)
    },
    Attr {
        multi: true,
        mutability: Mutability::ReadOnly,
        subs: USER_GROUP_SUBS,
        ..attr("groups", Kind::Complex)
    },
];

const MANAGER_SUBS: &[Attr] = &[
    Attr {
        case_exact: true,
        ..string("value")
    },
    Attr {
        case_exact: true,
        references: &["User"],
        ..attr("$ref", Kind::Reference)
    },
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    string("employeeNumber"),
    string("costCenter"),
    string("organization"),
    string("division"),
    string("department"),
    Attr {
        subs: MANAGER_SUBS,
        ..attr("manager", Kind::Complex)
    },
];

const MEMBER_SUBS: &[Attr] = &[
    Attr {
        mutability: Mutability::Immutable,
        case_exact: true,
        ..string("value")
    },
    Attr {
        mutability: Mutability::Immutable,
        case_exact: true,
        references: &["User"],
        ..attr("$ref", Kind::Reference)
    },
    Attr {
        mutability: Mutability::Immutable,
        canonical: &["User"],
        ..string("type")
    },
];

pub const GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..string("displayName")
    },
    Attr {
        multi: true,
        subs: MEMBER_SUBS,
        ..attr("members", Kind::Complex)
    },
];

/// Attributes every resource has (RFC 7643 §3.1).
pub const COMMON_ATTRS: &[Attr] = &[
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..string("id")
    },
    Attr {
        case_exact: true,
        ..string("externalId")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        subs: META_SUBS,
        ..attr("meta", Kind::Complex)
    },
];

const META_SUBS: &[Attr] = &[
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..string("resourceType")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..attr("created", Kind::DateTime)
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..attr("lastModified", Kind::DateTime)
    },
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..attr("location", Kind::Reference)
    },
    Attr {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..string("version")
    },
];

/// A resource type: its core schema and attributes, and its extensions.
#[derive(Debug)]
pub struct ResourceSchema {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub schema: &'static str,
    pub attrs: &'static [Attr],
    pub extensions: &'static [(&'static str, &'static [Attr])],
}

pub const USER_RESOURCE: ResourceSchema = ResourceSchema {
    name: "User",
    endpoint: "/Users",
    schema: USER,
    attrs: USER_ATTRS,
    extensions: &[
        (ENTERPRISE, ENTERPRISE_ATTRS),
        (MOAT, super::links::MOAT_ATTRS),
    ],
};

pub const GROUP_RESOURCE: ResourceSchema = ResourceSchema {
    name: "Group",
    endpoint: "/Groups",
    schema: GROUP,
    attrs: GROUP_ATTRS,
    extensions: &[],
};

impl ResourceSchema {
    /// The attribute `name` (case-insensitive) of the core schema, or of extension
    /// `urn` when given; common attributes belong to the core.
    pub fn attr(&self, urn: Option<&str>, name: &str) -> Option<&'static Attr> {
        match urn {
            Some(urn) if !urn.eq_ignore_ascii_case(self.schema) => {
                self.extension(urn).and_then(|(_, attrs)| find(attrs, name))
            }
            _ => find(self.attrs, name).or_else(|| find(COMMON_ATTRS, name)),
        }
    }

    /// The extension with this URN (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<(&'static str, &'static [Attr])> {
        self.extensions
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(urn))
            .copied()
    }
}

pub fn find(attrs: &'static [Attr], name: &str) -> Option<&'static Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// `/Schemas` entries for the resources and extension.
pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(base, USER, "User", "A person", USER_ATTRS),
        schema_json(
            base,
            ENTERPRISE,
            "EnterpriseUser",
            "Enterprise attributes of a person",
            ENTERPRISE_ATTRS,
        ),
        schema_json(
            base,
            MOAT,
            "MoatUser",
            "A person's repository-host logins, linked to them explicitly",
            super::links::MOAT_ATTRS,
        ),
        schema_json(base, GROUP, "Group", "A team", GROUP_ATTRS),
    ]
}

fn schema_json(base: &str, id: &str, name: &str, description: &str, attrs: &[Attr]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

fn attr_json(a: &Attr) -> Value {
    let kind = match a.kind {
        Kind::String => "string",
        Kind::Boolean => "boolean",
        Kind::Complex => "complex",
        Kind::Reference => "reference",
        Kind::DateTime => "dateTime",
    };
    let mutability = match a.mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
    };
    let mut out = json!({
        "name": a.name,
        "type": kind,
        "multiValued": a.multi,
        "description": a.name,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": if a.unique { "server" } else { "none" },
    });
    if !a.canonical.is_empty() {
        out["canonicalValues"] = json!(a.canonical);
    }
    if a.kind == Kind::Reference {
        out["referenceTypes"] = json!(a.references);
    }
    if !a.subs.is_empty() {
        out["subAttributes"] = Value::Array(a.subs.iter().map(attr_json).collect());
    }
    out
}

/// `/ResourceTypes` entries.
pub fn resource_types(base: &str) -> Vec<Value> {
    [&USER_RESOURCE, &GROUP_RESOURCE]
        .into_iter()
        .map(|r| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": r.name,
                "name": r.name,
                "endpoint": r.endpoint,
                "description": r.name,
                "schema": r.schema,
                "schemaExtensions": r.extensions.iter().map(|(urn, _)| json!({"schema": urn, "required": false})).collect::<Vec<_>>(),
                "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", r.name)},
            })
        })
        .collect()
}

/// The largest page a list answers.
pub const MAX_RESULTS: usize = 1000;

/// `/ServiceProviderConfig`.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/moat/moat#provisioning-people-with-scim",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The token of [identity] scim_token_env, as `Authorization: Bearer ...`",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}
