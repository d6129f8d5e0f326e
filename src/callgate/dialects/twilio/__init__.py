"""The Twilio 2010-04-01 dialect (Calls and Applications). SignalWire's Compatibility API reuses it."""
