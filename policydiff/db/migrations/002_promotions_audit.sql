-- The enforcement switch's record: every promotion and rollback, and an audit log that
-- can only grow. Append-only is enforced here, in the database, so no client (ours or a
-- psql session) can rewrite history; TRUNCATE is refused as well.
CREATE TABLE policydiff.promotions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action      text NOT NULL CHECK (action IN ('promote', 'rollback')),
    flags       jsonb NOT NULL,
    actor       text NOT NULL,
    reason      text NOT NULL,
    gate_report text,
    gate_sha256 text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE policydiff.audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    event      text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE FUNCTION policydiff.reject_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'policydiff.audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON policydiff.audit_log
    FOR EACH ROW EXECUTE FUNCTION policydiff.reject_audit_change();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON policydiff.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION policydiff.reject_audit_change();
