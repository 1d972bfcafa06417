//! Scopes: which tool needs which, what each role may grant, and parsing of
//! the `scope` parameter the way real clients send it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rmcp::model::Tool;

use crate::config::PERMISSIONS;

/// A set of scope tokens, sorted and without duplicates. `Display` joins
/// them with single spaces (the wire form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// Split on any whitespace (clients send `" offline_access"` and tabs),
    /// dropping empty pieces and duplicates.
    pub fn parse(raw: &str) -> Self {
        raw.split_whitespace().map(str::to_owned).collect()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| s.as_str().cmp(scope)).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The scopes in both sets.
    pub fn intersect(&self, other: &Self) -> Self {
        self.iter()
            .filter(|s| other.contains(s))
            .map(str::to_owned)
            .collect()
    }

    pub fn is_subset(&self, other: &Self) -> bool {
        self.iter().all(|s| other.contains(s))
    }
}

impl FromIterator<String> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut v: Vec<String> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The scope names a catalog uses: one for reading, one for writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolScopes {
    pub read: &'static str,
    pub write: &'static str,
}

impl Default for ToolScopes {
    fn default() -> Self {
        Self {
            read: "tools:read",
            write: "tools:write",
        }
    }
}

/// The scope a call to `tool` needs: `read` for tools annotated read-only,
/// `write` for every other. The one rule, used by the transport (403) and by
/// the MCP handler (hidden tools, backstop).
pub fn needed_scope<'a>(read: &'a str, write: &'a str, tool: &Tool) -> &'a str {
    let read_only = tool
        .annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false);
    if read_only { read } else { write }
}

/// Scopes of this server: per tool, per role.
#[derive(Debug, Clone)]
pub struct ScopePolicy {
    pub read: String,
    pub write: String,
    /// Every scope this server knows (`scopes_supported`).
    pub supported: ScopeSet,
    /// Role → scopes its users may grant.
    pub roles: BTreeMap<String, ScopeSet>,
    /// Role → the permissions its entries name ([`PERMISSIONS`]: `admin`,
    /// `approve`). Kept apart from the scopes: no token ever carries one.
    pub permissions: BTreeMap<String, BTreeSet<String>>,
}

impl ScopePolicy {
    /// `roles` from `[auth.roles]`; empty gives `viewer` (read) and `editor`
    /// (read and write), neither with a permission: the admin console is
    /// opened by naming `admin` in a configured role. Config validation
    /// allows only the catalog's scopes and [`PERMISSIONS`] in a role.
    pub fn new(scopes: &ToolScopes, roles: &BTreeMap<String, Vec<String>>) -> Self {
        let read = scopes.read.to_owned();
        let write = scopes.write.to_owned();
        let defaults;
        let roles = if roles.is_empty() {
            defaults = BTreeMap::from([
                ("viewer".to_owned(), vec![read.clone()]),
                ("editor".to_owned(), vec![read.clone(), write.clone()]),
            ]);
            &defaults
        } else {
            roles
        };
        let is_permission = |e: &String| PERMISSIONS.contains(&e.as_str());
        let permissions = roles
            .iter()
            .map(|(role, e)| {
                (
                    role.clone(),
                    e.iter().filter(|e| is_permission(e)).cloned().collect(),
                )
            })
            .collect();
        let roles = roles
            .iter()
            .map(|(role, e)| {
                (
                    role.clone(),
                    e.iter().filter(|e| !is_permission(e)).cloned().collect(),
                )
            })
            .collect();
        let supported = [read.clone(), write.clone()].into_iter().collect();
        Self {
            read,
            write,
            supported,
            roles,
            permissions,
        }
    }

    /// Whether users of `role` hold `permission` (`admin`, `approve`).
    pub fn allows(&self, role: &str, permission: &str) -> bool {
        self.permissions
            .get(role)
            .is_some_and(|p| p.contains(permission))
    }

    /// The scope a call to `tool` needs (see [`needed_scope`]).
    pub fn for_tool(&self, tool: &Tool) -> &str {
        needed_scope(&self.read, &self.write, tool)
    }

    /// What a user of `role` may grant; nothing for an unknown role.
    pub fn ceiling(&self, role: &str) -> ScopeSet {
        self.roles.get(role).cloned().unwrap_or_default()
    }

    /// Scopes of `raw` this server knows; unknown ones (`offline_access`,
    /// `claudeai`, ...) are dropped rather than refused.
    pub fn known(&self, raw: &str) -> ScopeSet {
        ScopeSet::parse(raw).intersect(&self.supported)
    }

    /// Whether `scope` is a write scope (unticked by default on consent).
    pub fn is_write(&self, scope: &str) -> bool {
        scope == self.write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_not_scopes() {
        let roles = BTreeMap::from([
            (
                "ops".to_owned(),
                vec![
                    "tools:read".to_owned(),
                    "admin".to_owned(),
                    "approve".to_owned(),
                ],
            ),
            ("reader".to_owned(), vec!["tools:read".to_owned()]),
        ]);
        let p = ScopePolicy::new(&ToolScopes::default(), &roles);
        assert_eq!(p.ceiling("ops").to_string(), "tools:read");
        assert!(p.allows("ops", "admin") && p.allows("ops", "approve"));
        assert!(!p.allows("reader", "admin"));
        assert!(
            !p.roles.contains_key("admin"),
            "no default roles beside configured ones"
        );
    }

    fn policy() -> ScopePolicy {
        ScopePolicy::new(
            &ToolScopes {
                read: "employees:read",
                write: "employees:write",
            },
            &BTreeMap::new(),
        )
    }

    #[test]
    fn parse_is_liberal() {
        let s = ScopeSet::parse(" offline_access\temployees:read  employees:read\n");
        assert_eq!(s.to_string(), "employees:read offline_access");
        assert!(s.contains("offline_access"));
        assert!(ScopeSet::parse("   ").is_empty());
    }

    #[test]
    fn unknown_scopes_are_dropped() {
        let p = policy();
        assert_eq!(
            p.known("claudeai offline_access employees:write")
                .to_string(),
            "employees:write"
        );
    }

    #[test]
    fn default_roles() {
        let p = policy();
        assert_eq!(p.ceiling("viewer").to_string(), "employees:read");
        assert_eq!(
            p.ceiling("editor").to_string(),
            "employees:read employees:write"
        );
        assert!(p.ceiling("nobody").is_empty());
        // No default role opens the admin console.
        assert!(!p.allows("editor", "admin") && !p.allows("nobody", "admin"));
        assert!(ScopeSet::parse("employees:read").is_subset(&p.ceiling("viewer")));
        assert!(!ScopeSet::parse("employees:write").is_subset(&p.ceiling("viewer")));
    }
}
