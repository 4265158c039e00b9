"""The exceptions that mean "the user's input (or the place they chose to write to) is wrong"."""


class InputError(Exception):
    """Bad input (a path, a value, a checkpoint): the CLI prints its message on one line and exits with code 2."""


class WriteError(InputError):
    """Writing a run's output failed (permission, full disk); the message says what was kept intact."""
