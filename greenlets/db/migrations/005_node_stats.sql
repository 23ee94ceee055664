-- Each node's telemetry, written by the node once a second (greenlets/telemetry/publisher.py), so that
-- any node can answer GET /stats with every node's figures.
ALTER TABLE nodes ADD COLUMN stats jsonb;
ALTER TABLE nodes ADD COLUMN stats_at timestamptz;
