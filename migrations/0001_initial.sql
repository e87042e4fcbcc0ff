-- Events, their typed traits and the quarantine.
-- Types (invariants 8 and 9): datetimes DATETIME(6) (µs, naive UTC), ints BIGINT, floats DOUBLE;
-- strings are never cut: event.traits keeps every trait whole.
--
-- event.traits is the canonical record of an event's traits: a JSON object in which a text trait
-- is a plain string and other types are tagged: {"i": "<int>"}, {"f": <float> | "NaN" | "Infinity"
-- | "-Infinity"}, {"d": "YYYY-MM-DD HH:MM:SS.ffffff"}. One row per event instead of one row per
-- trait is what lets ingest reach 10k events/s on two cores (see README "Performance").
-- The typed `trait` table holds the traits named by winchester.yaml `indexed_traits`, for
-- queries by value.

CREATE TABLE IF NOT EXISTS event_type (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `desc` VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
  UNIQUE KEY uq_event_type_desc (`desc`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS event (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  message_id VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
  generated DATETIME(6) NOT NULL,
  event_type_id INT NOT NULL,
  traits LONGTEXT COLLATE utf8mb4_bin NOT NULL,
  UNIQUE KEY uq_event_message_id (message_id),
  KEY ix_event_generated (generated),
  KEY ix_event_type_generated (event_type_id, generated),
  CONSTRAINT fk_event_event_type FOREIGN KEY (event_type_id) REFERENCES event_type (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS trait (
  event_id BIGINT NOT NULL,
  name VARCHAR(100) COLLATE utf8mb4_bin NOT NULL,
  type TINYINT NOT NULL,
  t_string TEXT COLLATE utf8mb4_bin NULL,
  t_int BIGINT NULL,
  t_float DOUBLE NULL,
  t_datetime DATETIME(6) NULL,
  PRIMARY KEY (event_id, name),
  KEY ix_trait_string (name, t_string(255))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS quarantine (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  received_at DATETIME(6) NOT NULL,
  cell VARCHAR(100) NOT NULL,
  queue VARCHAR(255) NOT NULL,
  reason TEXT NOT NULL,
  message_id VARCHAR(255) NULL,
  event_type VARCHAR(255) NULL,
  body LONGBLOB NOT NULL,
  body_size BIGINT NOT NULL,
  body_truncated TINYINT(1) NOT NULL DEFAULT 0,
  KEY ix_quarantine_received_at (received_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
