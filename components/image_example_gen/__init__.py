"""ImageExampleGen: a FileBasedExampleGen that reads a class-per-folder image tree."""
