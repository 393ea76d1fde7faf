-- The runbook's minimum test tenancy, for psql users: the same facts `policydiff db seed`
-- writes by default (3 enterprises, 2 teams each, every role, project resources in
-- teams and one enterprise-level billing resource per enterprise).
--
--   policydiff db migrate --dsn "$DATABASE_URL"      # the schema, once
--   psql "$DATABASE_URL" -f examples/seed.sql
--   psql "$DATABASE_URL" -v enterprises=50 -v teams=4 -v users_per_team=6 -f examples/seed.sql
--
-- One transaction: it replaces every fact, or changes nothing.

\set ON_ERROR_STOP on
\if :{?enterprises} \else \set enterprises 3 \endif
\if :{?teams} \else \set teams 2 \endif
\if :{?users_per_team} \else \set users_per_team 3 \endif

BEGIN;

TRUNCATE policydiff.team_members, policydiff.resources, policydiff.users,
         policydiff.teams, policydiff.enterprises, policydiff.actions;

-- Enterprise ids are zero-padded to the width of the count, so they sort in order.
CREATE TEMPORARY TABLE seed_enterprises ON COMMIT DROP AS
    SELECT 'ent-' || lpad(e::text, length(:'enterprises'), '0') AS id
    FROM generate_series(1, :enterprises) AS e;

INSERT INTO policydiff.enterprises (id) SELECT id FROM seed_enterprises;

INSERT INTO policydiff.teams (id, enterprise_id)
    SELECT format('%s-team-%s', e.id, t), e.id
    FROM seed_enterprises e, generate_series(1, :teams) AS t;

-- Every enterprise has one admin and one system user, in no team.
INSERT INTO policydiff.users (id, enterprise_id, role)
    SELECT format('%s-%s', e.id, r), e.id, r
    FROM seed_enterprises e, unnest(ARRAY['admin', 'system']) AS r;

-- Team users are numbered across the enterprise; roles cycle team_admin, developer, viewer.
CREATE TEMPORARY TABLE seed_team_users ON COMMIT DROP AS
    SELECT format('%s-user-%s', e.id, n) AS id, e.id AS enterprise_id,
           format('%s-team-%s', e.id, (n - 1) / :users_per_team + 1) AS team_id,
           (ARRAY['team_admin', 'developer', 'viewer'])[(n - 1) % 3 + 1] AS role
    FROM seed_enterprises e, generate_series(1, :teams * :users_per_team) AS n;

INSERT INTO policydiff.users (id, enterprise_id, role)
    SELECT id, enterprise_id, role FROM seed_team_users;

INSERT INTO policydiff.team_members (user_id, team_id)
    SELECT id, team_id FROM seed_team_users;

INSERT INTO policydiff.resources (id, kind, enterprise_id, team_id)
    SELECT format('%s-project-1', t.id), 'project', t.enterprise_id, t.id
    FROM policydiff.teams t;

INSERT INTO policydiff.resources (id, kind, enterprise_id, team_id)
    SELECT format('%s-billing', e.id), 'billing', e.id, NULL
    FROM seed_enterprises e;

INSERT INTO policydiff.actions (name) VALUES
    ('project:read'), ('project:write'), ('project:delete'), ('project:export'),
    ('billing:read'), ('billing:write'), ('team:manage'), ('member:invite'), ('audit:read');

COMMIT;
