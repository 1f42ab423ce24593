"""Planning tools, apart from the measurement pipeline: estimates before running,
scheduling for a cleaner grid, PePR scores, model metrics and the TDP tables they share."""
