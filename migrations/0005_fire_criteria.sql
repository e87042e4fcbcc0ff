-- Which fire criteria a stream's fire_counts were counted for (issue 13): a fingerprint of the
-- trigger's fire_criteria as configured. When triggers.yaml changes while streams are open,
-- ingest finds a different fingerprint on the next append and rebuilds that stream's counts
-- from its events, once, in the same transaction. NULL (streams from before this migration):
-- rebuilt on their next append.
ALTER TABLE stream ADD COLUMN IF NOT EXISTS fire_criteria CHAR(16) NULL AFTER fire_counts;
