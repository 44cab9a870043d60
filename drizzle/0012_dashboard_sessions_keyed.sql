-- Dashboard sessions were stored as an unkeyed SHA-256 of their token; they are now stored as a
-- keyed digest (HMAC-SHA-256 under the vault's digest key). The old rows can no longer be found
-- by any cookie, and a dump of them would still allow offline guessing: they are deleted, and
-- their users sign in again.
DELETE FROM "dashboard_sessions";
