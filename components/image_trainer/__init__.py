"""ImageTrainer: TFX's Trainer with the number of epochs as a runtime-parameter-able property."""
