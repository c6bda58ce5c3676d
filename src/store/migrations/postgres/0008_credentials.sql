-- Credentials are bounded by what made them (security audit, issue 13). A token or key pair
-- records the token it was made with, so that revoking that token revokes it too (the indexes
-- make the walk down the tree a lookup per level); key pairs may expire; removing a member
-- revokes the key pairs it created, found by creator.
ALTER TABLE api_tokens ADD COLUMN created_with TEXT COLLATE "C" REFERENCES api_tokens (id);
ALTER TABLE key_pairs ADD COLUMN created_with TEXT COLLATE "C" REFERENCES api_tokens (id);
ALTER TABLE key_pairs ADD COLUMN expires_at TIMESTAMPTZ;

CREATE INDEX api_tokens_by_maker ON api_tokens (tenant_id, created_with);
CREATE INDEX key_pairs_by_maker ON key_pairs (tenant_id, created_with);
CREATE INDEX key_pairs_by_creator ON key_pairs (tenant_id, project_id, created_by);
