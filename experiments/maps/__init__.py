"""Bundled experiments on a map city (the [geo] extra; a package only so that importlib.resources finds it)."""
