"""ValidationGate: stops the run before Transform when the data breaks the schema or drifts."""
