"""mock-epay: a local sandbox of Halyk Bank's ePay payment gateway."""

__version__ = "0.1.0"
