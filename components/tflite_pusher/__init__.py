"""TFLitePusher: converts a blessed model to TFLite and ships the conversions that keep accuracy."""
