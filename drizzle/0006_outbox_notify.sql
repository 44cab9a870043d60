-- Wakes the outbox's claimers (queue consumers, the Kafka relay) when rows are written, so they
-- can wait for work instead of polling for it. Once per statement, not per row: intake writes a
-- batch of payments in one statement, and NOTIFY folds repeats within a transaction anyway.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('paystream_outbox', '');
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
