-- Streams (spec §5.1, with the fixes of §10 items 2, 3, 6).
--
-- stream.open_key is SHA-256 of (trigger name, canonical distinguishing key) while the stream
-- accepts events, and NULL once it does not: a pipeline worker claimed it, or ingest found it
-- past its expire_timestamp. The unique index on it makes two appendable streams for the same
-- trigger and distinguishing values impossible, whatever number of yagi-workers write at once.
-- stream.fire_counts holds, per fire criterion, how many events matched (capped at its
-- `number`), so readiness is decided without reloading the stream's events.
-- Integer codes of state (spec §4.6): active 1, firing 2, expiring 3, error 4, expire_error 5,
-- completed 6, retry_fire 7, retry_expire 8.
-- A pipeline worker claims a stream with a lease (lease_owner, lease_expires, database time);
-- a lease that runs out returns the stream to retry_*, or to error after too many attempts.
-- last_error keeps the reason of the last failure; retry_after delays an automatic retry.

CREATE TABLE IF NOT EXISTS stream (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
  state TINYINT NOT NULL DEFAULT 1,
  state_serial_no INT NOT NULL DEFAULT 0,
  first_event DATETIME(6) NOT NULL,
  last_event DATETIME(6) NOT NULL,
  expire_timestamp DATETIME(6) NULL,
  fire_timestamp DATETIME(6) NULL,
  distinguishing_key TEXT COLLATE utf8mb4_bin NOT NULL,
  open_key BINARY(32) NULL,
  fire_counts VARCHAR(1024) NOT NULL,
  event_count INT NOT NULL DEFAULT 0,
  lease_owner VARCHAR(255) NULL,
  lease_expires DATETIME(6) NULL,
  attempts INT NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  retry_after DATETIME(6) NULL,
  UNIQUE KEY uq_stream_open_key (open_key),
  KEY ix_stream_state_lease (state, lease_expires),
  KEY ix_stream_state_fire (state, fire_timestamp),
  KEY ix_stream_state_expire (state, expire_timestamp),
  KEY ix_stream_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS dist_trait (
  stream_id BIGINT NOT NULL,
  name VARCHAR(100) COLLATE utf8mb4_bin NOT NULL,
  type TINYINT NOT NULL,
  dt_string TEXT COLLATE utf8mb4_bin NULL,
  dt_int BIGINT NULL,
  dt_float DOUBLE NULL,
  dt_datetime DATETIME(6) NULL,
  dt_timerange_begin DATETIME(6) NULL,
  dt_timerange_end DATETIME(6) NULL,
  PRIMARY KEY (stream_id, name),
  KEY ix_dist_trait_string (name, dt_string(255)),
  CONSTRAINT fk_dist_trait_stream FOREIGN KEY (stream_id) REFERENCES stream (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS streamevent (
  stream_id BIGINT NOT NULL,
  event_id BIGINT NOT NULL,
  PRIMARY KEY (stream_id, event_id),
  KEY ix_streamevent_event (event_id),
  CONSTRAINT fk_streamevent_stream FOREIGN KEY (stream_id) REFERENCES stream (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
