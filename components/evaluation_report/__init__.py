"""EvaluationReport: one self-contained HTML page on what the Evaluator decided, and why."""
