-- The tenancy facts (DESIGN.md, The tenancy file): what every request's subject and
-- resource are read from. Deleting an enterprise takes its teams, users and resources.
CREATE TABLE policydiff.enterprises (
    id text PRIMARY KEY
);

CREATE TABLE policydiff.teams (
    id            text PRIMARY KEY,
    enterprise_id text NOT NULL REFERENCES policydiff.enterprises ON DELETE CASCADE
);
CREATE INDEX teams_enterprise_idx ON policydiff.teams (enterprise_id);

CREATE TABLE policydiff.users (
    id            text PRIMARY KEY,
    enterprise_id text NOT NULL REFERENCES policydiff.enterprises ON DELETE CASCADE,
    role          text NOT NULL
);
CREATE INDEX users_enterprise_idx ON policydiff.users (enterprise_id);

CREATE TABLE policydiff.team_members (
    user_id text REFERENCES policydiff.users ON DELETE CASCADE,
    team_id text REFERENCES policydiff.teams ON DELETE CASCADE,
    PRIMARY KEY (user_id, team_id)
);
CREATE INDEX team_members_team_idx ON policydiff.team_members (team_id);

CREATE TABLE policydiff.resources (
    id            text PRIMARY KEY,
    kind          text NOT NULL,
    enterprise_id text NOT NULL REFERENCES policydiff.enterprises ON DELETE CASCADE,
    team_id       text NULL REFERENCES policydiff.teams ON DELETE CASCADE
);
CREATE INDEX resources_enterprise_idx ON policydiff.resources (enterprise_id);
CREATE INDEX resources_team_idx ON policydiff.resources (team_id);

CREATE TABLE policydiff.actions (
    name text PRIMARY KEY
);
