"""Reply generation: `runner` (the turn loop), `registry` (running replies), `store` (their writes)."""
