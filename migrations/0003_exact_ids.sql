-- Exact identifiers (issue 9). A VARCHAR with a _bin collation is PAD SPACE on MariaDB and
-- MySQL 5.7: 'abc' and 'abc ' compare equal, so the second of two message_ids that differ only
-- by trailing spaces hit the unique key and could never be stored. message_id and the
-- event_type name are kept as their exact UTF-8 bytes instead (255 characters × 4 bytes).
-- quarantine.properties keeps the AMQP properties a body needs to be read again (content
-- encoding, the oslo `compression` header), so a quarantined message can be replayed.

ALTER TABLE event MODIFY message_id VARBINARY(1020) NOT NULL;
ALTER TABLE event_type MODIFY `desc` VARBINARY(1020) NOT NULL;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS properties TEXT NULL;
