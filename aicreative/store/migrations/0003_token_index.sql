-- Finding the account of an API token by its public id (find_token) without
-- reading every account: a GIN index answers api_tokens @> '[{"id": …}]'.
CREATE INDEX accounts_api_tokens ON accounts USING gin (api_tokens jsonb_path_ops);
