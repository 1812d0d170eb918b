"""The rules of deepfeat, between the faces (HTTP, CLI, workers) and the repositories. No commits here:
the caller's one commit point (request dependency, worker runner) decides."""
