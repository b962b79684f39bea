-- Throttle counts shared by every app process (aicreative.store.postgres.PostgresCounters):
-- one fixed window per key; rows whose window ended are purged.
CREATE TABLE limits (
    key          text             PRIMARY KEY,
    window_start double precision NOT NULL,
    count        integer          NOT NULL,
    expires_at   double precision NOT NULL
);
CREATE INDEX limits_expires_at ON limits (expires_at);
