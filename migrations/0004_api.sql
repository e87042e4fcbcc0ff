-- Operator views (issue 10: API /metrics, /v2/status and `stv3 status`).
--
-- ingest_cell: one row per cell, updated by the yagi-worker in each ingest transaction (so it
-- is exactly as current as the events): totals since the row was created, and when the cell
-- last stored something. Reading it is one small table scan, whatever the size of `event`.
-- ix_stream_state: streams of one state in id order, so `GET /v1/streams?state=…` walks its
-- page instead of sorting every stream of that state.

CREATE TABLE IF NOT EXISTS ingest_cell (
  cell VARCHAR(100) NOT NULL PRIMARY KEY,
  events_stored BIGINT NOT NULL DEFAULT 0,
  duplicates BIGINT NOT NULL DEFAULT 0,
  quarantined BIGINT NOT NULL DEFAULT 0,
  last_ingest_at DATETIME(6) NULL,
  last_event_at DATETIME(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

ALTER TABLE stream ADD KEY IF NOT EXISTS ix_stream_state (state);
