-- Reserved for the A/B branch's migration 0005 (experiments). It changes nothing: it only keeps
-- the numbers gapless until that branch lands and replaces this file with its own.
SELECT 1;
