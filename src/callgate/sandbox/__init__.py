"""The built-in virtual phone network: scripted phones behind a real SIP endpoint."""
