"""Versioned prompt files (`<capability>/<name>.v<N>.md`) and the registry that loads them."""
