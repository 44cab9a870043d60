-- 0006's trigger notified after every INSERT statement on the outbox, including the ones that
-- wrote no row: the sweeper's authorization-expiry statement (an INSERT … SELECT over payments
-- moved) runs every SWEEP_INTERVAL_MS and almost always moves none. Each such notification woke
-- the idle queue consumer and restarted its idle back-off from the shortest pause, so an idle
-- process ran a claim query every few milliseconds-to-seconds instead of every 15 s.
-- Notify only when the statement wrote rows (its transition table is not empty).
DROP TRIGGER outbox_notify ON outbox;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM written) THEN
    PERFORM pg_notify('paystream_outbox', '');
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
