//! [`ResourceOwner`]: the owner type and id in a league/oauth2-server subject.

/// The resource owner a league/oauth2-server token was issued for (1CRM, SuiteCRM): its type
/// and its id, borrowed from the subject (`Users:1` → user `1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceOwner<'a> {
    kind: OwnerKind,
    id: &'a str,
}

/// The type of a [`ResourceOwner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OwnerKind {
    /// A CRM user (`sub: "Users:<id>"`).
    User,
    /// A CRM contact (`sub: "Contacts:<id>"`); 1CRM gives contacts only the `profile` scope.
    Contact,
}

impl OwnerKind {
    /// `user` or `contact`.
    pub fn as_str(&self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::Contact => "contact",
        }
    }
}

impl<'a> ResourceOwner<'a> {
    /// Parses league's `Users:<id>` and `Contacts:<id>` (a non-empty id); anything else is
    /// `None`.
    pub fn parse(subject: &'a str) -> Option<Self> {
        let (prefix, id) = subject.split_once(':')?;
        let kind = match prefix {
            "Users" => OwnerKind::User,
            "Contacts" => OwnerKind::Contact,
            _ => return None,
        };
        if id.is_empty() {
            return None;
        }
        Some(ResourceOwner { kind, id })
    }

    /// The owner's type.
    pub fn kind(&self) -> OwnerKind {
        self.kind
    }

    /// The owner's id within its type (`"1"` for `Users:1`), borrowed from the subject.
    pub fn id(&self) -> &'a str {
        self.id
    }
}
