# RBACv2: the data-driven successor of RBACv1, running in shadow until promoted.
#
# The hand-written rules of v1 become one table: each role lists the roles it
# inherits and its grants, a grant being an action pattern and a scope. The
# decision is "some role the subject holds, directly or by inheritance, has a
# grant whose pattern matches the action and whose scope contains the resource".
#
# Intended differences from v1 (all tightenings; v2 never allows what v1 denies):
#   1. billing is admin-only: viewer, developer and team_admin lose billing:read;
#   2. project:export is limited to the subject's own teams (v1: whole enterprise);
#   3. the system role loses project:delete (deletion needs a human admin).
package rbac.v2

import rego.v1

default allow := false

# ----------------------------------------------------------------- the table

# Scopes:
#   team        the resource belongs to one of the subject's teams (same enterprise)
#   enterprise  the resource belongs to the subject's enterprise (any team or none)
#   global      any resource of any enterprise
# Action patterns: an exact action, or "*" for every action.
roles := {
	"admin": {
		"inherits": [],
		"grants": [{"action": "*", "scope": "enterprise"}],
	},
	"team_admin": {
		"inherits": ["developer"],
		"grants": [
			{"action": "project:delete", "scope": "team"},
			{"action": "team:manage", "scope": "team"},
			{"action": "member:invite", "scope": "team"},
			{"action": "audit:read", "scope": "team"},
		],
	},
	"developer": {
		"inherits": ["viewer"],
		"grants": [
			{"action": "project:write", "scope": "team"},
			{"action": "project:export", "scope": "team"},
		],
	},
	"viewer": {
		"inherits": [],
		"grants": [{"action": "project:read", "scope": "enterprise"}],
	},
	"system": {
		"inherits": [],
		"grants": [
			{"action": "project:read", "scope": "global"},
			{"action": "project:write", "scope": "global"},
			{"action": "project:export", "scope": "global"},
			{"action": "audit:read", "scope": "global"},
		],
	},
}

# ------------------------------------------------------------------ decision

allow if {
	some role in subject_roles
	some grant in roles[role].grants
	action_matches(grant.action, input.action)
	in_scope(grant.scope)
}

# The subject's role and every role it inherits, transitively. An unknown role
# is not a node of the graph, so it reaches nothing and is denied.
subject_roles := graph.reachable(role_graph, {input.subject.role})

role_graph := {name: r.inherits | some name, r in roles}

# ------------------------------------------------------------------- helpers

action_matches("*", _)

action_matches(pattern, action) if pattern == action

in_scope("global")

in_scope("enterprise") if same_enterprise

in_scope("team") if in_team

same_enterprise if input.subject.enterprise == input.resource.enterprise

in_team if {
	same_enterprise
	input.resource.team != null
	input.resource.team in input.subject.teams
}
