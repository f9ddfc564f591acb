"""One exception type for every mistake a user can make.

Adapters (CLI, UI) catch ``SizingError`` and show its message as one clear line; anything
else is a bug. Raise it with a message that names the input and what is wrong with it.
"""


class SizingError(ValueError):
    """Bad input from a user: a file, a name, a number, a flag, a URL parameter."""
