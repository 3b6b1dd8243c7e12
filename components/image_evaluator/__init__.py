"""ImageEvaluator: TFX's Evaluator, reading an empty baseline Model as no baseline."""
