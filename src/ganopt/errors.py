"""The one exception type for user mistakes: scripts print its message instead of a traceback."""


class ConfigError(ValueError):
    """A configuration value the user can fix; the message names the key and what is allowed."""
