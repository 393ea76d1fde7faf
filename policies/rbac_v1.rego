# RBACv1: the authorization policy enforced today.
#
# A classic hand-written role check. Every decision depends on three things only:
# the subject's role, the action, and where the resource stands relative to the
# subject (its own team, another team of its enterprise, the enterprise itself, or
# another enterprise). That keeps v1 expressible as a static role table; see
# policies/README.md for the same grants written as a table.
#
# Request model (DESIGN.md):
#   input.subject  {id, enterprise, role, teams}
#   input.action   "<domain>:<verb>", e.g. "project:read"
#   input.resource {id, kind, enterprise, team}   team is null for enterprise-level resources
package rbac.v1

import rego.v1

# Undefined would deny as well; the explicit default makes the decision total.
default allow := false

# ------------------------------------------------------------------ relations

# The resource belongs to the subject's own enterprise.
same_enterprise if input.subject.enterprise == input.resource.enterprise

# The resource belongs to one of the subject's teams. The null check keeps
# enterprise-level resources out even if a subject's team list were to hold null.
in_team if {
	same_enterprise
	input.resource.team != null
	input.resource.team in input.subject.teams
}

# ----------------------------------------------------------- role hierarchy

# team_admin > developer > viewer: each role can do everything the one below can.
# admin and system stand apart and are handled by their own rules.
is_viewer if input.subject.role in {"viewer", "developer", "team_admin"}

is_developer if input.subject.role in {"developer", "team_admin"}

is_team_admin if input.subject.role == "team_admin"

# ------------------------------------------------------------------- grants

# Admins may do anything inside their own enterprise, including actions added
# after this policy was written.
allow if {
	input.subject.role == "admin"
	same_enterprise
}

# Everyone with at least viewer rights reads projects and billing across the
# enterprise. (Billing visibility this wide is what RBACv2 takes away.)
allow if {
	is_viewer
	input.action in {"project:read", "billing:read"}
	same_enterprise
}

# Developers change projects of their own teams only.
allow if {
	is_developer
	input.action == "project:write"
	in_team
}

# Developers export any project of their enterprise: exports predate team
# boundaries and were never narrowed.
allow if {
	is_developer
	input.action == "project:export"
	same_enterprise
}

# Team admins run their own teams: delete projects, manage the team, invite
# members and read the team's audit log.
allow if {
	is_team_admin
	input.action in {"project:delete", "team:manage", "member:invite", "audit:read"}
	in_team
}

# The system role is used by internal services (backups, migrations, indexing).
# It works across all enterprises, so it has no tenant check.
allow if {
	input.subject.role == "system"
	input.action in system_actions
}

system_actions := {
	"project:read",
	"project:write",
	"project:delete",
	"project:export",
	"audit:read",
}
