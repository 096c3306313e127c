"""The one exception type for user mistakes (scripts print its message instead of a traceback),
and how to quote a library's error inside one."""


class ConfigError(ValueError):
    """A configuration value the user can fix; the message names the key and what is allowed."""


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message on one line and at most ``limit`` characters, to quote it inside a
    ConfigError (torch's and torchvision's messages span several lines)."""
    text = " ".join(str(error).split()).rstrip(".:") or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
