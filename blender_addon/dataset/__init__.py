"""Dataset generation: the render loop (runner), and scale-out helpers (workers, shards, Ray)."""
