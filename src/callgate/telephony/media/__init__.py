"""Pure audio frame processing: G.711, tones and DTMF detection, players and recorders."""
