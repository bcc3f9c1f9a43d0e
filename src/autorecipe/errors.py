"""The one exception type for errors a user can cause and fix."""


class AutorecipeError(Exception):
    """A user error: bad path, bad recipe, unknown knob, unusable data, impossible budget.

    The message says what was wrong and how to fix it; the CLI prints it without a
    traceback and exits with status 2.
    """


class UntrustedModelCode(AutorecipeError):
    """A run folder names model code (package.module:factory) that loading it would import and run, and the user
    has not said to trust it."""


class AutorecipeWarning(UserWarning):
    """Something a user should know that does not stop the run (e.g. a validation split too small to
    tell recipes apart); the CLI prints it as one line."""
