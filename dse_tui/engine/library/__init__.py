"""The library of tested artifacts: the embedder, storing code with its proof, finding it by
meaning, running it, and the starter artifacts shipped with DSE."""
