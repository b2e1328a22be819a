-- Snowflake node ids leased by processes that share one configuration (replicas of a
-- Kubernetes Deployment): a process takes the lowest id that is free or whose lease
-- expired, renews it while it runs and releases it when it stops. Expiry is judged by
-- the database's clock alone, so hosts whose clocks differ still agree.
CREATE TABLE node_leases (
    node_id    integer PRIMARY KEY CHECK (node_id BETWEEN 0 AND 1023),
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);
