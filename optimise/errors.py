"""The one error of this package's use cases: a mistake in what the marketer asked."""


class OptimiseError(ValueError):
    """A bad subject test or resend request (unknown email, bad variant, bad number)."""
