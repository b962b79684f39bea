-- The accounts: one column per field of the whitelist (aicreative.store.FIELDS)
-- and nothing else; tests/test_store_postgres.py compares them.
CREATE TABLE accounts (
    username        text    NOT NULL,
    email           text    NOT NULL,
    password_hash   text    NOT NULL,
    credits         bigint  NOT NULL DEFAULT 0 CHECK (credits >= 0),
    role            text    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    policy_version  integer,
    session_counter bigint  NOT NULL DEFAULT 0,
    objected        boolean NOT NULL DEFAULT false,
    account_id      text    NOT NULL,
    gallery_salt    text    NOT NULL,
    email_confirmed boolean NOT NULL DEFAULT true,
    api_tokens      jsonb   NOT NULL DEFAULT '[]'::jsonb,
    CONSTRAINT accounts_account_id_key UNIQUE (account_id)
);
-- Unique without regard to letter case, enforced by the database itself.
CREATE UNIQUE INDEX accounts_username_lower_key ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email_lower_key ON accounts (lower(email));

-- Sign-up order, kept beside the accounts so that their table holds the
-- whitelist only; a deleted account takes its row with it.
CREATE TABLE signup_order (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL UNIQUE REFERENCES accounts (account_id) ON DELETE CASCADE
);
