-- The switch's record is history too: promotions and rollbacks can only be added, like
-- the audit log (002), so the current mode is always the last row and no row is ever
-- rewritten to make a promotion look gated after the fact.
CREATE TRIGGER promotions_no_update_delete
    BEFORE UPDATE OR DELETE ON policydiff.promotions
    FOR EACH ROW EXECUTE FUNCTION policydiff.reject_audit_change();

CREATE TRIGGER promotions_no_truncate
    BEFORE TRUNCATE ON policydiff.promotions
    FOR EACH STATEMENT EXECUTE FUNCTION policydiff.reject_audit_change();
