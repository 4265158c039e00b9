"""The one exception type that means "the user's input is wrong"."""


class InputError(Exception):
    """Bad input (a path, a value, a checkpoint): the CLI prints its message on one line and exits with code 2."""
