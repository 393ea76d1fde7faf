# UNSAFE example: RBACv2 with one mistake that policydiff must block.
#
# It is policies/rbac_v2.rego except for one grant: the viewer's `project:read`
# has scope "global" instead of "enterprise". Every role that inherits viewer
# (viewer, developer, team_admin) can then read the projects of OTHER
# enterprises: one action leaks across tenants. v1 never allowed that, so
# `policydiff compare policies/rbac_v1.rego examples/unsafe/rbac_v2.rego
# --classifications classifications/rbac_v2.yaml` reports those cells as
# v2_more_permissive, unclassified, and the gate blocks (exit 1).
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
		"grants": [{"action": "project:read", "scope": "global"}],
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
# is reachable from itself only and has no grants, so it is denied.
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
